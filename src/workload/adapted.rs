//! The workload's clients of other libraries: each group of
//! `workload.clients` that is not redis-rs runs as an adapter process
//! ([`super::adapter`]), fed its share of the one open-loop schedule.
//!
//! The schedule's streams are numbered redis-rs app clients first, then
//! probe clients, then each group's clients in turn; op `j` belongs to
//! stream `j mod n` as for every client ([`super::schedule`]), and each
//! stream draws its ops from its own seeded generator, so a library's
//! clients send the same kind of ops at the same rate as redis-rs's. A
//! group's [`Feed`] hands its ops to the adapter a little before they are
//! due and ends at the workload's stop; at the stop each op it fed becomes
//! an op of the history (mode `adapter`), with the adapter's times and
//! outcome — or, when the adapter gave none (it crashed, hung or broke the
//! protocol), as indeterminate: it may have been applied, and it is never
//! a lost write.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::adapter::protocol::{Hello, OWN_CLOCK, OpLine, PROTOCOL, ResultLine};
use super::adapter::{self, Adapter, GroupRun, Limits};
use super::error::WorkloadError;
use super::generator::{OpGen, Planned};
use super::place::Place;
use super::schedule::Schedule;
use super::sharding::Sharding;
use super::spec::{Model, WorkloadSpec};
use crate::cluster::AddressMap;
use crate::record::ops::{AdapterStats, ClientMode, Op, Outcome};
use crate::record::timeline::Clock;
use std::path::PathBuf;

/// How often a feed waiting for an op's time looks for the stop.
const STOP_LOOK: Duration = Duration::from_millis(20);

/// When the workload stopped, as its feeds see it.
pub(crate) type StopAt = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// An op handed to an adapter, kept to make its op of the history.
struct Fed {
    id: u64,
    stream: u32,
    due_ns: u64,
    planned: Planned,
}

/// One group's share of the schedule, as the adapter host pulls it.
struct Feed {
    schedule: Schedule,
    /// The group's first stream and its clients.
    first: u32,
    count: u32,
    gens: Vec<OpGen>,
    /// The next op: cycle `cycle` of the schedule, the group's client `k`.
    cycle: u64,
    k: u32,
    /// The schedule's start, on the run's clock, once the workload goes.
    go: Option<mpsc::Receiver<u64>>,
    t0_ns: u64,
    clock: Clock,
    lead: Duration,
    stop_at: StopAt,
    fed: Arc<Mutex<Vec<Fed>>>,
}

impl Iterator for Feed {
    type Item = OpLine;

    fn next(&mut self) -> Option<OpLine> {
        if let Some(go) = self.go.take() {
            // The workload was abandoned before it started: the sender is gone.
            self.t0_ns = go.recv().ok()?;
        }
        let stream = self.first + self.k;
        let j = self.cycle * u64::from(self.schedule.streams()) + u64::from(stream);
        let due_rel = self.schedule.due_ns(j);
        if due_rel >= super::runner::MAX_RUN.as_nanos() as u64 {
            return None;
        }
        let due_ns = self.t0_ns + due_rel;
        // Wait until `lead` before the op is due, looking for the stop:
        // an op due at or after the stop is not sent. Bounded by the due
        // time, in steps of STOP_LOOK.
        loop {
            if let Some(stop) = (self.stop_at)() {
                if due_ns >= stop {
                    return None;
                }
                break;
            }
            let at = due_ns.saturating_sub(self.lead.as_nanos() as u64);
            let now = self.clock.now_ns();
            if now >= at {
                break;
            }
            std::thread::sleep(Duration::from_nanos(at - now).min(STOP_LOOK));
        }
        let planned = self.gens[self.k as usize].next_op();
        let line = OpLine {
            id: j,
            client: self.k,
            op: planned.kind,
            key: planned.key.clone(),
            value: planned.value.clone(),
            due_ns,
        };
        let mut fed = self.fed.lock().unwrap_or_else(|e| e.into_inner());
        if fed.len() >= super::runner::MAX_OPS {
            return None;
        }
        fed.push(Fed {
            id: j,
            stream,
            due_ns,
            planned,
        });
        self.k += 1;
        if self.k == self.count {
            self.k = 0;
            self.cycle += 1;
        }
        Some(line)
    }
}

