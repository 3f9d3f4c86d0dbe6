//! The OTLP/gRPC transport (cargo feature `otlp-grpc`, CMake option
//! `FERROMETER_OTLP_GRPC`): unary calls to
//! `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` behind
//! the export pipeline, which does the queueing, batching, gzip, retries,
//! circuit breaking, self-metrics and accounting exactly as for OTLP/HTTP.
//!
//! The exporter is also a [`PushExporter`] of its own, like the
//! standalone [`OtlpHttpExporter`](super::OtlpHttpExporter): `export`
//! encodes the snapshot (gzipped when configured) and makes the calls on
//! the caller's thread, with the same retry loop as OTLP/HTTP (the gRPC
//! codes' classification, `RetryInfo` delays, the export's deadline).
//!
//! One call per [`Transport::send`]: the request message is the
//! pipeline's protobuf batch (gzipped by the pipeline when configured:
//! compressed flag set, `grpc-encoding: gzip`), with `grpc-timeout`, the
//! configured headers as metadata, over one kept HTTP/2 connection
//! (`http://`: h2c with prior knowledge; `https://`: TLS with ALPN `h2`,
//! custom CA and client certificate as for OTLP/HTTP). What the answer
//! means is in [`super::grpc_status`].
//!
//! The stack: [`h2`] (the HTTP/2 implementation under hyper and tonic)
//! on a current-thread tokio runtime that this exporter owns and only
//! the sending thread drives (`block_on` inside `send`, under the
//! connection's lock: the pipeline's worker, or the standalone exporter's
//! caller): no thread of its own, no tower/hyper layers, and our prost messages
//! reused without a protoc step. The connection is dropped and made
//! again after any transport error, a timeout, or a `GOAWAY`.
//!
//! The endpoint is a URL whose scheme and authority are used (the path,
//! if any, is ignored: gRPC calls a fixed method path), so
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317` works as is. The
//! OTLP/HTTP default endpoint (unset) becomes `http://localhost:4317`.
//! As the OTLP exporter specification allows for gRPC, the endpoint may
//! also be given without a scheme (`collector:4317`, a port is then
//! required); the `insecure` option (`OTEL_EXPORTER_OTLP_INSECURE`,
//! default false) then picks plain HTTP/2 (`true`) or TLS (`false`). A
//! scheme, when given, decides and `insecure` is ignored.

use super::config::{Compression, OtlpHttpConfig, Protocol};
use super::grpc_status::{self, Code};
use super::http::OtlpHttpExporterBuilder;
use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use crate::export::pipeline::{
    ExportPipeline, FailReason, Jitter, OtlpProtobufEncoder, Outcome, PipelineBuilder, Transport,
};
use crate::export::PushExporter;
use crate::sync::{lock, Mutex};
use crate::temporality::TemporalityPreference;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default OTLP/gRPC endpoint (the Collector's gRPC port).
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The method every export calls.
pub const EXPORT_METHOD: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// Most response-message bytes kept (a partial success or nothing).
const MAX_RESPONSE: usize = 64 * 1024;
/// HTTP/2 receive windows (responses are small; only their flow matters).
const WINDOW: u32 = 1 << 20;

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

/// Scheme, host and port of a gRPC endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    uri: http::Uri,
}

/// The target of `url`: an `http://` or `https://` URL (the scheme
/// decides TLS), or `host:port` without a scheme, where `insecure` decides
/// (true: plain HTTP/2, false: TLS).
fn parse_target(url: &str, insecure: bool) -> Result<Target> {
    let bad = || {
        invalid(format!(
            "OTLP/gRPC endpoint {url:?} is neither an http:// or https:// URL nor host:port"
        ))
    };
    let url = url.trim();
    let (tls, rest, schemeless) = match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, rest, false),
            "https" => (true, rest, false),
            _ => return Err(bad()),
        },
        None => (!insecure, url, true),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| bad())?,
        // Without a scheme the port is what tells host:port apart from
        // a mistyped URL.
        None if schemeless => return Err(bad()),
        None if tls => 443,
        None => 80,
    };
    if host.is_empty() {
        return Err(bad());
    }
    let scheme = if tls { "https" } else { "http" };
    let uri = format!("{scheme}://{authority}{EXPORT_METHOD}")
        .parse::<http::Uri>()
        .map_err(|_| bad())?;
    Ok(Target {
        tls,
        host: host.to_owned(),
        port,
        uri,
    })
}

