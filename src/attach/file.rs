//! A topology file of `kind: external`: a deployment the tool did not
//! start, named by its seed addresses, with the hooks and credentials files
//! that go with it — what `attach SEEDS --hooks … --credentials …` says on
//! its command line, kept in a file that a recipe or a nightly job can
//! name (`redis-drill attach FILE`, `redis-drill run SCENARIO --attach
//! FILE`). Its paths are relative to the file; errors name the file, line
//! and field, before anything is reached.
//!
//! ```yaml
//! name: staging
//! kind: external
//! external:
//!   seeds: [127.0.0.1:7000, 127.0.0.1:7001]   # each HOST:PORT or NAME=HOST:PORT
//!   hooks: staging-hooks.yaml                 # optional
//!   credentials: staging-credentials.yaml     # optional
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{AttachError, Seed, parse_seeds};
use crate::topology::{TopologyError, parse_document, valid_name};

/// What a `kind: external` file names.
#[derive(Debug, Clone)]
pub struct ExternalFile {
    pub name: String,
    pub seeds: Vec<Seed>,
    /// The hooks file, resolved against the file's folder.
    pub hooks: Option<PathBuf>,
    /// The credentials file, resolved against the file's folder.
    pub credentials: Option<PathBuf>,
    pub source: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    kind: String,
    external: RawExternal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternal {
    seeds: Vec<String>,
    hooks: Option<String>,
    credentials: Option<String>,
}

/// Whether `arg` (an `--attach` or `attach` argument) names a file rather
/// than addresses: it ends in `.yaml`/`.yml` or is a file that exists.
pub fn names_a_file(arg: &str) -> bool {
    arg.ends_with(".yaml") || arg.ends_with(".yml") || Path::new(arg).is_file()
}

impl ExternalFile {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<ExternalFile, TopologyError> {
        let src = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&src, path)
    }

    /// Check the text of a file at `path` (which only names it and anchors
    /// its relative paths).
    pub fn parse(src: &str, path: &Path) -> Result<ExternalFile, TopologyError> {
        let (raw, doc) = parse_document::<Raw>(
            src,
            Some(path),
            "the file is empty; an external topology needs `name`, `kind: external` and `external.seeds`",
        )?;
        if raw.kind != "external" {
            return Err(doc.invalid_field(
                &["kind"],
                format!(
                    "`kind: {}` is a topology redis-drill starts (`redis-drill up`); a deployment to attach is `kind: external`",
                    raw.kind
                ),
            ));
        }
        if !valid_name(&raw.name) {
            return Err(doc.invalid_field(
                &["name"],
                format!(
                    "\"{}\" is not a valid name; use 1 to {} lowercase letters, digits and '-'",
                    raw.name,
                    crate::topology::NAME_MAX
                ),
            ));
        }
        let ext = raw.external;
        if ext.seeds.is_empty() {
            return Err(doc.invalid_field(
                &["external", "seeds"],
                "no address: list at least one HOST:PORT (or NAME=HOST:PORT)",
            ));
        }
        for (i, s) in ext.seeds.iter().enumerate() {
            let one = parse_seeds(s).map_err(|e| {
                doc.invalid_field(&["external", "seeds", &i.to_string()], message(e))
            })?;
            if one.len() != 1 {
                return Err(doc.invalid_field(
                    &["external", "seeds", &i.to_string()],
                    format!("`{s}`: one address per entry"),
                ));
            }
        }
        let seeds = parse_seeds(&ext.seeds.join(","))
            .map_err(|e| doc.invalid_field(&["external", "seeds"], message(e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let file = |field: &str, value: Option<String>| -> Result<Option<PathBuf>, TopologyError> {
            let Some(v) = value else { return Ok(None) };
            let p = dir.join(&v);
            if !p.is_file() {
                return Err(doc.invalid_field(
                    &["external", field],
                    format!(
                        "no file at {} (paths are relative to this file)",
                        p.display()
                    ),
                ));
            }
            Ok(Some(p))
        };
        Ok(ExternalFile {
            name: raw.name,
            seeds,
            hooks: file("hooks", ext.hooks)?,
            credentials: file("credentials", ext.credentials)?,
            source: path.to_path_buf(),
        })
    }
}

/// A seed's refusal without the `--attach:` its command-line form carries.
fn message(e: AttachError) -> String {
    match e {
        AttachError::BadInput(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<ExternalFile, String> {
        ExternalFile::parse(src, Path::new("/nowhere/staging.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_file_names_its_seeds_and_its_errors_their_line() {
        let f = parse(
            "name: staging\nkind: external\nexternal:\n  seeds: [127.0.0.1:7000, a=localhost:7001]\n",
        )
        .unwrap();
        assert_eq!(f.name, "staging");
        assert_eq!(f.seeds.len(), 2);
        assert_eq!(f.seeds[1].name.as_deref(), Some("a"));
        assert_eq!(f.seeds[1].addr.to_string(), "127.0.0.1:7001");
        assert!(f.hooks.is_none() && f.credentials.is_none());

        let cases = [
            (
                "name: s\nkind: cluster\nexternal:\n  seeds: [127.0.0.1:1]\n",
                "/nowhere/staging.yaml:2:1: kind: `kind: cluster` is a topology",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds: []\n",
                "/nowhere/staging.yaml:4:3: external.seeds: no address",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds:\n    - 127.0.0.1:1\n    - db.example:6379\n",
                "/nowhere/staging.yaml:6:7: external.seeds.1: `db.example:6379`: expected HOST:PORT",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds: [\"127.0.0.1:1,127.0.0.1:2\"]\n",
                "external.seeds.0: `127.0.0.1:1,127.0.0.1:2`: one address per entry",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds: [127.0.0.1:1, 127.0.0.1:1]\n",
                "external.seeds: 127.0.0.1:1 is given twice",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds: [127.0.0.1:1]\n  hooks: h.yaml\n",
                "/nowhere/staging.yaml:5:3: external.hooks: no file at /nowhere/h.yaml",
            ),
            (
                "name: Staging\nkind: external\nexternal:\n  seeds: [127.0.0.1:1]\n",
                "/nowhere/staging.yaml:1:1: name: \"Staging\" is not a valid name",
            ),
            (
                "name: s\nkind: external\nexternal:\n  seeds: [127.0.0.1:1]\n  nodes: 3\n",
                "unknown field `nodes`",
            ),
        ];
        for (src, want) in cases {
            let err = parse(src).expect_err(src);
            assert!(err.contains(want), "{src}\n→ {err}\n  wanted {want}");
        }
    }
}