/// One group, running.
struct Running {
    stats: AdapterStats,
    fed: Arc<Mutex<Vec<Fed>>>,
    thread: std::thread::JoinHandle<Result<GroupRun, String>>,
    go: mpsc::Sender<u64>,
}

/// The adapters' groups of a workload, running.
pub(crate) struct Groups {
    running: Vec<Running>,
    /// Where their scripts were written; removed with it.
    _dir: tempfile::TempDir,
    limits: Limits,
    /// Node names by the address the libraries see (`host:port`), to name
    /// the node a result says served it.
    names: std::collections::HashMap<String, String>,
}

impl Groups {
    /// Start every group's adapter in `place` (the clients' network) and
    /// wait until each is ready; the schedule starts at [`Groups::go`].
    /// An adapter that cannot start fails the workload, naming it.
    pub(crate) fn start(
        spec: &WorkloadSpec,
        seed: u64,
        clock: Clock,
        map: &AddressMap,
        sharding: &Sharding,
        place: &Place,
        stop_at: StopAt,
    ) -> Result<Groups, WorkloadError> {
        let limits = Limits::default();
        let dir = tempfile::Builder::new()
            .prefix("redis-drill-adapters-")
            .tempdir()
            .map_err(|e| WorkloadError::Spec(format!("a folder for the adapters: {e}")))?;
        let mut groups = Groups {
            running: Vec::new(),
            _dir: dir,
            limits,
            names: map
                .nodes()
                .iter()
                .map(|n| (n.announce.to_string(), n.name.clone()))
                .collect(),
        };
        let Model::Open { rate } = spec.model else {
            return Err(WorkloadError::Spec(
                "client libraries run by adapters keep an open loop's schedule".into(),
            ));
        };
        let (topology, service) = match sharding {
            Sharding::Cluster => ("cluster", None),
            Sharding::Primary {
                sentinel: Some(master),
                ..
            } => ("sentinel", Some(master.clone())),
            _ => {
                return Err(WorkloadError::Spec(
                    "client libraries run by adapters need a cluster or a replicated topology with Sentinels".into(),
                ));
            }
        };
        // An adapter here needs the announced addresses to be the ones it
        // reaches: checked before any group starts, when one runs here. A
        // worker runs on the run's own network, where every node (and
        // Sentinel) is reached at the address it announces: it is given
        // those, and needs no path from here.
        let here = if spec.clients.groups.iter().any(|g| g.region.is_none()) {
            let sentinels = match topology {
                "sentinel" => sentinel_seeds(map),
                _ => Ok(Vec::new()),
            };
            Some((
                seeds(map).map_err(WorkloadError::Adapter)?,
                sentinels.map_err(WorkloadError::Adapter)?,
            ))
        } else {
            None
        };
        let on_network = (
            announced(map.nodes()),
            match topology {
                "sentinel" => announced(map.sentinels()),
                _ => Vec::new(),
            },
        );
        let schedule = Schedule::new(rate, spec.total_clients());
        let mut first = spec.builtin_clients();
        let mut readies = Vec::new();
        for (i, g) in spec.clients.groups.iter().enumerate() {
            let sub = groups._dir.path().join(format!("{i}"));
            std::fs::create_dir_all(&sub)
                .map_err(|e| WorkloadError::Spec(format!("a folder for an adapter: {e}")))?;
            // At the controller's own priority, not the event loops' raised
            // one: a library's whole runtime (retry storms, hundreds of
            // threads) raised above the servers starved them and the engine
            // on a 2-core machine, and the drill measured that.
            let (adapter, settings, clock_mode) = match &g.region {
                Some(region) => {
                    let remote = (place.workers.iter())
                        .find(|(r, _)| r == region)
                        .map(|(_, w)| w.clone())
                        .ok_or_else(|| {
                            WorkloadError::Spec(format!(
                                "clients: the {} group runs as a worker in region {region}, and this runtime runs no worker there (workers run on the swarm runtime)",
                                g.label()
                            ))
                        })?;
                    // The workload's own settings, as the built-in clients run.
                    let mut s = serde_json::Map::new();
                    s.insert("timeout_ms".into(), spec.timeout_ms.into());
                    s.insert("retries".into(), spec.app_retries.into());
                    // A pool of its own as the built-in open loop keeps:
                    // `max_connections` (at least one per client), or one
                    // shared by every client.
                    let connections = match spec.app_connection {
                        crate::workload::spec::AppConnection::PerClient => {
                            spec.max_connections.max(g.count)
                        }
                        crate::workload::spec::AppConnection::Shared => 1,
                    };
                    s.insert("connections".into(), connections.into());
                    let a = Adapter {
                        library: g.library.clone(),
                        program: PathBuf::new(),
                        args: Vec::new(),
                        env: Vec::new(),
                        remote: Some(remote),
                    };
                    (a, s, Some(OWN_CLOCK.to_string()))
                }
                None => (
                    Adapter::shipped(&g.library, &sub)
                        .map_err(|e| WorkloadError::Adapter(e.to_string()))?,
                    g.settings.clone(),
                    None,
                ),
            };
            let (nodes, sentinels) = match (&g.region, &here) {
                (None, Some(here)) => here.clone(),
                _ => on_network.clone(),
            };
            let hello = Hello {
                protocol: PROTOCOL,
                library: g.library.clone(),
                topology: topology.into(),
                nodes,
                sentinels,
                service: service.clone(),
                clients: g.count,
                epoch_monotonic_ns: clock.epoch_monotonic_ns(),
                settings,
                max_in_flight: Some(in_flight(rate, spec, g.count)),
                deadline_ms: Some(deadline(&limits).as_millis() as u64),
                clock: clock_mode,
            };
            let (go_tx, go_rx) = mpsc::channel();
            let fed = Arc::new(Mutex::new(Vec::new()));
            let feed = Feed {
                schedule,
                first,
                count: g.count,
                gens: (first..first + g.count)
                    .map(|s| OpGen::new(spec, seed, s))
                    .collect(),
                cycle: 0,
                k: 0,
                go: Some(go_rx),
                t0_ns: 0,
                clock,
                lead: limits.lead,
                stop_at: stop_at.clone(),
                fed: fed.clone(),
            };
            let (ready_tx, ready_rx) = mpsc::channel::<Result<AdapterReady, String>>();
            readies.push((g.label().to_string(), ready_rx));
            let place = place.clone();
            let label = g.label().to_string();
            let thread = std::thread::Builder::new()
                .name(format!("redis-drill-adapter-{i}"))
                .spawn(move || {
                    // The adapter is started from here, so it is born in the
                    // clients' network.
                    place
                        .enter()
                        .map_err(|e| format!("adapter {label}: its network: {e}"))?;
                    adapter::run_with(&adapter, &hello, feed, &clock, limits, |r| {
                        let _ = ready_tx.send(
                            r.map(|r| AdapterReady {
                                version: r.version.clone(),
                                settings: r.settings.clone(),
                            })
                            .map_err(str::to_string),
                        );
                    })
                    .map_err(|e| e.to_string())
                })
                .map_err(|e| WorkloadError::Spec(format!("start an adapter's thread: {e}")))?;
            groups.running.push(Running {
                stats: AdapterStats {
                    name: g.label().to_string(),
                    library: g.library.clone(),
                    first_client: first,
                    clients: g.count,
                    settings: g.settings.clone(),
                    ..AdapterStats::default()
                },
                fed,
                thread,
                go: go_tx,
            });
            first += g.count;
        }
        // Every adapter ready, or the first that is not, named.
        let deadline = Instant::now() + limits.ready + Duration::from_secs(5);
        for (i, (label, rx)) in readies.into_iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(r)) => {
                    let s = &mut groups.running[i].stats;
                    s.version = Some(r.version);
                    s.settings = r.settings;
                }
                Ok(Err(why)) => return Err(WorkloadError::Adapter(why)),
                Err(_) => {
                    // The thread ended before it said (its adapter did not start).
                    let why = match groups.running.remove(i).thread.join() {
                        Ok(Err(e)) => e,
                        _ => format!("adapter {label}: did not say whether it was ready"),
                    };
                    return Err(WorkloadError::Adapter(why));
                }
            }
        }
        Ok(groups)
    }

    /// Start the schedule: `t0_ns` on the run's clock.
    pub(crate) fn go(&self, t0_ns: u64) {
        for r in &self.running {
            let _ = r.go.send(t0_ns);
        }
    }

    /// After the workload's stop (the feeds see it and end): wait for every
    /// adapter to finish, bounded, and make the history's ops of what each
    /// was fed — all of them, those the feed handed over just before it saw
    /// the stop (due up to the lead after it) included.
    pub(crate) fn finish(self, stop_ns: u64) -> (Vec<Op>, Vec<AdapterStats>) {
        let mut ops = Vec::new();
        let mut stats = Vec::new();
        // The host ends within its drain bound after its last op was fed.
        let bound = self.limits.drain + self.limits.ready + Duration::from_secs(10);
        for r in self.running {
            let mut s = r.stats;
            let (tx, rx) = mpsc::channel();
            let thread = r.thread;
            std::thread::spawn(move || {
                let _ = tx.send(thread.join());
            });
            let run = match rx.recv_timeout(bound) {
                Ok(Ok(Ok(run))) => Some(run),
                Ok(Ok(Err(e))) => {
                    s.problem = Some(e);
                    None
                }
                Ok(Err(_)) => {
                    s.problem = Some(format!("adapter {}: its host thread panicked", s.name));
                    None
                }
                Err(_) => {
                    s.problem = Some(format!(
                        "adapter {}: its host did not end within {bound:?}",
                        s.name
                    ));
                    None
                }
            };
            let mut results = std::collections::HashMap::new();
            if let Some(run) = run {
                if let Some(p) = run.problem {
                    s.problem = Some(p);
                    s.stderr_tail = run.stderr_tail;
                }
                s.clock = run.clock;
                results = run.results;
            }
            let fed = std::mem::take(&mut *r.fed.lock().unwrap_or_else(|e| e.into_inner()));
            // Every op fed is in the history, those due after the stop too:
            // the adapter had them (up to the lead ahead) and ran them, and
            // a write it made must be there to explain the final state.
            for f in fed {
                s.fed += 1;
                let op = match results.remove(&f.id) {
                    Some(res) => match op_of(&f, &res, &self.names) {
                        Ok(op) => {
                            s.results += 1;
                            op
                        }
                        Err(why) => {
                            if s.problem.is_none() {
                                s.problem = Some(format!("adapter {}: op {}: {why}", s.name, f.id));
                            }
                            unanswered(f, stop_ns, &s.name)
                        }
                    },
                    None => unanswered(f, stop_ns, &s.name),
                };
                ops.push(op);
            }
            if s.fed == 0 && s.problem.is_none() {
                s.problem = Some(format!("adapter {}: it was fed no op", s.name));
            }
            stats.push(s);
        }
        (ops, stats)
    }
}

