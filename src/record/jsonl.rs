//! Counted JSON lines: every JSON-lines file of a run folder holds one entry
//! a line and ends with an end line that says how many it holds,
//!
//! ```text
//! {"client":0,"mode":"app",...}
//! {"client":1,"mode":"app",...}
//! {"end":{"entries":2}}
//! ```
//!
//! so that a file cut short — at a line boundary or not — or with lines
//! taken out or added is refused when it is read back, naming the file and
//! the line, instead of being checked as if it were the whole run.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The end line's opening: no entry type begins with a field named `end`.
const END_PREFIX: &str = "{\"end\":";

/// What the end line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    entries: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndLine {
    end: End,
}

/// Why a counted JSON-lines file could not be written or read back whole;
/// its `Io` and `Parse` also serve a stored run's plain JSON files
/// (`record::StoredError::File`).
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {source}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: ends at line {lines} without its end line (`{{\"end\":{{\"entries\":N}}}}`): the file was cut short",
        path.display()
    )]
    Truncated { path: PathBuf, lines: usize },
    #[error(
        "{}:{line}: the end line says {says} entries, the file holds {holds}: lines were taken out or added",
        path.display()
    )]
    Count {
        path: PathBuf,
        line: usize,
        says: u64,
        holds: u64,
    },
    #[error("{}:{line}: a line follows the end line", path.display())]
    AfterEnd { path: PathBuf, line: usize },
}

/// Write `items` to `path`, one a line, then the end line.
pub fn write<'a, T: Serialize + 'a>(
    path: &Path,
    items: impl IntoIterator<Item = &'a T>,
) -> Result<u64, JsonlError> {
    let io = |source| JsonlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    let mut n = 0u64;
    for item in items {
        serde_json::to_writer(&mut w, item).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    serde_json::to_writer(
        &mut w,
        &EndLine {
            end: End { entries: n },
        },
    )
    .map_err(|e| io(e.into()))?;
    w.write_all(b"\n").map_err(io)?;
    w.flush().map_err(io)?;
    Ok(n)
}

/// Read a file [`write`] wrote: every entry with its line number (1-based),
/// or the first reason it is not whole.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, JsonlError> {
    let io = |source| JsonlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut out = Vec::new();
    let mut end: Option<(usize, End)> = None;
    let mut lines = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        let n = i + 1;
        lines = n;
        if line.trim().is_empty() {
            continue;
        }
        if end.is_some() {
            return Err(JsonlError::AfterEnd {
                path: path.to_path_buf(),
                line: n,
            });
        }
        let parse = |source| JsonlError::Parse {
            path: path.to_path_buf(),
            line: n,
            source,
        };
        if line.starts_with(END_PREFIX) {
            let e: EndLine = serde_json::from_str(&line).map_err(parse)?;
            end = Some((n, e.end));
            continue;
        }
        out.push((n, serde_json::from_str(&line).map_err(parse)?));
    }
    match end {
        None => Err(JsonlError::Truncated {
            path: path.to_path_buf(),
            lines,
        }),
        Some((line, e)) if e.entries != out.len() as u64 => Err(JsonlError::Count {
            path: path.to_path_buf(),
            line,
            says: e.entries,
            holds: out.len() as u64,
        }),
        Some(_) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        n: u32,
    }

    fn items(n: u32) -> Vec<Item> {
        (0..n).map(|n| Item { n }).collect()
    }

    #[test]
    fn a_whole_file_round_trips_with_its_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        assert_eq!(write(&path, &items(3)).unwrap(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"end\":{\"entries\":3}}\n"
        );
        let back: Vec<(usize, Item)> = read(&path).unwrap();
        assert_eq!(back.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            back.into_iter().map(|(_, i)| i).collect::<Vec<_>>(),
            items(3)
        );
        // An empty file is whole too when it says so.
        write(&path, &items(0)).unwrap();
        assert!(read::<Item>(&path).unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_whole_is_refused_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read::<Item>(&path).unwrap_err().to_string()
        };
        let at = path.display().to_string();
        // Cut at a line boundary: no end line.
        assert_eq!(
            err("{\"n\":0}\n{\"n\":1}\n"),
            format!(
                "{at}: ends at line 2 without its end line (`{{\"end\":{{\"entries\":N}}}}`): the file was cut short"
            )
        );
        // Cut inside a line.
        assert!(err("{\"n\":0}\n{\"n\":").starts_with(&format!("{at}:2: ")));
        // Empty: cut before anything.
        assert!(err("").contains("ends at line 0 without its end line"));
        // A line taken out.
        assert_eq!(
            err("{\"n\":0}\n{\"end\":{\"entries\":2}}\n"),
            format!(
                "{at}:2: the end line says 2 entries, the file holds 1: lines were taken out or added"
            )
        );
        // Something after the end.
        assert_eq!(
            err("{\"end\":{\"entries\":0}}\n{\"n\":0}\n"),
            format!("{at}:2: a line follows the end line")
        );
        // An unknown field.
        assert!(
            err("{\"n\":0,\"x\":1}\n{\"end\":{\"entries\":1}}\n").contains("unknown field `x`")
        );
    }
}
