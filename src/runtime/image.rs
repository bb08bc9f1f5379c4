//! The default Redis image, built offline: the engine here has no images and no
//! registry to pull from, so we build `FROM scratch` from the host's own
//! redis-server and redis-cli, the shared libraries `ldd` says they load, and
//! iptables (with its dlopen'ed extensions) for partitions inside a node's
//! network namespace.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bollard::Docker;
use futures::StreamExt;

use super::deployment::labels;
use super::error::RuntimeError;
use super::host::which;

/// The image `up` uses when a topology names none. A stable tag, so compose
/// files and scripts can name it; `redis-drill image build` rebuilds it.
pub const DEFAULT_IMAGE: &str = "redis-drill/redis:local";

/// Where Debian keeps iptables' extension modules; iptables dlopens them, so
/// `ldd` never lists them.
const XTABLES_DIR: &str = "/usr/lib/x86_64-linux-gnu/xtables";

/// A file to put into the image: where it comes from on the host and where it
/// goes in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    host: PathBuf,
    image: PathBuf,
}

/// What the image will hold, gathered from the host.
#[derive(Debug)]
pub struct Contents {
    files: BTreeSet<Entry>,
    symlinks: Vec<Symlink>,
    /// The server's version, which the image will run (`7.0.15`).
    pub redis_version: String,
    /// Where the server sits in the image: its entrypoint.
    entrypoint: String,
    /// Whether iptables goes in too (partitions inside containers need it).
    pub has_iptables: bool,
}

fn missing(p: &str) -> RuntimeError {
    RuntimeError::Environment(format!(
        "{p} not found on this host; install it (apt-get install redis-server redis-tools) to build the image"
    ))
}

/// The image a node runs `server` in when its topology names no image: one
/// per server, built here from its binary on first use. The host's
/// redis-server (`redis`, `redis-7.0`) is [`DEFAULT_IMAGE`]; a binary by path
/// gets a tag of its own from its path and modification time.
pub fn for_server(server: &crate::topology::Server) -> String {
    use crate::topology::Server;
    match server {
        Server::Redis | Server::Redis70 => DEFAULT_IMAGE.to_string(),
        Server::Path(p) => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            p.hash(&mut h);
            if let Ok(m) = std::fs::metadata(p).and_then(|m| m.modified()) {
                m.hash(&mut h);
            }
            format!("redis-drill/server-{:08x}:local", h.finish() as u32)
        }
        named => format!("redis-drill/{named}:local"),
    }
}

