//! A lab of Docker engines on this machine, joined in a swarm: what the
//! swarm runtime's tests and users run multi-host drills on when they have
//! one host (`redis-drill lab up|down|status`, `just swarm-lab`).
//!
//! Each engine is a `dockerd` of its own in a network namespace of its own
//! (`rdlab-<i>`), with its own configuration file, data and exec roots,
//! socket and the `vfs` storage driver, and its own hostname (a UTS
//! namespace), which is its swarm node's name (`lab-<i>`). The namespaces
//! hang off one bridge on the host (`rdlab0`, [`SUBNET`]); they have no
//! default route, so nothing in them reaches past the bridge. The first
//! engine inits the swarm, the others join it, each labelled with its region
//! (`redis-drill.region`). `up` writes the engines file the swarm runtime
//! reads ([`crate::runtime::swarm::engines::lab_file`]).
//!
//! Two things this machine taught (see issue 28's notes in docs/swarm.md):
//! `ip netns exec` remounts `/sys` and hides the cgroup mounts from dockerd,
//! so engines are started with `nsenter --net`; and the host's `FORWARD`
//! policy (Docker's DROP) applies to bridged frames, so the lab's bridge gets
//! an ACCEPT rule of its own, tagged, removed by `down`.
//!
//! The engines share this machine's kernel, and so its one neighbour (ARP)
//! table, whose default limit a cluster of 33 nodes or more outgrows: `up`
//! raises the limits ([`neigh::Thresholds::LAB`]) and `down` puts back the
//! ones it found ([`crate::runtime::neigh`]).
//!
//! Everything of the lab is found again by name alone: `down` and a failed
//! `up` remove every engine (its processes, mounts and folders), every
//! namespace, the bridge and the rule, whatever state they are in.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runtime::error::RuntimeError;
use crate::runtime::host::{host, host_sync};
use crate::runtime::neigh::{self, Thresholds};
use crate::runtime::swarm::engines::{EngineSpec, EnginesFile, SshFiles, TlsFiles};

/// The lab's bridge on the host.
pub const BRIDGE: &str = "rdlab0";
/// The lab's /24: the host's end of the bridge is .1, engine `i` is .(10+i).
pub const SUBNET: [u8; 3] = [10, 213, 0];
/// The prefix of the engines' namespaces and host-side veths.
const NS_PREFIX: &str = "rdlab-";
/// The comment on the lab's iptables rule.
const RULE_TAG: &str = "redis-drill-lab";
/// The pool the swarm gives overlay networks from: clear of the lab's own
/// subnet and of Docker's default bridge pools.
const ADDR_POOL: &str = "10.214.0.0/16";
/// Regions given to the engines in turn when none are named: the shipped
/// three-region topologies'.
pub const DEFAULT_REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
/// The most engines a lab has (addresses .11 to .250, and 2 cores).
pub const MAX_ENGINES: usize = 16;
/// The swarm node label that carries a region.
pub const REGION_LABEL: &str = "redis-drill.region";

/// The port each lab engine also answers on with TLS (Docker's own).
pub const TLS_PORT: u16 = 2376;
/// The port each lab engine's sshd listens on.
pub const SSH_PORT: u16 = 22;
/// The lab's engines file over TLS, beside [`crate::runtime::swarm::engines::lab_file`].
pub fn tls_file() -> PathBuf {
    root().join("engines-tls.yaml")
}

/// The lab's engines file over SSH (written when this machine has `sshd`).
pub fn ssh_file() -> PathBuf {
    root().join("engines-ssh.yaml")
}

/// How long an engine may take to answer after it is started.
const ENGINE_READY: Duration = Duration::from_secs(60);
/// How long the swarm may take to see every engine ready.
const SWARM_READY: Duration = Duration::from_secs(60);
/// How long an engine may take to stop on SIGTERM before SIGKILL.
const ENGINE_STOP: Duration = Duration::from_secs(25);

/// Where the lab keeps its engines' folders and its engines file.
pub fn root() -> PathBuf {
    crate::runtime::state::base("-lab")
}

/// One engine of the lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabEngine {
    /// Its swarm node's hostname.
    pub name: String,
    /// Its namespace.
    pub netns: String,
    /// Its address on the lab's bridge.
    pub address: IpAddr,
    /// Its API socket.
    pub socket: PathBuf,
    /// Its region label.
    pub region: String,
}

