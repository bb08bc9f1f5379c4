//! `replace`: one step of a rolling upgrade, under load. A new node on the
//! step's server joins as a replica of the shard's primary and syncs; if
//! the node replaced is that primary, a coordinated `CLUSTER FAILOVER` on
//! the new node hands it the shard (no acknowledged write lost: the old
//! primary pauses its clients until the new one has every write); then the
//! old node is stopped and every other node forgets it. A rollback is the
//! same step back to the older server, which may be refused (an older
//! replica cannot load a newer primary's snapshot): with `may_fail`, the
//! refusal and its reason are the step's record, the new node is removed
//! again, and the drill goes on.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{FAILOVER_TIMEOUT, FaultError, Nemesis};
use crate::cluster::{self, ClusterError, ConnectOptions, Member, Role};
use crate::faults::schedule::FaultStep;
use crate::faults::target::ClusterSnapshot;
use crate::record::faults::{FaultKind, FaultWindow};
use crate::runtime::Deployment;

/// How long the new node gets to meet the cluster and finish its first
/// sync, under the drill's load.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long every other node gets to forget the old one (inside the 60 s
/// a `CLUSTER FORGET` bans it for).
const FORGET_TIMEOUT: Duration = Duration::from_secs(30);
/// How many lines of the refused node's log are searched for its reason.
const LOG_TAIL: usize = 200;

