//! Connection security: `AUTH` (a password, or an ACL user and its
//! password) and TLS (a CA to trust, optionally a client certificate and a
//! server name) for every connection the tool opens to a node — workload,
//! probes, watcher, admin, the raw reference PINGs and replication probe.
//!
//! One setting per process, [`install`]ed by the command line before it
//! touches a deployment that needs it and read by the dialers
//! ([`super::dial`], [`connect_sync`]) through [`current`]. The credentials
//! come from environment variables or a file ([`Security::load`]) and are
//! never serialized: [`Security`] has no `Serialize`, its password prints
//! as `***`, and what a report may say about it is [`Security::facts`] —
//! which of AUTH and TLS were used, the user's name and the CA's path, no
//! secret.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};

/// The environment variables a [`Security`] is read from, by field.
pub const ENV_FILE: &str = "REDIS_DRILL_CREDENTIALS";
pub const ENV_USER: &str = "REDIS_DRILL_USER";
pub const ENV_PASSWORD: &str = "REDIS_DRILL_PASSWORD";
pub const ENV_TLS_CA: &str = "REDIS_DRILL_TLS_CA";
pub const ENV_TLS_CERT: &str = "REDIS_DRILL_TLS_CERT";
pub const ENV_TLS_KEY: &str = "REDIS_DRILL_TLS_KEY";
pub const ENV_TLS_SERVER_NAME: &str = "REDIS_DRILL_TLS_SERVER_NAME";

/// How the tool's connections authenticate and encrypt. The default is
/// neither: plain TCP, no AUTH.
#[derive(Clone, Default)]
pub struct Security {
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
}

/// `AUTH [user] password`.
#[derive(Clone)]
pub struct Auth {
    /// An ACL user; `None` authenticates as `default` (`requirepass`).
    pub user: Option<String>,
    password: Password,
}

/// A password that never prints.
#[derive(Clone)]
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// TLS to every node: the CA its certificates are checked against, a
/// client certificate when the servers ask for one, and the name to check
/// them for (by default the node's IP address).
#[derive(Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub server_name: Option<String>,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("facts", &self.facts())
            .finish()
    }
}

/// What a report and a log may say about a [`Security`]: no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityFacts {
    /// AUTH was sent: as this ACL user, or as `default` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFacts {
    /// The ACL user; `None` is `default` (a `requirepass` password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFacts {
    pub ca: PathBuf,
    /// A client certificate was presented.
    pub client_cert: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl SecurityFacts {
    /// `TLS (CA /x/ca.pem) and AUTH as user drill`, `none`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.tls {
            let mut s = format!("TLS (CA {}", t.ca.display());
            if t.client_cert {
                s.push_str(", client certificate");
            }
            if let Some(n) = &t.server_name {
                s.push_str(&format!(", server name {n}"));
            }
            s.push(')');
            parts.push(s);
        }
        if let Some(a) = &self.auth {
            parts.push(match &a.user {
                Some(u) => format!("AUTH as ACL user {u}"),
                None => "AUTH with a password (user default)".to_string(),
            });
        }
        if parts.is_empty() {
            "plain TCP, no AUTH".to_string()
        } else {
            parts.join(" and ")
        }
    }

    pub fn is_plain(&self) -> bool {
        self.auth.is_none() && self.tls.is_none()
    }
}

/// Credentials that could not be read; names the file or variable.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct SecurityError {
    pub source_name: String,
    pub message: String,
}

fn bad(source_name: impl Into<String>, message: impl Into<String>) -> SecurityError {
    SecurityError {
        source_name: source_name.into(),
        message: message.into(),
    }
}

/// The credentials file: every field optional, none unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    user: Option<String>,
    password: Option<String>,
    /// A file holding the password (its trailing newline dropped).
    password_file: Option<PathBuf>,
    tls: Option<TlsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
}

/// The fields of a [`Security`] before the files they name are read.
#[derive(Debug, Default)]
struct Fields {
    user: Option<String>,
    password: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
    /// Where each came from, for errors: the file, or the variable.
    origin: String,
}

impl Security {
    /// Plain TCP, no AUTH.
    pub fn none() -> Self {
        Security::default()
    }

