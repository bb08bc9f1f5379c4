//! Parsing and validation of topology files.

/// A topology file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("placeholder")]
    Placeholder,
}
