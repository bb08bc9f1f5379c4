//! `redis-drill run SCENARIO`: a whole drill on a topology of its own, or
//! (`--name`) on one that is already up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::{cancel_on_signal, owned_run, remove_run};
use super::locate::locate;
use super::output::print_run;
use crate::bringup;
use crate::runtime::{self, Runtime, RuntimeKind};
use crate::scenarios::{self, Scenario};
use crate::topology::Kind;

/// Run a drill: bring up its topology, load it, run the workload, act, check, report, take it down.
#[derive(clap::Args, Debug)]
pub(crate) struct Run {
    /// The scenario file (see scenarios/).
    scenario: PathBuf,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Seed for every random choice (default: the scenario's, else a fresh one, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Leave the topology up afterwards (and after a failure) for inspection.
    #[arg(long)]
    keep: bool,
    /// Root folder for runs: <out>/<scenario>/<timestamp>/.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Drill this running topology instead of bringing the scenario's up
    /// (it is left up afterwards).
    #[arg(long, conflicts_with = "keep")]
    name: Option<String>,
    /// Drill a deployment the tool did not start, found from these
    /// addresses (HOST:PORT[,HOST:PORT...], each optionally NAME=HOST:PORT)
    /// or from a topology file of `kind: external` (its seeds, hooks and
    /// credentials): it writes only keys under the drill's prefix, deletes
    /// them after, and starts or stops nothing itself (see docs/attach.md).
    #[arg(long, conflicts_with_all = ["keep", "name", "runtime"])]
    attach: Option<String>,
    /// With --attach: the hooks file, the user's commands for the faults
    /// redis-drill cannot carry out itself (kill, start, partition...).
    #[arg(long, requires = "attach")]
    hooks: Option<PathBuf>,
    /// With --attach: a credentials file (password or ACL user, TLS CA,
    /// client certificate, server name; see docs/attach.md). The
    /// REDIS_DRILL_* variables override its fields.
    #[arg(long, requires = "attach")]
    credentials: Option<PathBuf>,
    /// Run the drill without a single write: no keys loaded, the workload
    /// only GETs the drill's own (absent) keys; latency, downtime and
    /// failover from reads alone, lost writes and staleness not measured.
    #[arg(long)]
    read_only: bool,
    /// Run the drill with every node of its topology on this server
    /// (redis, redis-7.0, valkey-8.1, valkey-9.1, or a path), whatever the
    /// topology file says: one run of a server matrix (what `nightly
    /// --servers` runs).
    #[arg(
        long,
        value_parser = crate::topology::Server::parse,
        conflicts_with_all = ["servers", "name", "attach"]
    )]
    server: Option<crate::topology::Server>,
    /// Run the drill once per server, same seed, each on a topology of its
    /// own whose every node runs that server (redis, redis-7.0, valkey-8.1,
    /// valkey-9.1, or a path), and write the runs side by side:
    /// <out>/<scenario>/matrix-<stamp>/matrix.{md,html,json}.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = crate::topology::Server::parse,
        conflicts_with_all = ["keep", "name", "attach", "run_id"]
    )]
    servers: Vec<crate::topology::Server>,
    /// Run a drill with a reshard step once per method (keys, atomic, auto),
    /// same seed, on a topology of its own each, and write the runs side by
    /// side as --servers does; with --servers, every server by every method.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        conflicts_with_all = ["keep", "name", "attach", "run_id"]
    )]
    methods: Vec<crate::cluster::reshard::Method>,
    /// Run the drill with these app clients instead of the scenario's:
    /// LIBRARY:COUNT[,LIBRARY:COUNT...] (redis-rs, redis-py, valkey-py,
    /// valkey-glide, node-redis), e.g. `redis-rs:4,redis-py:4`; each
    /// library other than redis-rs with its defaults (docs/clients.md).
    #[arg(long, value_parser = clients_arg)]
    clients: Option<crate::workload::Clients>,
    /// The run id to label everything with (default: a fresh one). Set by
    /// `nightly`, which removes a hung drill's resources by it.
    #[arg(long, hide = true, value_parser = run_id_arg)]
    run_id: Option<String>,
}

