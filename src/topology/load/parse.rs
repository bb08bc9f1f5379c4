//! The entry points: read a file, parse its text, and the first two passes
//! (position tree, raw form) shared with scenario files.

use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::doc::{Doc, Scalar, Tree, plain_message};
use super::error::{Position, Result, TopologyError};
use super::raw::RawTopology;
use super::resolve::Resolver;
use crate::topology::model::Topology;

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
    refuse_external(src, path)?;
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

/// A `kind: external` file names a deployment to attach, not one to start:
/// refused with where it goes instead, before its other fields (which no
/// topology has) are read as unknown.
fn refuse_external(src: &str, path: Option<&Path>) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct KindOnly {
        kind: Option<String>,
    }
    let Ok((probe, doc)) = parse_document::<KindOnly>(src, path, "") else {
        // The full parse reports what is wrong with the file.
        return Ok(());
    };
    if probe.kind.as_deref() == Some("external") {
        return Err(doc.invalid_field(
            &["kind"],
            "`kind: external` names a deployment redis-drill did not start: it is attached, never brought up — `redis-drill attach FILE`, or `redis-drill run SCENARIO --attach FILE` with a scenario whose topology is of the deployment's kind (cluster, standalone or replicated)",
        ));
    }
    Ok(())
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

impl Topology {
    /// Read, validate and resolve the topology file at `path`.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        load(path)
    }

    /// Validate and resolve a topology from its text; `path`, if any, names it
    /// in errors and becomes [`Topology::source`].
    pub fn parse(src: &str, path: Option<&Path>) -> Result<Topology, TopologyError> {
        parse(src, path)
    }
}