/// The request headers every call carries, metadata included.
fn request_headers(c: &OtlpHttpConfig) -> Result<http::HeaderMap> {
    use http::header::{HeaderName, HeaderValue};
    let mut h = http::HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/grpc"));
    h.insert("te", HeaderValue::from_static("trailers"));
    h.insert(
        "user-agent",
        HeaderValue::from_static(concat!("ferrometer/", env!("CARGO_PKG_VERSION"))),
    );
    if c.compression == Compression::Gzip {
        h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    }
    for (k, v) in &c.headers {
        crate::export::check_header(k, v).map_err(|m| invalid(format!("OTLP/gRPC: {m}")))?;
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("grpc-") || matches!(lower.as_str(), "content-type" | "te") {
            return Err(invalid(format!(
                "OTLP/gRPC: metadata {k:?} is reserved by the gRPC protocol"
            )));
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|e| invalid(format!("OTLP/gRPC: metadata name {k:?}: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| invalid(format!("OTLP/gRPC: metadata {k:?} value: {e}")))?;
        h.append(name, value);
    }
    Ok(h)
}

fn read_pem(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(format!("{what} {}: {e}", path.display())))
}

/// The rustls client configuration: the platform verifier, or the CA
/// certificates of `certificate`; a client certificate when both its
/// files are set; ALPN `h2`, as gRPC requires.
fn tls_config(c: &OtlpHttpConfig) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("OTLP/gRPC TLS: {e}")))?;
    let builder = match &c.certificate {
        Some(path) => {
            let pem = read_pem(path, "CA certificate file")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(invalid(format!(
                    "CA certificate file {} has no PEM certificate",
                    path.display()
                )));
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| invalid(format!("OTLP/gRPC TLS: system roots: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let mut config = match (&c.client_certificate, &c.client_key) {
        (Some(cert_path), Some(key_path)) => {
            let pem = read_pem(cert_path, "client certificate file")?;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(|c| c.ok())
                .collect();
            if chain.is_empty() {
                return Err(invalid(format!(
                    "client certificate file {} has no certificate",
                    cert_path.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_slice(&read_pem(key_path, "client key file")?)
                .map_err(|_| {
                    invalid(format!("client key file {} has no key", key_path.display()))
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("OTLP/gRPC client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(invalid(
                "mTLS needs both a client certificate and a client key",
            ))
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// One HTTP/2 connection: the request handle and the task driving the
/// connection (its socket's clone, for [`Transport::abort`], is kept in
/// the exporter).
struct Conn {
    send: h2::client::SendRequest<Bytes>,
    driver: tokio::task::JoinHandle<()>,
}

/// Pushes the pipeline's batches to an OTLP/gRPC receiver. Build it with
/// [`OtlpGrpcExporter::builder`] (the OTLP options, environment included,
/// with the protocol set to gRPC), then [`into_pipeline`](Self::into_pipeline).
pub struct OtlpGrpcExporter {
    config: OtlpHttpConfig,
    target: Target,
    headers: http::HeaderMap,
    tls: Option<tokio_rustls::TlsConnector>,
    rt: OwnedRuntime,
    conn: Mutex<Option<Conn>>,
    /// The current connection's socket (a clone), for `abort`.
    socket: Mutex<Option<std::net::TcpStream>>,
    shutdown: AtomicBool,
    /// Backoff of the standalone exporter's retries.
    jitter: Jitter,
}

impl std::fmt::Debug for OtlpGrpcExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGrpcExporter")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

/// The exporter's runtime. Dropped with `shutdown_background`, which
/// never blocks: the last reference to a pipeline may go away on a thread
/// that runs another tokio runtime (a Rust host), where dropping a
/// runtime the ordinary way panics.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        self.0.as_ref().map(|rt| rt.block_on(f))
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A call that failed before an answer (its connection is then dropped).
struct Failed(Outcome);

impl OtlpGrpcExporter {
    /// The OTLP options builder (the `OTEL_EXPORTER_OTLP_*` variables
    /// apply, code settings win) with the protocol set to gRPC; finish it
    /// with [`OtlpHttpExporterBuilder::build_grpc`].
    pub fn builder() -> OtlpHttpExporterBuilder {
        super::OtlpHttpExporter::builder().with_protocol(Protocol::Grpc)
    }

    /// An exporter with exactly this configuration (its `protocol` is
    /// ignored). Fails with `InvalidArgument` for an endpoint that is
    /// neither an `http`/`https` URL nor `host:port` (TLS unless
    /// `insecure`), a zero timeout, invalid or reserved metadata, an
    /// unreadable certificate or key file.
    pub fn new(mut config: OtlpHttpConfig) -> Result<Self> {
        if config.endpoint == super::DEFAULT_ENDPOINT {
            config.endpoint = DEFAULT_GRPC_ENDPOINT.to_owned();
        }
        config.protocol = Protocol::Grpc;
        let target = parse_target(&config.endpoint, config.insecure)?;
        if config.timeout.is_zero() {
            return Err(invalid("OTLP timeout must be positive"));
        }
        let headers = request_headers(&config)?;
        let tls = if target.tls {
            Some(tokio_rustls::TlsConnector::from(Arc::new(tls_config(
                &config,
            )?)))
        } else {
            // Still refuse unreadable files, as OTLP/HTTP does.
            if config.certificate.is_some() || config.client_certificate.is_some() {
                tls_config(&config)?;
            }
            None
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Failed(format!("OTLP/gRPC: cannot make its runtime: {e}")))?;
        Ok(OtlpGrpcExporter {
            config,
            target,
            headers,
            tls,
            rt: OwnedRuntime(Some(rt)),
            conn: Mutex::new(None),
            socket: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            jitter: Jitter::new(),
        })
    }

    /// The resolved configuration.
    pub fn config(&self) -> &OtlpHttpConfig {
        &self.config
    }

    /// This exporter as the transport of an [`ExportPipeline`]: protobuf
    /// batches, gzip, request timeout, retry policy and temporality from
    /// this exporter's configuration; queue, batching and circuit breaker
    /// are set on the returned builder.
    pub fn into_pipeline(self) -> PipelineBuilder {
        let c = self.config.clone();
        ExportPipeline::builder(self)
            .with_encoder(OtlpProtobufEncoder::new())
            .with_request_timeout(c.timeout)
            .with_retry(c.retry)
            .with_temporality(c.temporality)
            .with_gzip(match c.compression {
                Compression::Gzip => Some(6),
                Compression::None => None,
            })
    }

    fn fail(&self, reason: FailReason, what: &str, e: impl std::fmt::Display) -> Failed {
        Failed(Outcome::Retryable {
            reason,
            message: format!(
                "OTLP/gRPC export to {} failed: {what}: {e}",
                self.config.endpoint
            ),
            retry_after: None,
        })
    }

    fn io_failure(&self, what: &str, e: std::io::Error) -> Failed {
        use std::io::ErrorKind;
        if e.kind() == ErrorKind::InvalidData {
            // rustls: unknown CA, bad certificate, protocol violation.
            return Failed(Outcome::Permanent {
                reason: FailReason::Other,
                message: format!(
                    "OTLP/gRPC export to {} failed: {what}: {e}",
                    self.config.endpoint
                ),
            });
        }
        self.fail(FailReason::Connection, what, e)
    }

    fn h2_failure(&self, e: h2::Error) -> Failed {
        let what = if e.is_go_away() {
            "the server closed the connection (GOAWAY)"
        } else if e.is_reset() {
            "the server reset the stream"
        } else if e.is_io() {
            "the connection broke"
        } else {
            "HTTP/2"
        };
        self.fail(FailReason::Connection, what, e)
    }

    async fn connect(&self) -> std::result::Result<Conn, Failed> {
        let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| self.io_failure("connect", e))?;
        let _ = tcp.set_nodelay(true);
        // A clone of the socket lets `abort` shut it from another thread.
        let std = tcp.into_std().map_err(|e| self.io_failure("connect", e))?;
        if let Ok(clone) = std.try_clone() {
            *lock(&self.socket) = Some(clone);
        }
        let tcp =
            tokio::net::TcpStream::from_std(std).map_err(|e| self.io_failure("connect", e))?;
        let mut b = h2::client::Builder::new();
        b.initial_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .enable_push(false);
        match &self.tls {
            None => self.handshake(&b, tcp).await,
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.target.host.clone())
                    .map_err(|e| {
                        Failed(Outcome::Permanent {
                            reason: FailReason::Other,
                            message: format!("OTLP/gRPC: host name {:?}: {e}", self.target.host),
                        })
                    })?;
                let io = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.io_failure("TLS handshake", e))?;
                self.handshake(&b, io).await
            }
        }
    }

    async fn handshake<T>(
        &self,
        b: &h2::client::Builder,
        io: T,
    ) -> std::result::Result<Conn, Failed>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = b
            .handshake::<T, Bytes>(io)
            .await
            .map_err(|e| self.h2_failure(e))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { send, driver })
    }

    /// One unary call on `send`.
    async fn call(
        &self,
        send: h2::client::SendRequest<Bytes>,
        body: &[u8],
        timeout: Duration,
    ) -> std::result::Result<Outcome, Failed> {
        let mut send = send.ready().await.map_err(|e| self.h2_failure(e))?;
        let mut req = http::Request::new(());
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.target.uri.clone();
        *req.version_mut() = http::Version::HTTP_2;
        *req.headers_mut() = self.headers.clone();
        if let Ok(v) = http::HeaderValue::from_str(&grpc_status::timeout_header(timeout)) {
            req.headers_mut().insert("grpc-timeout", v);
        }
        let (response, mut stream) = send
            .send_request(req, false)
            .map_err(|e| self.h2_failure(e))?;
        let gzip = self.config.compression == Compression::Gzip;
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.extend_from_slice(&grpc_status::frame_prefix(gzip, body.len()));
        framed.extend_from_slice(body);
        stream
            .send_data(Bytes::from(framed), true)
            .map_err(|e| self.h2_failure(e))?;
        let (head, mut recv) = response.await.map_err(|e| self.h2_failure(e))?.into_parts();
        let endpoint = &self.config.endpoint;
        if head.status != http::StatusCode::OK {
            let code = Code::of_http_status(head.status.as_u16());
            let msg = format!("HTTP {} instead of a gRPC answer", head.status.as_u16());
            return Ok(grpc_status::outcome(code, &msg, None, endpoint));
        }
        // Trailers-only answer: the status is in the headers.
        if head.headers.contains_key("grpc-status") {
            return Ok(self.status_outcome(&head.headers, &[]));
        }
        let mut message = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(|e| self.h2_failure(e))?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            if message.len() < MAX_RESPONSE {
                message.extend_from_slice(&chunk);
            }
        }
        let trailers = recv
            .trailers()
            .await
            .map_err(|e| self.h2_failure(e))?
            .unwrap_or_default();
        Ok(self.status_outcome(&trailers, &message))
    }

    /// The outcome of a finished call from its status metadata and its
    /// response body.
    fn status_outcome(&self, meta: &http::HeaderMap, body: &[u8]) -> Outcome {
        let code = meta
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32);
        let message = meta
            .get("grpc-message")
            .map(|v| grpc_status::decode_message(v.as_bytes()))
            .unwrap_or_else(|| {
                if meta.contains_key("grpc-status") {
                    String::new()
                } else {
                    "the answer has no grpc-status".into()
                }
            });
        if code != Code::Ok {
            let delay = meta
                .get("grpc-status-details-bin")
                .and_then(|v| grpc_status::retry_info(v.as_bytes()));
            return grpc_status::outcome(code, &message, delay, &self.config.endpoint);
        }
        match grpc_status::first_message(body) {
            None => Outcome::Delivered,
            Some((false, m)) => super::http::partial_success(m),
            Some((true, m)) => {
                use std::io::Read;
                let mut raw = Vec::new();
                let mut d = flate2::read::GzDecoder::new(m).take(MAX_RESPONSE as u64);
                match d.read_to_end(&mut raw) {
                    Ok(_) => super::http::partial_success(&raw),
                    Err(_) => Outcome::Delivered,
                }
            }
        }
    }

    fn close(&self, slot: &mut Option<Conn>) {
        if let Some(c) = slot.take() {
            c.driver.abort();
        }
        if let Some(s) = lock(&self.socket).take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Transport for OtlpGrpcExporter {
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        if self.shutdown.load(Ordering::Acquire) {
            return Outcome::Permanent {
                reason: FailReason::Other,
                message: "the OTLP/gRPC exporter has been shut down".into(),
            };
        }
        let mut slot = lock(&self.conn);
        if slot.as_ref().is_some_and(|c| c.driver.is_finished()) {
            // GOAWAY, a reset or an idle close since the last call.
            self.close(&mut slot);
        }
        let result = self.rt.block_on(async {
            tokio::time::timeout(timeout, async {
                let send = match slot.as_ref() {
                    Some(c) => c.send.clone(),
                    None => {
                        let c = self.connect().await?;
                        let send = c.send.clone();
                        *slot = Some(c);
                        send
                    }
                };
                self.call(send, body, timeout).await
            })
            .await
        });
        match result {
            None => Outcome::Permanent {
                reason: FailReason::Other,
                message: "the OTLP/gRPC exporter has no runtime".into(),
            },
            Some(Ok(Ok(outcome))) => outcome,
            Some(Ok(Err(Failed(outcome)))) => {
                self.close(&mut slot);
                outcome
            }
            Some(Err(_elapsed)) => {
                // The call was cancelled (RST_STREAM on the next use); a
                // receiver that hangs may hang the connection too: start
                // afresh.
                self.close(&mut slot);
                Outcome::Retryable {
                    reason: FailReason::Timeout,
                    message: format!(
                        "OTLP/gRPC export to {} failed: no answer within {timeout:?} \
                         (DEADLINE_EXCEEDED)",
                        self.config.endpoint
                    ),
                    retry_after: None,
                }
            }
        }
    }

    fn name(&self) -> &'static str {
        "otlp_grpc"
    }

    fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        let mut slot = lock(&self.conn);
        self.close(&mut slot);
    }

    /// Cuts the call in flight (its socket is shut down: the call fails
    /// at once as a connection error); a later send connects again.
    fn abort(&self) {
        if let Some(s) = lock(&self.socket).as_ref() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The standalone exporter (no pipeline): each export is encoded and sent
/// on the calling thread, retried per the configuration's policy within
/// the export's deadline. Calls from several threads take turns.
impl PushExporter for OtlpGrpcExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        if self.shutdown.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        if metrics.point_count() == 0 {
            return Ok(());
        }
        let mut body = Vec::new();
        super::encode_protobuf(metrics, &mut body);
        if self.config.compression == Compression::Gzip {
            let mut z = Vec::with_capacity(body.len() / 4 + 64);
            crate::export::gzip_into(&body, 6, &mut z);
            body = z;
        }
        let send = || {
            super::http::send_with_retries(
                &self.config,
                &self.jitter,
                &self.shutdown,
                deadline,
                |timeout| Transport::send(self, &body, timeout),
            )
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return send();
        }
        // Called from inside a tokio runtime (a Rust host's task), where
        // our runtime cannot block: make the calls on a thread of its own.
        std::thread::scope(|s| {
            s.spawn(send).join().unwrap_or_else(|_| {
                Err(Error::Failed("the OTLP/gRPC export thread panicked".into()))
            })
        })
    }

    fn temporality(&self) -> TemporalityPreference {
        self.config.temporality
    }

    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        Transport::shutdown(self);
        Ok(())
    }

    /// No retry after the call in flight, which is cut at once (its
    /// socket is shut down); later exports are refused.
    fn abort(&self) {
        self.shutdown.store(true, Ordering::Release);
        Transport::abort(self);
    }

    fn name(&self) -> &'static str {
        "otlp_grpc"
    }
}

