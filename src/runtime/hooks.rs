//! Hooks: the user's own commands for the faults redis-drill cannot carry
//! out itself on a deployment it did not start — `kill` as `docker kill`,
//! `kubectl delete pod`, `ssh host sudo systemctl kill` — given in a YAML
//! file (`--hooks FILE`):
//!
//! ```yaml
//! timeout_ms: 30000            # each run; a hook that takes longer is killed
//! kill: "docker kill shop_{seed}_1"
//! start: "docker start shop_{seed}_1"
//! partition: "ssh {host} sudo iptables -I INPUT -s {peers} -j DROP"
//! heal: "ssh {host} sudo iptables -D INPUT -s {peers} -j DROP"
//! ```
//!
//! A command runs under `sh -c` on this host once per node the fault hits,
//! with these placeholders filled in: `{node}` (the node's name), `{addr}`,
//! `{host}` and `{port}` (where redis-drill reaches it), `{announce}` (the
//! address it announces to its peers), `{seed}` (the user's name for it:
//! the `NAME` of its `NAME=HOST:PORT` seed, else its address), and for `partition` and `heal` `{peers}` (the announced IPs it
//! is cut from, comma-separated). Any other `{word}` is refused when the
//! file is read.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use super::deployment::DeployedNode;
use super::error::RuntimeError;
use crate::record::faults::HookRun;

/// How long a hook may run when the file does not say.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 30_000;
/// How much of a hook's output is kept: its end.
const OUTPUT_KEPT: usize = 2000;
/// The placeholders a command may use.
pub const PLACEHOLDERS: &[&str] = &["node", "seed", "addr", "host", "port", "announce", "peers"];

/// The user's commands, by the fault they carry out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<String>,
}

impl Hooks {
    /// Read and check a hooks file: known keys only, known placeholders
    /// only, a timeout above zero.
    pub fn load(path: &Path) -> Result<Hooks, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(RuntimeError::io(format!(
            "{}: cannot read the hooks file",
            path.display()
        )))?;
        Hooks::parse(&text).map_err(|e| RuntimeError::BadInput(format!("{}: {e}", path.display())))
    }

    /// [`Hooks::load`] from text.
    pub fn parse(text: &str) -> Result<Hooks, String> {
        let hooks: Hooks = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if hooks.timeout_ms == Some(0) {
            return Err("timeout_ms: must be above 0".into());
        }
        for (kind, cmd) in hooks.commands() {
            if cmd.trim().is_empty() {
                return Err(format!("{kind}: the command is empty"));
            }
            if let Some(bad) = unknown_placeholder(cmd) {
                return Err(format!(
                    "{kind}: unknown placeholder {{{bad}}} (known: {})",
                    braced(PLACEHOLDERS)
                ));
            }
        }
        Ok(hooks)
    }

    /// Every command given, with the fault it carries out.
    pub fn commands(&self) -> Vec<(&'static str, &str)> {
        [
            ("kill", &self.kill),
            ("stop", &self.stop),
            ("start", &self.start),
            ("restart", &self.restart),
            ("pause", &self.pause),
            ("resume", &self.resume),
            ("partition", &self.partition),
            ("heal", &self.heal),
        ]
        .into_iter()
        .filter_map(|(k, c)| Some((k, c.as_deref()?)))
        .collect()
    }

    /// The command for fault `kind` (`kill`, `start`...), if given.
    pub fn command(&self, kind: &str) -> Option<&str> {
        self.commands()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| c)
    }

    /// How long each run may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_HOOK_TIMEOUT_MS))
    }
}