impl Nemesis<'_> {
    /// `replace`: the window's one node replaced by a new node on the
    /// step's server (module docs).
    pub(super) async fn replace(
        &mut self,
        step: &FaultStep,
        snap: &ClusterSnapshot,
        window: &mut FaultWindow,
        cancel: &CancellationToken,
    ) -> Result<(), FaultError> {
        let target = window.target.clone();
        let refuse = |message: String| FaultError::Target {
            fault: FaultKind::Replace,
            target: target.clone(),
            message,
        };
        let [old] = window.nodes.as_slice() else {
            return Err(refuse(format!(
                "a replace replaces one node, not {}",
                window.nodes.len()
            )));
        };
        let old = old.clone();
        if self.d.attached.is_some() {
            return Err(refuse(
                "a replace starts a server: redis-drill only does that on a deployment it started"
                    .into(),
            ));
        }
        let server = step
            .server
            .clone()
            .expect("validated: a replace names a server");
        let shard_primary = current_primary(snap, &old).ok_or_else(|| {
            refuse(format!(
                "{old}'s shard has no primary that answers: nothing to replicate"
            ))
        })?;
        let mut spec = self
            .successor(&old, &shard_primary)
            .ok_or_else(|| refuse(format!("no free node name in {old}'s shard")))?;
        spec.server = server.clone();
        let new = spec.name.clone();
        window.nodes.push(new.clone());
        let was_primary = snap
            .nodes
            .iter()
            .any(|n| n.name == old && n.role == Some(Role::Primary));
        let old_server = self.server_of(&old).await;

        let t0 = Instant::now();
        let grown = self.rt.add_node(&self.d, spec, cancel).await?;
        let mut joining = crate::bringup::members(&grown);
        let mut me = joining
            .iter()
            .position(|m| m.name == new)
            .map(|i| joining.remove(i))
            .expect("the grown deployment lists the new node");
        for m in &mut joining {
            m.replica_of = None;
        }
        me.replica_of = Some(shard_primary.clone());
        // Named (and reachable by the drill's clients) from its first
        // appearance in the others' tables.
        cluster::conn::admit(&me.name, me.announce);
        let mut opts = cluster::ConvergeOptions::new(JOIN_TIMEOUT, cancel.clone());
        opts.connect = ConnectOptions::default();
        let joined = cluster::add_node(&joining, &me, &opts).await;
        let new_server = self.server_of_member(&me).await;
        if let Err(e) = joined {
            let why = self.why_not_synced(&grown, &me, &e).await;
            self.undo_add(&grown, &joining, &new).await;
            let what = format!(
                "{new} ({new_server}) could not take over from {old} ({old_server}): as a replica of {shard_primary} it {why}; {new} was removed again, {old} stays"
            );
            if step.may_fail {
                window.detail = format!("refused: {what}");
                return Ok(());
            }
            return Err(refuse(what));
        }
        let synced_ms = ms(t0.elapsed());
        self.d = std::borrow::Cow::Owned(grown);
        self.map.add_member(&me)?;
        if let (Some(w), Some(mapped)) =
            (&self.watch, self.map.nodes().iter().find(|n| n.name == new))
        {
            w.join(mapped.clone());
        }
        let mut said = vec![format!(
            "{old} ({old_server}) -> {new} ({new_server}): joined as a replica of {shard_primary} and synced in {synced_ms:.0} ms"
        )];
        if was_primary {
            let rep =
                cluster::manual_failover(&self.map, &new, step.mode, FAILOVER_TIMEOUT, cancel)
                    .await?;
            window.promoted_ms = Some(rep.promoted_ms);
            said.push(format!(
                "a {} failover handed it the shard",
                match step.mode {
                    cluster::failover::FailoverMode::Default => "coordinated".to_string(),
                    other => other.to_string(),
                }
            ));
        }
        let forgotten_by = self.remove(&old).await?;
        said.push(format!(
            "{old} stopped and forgotten by {} nodes",
            forgotten_by.len()
        ));
        window.detail = said.join("; ");
        Ok(())
    }

    /// The spec of the node that replaces `old`: in its shard and region,
    /// with its settings, a replica of `primary`, named `s{k}n{m}` with m
    /// past every name the shard has had in this drill (a removed node's
    /// name is never reused: the report would mix the two).
    fn successor(&self, old: &str, primary: &str) -> Option<crate::topology::NodeSpec> {
        let base = self.d.spec(old)?;
        let taken = |name: &str| {
            self.d.topology.node(name).is_some()
                || self.d.nodes.iter().any(|n| n.name == name)
                || self.retired.contains(name)
        };
        // Bounded: a shard has a handful of names in a drill.
        let name = (1..=crate::topology::NAME_MAX * 10)
            .map(|m| format!("s{}n{m}", base.shard + 1))
            .find(|n| !taken(n))?;
        Some(crate::topology::NodeSpec {
            name,
            role: crate::topology::Role::Replica,
            replica_of: Some(primary.to_string()),
            shard: base.shard,
            region: base.region.clone(),
            port: None,
            image: None,
            server: base.server.clone(),
            config: base.config.clone(),
            slots: Vec::new(),
        })
    }

    /// Stop `node` and make every other node forget it; the nemesis's
    /// deployment and map no longer hold it. Returns who was told.
    async fn remove(&mut self, node: &str) -> Result<Vec<String>, FaultError> {
        let members = crate::bringup::members(&self.d);
        let me = members
            .iter()
            .find(|m| m.name == node)
            .expect("a node of the deployment");
        let mut c =
            cluster::conn::NodeConn::connect(&me.name, me.addr, ConnectOptions::default()).await?;
        let id: String = c.run(redis::cmd("CLUSTER").arg("MYID")).await?;
        drop(c);
        // Stopped first: it cannot teach itself back to the others by gossip.
        self.rt.remove_node(&self.d, node).await?;
        let rest: Vec<Member> = members.into_iter().filter(|m| m.name != node).collect();
        let told =
            cluster::forget_node(&rest, &id, ConnectOptions::default(), FORGET_TIMEOUT).await?;
        self.map.remove(node);
        if let Some(w) = &self.watch {
            w.leave(node);
        }
        self.retired.insert(node.to_string());
        let shrunk = match self.rt.find(&self.d.name).await? {
            Some(d) => d,
            None => {
                return Err(FaultError::Target {
                    fault: FaultKind::Replace,
                    target: node.to_string(),
                    message: format!("{} is no longer up after removing {node}", self.d.name),
                });
            }
        };
        self.d = std::borrow::Cow::Owned(shrunk);
        Ok(told)
    }

    /// Why the new node did not become a synced replica: its link as it
    /// reports it and the line of its log that says why, if one does.
    async fn why_not_synced(&self, grown: &Deployment, me: &Member, e: &ClusterError) -> String {
        let mut said = vec![format!(
            "did not sync within {} s ({})",
            JOIN_TIMEOUT.as_secs(),
            crate::cluster::error::error_chain(e)
        )];
        if let Ok(mut c) =
            cluster::conn::NodeConn::connect(&me.name, me.addr, ConnectOptions::default()).await
            && let Ok(info) = c.run::<String>(redis::cmd("INFO").arg("replication")).await
        {
            let info = cluster::conn::parse_info(&info);
            if let Some(link) = info.get("master_link_status") {
                said.push(format!("master_link_status:{link}"));
            }
        }
        if let Ok(log) = self.rt.logs(grown, &me.name, LOG_TAIL).await {
            // The line that says why (an RDB version it cannot read) before
            // the one that says it failed.
            let lines: Vec<&str> = log.lines().filter(|l| refusal_line(l)).collect();
            let why = lines
                .iter()
                .rev()
                .find(|l| l.to_ascii_lowercase().contains("version"))
                .or(lines.last());
            if let Some(line) = why {
                said.push(format!("its log: \"{}\"", log_message(line)));
            }
        }
        said.join("; ")
    }

    /// Remove a new node that did not take over, and make the others forget it.
    async fn undo_add(&self, grown: &Deployment, others: &[Member], new: &str) {
        if let Err(e) = self.rt.remove_node(grown, new).await {
            crate::note!("warning: removing the new node {new} failed: {e}");
        }
        if let Err(e) = cluster::forget_strangers(others, ConnectOptions::default()).await {
            crate::note!("warning: the cluster may still list the removed node {new}: {e}");
        }
    }

    /// What `node` runs (`redis 7.0.15`), as it says.
    async fn server_of(&self, node: &str) -> String {
        match crate::bringup::members(&self.d)
            .iter()
            .find(|m| m.name == node)
        {
            Some(m) => self.server_of_member(m).await,
            None => "unknown server".into(),
        }
    }

    async fn server_of_member(&self, m: &Member) -> String {
        let read = async {
            let mut c =
                cluster::conn::NodeConn::connect(&m.name, m.addr, ConnectOptions::default())
                    .await?;
            let info: String = c.run(redis::cmd("INFO").arg("server")).await?;
            Ok::<_, ClusterError>(cluster::conn::server_of(&cluster::conn::parse_info(&info)))
        };
        read.await
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown server".into())
    }
}

