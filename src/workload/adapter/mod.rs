//! Client libraries other than redis-rs, each driven by an adapter process
//! that speaks the [`protocol`] (JSON lines on its stdin and stdout).
//!
//! [`run`] starts an adapter in a process group of its own, says hello,
//! waits for it to be ready, feeds it the ops a little ahead of their due
//! times, collects one result per op, and ends it; the process group is
//! killed on every path. What the adapter gets wrong — it crashes, hangs,
//! writes a line that is not the protocol, answers an op twice or never — is
//! not an error of the run but a [`GroupRun::problem`], naming the adapter
//! and the line: that group's figures are then `unknown`, and its ops
//! without a result are unrecorded, never lost writes.
//!
//! Shipped adapters: `adapters/python/adapter.py` (redis-py), built into
//! the binary and run with the interpreter of the virtualenv
//! `./bootstrap.sh` makes ([`python_env`]).

pub mod clock;
pub mod protocol;
pub mod worker;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use protocol::{FromAdapter, Hello, OpLine, Ready, ResultLine};

use crate::record::timeline::Clock;

/// The Python adapter's source, written next to the run when it starts.
const PYTHON_ADAPTER: &str = include_str!("../../../adapters/python/adapter.py");

/// The Node.js adapter's source (node-redis).
const NODE_ADAPTER: &str = include_str!("../../../adapters/node/adapter.js");

/// The libraries the Python adapter drives.
pub const PYTHON_LIBRARIES: [&str; 3] = ["redis-py", "valkey-py", "valkey-glide"];

/// Every library a shipped adapter drives.
pub const SHIPPED: &[&str] = &["redis-py", "valkey-py", "valkey-glide", "node-redis"];

/// Why a shipped library cannot ask Sentinels where the primary is (its
/// adapter has no Sentinel mode), or `None` when it can.
pub fn no_sentinel_client(library: &str) -> Option<&'static str> {
    match library {
        "redis-py" | "valkey-py" => None,
        "valkey-glide" => Some("valkey-glide 2.6 has no Sentinel client"),
        "node-redis" => {
            Some("node-redis 4.5 has no Sentinel client (createSentinel came with node-redis 5)")
        }
        _ => Some("its adapter has no Sentinel mode"),
    }
}

/// How an adapter is started.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The library, as the scenario names it.
    pub library: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Its environment, beside the tool's own.
    pub env: Vec<(OsString, OsString)>,
    /// Set: it runs elsewhere (a worker on another engine), started by the
    /// runtime, instead of `program` here.
    pub remote: Option<Arc<dyn Remote>>,
}

/// An adapter the runtime starts on another host: a worker container
/// whose stdin, stdout and stderr the host gets through the engine's API.
pub trait Remote: Send + Sync + std::fmt::Debug {
    /// Where it runs (the engine), for the report and errors.
    fn host(&self) -> String;
    /// The worker's true clock offset where it is known (an engine sharing
    /// this machine's clock), for checking the estimate.
    fn truth_ns(&self, epoch_monotonic_ns: u64) -> Option<i64>;
    /// Start it.
    fn start(&self) -> Result<Spawned, String>;
}

/// A started adapter's streams, and how to end it.
pub struct Spawned {
    pub stdin: Box<dyn Write + Send>,
    pub stdout: Box<dyn Read + Send>,
    pub stderr: Box<dyn Read + Send>,
    /// Let it exit by itself for up to the duration, then end it (killed,
    /// removed); how it ended, when that is known. Called again: no-op.
    pub end: Box<dyn FnMut(Duration) -> Option<String> + Send>,
}

/// Why an adapter could not be set up: the environment, before anything runs.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error(
        "client library {library}: its adapter needs {path}, which is missing (run ./bootstrap.sh --deps-only, or set REDIS_DRILL_ADAPTERS)"
    )]
    Missing { library: String, path: PathBuf },
    #[error("client library {0}: no shipped adapter drives it (shipped: {list})", list = SHIPPED.join(", "))]
    Unknown(String),
    #[error("client library {library}: {what}: {source}")]
    Io {
        library: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The folder of the adapters' environments: `$REDIS_DRILL_ADAPTERS`, else
/// `~/.local/share/redis-drill/adapters`.
pub fn adapters_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("REDIS_DRILL_ADAPTERS") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".local/share/redis-drill/adapters")
}