/// Ops a group may have in flight: every op of its share of the schedule
/// over one op bound (each op ends within it), plus its clients, as the
/// event loops' limit is made; at most [`MAX_IN_FLIGHT`] (threads, in a
/// synchronous library's adapter).
fn in_flight(rate: f64, spec: &WorkloadSpec, count: u32) -> u32 {
    let share = rate * f64::from(count) / f64::from(spec.total_clients().max(1));
    let n = (share * spec.op_bound().as_secs_f64()).ceil() as u32 + count;
    n.min(MAX_IN_FLIGHT)
}

/// How long an adapter lets its library hold an op before it answers it
/// itself: 5 s inside the host's hang bound, so that the host's bound
/// catches only an adapter that is broken, not a library that waits.
fn deadline(limits: &Limits) -> Duration {
    limits.drain.saturating_sub(Duration::from_secs(5))
}

/// The most ops an adapter is asked to keep in flight.
const MAX_IN_FLIGHT: u32 = 512;

/// What a ready adapter said of itself.
struct AdapterReady {
    version: String,
    settings: serde_json::Map<String, serde_json::Value>,
}

/// The seeds an adapter starts from: every node, at an address the
/// library can reach and that the nodes announce (a library follows the
/// addresses CLUSTER SLOTS gives, with no map of its own).
fn seeds(map: &AddressMap) -> Result<Vec<String>, String> {
    as_announced("node", map.nodes())
}