/// What `lab up` made.
#[derive(Debug, Serialize)]
pub struct Lab {
    /// The engines, the manager first.
    pub engines: Vec<LabEngine>,
    /// The engines file written for the swarm runtime.
    pub engines_file: PathBuf,
    /// The same engines reached over TCP with TLS instead (each engine
    /// also listens on its address, port [`TLS_PORT`], `--tlsverify`, with
    /// certificates of a CA made for the lab): `REDIS_DRILL_ENGINES` may
    /// name it.
    pub engines_tls_file: PathBuf,
    /// The same engines reached over SSH (each engine's namespace runs an
    /// `sshd` of the lab's that forwards only unix sockets, to the lab's
    /// own key): when this machine has `sshd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engines_ssh_file: Option<PathBuf>,
    /// How long it took, in ms.
    pub elapsed_ms: u64,
    /// The kernel's neighbour-table thresholds (`gc_thresh1/2/3`) it found
    /// and raised, as `before -> now`, when it raised them: the engines
    /// share this machine's one table ([`crate::runtime::neigh`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbour_thresholds: Option<String>,
}

/// What `lab down` removed.
#[derive(Debug, Default, Serialize)]
pub struct LabRemoved {
    /// Engines stopped.
    pub engines: usize,
    /// Namespaces removed.
    pub namespaces: usize,
    /// Whether the bridge was there and is gone.
    pub bridge: bool,
    /// Processes that outlived their engine and were killed.
    pub stray_processes: usize,
    /// The neighbour-table thresholds put back as `lab up` found them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbour_thresholds: Option<String>,
}

fn engine(i: usize, region: &str) -> LabEngine {
    let name = format!("lab-{i}");
    LabEngine {
        netns: format!("{NS_PREFIX}{i}"),
        address: IpAddr::V4(Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], 10 + i as u8)),
        socket: root().join(&name).join("docker.sock"),
        region: region.to_string(),
        name,
    }
}

fn env_err(what: impl Into<String>) -> RuntimeError {
    RuntimeError::Environment(what.into())
}

/// Run a host command; a failure is an environment error naming it.
async fn run(args: &[&str]) -> Result<String, RuntimeError> {
    let out = host(args, None).await.map_err(|e| env_err(e.to_string()))?;
    if out.exit_code != 0 {
        return Err(env_err(format!(
            "`{}` failed: {}",
            args.join(" "),
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        )));
    }
    Ok(out.stdout)
}

/// Bring up `n` engines joined in one swarm, engine `i` labelled with
/// `regions[i % len]`; on any failure everything of the lab is removed
/// again before the error returns.
pub async fn up(n: usize, regions: &[String]) -> Result<Lab, RuntimeError> {
    if n == 0 || n > MAX_ENGINES {
        return Err(RuntimeError::BadInput(format!(
            "a lab has 1 to {MAX_ENGINES} engines, not {n}"
        )));
    }
    if regions.is_empty() || regions.iter().any(|r| r.is_empty()) {
        return Err(RuntimeError::BadInput("--regions names no region".into()));
    }
    if !crate::runtime::host::is_root() {
        return Err(env_err(
            "a lab needs root (network namespaces, a bridge, engines of its own)",
        ));
    }
    for program in ["dockerd", "nsenter", "unshare", "ip", "iptables"] {
        if crate::runtime::host::which(program).is_none() {
            return Err(env_err(format!(
                "a lab needs `{program}`, which is not installed"
            )));
        }
    }
    if bridge_exists() {
        return Err(env_err(format!(
            "a lab is up already (bridge {BRIDGE}); `redis-drill lab down` first"
        )));
    }
    let started = Instant::now();
    let engines: Vec<LabEngine> = (1..=n)
        .map(|i| engine(i, &regions[(i - 1) % regions.len()]))
        .collect();
    match make(&engines).await {
        Ok((file, raised)) => Ok(Lab {
            engines,
            engines_file: file,
            engines_tls_file: tls_file(),
            engines_ssh_file: ssh_file().exists().then(ssh_file),
            elapsed_ms: started.elapsed().as_millis() as u64,
            neighbour_thresholds: raised
                .map(|(before, now)| format!("{} -> {}", before.brief(), now.brief())),
        }),
        Err(e) => {
            tracing::warn!("the lab did not come up ({e}); removing what was made");
            if let Err(undo) = down().await {
                tracing::warn!("removing the half-made lab: {undo}");
            }
            Err(e)
        }
    }
}

