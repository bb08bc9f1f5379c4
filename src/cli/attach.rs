//! `redis-drill attach SEEDS --name NAME`: remember a deployment the tool
//! did not start, discovered from its addresses, so that `status`, `check`,
//! `reshard`, `fix`, `failover`, `run --name` and the planner's report work
//! on it. `down --name NAME` forgets it and touches none of its servers.

use std::path::{Path, PathBuf};

use super::error::CliError;
use super::output::print_json;
use crate::attach::{self, Seed};
use crate::exit;
use crate::net::secure::{self, Security};
use crate::runtime::external::ExternalRuntime;
use crate::runtime::hooks::Hooks;
use crate::runtime::{self, Deployment};

/// Attach a running deployment the tool did not start (a cluster, a primary
/// with replicas, or independent instances), by address.
#[derive(clap::Args, Debug)]
pub(crate) struct Attach {
    /// The servers' addresses: HOST:PORT[,HOST:PORT...], each optionally
    /// NAME=HOST:PORT to name the node (a cluster's other nodes are found
    /// from CLUSTER NODES); or a topology file of `kind: external` that
    /// names them, with its hooks and credentials files.
    seeds: String,
    /// The name later commands address it by (`--name`); by default the
    /// `kind: external` file's name.
    #[arg(long)]
    name: Option<String>,
    /// A hooks file: the user's commands for the faults redis-drill cannot
    /// carry out on a server it did not start (kill, start, partition...;
    /// see docs/attach.md).
    #[arg(long)]
    hooks: Option<PathBuf>,
    /// A credentials file (password or ACL user, TLS CA / client
    /// certificate / server name; see docs/attach.md), read again by every
    /// later command on this deployment. The REDIS_DRILL_* variables
    /// override its fields.
    #[arg(long)]
    credentials: Option<PathBuf>,
}

impl Attach {
    /// Discover and remember the deployment; print what was found.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let t = target(&self.seeds, self.hooks, self.credentials)?;
        let name = (self.name.or(t.name)).ok_or(CliError::Usage(
            "attach: --name NAME is needed with addresses (a kind: external file names itself)",
        ))?;
        let hooks = load_hooks(t.hooks.as_deref())?;
        secure(t.credentials.as_deref())?;
        let mut d = discover(&t.seeds, &name, &runtime::new_run_id(), hooks).await?;
        remember_credentials(&mut d, t.credentials.as_deref());
        ExternalRuntime::new().save(&d)?;
        if json {
            print_json(&d);
        } else {
            crate::outln!("{}", describe(&d));
            crate::outln!(
                "drill it with `redis-drill run SCENARIO --name {0}`; forget it with `redis-drill down --name {0}` (its servers are not touched)",
                d.name
            );
        }
        Ok(exit::SUCCESS)
    }
}

/// What `attach` and `run --attach` were pointed at: addresses, or a
/// `kind: external` file naming them with its hooks and credentials files
/// (`--hooks` and `--credentials` on the command line win over the file's).
pub(crate) struct Target {
    pub seeds: Vec<attach::Seed>,
    /// The file's name for the deployment.
    pub name: Option<String>,
    pub hooks: Option<PathBuf>,
    pub credentials: Option<PathBuf>,
}

/// `arg` as [`Target`]: a file when it ends in `.yaml`/`.yml` or is one,
/// else addresses. Checked before anything is reached.
pub(crate) fn target(
    arg: &str,
    hooks: Option<PathBuf>,
    credentials: Option<PathBuf>,
) -> Result<Target, CliError> {
    if attach::file::names_a_file(arg) {
        let f = attach::file::ExternalFile::load(Path::new(arg))?;
        return Ok(Target {
            seeds: f.seeds,
            name: Some(f.name),
            hooks: hooks.or(f.hooks),
            credentials: credentials.or(f.credentials),
        });
    }
    Ok(Target {
        seeds: attach::parse_seeds(arg)?,
        name: None,
        hooks,
        credentials,
    })
}

/// Read the connection security (`--credentials FILE`, then the
/// `REDIS_DRILL_*` variables) and use it for every connection from now on.
pub(crate) fn secure(credentials: Option<&Path>) -> Result<(), CliError> {
    let s = Security::load(credentials)?;
    if !s.facts().is_plain() {
        tracing::info!(security = %s.facts().describe(), "connection security");
    }
    secure::install(s);
    Ok(())
}

/// The credentials file, made absolute so that a later command run from
/// elsewhere finds it.
pub(crate) fn remember_credentials(d: &mut Deployment, credentials: Option<&Path>) {
    d.credentials = credentials.map(|p| std::path::absolute(p).unwrap_or_else(|_| p.into()));
}

/// Before a command touches a deployment: the connection security it
/// needs. An attached one's: its credentials file, then the variables,
/// refused when this command lacks TLS or AUTH the attach had. One the
/// tool started with `security:`: the credentials it made at bring-up.
pub(crate) fn secure_for(d: &Deployment) -> Result<(), CliError> {
    let s = if d.attached.is_some() {
        Security::load(d.credentials.as_deref())?
    } else if let Some(c) = &d.credentials {
        Security::load_with(Some(c), |_| None)?
    } else {
        Security::none()
    };
    let now = s.facts();
    if (d.security.tls.is_some() && now.tls.is_none())
        || (d.security.auth.is_some() && now.auth.is_none())
    {
        return Err(CliError::SecurityMismatch {
            name: d.name.clone(),
            attached: d.security.describe(),
            now: now.describe(),
        });
    }
    secure::install(s);
    Ok(())
}

/// The hooks file's commands, or none.
pub(crate) fn load_hooks(path: Option<&std::path::Path>) -> Result<Hooks, CliError> {
    Ok(match path {
        Some(p) => Hooks::load(p)?,
        None => Hooks::default(),
    })
}

/// The deployment the seeds make, with the user's hooks.
pub(crate) async fn discover(
    seeds: &[Seed],
    name: &str,
    run_id: &str,
    hooks: Hooks,
) -> Result<Deployment, CliError> {
    let mut d = attach::discover(seeds, name, run_id).await?;
    if let Some(a) = d.attached.as_mut() {
        a.hooks = hooks;
    }
    Ok(d)
}

/// `staging: a redis 7.0.15 cluster of 6 nodes (s1n1 primary at ..., ...)`.
pub(crate) fn describe(d: &Deployment) -> String {
    let kind = serde_json::to_value(d.topology.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut s = format!(
        "attached {}: a {kind} deployment of {} node(s), {}",
        d.name,
        d.nodes.len(),
        d.attached
            .as_ref()
            .map_or(String::new(), |a| attach::versions(&a.servers))
    );
    for (n, f) in d
        .nodes
        .iter()
        .zip(d.attached.iter().flat_map(|a| &a.servers))
    {
        s.push_str(&format!(
            "\n  {:<8} {:<8} {} (announces {})",
            n.name, f.role, n.addr, n.announce
        ));
    }
    if let Some(a) = &d.attached {
        let hooks: Vec<&str> = a.hooks.commands().iter().map(|(k, _)| *k).collect();
        s.push_str(&format!(
            "\n  hooks: {}",
            if hooks.is_empty() {
                "none (faults through Redis only)".to_string()
            } else {
                hooks.join(", ")
            }
        ));
    }
    s
}
