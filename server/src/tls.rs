//! The server's certificate: read from PEM files with rustls's own parser, over the ring
//! provider, TLS 1.2 and 1.3 (Gatekeeper's External Data client insists on 1.3).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsFiles;

/// Largest certificate chain or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// A server configuration for the certificate and key in `files`.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let cert_text = read(&files.cert, "certificate")?;
    let key_text = read(&files.key, "key")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
            files.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_text)
        .map_err(|e| format!("{}: not a PEM private key: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "{} and {}: the key does not go with the certificate, or is of a kind rustls does not support: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
    portcullis_engine::files::read_bytes(
        path,
        MAX_PEM_BYTES,
        portcullis_engine::files::Origin::Named,
    )
    .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}
