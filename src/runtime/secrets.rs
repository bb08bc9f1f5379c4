//! The credentials of a topology with `security:`, made at bring-up in the
//! run's folder (`secrets/`, readable by its owner only) and removed with
//! it: a throwaway CA and a server certificate for every address of the
//! run's block, a random password, and the credentials file the tool's own
//! connections and every later command read. Nothing here reaches a
//! report or a log; the redis.conf of each node names the files and holds
//! the password, as a real deployment's does.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::RuntimeError;
use crate::net::ca::{self, CaFiles};
use crate::topology::{AuthMode, Kind, SecuritySpec};

/// The ACL user the tool connects as under `auth: acl`.
pub const ACL_USER: &str = "drill";

/// What bring-up made.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub dir: PathBuf,
    pub ca: Option<CaFiles>,
    password: Option<String>,
    /// The credentials file (YAML, [`crate::net::secure`]'s format).
    pub credentials: PathBuf,
}

fn dir_of(run_dir: &Path) -> PathBuf {
    run_dir.join("secrets")
}

/// Make the secrets of `spec` for a run whose nodes live on `ips`.
pub fn make(run_dir: &Path, spec: SecuritySpec, ips: &[IpAddr]) -> Result<Secrets, RuntimeError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = dir_of(run_dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
    let ca = if spec.tls {
        Some(ca::make(&dir, ips, &[]).map_err(RuntimeError::Environment)?)
    } else {
        None
    };
    let password = (spec.auth != AuthMode::None).then(|| {
        (0..4)
            .map(|_| format!("{:08x}", rand::random::<u32>()))
            .collect::<String>()
    });
    let mut text = String::from("# made by redis-drill at bring-up; removed with the run\n");
    if let Some(p) = &password {
        if spec.auth == AuthMode::Acl {
            text.push_str(&format!("user: {ACL_USER}\n"));
        }
        text.push_str(&format!("password: {p}\n"));
    }
    if let Some(c) = &ca {
        text.push_str(&format!("tls:\n  ca: {}\n", c.ca.display()));
    }
    let credentials = dir.join("credentials.yaml");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&credentials)
        .map_err(RuntimeError::io(format!(
            "writing {}",
            credentials.display()
        )))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(RuntimeError::io(format!(
        "writing {}",
        credentials.display()
    )))?;
    Ok(Secrets {
        dir,
        ca,
        password,
        credentials,
    })
}

impl Secrets {
    /// The same secrets as a node sees them with [`Self::dir`] mounted at
    /// `dir` (docker: `/secrets`).
    pub fn relocated(&self, dir: &Path) -> Secrets {
        let at = |p: &Path| dir.join(p.file_name().expect("a secrets file has a name"));
        Secrets {
            dir: dir.to_path_buf(),
            ca: self.ca.as_ref().map(|c| CaFiles {
                ca: at(&c.ca),
                server_cert: at(&c.server_cert),
                server_key: at(&c.server_key),
                client_cert: at(&c.client_cert),
                client_key: at(&c.client_key),
            }),
            password: self.password.clone(),
            credentials: at(&self.credentials),
        }
    }
}

/// Every address of the process runtime's block `127.0.B.0/24`: the server
/// certificate covers nodes added later too.
pub fn block_ips(block: u8) -> Vec<IpAddr> {
    (1..=254)
        .map(|h| IpAddr::V4(Ipv4Addr::new(127, 0, block, h)))
        .collect()
}

/// Read back what [`make`] wrote in `run_dir` (a node added later).
pub fn load(run_dir: &Path, spec: SecuritySpec) -> Result<Secrets, RuntimeError> {
    let dir = dir_of(run_dir);
    let credentials = dir.join("credentials.yaml");
    let text = std::fs::read_to_string(&credentials).map_err(RuntimeError::io(format!(
        "reading {}",
        credentials.display()
    )))?;
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .map(str::to_string);
    let ca = spec.tls.then(|| CaFiles {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    });
    Ok(Secrets {
        dir,
        ca,
        password,
        credentials,
    })
}

