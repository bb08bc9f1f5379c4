//! `docker exec` in a container, attached: a command and what it printed
//! and returned, with its stdin fed when it reads one. Shared by the
//! partitions' rules ([`super::partitions`]), the links ([`super::links`])
//! and `exec`.

use std::time::Instant;

use bollard::Docker;
use bollard::container::LogOutput;
use futures::{Stream, StreamExt as _};

use crate::runtime::deployment::ExecOutput;
use crate::runtime::error::RuntimeError;
use crate::runtime::host::argv;

/// Run `cmd` in container `handle`, attached, and collect what it printed
/// and returned.
pub(super) async fn exec_in(
    docker: &Docker,
    handle: &str,
    cmd: &[&str],
) -> Result<ExecOutput, RuntimeError> {
    exec_with(docker, handle, cmd, &[]).await
}

/// [`exec_in`] with `env` (`NAME`, value) set for the command.
pub(crate) async fn exec_with(
    docker: &Docker,
    handle: &str,
    cmd: &[&str],
    env: &[(String, String)],
) -> Result<ExecOutput, RuntimeError> {
    let ctx = || format!("exec `{}` in {handle}", cmd.join(" "));
    let created = docker
        .create_exec(
            handle,
            bollard::models::ExecConfig {
                cmd: Some(argv(cmd)),
                env: (!env.is_empty())
                    .then(|| env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let bollard::exec::StartExecResults::Attached { output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(RuntimeError::docker(ctx()))?
    {
        (stdout, stderr) = collect(output, ctx).await?;
    }
    finish(docker, &created.id, stdout, stderr, ctx).await
}

/// Run `iptables-restore -w` (and `extra` arguments) in `node`'s container
/// (`handle`) with `script` on its stdin — the image has no shell to hand a
/// file to — and collect what it printed and returned, with when it was done.
pub(crate) async fn restore(
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
    let bollard::exec::StartExecResults::Attached { output, mut input } = docker
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
    let (stdout, stderr) = collect(output, ctx).await?;
    let done = Instant::now();
    let out = finish(docker, &created.id, stdout, stderr, ctx).await?;
    Ok((out, done))
}

/// Everything an attached exec printed, (stdout, stderr), until it ends.
async fn collect<S, E>(
    mut output: std::pin::Pin<Box<S>>,
    ctx: impl Fn() -> String,
) -> Result<(String, String), RuntimeError>
where
    S: Stream<Item = Result<LogOutput, E>> + ?Sized + Send,
    E: Into<bollard::errors::Error>,
{
    let (mut stdout, mut stderr) = (String::new(), String::new());
    while let Some(chunk) = output.next().await {
        match chunk.map_err(|e| RuntimeError::docker(ctx())(e.into()))? {
            LogOutput::StdErr { message } => stderr.push_str(&String::from_utf8_lossy(&message)),
            other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
        }
    }
    Ok((stdout, stderr))
}

/// The exec's exit code, asked of the engine, with what it printed.
async fn finish(
    docker: &Docker,
    id: &str,
    stdout: String,
    stderr: String,
    ctx: impl Fn() -> String,
) -> Result<ExecOutput, RuntimeError> {
    let info = docker
        .inspect_exec(id)
        .await
        .map_err(RuntimeError::docker(ctx()))?;
    Ok(ExecOutput {
        exit_code: info.exit_code.unwrap_or(-1),
        stdout,
        stderr,
    })
}
