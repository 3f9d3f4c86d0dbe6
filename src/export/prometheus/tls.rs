//! TLS for the pull endpoint (`https://`): a certificate chain and its
//! private key, from PEM files or PEM bytes held in memory, and optionally
//! a CA whose client certificates the endpoint requires (mutual TLS).
//!
//! Built with rustls and its `ring` crypto provider, the TLS stack the
//! OTLP exporter already uses through ureq, so enabling it compiles
//! nothing new. TLS 1.2 and 1.3 with rustls' safe defaults; ALPN offers
//! `http/1.1` only (the endpoint speaks HTTP/1.1).
//!
//! Files are read when the endpoint starts (a renewed certificate takes a
//! restart of the endpoint). The private key is never written to a log,
//! an error message or `Debug` output.

use crate::error::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::Arc;

/// Where PEM text comes from.
#[derive(Clone)]
enum Pem {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

impl Pem {
    fn read(&self, what: &str) -> Result<Vec<u8>> {
        match self {
            Pem::File(p) => std::fs::read(p).map_err(|e| {
                Error::InvalidArgument(format!("TLS {what} file {}: {e}", p.display()))
            }),
            Pem::Bytes(b) => Ok(b.to_vec()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Pem::File(p) => format!("file {}", p.display()),
            Pem::Bytes(b) => format!("{} PEM bytes", b.len()),
        }
    }
}

/// TLS settings of a [`PrometheusServer`](super::PrometheusServer).
///
/// ```no_run
/// use ferrometer::export::prometheus::{PrometheusServerOptions, PrometheusTls};
/// let options = PrometheusServerOptions::default().with_tls(
///     PrometheusTls::from_files("/etc/metrics/server.pem", "/etc/metrics/server.key")
///         .with_client_ca_file("/etc/metrics/scrapers-ca.pem"),
/// );
/// ```
#[derive(Clone)]
pub struct PrometheusTls {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
}

impl std::fmt::Debug for PrometheusTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match &self.key {
            Pem::File(p) => format!("file {}", p.display()),
            Pem::Bytes(_) => "<redacted>".to_owned(),
        };
        f.debug_struct("PrometheusTls")
            .field("cert", &self.cert.describe())
            .field("key", &key)
            .field("client_ca", &self.client_ca.as_ref().map(Pem::describe))
            .finish()
    }
}

impl PrometheusTls {
    /// The certificate chain (leaf first) and its private key (PKCS#8,
    /// PKCS#1 or SEC1) from PEM files, read when the endpoint starts.
    pub fn from_files(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        PrometheusTls {
            cert: Pem::File(cert_chain.into()),
            key: Pem::File(key.into()),
            client_ca: None,
        }
    }

    /// [`from_files`](Self::from_files) with the PEM text in memory (copied).
    pub fn from_pem(cert_chain: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Self {
        PrometheusTls {
            cert: Pem::Bytes(cert_chain.as_ref().into()),
            key: Pem::Bytes(key.as_ref().into()),
            client_ca: None,
        }
    }

    /// Requires every client to present a certificate signed by one of the
    /// CA certificates in this PEM file (mutual TLS); a client without one
    /// fails the handshake.
    pub fn with_client_ca_file(mut self, ca: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(Pem::File(ca.into()));
        self
    }

    /// [`with_client_ca_file`](Self::with_client_ca_file) with the PEM
    /// text in memory (copied).
    pub fn with_client_ca_pem(mut self, ca: impl AsRef<[u8]>) -> Self {
        self.client_ca = Some(Pem::Bytes(ca.as_ref().into()));
        self
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificate(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Reads the PEM material and builds the rustls configuration.
    ///
    /// Errors (`InvalidArgument`): a file that cannot be read, PEM without
    /// a certificate or a key, a key that does not match the certificate,
    /// a client CA without certificates.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::InvalidArgument(format!("TLS {what}: {e}"))
        };
        let certs = certificates(&self.cert.read("certificate")?)
            .map_err(|e| bad(&format!("certificate ({})", self.cert.describe()), &e))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key.read("private key")?)
            .map_err(|e| bad("private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let what = format!("client CA ({})", ca.describe());
                let mut roots = rustls::RootCertStore::empty();
                for c in certificates(&ca.read("client CA")?).map_err(|e| bad(&what, &e))? {
                    roots.add(c).map_err(|e| bad(&what, &e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| bad(&what, &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| bad("certificate and key", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Every certificate of a PEM text; an error when there is none.
fn certificates(pem: &[u8]) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in the PEM text".into());
    }
    Ok(certs)
}