    /// Read from `file` (a YAML credentials file; `None`: the file
    /// [`ENV_FILE`] names, if any), then from the `REDIS_DRILL_*`
    /// variables, each of which overrides the file's field.
    pub fn load(file: Option<&Path>) -> Result<Security, SecurityError> {
        Self::load_with(file, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// [`Security::load`] with the environment given (tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Security, SecurityError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env(ENV_FILE).map(PathBuf::from));
        let mut f = match &file {
            Some(p) => read_file(p)?,
            None => Fields::default(),
        };
        let mut from_env = Vec::new();
        let mut take = |var: &str, slot: &mut Option<String>| {
            if let Some(v) = env(var) {
                *slot = Some(v);
                from_env.push(var.to_string());
            }
        };
        take(ENV_USER, &mut f.user);
        take(ENV_PASSWORD, &mut f.password);
        take(ENV_TLS_SERVER_NAME, &mut f.server_name);
        let mut paths = [
            (ENV_TLS_CA, None),
            (ENV_TLS_CERT, None),
            (ENV_TLS_KEY, None),
        ];
        for (var, v) in &mut paths {
            if let Some(x) = env(var) {
                *v = Some(PathBuf::from(x));
                from_env.push(var.to_string());
            }
        }
        let [(_, ca), (_, cert), (_, key)] = paths;
        f.ca = ca.or(f.ca);
        f.cert = cert.or(f.cert);
        f.key = key.or(f.key);
        f.origin = match (&file, from_env.is_empty()) {
            (Some(p), true) => p.display().to_string(),
            (Some(p), false) => format!("{} and {}", p.display(), from_env.join(", ")),
            (None, _) => from_env.join(", "),
        };
        f.build()
    }

    /// Neither TLS nor AUTH.
    pub fn is_plain(&self) -> bool {
        self.auth.is_none() && self.tls.is_none()
    }

    /// What may be said about it (no secret).
    pub fn facts(&self) -> SecurityFacts {
        SecurityFacts {
            auth: self.auth.as_ref().map(|a| AuthFacts {
                user: a.user.clone(),
            }),
            tls: self.tls.as_ref().map(|t| TlsFacts {
                ca: t.ca.clone(),
                client_cert: t.cert.is_some(),
                server_name: t.server_name.clone(),
            }),
        }
    }

    /// `info` with this setting's user and password, unless it has its own.
    pub fn apply(&self, info: &redis::RedisConnectionInfo) -> redis::RedisConnectionInfo {
        let mut info = info.clone();
        if let Some(a) = &self.auth
            && info.password().is_none()
        {
            info = info.set_password(&a.password.0);
            if let Some(u) = &a.user {
                info = info.set_username(u);
            }
        }
        info
    }

    /// The `redis-cli` arguments and environment that connect as this
    /// setting does: `--user`, `--tls --cacert …`; the password only in
    /// `REDISCLI_AUTH`, never on a command line.
    pub fn redis_cli(&self) -> (Vec<String>, Vec<(String, String)>) {
        let mut args = Vec::new();
        let mut env = Vec::new();
        if let Some(a) = &self.auth {
            if let Some(u) = &a.user {
                args.extend(["--user".to_string(), u.clone()]);
            }
            env.push(("REDISCLI_AUTH".to_string(), a.password.0.clone()));
        }
        if let Some(t) = &self.tls {
            args.extend(["--tls".to_string(), "--cacert".to_string()]);
            args.push(t.ca.display().to_string());
            if let (Some(c), Some(k)) = (&t.cert, &t.key) {
                args.extend(["--cert".to_string(), c.display().to_string()]);
                args.extend(["--key".to_string(), k.display().to_string()]);
            }
            if let Some(n) = &t.server_name {
                args.extend(["--sni".to_string(), n.clone()]);
            }
        }
        (args, env)
    }

    /// The name a node's certificate is checked for: the configured server
    /// name, else the address's IP.
    fn server_name(tls: &Tls, addr: SocketAddr) -> Result<ServerName<'static>, std::io::Error> {
        match &tls.server_name {
            Some(n) => ServerName::try_from(n.clone()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("TLS server name {n:?}: {e}"),
                )
            }),
            None => Ok(ServerName::IpAddress(addr.ip().into())),
        }
    }
}