/// A run id from the command line: 1 to 16 lowercase hex digits, as
/// [`runtime::new_run_id`] makes (it lands in names, labels and paths).
fn run_id_arg(s: &str) -> Result<String, String> {
    if (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}`: expected 1 to 16 lowercase hex digits"))
    }
}

/// `--clients`: LIBRARY:COUNT pairs, comma-separated.
fn clients_arg(s: &str) -> Result<crate::workload::Clients, String> {
    use crate::workload::{ClientGroup, Clients, groups::REDIS_RS};
    let mut out = Clients::default();
    for part in s.split(',') {
        let (library, count) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}`: expected LIBRARY:COUNT, e.g. redis-py:4"))?;
        let count: u32 = count
            .parse()
            .map_err(|_| format!("`{part}`: the count `{count}` is not a whole number"))?;
        if library == REDIS_RS {
            out.redis_rs += count;
        } else {
            out.groups.push(ClientGroup {
                library: library.to_string(),
                count,
                name: None,
                settings: serde_json::Map::new(),
                region: None,
            });
        }
    }
    Ok(out)
}

impl Run {
    /// Run the drill end to end (or on a topology already up, with `--name`)
    /// and return the verdict's exit code.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let mut sc = Scenario::load(&self.scenario)?;
        if self.read_only {
            sc = sc.read_only().map_err(CliError::ReadOnly)?;
        }
        if let Some(clients) = &self.clients {
            sc = sc
                .with_clients(clients.clone())
                .map_err(CliError::Clients)?;
        }
        if let Some(server) = &self.server {
            for n in &mut sc.topology.nodes {
                n.server = server.clone();
            }
        }
        // A `replace`'s server binary now, not half-way through the drill.
        for server in sc.faults.iter().filter_map(|f| f.server.as_ref()) {
            crate::runtime::servers::find(server)?;
        }
        let seed = self.seed.or(sc.seed).unwrap_or_else(rand::random);
        if let Some(name) = &self.name {
            let (rt, d) = locate(self.runtime, Some(name)).await?;
            return on_running(sc, seed, &rt, &d, &self.out, json).await;
        }
        if let Some(seeds) = &self.attach {
            return self.attached(sc, seed, seeds, json).await;
        }
        let rt = Arc::new(Runtime::select(self.runtime).await?);
        if !self.servers.is_empty() || !self.methods.is_empty() {
            return self.matrix(sc, seed, &rt, json).await;
        }
        let run_id = self.run_id.clone().unwrap_or_else(runtime::new_run_id);
        let finished = self.own(sc, seed, &rt, run_id.clone(), json).await?;
        if self.keep {
            crate::note!(
                "kept the topology up (--keep): redis-drill status --name {}-{run_id}",
                finished.report.scenario
            );
        } else {
            remove_run(&rt, &run_id).await;
        }
        Ok(print_run(&finished, json))
    }

    /// Bring the scenario's topology up under `run_id`, drill it, and
    /// return what it found; on an error or a signal, the run is removed
    /// (unless --keep).
    async fn own(
        &self,
        sc: Scenario,
        seed: u64,
        rt: &Arc<Runtime>,
        run_id: String,
        json: bool,
    ) -> Result<scenarios::run::Finished, CliError> {
        let opts = runtime::UpOptions {
            name: format!("{}-{run_id}", sc.name),
            run_id: run_id.clone(),
            timeout: Duration::from_secs(60),
        };
        crate::note!(
            "{}: seed {seed} · {} runtime · run id {run_id}",
            sc.name,
            rt.kind()
        );
        let cancel = CancellationToken::new();
        let work = {
            let (rt, cancel, out) = (rt.clone(), cancel.clone(), self.out.clone());
            async move {
                let (d, up) = bringup::up(&rt, &sc.topology, &opts, &cancel).await?;
                if !json {
                    crate::note!("{} is up in {} ms", sc.topology.name, up.timings.total_ms);
                }
                let finished =
                    scenarios::run::execute(&sc, &rt, &d, seed, &out, json, &cancel).await?;
                Ok(finished)
            }
        };
        owned_run(rt.clone(), run_id, self.keep, cancel, work).await
    }

    /// `run --servers`: the drill once per server, same seed, one after the
    /// other, each on a topology of its own; every server checked before the
    /// first starts. A run that could not be carried out is an entry without
    /// a report (its error), and the matrix goes on; a signal stops it.
    async fn matrix(
        &self,
        sc: Scenario,
        seed: u64,
        rt: &Arc<Runtime>,
        json: bool,
    ) -> Result<i32, CliError> {
        use crate::report::matrix::{Matrix, MatrixEntry};
        use crate::report::nightly::{DrillEntry, DrillStatus};
        let each = self.variants(&sc)?;
        for (_, one) in &each {
            crate::runtime::servers::check(&one.topology)?;
        }
        let started_at =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let total = each.len();
        let mut runs = Vec::new();
        for (i, (variant, one)) in each.into_iter().enumerate() {
            crate::note!("[{}/{total}] {} on {variant}", i + 1, sc.name);
            let run_id = runtime::new_run_id();
            let t0 = std::time::Instant::now();
            let result = self.own(one, seed, rt, run_id.clone(), json).await;
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            let run = match result {
                Ok(f) => {
                    remove_run(rt, &run_id).await;
                    let code = super::output::verdict_code(f.report.verdict);
                    let mut entry = DrillEntry::finished(
                        &f.report,
                        run_id,
                        Some(code),
                        ms,
                        f.dir.path.display().to_string(),
                    );
                    // Runs that moved slots are compared on the move too.
                    entry.figures.extend(
                        crate::report::reshard_figures(&f.report)
                            .into_iter()
                            .map(|h| crate::report::nightly::HeadlineFigure {
                                key: h.key.into(),
                                label: h.label.into(),
                                unit: h.unit.into(),
                                value: h.value,
                            }),
                    );
                    MatrixEntry {
                        variant,
                        reported: f.report.environment.server_line(),
                        entry,
                    }
                }
                Err(e @ CliError::Interrupted { .. }) => return Err(e),
                Err(e) => MatrixEntry {
                    variant,
                    reported: String::new(),
                    entry: DrillEntry::without_report(
                        sc.name.clone(),
                        DrillStatus::Error,
                        run_id,
                        Some(e.class().code()),
                        ms,
                        e.to_string(),
                    ),
                },
            };
            crate::note!(
                "[{}/{total}] {} on {}: {}",
                i + 1,
                sc.name,
                run.variant,
                crate::report::nightly::status_word(&run.entry)
            );
            runs.push(run);
        }
        let m = Matrix {
            scenario: sc.name.clone(),
            seed,
            runtime: rt.kind().to_string(),
            started_at,
            axis: match (self.servers.is_empty(), self.methods.is_empty()) {
                (false, true) => "servers",
                (true, false) => "methods",
                _ => "servers and methods",
            }
            .into(),
            runs,
        };
        let stamp = m.started_at.replace(':', "-");
        let dir = self.out.join(&sc.name).join(format!("matrix-{stamp}"));
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| CliError::WriteFile { path, source })
        };
        std::fs::create_dir_all(&dir).map_err(|source| CliError::WriteFile {
            path: dir.clone(),
            source,
        })?;
        write("matrix.md", m.render_markdown())?;
        write("matrix.html", m.render_html())?;
        write(
            "matrix.json",
            serde_json::to_string_pretty(&m).expect("a matrix serializes"),
        )?;
        if json {
            super::output::print_json(&m);
        } else {
            crate::out!("\n{}", m.render_markdown());
            crate::note!("\nmatrix: {}", dir.display());
        }
        Ok(m.exit_code())
    }
}

