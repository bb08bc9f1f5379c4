//! The position tree (any YAML, each node with where it starts) and [`Doc`],
//! which turns a serde error or a bad value into a positioned [`TopologyError`].

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter};

use super::error::{Position, TopologyError};
use super::raw::S;

/// Any YAML value, each node with where it starts: kept beside the typed parse so that an error
/// can point at the line and column of the value it is about, and say what was found there.
#[derive(Debug)]
pub(super) enum Tree {
    Scalar(Scalar),
    Seq(Vec<S<Tree>>),
    Map(Vec<(S<String>, S<Tree>)>),
}

/// The kind of a scalar, all an error message needs of it ("expected a number, found a
/// string").
#[derive(Debug, Clone, Copy)]
pub(super) enum Scalar {
    Null,
    Bool,
    Number,
    Str,
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = Tree;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Bool))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Number))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Number))
            }
            fn visit_i128<E>(self, _: i128) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Number))
            }
            fn visit_u128<E>(self, _: u128) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Number))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Number))
            }
            fn visit_str<E>(self, _: &str) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Str))
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Null))
            }
            fn visit_none<E>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Scalar::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
                Tree::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Tree::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(Tree::Map(out))
            }
        }
        d.deserialize_any(V_)
    }
}

/// A location as (line, column), the order positions are compared and sorted in.
pub(super) fn pos(loc: &Location) -> (u64, u64) {
    (loc.line(), loc.column())
}

/// What a value is, with its article, for "found ..." in an error message.
pub(super) fn describe(t: &Tree) -> &'static str {
    match t {
        Tree::Scalar(Scalar::Null) => "an empty value",
        Tree::Scalar(Scalar::Bool) => "a bool",
        Tree::Scalar(Scalar::Number) => "a number",
        Tree::Scalar(Scalar::Str) => "a string",
        Tree::Seq(_) => "a list",
        Tree::Map(_) => "a mapping",
    }
}

/// One step of a field path.
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A field path as a user writes it (`cluster.slots[0]`), for the field an error names.
pub(super) fn format_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The path of the deepest node that starts at or before `at`; true when it
/// ends on a key that starts exactly at `at`.
pub(super) fn path_at(node: &S<Tree>, at: (u64, u64), out: &mut Vec<Seg>) -> bool {
    match &node.value {
        Tree::Scalar(_) => false,
        Tree::Seq(items) => match items
            .iter()
            .enumerate()
            .rev()
            .find(|(_, v)| pos(&v.referenced) <= at)
        {
            Some((i, v)) => {
                out.push(Seg::Index(i));
                path_at(v, at, out)
            }
            None => false,
        },
        Tree::Map(entries) => match entries.iter().rev().find(|(k, _)| pos(&k.referenced) <= at) {
            Some((k, v)) => {
                out.push(Seg::Key(k.value.clone()));
                if pos(&k.referenced) == at {
                    true
                } else if pos(&v.referenced) <= at {
                    path_at(v, at, out)
                } else {
                    false
                }
            }
            None => false,
        },
    }
}

/// The node at `path` (which [`path_at`] found, so it exists).
pub(super) fn node_by_path<'t>(node: &'t S<Tree>, path: &[Seg]) -> &'t S<Tree> {
    let Some((first, rest)) = path.split_first() else {
        return node;
    };
    let next = match (first, &node.value) {
        (Seg::Index(i), Tree::Seq(items)) => items.get(*i),
        (Seg::Key(k), Tree::Map(entries)) => entries
            .iter()
            .rev()
            .find(|(key, _)| key.value == *k)
            .map(|(_, v)| v),
        _ => None,
    };
    next.map_or(node, |n| node_by_path(n, rest))
}

/// The outermost node that starts exactly at `at`.
pub(super) fn node_at(node: &S<Tree>, at: (u64, u64)) -> Option<&Tree> {
    if pos(&node.referenced) == at {
        return Some(&node.value);
    }
    match &node.value {
        Tree::Scalar(_) => None,
        Tree::Seq(items) => items
            .iter()
            .rev()
            .find(|v| pos(&v.referenced) <= at)
            .and_then(|v| node_at(v, at)),
        Tree::Map(entries) => entries
            .iter()
            .rev()
            .find(|(k, _)| pos(&k.referenced) <= at)
            .and_then(|(_, v)| node_at(v, at)),
    }
}

/// A parsed document: its name, text and position tree.
pub(crate) struct Doc<'a> {
    pub(super) file: String,
    pub(super) src: &'a str,
    pub(super) tree: S<Tree>,
}