/// The redis.conf directives that make a node serve `spec` with these
/// secrets; `port` moves to `tls-port` under TLS (the plain port off).
pub fn directives(
    spec: SecuritySpec,
    kind: Kind,
    secrets: &Secrets,
    out: &mut Vec<(String, String)>,
) {
    if let Some(c) = &secrets.ca {
        if let Some(p) = out.iter_mut().find(|(k, _)| k == "port") {
            let port = std::mem::replace(&mut p.1, "0".into());
            out.push(("tls-port".into(), port));
        }
        for (k, v) in [
            ("tls-cert-file", &c.server_cert),
            ("tls-key-file", &c.server_key),
            ("tls-ca-cert-file", &c.ca),
        ] {
            out.push((k.into(), format!("\"{}\"", v.display())));
        }
        // Clients need no certificate of their own (as most deployments).
        out.push(("tls-auth-clients".into(), "no".into()));
        out.push(("tls-replication".into(), "yes".into()));
        if kind == Kind::Cluster {
            out.push(("tls-cluster".into(), "yes".into()));
        }
    }
    if let Some(p) = &secrets.password {
        match spec.auth {
            AuthMode::None => {}
            AuthMode::Password => {
                out.push(("requirepass".into(), p.clone()));
                out.push(("masterauth".into(), p.clone()));
            }
            AuthMode::Acl => {
                out.push(("user".into(), format!("{ACL_USER} on >{p} ~* &* +@all")));
                out.push(("user".into(), "default off".into()));
                out.push(("masteruser".into(), ACL_USER.into()));
                out.push(("masterauth".into(), p.clone()));
            }
        }
    }
}

/// For a node that takes its settings as arguments (docker): [`directives`]
/// split in two. The port moves (`tls-port`) among `args`; every other
/// directive — the certificate files and the password — is returned as the
/// text of a file the node reads first, so that no password stands on a
/// command line (`docker inspect`, `ps`).
pub fn file_and_args(
    spec: SecuritySpec,
    kind: Kind,
    secrets: &Secrets,
    args: &mut Vec<(String, String)>,
) -> String {
    let before = args.len();
    directives(spec, kind, secrets, args);
    let added = args.split_off(before);
    let (ports, file): (Vec<_>, Vec<_>) = added.into_iter().partition(|(k, _)| k == "tls-port");
    args.extend(ports);
    crate::runtime::config::to_conf(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_acl_node_listens_only_on_tls_and_its_credentials_load() {
        let run = tempfile::tempdir().unwrap();
        let spec = SecuritySpec {
            tls: true,
            auth: AuthMode::Acl,
        };
        let s = make(run.path(), spec, &block_ips(9)).unwrap();
        let mut d = vec![("port".to_string(), "6379".to_string())];
        directives(spec, Kind::Cluster, &s, &mut d);
        let get = |k: &str| d.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("port"), Some("0"));
        assert_eq!(get("tls-port"), Some("6379"));
        assert_eq!(get("tls-cluster"), Some("yes"));
        assert_eq!(get("masteruser"), Some(ACL_USER));
        let sec = crate::net::secure::Security::load_with(Some(&s.credentials), |_| None).unwrap();
        let f = sec.facts();
        assert_eq!(f.auth.unwrap().user.as_deref(), Some(ACL_USER));
        assert!(f.tls.is_some());
        // Read back the same for a node added later.
        let again = load(run.path(), spec).unwrap();
        let mut d2 = vec![("port".to_string(), "6379".to_string())];
        directives(spec, Kind::Cluster, &again, &mut d2);
        assert_eq!(d, d2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "credentials readable by others: {mode:o}");
    }

    #[test]
    fn a_docker_node_gets_its_password_in_a_file_and_its_port_as_an_argument() {
        let run = tempfile::tempdir().unwrap();
        let spec = SecuritySpec {
            tls: true,
            auth: AuthMode::Password,
        };
        let s = make(run.path(), spec, &block_ips(9)).unwrap();
        let inside = s.relocated(Path::new("/secrets"));
        let mut args = vec![("port".to_string(), "6379".to_string())];
        let file = file_and_args(spec, Kind::Cluster, &inside, &mut args);
        assert_eq!(
            args,
            [
                ("port".into(), "0".into()),
                ("tls-port".into(), "6379".into())
            ]
        );
        let password = inside.password.clone().unwrap();
        assert!(file.contains(&format!("requirepass {password}")), "{file}");
        assert!(
            file.contains("tls-cert-file \"/secrets/server.pem\""),
            "{file}"
        );
        assert!(!file.contains(&run.path().display().to_string()), "{file}");
    }
}