/// The Python virtualenv's interpreter, which holds the libraries' pinned versions.
pub fn python_env() -> PathBuf {
    adapters_dir().join("python/bin/python")
}

/// The folder holding node-redis and its dependencies (Debian's packages,
/// unpacked there by `./bootstrap.sh`): the node adapter's `NODE_PATH`.
pub fn node_modules() -> PathBuf {
    adapters_dir().join("node")
}

impl Adapter {
    /// The shipped adapter for `library`; its script is written into `dir`
    /// (the run's own folder, removed with it).
    pub fn shipped(library: &str, dir: &Path) -> Result<Adapter, AdapterError> {
        if library == "node-redis" {
            return Self::node(library, dir);
        }
        if !PYTHON_LIBRARIES.contains(&library) {
            return Err(AdapterError::Unknown(library.to_string()));
        }
        let python = python_env();
        if !python.exists() {
            return Err(AdapterError::Missing {
                library: library.to_string(),
                path: python,
            });
        }
        let script = write_script(library, dir, "adapter.py", PYTHON_ADAPTER)?;
        Ok(Adapter {
            library: library.to_string(),
            program: python,
            args: vec!["-u".into(), script.into_os_string()],
            env: Vec::new(),
            remote: None,
        })
    }

    /// The node-redis adapter: Node.js, and node-redis from the tool's own
    /// folder ([`node_modules`]).
    fn node(library: &str, dir: &Path) -> Result<Adapter, AdapterError> {
        let missing = |path: PathBuf| AdapterError::Missing {
            library: library.to_string(),
            path,
        };
        let node = which("node").ok_or_else(|| missing("node".into()))?;
        let modules = node_modules();
        let package = modules.join("redis/package.json");
        if !package.exists() {
            return Err(missing(package));
        }
        let script = write_script(library, dir, "adapter.js", NODE_ADAPTER)?;
        Ok(Adapter {
            library: library.to_string(),
            program: node,
            args: vec![script.into_os_string()],
            env: vec![("NODE_PATH".into(), modules.into_os_string())],
            remote: None,
        })
    }
}

/// Write an adapter's script, built into the binary, as `dir/name`.
fn write_script(
    library: &str,
    dir: &Path,
    name: &str,
    text: &str,
) -> Result<PathBuf, AdapterError> {
    let script = dir.join(name);
    std::fs::write(&script, text).map_err(|source| AdapterError::Io {
        library: library.to_string(),
        what: format!("write {}", script.display()),
        source,
    })?;
    Ok(script)
}

/// `program` on the PATH, if it is there.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Time bounds of one adapter's run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the hello to its `ready`.
    pub ready: Duration,
    /// Ops are written this long before they are due.
    pub lead: Duration,
    /// Every op's result within this after it was due (or after the
    /// adapter was ready, for an op overdue by then), and `done` within
    /// this after the last op was fed.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ready: Duration::from_secs(15),
            lead: Duration::from_millis(200),
            drain: Duration::from_secs(30),
        }
    }
}

/// What one adapter did.
#[derive(Debug, Clone, Default)]
pub struct GroupRun {
    pub library: String,
    /// Its `ready` line: library version and settings.
    pub ready: Option<Ready>,
    /// Every op's result, by op id (ops without one are absent).
    pub results: HashMap<u64, ResultLine>,
    /// Why this group's figures cannot be trusted (`unknown`): the adapter
    /// and, where a line is at fault, its number and text.
    pub problem: Option<String>,
    /// The last lines the adapter wrote to stderr.
    pub stderr_tail: String,
    /// Its clock against the run's (`hello.clock: own`): results are
    /// already mapped to the run's clock.
    pub clock: Option<clock::WorkerClock>,
}

impl GroupRun {
    fn fault(&mut self, why: String) {
        if self.problem.is_none() {
            self.problem = Some(format!("adapter {}: {why}", self.library));
        }
    }
}