impl OtlpHttpExporterBuilder {
    /// Builds the OTLP/gRPC exporter of this configuration (whatever its
    /// protocol says). Errors as for [`OtlpGrpcExporter::new`].
    pub fn build_grpc(self) -> Result<OtlpGrpcExporter> {
        OtlpGrpcExporter::new(self.config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let parse_target = |u: &str| parse_target(u, false);
        let t = parse_target("http://127.0.0.1:4317").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 4317));
        assert_eq!(
            t.uri.to_string(),
            format!("http://127.0.0.1:4317{EXPORT_METHOD}")
        );
        // The path (e.g. an OTLP/HTTP signal path) is ignored.
        let t = parse_target("HTTPS://[::1]:9/v1/metrics").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 9));
        assert_eq!(t.uri.path(), EXPORT_METHOD);
        assert_eq!(parse_target("https://c").unwrap().port, 443);
        for bad in [
            "ftp://c",
            "http://",
            "http://c:x",
            "http://u@c:1",
            "c",
            "c:x",
            ":4317",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        let e = OtlpGrpcExporter::builder()
            .without_env()
            .build_grpc()
            .unwrap();
        assert_eq!(e.config().endpoint, DEFAULT_GRPC_ENDPOINT);
    }

    #[test]
    fn schemeless_endpoints_follow_insecure_and_schemes_win() {
        for (url, insecure, tls, host, port) in [
            ("collector:4317", false, true, "collector", 4317),
            ("collector:4317", true, false, "collector", 4317),
            (" [::1]:9/v1/metrics", true, false, "::1", 9),
            ("http://c:1", false, false, "c", 1),
            ("https://c:1", true, true, "c", 1),
        ] {
            let t = super::parse_target(url, insecure).unwrap();
            assert_eq!(
                (t.tls, t.host.as_str(), t.port),
                (tls, host, port),
                "{url} insecure={insecure}"
            );
            let scheme = if tls { "https" } else { "http" };
            assert_eq!(t.uri.scheme_str(), Some(scheme), "{url}");
            assert_eq!(t.uri.path(), EXPORT_METHOD);
        }
    }

    #[test]
    fn metadata_is_checked() {
        let b = || OtlpGrpcExporter::builder().without_env();
        assert!(b().with_header("grpc-timeout", "1S").build_grpc().is_err());
        assert!(b().with_header("te", "x").build_grpc().is_err());
        assert!(b().with_header("bad name", "v").build_grpc().is_err());
        assert!(b()
            .with_certificate("/nonexistent.pem")
            .build_grpc()
            .is_err());
        let e = b()
            .with_header("Api-Key", "s3cret")
            .with_compression(Compression::Gzip)
            .build_grpc()
            .unwrap();
        assert_eq!(e.headers["api-key"], "s3cret");
        assert_eq!(e.headers["grpc-encoding"], "gzip");
        assert_eq!(e.headers["content-type"], "application/grpc");
    }

    #[test]
    fn answers_are_read_from_trailers_and_message() {
        use prost::Message as _;
        let e = OtlpGrpcExporter::builder()
            .without_env()
            .build_grpc()
            .unwrap();
        let resp = super::super::proto::ExportMetricsServiceResponse {
            partial_success: Some(super::super::proto::ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "bad points".into(),
            }),
        }
        .encode_to_vec();
        let framed = |compressed: bool, m: &[u8]| {
            let mut v = grpc_status::frame_prefix(compressed, m.len()).to_vec();
            v.extend_from_slice(m);
            v
        };
        let mut gz = Vec::new();
        crate::export::gzip_into(&resp, 6, &mut gz);
        let mut ok = http::HeaderMap::new();
        ok.insert("grpc-status", http::HeaderValue::from_static("0"));
        for body in [framed(false, &resp), framed(true, &gz)] {
            assert_eq!(
                e.status_outcome(&ok, &body),
                Outcome::PartiallyRejected {
                    rejected: 3,
                    message: "bad points".into()
                }
            );
        }
        assert_eq!(
            e.status_outcome(&ok, &framed(false, &[])),
            Outcome::Delivered
        );
        // No grpc-status at all: UNKNOWN, permanent.
        match e.status_outcome(&http::HeaderMap::new(), &[]) {
            Outcome::Permanent { message, .. } => {
                assert!(message.contains("UNKNOWN"), "{message}");
                assert!(message.contains("no grpc-status"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        let mut busy = http::HeaderMap::new();
        busy.insert("grpc-status", http::HeaderValue::from_static("14"));
        busy.insert(
            "grpc-message",
            http::HeaderValue::from_static("try%20later"),
        );
        match e.status_outcome(&busy, &[]) {
            Outcome::Retryable {
                message,
                retry_after: None,
                ..
            } => assert!(message.ends_with("UNAVAILABLE: try later"), "{message}"),
            o => panic!("{o:?}"),
        }
    }

    /// A standalone export called from inside a Rust host's tokio
    /// runtime (where blocking on ours would panic) runs its calls on a
    /// thread of its own: here it fails as a connection error (nobody
    /// listens on the port), after the policy's attempts.
    #[test]
    fn standalone_export_inside_another_runtime() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let e = OtlpGrpcExporter::builder()
            .without_env()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_retry(crate::export::pipeline::RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                multiplier: 2.0,
            })
            .build_grpc()
            .unwrap();
        let reader = crate::ManualReader::new(TemporalityPreference::Cumulative);
        let provider = crate::MeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        provider
            .meter("m")
            .u64_counter("c")
            .build()
            .unwrap()
            .add(1, &[]);
        let rm = reader.collect().unwrap();
        let host = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = host
            .block_on(async { e.export(&rm, deadline) })
            .expect_err("nobody listens");
        let msg = err.to_string();
        assert!(msg.contains("connect"), "{msg}");
        assert!(msg.contains("gave up after 2 attempts"), "{msg}");
    }

    /// The last reference may go on a thread inside another tokio
    /// runtime (a Rust host): dropping ours there must not panic.
    #[test]
    fn dropping_inside_another_runtime() {
        let e = OtlpGrpcExporter::builder()
            .without_env()
            .build_grpc()
            .unwrap();
        let host = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        host.block_on(async move { drop(e) });
    }
}