impl Run {
    /// The scenario once per server and method asked for (every server by
    /// every method), each labelled; a method on a drill without a reshard,
    /// or `atomic` on a server known to lack it, is refused here, before
    /// anything starts.
    fn variants(&self, sc: &Scenario) -> Result<Vec<(String, Scenario)>, CliError> {
        use crate::cluster::reshard::Method;
        if !self.methods.is_empty() && sc.reshard.is_none() {
            return Err(CliError::Usage(
                "--methods compares ways of moving slots: the drill has no `reshard:` step",
            ));
        }
        let servers: Vec<Option<&crate::topology::Server>> = if self.servers.is_empty() {
            vec![None]
        } else {
            self.servers.iter().map(Some).collect()
        };
        let methods: Vec<Option<Method>> = if self.methods.is_empty() {
            vec![None]
        } else {
            self.methods.iter().copied().map(Some).collect()
        };
        let mut out = Vec::new();
        for server in &servers {
            for method in &methods {
                let mut one = sc.clone();
                let mut label = Vec::new();
                if let Some(server) = server {
                    for n in &mut one.topology.nodes {
                        n.server = (*server).clone();
                    }
                    label.push(server.to_string());
                }
                if let Some(m) = method {
                    if let Some(step) = one.reshard.as_mut() {
                        step.method = *m;
                    }
                    label.push(m.as_str().to_string());
                    let lacking: Vec<String> = (one.topology.primaries())
                        .filter(|n| n.server.atomic_migration() == Some(false))
                        .map(|n| format!("{} ({})", n.name, n.server))
                        .collect();
                    if *m == Method::Atomic && !lacking.is_empty() {
                        return Err(CliError::Cluster(
                            crate::cluster::ClusterError::Unsupported {
                                detail: format!(
                                    "--methods atomic: {} has no atomic slot migration (Valkey 9.0 and later); use auto, which moves key by key there",
                                    lacking.join(", ")
                                ),
                            },
                        ));
                    }
                }
                out.push((label.join(" · "), one));
            }
        }
        Ok(out)
    }

