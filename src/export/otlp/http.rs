//! The OTLP/HTTP exporter: `POST {endpoint}` (by default
//! `http://localhost:4318/v1/metrics`) with a protobuf (or OTLP/JSON) body,
//! optional gzip, custom headers, a per-request timeout, and retries with
//! exponential backoff, full jitter and `Retry-After`, all within the
//! export's deadline.
//!
//! Retryable: HTTP 429, 502, 503, 504, request timeouts and connection
//! failures. Every other non-2xx status is permanent: the export fails at
//! once with the server's message (a `google.rpc.Status` body when the
//! server sends one). A 2xx response with a `partial_success` is a success
//! whose rejections are reported through the diagnostics handler; behind
//! the export pipeline the rejected points are also counted as dropped
//! (reason `rejected`), not as exported.
//!
//! Behind the export pipeline ([`OtlpHttpExporter::into_pipeline`]) the
//! exporter is only the transport: one attempt per request, over a kept-
//! alive connection of its own for `http://` endpoints (abortable at
//! shutdown's deadline; ureq for `https://`), while the pipeline's worker
//! does the retrying, the circuit breaking and the accounting (see
//! [`crate::export::pipeline`]).

use super::config::{Compression, OtlpHttpConfig, Protocol};
use super::proto;
use super::{OtlpJsonEncoder, OtlpProtobufEncoder};
use crate::collect::data::ResourceMetrics;
use crate::diagnostics::diag_warn;
use crate::error::{Error, Result};
use crate::export::pipeline::http_client::HttpClient;
use crate::export::pipeline::https;
// Also at their former paths (`otlp::http::{is_http_url, push_agent_config}`).
pub(crate) use crate::export::pipeline::https::{is_http_url, push_agent_config};
use crate::export::pipeline::{is_transient_status, parse_retry_after};
use crate::export::pipeline::{
    FailReason, Jitter, Outcome, PipelineBuilder, RetryPolicy, Transport,
};
use crate::export::PushExporter;
use crate::temporality::TemporalityPreference;
use prost::Message;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most response-body bytes read (partial success or error message).
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// Reads one environment variable.
type EnvLookup = dyn Fn(&str) -> Option<String>;

/// Builds an [`OtlpHttpExporter`]. Values set here win over the
/// environment, which wins over the defaults (see
/// [`OtlpHttpConfig`]).
pub struct OtlpHttpExporterBuilder {
    env: Option<Box<EnvLookup>>,
    endpoint: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    protocol: Option<Protocol>,
    temporality: Option<TemporalityPreference>,
    certificate: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    retry: Option<RetryPolicy>,
    insecure: Option<bool>,
}