/// The Sentinels a Sentinel client asks, as [`seeds`]: the primary's
/// address they give is the one the nodes announce.
fn sentinel_seeds(map: &AddressMap) -> Result<Vec<String>, String> {
    as_announced("Sentinel", map.sentinels())
}

/// The addresses of `members` (`what`s), each reached where it announces
/// itself, or which one is not.
fn as_announced(what: &str, members: &[crate::cluster::MappedNode]) -> Result<Vec<String>, String> {
    if let Some(n) = members.iter().find(|n| n.addr != n.announce) {
        return Err(format!(
            "{what} {} announces {} but is reached at {}: a client library follows the announced addresses, so its adapter must run where they are reachable (the run's own network; on the swarm runtime, a group with a `region:` runs as a worker there)",
            n.name, n.announce, n.addr
        ));
    }
    Ok(members.iter().map(|n| n.addr.to_string()).collect())
}

/// The addresses `members` announce: where a client on the run's own
/// network (a worker) reaches them.
fn announced(members: &[crate::cluster::MappedNode]) -> Vec<String> {
    members.iter().map(|n| n.announce.to_string()).collect()
}

/// The history's op of a result.
fn op_of(
    f: &Fed,
    r: &ResultLine,
    names: &std::collections::HashMap<String, String>,
) -> Result<Op, String> {
    let outcome = r.outcome()?;
    if r.end_ns < r.sent_ns {
        return Err(format!(
            "ended (end_ns {}) before it was sent (sent_ns {})",
            r.end_ns, r.sent_ns
        ));
    }
    if r.sent_ns < f.due_ns {
        return Err(format!(
            "sent (sent_ns {}) before it was due (due_ns {})",
            r.sent_ns, f.due_ns
        ));
    }
    let ok = matches!(outcome, Outcome::Ok);
    let p = &f.planned;
    let value = match p.kind {
        crate::record::ops::OpKind::Set => p.value.clone(),
        crate::record::ops::OpKind::Get | crate::record::ops::OpKind::Incr if ok => r.value.clone(),
        _ => None,
    };
    Ok(Op {
        client: f.stream,
        mode: ClientMode::Adapter,
        kind: p.kind,
        key: p.key.clone(),
        slot: p.slot,
        value,
        due_ns: f.due_ns,
        sent_ns: r.sent_ns,
        end_ns: r.end_ns,
        pool_wait_ns: 0,
        // An address no node announces is said as it is.
        node: r
            .node
            .as_ref()
            .map(|a| names.get(a).cloned().unwrap_or_else(|| a.clone())),
        served: None,
        redirects: r.redirects.unwrap_or(0),
        outcome,
        replicas: None,
        ttl_ms: None,
        members: Vec::new(),
        values: Vec::new(),
    })
}

