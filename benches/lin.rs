//! `cargo bench --bench lin -- [--porcupine DIR] [--runs N] [--only TEXT]
//! [--budget STEPS]`: our linearizability checker
//! ([`redis_drill::checker::linearizable`]) against its peer, Porcupine,
//! on Porcupine's own test histories, on the same machine in one run.
//!
//! Porcupine's source (a git directory, bare or not, or a plain source
//! tree; default the fetched mirror below, or `PORCUPINE_SRC`) is exported
//! to a temporary directory with its `test_data/`. A small Go driver,
//! `benches/lin/driver.go` (ours, not Porcupine's code), is built there
//! against it with Debian's Go, offline, and times `porcupine.CheckEvents`
//! on every history. Then each history is read again here, in Rust, into
//! [`LinOp`]s and checked per key with the same rules:
//!
//! - `jepsen/etcd_NNN.log`: one etcd register (read, write, compare-and-set)
//!   under Jepsen, starting nil. An op that timed out (`:info`, or never
//!   answered) may have happened: no return. A read that timed out is
//!   left out (it constrains nothing; Porcupine's tests keep it with an
//!   answer that matches any state). Empty files (etcd_095: the cluster
//!   did not start) are skipped, as Porcupine's tests skip them.
//! - `kv/*.txt`: a key/value store (get, put, append), every key starting
//!   empty; a history is linearizable iff each key's is. Porcupine
//!   partitions it by key too, and checks the keys in parallel goroutines,
//!   stopping at the first that is not; ours, [`linearizable::decide_keys`],
//!   takes turns between the keys (on both cores after the first round)
//!   and stops the same way.
//!
//! Both sides time only the check, best of `--runs` (default 5): Porcupine's
//! `CheckEvents` with its partitioning; our grouping by key and
//! [`linearizable::decide_keys`] — the verdict alone, what `CheckEvents`
//! returns. A second figure adds what Porcupine does not give: the
//! violating key's minimal witness ([`linearizable::check_key`]; a one-key
//! history goes to it directly). Our budget is unlimited by default, as
//! Porcupine's is.
//!
//! Markdown to stdout (one row per history, then totals), progress to
//! stderr, every row as JSON to `target/bench-lin.json`. Exit status 1 if
//! any verdict differs between the two (or either side is unknown), 2 if
//! Porcupine's source or Go is missing.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only prints
//! how to run it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use redis_drill::checker::linearizable::{self, Action, KeyVerdict, KeysVerdict, LinOp};
use serde::Serialize;

/// Where `fetch github:anishathalye/porcupine` leaves the source on the
/// project's machines.
const DEFAULT_PORCUPINE: &str = "/work/.mirror/anishathalye+porcupine/repo";
/// The driver, exported beside Porcupine and built against it.
const DRIVER_GO: &str = include_str!("lin/driver.go");
/// Its module: Porcupine by a `replace` to the exported copy, so that Go
/// resolves it without the network.
const DRIVER_MOD: &str = "module redis-drill/lin-driver\n\ngo 1.16\n\n\
require github.com/anishathalye/porcupine v0.0.0\n\n\
replace github.com/anishathalye/porcupine => ../porcupine\n";
/// Exit status when Porcupine's source or Go is missing: nothing was
/// measured (1 is a verdict mismatch).
const EXIT_SETUP: u8 = 2;

struct Opts {
    porcupine: PathBuf,
    runs: u32,
    only: Vec<String>,
    budget: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "bench `lin` builds Porcupine with Go and times both checkers; it only runs under `cargo bench --bench lin -- [--porcupine DIR] [--runs N] [--only TEXT] [--budget STEPS]` (skipped)"
        );
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_opts(args: &[String]) -> Result<Opts> {
    let mut opts = Opts {
        porcupine: std::env::var_os("PORCUPINE_SRC")
            .map(PathBuf::from)
            .unwrap_or_else(|| DEFAULT_PORCUPINE.into()),
        runs: 5,
        only: Vec::new(),
        // Porcupine's CheckEvents has no limit either.
        budget: u64::MAX,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--porcupine" => opts.porcupine = value()?.into(),
            "--runs" => opts.runs = value()?.parse().context("--runs")?,
            "--only" => opts.only.push(value()?.clone()),
            "--budget" => opts.budget = value()?.parse().context("--budget")?,
            other => bail!("unknown argument {other}"),
        }
    }
    ensure!(opts.runs >= 1, "--runs must be at least 1");
    Ok(opts)
}