/// Kills the adapter's process group, at the latest when dropped.
struct Reaper {
    child: Child,
    status: Option<std::process::ExitStatus>,
}

impl Reaper {
    /// Give the adapter up to `grace` to exit by itself, then kill its
    /// process group, then reap it; its exit status. The group is killed
    /// before the adapter is reaped, while its pid (the group's id) cannot
    /// have been given to another process.
    fn finish(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let pid = self.child.id() as i32;
        let until = Instant::now() + grace;
        loop {
            // SAFETY: a zeroed siginfo_t is valid; waitid with WNOWAIT only
            // looks (the child stays a zombie, its pid still ours).
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            // SAFETY: si_pid is set by waitid (0 while the child runs).
            if r != 0 || unsafe { info.si_pid() } != 0 || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: signalling the process group we created (process_group(0)).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        self.status = self.child.wait().ok();
        self.status
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.finish(Duration::ZERO);
    }
}

/// Ends a started adapter (its `Spawned::end`), at the latest when dropped.
struct Ender(Box<dyn FnMut(Duration) -> Option<String> + Send>);

impl Ender {
    fn finish(&mut self, grace: Duration) -> Option<String> {
        (self.0)(grace)
    }
}

impl Drop for Ender {
    fn drop(&mut self) {
        (self.0)(Duration::ZERO);
    }
}

enum Event {
    /// A line of its stdout: its number, its text, when it was read (run ns).
    Line(usize, String, u64),
    Eof,
}

/// How long one clock exchange may take before the estimate is given up.
const CLOCK_ANSWER: Duration = Duration::from_secs(2);

/// [`clock::EXCHANGES`] clock exchanges, one after the other; the best
/// estimate, or why there is none. Only clock answers are expected meanwhile.
fn exchange_clocks(
    stdin: &mut dyn Write,
    rx: &mpsc::Receiver<Event>,
    clock: &Clock,
) -> Result<clock::Estimate, String> {
    let mut xs = Vec::new();
    for id in 0..clock::EXCHANGES {
        let t1 = clock.now_ns();
        writeln!(stdin, "{}", protocol::clock_line(id))
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("could not be sent a clock line: {e}"))?;
        match rx.recv_timeout(CLOCK_ANSWER) {
            Ok(Event::Line(n, l, t4)) => match protocol::parse(&l) {
                Ok(FromAdapter::Clock { id: got, now_ns }) if got == id => {
                    xs.push(clock::Exchange {
                        t1_ns: t1,
                        worker_ns: now_ns,
                        t4_ns: t4,
                    });
                }
                Ok(other) => {
                    return Err(format!(
                        "stdout line {n}: expected the answer to clock line {id}, got {other:?}"
                    ));
                }
                Err(e) => return Err(format!("stdout line {n}: {e}: {}", clip(&l))),
            },
            Ok(Event::Eof) => return Err("exited during a clock exchange".into()),
            Err(_) => return Err(format!("no answer to a clock line within {CLOCK_ANSWER:?}")),
        }
    }
    clock::Estimate::best(&xs).ok_or_else(|| "no clock exchange completed".into())
}

/// How much of an adapter's stderr is kept (its end).
const STDERR_KEPT: usize = 64 * 1024;

