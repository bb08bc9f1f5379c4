//! A region's clients as a worker on that region's host: a container of the
//! tool's own binary (`redis-drill adapter`, redis-rs behind the adapter
//! protocol) on an engine of the region, on the run's overlay at the
//! region's clients address, its stdin and stdout attached through that
//! engine's API. The adapter host ([`crate::workload::adapter`]) feeds it
//! its share of the schedule, reads its results as they come, and estimates
//! its clock's offset before and after.
//!
//! The host runs on a plain thread; the attach streams are driven by a
//! small tokio runtime of the worker's own (with its own engine client),
//! bridged to blocking reads and writes by pipes.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::engine::network_name;
use super::engines::{self, Endpoint};
use crate::runtime::deployment::{Deployment, labels};
use crate::runtime::docker::containers::common_labels;
use crate::workload::adapter::{Remote, Spawned};

/// The environment variable a test sets to shift the workers' clocks
/// (ns): the lab's engines share this machine's clock, so a worker's true
/// offset is known, and a skew shows the estimate finds another one.
pub const SKEW_ENV: &str = "REDIS_DRILL_WORKER_CLOCK_SKEW_NS";

/// A worker to start on one engine (see the module documentation).
#[derive(Debug)]
pub struct SwarmWorker {
    pub(super) engine: String,
    pub(super) endpoint: Endpoint,
    /// Whether the engine shares this machine's clock (a local socket).
    pub(super) local: bool,
    pub(super) image: String,
    pub(super) name: String,
    pub(super) network: String,
    pub(super) ip: IpAddr,
    /// The container whose network namespace it joins instead of taking
    /// `ip` itself (the region's clients container, which holds the
    /// links' relay), if any.
    pub(super) join: Option<String>,
    pub(super) labels: std::collections::HashMap<String, String>,
    pub(super) skew_ns: i64,
}

impl SwarmWorker {
    pub(super) fn new(
        d: &Deployment,
        region: &str,
        engine: &super::engines::Engine,
        image: String,
        ip: IpAddr,
        join: Option<String>,
    ) -> SwarmWorker {
        let mut lbls = common_labels(d);
        lbls.insert(labels::ROLE.into(), "worker".into());
        lbls.insert(labels::REGION.into(), region.to_string());
        SwarmWorker {
            engine: engine.name.clone(),
            endpoint: engine.endpoint.clone(),
            local: engine.local,
            image,
            name: format!("rd-{}-_worker_{region}", d.run_id),
            network: network_name(&d.run_id),
            ip,
            join,
            labels: lbls,
            skew_ns: std::env::var(SKEW_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }

    async fn create_and_attach(
        &self,
        docker: &bollard::Docker,
    ) -> Result<bollard::container::AttachContainerResults, bollard::errors::Error> {
        let (network_mode, endpoints) = match &self.join {
            Some(c) => (format!("container:{c}"), None),
            None => (self.network.clone(), Some(self.endpoints())),
        };
        let body = bollard::models::ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec![
                "adapter".into(),
                format!("--clock-skew-ns={}", self.skew_ns),
            ]),
            labels: Some(self.labels.clone()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            tty: Some(false),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(network_mode),
                ..Default::default()
            }),
            networking_config: endpoints.map(|e| bollard::models::NetworkingConfig {
                endpoints_config: Some(e),
            }),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(&self.name)
            .build();
        docker.create_container(Some(opts), body).await?;
        let attach = bollard::query_parameters::AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let streams = docker.attach_container(&self.name, Some(attach)).await?;
        docker.start_container(&self.name, None).await?;
        Ok(streams)
    }

    /// Its endpoint on the run's overlay, at its region's clients address.
    fn endpoints(&self) -> std::collections::HashMap<String, bollard::models::EndpointSettings> {
        std::collections::HashMap::from([(
            self.network.clone(),
            bollard::models::EndpointSettings {
                ipam_config: Some(bollard::models::EndpointIpamConfig {
                    ipv4_address: Some(self.ip.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])
    }
}

/// The worker's stdin: each write goes to the attach stream.
struct AttachIn {
    rt: Arc<tokio::runtime::Runtime>,
    input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Write for AttachIn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let input = &mut self.input;
        self.rt.block_on(async { input.write_all(buf).await })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let input = &mut self.input;
        self.rt.block_on(async { input.flush().await })
    }
}

impl Remote for SwarmWorker {
    fn host(&self) -> String {
        self.engine.clone()
    }

    fn truth_ns(&self, epoch_monotonic_ns: u64) -> Option<i64> {
        // A container on an engine of this machine reads this machine's
        // CLOCK_MONOTONIC: its own clock is the run's plus the epoch (and
        // the skew a test added).
        self.local.then(|| epoch_monotonic_ns as i64 + self.skew_ns)
    }

    fn start(&self) -> Result<Spawned, String> {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("redis-drill-worker-io")
                .enable_all()
                .build()
                .map_err(|e| format!("a runtime for its streams: {e}"))?,
        );
        let docker = engines::client(&self.endpoint).map_err(|e| e.to_string())?;
        let streams = rt
            .block_on(self.create_and_attach(&docker))
            .map_err(|e| format!("starting {} on {}: {e}", self.name, self.engine));
        let streams = match streams {
            Ok(s) => s,
            Err(e) => {
                let _ = rt.block_on(remove(&docker, &self.name));
                return Err(e);
            }
        };
        let (out_r, mut out_w) = std::io::pipe().map_err(|e| format!("a pipe: {e}"))?;
        let (err_r, mut err_w) = std::io::pipe().map_err(|e| format!("a pipe: {e}"))?;
        let mut output = streams.output;
        let pump_rt = rt.clone();
        // Its stdout and stderr into the pipes, until the stream ends (the
        // container exits or is removed).
        std::thread::Builder::new()
            .name("redis-drill-worker-out".into())
            .spawn(move || {
                pump_rt.block_on(async {
                    while let Some(Ok(msg)) = output.next().await {
                        let ok = match msg {
                            bollard::container::LogOutput::StdOut { message } => {
                                out_w.write_all(&message)
                            }
                            bollard::container::LogOutput::StdErr { message } => {
                                err_w.write_all(&message)
                            }
                            _ => Ok(()),
                        };
                        if ok.is_err() {
                            break;
                        }
                    }
                });
            })
            .map_err(|e| format!("a thread for its output: {e}"))?;
        let stdin = AttachIn {
            rt: rt.clone(),
            input: streams.input,
        };
        let name = self.name.clone();
        let mut ended: Option<Option<String>> = None;
        let end = move |grace: Duration| -> Option<String> {
            if let Some(e) = &ended {
                return e.clone();
            }
            let how = rt.block_on(async {
                // Let it exit by itself, bounded; then remove it.
                let until = Instant::now() + grace;
                let mut code = None;
                loop {
                    match docker.inspect_container(&name, None).await {
                        Ok(c) => {
                            let st = c.state.unwrap_or_default();
                            if st.running != Some(true) {
                                code = st.exit_code;
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                    if Instant::now() >= until {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let _ = remove(&docker, &name).await;
                code.map(|c| format!("exit code {c}"))
            });
            ended = Some(how.clone());
            how
        };
        Ok(Spawned {
            stdin: Box::new(stdin),
            stdout: Box::new(out_r) as Box<dyn Read + Send>,
            stderr: Box::new(err_r),
            end: Box::new(end),
        })
    }
}

async fn remove(docker: &bollard::Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .build();
    docker.remove_container(name, Some(opts)).await
}
