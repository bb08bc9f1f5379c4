//! What every bench's `main` does: run the bench on a tokio runtime until it
//! ends or SIGINT/SIGTERM arrives (then its future is dropped, so every guard
//! it holds takes its topology down), and exit with the code.

#![allow(dead_code)] // each bench uses its own part

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use redis_drill::cli::shutdown_signal;
use redis_drill::cluster::{AddressMap, Member};

/// Run `bench` to its exit code (0 on `Ok(())`, 1 on an error, printed);
/// on a signal, call `on_signal` and exit 130 once the bench is dropped.
pub fn run_main(bench: impl Future<Output = anyhow::Result<i32>>, on_signal: impl FnOnce()) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        tokio::select! {
            r = bench => match r {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            },
            sig = shutdown_signal() => {
                on_signal();
                eprintln!("{sig}: cleaning up and stopping");
                130
            }
        }
    });
    drop(rt);
    std::process::exit(code)
}

/// The redis-drill binary the benches drive.
pub const BIN: &str = env!("CARGO_BIN_EXE_redis-drill");
const STATE_DIR_ENV: &str = "REDIS_DRILL_STATE_DIR";
/// One `redis-drill` command may take this long at most.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// `down` on drop may take this long at most.
const DOWN_LIMIT: Duration = Duration::from_secs(60);

/// A topology a bench brought up with `redis-drill up` on the process
/// runtime, in a state dir of its own; `down` when dropped.
pub struct Deployed {
    state: tempfile::TempDir,
    pub name: String,
    /// Every node, from `redis-drill status --json`, on loopback.
    pub members: Vec<Member>,
    pub map: AddressMap,
}

impl Deployed {
    /// `redis-drill up <topology> --runtime process --name <name>`, then
    /// `status --json` for the nodes' addresses.
    pub async fn up(topology: &Path, name: String) -> Result<Deployed> {
        let state = tempfile::tempdir().context("creating a state dir")?;
        let mut d = Deployed {
            state,
            name,
            members: Vec::new(),
            map: AddressMap::new(),
        };
        let name = d.name.clone();
        let topology = topology.to_string_lossy().into_owned();
        let up = ["up", &topology, "--runtime", "process", "--name", &name];
        d.command_ok(&up).await?;
        let out = d.command_ok(&["status", "--name", &name, "--json"]).await?;
        let status: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("status JSON")?;
        for n in status["nodes"].as_array().context("status has no nodes")? {
            let field = |k: &str| -> Result<&str> {
                n[k].as_str()
                    .ok_or_else(|| anyhow!("status node without {k}"))
            };
            let addr: SocketAddr = field("address")?.parse()?;
            ensure!(addr.ip().is_loopback(), "{addr} is not a loopback address");
            d.members.push(Member {
                name: field("name")?.to_string(),
                addr,
                announce: field("announce")?.parse()?,
                bus_port: 0,
                replica_of: n["replica_of"].as_str().map(str::to_string),
                slots: vec![],
            });
        }
        d.map = AddressMap::from_members(&d.members)?;
        Ok(d)
    }

    /// `redis-drill <args>` in this topology's state dir; an error unless it succeeds.
    async fn command_ok(&self, args: &[&str]) -> Result<std::process::Output> {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args)
            .env(STATE_DIR_ENV, self.state.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let what = || format!("redis-drill {}", args.join(" "));
        let out = tokio::time::timeout(COMMAND_LIMIT, cmd.output())
            .await
            .map_err(|_| anyhow!("{} took over {COMMAND_LIMIT:?}", what()))?
            .with_context(|| format!("running {}", what()))?;
        ensure!(
            out.status.success(),
            "{} failed: {}",
            what(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(out)
    }

    pub fn member(&self, name: &str) -> Result<&Member> {
        self.members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| anyhow!("no node {name}"))
    }

    pub fn primaries(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.replica_of.is_none())
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        // Synchronous: drop cannot await. Bounded by DOWN_LIMIT.
        let child = std::process::Command::new(BIN)
            .args(["down", "--name", &self.name])
            .env(STATE_DIR_ENV, self.state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut c = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("warning: could not run redis-drill down: {e}");
                return;
            }
        };
        let started = Instant::now();
        // Bounded by DOWN_LIMIT.
        loop {
            match c.try_wait() {
                Ok(Some(s)) if s.success() => return,
                Ok(None) if started.elapsed() < DOWN_LIMIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) | Err(_) => {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                Ok(Some(_)) => break,
            }
        }
        eprintln!("warning: `redis-drill down --name {}` failed", self.name);
    }
}