fn run(args: &[String]) -> Result<ExitCode> {
    let opts = parse_opts(args)?;
    if !opts.porcupine.exists() {
        eprintln!(
            "error: Porcupine's source is not at {}.\n\
             Get it (any clone works, bare or not), then point the bench at it:\n  \
             git clone https://github.com/anishathalye/porcupine /some/dir\n  \
             just bench-lin --porcupine /some/dir   (or PORCUPINE_SRC=/some/dir)",
            opts.porcupine.display()
        );
        return Ok(ExitCode::from(EXIT_SETUP));
    }
    let Some(go_version) = go_version() else {
        eprintln!(
            "error: `go` is not on PATH; install Debian's Go: apt-get install -y golang-go \
             (`just bench-lin` does it)"
        );
        return Ok(ExitCode::from(EXIT_SETUP));
    };
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let src = tmp.path().join("porcupine");
    let commit = export(&opts.porcupine, &src)?;
    let data = src.join("test_data");
    let files = histories(&data, &opts.only)?;
    ensure!(
        !files.is_empty(),
        "no history in {} matches",
        data.display()
    );
    eprintln!(
        "porcupine {commit} ({}), {go_version}; {} histories, best of {} runs each",
        opts.porcupine.display(),
        files.len(),
        opts.runs
    );
    let driver = build_driver(tmp.path())?;

    let theirs = run_porcupine(&driver, &data, opts.runs, &files)?;
    let mut rows = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let h = read_history(&data.join(file), file.starts_with("kv/"))?;
        let verdict = time_ours(&h, opts.runs, opts.budget, false);
        let witnessed = time_ours(&h, opts.runs, opts.budget, true);
        let (p_verdict, p_ms, p_ops) = theirs
            .get(file)
            .cloned()
            .with_context(|| format!("the driver gave no result for {file}"))?;
        ensure!(
            p_ops == h.calls,
            "{file}: the driver read {p_ops} ops, we read {}",
            h.calls
        );
        let row = Row {
            history: file.clone(),
            ops: h.calls,
            ours: verdict.0.to_string(),
            porcupine: p_verdict,
            ours_ms: verdict.1,
            witness_ms: witnessed.1,
            porcupine_ms: p_ms,
        };
        eprintln!(
            "[{}/{}] {file}: ours {} {:.3} ms ({:.3} ms with witness), Porcupine {} {:.3} ms",
            i + 1,
            files.len(),
            row.ours,
            row.ours_ms,
            row.witness_ms,
            row.porcupine,
            row.porcupine_ms
        );
        ensure!(
            verdict.0 == witnessed.0,
            "{file}: decide says {} but check_key says {}",
            verdict.0,
            witnessed.0
        );
        rows.push(row);
    }
    print_table(&rows, &commit, &go_version, opts.runs);
    let json = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-lin.json");
    let doc = serde_json::json!({
        "porcupine_commit": commit,
        "go": go_version,
        "runs": opts.runs,
        "rows": rows,
    });
    std::fs::write(&json, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("rows written to {}", json.display());
    let mismatched: Vec<&str> = (rows.iter())
        .filter(|r| r.ours != r.porcupine || r.ours == "unknown")
        .map(|r| r.history.as_str())
        .collect();
    drop(tmp);
    if !mismatched.is_empty() {
        eprintln!("verdicts differ on: {}", mismatched.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One history's line of the table.
#[derive(Serialize)]
struct Row {
    history: String,
    /// Operations called (timed-out reads included), as both sides count.
    ops: usize,
    ours: String,
    porcupine: String,
    ours_ms: f64,
    witness_ms: f64,
    porcupine_ms: f64,
}

fn go_version() -> Option<String> {
    let out = Command::new("go").arg("version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "go version go1.19.8 linux/amd64"
    (text.split_whitespace().nth(2)).map(str::to_string)
}

/// Copy Porcupine's source to `to`: `git archive HEAD` from a git
/// directory, else the tree as it is. Its commit, or why there is none.
fn export(from: &Path, to: &Path) -> Result<String> {
    let rev = Command::new("git")
        .arg("-C")
        .arg(from)
        .args(["rev-parse", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|r| r.status.success());
    if let Some(rev) = rev {
        let mut git = Command::new("git")
            .arg("-C")
            .arg(from)
            .args(["archive", "--format=tar", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()
            .context("running git archive")?;
        let stdout = git.stdout.take().expect("piped");
        std::fs::create_dir_all(to)?;
        let mut archive = tar::Archive::new(stdout);
        archive
            .unpack(to)
            .with_context(|| format!("unpacking {} into {}", from.display(), to.display()))?;
        // The archive ends before git's last padding: read it, or git dies
        // of a broken pipe.
        std::io::copy(&mut archive.into_inner(), &mut std::io::sink())?;
        ensure!(
            git.wait()?.success(),
            "git archive HEAD in {} failed",
            from.display()
        );
        return Ok(String::from_utf8_lossy(&rev.stdout).trim().to_string());
    }
    ensure!(
        from.join("go.mod").is_file() && from.join("test_data").is_dir(),
        "{} is neither a git directory nor Porcupine's source tree (go.mod, test_data/)",
        from.display()
    );
    copy_tree(from, to)?;
    Ok("unknown (not a git directory)".into())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            if entry.file_name() != ".git" {
                copy_tree(&src, &dst)?;
            }
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// The histories to check, relative to `test_data/`, in name order: every
/// non-empty `jepsen/*.log` and `kv/*.txt` whose name contains one of
/// `only` (all when empty).
fn histories(data: &Path, only: &[String]) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for (dir, ext) in [("jepsen", "log"), ("kv", "txt")] {
        let entries = std::fs::read_dir(data.join(dir))
            .with_context(|| format!("reading {}", data.join(dir).display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == ext) && path.metadata()?.len() > 0 {
                let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
                if only.is_empty() || only.iter().any(|o| name.contains(o.as_str())) {
                    files.push(name);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Build the Go driver beside the exported source, without the network.
fn build_driver(tmp: &Path) -> Result<PathBuf> {
    let dir = tmp.join("driver");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("driver.go"), DRIVER_GO)?;
    std::fs::write(dir.join("go.mod"), DRIVER_MOD)?;
    let bin = dir.join("driver");
    eprintln!("building the Go driver against Porcupine");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&dir)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .output()
        .context("running go build")?;
    ensure!(
        out.status.success(),
        "go build of the driver failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(bin)
}

/// Porcupine's verdict, best time (ms) and op count per history.
fn run_porcupine(
    driver: &Path,
    data: &Path,
    runs: u32,
    files: &[String],
) -> Result<HashMap<String, (String, f64, usize)>> {
    let mut child = Command::new(driver)
        .arg(data)
        .arg(runs.to_string())
        .args(files)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Go driver")?;
    let mut out = HashMap::new();
    let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(&line?).context("the driver's output")?;
        let Some(file) = v["file"].as_str() else {
            continue;
        };
        let verdict = v["verdict"].as_str().unwrap_or("?").to_string();
        let ms = v["ms"]
            .as_f64()
            .ok_or_else(|| anyhow!("no ms for {file}"))?;
        let ops = v["ops"].as_u64().unwrap_or(0) as usize;
        eprintln!(
            "[{}/{}] {file}: Porcupine {verdict} {ms:.3} ms",
            out.len() + 1,
            files.len()
        );
        out.insert(file.to_string(), (verdict, ms, ops));
    }
    ensure!(child.wait()?.success(), "the Go driver failed");
    Ok(out)
}

/// A history read into our ops: per op its key (one key for the etcd
/// register), in the order they were called.
struct History {
    initial: Option<String>,
    ops: Vec<(String, LinOp)>,
    /// Ops called, timed-out reads included.
    calls: usize,
}

/// An op called and not yet returned; a read's answer and a
/// compare-and-set's outcome are filled in when it returns.
struct Open {
    key: String,
    call: u64,
    action: Action,
}

fn read_history(path: &Path, kv: bool) -> Result<History> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut ops = Vec::new();
    let mut calls = 0;
    for (t, line) in text.lines().enumerate() {
        let t = t as u64;
        let Some(event) = (if kv { kv_event(line) } else { etcd_event(line) }) else {
            continue;
        };
        match event {
            Event::Call { proc, key, action } => {
                calls += 1;
                open.insert(
                    proc,
                    Open {
                        key,
                        call: t,
                        action,
                    },
                );
            }
            Event::Return { proc, answer } => {
                let Some(o) = open.remove(&proc) else {
                    continue;
                };
                let action = match (o.action, answer) {
                    (_, Answer::Unknown) => continue, // a read that timed out
                    (Action::Read(_), Answer::Read(v)) => Action::Read(v),
                    (Action::Cas { expect, new, .. }, Answer::Cas(ok)) => Action::Cas {
                        expect,
                        new,
                        ok: Some(ok),
                    },
                    (a, _) => a,
                };
                ops.push((
                    o.key,
                    LinOp {
                        call: o.call,
                        ret: Some(t),
                        action,
                    },
                ));
            }
        }
    }
    // Still open at the end: timed out, may have happened. A read's answer
    // is unknown, so it says nothing.
    let mut pending: Vec<Open> = open.into_values().collect();
    pending.sort_by_key(|o| o.call);
    for o in pending {
        if !matches!(o.action, Action::Read(_)) {
            ops.push((
                o.key,
                LinOp {
                    call: o.call,
                    ret: None,
                    action: o.action,
                },
            ));
        }
    }
    ops.sort_by_key(|(_, o)| o.call);
    Ok(History {
        initial: kv.then(String::new),
        ops,
        calls,
    })
}

enum Event {
    Call {
        proc: u64,
        key: String,
        action: Action,
    },
    Return {
        proc: u64,
        answer: Answer,
    },
}

enum Answer {
    /// A write's or an append's acknowledgement.
    Done,
    Read(Option<String>),
    Cas(bool),
    /// A read that timed out.
    Unknown,
}

/// A line of Jepsen's etcd log: `INFO  jepsen.util - 3 :ok :cas [1 4]`
/// (tabs or spaces between the fields).
/// `:info` lines (timed out) are not events: the op stays open.
fn etcd_event(line: &str) -> Option<Event> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 7 || w[0] != "INFO" {
        return None;
    }
    let proc = w[3].parse().ok()?;
    let key = String::new();
    let event = match (w[4], w[5]) {
        (":invoke", ":read") => Event::Call {
            proc,
            key,
            action: Action::Read(None),
        },
        (":invoke", ":write") => Event::Call {
            proc,
            key,
            action: Action::Write(Some(w[6].into())),
        },
        (":invoke", ":cas") => Event::Call {
            proc,
            key,
            action: Action::Cas {
                expect: Some(w[6].trim_start_matches('[').into()),
                new: w.get(7)?.trim_end_matches(']').into(),
                ok: None,
            },
        },
        (":ok", ":read") => {
            let v = (w[6] != "nil").then(|| w[6].to_string());
            Event::Return {
                proc,
                answer: Answer::Read(v),
            }
        }
        (":ok", ":write") => Event::Return {
            proc,
            answer: Answer::Done,
        },
        (":ok" | ":fail", ":cas") => Event::Return {
            proc,
            answer: Answer::Cas(w[4] == ":ok"),
        },
        (":fail", ":read") => Event::Return {
            proc,
            answer: Answer::Unknown,
        },
        _ => return None,
    };
    Some(event)
}

/// A line of the key/value logs:
/// `{:process 3, :type :ok, :f :get, :key "1", :value "x 3 0 y"}`.
fn kv_event(line: &str) -> Option<Event> {
    let body = line.trim().strip_prefix("{:")?.strip_suffix('}')?;
    let fields: HashMap<&str, &str> = body
        .split(", :")
        .filter_map(|f| f.split_once(' '))
        .collect();
    let proc = fields.get("process")?.parse().ok()?;
    let quoted = |name| fields.get(name).map(|v| v.trim_matches('"').to_string());
    let key = quoted("key")?;
    let event = match (*fields.get("type")?, *fields.get("f")?) {
        (":invoke", ":get") => Event::Call {
            proc,
            key,
            action: Action::Read(None),
        },
        (":invoke", ":put") => Event::Call {
            proc,
            key,
            action: Action::Write(quoted("value")),
        },
        (":invoke", ":append") => Event::Call {
            proc,
            key,
            action: Action::Append(quoted("value")?),
        },
        (":ok", ":get") => Event::Return {
            proc,
            answer: Answer::Read(quoted("value")),
        },
        (":ok", _) => Event::Return {
            proc,
            answer: Answer::Done,
        },
        _ => return None,
    };
    Some(event)
}

/// The history's verdict and its best time over `runs`, in ms. Each run
/// moves the ops into a list per key and decides the keys together
/// ([`linearizable::decide_keys`], which stops at the first key found not
/// linearizable); `witness` adds the witness of that key
/// ([`linearizable::check_key`]; a one-key history goes to it directly).
fn time_ours(h: &History, runs: u32, budget: u64, witness: bool) -> (&'static str, f64) {
    let mut best = Duration::MAX;
    let mut verdict = "";
    for _ in 0..runs {
        // A copy to move into the keys' lists: Porcupine's partitioning
        // moves its events, it does not copy their values.
        let ops = h.ops.clone();
        let start = Instant::now();
        let mut keys: HashMap<&str, Vec<LinOp>> = HashMap::new();
        for ((k, _), (_, op)) in h.ops.iter().zip(ops) {
            keys.entry(k.as_str()).or_default().push(op);
        }
        let mut keys: Vec<(&str, Vec<LinOp>)> = keys.into_iter().collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        let initial = h.initial.as_deref();
        let each: Vec<(Option<&str>, &[LinOp])> = keys
            .iter()
            .map(|(_, ops)| (initial, ops.as_slice()))
            .collect();
        let violating = match (witness, each.as_slice()) {
            (true, [(initial, ops)]) => Some((*initial, *ops)),
            _ => match linearizable::decide_keys(&each, budget) {
                KeysVerdict::Linearizable => {
                    verdict = "linearizable";
                    None
                }
                KeysVerdict::Unknown { .. } => {
                    verdict = "unknown";
                    None
                }
                KeysVerdict::Violation { key } => {
                    verdict = "violation";
                    witness.then_some(each[key])
                }
            },
        };
        if let Some((initial, ops)) = violating {
            verdict = match linearizable::check_key(initial, ops, budget) {
                KeyVerdict::Linearizable => "linearizable",
                KeyVerdict::Violation { .. } => "violation",
                KeyVerdict::Unknown { .. } => "unknown",
            };
        }
        best = best.min(start.elapsed());
        std::hint::black_box(&keys);
    }
    (verdict, best.as_secs_f64() * 1e3)
}

fn print_table(rows: &[Row], commit: &str, go: &str, runs: u32) {
    let short = &commit[..commit.len().min(12)];
    println!(
        "Porcupine {short} (built with {go}) and redis-drill's checker on Porcupine's test histories; \
         best of {runs} runs, check only (parsing excluded)\n"
    );
    println!(
        "| history | ops | verdict ours / Porcupine's | ours ms | ours with witness ms | Porcupine ms | ours ÷ Porcupine's | with witness ÷ Porcupine's |"
    );
    println!("|---|--:|---|--:|--:|--:|--:|--:|");
    for r in rows {
        let same = if r.ours == r.porcupine {
            ""
        } else {
            " **MISMATCH**"
        };
        println!(
            "| {} | {} | {} / {}{same} | {} | {} | {} | {:.2} | {:.2} |",
            r.history,
            r.ops,
            r.ours,
            r.porcupine,
            ms(r.ours_ms),
            ms(r.witness_ms),
            ms(r.porcupine_ms),
            r.ours_ms / r.porcupine_ms,
            r.witness_ms / r.porcupine_ms,
        );
    }
    let sum = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>();
    let (ours, witness, theirs) = (
        sum(|r| r.ours_ms),
        sum(|r| r.witness_ms),
        sum(|r| r.porcupine_ms),
    );
    let same = rows.iter().filter(|r| r.ours == r.porcupine).count();
    println!(
        "| **total, {} histories** | {} | {same}/{} the same | {} | {} | {} | {:.2} | {:.2} |",
        rows.len(),
        rows.iter().map(|r| r.ops).sum::<usize>(),
        rows.len(),
        ms(ours),
        ms(witness),
        ms(theirs),
        ours / theirs,
        witness / theirs
    );
    let slower: Vec<String> = (rows.iter())
        .filter(|r| r.ours_ms > r.porcupine_ms)
        .map(|r| format!("{} ({:.2}×)", r.history, r.ours_ms / r.porcupine_ms))
        .collect();
    let slower_w: Vec<String> = (rows.iter())
        .filter(|r| r.witness_ms > r.porcupine_ms)
        .map(|r| format!("{} ({:.2}×)", r.history, r.witness_ms / r.porcupine_ms))
        .collect();
    println!();
    println!(
        "Ours slower than Porcupine on {} of {} histories{}",
        slower.len(),
        rows.len(),
        if slower.is_empty() {
            String::new()
        } else {
            format!(": {}", slower.join(", "))
        }
    );
    println!(
        "Ours with witness slower than Porcupine on {} of {} histories{}",
        slower_w.len(),
        rows.len(),
        if slower_w.is_empty() {
            String::new()
        } else {
            format!(": {}", slower_w.join(", "))
        }
    );
}

/// Milliseconds with three significant figures or so.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