impl std::fmt::Debug for OtlpHttpExporterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttpExporterBuilder")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpExporterBuilder {
    /// Reads the configuration from `lookup` instead of the process
    /// environment (tests, hosts with their own configuration source).
    pub fn with_env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        self.env = Some(Box::new(lookup));
        self
    }

    /// Ignores the environment: only code settings and defaults apply.
    pub fn without_env(self) -> Self {
        self.with_env_lookup(|_| None)
    }

    /// The full URL to post to, used as is (like
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), e.g.
    /// `http://collector:4318/v1/metrics`.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// A base URL to which `/v1/metrics` is appended (like
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`), e.g. `http://collector:4318`.
    pub fn with_base_endpoint(mut self, base: impl AsRef<str>) -> Self {
        self.endpoint = Some(super::config::signal_url(base.as_ref()));
        self
    }

    /// Adds a request header (replacing one of the same name from the
    /// environment).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Timeout of one HTTP request (default 10 s); each request is also
    /// cut short by the export deadline.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Body compression (default none).
    pub fn with_compression(mut self, c: Compression) -> Self {
        self.compression = Some(c);
        self
    }

    /// Body encoding (default `http/protobuf`).
    pub fn with_protocol(mut self, p: Protocol) -> Self {
        self.protocol = Some(p);
        self
    }

    /// Temporality the exporter asks its reader for (default cumulative).
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.temporality = Some(t);
        self
    }

    /// Trusts the CA certificates of this PEM file for `https` instead of
    /// the system roots.
    pub fn with_certificate(mut self, pem_path: impl Into<PathBuf>) -> Self {
        self.certificate = Some(pem_path.into());
        self
    }

    /// Presents this client certificate chain and key (PEM files) for mTLS.
    pub fn with_client_certificate(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert_path.into(), key_path.into()));
        self
    }

    /// Retry policy (default [`RetryPolicy::default`]).
    pub fn with_retry(mut self, r: RetryPolicy) -> Self {
        self.retry = Some(r);
        self
    }

    /// OTLP/gRPC with an endpoint that has no scheme (`collector:4317`):
    /// `true` for plain HTTP/2, `false` (the default, or
    /// `OTEL_EXPORTER_OTLP_INSECURE`) for TLS. Ignored when the endpoint
    /// says `http://` or `https://`, and by OTLP/HTTP.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = Some(insecure);
        self
    }

    /// The configuration this builder resolves to.
    pub fn config(&self) -> OtlpHttpConfig {
        let mut c = OtlpHttpConfig::default();
        match &self.env {
            Some(f) => c.apply_env(f.as_ref()),
            None => c.apply_env(&|k| std::env::var(k).ok()),
        }
        if let Some(e) = &self.endpoint {
            c.endpoint = e.clone();
        }
        for (k, v) in &self.headers {
            c.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            c.headers.push((k.clone(), v.clone()));
        }
        if let Some(t) = self.timeout {
            c.timeout = t;
        }
        if let Some(x) = self.compression {
            c.compression = x;
        }
        if let Some(x) = self.protocol {
            c.protocol = x;
        }
        if let Some(x) = self.temporality {
            c.temporality = x;
        }
        if let Some(x) = &self.certificate {
            c.certificate = Some(x.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            c.client_certificate = Some(cert.clone());
            c.client_key = Some(key.clone());
        }
        if let Some(r) = self.retry {
            c.retry = r;
        }
        if let Some(x) = self.insecure {
            c.insecure = x;
        }
        c
    }

    /// Builds the exporter. Fails with `InvalidArgument` for an endpoint
    /// that is not an `http`/`https` URL, a zero timeout, an invalid
    /// header, or an unreadable certificate or key file.
    pub fn build(self) -> Result<OtlpHttpExporter> {
        OtlpHttpExporter::new(self.config())
    }
}

/// Pushes snapshots to an OTLP/HTTP receiver (an OpenTelemetry Collector,
/// or any back end speaking OTLP/HTTP). Attach it to a provider through a
/// [`PeriodicReader`](crate::readers::PeriodicReader).
pub struct OtlpHttpExporter {
    config: OtlpHttpConfig,
    agent: ureq::Agent,
    /// For `http://` endpoints, the pipeline's transport: a kept-alive
    /// connection whose attempt shutdown can abort.
    raw: Option<HttpClient>,
    shutdown: AtomicBool,
    jitter: Jitter,
}

impl std::fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttpExporter")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

/// The TLS settings of `c` (see [`https::tls_config`]).
pub(crate) fn tls_config(c: &OtlpHttpConfig) -> Result<ureq::tls::TlsConfig> {
    https::tls_config(
        c.certificate.as_deref(),
        c.client_certificate.as_deref(),
        c.client_key.as_deref(),
    )
}

impl OtlpHttpExporter {
    /// A builder with the defaults, reading the process environment at
    /// `build()` (code settings win).
    pub fn builder() -> OtlpHttpExporterBuilder {
        OtlpHttpExporterBuilder {
            env: None,
            endpoint: None,
            headers: Vec::new(),
            timeout: None,
            compression: None,
            protocol: None,
            temporality: None,
            certificate: None,
            client_cert: None,
            retry: None,
            insecure: None,
        }
    }