impl Doc<'_> {
    /// The position of `loc` in this document, naming `field`: where every error about a value
    /// points (line and column at least 1).
    pub(super) fn at(&self, loc: Location, field: impl Into<String>) -> Position {
        Position {
            file: self.file.clone(),
            line: loc.line().max(1),
            column: loc.column().max(1),
            field: field.into(),
        }
    }

    /// The error for a value that parsed but is not allowed, at `loc`, naming `field` and
    /// saying why in `message`.
    pub(super) fn invalid(
        &self,
        loc: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> TopologyError {
        TopologyError::Invalid {
            at: self.at(loc, field),
            message: message.into(),
        }
    }

    /// The position of the key at `path` (`["cluster", "shards"]`).
    pub(super) fn key_loc(&self, path: &[&str]) -> Option<Location> {
        let mut node = &self.tree;
        let mut found = None;
        for name in path {
            match &node.value {
                Tree::Map(entries) => {
                    let (k, v) = entries.iter().find(|(k, _)| k.value == *name)?;
                    found = Some(k.referenced);
                    node = v;
                }
                // A list item by its index (`["faults", "2", "target"]`).
                Tree::Seq(items) => {
                    let item = items.get(name.parse::<usize>().ok()?)?;
                    found = Some(item.referenced);
                    node = item;
                }
                Tree::Scalar(_) => return None,
            }
        }
        found
    }

    /// An error about the field at `path` (`["reshard", "from"]`), pointing at
    /// its key when the file has it, else at its nearest ancestor that it has,
    /// else at the start of the file.
    pub(crate) fn invalid_field(&self, path: &[&str], message: impl Into<String>) -> TopologyError {
        // A missing field is pointed at by its nearest ancestor in the file.
        let loc = (1..=path.len())
            .rev()
            .find_map(|n| self.key_loc(&path[..n]));
        TopologyError::Invalid {
            at: Position {
                file: self.file.clone(),
                line: loc.map_or(1, |l| l.line().max(1)),
                column: loc.map_or(1, |l| l.column().max(1)),
                field: path.join("."),
            },
            message: message.into(),
        }
    }

    /// The key at `path` if the file has it, else `fallback`.
    pub(super) fn key_or(&self, path: &[&str], fallback: Location) -> Location {
        self.key_loc(path).unwrap_or(fallback)
    }

    /// A serde error, with the field path worked out from its position.
    pub(super) fn syntax(&self, e: &serde_saphyr::Error) -> TopologyError {
        use serde_saphyr::Error as E;
        let inner = unwrap_error(e);
        let mut loc = e.location().unwrap_or(Location::UNKNOWN);
        let mut segs = Vec::new();
        let on_key = path_at(&self.tree, pos(&loc), &mut segs);
        let mut message = self.message(inner);
        match inner {
            // serde-saphyr points at the mapping's last key; the fault is the
            // mapping's, so name it and point at its start.
            E::SerdeMissingField { .. } => {
                if on_key {
                    segs.pop();
                }
                loc = node_by_path(&self.tree, &segs).referenced;
            }
            // The tree keeps both keys (it is read with LastWins): say where
            // the first one is.
            E::DuplicateMappingKey { key: Some(k), .. } if on_key => {
                let parent = node_by_path(&self.tree, &segs[..segs.len() - 1]);
                if let Tree::Map(entries) = &parent.value
                    && let Some((first, _)) = entries.iter().find(|(key, _)| key.value == *k)
                {
                    message = format!(
                        "`{k}` is given twice (first at line {})",
                        first.referenced.line()
                    );
                }
            }
            _ => {}
        }
        TopologyError::Syntax {
            at: self.at(loc, format_path(&segs)),
            message,
        }
    }

    /// A serde error as one sentence in our words (an unknown field with the ones allowed, a
    /// wrong type with what was found), without the parser's own position, which the caller
    /// puts in front.
    pub(super) fn message(&self, e: &serde_saphyr::Error) -> String {
        use serde_saphyr::Error as E;
        match e {
            E::SerdeUnknownField {
                field, expected, ..
            } => {
                if expected.is_empty() {
                    format!("unknown field `{field}`")
                } else {
                    let list: Vec<String> = expected.iter().map(|f| format!("`{f}`")).collect();
                    format!(
                        "unknown field `{field}`; expected one of {}",
                        list.join(", ")
                    )
                }
            }
            E::SerdeMissingField { field, .. } => format!("missing field `{field}`"),
            E::InvalidScalar { ty, location } => {
                let what = match *ty {
                    "f32" | "f64" => "a number",
                    "bool" => "true or false",
                    t if t.starts_with('i') || t.starts_with('u') => "a whole number",
                    t => t,
                };
                format!("expected {what}, found {}", self.found(location))
            }
            E::NullIntoString { .. } => "expected a string, found an empty value".into(),
            E::Unexpected { expected, location } => {
                let what = match *expected {
                    "mapping start" => "a mapping",
                    "sequence start" => "a list",
                    "string scalar" => "a string",
                    other => other,
                };
                let found = node_at(&self.tree, pos(location)).map_or("something else", describe);
                format!("expected {what}, found {found}")
            }
            E::SerdeInvalidType {
                unexpected,
                expected,
                ..
            } => format!("expected {expected}, found {unexpected}"),
            E::DuplicateMappingKey { key: Some(k), .. } => format!("`{k}` is given twice"),
            E::DuplicateMappingKey { key: None, .. } => "a key is given twice".into(),
            _ => plain_message(e),
        }
    }

    /// The source text at `loc`, quoted and shortened, for "found ..." messages.
    pub(super) fn found(&self, loc: &Location) -> String {
        let span = loc.span();
        let text = match (span.byte_offset(), span.byte_len()) {
            (Some(off), Some(len)) => self.src.get(off as usize..(off + len) as usize),
            _ => None,
        };
        match text.map(str::trim) {
            Some(t) if !t.is_empty() => {
                let short: String = t.chars().take(40).collect();
                if short.len() < t.len() {
                    format!("`{short}...`")
                } else {
                    format!("`{short}`")
                }
            }
            _ => node_at(&self.tree, pos(loc))
                .map_or("something else", describe)
                .to_string(),
        }
    }
}

/// The error inside snippet and alias wrappers.
pub(super) fn unwrap_error(e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match e {
        serde_saphyr::Error::WithSnippet { error, .. }
        | serde_saphyr::Error::AliasError { error, .. } => unwrap_error(error),
        other => other,
    }
}

/// serde-saphyr's own message, without the position it would append.
pub(super) fn plain_message(e: &serde_saphyr::Error) -> String {
    serde_saphyr::DefaultMessageFormatter
        .format_message(unwrap_error(e))
        .into_owned()
}
