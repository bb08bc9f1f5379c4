//! The executor: applies faults to a running deployment on the run's clock,
//! records each one's window, and undoes whatever is still in force when asked
//! ([`Nemesis::heal_all`], which every drill calls on every exit path).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;

use super::hooked;

mod replace;
use super::pause::ClientPause;
use super::schedule::{FaultStep, Shape, expand};
use super::target::{ClusterSnapshot, Target};
use crate::cluster::{self, AddressMap, ClusterError, ConnectOptions, Role};
use crate::exit::Class;
use crate::net::{self, Grudge};
use crate::record::faults::{FaultKind, FaultWindow, HookRun};
use crate::record::timeline::Clock;
use crate::runtime::NetError;
use crate::runtime::{Deployment, Runtime, RuntimeError};
use crate::topology::Kind;

/// How long a manual failover may take before it is an error: a coordinated
/// one takes well under a second, a forced one an election; Redis itself
/// abandons a manual failover after 5 s (CLUSTER_MF_TIMEOUT).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a `stall` with no hold (applied once, from code that gives
/// none) lasts: Redis needs a timeout, and `CLIENT PAUSE ALL` cannot be
/// ended early (it holds `CLIENT UNPAUSE` too).
const STALL_WITHOUT_HOLD_MS: u64 = 10_000;

/// Why a fault could not be applied or undone: the drill stops on it
/// (a violated invariant is a verdict, never one of these).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A target naming a node or region the deployment does not have.
    #[error("{fault} {target}: {message}")]
    UnknownTarget {
        fault: FaultKind,
        target: String,
        message: String,
    },
    /// A target with nobody to hit right now (no reachable replica, ...).
    #[error("{fault} {target}: {message}")]
    Target {
        fault: FaultKind,
        target: String,
        message: String,
    },
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("failover: {}", crate::cluster::error::error_chain(.0))]
    Cluster(#[from] ClusterError),
    /// A user's hook that failed while undoing at the end: what it left.
    #[error("{0}")]
    Hook(String),
    #[error("interrupted")]
    Cancelled,
}

impl FaultError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            FaultError::UnknownTarget { .. } => Class::BadInput,
            FaultError::Target { .. } => Class::Environment,
            FaultError::Runtime(e) => e.class(),
            FaultError::Net(e) => e.class(),
            FaultError::Cluster(e) => e.class(),
            FaultError::Hook(_) => Class::Environment,
            FaultError::Cancelled => Class::Interrupted,
        }
    }
}

/// A node's values of the directives a `config` fault set, before it did.
type SavedConfig = (String, Vec<(String, String)>);

/// What is in force now, so that [`Nemesis::heal_all`] can undo it.
#[derive(Debug, Default)]
struct InForce {
    /// Killed or stopped nodes.
    down: BTreeSet<String>,
    paused: BTreeSet<String>,
    /// Nodes under CLIENT PAUSE (`stall`, `stall_writes`) or DEBUG SLEEP
    /// (`sleep`), with when the pause or the sleep ends by itself.
    stalled: BTreeMap<String, Instant>,
    /// Partition window index → its grudge; the drops applied are their union.
    grudges: BTreeMap<usize, Grudge>,
    /// Config window index → each node's values before its CONFIG SET.
    configs: BTreeMap<usize, Vec<SavedConfig>>,
    /// Slow window index → what it made of a link; applied in window order
    /// over the declared links.
    slows: BTreeMap<usize, super::schedule::LinkChange>,
}

/// The nemesis for one deployment.
pub struct Nemesis<'a> {
    rt: &'a Runtime,
    /// The deployment as it is now: a `replace` grows and shrinks it.
    d: std::borrow::Cow<'a, Deployment>,
    map: AddressMap,
    clock: Clock,
    rng: StdRng,
    windows: Vec<FaultWindow>,
    in_force: InForce,
    /// The drill's lock workload, which `pause lock_holder:<n>` freezes.
    clients: Option<Arc<dyn ClientPause>>,
    /// Window index → the lock whose holder it froze.
    holder_pauses: BTreeMap<usize, u32>,
    /// Why partitions cannot be applied here (the runtime's preflight said
    /// so): each `partition` and `heal` is recorded as skipped instead.
    partitions_unsupported: Option<String>,
    /// Nodes a `replace` removed: their names are not given again.
    retired: BTreeSet<String>,
    /// The drill's watcher, told of the nodes a `replace` adds and removes.
    watch: Option<cluster::watch::Follow>,
}

impl<'a> Nemesis<'a> {
    /// A nemesis whose random choices all come from `seed`.
    pub fn new(
        rt: &'a Runtime,
        d: &'a Deployment,
        map: AddressMap,
        clock: Clock,
        seed: u64,
    ) -> Self {
        Nemesis {
            rt,
            d: std::borrow::Cow::Borrowed(d),
            map,
            clock,
            // Apart from the workload's streams, which use the seed directly.
            rng: StdRng::seed_from_u64(seed ^ 0x6e65_6d65_7369_7321),
            windows: Vec::new(),
            in_force: InForce::default(),
            clients: None,
            holder_pauses: BTreeMap::new(),
            partitions_unsupported: None,
            retired: BTreeSet::new(),
            watch: None,
        }
    }

    /// Partitions cannot be applied here, for `why`: the drill runs on, and
    /// each `partition` or `heal` of its schedule is recorded as skipped
    /// (the report's verdict is then `unknown`) rather than stopping it.
    pub fn without_partitions(mut self, why: impl Into<String>) -> Self {
        self.partitions_unsupported = Some(why.into());
        self
    }

    /// The drill's watcher, which polls the nodes a `replace` adds from
    /// then on and stops polling the ones it removes.
    pub fn with_watch(mut self, watch: cluster::watch::Follow) -> Self {
        self.watch = Some(watch);
        self
    }

    /// The drill's lock workload, for `pause lock_holder:<n>`.
    pub fn with_clients(mut self, clients: Arc<dyn ClientPause>) -> Self {
        self.clients = Some(clients);
        self
    }

    /// The deployment as the faults left it (a `replace` adds a node and
    /// removes one).
    pub fn deployment(&self) -> &Deployment {
        &self.d
    }