/// `{node}, {addr}, ...`: the placeholders as a message lists them.
fn braced(words: &[&str]) -> String {
    words
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first `{word}` in `cmd` that is not a placeholder.
fn unknown_placeholder(cmd: &str) -> Option<String> {
    let mut rest = cmd;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let word = &after[..close];
        let is_word =
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if is_word && !PLACEHOLDERS.contains(&word) {
            return Some(word.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}

/// `cmd` with the placeholders of `node` filled in (`peers` for partitions).
pub fn render(cmd: &str, node: &DeployedNode, peers: &str) -> String {
    cmd.replace("{node}", &node.name)
        .replace("{addr}", &node.addr.to_string())
        .replace("{host}", &node.addr.ip().to_string())
        .replace("{port}", &node.addr.port().to_string())
        .replace("{announce}", &node.announce.to_string())
        .replace("{seed}", &node.handle)
        .replace("{peers}", peers)
}

/// Run `command` (for fault `hook` on `node`) under `sh -c`, killing it and
/// everything it started after `timeout`. `now_ns` reads the run's clock.
pub async fn run(
    hook: &str,
    node: &str,
    command: &str,
    timeout: Duration,
    now_ns: impl Fn() -> u64,
) -> HookRun {
    let start_ns = now_ns();
    let mut run = HookRun {
        hook: hook.to_string(),
        node: node.to_string(),
        command: command.to_string(),
        start_ns,
        end_ns: start_ns,
        exit_code: None,
        timed_out: false,
        output: String::new(),
    };
    tracing::info!(hook, node, command, "running hook");
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            run.output = format!("could not start sh: {e}");
            run.end_ns = now_ns();
            return run;
        }
    };
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut a).await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut b).await;
        }
        a.extend(b);
        a
    };
    let waited = tokio::time::timeout(timeout, async {
        let (bytes, status) = tokio::join!(collect, child.wait());
        (bytes, status)
    })
    .await;
    match waited {
        Ok((bytes, status)) => {
            run.exit_code = status.ok().and_then(|s| s.code());
            run.output = tail(&String::from_utf8_lossy(&bytes));
        }
        Err(_) => {
            run.timed_out = true;
            if let Some(pid) = child.id() {
                // The whole group: `sh -c` and whatever it started.
                // SAFETY: kill(2) on a process group we created.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            let _ = child.wait().await;
            run.output = format!("killed after {} ms", timeout.as_millis());
        }
    }
    run.end_ns = now_ns();
    tracing::info!(hook, node, ok = run.ok(), outcome = %run.outcome(), "hook ended");
    run
}

fn tail(s: &str) -> String {
    let s = s.trim_end();
    if s.len() <= OUTPUT_KEPT {
        return s.to_string();
    }
    let mut from = s.len() - OUTPUT_KEPT;
    while !s.is_char_boundary(from) {
        from += 1;
    }
    format!("…{}", &s[from..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> DeployedNode {
        DeployedNode {
            name: "s1n1".into(),
            addr: "127.0.0.1:7001".parse().unwrap(),
            announce: "172.29.27.11:6379".parse().unwrap(),
            bus_port: 16379,
            handle: "abc".into(),
            host: None,
        }
    }

    #[test]
    fn a_hooks_file_parses_and_refuses_unknown_keys_and_placeholders() {
        let h = Hooks::parse("kill: docker kill x_{node}_1\ntimeout_ms: 500\n").unwrap();
        assert_eq!(h.command("kill"), Some("docker kill x_{node}_1"));
        assert_eq!(h.command("start"), None);
        assert_eq!(h.timeout(), Duration::from_millis(500));
        let e = Hooks::parse("kil: x\n").unwrap_err();
        assert!(e.contains("kil"), "{e}");
        let e = Hooks::parse("kill: x {nod}\n").unwrap_err();
        assert!(e.contains("{nod}") && e.contains("{node}"), "{e}");
        assert!(Hooks::parse("kill: \"  \"\n").is_err());
        assert!(Hooks::parse("timeout_ms: 0\n").is_err());
        // Shell braces that are not words pass untouched.
        assert!(Hooks::parse("kill: \"f() { true; }; f {node}\"\n").is_ok());
    }

    #[test]
    fn placeholders_are_filled_in() {
        let cmd = render(
            "x {node} {addr} {host} {port} {announce} {seed} {peers}",
            &node(),
            "10.0.0.2",
        );
        assert_eq!(
            cmd,
            "x s1n1 127.0.0.1:7001 127.0.0.1 7001 172.29.27.11:6379 abc 10.0.0.2"
        );
    }

    #[tokio::test]
    async fn a_run_records_its_exit_output_and_timeout() {
        let t0 = std::time::Instant::now();
        let now = move || t0.elapsed().as_nanos() as u64;
        let ok = run(
            "kill",
            "n1",
            "echo hi; echo oops >&2",
            Duration::from_secs(5),
            now,
        )
        .await;
        assert!(ok.ok(), "{ok:?}");
        assert_eq!(ok.output, "hi\noops");
        let bad = run("kill", "n1", "exit 3", Duration::from_secs(5), now).await;
        assert_eq!(bad.exit_code, Some(3));
        assert_eq!(bad.outcome(), "kill n1: exit 3");
        let hung = run(
            "kill",
            "n1",
            "sleep 30 & wait",
            Duration::from_millis(300),
            now,
        )
        .await;
        assert!(hung.timed_out && !hung.ok());
        assert!(
            hung.end_ns - hung.start_ns < 5_000_000_000,
            "killed in time"
        );
    }
}
