//! Checks across nodes (ports, slots) and of the `redis` directives.

use std::collections::{BTreeMap, HashMap};

use serde_saphyr::Location;

use super::doc::pos;

use super::error::Result;
use super::raw::{RedisMap, RedisValue};
use super::resolve::{Draft, Resolver};
use crate::slots::{SLOT_COUNT, SlotRange};
use crate::topology::model::{RUNTIME_OWNED, Role};

impl Resolver<'_> {
    /// No two nodes on one fixed host port; the later one in the file is at fault.
    pub(super) fn check_ports(&self, drafts: &[Draft]) -> Result<()> {
        let mut fixed: Vec<(&(u16, Location, String), &str)> = drafts
            .iter()
            .filter_map(|d| d.port.as_ref().map(|p| (p, d.name.as_str())))
            .collect();
        fixed.sort_by_key(|((_, loc, _), _)| pos(loc));
        let mut seen: HashMap<u16, &str> = HashMap::new();
        for ((port, loc, field), name) in fixed {
            if let Some(first) = seen.insert(*port, name) {
                return Err(self.doc.invalid(
                    *loc,
                    field.as_str(),
                    format!("port {port} is used by both {first} and {name}"),
                ));
            }
        }
        Ok(())
    }

    /// Given slots: no slot twice, every slot once.
    pub(super) fn check_slots(&self, drafts: &[Draft]) -> Result<()> {
        let given = drafts
            .iter()
            .any(|d| d.slots.iter().any(|(_, at)| at.is_some()));
        if !given {
            return Ok(()); // an even split covers every slot once
        }
        let mut owner: Vec<Option<&str>> = vec![None; usize::from(SLOT_COUNT)];
        for d in drafts.iter().filter(|d| d.role == Role::Primary) {
            for (range, at) in &d.slots {
                for slot in range.slots() {
                    if let Some(first) = owner[usize::from(slot)] {
                        let (loc, field) = at.clone().expect("given ranges carry their position");
                        let message = if first == d.name {
                            format!("slot {slot} is given twice to {first}")
                        } else {
                            format!("slot {slot} is assigned to both {first} and {}", d.name)
                        };
                        return Err(self.doc.invalid(loc, field, message));
                    }
                    owner[usize::from(slot)] = Some(&d.name);
                }
            }
        }
        if let Some(start) = owner.iter().position(Option::is_none) {
            let end = owner[start..]
                .iter()
                .position(Option::is_some)
                .map_or(owner.len(), |n| start + n)
                - 1;
            let missing = SlotRange::new(start as u16, end as u16);
            let (loc, field) = match self.raw.cluster.as_ref().and_then(|c| c.slots.as_ref()) {
                Some(s) => (
                    self.doc.key_or(&["cluster", "slots"], s.referenced),
                    "cluster.slots",
                ),
                None => {
                    let list = self
                        .raw
                        .nodes
                        .as_ref()
                        .expect("explicit slots come from `nodes`");
                    (self.doc.key_or(&["nodes"], list.referenced), "nodes")
                }
            };
            let what = if missing.len() == 1 {
                format!("slot {missing} is")
            } else {
                format!("slots {missing} are")
            };
            return Err(self.doc.invalid(
                loc,
                field,
                format!("{what} not assigned to any primary; all {SLOT_COUNT} slots must be"),
            ));
        }
        Ok(())
    }

    /// Check one `redis` mapping and normalize it: lowercase keys, bools as
    /// yes/no, numbers as decimal text, an empty value as `""`.
    pub(super) fn redis(&self, map: &RedisMap, prefix: &str) -> Result<BTreeMap<String, String>> {
        let doc = self.doc;
        let mut out = BTreeMap::new();
        let mut seen: HashMap<String, Location> = HashMap::new();
        for (k, v) in &map.0 {
            let key = k.value.to_ascii_lowercase();
            let field = format!("{prefix}.{}", k.value);
            if key.is_empty()
                || !key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(doc.invalid(
                    k.referenced,
                    field,
                    format!(
                        "\"{}\" is not a redis.conf directive name",
                        k.value.escape_debug()
                    ),
                ));
            }
            if let Some((_, instead)) = RUNTIME_OWNED.iter().find(|(name, _)| *name == key) {
                return Err(doc.invalid(k.referenced, field, runtime_owned_message(&key, instead)));
            }
            if let Some(first) = seen.get(&key) {
                return Err(doc.invalid(
                    k.referenced,
                    field,
                    format!("`{key}` is set twice (first at line {})", first.line()),
                ));
            }
            seen.insert(key.clone(), k.referenced);
            let value = match &v.value {
                RedisValue::Text(s) if s.chars().any(char::is_control) => {
                    return Err(doc.invalid(
                        v.referenced,
                        field,
                        "the value must be one line without control characters",
                    ));
                }
                RedisValue::Text(s) if s.is_empty() => "\"\"".to_string(),
                RedisValue::Text(s) => s.clone(),
                RedisValue::Null => {
                    return Err(doc.invalid(
                        v.referenced,
                        field,
                        format!("`{key}` has no value; write \"\" for an empty one"),
                    ));
                }
                RedisValue::Nested(what) => {
                    return Err(doc.invalid(
                        v.referenced,
                        field,
                        format!(
                            "`{key}` is {what}; a directive takes a string, a number or a bool (several arguments go in one string: \"900 1 300 10\")"
                        ),
                    ));
                }
            };
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// "`port` is set by redis-drill; use the node's `port` field", built from
/// [`RUNTIME_OWNED`]'s hints.
pub(super) fn runtime_owned_message(key: &str, instead: &str) -> String {
    match instead.strip_prefix("the runtime") {
        Some(rest) => {
            let why = rest
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim();
            if why.is_empty() {
                format!("`{key}` is set by redis-drill")
            } else {
                format!("`{key}` is set by redis-drill: {why}")
            }
        }
        None => format!("`{key}` is set by redis-drill; use {instead}"),
    }
}