    /// An exporter with exactly this configuration (no environment).
    pub fn new(config: OtlpHttpConfig) -> Result<Self> {
        if !is_http_url(&config.endpoint) {
            return Err(invalid(format!(
                "OTLP endpoint {:?} is not an http:// or https:// URL",
                config.endpoint
            )));
        }
        if config.timeout.is_zero() {
            return Err(invalid("OTLP timeout must be positive"));
        }
        if config.protocol == Protocol::Grpc {
            return Err(super::protocol::grpc_refused_by_http());
        }
        for (k, v) in &config.headers {
            crate::export::check_header(k, v).map_err(|m| invalid(format!("OTLP: {m}")))?;
        }
        let agent = push_agent_config(tls_config(&config)?)
            .user_agent(concat!("ferrometer/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let mut fixed: Vec<(&str, &str)> = vec![
            ("Content-Type", config.protocol.content_type()),
            (
                "User-Agent",
                concat!("ferrometer/", env!("CARGO_PKG_VERSION")),
            ),
        ];
        if config.compression == Compression::Gzip {
            fixed.push(("Content-Encoding", "gzip"));
        }
        fixed.extend(config.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let raw = HttpClient::new(&config.endpoint, &fixed);
        Ok(OtlpHttpExporter {
            config,
            agent,
            raw,
            shutdown: AtomicBool::new(false),
            jitter: Jitter::new(),
        })
    }

    /// The resolved configuration.
    pub fn config(&self) -> &OtlpHttpConfig {
        &self.config
    }

    /// The request body for a snapshot: encoded, then compressed if asked.
    pub fn encode_body(&self, metrics: &ResourceMetrics) -> Vec<u8> {
        let mut raw = Vec::new();
        match self.config.protocol {
            Protocol::HttpProtobuf | Protocol::Grpc => super::encode_protobuf(metrics, &mut raw),
            Protocol::HttpJson => {
                let mut s = String::new();
                super::encode_json(metrics, &mut s);
                raw = s.into_bytes();
            }
        }
        match self.config.compression {
            Compression::None => raw,
            Compression::Gzip => {
                let mut z = Vec::with_capacity(raw.len() / 4 + 64);
                crate::export::gzip_into(&raw, 6, &mut z);
                z
            }
        }
    }

    /// Sends an already encoded body with the retry policy, until
    /// `deadline`.
    pub fn send(&self, body: &[u8], deadline: Instant) -> Result<()> {
        send_with_retries(
            &self.config,
            &self.jitter,
            &self.shutdown,
            deadline,
            |timeout| self.attempt(body, timeout),
        )
    }

    fn attempt(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.config.endpoint)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", self.config.protocol.content_type());
        if self.config.compression == Compression::Gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => {
                let why = format!("OTLP export to {} failed: {e}", self.config.endpoint);
                return Outcome::of_ureq_error(&e, why);
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let is_protobuf = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-protobuf"));
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec()
            .unwrap_or_default();
        self.answer(status, &body, is_protobuf, retry_after)
    }

    /// What an HTTP answer means: success (with any partial success
    /// reported), a transient failure to retry, or a permanent one.
    fn answer(
        &self,
        status: u16,
        body: &[u8],
        is_protobuf: bool,
        retry_after: Option<Duration>,
    ) -> Outcome {
        if (200..=299).contains(&status) {
            return if is_protobuf {
                partial_success(body)
            } else {
                Outcome::Delivered
            };
        }
        let text = error_text(body, is_protobuf);
        let endpoint = &self.config.endpoint;
        let reason = FailReason::of_status(status);
        if is_transient_status(status) {
            Outcome::Retryable {
                reason,
                message: format!("OTLP export to {endpoint} got HTTP {status}{text}"),
                retry_after,
            }
        } else {
            Outcome::Permanent {
                reason,
                message: format!(
                    "OTLP export to {endpoint} got HTTP {status} (not retryable){text}"
                ),
            }
        }
    }
}

impl OtlpHttpExporter {
    /// This exporter as the transport of an
    /// [`ExportPipeline`](crate::export::pipeline::ExportPipeline): the
    /// returned builder takes the protocol (encoder), compression,
    /// request timeout, retry policy and temporality from this exporter's
    /// configuration; queue, batching and circuit breaker are set on the
    /// builder.
    pub fn into_pipeline(self) -> PipelineBuilder {
        let c = self.config.clone();
        let b = crate::export::pipeline::ExportPipeline::builder(self)
            .with_request_timeout(c.timeout)
            .with_retry(c.retry)
            .with_temporality(c.temporality)
            .with_gzip(match c.compression {
                Compression::Gzip => Some(6),
                Compression::None => None,
            });
        match c.protocol {
            Protocol::HttpProtobuf | Protocol::Grpc => b.with_encoder(OtlpProtobufEncoder::new()),
            Protocol::HttpJson => b.with_encoder(OtlpJsonEncoder::default()),
        }
    }
}

/// One attempt per call: the pipeline's worker does the retrying. The
/// body must already be compressed when the configuration says gzip.
impl Transport for OtlpHttpExporter {
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        if self.shutdown.load(Ordering::Acquire) {
            return Outcome::Permanent {
                reason: FailReason::Other,
                message: "the OTLP exporter has been shut down".into(),
            };
        }
        match &self.raw {
            Some(raw) => self.attempt_raw(raw, body, timeout),
            None => self.attempt(body, timeout),
        }
    }

    fn name(&self) -> &'static str {
        "otlp"
    }

