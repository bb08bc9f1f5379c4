//! Parsing and validation of topology files.
//!
//! Three passes over the text:
//!
//! 1. the YAML is read into a [`Tree`]: every node with its line and column, used
//!    only to say *where* something is (the field path of a serde error, the
//!    position of a section's key);
//! 2. serde reads it into the raw structs below, exactly what the user may write
//!    (`deny_unknown_fields` everywhere), with [`Spanned`] values where a later
//!    check must point at them;
//! 3. [`Resolver`] checks the meaning and builds the resolved [`Topology`]: names
//!    the generated nodes, places them in regions, assigns slots and merges the
//!    `redis` directives.
//!
//! Every error reads `file:line:col: field.path: message`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned};

use super::RUNTIME_OWNED;
use super::{ClusterSettings, Kind, Link, NodeSpec, Region, Role, Topology};
use crate::slots::{SLOT_COUNT, SlotRange, even_split};

/// Longest topology, region or node name. Names end up inside container,
/// network and host names (`redis-drill-<topology>-<node>`), which Docker and
/// DNS labels (63 characters) keep short.
pub const NAME_MAX: usize = 40;

/// A link figure's range: (min, max, unit, whether min itself is excluded).
type FigureRange = (f64, f64, &'static str, bool);
/// One-way delay and jitter: up to a minute, longer than any WAN and still
/// short enough that a drill with a link can finish.
const LINK_DELAY_MS: FigureRange = (0.0, 60_000.0, "ms", false);
/// Loss: 100 % would be a partition, which `partition` faults model.
const LINK_LOSS_PCT: FigureRange = (0.0, 99.0, "%", false);
/// Rate: above 0 (0 would be a partition) and at most 100 Gbit/s.
const LINK_RATE_MBIT: FigureRange = (0.0, 100_000.0, "Mbit/s", true);

/// The region every node lives in when a file names none.
pub const DEFAULT_REGION: &str = "default";

/// `cluster-node-timeout` when the file gives none: 5 s, a quarter of Redis'
/// stock 15 s, so failover drills finish in seconds while a busy 2-core machine
/// does not mark healthy nodes as failing.
pub const DEFAULT_NODE_TIMEOUT_MS: u64 = 5000;

/// Most nodes a topology may have. A drill runs on one machine, so more is a
/// typo; it also keeps every node at a static address in the compose file's
/// /24, and generated host ports (7001 + index) and their cluster bus ports
/// (+10000) below the kernel's ephemeral range.
pub const MAX_NODES: usize = 200;

/// Where in a topology file an error is: file, 1-based line and column, and the
/// path of the field (`nodes[3].replica_of`; list indexes count from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file as it was named, or `<input>` for text without a file.
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// Empty when the error is about the whole document.
    pub field: String,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        Ok(())
    }
}

/// A topology file that could not be loaded. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read. The I/O error is also in the message, because
    /// the CLI prints only the top-level message.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid YAML, or not the shape of a topology: an unknown or missing
    /// field, a value of the wrong type.
    #[error("{at}: {message}")]
    Syntax { at: Position, message: String },
    /// Well-formed, but it does not make sense: an unknown node, clashing
    /// ports, slots not covered...
    #[error("{at}: {message}")]
    Invalid { at: Position, message: String },
}

impl TopologyError {
    /// Where in the file the error is (none for an I/O error).
    pub fn position(&self) -> Option<&Position> {
        match self {
            TopologyError::Io { .. } => None,
            TopologyError::Syntax { at, .. } | TopologyError::Invalid { at, .. } => Some(at),
        }
    }
}

type Result<T, E = TopologyError> = std::result::Result<T, E>;

/// Read and resolve the topology file at `path`.
pub fn load(path: &Path) -> Result<Topology> {
    let src = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&src, Some(path))
}

/// Resolve a topology from its text; `path` only names it in errors and in
/// [`Topology::source`].
pub fn parse(src: &str, path: Option<&Path>) -> Result<Topology> {
    let (raw, doc) = parse_document::<RawTopology>(
        src,
        path,
        "the file is empty; a topology needs at least `name` and `kind`",
    )?;
    let mut topology = Resolver {
        doc: &doc,
        raw: &raw,
    }
    .resolve()?;
    topology.source = path.map(Path::to_path_buf);
    Ok(topology)
}

/// Parse any redis-drill YAML file (topologies, scenarios) into `T`, with
/// errors that name the file, line, column and field path. The returned
/// [`Doc`] locates fields for the caller's own semantic errors.
pub(crate) fn parse_document<'a, T: serde::de::DeserializeOwned>(
    src: &'a str,
    path: Option<&Path>,
    empty_message: &str,
) -> Result<(T, Doc<'a>)> {
    let file = path.map_or_else(|| "<input>".to_string(), |p| p.display().to_string());
    let empty = || TopologyError::Invalid {
        at: Position {
            file: file.clone(),
            line: 1,
            column: 1,
            field: String::new(),
        },
        message: empty_message.to_string(),
    };
    if src.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    }) {
        return Err(empty());
    }
    // LastWins: a duplicate key is reported by the typed pass below, with its path.
    let options =
        serde_saphyr::options! { duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins };
    let tree: Spanned<Tree> = match serde_saphyr::from_str_with_options(src, options) {
        Ok(tree) => tree,
        Err(e) => {
            let loc = e.location().unwrap_or(Location::UNKNOWN);
            return Err(TopologyError::Syntax {
                at: Position {
                    file,
                    line: loc.line().max(1),
                    column: loc.column().max(1),
                    field: String::new(),
                },
                message: plain_message(&e),
            });
        }
    };
    if matches!(tree.value, Tree::Scalar(Scalar::Null)) {
        return Err(empty());
    }
    let doc = Doc { file, src, tree };
    let raw: T = serde_saphyr::from_str(src).map_err(|e| doc.syntax(&e))?;
    Ok((raw, doc))
}