/// How often the host looks for a hung adapter while it waits for lines.
const TICK: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Run `ops` through the adapter, pulled in due order as they come (the
/// feed ends when the iterator does); see the module's doc.
pub fn run(
    adapter: &Adapter,
    hello: &Hello,
    ops: impl Iterator<Item = OpLine> + Send + 'static,
    clock: &Clock,
    limits: Limits,
) -> Result<GroupRun, AdapterError> {
    run_with(adapter, hello, ops, clock, limits, |_| {})
}

/// [`run`], telling `on_ready` as soon as the adapter is ready (its `ready`
/// line) or cannot be (why), before the first op is pulled: a workload
/// starts its schedule only when every adapter is ready.
pub fn run_with(
    adapter: &Adapter,
    hello: &Hello,
    ops: impl Iterator<Item = OpLine> + Send + 'static,
    clock: &Clock,
    limits: Limits,
    on_ready: impl FnOnce(Result<&Ready, &str>),
) -> Result<GroupRun, AdapterError> {
    let io = |what: &str, source| AdapterError::Io {
        library: adapter.library.clone(),
        what: what.to_string(),
        source,
    };
    let spawned = match &adapter.remote {
        Some(remote) => remote.start().map_err(|e| AdapterError::Io {
            library: adapter.library.clone(),
            what: format!("start its worker on {}", remote.host()),
            source: std::io::Error::other(e),
        })?,
        None => {
            let mut cmd = Command::new(&adapter.program);
            cmd.args(&adapter.args)
                .envs(adapter.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            let mut child = cmd
                .spawn()
                .map_err(|e| io(&format!("start {}", adapter.program.display()), e))?;
            let stdin = child.stdin.take().expect("piped");
            let stdout = child.stdout.take().expect("piped");
            let stderr = child.stderr.take().expect("piped");
            let mut reaper = Reaper {
                child,
                status: None,
            };
            Spawned {
                stdin: Box::new(stdin),
                stdout: Box::new(stdout),
                stderr: Box::new(stderr),
                end: Box::new(move |grace| reaper.finish(grace).map(|s| s.to_string())),
            }
        }
    };
    let Spawned {
        mut stdin,
        stdout,
        mut stderr,
        end,
    } = spawned;
    let mut reaper = Ender(end);
    let own_clock = hello.clock.as_deref() == Some(protocol::OWN_CLOCK);
    let mut out = GroupRun {
        library: adapter.library.clone(),
        ..GroupRun::default()
    };

    let (tx, rx) = mpsc::channel::<Event>();
    let clock_r = *clock;
    let reader = std::thread::spawn(move || {
        for (i, line) in BufReader::new(stdout).lines().enumerate() {
            match line {
                Ok(l) => {
                    // When it was read: a clock answer's t4.
                    if tx.send(Event::Line(i + 1, l, clock_r.now_ns())).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(Event::Eof);
    });
    // Its stderr, of which the last STDERR_KEPT bytes are kept: a library
    // that logs every redirect writes megabytes in a drill.
    let errs = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        // Bounded by the adapter's life: EOF when it exits.
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 2 * STDERR_KEPT {
                buf.drain(..buf.len() - STDERR_KEPT);
            }
        }
        buf
    });

    let hello_sent = writeln!(stdin, "{}", protocol::hello_line(hello)).and_then(|_| stdin.flush());
    if let Err(e) = hello_sent {
        out.fault(format!("could not be sent its hello: {e}"));
    }
    // Ready, or why not.
    if out.problem.is_none() {
        match rx.recv_timeout(limits.ready) {
            Ok(Event::Line(n, l, _)) => match protocol::parse(&l) {
                Ok(FromAdapter::Ready(r)) => out.ready = Some(r),
                Ok(FromAdapter::Error(m)) => out.fault(format!("could not start: {m}")),
                Ok(other) => out.fault(format!("stdout line {n}: expected `ready`, got {other:?}")),
                Err(e) => out.fault(format!("stdout line {n}: {e}: {}", clip(&l))),
            },
            Ok(Event::Eof) => out.fault("exited before it was ready".into()),
            Err(_) => out.fault(format!("not ready within {:?}", limits.ready)),
        }
    }
    // Its clock against the run's, before the first op.
    let mut start = None;
    if own_clock && out.problem.is_none() {
        match exchange_clocks(&mut stdin, &rx, clock) {
            Ok(e) => start = Some(e),
            Err(why) => out.fault(format!("its clock could not be estimated: {why}")),
        }
    }
    let sync0 = start.map(|start| clock::ClockSync { start, end: None });
    match (&out.ready, &out.problem) {
        (Some(r), None) => on_ready(Ok(r)),
        (_, p) => on_ready(Err(p.as_deref().unwrap_or("not ready"))),
    }

    if out.problem.is_none() {
        let became_ready = Instant::now();
        // Ops go out from a thread of their own, each `lead` before its due
        // time, pulled from `ops` as they come: a drill's length is known
        // only when it ends. Each op is noted as sent (with its due time)
        // before its line is written, so its result always finds it.
        let sent: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
        let fed = Arc::new(Mutex::new(None::<Instant>));
        let lead = limits.lead;
        let clock2 = *clock;
        let (sent2, fed2) = (sent.clone(), fed.clone());
        let writer = std::thread::spawn(move || -> Result<_, std::io::Error> {
            let mut w = std::io::BufWriter::new(stdin);
            for mut op in ops {
                if let Some(at) = clock2.instant(op.due_ns).checked_sub(lead) {
                    let now = Instant::now();
                    if at > now {
                        w.flush()?;
                        std::thread::sleep(at - now);
                    }
                }
                lock(&sent2).insert(op.id, op.due_ns);
                if let Some(sync) = &sync0 {
                    // Due on the worker's clock.
                    op.due_ns = sync.to_worker(op.due_ns);
                }
                writeln!(w, "{}", protocol::op_line(&op))?;
                // Out now: the iterator may wait before it yields the next
                // one, and a line held in the buffer would reach the
                // adapter after its due time.
                w.flush()?;
            }
            *lock(&fed2) = Some(Instant::now());
            if own_clock {
                // The host estimates the clock again after the last result,
                // then ends the feed itself.
                return Ok(Some(w));
            }
            writeln!(w, "{}", protocol::end_line())?;
            w.flush()?;
            Ok(None)
        });
        let mut writer = Some(writer);
        let mut end_estimate = None;
        let mut done = false;
        while out.problem.is_none() && !done {
            if own_clock && writer.as_ref().is_some_and(|w| w.is_finished()) {
                let all_in = lock(&sent).len() == out.results.len();
                if all_in {
                    match writer.take().map(std::thread::JoinHandle::join) {
                        Some(Ok(Ok(Some(mut w)))) => {
                            match exchange_clocks(&mut w, &rx, clock) {
                                Ok(e) => end_estimate = Some(e),
                                Err(why) => out.fault(format!(
                                    "its clock could not be estimated after its last op: {why}"
                                )),
                            }
                            let ended =
                                writeln!(w, "{}", protocol::end_line()).and_then(|_| w.flush());
                            if let Err(e) = ended {
                                out.fault(format!("could not be sent the end: {e}"));
                            }
                        }
                        Some(Ok(Err(e))) => out.fault(format!("could not be sent its ops: {e}")),
                        _ => out.fault("its feed thread failed".into()),
                    }
                    continue;
                }
            }
            // Hung: every op fed and `drain` gone by since, or an op still
            // unanswered `drain` after it was due (or after the adapter was
            // ready, for ops overdue by then).
            let now = Instant::now();
            let oldest = {
                let sent = lock(&sent);
                sent.iter()
                    .filter(|(id, _)| !out.results.contains_key(id))
                    .map(|(_, due)| clock.instant(*due))
                    .min()
            };
            let fed_at = *lock(&fed);
            let by = match (oldest, fed_at) {
                (Some(due), _) => Some(due.max(became_ready) + limits.drain),
                (None, Some(f)) => Some(f + limits.drain),
                (None, None) => None,
            };
            if by.is_some_and(|b| now >= b) {
                let (total, left) = {
                    let sent = lock(&sent);
                    (sent.len(), sent.len() - out.results.len())
                };
                out.fault(format!(
                    "hung: {left} of {total} ops without a result {:?} after they were due",
                    limits.drain
                ));
                break;
            }
            match rx.recv_timeout(TICK) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    out.fault("its stdout reader stopped".into());
                }
                Ok(Event::Line(n, l, _)) => match protocol::parse(&l) {
                    Ok(FromAdapter::Result(r)) => {
                        if !lock(&sent).contains_key(&r.id) {
                            out.fault(format!(
                                "stdout line {n}: a result for op {} it was never sent",
                                r.id
                            ));
                        } else {
                            let id = r.id;
                            let again = match out.results.entry(id) {
                                std::collections::hash_map::Entry::Vacant(e) => {
                                    e.insert(r);
                                    false
                                }
                                std::collections::hash_map::Entry::Occupied(_) => true,
                            };
                            if again {
                                out.fault(format!("stdout line {n}: a second result for op {id}"));
                            }
                        }
                    }
                    Ok(FromAdapter::Done) => done = true,
                    Ok(other) => out.fault(format!("stdout line {n}: unexpected {other:?}")),
                    Err(e) => out.fault(format!("stdout line {n}: {e}: {}", clip(&l))),
                },
                Ok(Event::Eof) => {
                    let status = reaper.finish(Duration::from_secs(1));
                    let total = lock(&sent).len();
                    out.fault(format!(
                        "exited ({}) with {} of {total} ops without a result",
                        status.unwrap_or_else(|| "status unknown".to_string()),
                        total - out.results.len(),
                    ));
                }
            }
        }
        let total = lock(&sent).len();
        if done && out.results.len() < total {
            out.fault(format!(
                "said done with {} of {total} ops without a result",
                total - out.results.len(),
            ));
        }
        if out.problem.is_some() {
            // The writer may be asleep until a due time: kill the adapter
            // first, so that its next write fails at once.
            drop(reaper);
            if let Some(w) = writer {
                let _ = w.join();
            }
            let _ = reader.join();
            out.stderr_tail = tail(errs.join().unwrap_or_default());
            // What it answered before it failed is on its own clock: on the
            // run's with the estimate taken before its first op (none was
            // taken after), never left on the worker's (a hung worker's
            // results once entered the history 7 894 s off and were judged
            // lost writes). Without an estimate they cannot be placed.
            match sync0 {
                Some(sync) => map_to_run(&mut out, adapter, hello, sync, &lock(&sent)),
                None if own_clock => out.results.clear(),
                None => {}
            }
            return Ok(out);
        }
        if let Some(Ok(Err(e))) = writer.map(std::thread::JoinHandle::join) {
            out.fault(format!("could not be sent its ops: {e}"));
        }
        // Its times on the run's clock, and what the estimate is worth.
        if let Some(start) = sync0.map(|s| s.start) {
            let sync = clock::ClockSync {
                start,
                end: end_estimate,
            };
            map_to_run(&mut out, adapter, hello, sync, &lock(&sent));
        }
    }
    drop(reaper);
    let _ = reader.join();
    out.stderr_tail = tail(errs.join().unwrap_or_default());
    Ok(out)
}

