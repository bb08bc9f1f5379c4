//! The host this runs on: where a program is installed, whether we are
//! root, and running a host command (iptables, mostly) for what it printed.
//! A leaf of `runtime/`: the image build, the process backend's rules and
//! links, and the docker backend's error messages all need these, and none
//! of them should reach into another for it.

use std::path::PathBuf;
use std::process::Stdio;

use super::deployment::ExecOutput;
use super::error::{NetError, RuntimeError};

/// Locate a program on PATH (and the sbin dirs, which root's PATH may lack in CI).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether this process runs as root: the host's iptables needs it.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this user can have made host iptables rules at all (root, and
/// iptables installed): when not, there is nothing of ours to heal or tear
/// down, and cleanup has nothing to do.
pub(crate) fn iptables_usable() -> bool {
    is_root() && which("iptables").is_some()
}

/// A command line as owned strings, for `exec` calls that take them.
pub(crate) fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The first line of `stderr`, else of `stdout`, that says something: what a
/// failed iptables said, in one line (not its warning that legacy tables
/// exist too).
pub(crate) fn first_line(stderr: &str, stdout: &str) -> String {
    [stderr, stdout]
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# Warning"))
        .unwrap_or("(no output)")
        .to_string()
}

/// What a host command printed and returned.
pub(crate) struct HostOutput {
    /// Its exit code; -1 when a signal ended it.
    pub(crate) exit_code: i64,
    /// What it wrote to stdout, lossily as UTF-8.
    pub(crate) stdout: String,
    /// What it wrote to stderr, lossily as UTF-8.
    pub(crate) stderr: String,
}

impl HostOutput {
    /// The error of `args` having failed with this output.
    pub(crate) fn failed(&self, node: impl Into<String>, command: impl Into<String>) -> NetError {
        NetError::Command {
            node: node.into(),
            command: command.into(),
            code: self.exit_code,
            stderr: first_line(&self.stderr, &self.stdout),
        }
    }

    fn of(out: std::process::Output) -> HostOutput {
        HostOutput {
            exit_code: out.status.code().map(i64::from).unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Run a host command, `input` on its stdin.
pub(crate) async fn host(args: &[&str], input: Option<&[u8]>) -> Result<HostOutput, NetError> {
    use tokio::io::AsyncWriteExt as _;
    let ctx = || format!("running `{}`", args.join(" "));
    let mut child = tokio::process::Command::new(program(args[0]))
        .args(&args[1..])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(RuntimeError::io(ctx()))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .await
            .map_err(RuntimeError::io(ctx()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(RuntimeError::io(ctx()))?;
    Ok(HostOutput::of(out))
}

/// Run a host command and wait for it, for the synchronous cleanup paths.
pub(crate) fn host_sync(args: &[&str]) -> Result<HostOutput, NetError> {
    let out = std::process::Command::new(program(args[0]))
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(RuntimeError::io(format!("running `{}`", args.join(" "))))?;
    Ok(HostOutput::of(out))
}

/// Where `name` is installed (root's PATH may lack the sbin directories in
/// CI); the bare name when it is nowhere, so the error names it.
fn program(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| name.into())
}

/// Run `cmd` on the host (where the process nodes run, and from where an
/// attached deployment is reached), for what it printed.
pub async fn exec(cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
    let (program, args) = cmd
        .split_first()
        .ok_or_else(|| RuntimeError::BadInput("exec needs a command".into()))?;
    // A redis-cli run here authenticates as the tool does: the password in
    // its environment (REDISCLI_AUTH), never on a command line.
    let (_, env) = crate::net::secure::current().redis_cli();
    let out = tokio::process::Command::new(program)
        .args(args)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(RuntimeError::io(format!("running `{}`", cmd.join(" "))))?;
    Ok(ExecOutput {
        exit_code: out.status.code().map(i64::from).unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
