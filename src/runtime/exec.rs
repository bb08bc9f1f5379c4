//! `docker exec` in a container, attached: a command and what it printed
//! and returned, with its stdin fed when it reads one. Shared by the
//! partitions' rules (`filter`), the links (`docker_links`) and `exec`.

use std::time::Instant;

use bollard::Docker;
use futures::StreamExt as _;

use super::{ExecOutput, RuntimeError};

/// Run `cmd` in container `handle`, attached, and collect what it printed
/// and returned.
pub(super) async fn exec_in(
    docker: &Docker,
    handle: &str,
    cmd: &[&str],
) -> Result<ExecOutput, RuntimeError> {
    let ctx = || format!("exec `{}` in {handle}", cmd.join(" "));
    let created = docker
        .create_exec(
            handle,
            bollard::models::ExecConfig {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let bollard::exec::StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(RuntimeError::docker(ctx()))?
    {
        while let Some(chunk) = output.next().await {
            match chunk.map_err(RuntimeError::docker(ctx()))? {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    Ok(ExecOutput {
        exit_code: inspect.exit_code.unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// Run `iptables-restore -w` (and `extra` arguments) in `node`'s container
/// (`handle`) with `script` on its stdin — the image has no shell to hand a
/// file to — and collect what it printed and returned, with when it was done.
pub(super) async fn restore(
    docker: &bollard::Docker,
    what: &str,
    handle: &str,
    extra: &[&str],
    script: &str,
) -> Result<(ExecOutput, Instant), RuntimeError> {
    use tokio::io::AsyncWriteExt as _;
    let ctx = || format!("exec `iptables-restore` in {what}");
    let mut cmd = vec!["iptables-restore", "-w"];
    cmd.extend_from_slice(extra);
    let created = docker
        .create_exec(
            handle,
            bollard::models::ExecConfig {
                cmd: Some(argv(&cmd)),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    let bollard::exec::StartExecResults::Attached {
        mut output,
        mut input,
    } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(RuntimeError::docker(ctx()))?
    else {
        return Err(RuntimeError::Environment(format!(
            "{}: docker started it detached",
            ctx()
        )));
    };
    // A command that failed to start has closed its end: its exit code says
    // why, so a failed write is not the error to report. A small script, so
    // written whole before any output is read.
    if input.write_all(script.as_bytes()).await.is_ok() {
        let _ = input.shutdown().await;
    }
    let (mut stdout, mut stderr) = (String::new(), String::new());
    while let Some(chunk) = output.next().await {
        match chunk.map_err(RuntimeError::docker(ctx()))? {
            bollard::container::LogOutput::StdErr { message } => {
                stderr.push_str(&String::from_utf8_lossy(&message))
            }
            other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
        }
    }
    let done = Instant::now();
    let info = docker
        .inspect_exec(&created.id)
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    let out = ExecOutput {
        exit_code: info.exit_code.unwrap_or(-1),
        stdout,
        stderr,
    };
    Ok((out, done))
}

/// The first line of `stderr`, else of `stdout`, that says something: what a
/// failed iptables said, in one line (not its warning that legacy tables
/// exist too).
pub(super) fn first_line(stderr: &str, stdout: &str) -> String {
    [stderr, stdout]
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# Warning"))
        .unwrap_or("(no output)")
        .to_string()
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}
