//! `redis-drill validate FILE`.

use std::path::PathBuf;

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::topology::Topology;

/// Parse and check a topology or scenario file; errors name the file, line
/// and column.
#[derive(clap::Args, Debug)]
pub(crate) struct Validate {
    /// The topology or scenario file to check (a scenario names its
    /// `topology:`).
    file: PathBuf,
}

/// Whether `text` is a scenario: a top-level `topology:` key.
fn is_scenario(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("topology:"))
}

impl Validate {
    /// Load the file as a scenario (when it has a top-level `topology:`) or a topology and say
    /// it is valid; its errors are positioned bad input.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        if std::fs::read_to_string(&self.file).is_ok_and(|t| is_scenario(&t)) {
            let s = crate::scenarios::Scenario::load(&self.file)?;
            if json {
                print_json(
                    &serde_json::json!({"file": self.file, "valid": true, "scenario": s.name, "topology": s.topology.name, "expect": s.expect}),
                );
            } else {
                crate::outln!(
                    "{}: ok — scenario `{}` on `{}` ({} faults, {} SLOs{}{})",
                    self.file.display(),
                    s.name,
                    s.topology.name,
                    s.faults.len(),
                    s.slo.len(),
                    match s.slo_by_region.values().map(|l| l.len()).sum::<usize>() {
                        0 => String::new(),
                        n => format!(" + {n} by client region"),
                    },
                    s.expect.as_ref().map_or_else(String::new, |e| format!(
                        "; written to fail {}",
                        e.fail.join(", ")
                    ))
                );
            }
            return Ok(exit::SUCCESS);
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_scenario_is_told_by_its_topology_key() {
        assert!(super::is_scenario(
            "name: x\ntopology: ../topologies/a.yaml\n"
        ));
        assert!(!super::is_scenario("name: x\nkind: cluster\n"));
        // Nested keys do not count.
        assert!(!super::is_scenario("name: x\nnodes:\n  - topology: y\n"));
    }
}
