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

mod doc;
mod error;
mod explicit;
mod limits;
mod parse;
mod raw;
mod resolve;
mod sentinel;
mod short_form;
#[cfg(test)]
mod tests;
mod validate;

pub(crate) use doc::Doc;
pub use error::{Position, TopologyError};
pub use limits::{DEFAULT_NODE_TIMEOUT_MS, DEFAULT_REGION, MAX_NODES, NAME_MAX};
pub(crate) use parse::parse_document;
pub(crate) use resolve::valid_name;