fn read_file(p: &Path) -> Result<Fields, SecurityError> {
    let name = p.display().to_string();
    let text = std::fs::read_to_string(p).map_err(|e| bad(&name, format!("cannot read: {e}")))?;
    let c: CredentialsFile =
        serde_saphyr::from_str(&text).map_err(|e| bad(&name, e.to_string()))?;
    // Paths in the file are relative to the file.
    let dir = p.parent().unwrap_or(Path::new("."));
    let rel = |q: PathBuf| if q.is_relative() { dir.join(q) } else { q };
    let password = match (c.password, c.password_file) {
        (Some(_), Some(_)) => {
            return Err(bad(&name, "password and password_file: give one"));
        }
        (Some(pw), None) => Some(pw),
        (None, Some(pf)) => {
            let pf = rel(pf);
            let pw = std::fs::read_to_string(&pf)
                .map_err(|e| bad(&name, format!("password_file {}: {e}", pf.display())))?;
            Some(pw.trim_end_matches(['\n', '\r']).to_string())
        }
        (None, None) => None,
    };
    let tls = c.tls.unwrap_or_default();
    let has_tls = !tls.ca.as_os_str().is_empty();
    Ok(Fields {
        user: c.user,
        password,
        ca: has_tls.then(|| rel(tls.ca)),
        cert: tls.cert.map(rel),
        key: tls.key.map(rel),
        server_name: tls.server_name,
        origin: name,
    })
}

impl Fields {
    fn build(self) -> Result<Security, SecurityError> {
        let origin = self.origin;
        let auth = match (self.user, self.password) {
            (user, Some(pw)) => Some(Auth {
                user,
                password: Password(pw),
            }),
            (Some(u), None) => {
                return Err(bad(
                    &origin,
                    format!("ACL user {u} without a password (set {ENV_PASSWORD} or password:)"),
                ));
            }
            (None, None) => None,
        };
        let tls = match self.ca {
            None => {
                if self.cert.is_some() || self.key.is_some() || self.server_name.is_some() {
                    return Err(bad(
                        &origin,
                        format!("a TLS setting without a CA to trust (set {ENV_TLS_CA} or tls.ca)"),
                    ));
                }
                None
            }
            Some(ca) => Some(tls(&origin, ca, self.cert, self.key, self.server_name)?),
        };
        Ok(Security { auth, tls })
    }
}

fn tls(
    origin: &str,
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
) -> Result<Tls, SecurityError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| bad(origin, format!("TLS CA {}: {e}", ca.display())))?;
    if certs.is_empty() {
        return Err(bad(
            origin,
            format!("TLS CA {}: no certificate in it", ca.display()),
        ));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| bad(origin, format!("TLS CA {}: {e}", ca.display())))?;
    }
    if let Some(n) = &server_name {
        ServerName::try_from(n.clone())
            .map_err(|e| bad(origin, format!("TLS server name {n:?}: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(origin, format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match (&cert, &key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(c), Some(k)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    bad(
                        origin,
                        format!("TLS client certificate {}: {e}", c.display()),
                    )
                })?;
            let pk = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| bad(origin, format!("TLS client key {}: {e}", k.display())))?;
            builder.with_client_auth_cert(chain, pk).map_err(|e| {
                bad(
                    origin,
                    format!("TLS client certificate {}: {e}", c.display()),
                )
            })?
        }
        _ => {
            return Err(bad(
                origin,
                "a TLS client certificate needs both cert and key",
            ));
        }
    };
    Ok(Tls {
        ca,
        cert,
        key,
        server_name,
        config: Arc::new(config),
    })
}

static CURRENT: RwLock<Option<Arc<Security>>> = RwLock::new(None);

/// Use `s` for every connection opened from now on.
pub fn install(s: Security) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(s));
}

/// The setting connections use now (plain when none was installed).
pub fn current() -> Arc<Security> {
    CURRENT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// An async stream to a node: TCP, or TLS over it.
pub(crate) async fn wrap_async(
    sec: &Security,
    addr: SocketAddr,
    tcp: tokio::net::TcpStream,
) -> std::io::Result<AsyncStream> {
    match &sec.tls {
        None => Ok(AsyncStream::Plain(tcp)),
        Some(t) => {
            let name = Security::server_name(t, addr)?;
            let tls = tokio_rustls::TlsConnector::from(t.config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| tls_error(addr, e))?;
            Ok(AsyncStream::Tls(Box::new(tls)))
        }
    }
}

fn tls_error(addr: SocketAddr, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("TLS handshake with {addr}: {e}"))
}