/// An op fed to an adapter that gave no result: it may have been applied.
fn unanswered(f: Fed, stop_ns: u64, name: &str) -> Op {
    let value = match f.planned.kind {
        crate::record::ops::OpKind::Set => f.planned.value,
        _ => None,
    };
    Op {
        client: f.stream,
        mode: ClientMode::Adapter,
        kind: f.planned.kind,
        key: f.planned.key,
        slot: f.planned.slot,
        value,
        due_ns: f.due_ns,
        sent_ns: f.due_ns,
        end_ns: stop_ns.max(f.due_ns),
        pool_wait_ns: 0,
        node: None,
        served: None,
        redirects: 0,
        outcome: Outcome::Indeterminate {
            message: format!("no result from adapter {name}"),
        },
        replicas: None,
        ttl_ms: None,
        members: Vec::new(),
        values: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::MappedNode;

    fn node(name: &str, announce: &str, addr: &str) -> MappedNode {
        MappedNode {
            name: name.into(),
            announce: announce.parse().unwrap(),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn an_adapter_here_needs_the_announced_addresses_a_worker_takes_them() {
        // Reached through published ports: an adapter here would follow the
        // announced addresses it cannot reach, so it is refused by node...
        let ported = [
            node("s1n1", "10.215.0.129:6379", "10.213.0.11:31000"),
            node("s1n2", "10.215.0.130:6379", "10.213.0.12:31001"),
        ];
        let err = as_announced("node", &ported).unwrap_err();
        assert!(
            err.contains("s1n1 announces 10.215.0.129:6379 but is reached at 10.213.0.11:31000")
                && err.contains("`region:`"),
            "{err}"
        );
        // ...while a worker, on the run's own network, is given them.
        assert_eq!(
            announced(&ported),
            ["10.215.0.129:6379", "10.215.0.130:6379"]
        );
        // Inside the run's network the two are one.
        let inside = [node("s1n1", "10.215.0.129:6379", "10.215.0.129:6379")];
        assert_eq!(
            as_announced("node", &inside).unwrap(),
            ["10.215.0.129:6379"]
        );
    }
}
