//! Links between regions on the swarm runtime: the Docker runtime's relay
//! and rules ([`crate::runtime::docker::links`]), put into each namespace
//! that sends across a link by a helper container on the engine that runs
//! it — no file, socket or namespace of another host is touched; only its
//! engine's API.
//!
//! A holder of a relay is a node's task container, or a region's clients
//! container. Its helper, `<holder>_links`, is a container of the worker
//! image (the node image plus this binary, built on that engine) that
//! joins the holder's network namespace (`network_mode: container:…`, with
//! `NET_ADMIN`) and runs `redis-drill relay --inline … --port`
//! [`RELAY_PORT`]; the rules that feed it are written by `iptables-restore`
//! exec'd in the helper. Through the same engine, `exec` in the helper
//! tells its relay new links (`relay --tell`, the `slow` fault) and
//! measures a link from the holder's own place (`relay --ping`).
//!
//! What Swarm imposes: a node started again is a new task at a new address
//! on the overlay. Its new helper gets every current address; every other
//! relay is told the new membership and every holder's rules are written
//! again ([`SwarmRuntime::links_after_restart`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::engine::SwarmRuntime;
use super::engines::Engine;
use crate::runtime::deployment::{DeployedNode, Deployment, labels};
use crate::runtime::docker::containers::common_labels;
use crate::runtime::docker::links::{CHAIN, CONTROL_PORT, RELAY_PORT, node_script};
use crate::runtime::error::RuntimeError;
use crate::runtime::links::{PingOrigin, PingReport, Pinged};
use crate::runtime::relay::RelayConfig;
use crate::topology::Link;

/// The role label of a links helper container.
pub(super) const ROLE: &str = "links";
/// Where the worker image holds this binary.
const BINARY: &str = "/redis-drill";
/// How long a helper's relay may take to take its first `--tell`.
const RELAY_START: Duration = Duration::from_secs(15);

/// A namespace that sends across links: a node's task, or a region's
/// clients.
#[derive(Debug, Clone)]
pub(super) struct Holder {
    /// For messages: `node s1n1`, `the clients of eu-west`.
    pub what: String,
    /// The engine it runs on.
    pub engine: String,
    /// Its container, whose namespace the helper joins.
    pub target: String,
    /// Its address on the run's overlay, where its traffic leaves from.
    pub own: IpAddr,
    /// The helper container's name.
    pub helper: String,
    /// The node's controller address, when it is a node (its link to its
    /// primary is reset once the rules are in).
    pub node: Option<SocketAddr>,
}

/// The helper of the container (or service) named `holder`.
pub(super) fn helper_name(holder: &str) -> String {
    format!("{holder}_links")
}

