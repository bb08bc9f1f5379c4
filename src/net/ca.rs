//! A throwaway certificate authority: a CA made for one run (or one test),
//! a server certificate it signs for the nodes' addresses and names, and a
//! client certificate, written as PEM files into a folder the caller owns
//! and removes. Nothing here is meant to outlive the run.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// The PEM files of a throwaway CA, in one folder.
#[derive(Debug, Clone)]
pub struct CaFiles {
    /// The CA's certificate: what clients and servers trust.
    pub ca: PathBuf,
    /// A server certificate for every address and name given, and its key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate (for servers that ask for one), and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Make a CA in `dir` and sign a server certificate valid for `ips` and
/// `names`, and a client certificate.
pub fn make(dir: &Path, ips: &[IpAddr], names: &[String]) -> Result<CaFiles, String> {
    fn e(what: &'static str) -> impl Fn(rcgen::Error) -> String {
        move |err| format!("throwaway CA, {what}: {err}")
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e("CA"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "redis-drill throwaway CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(e("CA key"))?)
        .map_err(e("CA"))?;

    let mut server = CertificateParams::new(names.to_vec()).map_err(e("server"))?;
    server
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    server
        .distinguished_name
        .push(DnType::CommonName, "redis-drill node");
    server.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        // Redis uses the same certificate when it connects as a client
        // (replication, the cluster bus).
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let server_key = KeyPair::generate().map_err(e("server key"))?;
    let server_cert = server.signed_by(&server_key, &ca).map_err(e("server"))?;

    let mut client = CertificateParams::new(Vec::<String>::new()).map_err(e("client"))?;
    client
        .distinguished_name
        .push(DnType::CommonName, "redis-drill client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().map_err(e("client key"))?;
    let client_cert = client.signed_by(&client_key, &ca).map_err(e("client"))?;

    let files = CaFiles {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    };
    let write = |p: &Path, text: String| {
        std::fs::write(p, text).map_err(|err| format!("writing {}: {err}", p.display()))
    };
    write(&files.ca, ca.pem())?;
    write(&files.server_cert, server_cert.pem())?;
    write(&files.server_key, server_key.serialize_pem())?;
    write(&files.client_cert, client_cert.pem())?;
    write(&files.client_key, client_key.serialize_pem())?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::secure::{ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY, Security};

    #[test]
    fn its_files_load_as_the_tools_tls_setting() {
        let dir = tempfile::tempdir().unwrap();
        let f = make(
            dir.path(),
            &["127.0.0.1".parse().unwrap()],
            &["redis.local".into()],
        )
        .unwrap();
        let vars = [
            (ENV_TLS_CA, f.ca.clone()),
            (ENV_TLS_CERT, f.client_cert.clone()),
            (ENV_TLS_KEY, f.client_key.clone()),
        ];
        let s = Security::load_with(None, |k| {
            vars.iter()
                .find(|(v, _)| *v == k)
                .map(|(_, p)| p.display().to_string())
        })
        .unwrap();
        let facts = s.facts();
        assert!(facts.tls.as_ref().unwrap().client_cert);
        assert_eq!(facts.tls.unwrap().ca, f.ca);
    }
}