/// Put every result's times on the run's clock through `sync`, and record
/// the worker's clock and what its estimate is worth (a problem of the
/// estimate is the group's, unless it has one already).
fn map_to_run(
    out: &mut GroupRun,
    adapter: &Adapter,
    hello: &Hello,
    sync: clock::ClockSync,
    due: &HashMap<u64, u64>,
) {
    // Within the estimate's uncertainty a time cannot be placed better: an
    // op mapped to before its due time by less than that was sent when it
    // was due (the worker waits for it).
    let slack = sync.uncertainty_ns().unwrap_or(0);
    for r in out.results.values_mut() {
        r.sent_ns = sync.to_run(r.sent_ns);
        if let Some(&d) = due.get(&r.id)
            && r.sent_ns < d
            && d - r.sent_ns <= slack
        {
            r.sent_ns = d;
        }
        r.end_ns = sync.to_run(r.end_ns).max(r.sent_ns);
    }
    let host = (adapter.remote.as_ref()).map_or_else(|| "this host".into(), |r| r.host());
    let truth = (adapter.remote.as_ref()).and_then(|r| r.truth_ns(hello.epoch_monotonic_ns));
    let wc = clock::WorkerClock::new(host, sync, truth);
    if let Some(p) = wc.problem() {
        out.fault(p);
    }
    out.clock = Some(wc);
}

fn clip(line: &str) -> String {
    if line.len() <= 200 {
        line.to_string()
    } else {
        let mut end = 200;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &line[..end])
    }
}

/// The last 20 lines of an adapter's stderr.
fn tail(buf: Vec<u8>) -> String {
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