impl SwarmRuntime {
    /// Every running node of `d` as a holder (a node with no running task
    /// has no namespace to hold anything).
    async fn node_holders(&self, d: &Deployment) -> Result<Vec<Holder>, RuntimeError> {
        let mut out = Vec::new();
        for n in &d.nodes {
            if let Ok(h) = self.node_holder(d, n).await {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// `node` as a holder, where its task runs now.
    async fn node_holder(
        &self,
        d: &Deployment,
        node: &DeployedNode,
    ) -> Result<Holder, RuntimeError> {
        let (engine, r) = self.task(d, node).await?;
        Ok(Holder {
            what: format!("node {}", node.name),
            engine: engine.name.clone(),
            target: r.container,
            own: r.ip,
            helper: helper_name(&node.handle),
            node: Some(node.addr),
        })
    }

    /// The worker image on `engine` (the helpers' image), built there when
    /// missing.
    async fn links_image(&self, d: &Deployment, engine: &Engine) -> Result<String, RuntimeError> {
        let base = d.image.split(", ").next().unwrap_or_default().to_string();
        let server = (d.topology.nodes.first())
            .map(|n| n.server.clone())
            .unwrap_or_default();
        crate::runtime::image::ensure_local(&engine.docker, &base, &server).await?;
        crate::runtime::image::ensure_worker(&engine.docker, &base).await
    }

    /// Every node's relay and rules, all at once, the images built on each
    /// engine first; a no-op without links.
    pub(super) async fn install_all_links(&self, d: &Deployment) -> Result<(), RuntimeError> {
        if d.topology.links.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let holders = self.node_holders(d).await?;
        let engines: std::collections::BTreeSet<&str> =
            holders.iter().map(|h| h.engine.as_str()).collect();
        let images: BTreeMap<String, String> =
            futures::future::try_join_all(engines.into_iter().map(|e| async move {
                let engine = self.engine(e)?;
                let image = self.links_image(d, engine).await?;
                Ok::<_, RuntimeError>((e.to_string(), image))
            }))
            .await?
            .into_iter()
            .collect();
        let members = d.link_members();
        futures::future::try_join_all(
            holders
                .iter()
                .map(|h| self.install_holder(d, h, &images[&h.engine], &members)),
        )
        .await?;
        tracing::info!(
            run = %d.run_id,
            holders = holders.len(),
            links = d.topology.links.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "links up on the swarm"
        );
        Ok(())
    }

    /// Start `h`'s helper (replacing one of an earlier namespace), wait for
    /// its relay, write its rules, and reset a node's link to its primary
    /// so that replication crosses the relay.
    pub(super) async fn install_holder(
        &self,
        d: &Deployment,
        h: &Holder,
        image: &str,
        members: &[(IpAddr, String)],
    ) -> Result<(), RuntimeError> {
        let engine = self.engine(&h.engine)?;
        let docker = &engine.docker;
        let on = format!("{} on {}", h.what, engine.name);
        remove_container(docker, &h.helper).await?;
        let cfg = RelayConfig {
            nodes: members.to_vec(),
            links: d.topology.links.clone(),
        };
        let inline = serde_json::to_string(&cfg).expect("a relay config serializes");
        let mut lbls = common_labels(d);
        lbls.insert(labels::ROLE.into(), ROLE.into());
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec![
                "relay".into(),
                "--inline".into(),
                inline,
                "--port".into(),
                RELAY_PORT.to_string(),
                "--control-port".into(),
                CONTROL_PORT.to_string(),
            ]),
            env: Some(vec!["RUST_LOG=warn".into()]),
            labels: Some(lbls),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(format!("container:{}", h.target)),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(&h.helper)
            .build();
        docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!(
                "creating the links helper of {on}"
            )))?;
        docker
            .start_container(&h.helper, None)
            .await
            .map_err(RuntimeError::docker(format!(
                "starting the links helper of {on}"
            )))?;
        self.wait_relay(engine, h, &on, &d.topology.links).await?;
        let script = node_script(h.own, members, &d.topology.links, RELAY_PORT, true);
        restore(engine, h, &on, &script).await?;
        if let Some(addr) = h.node {
            // As on Docker: a replica's link to its primary, opened before
            // the rules, is reset so that it reconnects through the relay.
            if let Err(e) = crate::runtime::ready::query_once::<redis::Value>(
                addr,
                redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("master"),
            )
            .await
            {
                tracing::warn!(holder = %h.what, "resetting its link to its primary: {e}");
            }
        }
        Ok(())
    }