    fn abort(&self) {
        if let Some(raw) = &self.raw {
            raw.abort();
        }
    }
}

impl OtlpHttpExporter {
    /// [`attempt`](Self::attempt) over the pipeline's own connection.
    fn attempt_raw(&self, raw: &HttpClient, body: &[u8], timeout: Duration) -> Outcome {
        let resp = match raw.post(body, timeout) {
            Ok(r) => r,
            Err((class, msg)) => {
                let why = format!("OTLP export to {} failed: {msg}", self.config.endpoint);
                return raw.failure_outcome(class, why);
            }
        };
        let status = resp.status;
        let is_protobuf = resp
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/x-protobuf"));
        let after = resp.retry_after.as_deref().and_then(parse_retry_after);
        self.answer(status, &resp.body, is_protobuf, after)
    }
}

/// The standalone exporters' retry loop (OTLP/HTTP and OTLP/gRPC
/// without the pipeline): `attempt` (given the attempt's timeout: the
/// configured one, cut to what is left before `deadline`) until it
/// delivers, fails permanently, the attempts of `c.retry` run out, or the
/// next wait (the server's delay, else full-jitter backoff) would pass
/// `deadline`. A partial success is a success whose rejected points are
/// reported through the diagnostics handler. After `shutdown` is set no
/// new attempt starts.
pub(super) fn send_with_retries(
    c: &OtlpHttpConfig,
    jitter: &Jitter,
    shutdown: &AtomicBool,
    deadline: Instant,
    mut attempt_once: impl FnMut(Duration) -> Outcome,
) -> Result<()> {
    let policy = c.retry;
    let mut attempt: u32 = 0;
    loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        if attempt > 0 && shutdown.load(Ordering::Acquire) {
            return Err(Error::Failed(format!(
                "OTLP export to {} abandoned after {attempt} attempt(s): shut down",
                c.endpoint
            )));
        }
        attempt += 1;
        let (why, after) = match attempt_once(c.timeout.min(left)) {
            Outcome::Delivered => return Ok(()),
            Outcome::PartiallyRejected { rejected, message } => {
                // A success: the receiver will not take these points on
                // a retry either.
                diag_warn!(
                    "OTLP partial success: the receiver rejected {rejected} data point(s): \
                     {message}"
                );
                return Ok(());
            }
            Outcome::Permanent { message, .. } => return Err(Error::Failed(message)),
            Outcome::Retryable {
                message,
                retry_after,
                ..
            } => (message, retry_after),
        };
        if policy.max_attempts != 0 && attempt >= policy.max_attempts {
            return Err(Error::Failed(format!(
                "{why} (gave up after {attempt} attempts)"
            )));
        }
        let wait = match after {
            Some(d) => d,
            None => jitter.full(policy.ceiling(attempt - 1)),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if wait >= left {
            return Err(Error::Failed(format!(
                "{why} (gave up after {attempt} attempts: the next try, in {wait:?}, \
                 would pass the export deadline)"
            )));
        }
        std::thread::sleep(wait);
    }
}

