//! Where a topology error is and what it says: every message reads
//! `file:line:col: field.path: message`.

use std::fmt;
use std::path::PathBuf;

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

/// The loader's result: every step fails with a positioned [`TopologyError`].
pub(super) type Result<T, E = TopologyError> = std::result::Result<T, E>;