/// The shared libraries a binary loads, as `ldd` lists them (absolute paths).
fn ldd(binary: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(RuntimeError::io(format!(
            "running ldd {}",
            binary.display()
        )))?;
    if !out.status.success() {
        return Err(RuntimeError::Environment(format!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse `ldd` output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the
/// interpreter line `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A symlink in the image: where it sits, and what it points to.
type Symlink = (PathBuf, String);

/// Add the host's iptables to the image, when it has one: nft first (it is
/// what Debian's `iptables` is, and it works in a container's namespace with
/// NET_ADMIN alone; so does legacy, on the kernels we run on: either serves
/// the docker backend's partitions), its dlopen'ed extensions, and the
/// `iptables*` names as symlinks. Whether there was one.
fn add_iptables(
    files: &mut BTreeSet<Entry>,
    binaries: &mut Vec<PathBuf>,
    symlinks: &mut Vec<Symlink>,
) -> bool {
    let nft = which("xtables-nft-multi");
    let legacy = which("xtables-legacy-multi");
    let mut add = |host: &PathBuf, multi: &str, names: &[&str]| {
        files.insert(Entry {
            host: host.clone(),
            image: format!("/usr/sbin/{multi}").into(),
        });
        binaries.push(host.clone());
        for name in names {
            symlinks.push((
                PathBuf::from(format!("/usr/sbin/{name}")),
                multi.to_string(),
            ));
        }
    };
    if let Some(nft) = &nft {
        let names = ["iptables", "iptables-save", "iptables-restore", "ip6tables"];
        add(nft, "xtables-nft-multi", &names);
    }
    if let Some(legacy) = &legacy {
        add(
            legacy,
            "xtables-legacy-multi",
            &["iptables-legacy", "iptables-legacy-restore"],
        );
        // The partitions run `iptables` and `iptables-restore`: without nft
        // they must be the legacy ones.
        if nft.is_none() {
            for name in ["iptables", "iptables-restore", "iptables-save"] {
                let link = PathBuf::from(format!("/usr/sbin/{name}"));
                symlinks.push((link, "xtables-legacy-multi".to_string()));
            }
        }
    }
    let has_iptables = nft.is_some() || legacy.is_some();
    if has_iptables && let Ok(dir) = std::fs::read_dir(XTABLES_DIR) {
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "so") && p.is_file() {
                files.insert(Entry {
                    host: p.clone(),
                    image: p.clone(),
                });
                binaries.push(p);
            }
        }
    }
    has_iptables
}

impl Contents {
    /// Gather the files from the host. Fails (environment error) when
    /// redis-server or redis-cli is missing; iptables is optional.
    pub fn gather() -> Result<Contents, RuntimeError> {
        let server = which("redis-server").ok_or_else(|| missing("redis-server"))?;
        Self::gather_for(&server)
    }

    /// Gather the files of an image that runs `server` (a redis-server or
    /// valkey-server binary), with the host's redis-cli and iptables.
    pub fn gather_for(server: &Path) -> Result<Contents, RuntimeError> {
        let cli = which("redis-cli").ok_or_else(|| missing("redis-cli"))?;
        let redis_version = crate::runtime::servers::ask_version(server)?.1;
        // Debian's redis-server is a symlink to redis-check-rdb; the binary picks
        // its mode from argv[0], so it must sit in the image under the name
        // it was called by (redis-server, valkey-server).
        let name = server.file_name().map_or_else(
            || "redis-server".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let entrypoint = format!("/usr/bin/{name}");

        let mut files = BTreeSet::new();
        let mut binaries: Vec<PathBuf> = Vec::new();
        for (src, dst) in [
            (server, entrypoint.as_str()),
            (cli.as_path(), "/usr/bin/redis-cli"),
        ] {
            let real = src
                .canonicalize()
                .map_err(RuntimeError::io(format!("resolving {}", src.display())))?;
            files.insert(Entry {
                host: real.clone(),
                image: dst.into(),
            });
            binaries.push(real);
        }

        let mut symlinks = Vec::new();
        let has_iptables = add_iptables(&mut files, &mut binaries, &mut symlinks);

        for bin in &binaries {
            for lib in ldd(bin)? {
                files.insert(Entry {
                    host: lib.clone(),
                    image: lib,
                });
            }
        }
        for etc in ["/etc/protocols", "/etc/services"] {
            if Path::new(etc).is_file() {
                files.insert(Entry {
                    host: etc.into(),
                    image: etc.into(),
                });
            }
        }
        Ok(Contents {
            files,
            symlinks,
            redis_version,
            entrypoint,
            has_iptables,
        })
    }

    /// The build context: a Dockerfile and a rootfs/ tree, as a tar archive.
    pub fn context_tar(&self) -> Result<Vec<u8>, RuntimeError> {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(true);
        let dockerfile = format!(
            "FROM scratch\nCOPY rootfs/ /\nWORKDIR /data\nENTRYPOINT [\"{}\"]\n\
             LABEL {}={} redis-drill.redis-version={}\n",
            self.entrypoint,
            labels::TOOL,
            labels::TOOL_VALUE,
            self.redis_version
        );
        append_bytes(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)?;
        append_bytes(
            &mut tar,
            "rootfs/etc/passwd",
            b"root:x:0:0:root:/root:/nonexistent\n",
            0o644,
        )?;
        append_bytes(&mut tar, "rootfs/etc/group", b"root:x:0:\n", 0o644)?;
        for dir in ["rootfs/data", "rootfs/tmp", "rootfs/run"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(if dir.ends_with("tmp") { 0o1777 } else { 0o755 });
            h.set_size(0);
            h.set_cksum();
            tar.append_data(&mut h, dir, std::io::empty())
                .map_err(RuntimeError::io("writing the image context"))?;
        }
        for e in &self.files {
            let rel = Path::new("rootfs").join(e.image.strip_prefix("/").unwrap_or(&e.image));
            tar.append_path_with_name(&e.host, &rel)
                .map_err(RuntimeError::io(format!(
                    "adding {} to the image context",
                    e.host.display()
                )))?;
        }
        for (link, target) in &self.symlinks {
            let rel = Path::new("rootfs").join(link.strip_prefix("/").unwrap_or(link));
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            tar.append_link(&mut h, &rel, target)
                .map_err(RuntimeError::io("writing a symlink into the image context"))?;
        }
        tar.into_inner()
            .map_err(RuntimeError::io("finishing the image context"))
    }

    /// How many files the image holds, for `image build`'s report.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

fn append_bytes(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), RuntimeError> {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(mode);
    h.set_cksum();
    tar.append_data(&mut h, path, bytes)
        .map_err(RuntimeError::io("writing the image context"))
}

/// What `image build` did.
#[derive(Debug, serde::Serialize)]
pub struct Built {
    /// The tag built.
    pub image: String,
    /// The host's redis-server version, which the image will run.
    pub redis_version: String,
    /// Files copied in from the host.
    pub files: usize,
    /// The build context's size, as sent to the engine.
    pub context_bytes: usize,
    /// Whether the image has iptables.
    pub iptables: bool,
    /// How long the build took.
    pub elapsed_ms: u64,
}

/// Build `tag` from the host's binaries.
pub async fn build(docker: &Docker, tag: &str) -> Result<Built, RuntimeError> {
    let server = which("redis-server").ok_or_else(|| missing("redis-server"))?;
    build_for(docker, tag, &server).await
}

/// Build `tag` to run the `server` binary, with the host's tools.
pub async fn build_for(docker: &Docker, tag: &str, server: &Path) -> Result<Built, RuntimeError> {
    let started = Instant::now();
    let server = server.to_path_buf();
    let contents = tokio::task::spawn_blocking(move || Contents::gather_for(&server))
        .await
        .map_err(|e| RuntimeError::Environment(format!("gathering image files: {e}")))??;
    let tar = contents.context_tar()?;
    let context_bytes = tar.len();
    tracing::info!(
        image = tag,
        files = contents.file_count(),
        bytes = context_bytes,
        "building image"
    );
    run_build(docker, tag, tar).await?;
    Ok(Built {
        image: tag.into(),
        files: contents.file_count(),
        redis_version: contents.redis_version,
        context_bytes,
        iptables: contents.has_iptables,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// The worker image on top of `base` (a node image, which holds the C
/// library the binary needs): this very redis-drill binary at
/// `/redis-drill`, with the shared libraries `ldd` says it loads, as its
/// entrypoint. Its tag names the base and the binary (size and modification
/// time), so a rebuilt tool gets a new image. Built on `docker` when it is
/// not there yet; its tag.
pub async fn ensure_worker(docker: &Docker, base: &str) -> Result<String, RuntimeError> {
    let exe = std::env::current_exe().map_err(RuntimeError::io("finding this executable"))?;
    let meta =
        std::fs::metadata(&exe).map_err(RuntimeError::io(format!("reading {}", exe.display())))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(base, meta.len(), mtime), &mut h);
    let tag = format!("redis-drill/worker:{:016x}", std::hash::Hasher::finish(&h));
    if present(docker, &tag).await? {
        return Ok(tag);
    }
    let started = Instant::now();
    let base2 = base.to_string();
    let tar = tokio::task::spawn_blocking(move || worker_context(&exe, &base2))
        .await
        .map_err(|e| RuntimeError::Environment(format!("gathering the worker image: {e}")))??;
    tracing::info!(image = %tag, bytes = tar.len(), "building the worker image");
    run_build(docker, &tag, tar).await?;
    tracing::info!(image = %tag, elapsed_ms = started.elapsed().as_millis() as u64, "worker image built");
    Ok(tag)
}

/// Build `tag` from the context `tar` on `docker`; the build's log goes into
/// the error when it fails.
async fn run_build(docker: &Docker, tag: &str, tar: Vec<u8>) -> Result<(), RuntimeError> {
    let opts = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
    let mut log = String::new();
    while let Some(msg) = stream.next().await {
        let info = msg.map_err(|source| RuntimeError::Docker {
            context: format!("building image {tag}"),
            source,
        })?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Image {
                image: tag.into(),
                reason: format!("build failed: {detail}\n{log}"),
            });
        }
        if let Some(s) = info.stream {
            log.push_str(&s);
        }
    }
    Ok(())
}

/// The worker image's build context: a Dockerfile from `base`, the binary
/// and its libraries.
fn worker_context(exe: &Path, base: &str) -> Result<Vec<u8>, RuntimeError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    let dockerfile = format!(
        "FROM {base}\nCOPY rootfs/ /\nENTRYPOINT [\"/redis-drill\"]\nLABEL {}={}\n",
        labels::TOOL,
        labels::TOOL_VALUE,
    );
    append_bytes(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)?;
    // Without its debug information (a debug build's binary is ~190 MB,
    // and each engine of a lab keeps its own copy), when objcopy is here.
    let stripped = tempfile::NamedTempFile::new()
        .map_err(RuntimeError::io("a temporary file for the worker binary"))?;
    let strip_ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(exe)
        .arg(stripped.path())
        .output()
        .is_ok_and(|o| o.status.success());
    let binary = if strip_ok { stripped.path() } else { exe };
    // As a plain file: a binary the linker left sparse would otherwise go
    // in as a GNU sparse entry, which the engine's builder refuses.
    let file = std::fs::File::open(binary)
        .map_err(RuntimeError::io(format!("reading {}", binary.display())))?;
    let len = file
        .metadata()
        .map_err(RuntimeError::io(format!("reading {}", binary.display())))?
        .len();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(len);
    h.set_cksum();
    tar.append_data(&mut h, "rootfs/redis-drill", file)
        .map_err(RuntimeError::io(format!(
            "adding {} to the worker image",
            exe.display()
        )))?;
    for lib in ldd(exe)? {
        let rel = Path::new("rootfs").join(lib.strip_prefix("/").unwrap_or(&lib));
        tar.append_path_with_name(&lib, &rel)
            .map_err(RuntimeError::io(format!(
                "adding {} to the worker image",
                lib.display()
            )))?;
    }
    tar.into_inner()
        .map_err(RuntimeError::io("finishing the worker image context"))
}

/// Whether the engine has `image` locally.
pub async fn present(docker: &Docker, image: &str) -> Result<bool, RuntimeError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(source) => Err(RuntimeError::Docker {
            context: format!("inspecting image {image}"),
            source,
        }),
    }
}

/// Make `image` available without any registry: use it if present, build it
/// if it is the image of a node's `server` ([`for_server`]); anything else
/// must already be on the engine (the swarm runtime: no engine may reach
/// for a registry).
pub async fn ensure_local(
    docker: &Docker,
    image: &str,
    server: &crate::topology::Server,
) -> Result<(), RuntimeError> {
    if image == for_server(server) {
        return ensure(docker, image, server).await;
    }
    if present(docker, image).await? {
        return Ok(());
    }
    Err(RuntimeError::Image {
        image: image.into(),
        reason: "not on this engine, and nothing is ever pulled here: load it onto every engine first (docker save IMAGE | docker -H ENGINE load)".into(),
    })
}

/// Make `image` available: use it if present; build it if it is the image
/// of a node's `server` ([`for_server`]); otherwise try to pull it, and say
/// clearly when that is impossible.
pub async fn ensure(
    docker: &Docker,
    image: &str,
    server: &crate::topology::Server,
) -> Result<(), RuntimeError> {
    if present(docker, image).await? {
        return Ok(());
    }
    if image == for_server(server) {
        let binary = crate::runtime::servers::find(server)?.binary;
        crate::note!("building {image} from {} (first use)...", binary.display());
        let built = build_for(docker, image, &binary).await?;
        crate::note!("built {} in {} ms", built.image, built.elapsed_ms);
        return Ok(());
    }
    tracing::info!(image, "image not present; trying to pull");
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (image, "latest"),
    };
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(repo)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(opts), None, None);
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(info) => {
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(RuntimeError::Image {
                        image: image.into(),
                        reason: format!("not present locally and the pull failed: {err}"),
                    });
                }
            }
            Err(e) => {
                return Err(RuntimeError::Image {
                    image: image.into(),
                    reason: format!("not present locally and the pull failed: {e}"),
                });
            }
        }
    }
    if present(docker, image).await? {
        Ok(())
    } else {
        Err(RuntimeError::Image {
            image: image.into(),
            reason: "not present locally and the pull produced nothing".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_parses() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\
                    \tlibmissing.so => not found\n";
        assert_eq!(
            parse_ldd(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }
}