async fn make(
    engines: &[LabEngine],
) -> Result<(PathBuf, Option<(Thresholds, Thresholds)>), RuntimeError> {
    // First, so that a failed `up` (which runs `down`) puts them back.
    let raised = neigh::raise_for_lab(&root())?;
    let host_ip = format!("{}.{}.{}.1/24", SUBNET[0], SUBNET[1], SUBNET[2]);
    run(&["ip", "link", "add", BRIDGE, "type", "bridge"]).await?;
    run(&["ip", "addr", "add", &host_ip, "dev", BRIDGE]).await?;
    run(&["ip", "link", "set", BRIDGE, "up"]).await?;
    allow_bridge().await?;
    // A CA of the lab's own: each engine's certificate for every engine's
    // address, and the client certificate the tool presents over TLS.
    let tls_dir = root().join("tls");
    std::fs::create_dir_all(&tls_dir)
        .map_err(RuntimeError::io(format!("creating {}", tls_dir.display())))?;
    let ips: Vec<IpAddr> = engines.iter().map(|e| e.address).collect();
    let ca = crate::net::ca::make(&tls_dir, &ips, &[]).map_err(env_err)?;
    for e in engines {
        let veth = e.netns.as_str();
        let addr = format!("{}/24", e.address);
        run(&["ip", "netns", "add", &e.netns]).await?;
        run(&[
            "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", &e.netns,
        ])
        .await?;
        run(&["ip", "link", "set", veth, "master", BRIDGE, "up"]).await?;
        run(&["ip", "-n", &e.netns, "addr", "add", &addr, "dev", "eth0"]).await?;
        run(&["ip", "-n", &e.netns, "link", "set", "eth0", "up"]).await?;
        run(&["ip", "-n", &e.netns, "link", "set", "lo", "up"]).await?;
        start_engine(e, &ca)?;
    }
    let mut connected = Vec::new();
    for e in engines {
        connected.push(wait_engine(e).await?);
    }
    join_swarm(engines, &connected).await?;
    let file = EnginesFile {
        manager: engines[0].name.clone(),
        engines: engines
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    EngineSpec {
                        endpoint: format!("unix://{}", e.socket.display()),
                        address: e.address,
                        tls: None,
                        ssh: None,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    };
    let path = crate::runtime::swarm::engines::lab_file();
    let text = format!(
        "# Written by `redis-drill lab up`: the lab's engines, for the swarm runtime.\n{}",
        serde_saphyr::to_string(&file).map_err(|e| env_err(e.to_string()))?
    );
    std::fs::write(&path, text).map_err(RuntimeError::io(format!("writing {}", path.display())))?;
    let mut over_tls = file.clone();
    for (e, spec) in engines.iter().zip(over_tls.engines.values_mut()) {
        spec.endpoint = format!("tcp://{}:{TLS_PORT}", e.address);
        spec.tls = Some(TlsFiles {
            ca: ca.ca.clone(),
            cert: ca.client_cert.clone(),
            key: ca.client_key.clone(),
        });
    }
    let text = format!(
        "# Written by `redis-drill lab up`: the lab's engines over TCP with TLS, for the swarm runtime.\n{}",
        serde_saphyr::to_string(&over_tls).map_err(|e| env_err(e.to_string()))?
    );
    std::fs::write(tls_file(), text).map_err(RuntimeError::io(format!(
        "writing {}",
        tls_file().display()
    )))?;
    if let Some(ssh) = start_sshds(engines).await? {
        let mut over_ssh = file.clone();
        for (e, spec) in engines.iter().zip(over_ssh.engines.values_mut()) {
            spec.endpoint = format!("ssh://root@{}{}", e.address, e.socket.display());
            spec.ssh = Some(SshFiles {
                key: Some(ssh.join("id_ed25519")),
                known_hosts: Some(ssh.join("known_hosts")),
            });
        }
        let text = format!(
            "# Written by `redis-drill lab up`: the lab's engines over SSH, for the swarm runtime.\n{}",
            serde_saphyr::to_string(&over_ssh).map_err(|e| env_err(e.to_string()))?
        );
        std::fs::write(ssh_file(), text).map_err(RuntimeError::io(format!(
            "writing {}",
            ssh_file().display()
        )))?;
    }
    Ok((path, raised))
}

/// An `sshd` in each engine's namespace, listening on its address, that
/// lets the lab's own key forward unix sockets (`-L`) and nothing else: the
/// swarm runtime's SSH endpoints, tried here. Its keys and known-hosts file
/// in the lab's `ssh/` folder, which it returns; `None` (and a note) when
/// this machine has no `sshd`.
async fn start_sshds(engines: &[LabEngine]) -> Result<Option<PathBuf>, RuntimeError> {
    let Some(sshd) = crate::runtime::host::which("sshd")
        .or_else(|| Some(PathBuf::from("/usr/sbin/sshd")).filter(|p| p.is_file()))
    else {
        crate::note!("lab: no sshd on this machine, so no engines-ssh.yaml");
        return Ok(None);
    };
    let dir = root().join("ssh");
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
    for key in ["id_ed25519", "host_ed25519"] {
        let path = dir.join(key);
        run(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "redis-drill-lab",
            "-f",
            &path.to_string_lossy(),
        ])
        .await?;
    }
    let public = |key: &str| -> Result<String, RuntimeError> {
        let p = dir.join(format!("{key}.pub"));
        let text = std::fs::read_to_string(&p)
            .map_err(RuntimeError::io(format!("reading {}", p.display())))?;
        Ok(text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    };
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(RuntimeError::io(format!("writing {}", p.display())))
    };
    write(
        "authorized_keys",
        format!("{} redis-drill-lab\n", public("id_ed25519")?),
    )?;
    let host_key = public("host_ed25519")?;
    write(
        "known_hosts",
        engines
            .iter()
            .map(|e| format!("{} {host_key}\n", e.address))
            .collect(),
    )?;
    // sshd's privilege-separation folder, which its package's service
    // makes at boot.
    std::fs::create_dir_all("/run/sshd").map_err(RuntimeError::io("creating /run/sshd"))?;
    for e in engines {
        let edir = root().join(&e.name);
        let conf = edir.join("sshd_config");
        // AllowTcpForwarding local, not no: this sshd (OpenSSH 9.2) denies
        // stream-local forwarding too when TCP forwarding is off, and
        // `PermitOpen none` denies it as well (both tried).
        let text = format!(
            "ListenAddress {addr}:{SSH_PORT}\nHostKey {dir}/host_ed25519\nPidFile {edir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nAllowStreamLocalForwarding local\nAllowTcpForwarding local\n\
             AllowAgentForwarding no\nX11Forwarding no\nPermitTTY no\nForceCommand /bin/false\n",
            addr = e.address,
            dir = dir.display(),
            edir = edir.display(),
        );
        std::fs::write(&conf, text)
            .map_err(RuntimeError::io(format!("writing {}", conf.display())))?;
        let netns = format!("--net=/var/run/netns/{}", e.netns);
        let log = edir.join("sshd.log");
        run(&[
            "nsenter",
            &netns,
            &sshd.to_string_lossy(),
            "-f",
            &conf.to_string_lossy(),
            "-E",
            &log.to_string_lossy(),
        ])
        .await?;
    }
    // Each writes its pid file once it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    for e in engines {
        let pid = root().join(&e.name).join("sshd.pid");
        while !pid.exists() {
            if Instant::now() > deadline {
                return Err(env_err(format!(
                    "the sshd of {} did not start (its log: {})",
                    e.name,
                    root().join(&e.name).join("sshd.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(Some(dir))
}

/// Start engine `e`'s dockerd in its namespace, detached, its output in
/// its folder's `dockerd.log`.
fn start_engine(e: &LabEngine, ca: &crate::net::ca::CaFiles) -> Result<(), RuntimeError> {
    let dir = root().join(&e.name);
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
    // An empty configuration: the host's daemon.json sets data-root and the
    // storage driver, which would clash with the flags below.
    let conf = dir.join("daemon.json");
    std::fs::write(&conf, "{}\n")
        .map_err(RuntimeError::io(format!("writing {}", conf.display())))?;
    let log = std::fs::File::create(dir.join("dockerd.log")).map_err(RuntimeError::io(format!(
        "creating {}/dockerd.log",
        dir.display()
    )))?;
    let d = |p: &str| dir.join(p).display().to_string();
    let script = format!(
        "hostname {name} && exec dockerd --config-file {conf} --data-root {data} --exec-root {exec} \
         --pidfile {pid} -H unix://{sock} -H tcp://{addr}:{TLS_PORT} --tlsverify --tlscacert {ca} \
         --tlscert {cert} --tlskey {key} --storage-driver vfs --cgroup-parent {ns} --log-level warn",
        addr = e.address,
        ca = ca.ca.display(),
        cert = ca.server_cert.display(),
        key = ca.server_key.display(),
        name = e.name,
        conf = conf.display(),
        data = d("data"),
        exec = d("exec"),
        pid = d("dockerd.pid"),
        sock = e.socket.display(),
        ns = e.netns,
    );
    let netns = format!("--net=/var/run/netns/{}", e.netns);
    let mut cmd = std::process::Command::new("nsenter");
    cmd.args([netns.as_str(), "unshare", "--uts", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(RuntimeError::io("the engine's log"))?,
        )
        .stderr(log);
    // Its own session: the engine outlives this command.
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
    cmd.spawn()
        .map_err(RuntimeError::io(format!("starting the engine {}", e.name)))?;
    Ok(())
}

/// Wait until engine `e` answers, and connect to it.
async fn wait_engine(e: &LabEngine) -> Result<bollard::Docker, RuntimeError> {
    let deadline = Instant::now() + ENGINE_READY;
    loop {
        // The client checks that the socket is there when it is made.
        if e.socket.exists()
            && let Ok(docker) = bollard::Docker::connect_with_unix(
                &e.socket.to_string_lossy(),
                120,
                bollard::API_DEFAULT_VERSION,
            )
            && docker.ping().await.is_ok()
        {
            return Ok(docker);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(root().join(&e.name).join("dockerd.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(env_err(format!(
                "engine {} did not answer within {} s; its log ends: {}",
                e.name,
                ENGINE_READY.as_secs(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Init the swarm on the first engine, join the others to it, label each
/// node with its region, and wait until the manager sees all of them ready.
async fn join_swarm(
    engines: &[LabEngine],
    dockers: &[bollard::Docker],
) -> Result<(), RuntimeError> {
    use bollard::models::{SwarmInitRequest, SwarmJoinRequest};
    let manager = &dockers[0];
    let lab_err = |what: String| move |e: bollard::errors::Error| env_err(format!("{what}: {e}"));
    let addr = engines[0].address.to_string();
    manager
        .init_swarm(SwarmInitRequest {
            listen_addr: Some("0.0.0.0:2377".into()),
            advertise_addr: Some(addr.clone()),
            default_addr_pool: Some(vec![ADDR_POOL.into()]),
            subnet_size: Some(24),
            ..Default::default()
        })
        .await
        .map_err(lab_err(format!("swarm init on {}", engines[0].name)))?;
    let swarm = manager
        .inspect_swarm()
        .await
        .map_err(lab_err("inspecting the swarm".into()))?;
    let token = swarm
        .join_tokens
        .and_then(|t| t.worker)
        .ok_or_else(|| env_err("the swarm gave no worker join token"))?;
    for (e, d) in engines.iter().zip(dockers).skip(1) {
        d.join_swarm(SwarmJoinRequest {
            listen_addr: Some("0.0.0.0:2377".into()),
            advertise_addr: Some(e.address.to_string()),
            remote_addrs: Some(vec![format!("{addr}:2377")]),
            join_token: Some(token.clone()),
            ..Default::default()
        })
        .await
        .map_err(lab_err(format!("{} joining the swarm", e.name)))?;
    }
    let deadline = Instant::now() + SWARM_READY;
    loop {
        let nodes = manager
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(lab_err("listing the swarm's nodes".into()))?;
        let ready: Vec<_> = nodes
            .iter()
            .filter(|n| {
                n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
            })
            .collect();
        if ready.len() == engines.len() {
            for n in ready {
                let host = n
                    .description
                    .as_ref()
                    .and_then(|d| d.hostname.clone())
                    .unwrap_or_default();
                let Some(e) = engines.iter().find(|e| e.name == host) else {
                    return Err(env_err(format!(
                        "the swarm has a node `{host}` the lab did not start"
                    )));
                };
                let mut spec = n.spec.clone().unwrap_or_default();
                spec.labels
                    .get_or_insert_with(Default::default)
                    .insert(REGION_LABEL.into(), e.region.clone());
                let version = n.version.as_ref().and_then(|v| v.index).unwrap_or(0) as i64;
                manager
                    .update_node(
                        n.id.as_deref().unwrap_or_default(),
                        spec,
                        bollard::query_parameters::UpdateNodeOptionsBuilder::default()
                            .version(version)
                            .build(),
                    )
                    .await
                    .map_err(lab_err(format!("labelling {host}")))?;
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(env_err(format!(
                "the swarm saw {} of {} engines ready within {} s",
                ready.len(),
                engines.len(),
                SWARM_READY.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn bridge_exists() -> bool {
    Path::new("/sys/class/net").join(BRIDGE).exists()
}

/// The rule that lets frames cross the lab's bridge past the host's
/// `FORWARD` policy, in Docker's `DOCKER-USER` chain when the host has one.
fn rule_chain() -> &'static str {
    let has_user = host_sync(&["iptables", "-S", "DOCKER-USER"]).is_ok_and(|o| o.exit_code == 0);
    if has_user { "DOCKER-USER" } else { "FORWARD" }
}

fn rule(chain: &'static str) -> [&'static str; 11] {
    [
        chain,
        "-i",
        BRIDGE,
        "-o",
        BRIDGE,
        "-m",
        "comment",
        "--comment",
        RULE_TAG,
        "-j",
        "ACCEPT",
    ]
}

async fn allow_bridge() -> Result<(), RuntimeError> {
    let chain = rule_chain();
    let mut args = vec!["iptables", "-I"];
    args.extend(rule(chain));
    run(&args).await.map(|_| ())
}

/// The lab's engines as its folders and namespaces show them.
fn present() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("lab-"))
        .collect();
    names.sort();
    names
}

/// The lab's namespaces on this machine.
fn namespaces() -> Vec<String> {
    host_sync(&["ip", "netns", "list"])
        .map(|o| {
            o.stdout
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| n.starts_with(NS_PREFIX))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Remove the lab, whatever state it is in: engines (SIGTERM, then SIGKILL),
/// the processes they left, their mounts and folders, the namespaces, the
/// bridge and its rule, the engines file. Idempotent.
pub async fn down() -> Result<LabRemoved, RuntimeError> {
    let mut removed = LabRemoved::default();
    let root = root();
    // First: nothing below may return before the kernel's limits are back.
    removed.neighbour_thresholds = neigh::restore(&root)?.map(Thresholds::brief);
    for name in present() {
        let dir = root.join(&name);
        if let Some(pid) = std::fs::read_to_string(dir.join("sshd.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            stop(pid).await;
        }
        let pid = std::fs::read_to_string(dir.join("dockerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = pid
            && stop(pid).await
        {
            removed.engines += 1;
        }
    }
    // What outlived its engine (shims, a containerd, an engine whose pid
    // file was not written yet): every process whose command line names
    // the lab's folder.
    removed.stray_processes = kill_strays(&root);
    unmount_under(&root);
    for ns in namespaces() {
        if host(&["ip", "netns", "del", &ns], None)
            .await
            .is_ok_and(|o| o.exit_code == 0)
        {
            removed.namespaces += 1;
        }
    }
    if bridge_exists() {
        run(&["ip", "link", "del", BRIDGE]).await?;
        removed.bridge = true;
    }
    for chain in ["DOCKER-USER", "FORWARD"] {
        let mut args = vec!["iptables", "-D"];
        args.extend(rule(chain));
        // Bounded: one rule per `up`, and `up` refuses a second lab.
        for _ in 0..8 {
            if !host(&args, None).await.is_ok_and(|o| o.exit_code == 0) {
                break;
            }
        }
    }
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .map_err(RuntimeError::io(format!("removing {}", root.display())))?;
    }
    Ok(removed)
}

/// SIGTERM `pid` and wait for it to end (an engine stops its containers
/// first), SIGKILL after [`ENGINE_STOP`]. Whether it was running.
async fn stop(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    // SAFETY: signalling a process by pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + ENGINE_STOP;
    // SAFETY: as above.
    while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    true
}

fn kill_strays(root: &Path) -> usize {
    let needle = root.to_string_lossy().into_owned();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) && pid != std::process::id() as i32 {
            // SAFETY: signalling a process by pid.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}

/// Lazily unmount everything mounted under `root`, deepest first.
fn unmount_under(root: &Path) {
    let needle = root.to_string_lossy().into_owned();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| p.starts_with(&needle))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = host_sync(&["umount", "-l", p]);
    }
}

/// The lab's engines file, when a lab is up.
pub fn status() -> Option<EnginesFile> {
    let path = crate::runtime::swarm::engines::lab_file();
    if !bridge_exists() {
        return None;
    }
    EnginesFile::load(&path).ok()
}
