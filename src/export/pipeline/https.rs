//! The ureq agent of the HTTP push exporters (every `https://` endpoint,
//! and the few requests that do not go through [`super::http_client`]):
//! its settings and its TLS roots and client certificate. Shared by the
//! OTLP and Remote-Write exporters, so it lives here, below both.

use crate::error::{Error, Result};
use std::path::Path;

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(format!("{what} {}: {e}", path.display())))
}

/// Whether `url` is an `http://` or `https://` URL (scheme in any case).
pub(crate) fn is_http_url(url: &str) -> bool {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("http" | "https"))
}

/// The agent settings of the HTTP push exporters: status codes as
/// answers (not errors), no redirects followed, and `tls`.
pub(crate) fn push_agent_config(
    tls: ureq::tls::TlsConfig,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .tls_config(tls)
}

/// The TLS settings of an `https://` push exporter: the platform's roots,
/// or only the certificates of the PEM file `certificate`; a client
/// certificate chain and key for mTLS (both or neither).
pub(crate) fn tls_config(
    certificate: Option<&Path>,
    client_certificate: Option<&Path>,
    client_key: Option<&Path>,
) -> Result<ureq::tls::TlsConfig> {
    use ureq::tls::{parse_pem, ClientCert, PemItem, RootCerts, TlsConfig};
    let mut b = TlsConfig::builder().root_certs(RootCerts::PlatformVerifier);
    if let Some(path) = certificate {
        let pem = read_pem(path, "CA certificate file")?;
        let mut certs = Vec::new();
        for item in parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(cert)) => certs.push(cert),
                Ok(_) => {}
                Err(e) => return Err(invalid(format!("{}: {e}", path.display()))),
            }
        }
        if certs.is_empty() {
            return Err(invalid(format!(
                "CA certificate file {} has no PEM certificate",
                path.display()
            )));
        }
        b = b.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (client_certificate, client_key) {
        (Some(cert_path), Some(key_path)) => {
            let mut chain = Vec::new();
            for item in parse_pem(&read_pem(cert_path, "client certificate file")?) {
                if let Ok(PemItem::Certificate(cert)) = item {
                    chain.push(cert);
                }
            }
            let key = parse_pem(&read_pem(key_path, "client key file")?)
                .find_map(|i| match i {
                    Ok(PemItem::PrivateKey(k)) => Some(k),
                    _ => None,
                })
                .ok_or_else(|| {
                    invalid(format!("client key file {} has no key", key_path.display()))
                })?;
            if chain.is_empty() {
                return Err(invalid(format!(
                    "client certificate file {} has no certificate",
                    cert_path.display()
                )));
            }
            b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(invalid(
                "mTLS needs both a client certificate and a client key",
            ))
        }
    }
    Ok(b.build())
}
