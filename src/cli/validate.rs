//! `redis-drill validate FILE`.

use std::path::PathBuf;

use super::CliError;
use super::output::print_json;
use crate::exit;
use crate::topology::Topology;

/// Parse and check a topology file; errors name the file, line and column.
#[derive(clap::Args, Debug)]
pub(crate) struct Validate {
    /// The topology file to check.
    file: PathBuf,
}

impl Validate {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let t = Topology::load(&self.file)?;
        if json {
            print_json(&serde_json::json!({"file": self.file, "valid": true, "topology": t}));
        } else {
            crate::outln!(
                "{}: ok — {} `{}`, {} nodes in {} region(s)",
                self.file.display(),
                format!("{:?}", t.kind).to_lowercase(),
                t.name,
                t.nodes.len(),
                t.regions.len()
            );
        }
        Ok(exit::SUCCESS)
    }
}