/// TCP or TLS, for redis-rs's multiplexed connection.
pub(crate) enum AsyncStream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for AsyncStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            AsyncStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for AsyncStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            AsyncStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            AsyncStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            AsyncStream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            AsyncStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A blocking connection to a node for the raw-protocol probes (reference
/// PINGs, the replication probe): TCP with Nagle off and `timeout` on every
/// read and write, TLS over it and `AUTH` sent when [`current`] says so.
pub fn connect_sync(addr: SocketAddr, timeout: Duration) -> std::io::Result<SyncStream> {
    let sec = current();
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut stream = match &sec.tls {
        None => SyncStream::Plain(s),
        Some(t) => {
            let name = Security::server_name(t, addr)?;
            let conn = rustls::ClientConnection::new(t.config.clone(), name)
                .map_err(|e| std::io::Error::other(format!("TLS to {addr}: {e}")))?;
            let mut tls = rustls::StreamOwned::new(conn, s);
            while tls.conn.is_handshaking() {
                tls.conn
                    .complete_io(&mut tls.sock)
                    .map_err(|e| tls_error(addr, e))?;
            }
            SyncStream::Tls(Box::new(tls))
        }
    };
    if let Some(a) = &sec.auth {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(u) = &a.user {
            args.push(u.as_bytes());
        }
        args.push(a.password.0.as_bytes());
        stream.write_all(&resp_command(&args))?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") && line.len() < 512 {
            stream.read_exact(&mut byte)?;
            line.push(byte[0]);
        }
        if line != b"+OK\r\n" {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "AUTH at {addr}: {}",
                    String::from_utf8_lossy(&line).trim_end()
                ),
            ));
        }
    }
    Ok(stream)
}

/// A command in RESP.
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// TCP or TLS, blocking.
pub enum SyncStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for SyncStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SyncStream::Plain(s) => s.read(buf),
            SyncStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for SyncStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            SyncStream::Plain(s) => s.write(buf),
            SyncStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SyncStream::Plain(s) => s.flush(),
            SyncStream::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn nothing_set_is_plain() {
        let s = Security::load_with(None, env(&[])).unwrap();
        assert!(s.facts().is_plain());
        assert_eq!(s.facts().describe(), "plain TCP, no AUTH");
    }

    #[test]
    fn a_password_never_prints_and_the_facts_hold_no_secret() {
        let s = Security::load_with(
            None,
            env(&[(ENV_USER, "drill"), (ENV_PASSWORD, "hunter2-secret")]),
        )
        .unwrap();
        let shown = format!(
            "{s:?} {} {}",
            serde_json::to_string(&s.facts()).unwrap(),
            s.facts().describe()
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("drill"), "{shown}");
        let (args, envs) = s.redis_cli();
        assert!(!args.iter().any(|a| a.contains("hunter2")), "{args:?}");
        assert_eq!(
            envs,
            vec![("REDISCLI_AUTH".into(), "hunter2-secret".into())]
        );
        let info = s.apply(&redis::RedisConnectionInfo::default());
        assert_eq!(info.username(), Some("drill"));
        assert_eq!(info.password(), Some("hunter2-secret"));
    }

    #[test]
    fn a_user_without_a_password_or_a_tls_file_without_a_ca_is_refused_naming_where() {
        let e = Security::load_with(None, env(&[(ENV_USER, "drill")])).unwrap_err();
        assert_eq!(e.source_name, ENV_USER);
        let e =
            Security::load_with(None, env(&[(ENV_TLS_SERVER_NAME, "redis.local")])).unwrap_err();
        assert!(e.message.contains("without a CA"), "{e}");
        let e = Security::load_with(None, env(&[(ENV_TLS_CA, "/nonexistent/ca.pem")])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_file_names_paths_relative_to_itself_and_the_environment_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["redis.local".into()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        let file = dir.path().join("creds.yaml");
        std::fs::write(
            &file,
            "user: app\npassword_file: pw\ntls:\n  ca: ca.pem\n  server_name: redis.local\n",
        )
        .unwrap();
        let s = Security::load_with(Some(&file), env(&[])).unwrap();
        let f = s.facts();
        assert_eq!(f.auth.as_ref().unwrap().user.as_deref(), Some("app"));
        assert_eq!(f.tls.as_ref().unwrap().ca, dir.path().join("ca.pem"));
        assert_eq!(s.apply(&Default::default()).password(), Some("from-file"));
        let s = Security::load_with(Some(&file), env(&[(ENV_PASSWORD, "from-env")])).unwrap();
        assert_eq!(s.apply(&Default::default()).password(), Some("from-env"));
        // An unknown field is refused, naming the file.
        std::fs::write(&file, "user: app\npasword: typo\n").unwrap();
        let e = Security::load_with(Some(&file), env(&[])).unwrap_err();
        assert_eq!(e.source_name, file.display().to_string());
        assert!(e.message.contains("pasword"), "{e}");
    }
}