/// The primary of `node`'s shard now: itself if it is one, else the
/// primary it replicates.
fn current_primary(snap: &ClusterSnapshot, node: &str) -> Option<String> {
    let n = snap.nodes.iter().find(|n| n.name == node)?;
    match n.role {
        Some(Role::Primary) => Some(n.name.clone()),
        _ => n.primary.clone(),
    }
}

/// A log line that says why a replica could not load its primary's data.
fn refusal_line(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    (l.contains("rdb") || l.contains("sync"))
        && (l.contains("can't")
            || l.contains("failed")
            || l.contains("error")
            || l.contains("unable"))
}

/// A server log line without its pid, role and timestamp: `1:S 27 Nov
/// 2026 02:14:34.319 # Can't handle ...` -> `Can't handle ...`.
fn log_message(line: &str) -> &str {
    line.split_once(" # ")
        .or_else(|| line.split_once(" * "))
        .map_or(line, |(_, m)| m)
        .trim()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_a_replica_refuses_is_found_in_its_log() {
        assert!(refusal_line(
            "1:S 27 Nov 2026 02:10:00.000 # Can't handle RDB format version 80"
        ));
        assert!(refusal_line(
            "1:S 27 Nov 2026 02:10:00.000 # Failed trying to load the MASTER synchronization DB from socket"
        ));
        assert!(!refusal_line("1:S * MASTER <-> REPLICA sync started"));
        assert!(!refusal_line("1:S * Connecting to MASTER 172.28.0.10:6379"));
        assert_eq!(
            log_message("14293:S 27 Nov 2026 02:14:34.319 # Can't handle RDB format version 11"),
            "Can't handle RDB format version 11"
        );
    }
}