    /// Wait until `h`'s relay takes the links on its control port (which
    /// it opens before it relays); on timeout, what the helper said.
    async fn wait_relay(
        &self,
        engine: &Engine,
        h: &Holder,
        on: &str,
        links: &[Link],
    ) -> Result<(), RuntimeError> {
        let line = serde_json::to_string(links).expect("links serialize");
        let started = Instant::now();
        let mut last = String::new();
        for _ in 0..(RELAY_START.as_millis() / 50) {
            match tell(engine, h, &line).await {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            if started.elapsed() >= RELAY_START {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let logs = helper_logs(engine, &h.helper).await;
        Err(RuntimeError::NotReady {
            node: on.to_string(),
            condition: format!("its links' relay listening ({last}; the helper's log: {logs})"),
            waited: started.elapsed(),
        })
    }

    /// The region clients container `target` (at `own`, on `engine`) as a
    /// holder, its helper installed; a no-op without links.
    pub(super) async fn install_clients_links(
        &self,
        d: &Deployment,
        engine: &str,
        region: &str,
        target: &str,
        own: IpAddr,
    ) -> Result<(), RuntimeError> {
        if d.topology.links.is_empty() {
            return Ok(());
        }
        let d = self.fresh(d).await?;
        let e = self.engine(engine)?;
        let image = self.links_image(&d, e).await?;
        let h = Holder {
            what: format!("the clients of {region}"),
            engine: engine.to_string(),
            target: target.to_string(),
            own,
            helper: helper_name(target),
            node: None,
        };
        self.install_holder(&d, &h, &image, &d.link_members()).await
    }

    /// The deployment as the swarm sees it now (every node's current task
    /// address), or `d` when it is not found.
    async fn fresh(&self, d: &Deployment) -> Result<Deployment, RuntimeError> {
        Ok(self.find(&d.name).await?.unwrap_or_else(|| d.clone()))
    }

    /// Every helper of the run that runs now: its holder's description,
    /// engine, name and own address (from the labels and the holder).
    async fn running_helpers(&self, d: &Deployment) -> Result<Vec<Holder>, RuntimeError> {
        let mut out = self.node_holders(d).await?;
        for r in &d.topology.regions {
            let Some(own) = d.client_addr(&r.name) else {
                continue;
            };
            let target = super::backend::clients_name(d, Some(&r.name));
            for e in self.engines.values() {
                if let Ok(info) = e.docker.inspect_container(&target, None).await
                    && info.state.and_then(|s| s.running).unwrap_or(false)
                {
                    out.push(Holder {
                        what: format!("the clients of {}", r.name),
                        engine: e.name.clone(),
                        target: target.clone(),
                        own,
                        helper: helper_name(&target),
                        node: None,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Tell every running relay of the run `line` (links, or a whole
    /// configuration): how many took it.
    async fn tell_all(&self, d: &Deployment, line: &str) -> Result<usize, RuntimeError> {
        let holders = self.running_helpers(d).await?;
        let told = futures::future::join_all(holders.iter().map(|h| async move {
            let engine = self.engine(&h.engine)?;
            tell(engine, h, line).await.map_err(|why| {
                RuntimeError::Environment(format!(
                    "giving the relay of {} on {} new links: {why}",
                    h.what, engine.name
                ))
            })
        }))
        .await;
        let mut n = 0;
        for t in told {
            t?;
            n += 1;
        }
        Ok(n)
    }

    /// Every relay of the run told `links` (the `slow` fault).
    pub(super) async fn set_links(
        &self,
        d: &Deployment,
        links: &[Link],
    ) -> Result<usize, RuntimeError> {
        let d = self.fresh(d).await?;
        let line = serde_json::to_string(links).expect("links serialize");
        self.tell_all(&d, &line).await
    }

    /// After `node` was started again (a new task at a new address): its
    /// own helper, then every other relay told the new membership, and
    /// every other holder's rules written again for it.
    pub(super) async fn links_after_restart(
        &self,
        d: &Deployment,
        node: &DeployedNode,
    ) -> Result<(), RuntimeError> {
        if d.topology.links.is_empty() {
            return Ok(());
        }
        let d = self.fresh(d).await?;
        let members = d.link_members();
        let h = self.node_holder(&d, d.node(&node.name)?).await?;
        let image = self.links_image(&d, self.engine(&h.engine)?).await?;
        // The links as the relays hold them now (a `slow` fault may have
        // changed them): those the others keep, and the new one takes.
        let cfg = RelayConfig {
            nodes: members.clone(),
            links: d.topology.links.clone(),
        };
        let line = serde_json::to_string(&cfg).expect("a relay config serializes");
        self.install_holder(&d, &h, &image, &members).await?;
        let others: Vec<Holder> = (self.running_helpers(&d).await?)
            .into_iter()
            .filter(|o| o.helper != h.helper)
            .collect();
        futures::future::try_join_all(others.iter().map(|o| {
            let line = line.clone();
            let (members, links) = (&members, &d.topology.links);
            async move {
                let engine = self.engine(&o.engine)?;
                let on = format!("{} on {}", o.what, engine.name);
                tell(engine, o, &line).await.map_err(|why| {
                    RuntimeError::Environment(format!(
                        "giving the relay of {on} new addresses: {why}"
                    ))
                })?;
                let script = node_script(o.own, members, links, RELAY_PORT, false);
                restore(engine, o, &on, &script).await
            }
        }))
        .await?;
        tracing::info!(node = %node.name, holders = others.len() + 1, "links follow a node's new address");
        Ok(())
    }

    /// Each running node's helper: node name → (engine, helper container).
    pub(super) async fn helpers_by_node(
        &self,
        d: &Deployment,
    ) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        for n in &d.nodes {
            if let Ok(h) = self.node_holder(d, n).await {
                out.insert(n.name.clone(), (h.engine, h.helper));
            }
        }
        out
    }
}

/// Measuring a link from a node's helper, by `exec` through its engine:
/// `redis-drill relay --ping` inside the node's namespace, whose rules send
/// the connection through its relay, as the node's own would go.
pub(super) struct ExecPings<'a> {
    pub rt: &'a SwarmRuntime,
    /// Node name → (engine, helper container).
    pub helpers: BTreeMap<String, (String, String)>,
}

impl PingOrigin for ExecPings<'_> {
    fn ping<'a>(&'a self, from: &'a DeployedNode, to: SocketAddr) -> BoxFuture<'a, Pinged> {
        async move {
            let Some((engine, helper)) = self.helpers.get(&from.name) else {
                return Err((
                    Vec::new(),
                    format!("node {} has no links helper", from.name),
                ));
            };
            let engine = self
                .rt
                .engine(engine)
                .map_err(|e| (Vec::new(), e.to_string()))?;
            let to = to.to_string();
            let out = crate::runtime::docker::exec::exec_with(
                &engine.docker,
                helper,
                &[BINARY, "relay", "--ping", &to],
                &[],
            )
            .await
            .map_err(|e| (Vec::new(), e.to_string()))?;
            PingReport::pinged(&out.stdout).ok_or_else(|| {
                (
                    Vec::new(),
                    format!(
                        "`relay --ping` in {helper} on {} exited {}: {}",
                        engine.name,
                        out.exit_code,
                        crate::runtime::host::first_line(&out.stderr, &out.stdout)
                    ),
                )
            })?
        }
        .boxed()
    }
}

/// `relay --tell LINE` in `h`'s helper: its relay's answer.
async fn tell(engine: &Engine, h: &Holder, line: &str) -> Result<(), String> {
    let port = CONTROL_PORT.to_string();
    let out = crate::runtime::docker::exec::exec_with(
        &engine.docker,
        &h.helper,
        &[BINARY, "relay", "--tell", line, "--control-port", &port],
        &[],
    )
    .await
    .map_err(|e| e.to_string())?;
    if out.exit_code == 0 {
        Ok(())
    } else {
        Err(format!(
            "`relay --tell` exited {}: {}",
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        ))
    }
}

/// `iptables-restore --noflush` with `script` in `h`'s helper.
async fn restore(engine: &Engine, h: &Holder, on: &str, script: &str) -> Result<(), RuntimeError> {
    let (out, _) = crate::runtime::docker::exec::restore(
        &engine.docker,
        on,
        &h.helper,
        &["--noflush"],
        script,
    )
    .await?;
    if out.exit_code != 0 {
        return Err(RuntimeError::Environment(format!(
            "installing the link rules ({CHAIN}) in {on} with iptables-restore failed (exit code {}): {}",
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        )));
    }
    Ok(())
}

/// The last lines a helper printed, for an error.
async fn helper_logs(engine: &Engine, helper: &str) -> String {
    use futures::TryStreamExt as _;
    let opts = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("5")
        .build();
    match engine
        .docker
        .logs(helper, Some(opts))
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(chunks) => {
            let s: String = chunks
                .into_iter()
                .map(|c| String::from_utf8_lossy(&c.into_bytes()).into_owned())
                .collect();
            let s = s.trim();
            if s.is_empty() {
                "nothing".into()
            } else {
                s.to_string()
            }
        }
        Err(e) => format!("unreadable: {e}"),
    }
}

/// Remove `name` on `docker` if it is there (a helper of an earlier
/// namespace of the same holder).
async fn remove_container(docker: &bollard::Docker, name: &str) -> Result<(), RuntimeError> {
    let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .build();
    match docker.remove_container(name, Some(opts)).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(RuntimeError::Docker {
            context: format!("removing the old links helper {name}"),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_is_named_after_its_holder() {
        assert_eq!(helper_name("rd-abc-s1n1"), "rd-abc-s1n1_links");
    }
}
