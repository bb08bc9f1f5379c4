//! `redis-drill compose TOPOLOGY`.

use std::path::PathBuf;

use super::error::CliError;
use crate::exit;
use crate::runtime::image::DEFAULT_IMAGE;
use crate::topology::Topology;

/// Print the docker-compose file equivalent to a topology.
#[derive(clap::Args, Debug)]
pub(crate) struct Compose {
    /// The topology file.
    topology: PathBuf,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

impl Compose {
    /// Write the compose file to `--output` or stdout, with a notice for each link compose
    /// cannot express (`json` has nothing to add).
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let t = Topology::load(&self.topology)?;
        let text = crate::compose::render(&t, DEFAULT_IMAGE);
        if !t.security.is_plain() {
            crate::note!(
                "notice: the compose file is plain TCP without a password: `security:` ({}) needs a CA and credentials made at bring-up, which `redis-drill up` makes (either runtime)",
                t.security.describe()
            );
        }
        let mut servers: Vec<&crate::topology::Server> = (t.nodes.iter())
            .filter(|n| n.image.is_none() && t.image.is_none() && !n.server.is_default())
            .map(|n| &n.server)
            .collect();
        servers.sort();
        servers.dedup();
        for s in servers {
            crate::note!(
                "notice: nodes of server {s} run {}: build it first with `redis-drill image build --server {s}`",
                crate::runtime::image::for_server(s)
            );
        }
        if let Some(s) = &t.sentinel {
            crate::note!(
                "notice: the compose file has no Sentinels: its {} `sentinel:` members are not written",
                s.members.len()
            );
        }
        for link in crate::compose::unexpressed_links(&t) {
            crate::note!(
                "notice: compose cannot express the link {link}; `redis-drill up` applies it (either runtime)"
            );
        }
        match self.output {
            Some(path) => {
                if let Err(source) = std::fs::write(&path, text) {
                    return Err(CliError::WriteFile { path, source });
                }
            }
            None => crate::out!("{text}"),
        }
        Ok(exit::SUCCESS)
    }
}
