//! Which running topology a command means: the one named, or the only one up,
//! searched on the runtime given or on every runtime available.

use super::error::CliError;
use crate::runtime::{self, Deployment, Runtime, RuntimeError, RuntimeKind};

/// The runtimes to search: the one named (by flag or environment), or every
/// one that is available here.
pub(crate) async fn runtimes(flag: Option<RuntimeKind>) -> Result<Vec<Runtime>, CliError> {
    if flag.is_some() || std::env::var(runtime::RUNTIME_ENV).is_ok_and(|v| !v.is_empty()) {
        return Ok(vec![Runtime::select(flag).await?]);
    }
    Ok(Runtime::available().await)
}

/// Every running topology on the runtimes searched.
pub(crate) async fn list_all(flag: Option<RuntimeKind>) -> Result<Vec<Deployment>, CliError> {
    let mut all = Vec::new();
    for rt in runtimes(flag).await? {
        all.extend(rt.list().await?);
    }
    Ok(all)
}

/// The running deployment a command means, with the runtime it runs on: the
/// one called `name`, or the only one that is up; the connection security
/// it needs (TLS, AUTH) is in force when it returns.
pub(crate) async fn locate(
    flag: Option<RuntimeKind>,
    name: Option<&str>,
) -> Result<(Runtime, Deployment), CliError> {
    let (rt, d) = find(flag, name).await?;
    super::attach::secure_for(&d)?;
    Ok((rt, d))
}

/// [`locate`] for a command that opens no connection to the nodes (`down`,
/// `logs`): no credentials needed.
pub(crate) async fn find(
    flag: Option<RuntimeKind>,
    name: Option<&str>,
) -> Result<(Runtime, Deployment), CliError> {
    let mut rts = runtimes(flag).await?;
    // An attached deployment is found whatever runtime runs the others.
    if !rts.iter().any(|rt| rt.kind() == RuntimeKind::External) && flag.is_none() {
        rts.push(crate::runtime::external::ExternalRuntime::new().into());
    }
    let mut found: Vec<(usize, Deployment)> = Vec::new();
    for (i, rt) in rts.iter().enumerate() {
        for d in rt.list().await? {
            if name.is_none_or(|n| n == d.name) {
                found.push((i, d));
            }
        }
    }
    match (found.len(), name) {
        (1, _) => {
            let (i, d) = found.pop().expect("one");
            Ok((rts.swap_remove(i), d))
        }
        (0, Some(n)) => Err(RuntimeError::NotFound(n.to_string()).into()),
        (0, None) => Err(CliError::NothingUp),
        (_, _) => Err(CliError::Ambiguous(
            found
                .iter()
                .map(|(_, d)| format!("{} ({})", d.name, d.runtime))
                .collect(),
        )),
    }
}
