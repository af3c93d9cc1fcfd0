//! TLS material and client configuration: a generated CA and a server certificate for the
//! loopback names (rcgen; kept under a data dir's `tls/` across restarts), the rustls server
//! config (ring provider, h2 + http/1.1 ALPN), a
//! random bearer token, and the kubeconfig that points kubectl, Helm and `kube` at it.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Result;

/// The CA and server certificate of one cluster.
pub struct TlsMaterial {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
    /// PEMs, so a persisted cluster can keep its identity across restarts.
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generate a CA and a server certificate valid for `localhost`, `127.0.0.1` and `::1` (and
/// `extra_host` if the listen address is another IP).
pub fn generate(extra_host: Option<&str>) -> Result<TlsMaterial> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "devcluster-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "kubernetes.default.svc".to_string(),
    ];
    if let Some(h) = extra_host
        && !names.iter().any(|n| n == h)
    {
        names.push(h.to_string());
    }
    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "devcluster");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let issuer = Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&server_key, &issuer)?;
    let ca_pem = ca_cert.pem();
    let cert_pem = cert.pem();
    let key_pem = server_key.serialize_pem();
    let server_config = server_config(cert.der().clone(), server_key.serialize_der())?;
    Ok(TlsMaterial {
        ca_pem,
        server_config,
        cert_pem,
        key_pem,
    })
}

fn server_config(
    cert: CertificateDer<'static>,
    key_der: Vec<u8>,
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        )?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The identity kept in `dir` (a data dir's `tls/`) when it was made for `extra_host`, else a
/// new one written there, so a kubeconfig written before a restart still verifies the server.
pub fn load_or_generate(dir: &Path, extra_host: Option<&str>) -> Result<TlsMaterial> {
    let host = extra_host.unwrap_or_default();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    if let (Some(ca_pem), Some(cert_pem), Some(key_pem), Some(made_for)) = (
        read("ca.crt"),
        read("server.crt"),
        read("server.key"),
        read("host"),
    ) && made_for.trim() == host
    {
        match load(&ca_pem, &cert_pem, &key_pem) {
            Ok(m) => return Ok(m),
            Err(e) => tracing::warn!(
                "{}: unusable TLS identity ({e}); making a new one",
                dir.display()
            ),
        }
    }
    let m = generate(extra_host)?;
    std::fs::create_dir_all(dir)?;
    crate::write_private(&dir.join("ca.crt"), &m.ca_pem)?;
    crate::write_private(&dir.join("server.crt"), &m.cert_pem)?;
    crate::write_private(&dir.join("server.key"), &m.key_pem)?;
    crate::write_private(&dir.join("host"), host)?;
    Ok(m)
}

/// A TLS identity from its PEMs.
pub fn load(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<TlsMaterial> {
    use rustls::pki_types::pem::PemObject;
    let bad = |e: rustls::pki_types::pem::Error| {
        crate::error::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        ))
    };
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(bad)?;
    let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(bad)?;
    let server_config = server_config(cert, key.secret_pkcs8_der().to_vec())?;
    Ok(TlsMaterial {
        ca_pem: ca_pem.to_string(),
        server_config,
        cert_pem: cert_pem.to_string(),
        key_pem: key_pem.to_string(),
    })
}

/// A random bearer token.
pub fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A kubeconfig (YAML) for the cluster at `url`.
pub fn kubeconfig(url: &str, ca_pem: Option<&str>, token: Option<&str>) -> String {
    let mut cluster = format!("    server: {url}\n");
    if let Some(ca) = ca_pem {
        cluster.push_str(&format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(ca.as_bytes())
        ));
    }
    let user = match token {
        Some(t) => format!("    token: {t}\n"),
        None => "    {}\n".to_string(),
    };
    let user = if token.is_some() { user } else { String::new() };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: devcluster\n  cluster:\n{cluster}users:\n- name: devcluster\n  user:{}\n{user}contexts:\n- name: devcluster\n  context:\n    cluster: devcluster\n    user: devcluster\n    namespace: default\ncurrent-context: devcluster\npreferences: {{}}\n",
        if token.is_some() { "" } else { " {}" }
    )
}