    /// `run --attach`: discover the deployment, remember it under a fresh
    /// run id for the drill's length, drill it as a running topology, and
    /// forget it on every path; its servers are never started or stopped
    /// but by the user's hooks.
    async fn attached(
        &self,
        sc: Scenario,
        seed: u64,
        seeds: &str,
        json: bool,
    ) -> Result<i32, CliError> {
        let t = super::attach::target(seeds, self.hooks.clone(), self.credentials.clone())?;
        let hooks = super::attach::load_hooks(t.hooks.as_deref())?;
        super::attach::secure(t.credentials.as_deref())?;
        let run_id = self.run_id.clone().unwrap_or_else(runtime::new_run_id);
        let name = format!("{}-{run_id}", t.name.as_deref().unwrap_or(&sc.name));
        let mut d = super::attach::discover(&t.seeds, &name, &run_id, hooks).await?;
        super::attach::remember_credentials(&mut d, t.credentials.as_deref());
        let ext = crate::runtime::external::ExternalRuntime::new();
        ext.save(&d)?;
        if !json {
            crate::note!("{}", super::attach::describe(&d));
        }
        let rt = Runtime::from(ext);
        let result = on_running(sc, seed, &rt, &d, &self.out, json).await;
        remove_run(&rt, &run_id).await;
        result
    }
}

/// `run --name` (and `run --attach`): drill a topology that is already up,
/// and leave it up. On Ctrl-C the workload stops and the reshard finishes
/// or rolls back the slots in flight; nothing is removed. A deployment the
/// tool did not start is drilled as it is: its own node timeout and
/// settings stand in for the scenario's topology.
async fn on_running(
    mut sc: Scenario,
    seed: u64,
    rt: &Runtime,
    d: &crate::runtime::Deployment,
    out: &Path,
    json: bool,
) -> Result<i32, CliError> {
    let name = d.name.as_str();
    if d.topology.kind != sc.topology.kind {
        let kind = |k: Kind| {
            serde_json::to_value(k).map_or(String::new(), |v| v.as_str().unwrap_or("").to_string())
        };
        return Err(CliError::KindMismatch {
            name: name.into(),
            running: kind(d.topology.kind),
            scenario: sc.source.display().to_string(),
            wants: kind(sc.topology.kind),
        });
    }
    if d.attached.is_some() {
        sc.topology = d.topology.clone();
    }
    crate::note!(
        "{}: seed {seed} · on the running topology {name} ({} runtime)",
        sc.name,
        rt.kind()
    );
    let cancel = CancellationToken::new();
    let work = scenarios::run::execute(&sc, rt, d, seed, out, json, &cancel);
    let undoing = format!("stopping the drill; {name} stays up");
    let finished = cancel_on_signal(work, &cancel, &undoing).await.output?;
    Ok(print_run(&finished, json))
}