// ---------------------------------------------------------------------------
// The raw form: exactly what a file may say.

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    name: S<String>,
    kind: S<String>,
    image: Option<S<String>>,
    regions: Option<S<Vec<RawRegion>>>,
    links: Option<S<Vec<RawLink>>>,
    redis: Option<RedisMap>,
    cluster: Option<RawCluster>,
    standalone: Option<RawStandalone>,
    replicated: Option<RawReplicated>,
    overrides: Option<Entries<RawOverride>>,
    nodes: Option<S<Vec<RawNode>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    name: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    between: S<Vec<S<String>>>,
    delay_ms: S<f64>,
    jitter_ms: Option<S<f64>>,
    loss_pct: Option<S<f64>>,
    rate_mbit: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    shards: Option<S<i64>>,
    replicas: Option<S<i64>>,
    node_timeout_ms: Option<S<i64>>,
    slots: Option<S<Vec<Vec<S<String>>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStandalone {
    primaries: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplicated {
    replicas: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    region: Option<S<String>>,
    port: Option<S<i64>>,
    image: Option<S<String>>,
    redis: Option<RedisMap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: S<String>,
    replica_of: Option<S<String>>,
    region: Option<S<String>>,
    port: Option<S<i64>>,
    image: Option<S<String>>,
    redis: Option<RedisMap>,
    slots: Option<S<Vec<S<String>>>>,
}

type RedisMap = Entries<S<RedisValue>>;

/// A mapping kept in file order, each key with its position (serde's maps
/// would lose both).
#[derive(Debug)]
struct Entries<V>(Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// The value of a redis.conf directive as written. Lists and mappings are kept
/// only as a note, so validation can reject them with a position.
#[derive(Debug)]
enum RedisValue {
    Text(String),
    Null,
    Nested(&'static str),
}

impl<'de> Deserialize<'de> for RedisValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = RedisValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a bool")
            }
            fn visit_bool<E>(self, v: bool) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(if v { "yes" } else { "no" }.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<RedisValue, E> {
                Ok(RedisValue::Null)
            }
            fn visit_none<E>(self) -> Result<RedisValue, E> {
                Ok(RedisValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RedisValue, D::Error> {
                RedisValue::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RedisValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RedisValue::Nested("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RedisValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RedisValue::Nested("a mapping"))
            }
        }
        d.deserialize_any(V_)
    }
}

// ---------------------------------------------------------------------------
// The position tree: any YAML, each node with where it starts.

#[derive(Debug)]
enum Tree {
    Scalar(Scalar),
    Seq(Vec<S<Tree>>),
    Map(Vec<(S<String>, S<Tree>)>),
}

#[derive(Debug, Clone, Copy)]
enum Scalar {
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

fn pos(loc: &Location) -> (u64, u64) {
    (loc.line(), loc.column())
}

fn describe(t: &Tree) -> &'static str {
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
enum Seg {
    Key(String),
    Index(usize),
}

fn format_path(segs: &[Seg]) -> String {
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
fn path_at(node: &S<Tree>, at: (u64, u64), out: &mut Vec<Seg>) -> bool {
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
fn node_by_path<'t>(node: &'t S<Tree>, path: &[Seg]) -> &'t S<Tree> {
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
fn node_at(node: &S<Tree>, at: (u64, u64)) -> Option<&Tree> {
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
    file: String,
    src: &'a str,
    tree: S<Tree>,
}

impl Doc<'_> {
    fn at(&self, loc: Location, field: impl Into<String>) -> Position {
        Position {
            file: self.file.clone(),
            line: loc.line().max(1),
            column: loc.column().max(1),
            field: field.into(),
        }
    }

    fn invalid(
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
    fn key_loc(&self, path: &[&str]) -> Option<Location> {
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
    fn key_or(&self, path: &[&str], fallback: Location) -> Location {
        self.key_loc(path).unwrap_or(fallback)
    }

    /// A serde error, with the field path worked out from its position.
    fn syntax(&self, e: &serde_saphyr::Error) -> TopologyError {
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

    fn message(&self, e: &serde_saphyr::Error) -> String {
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
    fn found(&self, loc: &Location) -> String {
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
fn unwrap_error(e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match e {
        serde_saphyr::Error::WithSnippet { error, .. }
        | serde_saphyr::Error::AliasError { error, .. } => unwrap_error(error),
        other => other,
    }
}

/// serde-saphyr's own message, without the position it would append.
fn plain_message(e: &serde_saphyr::Error) -> String {
    serde_saphyr::DefaultMessageFormatter
        .format_message(unwrap_error(e))
        .into_owned()
}

// ---------------------------------------------------------------------------
// Resolution.

fn valid_name(s: &str) -> bool {
    (1..=NAME_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => "cluster",
        Kind::Standalone => "standalone",
        Kind::Replicated => "replicated",
    }
}

/// `a, b, c`, at most `max` of them.
fn name_list<'a>(names: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let all: Vec<&str> = names.into_iter().collect();
    let mut out = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        out.push_str(&format!(", ... ({} in all)", all.len()));
    }
    out
}

/// Slot ranges, each with where it was written (`None` for a generated range).
type Slots = Vec<(SlotRange, Option<(Location, String)>)>;

/// A node on its way to a [`NodeSpec`], with where its settings came from.
struct Draft<'r> {
    name: String,
    /// Where the node is named in the file (`nodes[i].name`, or its key under
    /// `overrides`), if it is; and the field path prefix of its settings.
    at: Option<(Location, String)>,
    role: Role,
    replica_of: Option<String>,
    shard: usize,
    region: String,
    port: Option<(u16, Location, String)>,
    image: Option<String>,
    redis: Option<(&'r RedisMap, String)>,
    /// Slots with where each range was written (generated ranges have no position).
    slots: Slots,
}

impl Draft<'_> {
    fn new(
        name: String,
        role: Role,
        replica_of: Option<String>,
        shard: usize,
        region: String,
    ) -> Self {
        Draft {
            name,
            at: None,
            role,
            replica_of,
            shard,
            region,
            port: None,
            image: None,
            redis: None,
            slots: Vec::new(),
        }
    }
}

struct Resolver<'a> {
    doc: &'a Doc<'a>,
    raw: &'a RawTopology,
}

impl<'a> Resolver<'a> {
    fn resolve(&self) -> Result<Topology> {
        let raw = self.raw;
        let doc = self.doc;
        let name = self.name(&raw.name, "name")?;
        let kind = match raw.kind.value.as_str() {
            "cluster" => Kind::Cluster,
            "standalone" => Kind::Standalone,
            "replicated" => Kind::Replicated,
            other => {
                return Err(doc.invalid(
                    raw.kind.referenced,
                    "kind",
                    format!("unknown kind \"{other}\"; expected cluster, standalone or replicated"),
                ));
            }
        };
        let image = match &raw.image {
            Some(i) => Some(self.image(i, "image")?),
            None => None,
        };
        let regions = self.regions()?;
        let links = self.links(&regions)?;

        // Sections must match the kind.
        for (present, k) in [
            (raw.cluster.is_some(), Kind::Cluster),
            (raw.standalone.is_some(), Kind::Standalone),
            (raw.replicated.is_some(), Kind::Replicated),
        ] {
            if present && k != kind {
                let sec = kind_name(k);
                return Err(doc.invalid(
                    doc.key_or(&[sec], raw.kind.referenced),
                    sec,
                    format!(
                        "this section is only allowed with `kind: {sec}` (this topology is `kind: {}`)",
                        kind_name(kind)
                    ),
                ));
            }
        }

        let node_timeout_ms = match raw
            .cluster
            .as_ref()
            .and_then(|c| c.node_timeout_ms.as_ref())
        {
            Some(t) if t.value <= 0 => {
                return Err(doc.invalid(
                    t.referenced,
                    "cluster.node_timeout_ms",
                    format!("must be greater than 0 (milliseconds), not {}", t.value),
                ));
            }
            Some(t) => t.value as u64,
            None => DEFAULT_NODE_TIMEOUT_MS,
        };

        let topology_config = match &raw.redis {
            Some(m) => self.redis(m, "redis")?,
            None => BTreeMap::new(),
        };

        let drafts = if raw.nodes.is_some() {
            self.explicit(kind, &regions)?
        } else {
            self.short_form(kind, &regions)?
        };

        self.check_ports(&drafts)?;
        if kind == Kind::Cluster {
            self.check_slots(&drafts)?;
        }

        let mut nodes = Vec::with_capacity(drafts.len());
        for d in drafts {
            let mut config = topology_config.clone();
            if let Some((map, prefix)) = &d.redis {
                config.extend(self.redis(map, prefix)?);
            }
            nodes.push(NodeSpec {
                name: d.name,
                role: d.role,
                replica_of: d.replica_of,
                shard: d.shard,
                region: d.region,
                port: d.port.map(|(p, _, _)| p),
                image: d.image,
                config,
                slots: d.slots.into_iter().map(|(r, _)| r).collect(),
            });
        }
        Ok(Topology {
            name,
            kind,
            image,
            regions: regions.into_iter().map(|name| Region { name }).collect(),
            links,
            cluster: ClusterSettings { node_timeout_ms },
            nodes,
            source: None,
        })
    }

    fn name(&self, s: &S<String>, field: &str) -> Result<String> {
        if valid_name(&s.value) {
            Ok(s.value.clone())
        } else {
            Err(self.doc.invalid(
                s.referenced,
                field,
                format!(
                    "\"{}\" is not a valid name; use 1 to {NAME_MAX} lowercase letters, digits and '-'",
                    s.value.escape_debug()
                ),
            ))
        }
    }

    fn image(&self, s: &S<String>, field: &str) -> Result<String> {
        let v = s.value.trim();
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!(
                    "\"{}\" is not an image reference (like redis:7.2)",
                    s.value.escape_debug()
                ),
            ));
        }
        Ok(v.to_string())
    }

    fn regions(&self) -> Result<Vec<String>> {
        let Some(list) = &self.raw.regions else {
            return Ok(vec![DEFAULT_REGION.to_string()]);
        };
        if list.value.is_empty() {
            return Err(self.doc.invalid(
                list.referenced,
                "regions",
                format!("the list is empty; leave `regions` out for one region named \"{DEFAULT_REGION}\""),
            ));
        }
        let mut seen: HashMap<&str, Location> = HashMap::new();
        let mut out = Vec::new();
        for (i, r) in list.value.iter().enumerate() {
            let field = format!("regions[{i}].name");
            let name = self.name(&r.name, &field)?;
            if let Some(first) = seen.get(r.name.value.as_str()) {
                return Err(self.doc.invalid(
                    r.name.referenced,
                    field,
                    format!(
                        "duplicate region name \"{name}\" (first given at line {})",
                        first.line()
                    ),
                ));
            }
            seen.insert(&r.name.value, r.name.referenced);
            out.push(name);
        }
        Ok(out)
    }

    /// The `links` list: each between two different known regions, no pair
    /// twice (in either order), every figure in its range.
    fn links(&self, regions: &[String]) -> Result<Vec<Link>> {
        let Some(list) = &self.raw.links else {
            return Ok(Vec::new());
        };
        let mut out: Vec<(Link, Location)> = Vec::new();
        for (i, raw) in list.value.iter().enumerate() {
            let prefix = format!("links[{i}]");
            let between = &raw.between;
            let [a, b] = between.value.as_slice() else {
                return Err(self.doc.invalid(
                    between.referenced,
                    format!("{prefix}.between"),
                    format!(
                        "a link is between exactly two regions, not {}",
                        between.value.len()
                    ),
                ));
            };
            let a_name = self.region(a, &format!("{prefix}.between[0]"), regions)?;
            let b_name = self.region(b, &format!("{prefix}.between[1]"), regions)?;
            if a_name == b_name {
                return Err(self.doc.invalid(
                    b.referenced,
                    format!("{prefix}.between[1]"),
                    format!(
                        "a link joins two different regions; traffic inside \"{a_name}\" is never impaired"
                    ),
                ));
            }
            if let Some((_, first)) = out.iter().find(|(l, _)| l.joins(&a_name, &b_name)) {
                return Err(self.doc.invalid(
                    between.referenced,
                    format!("{prefix}.between"),
                    format!(
                        "the link between \"{a_name}\" and \"{b_name}\" is already given at line {}",
                        first.line()
                    ),
                ));
            }
            let delay_ms =
                self.figure(&raw.delay_ms, &format!("{prefix}.delay_ms"), LINK_DELAY_MS)?;
            let jitter_ms = match &raw.jitter_ms {
                Some(j) => {
                    let field = format!("{prefix}.jitter_ms");
                    let v = self.figure(j, &field, LINK_DELAY_MS)?;
                    if v > delay_ms {
                        return Err(self.doc.invalid(
                            j.referenced,
                            field,
                            format!(
                                "{v} ms of jitter is more than the {delay_ms} ms delay; a delay cannot go below 0"
                            ),
                        ));
                    }
                    v
                }
                None => 0.0,
            };
            let loss_pct = match &raw.loss_pct {
                Some(l) => self.figure(l, &format!("{prefix}.loss_pct"), LINK_LOSS_PCT)?,
                None => 0.0,
            };
            let rate_mbit = match &raw.rate_mbit {
                Some(r) => Some(self.figure(r, &format!("{prefix}.rate_mbit"), LINK_RATE_MBIT)?),
                None => None,
            };
            out.push((
                Link {
                    between: [a_name, b_name],
                    delay_ms,
                    jitter_ms,
                    loss_pct,
                    rate_mbit,
                },
                between.referenced,
            ));
        }
        Ok(out.into_iter().map(|(l, _)| l).collect())
    }

    /// A link figure inside its range (`range.0` to `range.1`, with
    /// `range.2` saying what the bounds mean).
    fn figure(&self, s: &S<f64>, field: &str, range: FigureRange) -> Result<f64> {
        let (min, max, unit, open_min) = range;
        let v = s.value;
        let below = if open_min { v <= min } else { v < min };
        if !v.is_finite() || below || v > max {
            let low = if open_min {
                format!("more than {min}")
            } else {
                format!("from {min}")
            };
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!("{v} is out of range ({low} to {max} {unit})"),
            ));
        }
        Ok(v)
    }

    fn region(&self, s: &S<String>, field: &str, regions: &[String]) -> Result<String> {
        if regions.contains(&s.value) {
            return Ok(s.value.clone());
        }
        let known = if self.raw.regions.is_none() {
            format!(
                "this topology has one region, \"{DEFAULT_REGION}\" (add a `regions` list to name others)"
            )
        } else {
            format!(
                "the regions are {}",
                name_list(regions.iter().map(String::as_str), 20)
            )
        };
        Err(self.doc.invalid(
            s.referenced,
            field,
            format!("no region named \"{}\"; {known}", s.value.escape_debug()),
        ))
    }

    fn port(&self, s: &S<i64>, field: &str) -> Result<(u16, Location, String)> {
        match u16::try_from(s.value) {
            Ok(p) if p > 0 => Ok((p, s.referenced, field.to_string())),
            _ => Err(self.doc.invalid(
                s.referenced,
                field,
                format!("port {} is out of range (1-65535)", s.value),
            )),
        }
    }

    /// A count that must be at least `min`.
    fn count(&self, s: &S<i64>, field: &str, min: i64) -> Result<usize> {
        if s.value < min {
            let what = if min == 0 { "0 or more" } else { "at least 1" };
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!("must be {what}, not {}", s.value),
            ));
        }
        if s.value as u64 > MAX_NODES as u64 {
            return Err(self.too_many(s.referenced, field, s.value as u64));
        }
        Ok(s.value as usize)
    }

    fn too_many(&self, loc: Location, field: &str, n: u64) -> TopologyError {
        self.doc.invalid(
            loc,
            field,
            format!("{n} nodes is more than redis-drill runs on one machine (at most {MAX_NODES})"),
        )
    }

    /// The short-form counts the file gives, with their positions.
    fn short_form_fields(&self) -> Vec<(&'static str, Location)> {
        let raw = self.raw;
        let mut out = Vec::new();
        let doc = self.doc;
        let mut add = |path: &'static str, loc: Option<Location>| {
            if let Some(l) = loc {
                let keys: Vec<&str> = path.split('.').collect();
                out.push((path, doc.key_or(&keys, l)));
            }
        };
        if let Some(c) = &raw.cluster {
            add("cluster.shards", c.shards.as_ref().map(|s| s.referenced));
            add(
                "cluster.replicas",
                c.replicas.as_ref().map(|s| s.referenced),
            );
            add("cluster.slots", c.slots.as_ref().map(|s| s.referenced));
        }
        if let Some(s) = &raw.standalone {
            add(
                "standalone.primaries",
                s.primaries.as_ref().map(|s| s.referenced),
            );
        }
        if let Some(r) = &raw.replicated {
            add(
                "replicated.replicas",
                r.replicas.as_ref().map(|s| s.referenced),
            );
        }
        out
    }

    fn short_form(&self, kind: Kind, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let raw = self.raw;
        let doc = self.doc;
        let k = regions.len();
        let neither = |section: &str, what: &str| {
            let (loc, field) = match doc.key_loc(&[section]) {
                Some(l) => (l, section.to_string()),
                None => (raw.kind.referenced, "kind".to_string()),
            };
            doc.invalid(
                loc,
                field,
                format!("no nodes: give {what} or a `nodes` list"),
            )
        };
        let mut drafts: Vec<Draft> = Vec::new();
        match kind {
            Kind::Cluster => {
                let c = raw.cluster.as_ref();
                let Some(shards) = c.and_then(|c| c.shards.as_ref()) else {
                    return Err(neither(
                        "cluster",
                        "`cluster.shards` (and `cluster.replicas`)",
                    ));
                };
                let n = self.count(shards, "cluster.shards", 1)?;
                let r = match c.and_then(|c| c.replicas.as_ref()) {
                    Some(r) => self.count(r, "cluster.replicas", 0)?,
                    None => 0,
                };
                if n * (r + 1) > MAX_NODES {
                    return Err(self.too_many(
                        shards.referenced,
                        "cluster.shards",
                        (n * (r + 1)) as u64,
                    ));
                }
                let slots = match c.and_then(|c| c.slots.as_ref()) {
                    Some(s) => self.short_slots(s, n)?,
                    None => even_split(n).into_iter().map(|r| vec![(r, None)]).collect(),
                };
                for (i, shard_slots) in (1..=n).zip(slots) {
                    let primary = format!("s{i}n1");
                    let mut p = Draft::new(
                        primary.clone(),
                        Role::Primary,
                        None,
                        i - 1,
                        regions[(i - 1) % k].clone(),
                    );
                    p.slots = shard_slots;
                    drafts.push(p);
                    for j in 1..=r {
                        drafts.push(Draft::new(
                            format!("s{i}n{}", j + 1),
                            Role::Replica,
                            Some(primary.clone()),
                            i - 1,
                            regions[(i - 1 + j) % k].clone(),
                        ));
                    }
                }
            }
            Kind::Standalone => {
                let Some(p) = raw.standalone.as_ref().and_then(|s| s.primaries.as_ref()) else {
                    return Err(neither("standalone", "`standalone.primaries`"));
                };
                let n = self.count(p, "standalone.primaries", 1)?;
                for i in 1..=n {
                    drafts.push(Draft::new(
                        format!("n{i}"),
                        Role::Primary,
                        None,
                        i - 1,
                        regions[(i - 1) % k].clone(),
                    ));
                }
            }
            Kind::Replicated => {
                let Some(r) = raw.replicated.as_ref().and_then(|s| s.replicas.as_ref()) else {
                    return Err(neither("replicated", "`replicated.replicas`"));
                };
                let r = self.count(r, "replicated.replicas", 0)?;
                if r + 1 > MAX_NODES {
                    return Err(self.too_many(
                        raw.kind.referenced,
                        "replicated.replicas",
                        (r + 1) as u64,
                    ));
                }
                drafts.push(Draft::new(
                    "n1".into(),
                    Role::Primary,
                    None,
                    0,
                    regions[0].clone(),
                ));
                for j in 1..=r {
                    drafts.push(Draft::new(
                        format!("n{}", j + 1),
                        Role::Replica,
                        Some("n1".into()),
                        0,
                        regions[j % k].clone(),
                    ));
                }
            }
        }

        if let Some(overrides) = &raw.overrides {
            for (key, ov) in &overrides.0 {
                let prefix = format!("overrides.{}", key.value);
                let Some(d) = drafts.iter_mut().find(|d| d.name == key.value) else {
                    return Err(doc.invalid(
                        key.referenced,
                        prefix,
                        format!(
                            "no node named \"{}\"; this topology's nodes are {}",
                            key.value.escape_debug(),
                            name_list(drafts.iter().map(|d| d.name.as_str()), 12)
                        ),
                    ));
                };
                d.at = Some((key.referenced, prefix.clone()));
                if let Some(r) = &ov.region {
                    d.region = self.region(r, &format!("{prefix}.region"), regions)?;
                }
                if let Some(p) = &ov.port {
                    d.port = Some(self.port(p, &format!("{prefix}.port"))?);
                }
                if let Some(i) = &ov.image {
                    d.image = Some(self.image(i, &format!("{prefix}.image"))?);
                }
                if let Some(m) = &ov.redis {
                    d.redis = Some((m, format!("{prefix}.redis")));
                }
            }
        }
        Ok(drafts)
    }

    /// `cluster.slots`: one list of ranges per shard.
    fn short_slots(&self, s: &S<Vec<Vec<S<String>>>>, shards: usize) -> Result<Vec<Slots>> {
        if s.value.len() != shards {
            return Err(self.doc.invalid(
                s.referenced,
                "cluster.slots",
                format!(
                    "has {} entries but `cluster.shards` is {shards}; give one list of ranges per shard",
                    s.value.len()
                ),
            ));
        }
        s.value
            .iter()
            .enumerate()
            .map(|(i, ranges)| self.ranges(ranges, &format!("cluster.slots[{i}]")))
            .collect()
    }

    fn ranges(&self, ranges: &[S<String>], prefix: &str) -> Result<Slots> {
        ranges
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let field = format!("{prefix}[{j}]");
                match r.value.parse::<SlotRange>() {
                    Ok(range) => Ok((range, Some((r.referenced, field)))),
                    Err(e) => Err(self.doc.invalid(r.referenced, field, e.to_string())),
                }
            })
            .collect()
    }

    fn explicit(&self, kind: Kind, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let raw = self.raw;
        let doc = self.doc;
        let list = raw.nodes.as_ref().expect("explicit form has nodes");
        let nodes_loc = doc.key_or(&["nodes"], list.referenced);
        if let Some((field, loc)) = self.short_form_fields().first() {
            return Err(doc.invalid(
                *loc,
                *field,
                format!(
                    "cannot be combined with `nodes` (line {}); give either the counts or an explicit `nodes` list",
                    nodes_loc.line()
                ),
            ));
        }
        if let Some(o) = &raw.overrides {
            let loc = doc.key_or(
                &["overrides"],
                o.0.first().map_or(nodes_loc, |(k, _)| k.referenced),
            );
            return Err(doc.invalid(
                loc,
                "overrides",
                "only allowed with the short form; with `nodes`, set `region`, `port`, `image` and `redis` on the node itself",
            ));
        }
        if list.value.is_empty() {
            return Err(doc.invalid(list.referenced, "nodes", "the list is empty"));
        }
        if list.value.len() > MAX_NODES {
            return Err(self.too_many(nodes_loc, "nodes", list.value.len() as u64));
        }

        // Names first, so `replica_of` can point forwards.
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, n) in list.value.iter().enumerate() {
            let field = format!("nodes[{i}].name");
            self.name(&n.name, &field)?;
            if let Some(&first) = index.get(n.name.value.as_str()) {
                return Err(doc.invalid(
                    n.name.referenced,
                    field,
                    format!(
                        "duplicate node name \"{}\" (first given at line {})",
                        n.name.value,
                        list.value[first].name.referenced.line()
                    ),
                ));
            }
            index.insert(&n.name.value, i);
        }

        // Who is a primary, before what the replicas point at: a file where
        // every node is a replica is best told so.
        if kind == Kind::Standalone
            && let Some((i, of)) = list
                .value
                .iter()
                .enumerate()
                .find_map(|(i, n)| n.replica_of.as_ref().map(|o| (i, o)))
        {
            return Err(doc.invalid(
                of.referenced,
                format!("nodes[{i}].replica_of"),
                "standalone nodes are independent primaries; use `kind: replicated` or `kind: cluster` for replicas",
            ));
        }
        let primaries: Vec<usize> = (0..list.value.len())
            .filter(|&i| list.value[i].replica_of.is_none())
            .collect();
        match kind {
            Kind::Cluster if primaries.is_empty() => {
                return Err(doc.invalid(
                    nodes_loc,
                    "nodes",
                    "a cluster needs at least one primary (a node without `replica_of`); every node here is a replica",
                ));
            }
            Kind::Replicated if primaries.is_empty() => {
                return Err(doc.invalid(
                    nodes_loc,
                    "nodes",
                    "a replicated topology needs exactly one primary (a node without `replica_of`); every node here is a replica",
                ));
            }
            Kind::Replicated if primaries.len() > 1 => {
                let (first, second) = (&list.value[primaries[0]], &list.value[primaries[1]]);
                return Err(doc.invalid(
                    second.name.referenced,
                    format!("nodes[{}]", primaries[1]),
                    format!(
                        "a replicated topology has exactly one primary, and \"{}\" (line {}) is already it; give \"{}\" a `replica_of`",
                        first.name.value,
                        first.name.referenced.line(),
                        second.name.value
                    ),
                ));
            }
            _ => {}
        }

        for (i, n) in list.value.iter().enumerate() {
            let Some(of) = &n.replica_of else { continue };
            let field = format!("nodes[{i}].replica_of");
            let Some(&target) = index.get(of.value.as_str()) else {
                return Err(doc.invalid(
                    of.referenced,
                    field,
                    format!("no node named \"{}\"", of.value.escape_debug()),
                ));
            };
            if target == i {
                return Err(doc.invalid(of.referenced, field, "a node cannot replicate itself"));
            }
            if let Some(grand) = &list.value[target].replica_of {
                return Err(doc.invalid(
                    of.referenced,
                    field,
                    format!(
                        "\"{}\" is itself a replica (of \"{}\"); chains of replicas are not supported, replicate a primary",
                        of.value, grand.value
                    ),
                ));
            }
            if let Some(s) = &n.slots {
                return Err(doc.invalid(
                    s.referenced,
                    format!("nodes[{i}].slots"),
                    format!(
                        "only primaries own slots, and \"{}\" is a replica of \"{}\"",
                        n.name.value, of.value
                    ),
                ));
            }
        }
        if kind != Kind::Cluster
            && let Some((i, s)) = list
                .value
                .iter()
                .enumerate()
                .find_map(|(i, n)| n.slots.as_ref().map(|s| (i, s)))
        {
            return Err(doc.invalid(
                s.referenced,
                format!("nodes[{i}].slots"),
                format!(
                    "only cluster primaries own slots (this topology is `kind: {}`)",
                    kind_name(kind)
                ),
            ));
        }

        // Slots: from every primary or from none.
        let with: Vec<usize> = primaries
            .iter()
            .copied()
            .filter(|&i| list.value[i].slots.is_some())
            .collect();
        if !with.is_empty() && with.len() != primaries.len() {
            let without = primaries
                .iter()
                .copied()
                .find(|i| list.value[*i].slots.is_none())
                .expect("some primary has no slots");
            let (n, w) = (&list.value[without], &list.value[with[0]]);
            return Err(doc.invalid(
                n.name.referenced,
                format!("nodes[{without}]"),
                format!(
                    "primary \"{}\" gives no `slots` but \"{}\" does (line {}); give slots to every primary or to none (then they are split evenly)",
                    n.name.value,
                    w.name.value,
                    w.name.referenced.line()
                ),
            ));
        }
        let even = if kind == Kind::Cluster && with.is_empty() {
            even_split(primaries.len())
        } else {
            Vec::new()
        };

        let mut drafts = Vec::with_capacity(list.value.len());
        for (shard, &p) in primaries.iter().enumerate() {
            let mut members = vec![p];
            members.extend((0..list.value.len()).filter(|&i| {
                list.value[i]
                    .replica_of
                    .as_ref()
                    .is_some_and(|of| of.value == list.value[p].name.value)
            }));
            for i in members {
                let n = &list.value[i];
                let prefix = format!("nodes[{i}]");
                let region = match &n.region {
                    Some(r) => self.region(r, &format!("{prefix}.region"), regions)?,
                    None => regions[0].clone(),
                };
                let role = if i == p { Role::Primary } else { Role::Replica };
                let mut d = Draft::new(
                    n.name.value.clone(),
                    role,
                    n.replica_of.as_ref().map(|s| s.value.clone()),
                    shard,
                    region,
                );
                d.at = Some((n.name.referenced, prefix.clone()));
                if let Some(port) = &n.port {
                    d.port = Some(self.port(port, &format!("{prefix}.port"))?);
                }
                if let Some(img) = &n.image {
                    d.image = Some(self.image(img, &format!("{prefix}.image"))?);
                }
                if let Some(m) = &n.redis {
                    d.redis = Some((m, format!("{prefix}.redis")));
                }
                if role == Role::Primary && kind == Kind::Cluster {
                    d.slots = match &n.slots {
                        Some(s) => self.ranges(&s.value, &format!("{prefix}.slots"))?,
                        None => vec![(even[shard], None)],
                    };
                }
                drafts.push(d);
            }
        }
        Ok(drafts)
    }

    /// No two nodes on one fixed host port; the later one in the file is at fault.
    fn check_ports(&self, drafts: &[Draft]) -> Result<()> {
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
    fn check_slots(&self, drafts: &[Draft]) -> Result<()> {
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
    fn redis(&self, map: &RedisMap, prefix: &str) -> Result<BTreeMap<String, String>> {
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
fn runtime_owned_message(key: &str, instead: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &str) -> Topology {
        match parse(src, None) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn names(t: &Topology) -> Vec<&str> {
        t.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    fn regions(t: &Topology) -> Vec<&str> {
        t.nodes.iter().map(|n| n.region.as_str()).collect()
    }

    #[test]
    fn shipped_examples_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let t = load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(t.source.as_deref(), Some(path.as_path()));
                assert_eq!(
                    Some(t.name.as_str()),
                    path.file_stem().and_then(|s| s.to_str())
                );
                n += 1;
            }
        }
        assert!(
            n >= 4,
            "expected the example topologies in {}",
            dir.display()
        );
    }

    #[test]
    fn docs_examples_load() {
        let doc =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/topology.md"))
                .unwrap();
        // Topology examples: the page may show scenario files too.
        let blocks: Vec<&str> = doc
            .split("```yaml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .filter(|b| b.lines().any(|l| l.starts_with("kind:")))
            .collect();
        assert!(blocks.len() >= 2);
        for b in blocks {
            parse(b, Some(Path::new("docs/topology.md"))).unwrap_or_else(|e| panic!("{e}\n{b}"));
        }
    }

    #[test]
    fn docs_list_every_runtime_owned_directive() {
        let doc =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/topology.md"))
                .unwrap();
        for (name, _) in RUNTIME_OWNED {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/topology.md does not list `{name}`"
            );
        }
    }

    #[test]
    fn cluster_short_form_names_order_shards_slots() {
        let t = t("name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 2\n");
        assert_eq!(
            names(&t),
            [
                "s1n1", "s1n2", "s1n3", "s2n1", "s2n2", "s2n3", "s3n1", "s3n2", "s3n3"
            ]
        );
        let shards: Vec<usize> = t.nodes.iter().map(|n| n.shard).collect();
        assert_eq!(shards, [0, 0, 0, 1, 1, 1, 2, 2, 2]);
        assert_eq!(t.node("s2n3").unwrap().replica_of.as_deref(), Some("s2n1"));
        assert_eq!(t.node("s2n1").unwrap().role, Role::Primary);
        assert_eq!(t.node("s2n1").unwrap().replica_of, None);
        let slots: Vec<Vec<SlotRange>> = t.primaries().map(|p| p.slots.clone()).collect();
        assert_eq!(
            slots,
            even_split(3)
                .into_iter()
                .map(|r| vec![r])
                .collect::<Vec<_>>()
        );
        assert!(
            t.nodes
                .iter()
                .filter(|n| n.role == Role::Replica)
                .all(|n| n.slots.is_empty())
        );
        assert_eq!(t.cluster.node_timeout_ms, DEFAULT_NODE_TIMEOUT_MS);
        assert_eq!(t.image, None);
        assert_eq!(
            t.regions,
            [Region {
                name: "default".into()
            }]
        );
        assert!(
            t.nodes
                .iter()
                .all(|n| n.region == "default" && n.port.is_none() && n.config.is_empty())
        );
    }

    #[test]
    fn cluster_replicas_default_to_zero() {
        let t = t("name: c\nkind: cluster\ncluster: {shards: 2, node_timeout_ms: 900}\n");
        assert_eq!(names(&t), ["s1n1", "s2n1"]);
        assert_eq!(t.cluster.node_timeout_ms, 900);
    }

    #[test]
    fn cluster_regions_keep_replicas_away_from_primaries() {
        let t = t(
            "name: c\nkind: cluster\nregions: [{name: a}, {name: b}]\ncluster: {shards: 3, replicas: 1}\n",
        );
        assert_eq!(regions(&t), ["a", "b", "b", "a", "a", "b"]);
        let t = t_three_regions();
        // shard i primary in (i-1) mod 3, replica j in (i-1+j) mod 3
        assert_eq!(regions(&t), ["a", "b", "c", "b", "c", "a"]);
    }

    fn t_three_regions() -> Topology {
        t(
            "name: c\nkind: cluster\nregions: [{name: a}, {name: b}, {name: c}]\ncluster: {shards: 2, replicas: 2}\n",
        )
    }

    #[test]
    fn standalone_and_replicated_short_forms() {
        let s = t(
            "name: s\nkind: standalone\nregions: [{name: a}, {name: b}]\nstandalone: {primaries: 3}\n",
        );
        assert_eq!(names(&s), ["n1", "n2", "n3"]);
        assert_eq!(regions(&s), ["a", "b", "a"]);
        assert_eq!(
            s.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(
            s.nodes
                .iter()
                .all(|n| n.role == Role::Primary && n.slots.is_empty())
        );

        let r = t(
            "name: r\nkind: replicated\nregions: [{name: a}, {name: b}, {name: c}]\nreplicated: {replicas: 3}\n",
        );
        assert_eq!(names(&r), ["n1", "n2", "n3", "n4"]);
        assert_eq!(regions(&r), ["a", "b", "c", "a"]);
        assert!(r.nodes.iter().all(|n| n.shard == 0 && n.slots.is_empty()));
        assert_eq!(r.primaries().count(), 1);
        assert!(
            r.nodes[1..]
                .iter()
                .all(|n| n.replica_of.as_deref() == Some("n1"))
        );

        let lone = t("name: r\nkind: replicated\nreplicated: {replicas: 0}\n");
        assert_eq!(names(&lone), ["n1"]);
    }

    #[test]
    fn short_form_slots_and_overrides() {
        let t = t(r#"
name: c
kind: cluster
regions: [{name: a}, {name: b}]
image: redis:7.2
redis: {maxmemory: 64mb, MaxMemory-Policy: allkeys-lru, hz: 20, lazyfree-lazy-eviction: true, save: ""}
cluster:
  shards: 2
  slots:
    - ["0-99", "200-8191"]
    - [100-199, 8192-16383]
overrides:
  s2n1:
    region: a
    port: 7002
    image: redis:7.0
    redis: {maxmemory: 32mb, appendonly: yes, ratio: 1.5}
"#);
        assert_eq!(t.image.as_deref(), Some("redis:7.2"));
        let s1 = t.node("s1n1").unwrap();
        assert_eq!(s1.slots, [SlotRange::new(0, 99), SlotRange::new(200, 8191)]);
        assert_eq!(s1.region, "a");
        assert_eq!(s1.image, None);
        assert_eq!(
            s1.config,
            BTreeMap::from([
                ("hz".to_string(), "20".to_string()),
                ("lazyfree-lazy-eviction".into(), "yes".into()),
                ("maxmemory".into(), "64mb".into()),
                ("maxmemory-policy".into(), "allkeys-lru".into()),
                ("save".into(), "\"\"".into()),
            ])
        );
        let s2 = t.node("s2n1").unwrap();
        assert_eq!(
            s2.slots,
            [SlotRange::new(100, 199), SlotRange::new(8192, 16383)]
        );
        assert_eq!(
            (s2.region.as_str(), s2.port, s2.image.as_deref()),
            ("a", Some(7002), Some("redis:7.0"))
        );
        assert_eq!(s2.config["maxmemory"], "32mb");
        assert_eq!(s2.config["maxmemory-policy"], "allkeys-lru");
        assert_eq!(s2.config["appendonly"], "yes");
        assert_eq!(s2.config["ratio"], "1.5");
    }

    #[test]
    fn explicit_form_orders_by_shard_and_defaults() {
        let t = t(r#"
name: e
kind: cluster
regions: [{name: eu}, {name: us}]
cluster: {node_timeout_ms: 2000}
nodes:
  - {name: b-rep, replica_of: b}
  - {name: a, region: us, slots: ["0-8191"], port: 7100}
  - {name: a-rep, replica_of: a}
  - {name: b, slots: ["8192-16383"], redis: {maxmemory: 10mb}}
  - {name: a-rep2, replica_of: a, region: us}
"#);
        assert_eq!(names(&t), ["a", "a-rep", "a-rep2", "b", "b-rep"]);
        assert_eq!(
            t.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1]
        );
        assert_eq!(regions(&t), ["us", "eu", "us", "eu", "eu"]);
        assert_eq!(t.node("a").unwrap().port, Some(7100));
        assert_eq!(t.node("b").unwrap().config["maxmemory"], "10mb");
        assert_eq!(t.node("b").unwrap().slots, [SlotRange::new(8192, 16383)]);
        assert_eq!(t.cluster.node_timeout_ms, 2000);
    }

    #[test]
    fn explicit_cluster_without_slots_is_split_evenly() {
        let t = t(
            "name: e\nkind: cluster\nnodes:\n  - name: x\n  - name: y\n  - {name: z, replica_of: x}\n",
        );
        assert_eq!(names(&t), ["x", "z", "y"]);
        assert_eq!(t.node("x").unwrap().slots, [SlotRange::new(0, 8191)]);
        assert_eq!(t.node("y").unwrap().slots, [SlotRange::new(8192, 16383)]);
        assert!(t.node("z").unwrap().slots.is_empty());
    }

    #[test]
    fn explicit_standalone_and_replicated() {
        let s = t("name: s\nkind: standalone\nnodes: [{name: x}, {name: y}]\n");
        assert_eq!(s.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(), [0, 1]);
        let r = t("name: r\nkind: replicated\nnodes: [{name: r1, replica_of: p}, {name: p}]\n");
        assert_eq!(names(&r), ["p", "r1"]);
        assert!(r.nodes.iter().all(|n| n.shard == 0));
    }

    #[test]
    fn errors_carry_file_line_column_and_field() {
        let e = parse(
            "name: a\nkind: cluster\nnodes:\n  - name: x\n  - {name: y, replica_of: s9n1}\n",
            Some(Path::new("topologies/x.yaml")),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "topologies/x.yaml:5:27: nodes[1].replica_of: no node named \"s9n1\""
        );
        let at = e.position().unwrap();
        assert_eq!(
            (at.line, at.column, at.field.as_str()),
            (5, 27, "nodes[1].replica_of")
        );
        let e = parse("name: a\nkind: b\n", None).unwrap_err();
        assert!(e.to_string().starts_with("<input>:2:7: kind: "), "{e}");
    }

    const TWO: &str = "name: w\nkind: cluster\nregions: [{name: eu}, {name: us}, {name: ap}]\ncluster: {shards: 3}\n";

    #[test]
    fn links_resolve_with_defaults() {
        let t = t(&format!(
            "{TWO}links:\n  - between: [eu, us]\n    delay_ms: 40\n    jitter_ms: 4\n    loss_pct: 0.5\n    rate_mbit: 100\n  - between: [ap, eu]\n    delay_ms: 75\n"
        ));
        assert_eq!(
            t.links,
            [
                Link {
                    between: ["eu".into(), "us".into()],
                    delay_ms: 40.0,
                    jitter_ms: 4.0,
                    loss_pct: 0.5,
                    rate_mbit: Some(100.0),
                },
                Link {
                    between: ["ap".into(), "eu".into()],
                    delay_ms: 75.0,
                    jitter_ms: 0.0,
                    loss_pct: 0.0,
                    rate_mbit: None,
                },
            ]
        );
        assert_eq!(t.link("us", "eu").map(|l| l.delay_ms), Some(40.0));
        assert_eq!(t.link("eu", "ap").map(|l| l.delay_ms), Some(75.0));
        assert!(t.link("us", "ap").is_none());
        assert_eq!(
            t.links[0].describe(),
            "delay 40 ms ± 4 ms, loss 0.5 %, 100 Mbit/s"
        );
        assert!(self::t(TWO).links.is_empty());
    }

    #[test]
    fn link_errors_point_at_the_field() {
        let cases = [
            (
                "links:\n  - between: [eu, mars]\n    delay_ms: 1\n",
                "<input>:6:19: links[0].between[1]: no region named \"mars\"; the regions are eu, us, ap",
            ),
            (
                "links:\n  - between: [eu]\n    delay_ms: 1\n",
                "<input>:6:14: links[0].between: a link is between exactly two regions, not 1",
            ),
            (
                "links:\n  - between: [eu, eu]\n    delay_ms: 1\n",
                "<input>:6:19: links[0].between[1]: a link joins two different regions; traffic inside \"eu\" is never impaired",
            ),
            (
                "links:\n  - {between: [eu, us], delay_ms: 1}\n  - {between: [us, eu], delay_ms: 2}\n",
                "<input>:7:15: links[1].between: the link between \"us\" and \"eu\" is already given at line 6",
            ),
            (
                "links:\n  - {between: [eu, us], delay_ms: -1}\n",
                "<input>:6:35: links[0].delay_ms: -1 is out of range (from 0 to 60000 ms)",
            ),
            (
                "links:\n  - {between: [eu, us], delay_ms: 10, jitter_ms: 11}\n",
                "<input>:6:50: links[0].jitter_ms: 11 ms of jitter is more than the 10 ms delay; a delay cannot go below 0",
            ),
            (
                "links:\n  - {between: [eu, us], delay_ms: 1, loss_pct: 100}\n",
                "<input>:6:48: links[0].loss_pct: 100 is out of range (from 0 to 99 %)",
            ),
            (
                "links:\n  - {between: [eu, us], delay_ms: 1, rate_mbit: 0}\n",
                "<input>:6:49: links[0].rate_mbit: 0 is out of range (more than 0 to 100000 Mbit/s)",
            ),
        ];
        for (links, want) in cases {
            let e = parse(&format!("{TWO}{links}"), None).unwrap_err();
            assert_eq!(e.to_string(), want, "{links}");
        }
        // Without `regions`, the one region is "default".
        let e = parse(
            "name: w\nkind: cluster\nlinks: [{between: [default, x], delay_ms: 1}]\n",
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("this topology has one region"),
            "{e}"
        );
        // A missing delay is a missing field.
        let e = parse(&format!("{TWO}links:\n  - between: [eu, us]\n"), None).unwrap_err();
        assert!(e.to_string().contains("missing field `delay_ms`"), "{e}");
    }

    #[test]
    fn io_error_names_the_file() {
        let e = load(Path::new("topologies/does-not-exist.yaml")).unwrap_err();
        assert!(matches!(e, TopologyError::Io { .. }));
        assert!(
            e.to_string()
                .starts_with("topologies/does-not-exist.yaml: cannot read the file: "),
            "{e}"
        );
    }

    #[test]
    fn runtime_owned_messages_read_well() {
        assert_eq!(
            runtime_owned_message("port", "the node's `port` field"),
            "`port` is set by redis-drill; use the node's `port` field"
        );
        assert_eq!(
            runtime_owned_message("bind", "the runtime (it assigns each node its address)"),
            "`bind` is set by redis-drill: it assigns each node its address"
        );
        assert_eq!(
            runtime_owned_message("pidfile", "the runtime"),
            "`pidfile` is set by redis-drill"
        );
    }
}