    /// Every fault applied so far, with its window: the run's record of faults.
    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }

    /// Nodes that are killed, stopped or paused now: not expected to answer.
    pub fn unavailable_nodes(&self) -> BTreeSet<String> {
        self.in_force
            .down
            .union(&self.in_force.paused)
            .cloned()
            .collect()
    }

    /// The cluster as it is now (roles, slots), for resolving targets. A paused
    /// node is not asked: it would only time out.
    pub async fn snapshot(&self) -> ClusterSnapshot {
        let connect = ConnectOptions {
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
        };
        // Nor is a node the controller is cut off from (`clients` partitions).
        let cut: BTreeSet<&str> = self
            .in_force
            .grudges
            .values()
            .flat_map(|g| g.drops_from(net::grudge::CLIENTS))
            .collect();
        let mut map = AddressMap::new();
        for n in self.map.nodes() {
            if !self.in_force.paused.contains(&n.name)
                && !self.in_force.down.contains(&n.name)
                && !cut.contains(n.name.as_str())
            {
                let _ = map.insert(&n.name, n.announce, n.addr);
            }
        }
        let mut snap = if self.d.topology.kind == Kind::Cluster {
            let views = cluster::node_views(&map, connect).await;
            ClusterSnapshot::from_views(&self.d, &views)
        } else {
            let roles = cluster::replication::roles(&map, connect).await;
            ClusterSnapshot::from_roles(&self.d, &roles)
        };
        // Those not asked: why, as the faults in force say.
        for n in snap.nodes.iter_mut().filter(|n| !n.reachable) {
            let why = if self.in_force.down.contains(&n.name) {
                "down: a fault of the drill stopped it"
            } else if self.in_force.paused.contains(&n.name) {
                "paused by a fault of the drill"
            } else if cut.contains(n.name.as_str()) {
                "cut off from the controller by a partition"
            } else {
                continue;
            };
            n.why_unreachable = Some(why.to_string());
        }
        snap
    }

    /// Run a whole schedule: occurrence times are from `start` (the end of the
    /// baseline). A step with `after_slots` also waits until `slots` (the
    /// reshard's progress) reaches that many, or the reshard is over; a hold
    /// counts from when its fault was actually applied. Returns when the last
    /// action is done; the caller heals what stays in force with
    /// [`Nemesis::heal_all`].
    pub async fn run(
        &mut self,
        steps: &[FaultStep],
        start: Instant,
        mut slots: Option<tokio::sync::watch::Receiver<usize>>,
        cancel: &CancellationToken,
    ) -> Result<(), FaultError> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let occurrences = expand(steps);
        // (due, undo before apply at equal times, occurrence), earliest first.
        let mut queue: BinaryHeap<Reverse<(Instant, bool, usize)>> = occurrences
            .iter()
            .enumerate()
            .map(|(o, occ)| Reverse((start + Duration::from_millis(occ.at_ms), true, o)))
            .collect();
        // Occurrence id → window index once applied.
        let mut window_of: Vec<Option<usize>> = vec![None; occurrences.len()];
        while let Some(Reverse((due, is_apply, o))) = queue.pop() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(FaultError::Cancelled),
                _ = tokio::time::sleep_until(due.into()) => {}
            }
            let step = &steps[occurrences[o].step];
            if !is_apply {
                if let Some(w) = window_of[o] {
                    self.undo(w).await?;
                }
                continue;
            }
            let mut mistimed = None;
            if let (Some(n), Some(rx)) = (step.after_slots, slots.as_mut()) {
                let ended = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(FaultError::Cancelled),
                    // An error means the reshard is over: apply now, and say so.
                    r = rx.wait_for(|&done| done >= n) => r.is_err(),
                };
                if ended {
                    let done = *rx.borrow();
                    tracing::warn!(
                        after_slots = n,
                        done,
                        "the reshard ended first; applying the fault now"
                    );
                    mistimed = Some(format!(
                        "asked to hit after {n} slots of the reshard, which ended at {done}: it hit after the reshard instead"
                    ));
                }
            }
            let w = self.apply(step, cancel).await?;
            self.windows[w].mistimed = mistimed;
            window_of[o] = Some(w);
            if let Some(hold) = step.hold_ms {
                queue.push(Reverse((
                    Instant::now() + Duration::from_millis(hold),
                    false,
                    o,
                )));
            }
        }
        Ok(())
    }

    /// Apply one step now; returns its window's index.
    pub async fn apply(
        &mut self,
        step: &FaultStep,
        cancel: &CancellationToken,
    ) -> Result<usize, FaultError> {
        if let Some(Target::LockHolder(lock)) = step.target {
            return self.pause_holder(step, lock);
        }
        let snap = self.snapshot().await;
        let sentinels: Vec<String> = self.d.sentinels.iter().map(|s| s.name.clone()).collect();
        for t in [&step.target, &step.peer].into_iter().flatten() {
            // A Sentinel named as a target is itself (the snapshot knows the
            // nodes only).
            if matches!(t, Target::Node(n) if sentinels.contains(n)) {
                continue;
            }
            if let Some(message) = snap.unknown(t) {
                return Err(FaultError::UnknownTarget {
                    fault: step.fault,
                    target: t.to_string(),
                    message,
                });
            }
        }
        let nodes = resolve_target(&snap, step, &step.target, &sentinels, &mut self.rng)?;
        let mut window = self.open_window(step, &snap, nodes);
        let index = self.windows.len();
        match step.fault {
            FaultKind::Partition => self.partition(step, &snap, index, &mut window).await?,
            FaultKind::Slow => {
                let change = step
                    .link
                    .clone()
                    .expect("validated: a slow fault changes a link");
                window.detail = format!("one way {} ms ± {} ms", change.delay_ms, change.jitter_ms);
                window.nodes = snap.names();
                self.in_force.slows.insert(index, change);
                self.apply_links().await?;
            }
            FaultKind::Heal => self.heal(&mut window).await?,
            FaultKind::Failover => self.failover(step, &mut window, cancel).await?,
            FaultKind::Replace => self.replace(step, &snap, &mut window, cancel).await?,
            FaultKind::Flush => self.flush(step, &mut window).await?,
            FaultKind::Stall | FaultKind::StallWrites | FaultKind::Unstall => {
                self.client_pause(step.fault, step.hold_ms, &mut window)
                    .await?
            }
            FaultKind::DropClients => self.drop_clients(&mut window).await?,
            FaultKind::Sleep => self.debug_sleep(step.hold_ms, &mut window).await?,
            FaultKind::Wake => self.wake(&window.nodes.clone()).await?,
            FaultKind::Config => self.config_set(step, index, &mut window).await?,
            FaultKind::RestoreConfig => {
                window.detail = "nothing to restore: a restore_config undoes a config fault".into();
            }
            kind => self.act_on(kind, &mut window).await?,
        }
        window.applied_ns = self.clock.now_ns();
        if let Some(why) = &window.skipped {
            // Nothing is in force, so nothing to undo.
            window.undo = None;
            tracing::warn!(fault = %step.fault, target = %window.target, why = %why, "fault not performed: the drill goes on without it");
        } else {
            tracing::info!(fault = %step.fault, target = %window.target, nodes = ?window.nodes, "fault applied");
        }
        self.windows.push(window);
        Ok(index)
    }

    /// The window of `step` about to be applied to `nodes`, its start taken
    /// now: what it hits, and which slots those nodes served.
    fn open_window(
        &self,
        step: &FaultStep,
        snap: &ClusterSnapshot,
        nodes: Vec<String>,
    ) -> FaultWindow {
        let primaries: Vec<String> = snap
            .primaries()
            .iter()
            .filter(|p| nodes.contains(&p.name))
            .map(|p| p.name.clone())
            .collect();
        let target = match (&step.target, step.shape, &step.link) {
            (Some(t), _, _) => t.to_string(),
            (None, Some(s), _) => s.to_string(),
            // A slow fault names a link, not a node.
            (None, None, Some(change)) => change
                .between
                .as_ref()
                .map_or("every link".to_string(), |[a, b]| format!("{a}<->{b}")),
            (None, None, None) => "all".to_string(),
        };
        let start_ns = self.clock.now_ns();
        FaultWindow {
            fault: step.fault,
            target,
            nodes,
            primaries,
            detail: String::new(),
            shape: step.shape,
            primary_cut_from_sentinels: false,
            start_ns,
            applied_ns: start_ns,
            undo: step.hold_ms.and(step.fault.healed_by()),
            undo_start_ns: None,
            undone_ns: None,
            promoted_ms: None,
            mistimed: None,
            skipped: None,
            slot_owners: slot_owners(snap),
            hooks: Vec::new(),
        }
    }

    /// `partition`: add the step's grudge to those in force (window
    /// `index`) and apply their union, or record why it was skipped.
    async fn partition(
        &mut self,
        step: &FaultStep,
        snap: &ClusterSnapshot,
        index: usize,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        let shape = step.shape.expect("validated: a partition has a shape");
        let sentinels: Vec<String> = self.d.sentinels.iter().map(|s| s.name.clone()).collect();
        let peer = resolve_target(snap, step, &step.peer, &sentinels, &mut self.rng)?;
        let lone = self.d.lone_sentinels();
        let sentinels: Vec<String> = self.d.sentinels.iter().map(|s| s.name.clone()).collect();
        let grudge = grudge_for(
            shape,
            &window.nodes,
            &peer,
            snap,
            &lone,
            &sentinels,
            &mut self.rng,
        );
        window.detail = grudge.describe();
        window.primary_cut_from_sentinels =
            primary_cut_from_sentinels(self.d.topology.sentinel.as_ref(), snap, &grudge);
        if shape == Shape::OneWay {
            window.nodes.extend(peer);
        } else if shape == Shape::Sentinels {
            // Only the Sentinels are cut: no node is hit.
            window.nodes = sentinels.clone();
        } else if step.target.is_none() {
            // A whole-cluster shape hits every node.
            window.nodes = snap.names();
        }
        if hooked::command(&self.d, FaultKind::Partition).is_some() {
            let targets = hooked::partition_targets(&self.d, &grudge);
            let runs = hooked::run_for(&self.d, &self.clock, FaultKind::Partition, &targets).await;
            window.hooks.extend(runs);
            if let Some(why) = hooked::failure(&window.hooks) {
                let runs = hooked::run_for(&self.d, &self.clock, FaultKind::Heal, &targets).await;
                window.hooks.extend(runs);
                window.skipped = Some(why);
            } else {
                self.in_force.grudges.insert(index, grudge);
            }
            return Ok(());
        }
        if let Some(why) = &self.partitions_unsupported {
            window.skipped = Some(why.clone());
            return Ok(());
        }
        self.in_force.grudges.insert(index, grudge);
        match self.apply_grudges().await {
            Ok(()) => Ok(()),
            // Found out only now (no preflight): the same as above.
            Err(NetError::Unsupported(why)) => {
                self.in_force.grudges.remove(&index);
                window.skipped = Some(why);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `heal`: lift every partition and every slow fault in force.
    async fn heal(&mut self, window: &mut FaultWindow) -> Result<(), FaultError> {
        if hooked::command(&self.d, FaultKind::Heal).is_some() {
            let runs = self.heal_hooked().await;
            window.detail = format!("every partition, {} hook run(s)", runs.len());
            if let Some(why) = hooked::failure(&runs) {
                window.skipped = Some(why);
            }
            window.hooks.extend(runs);
            return Ok(());
        }
        self.in_force.grudges.clear();
        if !self.in_force.slows.is_empty() {
            self.in_force.slows.clear();
            self.apply_links().await?;
        }
        if let Some(why) = &self.partitions_unsupported {
            window.skipped = Some(why.clone());
        } else {
            let healed = self.rt.heal(&self.d).await?;
            window.detail = format!("every partition, {} nodes", healed.nodes);
        }
        Ok(())
    }

    /// `failover`: a manual failover of the window's one replica.
    async fn failover(
        &mut self,
        step: &FaultStep,
        window: &mut FaultWindow,
        cancel: &CancellationToken,
    ) -> Result<(), FaultError> {
        let [node] = window.nodes.as_slice() else {
            return Err(FaultError::Target {
                fault: step.fault,
                target: window.target.clone(),
                message: format!("a failover needs one replica, not {}", window.nodes.len()),
            });
        };
        window.detail = step.mode.to_string();
        let rep = match self.d.topology.kind {
            Kind::Cluster => {
                cluster::manual_failover(&self.map, node, step.mode, FAILOVER_TIMEOUT, cancel)
                    .await?
            }
            _ => {
                cluster::replication::failover(&self.map, node, step.mode, FAILOVER_TIMEOUT, cancel)
                    .await?
            }
        };
        if let Some(p) = &rep.old_primary {
            window.primaries = vec![p.clone()];
        }
        window.promoted_ms = Some(rep.promoted_ms);
        Ok(())
    }

    /// `stall`, `stall_writes`: CLIENT PAUSE ALL or WRITE on every node of
    /// the window, for exactly its hold, so that it ends by itself even if
    /// redis-drill does not live to undo it; `unstall`: CLIENT UNPAUSE.
    /// Through Redis: the same on every backend, and on a deployment the
    /// tool did not start.
    async fn client_pause(
        &mut self,
        kind: FaultKind,
        hold_ms: Option<u64>,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        if kind == FaultKind::Unstall {
            window.detail = "CLIENT UNPAUSE".into();
            return self.unpause_clients(&window.nodes).await;
        }
        let mode = if kind == FaultKind::Stall {
            "ALL"
        } else {
            "WRITE"
        };
        // Validated: a scheduled stall has a hold.
        let hold = hold_ms.unwrap_or(STALL_WITHOUT_HOLD_MS);
        window.detail = format!(
            "CLIENT PAUSE {hold} {mode}: not a SIGSTOP — the node keeps its cluster bus and replication, so nothing fails over; {}",
            if mode == "ALL" {
                "its clients' commands wait"
            } else {
                "its clients' writes wait, reads go on"
            }
        );
        for n in window.nodes.clone() {
            let mut c = self.node_conn(kind, window, &n).await?;
            let () = c
                .run(redis::cmd("CLIENT").arg("PAUSE").arg(hold).arg(mode))
                .await?;
            let ends = Instant::now() + Duration::from_millis(hold);
            self.in_force.stalled.insert(n, ends);
        }
        Ok(())
    }

    /// `drop_clients`: CLIENT KILL TYPE normal on every node of the window
    /// (not the connection sending it): every client connection closed at
    /// once, the tool's own watcher's too. Through Redis, on every backend.
    async fn drop_clients(&mut self, window: &mut FaultWindow) -> Result<(), FaultError> {
        let mut dropped = Vec::new();
        for n in window.nodes.clone() {
            let mut c = self.node_conn(FaultKind::DropClients, window, &n).await?;
            let count: u64 = c
                .run(
                    redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("TYPE")
                        .arg("normal")
                        .arg("SKIPME")
                        .arg("yes"),
                )
                .await?;
            dropped.push(format!("{count} on {n}"));
        }
        window.detail = format!(
            "CLIENT KILL TYPE normal: client connections closed ({}); the node keeps serving, replication and the cluster bus untouched — the clients must reconnect",
            dropped.join(", ")
        );
        Ok(())
    }

    /// `sleep`: DEBUG SLEEP for the hold on every node of the window, each
    /// sent on a connection of its own that a task holds until the reply
    /// (the command blocks its connection as it blocks the node). It ends by
    /// itself; `wake` waits for it.
    async fn debug_sleep(
        &mut self,
        hold_ms: Option<u64>,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        let hold = hold_ms.unwrap_or(STALL_WITHOUT_HOLD_MS);
        let secs = format!("{:.3}", hold as f64 / 1000.0);
        window.detail = format!(
            "DEBUG SLEEP {secs}: the node's whole event loop stops — clients, cluster bus, replication — as near a SIGSTOP as Redis goes (the kernel still accepts connections; past the node timeout the cluster fails it over)"
        );
        for n in window.nodes.clone() {
            let addr = self.node_conn_addr(FaultKind::Sleep, window, &n)?;
            let opts = cluster::ConnectOptions {
                response_timeout: Duration::from_millis(hold)
                    + cluster::ConnectOptions::default().response_timeout,
                ..cluster::ConnectOptions::default()
            };
            let mut c = cluster::conn::NodeConn::connect(&n, addr, opts).await?;
            // A server that refuses DEBUG says so at once to DEBUG HELP
            // (harmless); asleep, it would say nothing until it woke.
            if let Err(e) = c.run::<redis::Value>(redis::cmd("DEBUG").arg("HELP")).await {
                return Err(FaultError::Target {
                    fault: FaultKind::Sleep,
                    target: window.target.clone(),
                    message: format!(
                        "{n} refuses DEBUG ({e}); the server needs `enable-debug-command yes` (or `local` when redis-drill runs on its host)"
                    ),
                });
            }
            // The command blocks its connection as it blocks the node: a
            // task holds it until the reply (bounded by its response timeout).
            let mut cmd = redis::cmd("DEBUG");
            cmd.arg("SLEEP").arg(&secs);
            tokio::spawn(async move {
                if let Err(e) = c.run::<()>(&cmd).await {
                    tracing::warn!("DEBUG SLEEP: {e}");
                }
            });
            let ends = Instant::now() + Duration::from_millis(hold);
            self.in_force.stalled.insert(n, ends);
        }
        Ok(())
    }

    /// `config`: on every node of the window, CONFIG GET of each directive
    /// of `set` (kept for the undo), then one CONFIG SET of them all.
    async fn config_set(
        &mut self,
        step: &FaultStep,
        index: usize,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        let mut saved = Vec::new();
        let mut was = Vec::new();
        for n in window.nodes.clone() {
            let mut c = self.node_conn(FaultKind::Config, window, &n).await?;
            let mut old = Vec::new();
            for k in step.set.keys() {
                let pair: Vec<String> = c.run(redis::cmd("CONFIG").arg("GET").arg(k)).await?;
                let [_, v] = pair.as_slice() else {
                    return Err(FaultError::Target {
                        fault: FaultKind::Config,
                        target: window.target.clone(),
                        message: format!(
                            "{n} does not know the directive `{k}` (CONFIG GET gave nothing)"
                        ),
                    });
                };
                old.push((k.clone(), v.clone()));
            }
            let mut set = redis::cmd("CONFIG");
            set.arg("SET");
            for (k, v) in &step.set {
                set.arg(k).arg(v);
            }
            let () = c.run(&set).await?;
            was.push(format!(
                "{n}: {}",
                old.iter()
                    .map(|(k, v)| format!("{k} was {}", if v.is_empty() { "\"\"" } else { v }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            saved.push((n, old));
            // Stored node by node: a later node's failure still restores these.
            self.in_force.configs.insert(index, saved.clone());
        }
        window.detail = format!(
            "CONFIG SET {} ({}), put back by restore_config",
            step.set
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" "),
            was.join("; ")
        );
        Ok(())
    }

    /// `restore_config`: the values window `w`'s config fault found, set
    /// again on each node.
    async fn restore_config(&mut self, w: usize) -> Result<(), FaultError> {
        let Some(saved) = self.in_force.configs.get(&w).cloned() else {
            return Ok(());
        };
        for (n, old) in &saved {
            let window = self.windows[w].clone();
            let mut c = self.node_conn(FaultKind::RestoreConfig, &window, n).await?;
            let mut set = redis::cmd("CONFIG");
            set.arg("SET");
            for (k, v) in old {
                set.arg(k).arg(v);
            }
            let () = c.run(&set).await?;
        }
        self.in_force.configs.remove(&w);
        Ok(())
    }

    /// `wake`: each of `nodes` answers PING again (a sleeping node answers
    /// when its sleep ends).
    async fn wake(&mut self, nodes: &[String]) -> Result<(), FaultError> {
        self.when_held_ends(nodes, redis::cmd("PING")).await
    }

    /// The address of node `n` of the window, or why there is none.
    fn node_conn_addr(
        &self,
        kind: FaultKind,
        window: &FaultWindow,
        n: &str,
    ) -> Result<std::net::SocketAddr, FaultError> {
        (self.map.nodes().iter())
            .find(|m| m.name == n)
            .map(|m| m.addr)
            .ok_or_else(|| FaultError::Target {
                fault: kind,
                target: window.target.clone(),
                message: format!("{n} is not in the address map"),
            })
    }

    /// CLIENT UNPAUSE on each of `nodes`. Under `CLIENT PAUSE ALL` Redis
    /// holds the UNPAUSE itself until the pause ends, so each is given until
    /// its pause's own end to answer.
    async fn unpause_clients(&mut self, nodes: &[String]) -> Result<(), FaultError> {
        let mut unpause = redis::cmd("CLIENT");
        unpause.arg("UNPAUSE");
        self.when_held_ends(nodes, unpause).await
    }

    /// `cmd` on each of `nodes` that is held (CLIENT PAUSE, DEBUG SLEEP),
    /// each given until its hold's own end to answer (a held node answers
    /// when the hold ends); the node is no longer held after.
    async fn when_held_ends(
        &mut self,
        nodes: &[String],
        cmd: redis::Cmd,
    ) -> Result<(), FaultError> {
        for n in nodes {
            let Some(addr) = (self.map.nodes().iter())
                .find(|m| &m.name == n)
                .map(|m| m.addr)
            else {
                continue;
            };
            let left = (self.in_force.stalled.get(n)).map_or(Duration::ZERO, |end| {
                end.saturating_duration_since(Instant::now())
            });
            let opts = cluster::ConnectOptions {
                response_timeout: left + cluster::ConnectOptions::default().response_timeout,
                ..cluster::ConnectOptions::default()
            };
            let mut c = cluster::conn::NodeConn::connect(n, addr, opts).await?;
            // `()` takes OK and PONG alike; an error reply stays an error.
            let () = c.run(&cmd).await?;
            self.in_force.stalled.remove(n);
        }
        Ok(())
    }

    /// A connection to node `n` of the window, or why there is none.
    async fn node_conn(
        &self,
        kind: FaultKind,
        window: &FaultWindow,
        n: &str,
    ) -> Result<cluster::conn::NodeConn, FaultError> {
        let addr = self.node_conn_addr(kind, window, n)?;
        Ok(cluster::conn::NodeConn::connect(n, addr, cluster::ConnectOptions::default()).await?)
    }

    /// `flush`: FLUSHALL SYNC on every node of the window.
    async fn flush(
        &mut self,
        step: &FaultStep,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        window.detail = "FLUSHALL".into();
        for n in &window.nodes {
            let mut c = self.node_conn(step.fault, window, n).await?;
            // SYNC: the keys are gone when the fault says it applied.
            let () = c.run(redis::cmd("FLUSHALL").arg("SYNC")).await?;
        }
        Ok(())
    }

    /// Undo the fault of window `w` (start what it killed, resume what it
    /// paused, lift its grudge).
    pub async fn undo(&mut self, w: usize) -> Result<(), FaultError> {
        let Some(undo) = self.windows[w].undo else {
            return Ok(());
        };
        if self.windows[w].undone_ns.is_some() {
            return Ok(());
        }
        self.windows[w].undo_start_ns = Some(self.clock.now_ns());
        let nodes = self.windows[w].nodes.clone();
        if let Some(lock) = self.holder_pauses.get(&w).copied() {
            self.resume_holder(w, lock);
            return Ok(());
        }
        match undo {
            FaultKind::Heal if self.windows[w].fault == FaultKind::Slow => {
                self.in_force.slows.remove(&w);
                self.apply_links().await?;
            }
            FaultKind::Heal if hooked::command(&self.d, FaultKind::Heal).is_some() => {
                if let Some(g) = self.in_force.grudges.remove(&w) {
                    let targets = hooked::partition_targets(&self.d, &g);
                    let runs =
                        hooked::run_for(&self.d, &self.clock, FaultKind::Heal, &targets).await;
                    self.windows[w].hooks.extend(runs);
                }
            }
            FaultKind::Heal => {
                self.in_force.grudges.remove(&w);
                self.apply_grudges().await?;
            }
            FaultKind::Unstall => self.unpause_clients(&nodes).await?,
            FaultKind::Wake => self.wake(&nodes).await?,
            FaultKind::RestoreConfig => self.restore_config(w).await?,
            kind if hooked::command(&self.d, kind).is_some() => {
                let targets = hooked::nodes_only(&nodes);
                let runs = hooked::run_for(&self.d, &self.clock, kind, &targets).await;
                let ok = hooked::failure(&runs).is_none();
                self.windows[w].hooks.extend(runs);
                if ok {
                    self.record_in_force(kind, &nodes);
                }
            }
            kind => self.act(kind, &nodes).await?,
        }
        self.windows[w].undone_ns = Some(self.clock.now_ns());
        tracing::info!(fault = %self.windows[w].fault, %undo, nodes = ?nodes, "fault undone");
        Ok(())
    }

    /// Undo everything still in force: resume paused nodes, start killed and
    /// stopped ones, lift every partition. Tries everything and returns what
    /// failed, so that one failure does not leave the rest in force.
    pub async fn heal_all(&mut self) -> Vec<FaultError> {
        let mut errors = Vec::new();
        let open: Vec<usize> = (0..self.windows.len())
            .filter(|&w| self.windows[w].undo.is_some() && self.windows[w].undone_ns.is_none())
            .collect();
        // Resume first: a paused node can be neither started nor partitioned.
        let mut order = open.clone();
        order.sort_by_key(|&w| self.windows[w].fault != FaultKind::Pause);
        for w in order {
            if let Err(e) = self.undo(w).await {
                errors.push(e);
            }
        }
        // Nodes still stalled (a failed undo): CLIENT UNPAUSE.
        let stalled: Vec<String> = std::mem::take(&mut self.in_force.stalled)
            .into_keys()
            .collect();
        if let Err(e) = self.unpause_clients(&stalled).await {
            errors.push(e);
        }
        // Anything left (a failed undo, a `kill` without a hold): paused
        // nodes resumed first, then stopped ones started.
        use crate::runtime::NodeAction;
        let left = [
            (
                std::mem::take(&mut self.in_force.paused),
                NodeAction::Resume,
            ),
            (std::mem::take(&mut self.in_force.down), NodeAction::Start),
        ];
        for (nodes, action) in left {
            for n in nodes {
                if let Some(runs) = self.leftover_hook(&n, action).await {
                    errors.extend(hooked::failure(&runs).map(FaultError::Hook));
                } else if let Err(e) = self.rt.node_action(&self.d, &n, action).await {
                    errors.push(e.into());
                }
            }
        }
        if !self.in_force.grudges.is_empty() && hooked::command(&self.d, FaultKind::Heal).is_some()
        {
            let runs = self.heal_hooked().await;
            errors.extend(hooked::failure(&runs).map(FaultError::Hook));
            if let Some(last) = self.windows.last_mut() {
                last.hooks.extend(runs);
            }
        }
        if !self.in_force.grudges.is_empty()
            || self
                .windows
                .iter()
                .any(|w| w.fault == FaultKind::Partition && w.skipped.is_none())
        {
            self.in_force.grudges.clear();
            if let Err(e) = self.rt.heal(&self.d).await {
                errors.push(e.into());
            }
        }
        errors
    }

    /// The heal hook for every partition in force, which it lifts.
    /// With none in force here (a `heal` from the command line, after a
    /// `partition` of another invocation), every node is healed from every
    /// other: the hooks keep no state between invocations.
    async fn heal_hooked(&mut self) -> Vec<HookRun> {
        let grudges = std::mem::take(&mut self.in_force.grudges);
        let mut runs = Vec::new();
        // Each node alone: every node cut from every other, all lifted.
        let alone: Vec<Vec<String>> = self.d.nodes.iter().map(|n| vec![n.name.clone()]).collect();
        let everyone = [Grudge::from_components(&alone)];
        let lifted: &[Grudge] = if grudges.is_empty() {
            &everyone
        } else {
            &grudges.into_values().collect::<Vec<_>>()
        };
        for g in lifted {
            let targets = hooked::partition_targets(&self.d, g);
            runs.extend(hooked::run_for(&self.d, &self.clock, FaultKind::Heal, &targets).await);
        }
        runs
    }

    /// At the end, the hook that gives back a node still down or paused
    /// (its runs kept on the last window that hit it); `None` where the
    /// deployment has no hook for it and the runtime acts.
    async fn leftover_hook(
        &mut self,
        node: &str,
        action: crate::runtime::NodeAction,
    ) -> Option<Vec<HookRun>> {
        use crate::runtime::NodeAction;
        let kind = match action {
            NodeAction::Resume => FaultKind::Resume,
            _ => FaultKind::Start,
        };
        hooked::command(&self.d, kind)?;
        let runs = hooked::run_for(
            &self.d,
            &self.clock,
            kind,
            &hooked::nodes_only(&[node.to_string()]),
        )
        .await;
        if let Some(w) = self
            .windows
            .iter_mut()
            .rev()
            .find(|w| w.nodes.iter().any(|n| n == node))
        {
            w.hooks.extend(runs.clone());
        }
        Some(runs)
    }

    /// `pause lock_holder:<lock>`: freeze the lock workload's worker that
    /// holds the lock (or the next one granted it) until the undo.
    fn pause_holder(&mut self, step: &FaultStep, lock: u32) -> Result<usize, FaultError> {
        let target = format!("lock_holder:{lock}");
        let unknown = |message: String| FaultError::UnknownTarget {
            fault: step.fault,
            target: target.clone(),
            message,
        };
        let clients = self.clients.as_ref().ok_or_else(|| {
            unknown("names a lock holder, and no lock workload runs here (a drill's `locks:` starts one)".into())
        })?;
        let start_ns = self.clock.now_ns();
        let holder = clients.pause_holder(lock).map_err(unknown)?;
        let detail = match &holder {
            Some(w) => format!("{w} frozen before its next write"),
            None => "nobody held it: its next holder frozen before its write".into(),
        };
        let index = self.windows.len();
        self.windows.push(FaultWindow {
            fault: step.fault,
            target,
            nodes: holder.into_iter().collect(),
            primaries: Vec::new(),
            detail,
            shape: None,
            primary_cut_from_sentinels: false,
            start_ns,
            applied_ns: self.clock.now_ns(),
            undo: step.hold_ms.and(step.fault.healed_by()),
            undo_start_ns: None,
            undone_ns: None,
            promoted_ms: None,
            mistimed: None,
            skipped: None,
            slot_owners: Vec::new(),
            hooks: Vec::new(),
        });
        self.holder_pauses.insert(index, lock);
        tracing::info!(lock, "lock holder paused");
        Ok(index)
    }

    /// Undo window `w`, a lock holder's pause: every worker it froze goes on.
    fn resume_holder(&mut self, w: usize, lock: u32) {
        if let Some(clients) = &self.clients {
            let resumed = clients.resume_holder(lock);
            let window = &mut self.windows[w];
            for r in resumed {
                if !window.nodes.contains(&r) {
                    window.nodes.push(r);
                }
            }
        }
        self.windows[w].undone_ns = Some(self.clock.now_ns());
        tracing::info!(lock, "lock holder resumed");
    }

    /// A node fault on every node of `nodes` at once (so that `primaries` fail
    /// together), and what it leaves in force.
    async fn act(&mut self, kind: FaultKind, nodes: &[String]) -> Result<(), FaultError> {
        let action = kind
            .node_action()
            .expect("only node faults are acted on nodes");
        let results = futures::future::join_all(
            nodes
                .iter()
                .map(|n| self.rt.node_action(&self.d, n, action)),
        )
        .await;
        for r in results {
            r?;
        }
        self.record_in_force(kind, nodes);
        Ok(())
    }

    /// A node fault on the window's nodes: through the user's hooks on an
    /// attached deployment that has one for it, else through the runtime.
    /// A hook that fails leaves the window skipped (the verdict is then
    /// `unknown`), and the undo's hooks run at once for whatever it did.
    async fn act_on(
        &mut self,
        kind: FaultKind,
        window: &mut FaultWindow,
    ) -> Result<(), FaultError> {
        if hooked::command(&self.d, kind).is_none() {
            return self.act(kind, &window.nodes.clone()).await;
        }
        let targets = hooked::nodes_only(&window.nodes);
        let runs = hooked::run_for(&self.d, &self.clock, kind, &targets).await;
        window.hooks.extend(runs);
        if let Some(why) = hooked::failure(&window.hooks) {
            if let Some(undo) = kind.healed_by() {
                let runs = hooked::run_for(&self.d, &self.clock, undo, &targets).await;
                window.hooks.extend(runs);
            }
            window.skipped = Some(why);
            return Ok(());
        }
        self.record_in_force(kind, &window.nodes);
        Ok(())
    }

    /// What a node fault that was carried out leaves in force.
    fn record_in_force(&mut self, kind: FaultKind, nodes: &[String]) {
        for n in nodes {
            match kind {
                FaultKind::Kill | FaultKind::Stop => {
                    self.in_force.down.insert(n.clone());
                }
                FaultKind::Start | FaultKind::Restart => {
                    self.in_force.down.remove(n);
                }
                FaultKind::Pause => {
                    self.in_force.paused.insert(n.clone());
                }
                FaultKind::Resume => {
                    self.in_force.paused.remove(n);
                }
                _ => {}
            }
        }
    }

    /// Make the drops in force exactly the union of the partitions in force.
    /// Give the relays the declared links with every slow fault in force
    /// applied over them, in the order they were applied.
    async fn apply_links(&self) -> Result<(), FaultError> {
        let mut links = self.d.topology.links.clone();
        for change in self.in_force.slows.values() {
            for l in links.iter_mut().filter(|l| match &change.between {
                Some([a, b]) => l.joins(a, b),
                None => true,
            }) {
                l.delay_ms = change.delay_ms;
                l.jitter_ms = change.jitter_ms;
            }
        }
        self.rt
            .set_links(&self.d, &links)
            .await
            .map_err(FaultError::Runtime)?;
        tracing::debug!(links = ?links.iter().map(|l| (l.label(), l.delay_ms)).collect::<Vec<_>>(), "links set");
        Ok(())
    }

    async fn apply_grudges(&self) -> Result<(), NetError> {
        let union = self
            .in_force
            .grudges
            .values()
            .fold(Grudge::default(), |acc, g| acc.union(g));
        let applied = if union.is_empty() {
            self.rt.heal(&self.d).await?
        } else {
            self.rt.partition(&self.d, &union).await?
        };
        tracing::debug!(
            nodes = applied.nodes,
            rules = applied.rules,
            elapsed = ?applied.elapsed,
            spread = ?applied.spread,
            "drop rules written"
        );
        Ok(())
    }
}

/// The nodes `t` (the step's target or peer) names now, drawn from `rng`
/// where it picks; none without a target.
fn resolve_target(
    snap: &ClusterSnapshot,
    step: &FaultStep,
    t: &Option<Target>,
    sentinels: &[String],
    rng: &mut StdRng,
) -> Result<Vec<String>, FaultError> {
    match t {
        None => Ok(Vec::new()),
        // A Sentinel, by name: the runtime acts on it as on a node.
        Some(Target::Node(n)) if sentinels.contains(n) => Ok(vec![n.clone()]),
        Some(t) => snap.resolve(t, rng).map_err(|message| FaultError::Target {
            fault: step.fault,
            target: t.to_string(),
            message,
        }),
    }
}

/// The grudge of a partition shape; node order shuffled from the seed, so
/// that `halves` splits differently per seed but the same for one seed.
pub(crate) fn grudge_for(
    shape: Shape,
    nodes: &[String],
    peer: &[String],
    snap: &ClusterSnapshot,
    lone_sentinels: &[(String, String)],
    sentinels: &[String],
    rng: &mut StdRng,
) -> Grudge {
    // Sentinels on machines of their own are parties too; one beside a
    // node goes where its node goes (`runtime::drops`).
    let mut all = snap.names();
    all.extend(lone_sentinels.iter().map(|(name, _)| name.clone()));
    all.shuffle(rng);
    match shape {
        // The target's nodes together against the rest: one node, a
        // region, the replicas — a minority cut off as a group.
        Shape::Isolate => net::grudge::majority_minority(nodes, &all),
        Shape::Halves => net::grudge::halves(&all),
        Shape::Bridge => net::grudge::bridge(&all),
        Shape::MajoritiesRing => net::grudge::majorities_ring(&all),
        Shape::Primaries => {
            let primaries: Vec<String> = snap
                .nodes
                .iter()
                .filter(|n| n.role == Some(Role::Primary) && !n.slots.is_empty())
                .map(|n| n.name.clone())
                .collect();
            net::grudge::primaries(&primaries, &all)
        }
        Shape::OneWay => nodes.iter().fold(Grudge::default(), |g, from| {
            peer.iter()
                .fold(g, |g, to| g.union(&net::grudge::one_way(from, to)))
        }),
        // The drill's clients against the target's nodes.
        Shape::Clients => net::grudge::clients(nodes),
        Shape::Regions => {
            let regions: BTreeMap<String, String> = (snap.nodes.iter())
                .map(|n| (n.name.clone(), n.region.clone()))
                .chain(lone_sentinels.iter().cloned())
                .collect();
            net::grudge::regions(&regions)
        }
        Shape::Sentinels => net::grudge::sentinels(sentinels),
    }
}

/// Whether `grudge` leaves the primary of `snap` apart from enough of
/// `sentinels` to fail it over: at least their quorum, and a majority of
/// them, unable to reach it (a Sentinel beside a node is on its side).
pub(crate) fn primary_cut_from_sentinels(
    sentinels: Option<&crate::topology::Sentinels>,
    snap: &ClusterSnapshot,
    grudge: &Grudge,
) -> bool {
    let Some(s) = sentinels else {
        return false;
    };
    let Some(primary) = (snap.nodes.iter())
        .find(|n| n.role == Some(Role::Primary))
        .map(|n| n.name.as_str())
    else {
        return false;
    };
    let away = (s.members.iter())
        .filter(|m| grudge.cuts(m.host.as_deref().unwrap_or(&m.name), primary))
        .count();
    let needed = (s.quorum as usize).max(s.members.len() / 2 + 1);
    away >= needed
}

/// Who served which slots in `snap`, as ranges (slots no primary that
/// answered claimed are left out).
fn slot_owners(snap: &ClusterSnapshot) -> Vec<crate::record::OwnedRange> {
    let mut owner: Vec<Option<&str>> = vec![None; usize::from(crate::slots::SLOT_COUNT)];
    for p in snap.primaries() {
        for range in &p.slots {
            for slot in range.slots() {
                owner[usize::from(slot)] = Some(p.name.as_str());
            }
        }
    }
    crate::record::status::slot_ranges(|s| owner[usize::from(s)].unwrap_or("").to_string())
        .into_iter()
        .filter(|r| !r.node.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::target::tests::six;

    /// Jepsen's shape: five nodes with a Sentinel beside each, {n1, n2} |
    /// {n3, n4, n5} by regions. Three Sentinels (a quorum of 3, a majority
    /// of 5) cannot reach n1: a failover is due. The same cut with the
    /// primary on the majority's side, or a quorum of 4, is not one.
    #[test]
    fn a_partition_asks_for_a_failover_when_a_quorum_loses_the_primary() {
        let topo = crate::topology::Topology::parse(
            "name: j\nkind: replicated\nregions: [{name: a}, {name: b}]\nreplicated: {replicas: 4}\noverrides:\n  n2: {region: a}\n  n3: {region: b}\n  n4: {region: b}\n  n5: {region: b}\nsentinel: {count: 5, quorum: 3}\n",
            None,
        )
        .unwrap();
        let node = |name: &str, role: Role, region: &str| crate::faults::target::SnapshotNode {
            name: name.into(),
            region: region.into(),
            reachable: true,
            why_unreachable: None,
            role: Some(role),
            primary: None,
            slots: Vec::new(),
            config_epoch: 0,
        };
        let snap = |primary: &str| ClusterSnapshot {
            nodes: ["n1", "n2", "n3", "n4", "n5"]
                .iter()
                .map(|&n| {
                    let role = if n == primary {
                        Role::Primary
                    } else {
                        Role::Replica
                    };
                    node(n, role, if ["n1", "n2"].contains(&n) { "a" } else { "b" })
                })
                .collect(),
        };
        let s = topo.sentinel.clone().unwrap();
        let cut = |snap: &ClusterSnapshot| {
            grudge_for(
                Shape::Regions,
                &[],
                &[],
                snap,
                &[],
                &[],
                &mut StdRng::seed_from_u64(1),
            )
        };
        let n1 = snap("n1");
        assert!(primary_cut_from_sentinels(Some(&s), &n1, &cut(&n1)));
        let n4 = snap("n4");
        assert!(!primary_cut_from_sentinels(Some(&s), &n4, &cut(&n4)));
        let four = crate::topology::Sentinels {
            quorum: 4,
            ..s.clone()
        };
        assert!(!primary_cut_from_sentinels(Some(&four), &n1, &cut(&n1)));
        assert!(!primary_cut_from_sentinels(None, &n1, &cut(&n1)));
    }

    fn g(shape: Shape, nodes: &[&str], peer: &[&str], seed: u64) -> Grudge {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        grudge_for(
            shape,
            &v(nodes),
            &v(peer),
            &six(),
            &[],
            &[],
            &mut StdRng::seed_from_u64(seed),
        )
    }

    fn drops(g: &Grudge, node: &str) -> Vec<String> {
        g.drops_from(node).map(str::to_string).collect()
    }

    /// A lock workload where worker w2 holds lock 0 and nobody lock 1.
    #[derive(Default)]
    struct Holders {
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl ClientPause for Holders {
        fn pause_holder(&self, lock: u32) -> Result<Option<String>, String> {
            self.calls.lock().unwrap().push(format!("pause {lock}"));
            match lock {
                0 => Ok(Some("w2".into())),
                1 => Ok(None),
                _ => Err(format!("no lock {lock}")),
            }
        }

        fn resume_holder(&self, lock: u32) -> Vec<String> {
            self.calls.lock().unwrap().push(format!("resume {lock}"));
            vec![if lock == 0 { "w2" } else { "w5" }.into()]
        }
    }

    /// A process runtime in `dir` and a one-node standalone deployment
    /// with no node up: enough for steps that touch no node.
    fn one_standalone(dir: &std::path::Path) -> (Runtime, Deployment) {
        let rt =
            Runtime::from(crate::runtime::process::ProcessRuntime::with_state_dir(dir).unwrap());
        let topology = crate::topology::Topology::parse(
            "name: t\nkind: standalone\nstandalone:\n  primaries: 1\n",
            None,
        )
        .unwrap();
        let d = Deployment {
            name: "t".into(),
            run_id: "r".into(),
            runtime: crate::runtime::RuntimeKind::Process,
            attached: None,
            security: Default::default(),
            credentials: None,
            sentinels: Vec::new(),
            image: String::new(),
            topology,
            nodes: Vec::new(),
        };
        (rt, d)
    }

    #[tokio::test]
    async fn a_lock_holder_is_paused_and_resumed_through_the_lock_workload() {
        let dir = tempfile::tempdir().unwrap();
        let (rt, d) = one_standalone(dir.path());
        let step = |t: &str| {
            super::super::schedule::RawFault {
                target: Some(t.into()),
                hold_ms: Some(100),
                ..super::super::schedule::RawFault::new(FaultKind::Pause)
            }
            .validate()
            .unwrap()
        };
        let cancel = CancellationToken::new();
        // Without a lock workload there is nobody to pause: bad input.
        let mut bare = Nemesis::new(&rt, &d, AddressMap::new(), Clock::start(), 1);
        let err = bare
            .apply(&step("lock_holder:0"), &cancel)
            .await
            .unwrap_err();
        assert_eq!(err.class(), Class::BadInput);
        assert!(err.to_string().contains("no lock workload"), "{err}");

        let holders = Arc::new(Holders::default());
        let mut n = Nemesis::new(&rt, &d, AddressMap::new(), Clock::start(), 1)
            .with_clients(holders.clone());
        let w0 = n.apply(&step("lock_holder:0"), &cancel).await.unwrap();
        let w1 = n.apply(&step("lock_holder:1"), &cancel).await.unwrap();
        assert_eq!(n.windows()[w0].nodes, ["w2"]);
        assert!(n.windows()[w1].nodes.is_empty());
        assert!(n.windows()[w1].detail.contains("next holder"));
        assert!(n.apply(&step("lock_holder:9"), &cancel).await.is_err());
        n.undo(w0).await.unwrap();
        // The rest is undone with everything else, on every exit path.
        assert!(n.heal_all().await.is_empty());
        assert_eq!(
            n.windows()[w1].nodes,
            ["w5"],
            "who froze is known at the resume"
        );
        assert!(n.windows().iter().all(|w| w.undone_ns.is_some()));
        assert_eq!(
            *holders.calls.lock().unwrap(),
            ["pause 0", "pause 1", "pause 9", "resume 0", "resume 1"]
        );
    }

    #[tokio::test]
    async fn a_partition_that_cannot_be_applied_here_is_recorded_as_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (rt, d) = one_standalone(dir.path());
        let step = |fault: FaultKind, shape: Option<&str>, hold: Option<u64>| {
            super::super::schedule::RawFault {
                shape: shape.map(str::to_string),
                hold_ms: hold,
                ..super::super::schedule::RawFault::new(fault)
            }
            .validate()
            .unwrap()
        };
        let cancel = CancellationToken::new();
        let mut n = Nemesis::new(&rt, &d, AddressMap::new(), Clock::start(), 1)
            .without_partitions("it needs root");
        let cut = n
            .apply(
                &step(FaultKind::Partition, Some("halves"), Some(100)),
                &cancel,
            )
            .await
            .unwrap();
        let heal = n
            .apply(&step(FaultKind::Heal, None, None), &cancel)
            .await
            .unwrap();
        for w in [cut, heal] {
            assert_eq!(n.windows()[w].skipped.as_deref(), Some("it needs root"));
            // Nothing in force, nothing to undo.
            assert_eq!(n.windows()[w].undo, None);
        }
        n.undo(cut).await.unwrap();
        assert!(n.heal_all().await.is_empty());
        assert!(n.windows()[cut].undone_ns.is_none());
    }

    #[test]
    fn shapes_cut_the_snapshot_as_asked() {
        let one = g(Shape::Isolate, &["s1n1"], &[], 1);
        assert_eq!(drops(&one, "s1n1").len(), 5);
        assert_eq!(drops(&one, "s2n1"), ["s1n1"]);
        // A group is cut off together: the replicas still hear each other.
        let group = g(Shape::Isolate, &["s1n2", "s2n2", "s3n2"], &[], 1);
        assert_eq!(drops(&group, "s1n2"), ["s1n1", "s2n1", "s3n1"]);
        assert_eq!(drops(&group, "s1n1"), ["s1n2", "s2n2", "s3n2"]);
        // Each primary alone, the replicas together.
        let p = g(Shape::Primaries, &[], &[], 1);
        assert_eq!(drops(&p, "s1n1").len(), 5);
        assert_eq!(drops(&p, "s1n2"), ["s1n1", "s2n1", "s3n1"]);
        // One way: only the peer drops, and only the target's packets.
        let ow = g(Shape::OneWay, &["s1n1"], &["s2n1"], 1);
        assert_eq!(drops(&ow, "s2n1"), ["s1n1"]);
        assert!(drops(&ow, "s1n1").is_empty());
        // Regions come from the snapshot (west: *n1, east: *n2).
        let r = g(Shape::Regions, &[], &[], 1);
        assert_eq!(drops(&r, "s1n1"), ["s1n2", "s2n2", "s3n2"]);
        // The halves split by the seed, the same for the same seed.
        assert_eq!(g(Shape::Halves, &[], &[], 5), g(Shape::Halves, &[], &[], 5));
        let splits: std::collections::BTreeSet<Vec<String>> = (0..20)
            .map(|seed| drops(&g(Shape::Halves, &[], &[], seed), "s1n1"))
            .collect();
        assert!(splits.len() > 1, "every seed split the same way");
    }
}