/// What a 2xx protobuf answer says: delivered, or delivered with some
/// points rejected (`partial_success.rejected_data_points`). A warning
/// without rejected points is reported through the diagnostics handler.
pub(crate) fn partial_success(body: &[u8]) -> Outcome {
    if body.is_empty() {
        return Outcome::Delivered;
    }
    match proto::ExportMetricsServiceResponse::decode(body) {
        Ok(r) => match r.partial_success {
            Some(p) if p.rejected_data_points > 0 => Outcome::PartiallyRejected {
                rejected: p.rejected_data_points as u64,
                message: p.error_message,
            },
            Some(p) if !p.error_message.is_empty() => {
                diag_warn!("OTLP partial success warning: {}", p.error_message);
                Outcome::Delivered
            }
            _ => Outcome::Delivered,
        },
        Err(e) => {
            diag_warn!("OTLP: undecodable success response: {e}");
            Outcome::Delivered
        }
    }
}

/// `: message` from an error body (`google.rpc.Status` or text).
fn error_text(body: &[u8], is_protobuf: bool) -> String {
    let msg = if is_protobuf {
        proto::Status::decode(body)
            .map(|s| s.message)
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body[..body.len().min(512)])
            .trim()
            .to_owned()
    };
    if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    }
}

impl PushExporter for OtlpHttpExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        if self.shutdown.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        if metrics.point_count() == 0 {
            return Ok(());
        }
        let body = self.encode_body(metrics);
        self.send(&body, deadline)
    }

    fn temporality(&self) -> TemporalityPreference {
        self.config.temporality
    }

    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        self.shutdown.store(true, Ordering::Release);
        Ok(())
    }

    /// No retry after the attempt in progress (which ends at its own
    /// request timeout); later exports are refused.
    fn abort(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    fn name(&self) -> &'static str {
        "otlp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn jitter_stays_under_the_ceiling() {
        let e = OtlpHttpExporter::builder().without_env().build().unwrap();
        let c = Duration::from_millis(100);
        let v: Vec<Duration> = (0..200).map(|_| e.jitter.full(c)).collect();
        assert!(v.iter().all(|d| *d <= c));
        assert!(v.iter().any(|d| *d < c / 2) && v.iter().any(|d| *d > c / 2));
    }

    #[test]
    fn bad_configs_are_refused() {
        let b = || OtlpHttpExporter::builder().without_env();
        assert!(b().with_endpoint("ftp://x").build().is_err());
        assert!(b().with_endpoint("localhost:4318").build().is_err());
        assert!(b().with_timeout(Duration::ZERO).build().is_err());
        assert!(b().with_header("bad name", "v").build().is_err());
        assert!(b().with_header("x", "a\r\nb").build().is_err());
        assert!(b().with_certificate("/nonexistent.pem").build().is_err());
    }

    #[test]
    fn code_wins_over_env() {
        let c = OtlpHttpExporter::builder()
            .with_env_lookup(|k| match k {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://env:4318".into()),
                "OTEL_EXPORTER_OTLP_HEADERS" => Some("a=env,b=env".into()),
                "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
                _ => None,
            })
            .with_header("A", "code")
            .with_compression(Compression::None)
            .config();
        assert_eq!(c.endpoint, "http://env:4318/v1/metrics");
        assert_eq!(
            c.headers,
            vec![
                ("b".to_owned(), "env".to_owned()),
                ("A".to_owned(), "code".to_owned())
            ]
        );
        assert_eq!(c.compression, Compression::None);
        let c = OtlpHttpExporter::builder()
            .without_env()
            .with_base_endpoint("http://code:1/")
            .config();
        assert_eq!(c.endpoint, "http://code:1/v1/metrics");
    }
}
