//! The Prometheus Remote-Write exporter: pushes snapshots to anything that
//! accepts remote write (Prometheus with `--web.enable-remote-write-receiver`,
//! Thanos Receive, Grafana Mimir, Cortex, VictoriaMetrics), behind the
//! export pipeline (queue, batching, backoff, circuit breaker,
//! self-metrics, shutdown accounting: see [`crate::export::pipeline`]).
//!
//! ```text
//!  PeriodicReader (cumulative) ─▶ ExportPipeline
//!      RemoteWriteEncoder: points → WriteRequest (1.0) or
//!                          io.prometheus.write.v2.Request (2.0), snappy
//!      queue ─▶ worker ─▶ RemoteWriteExporter (the Transport):
//!                          POST {url}, one attempt per call
//! ```
//!
//! The wire (both versions): `POST` with `Content-Encoding: snappy`
//! (block format), `User-Agent: ferrometer/<version>`, and
//!
//! | version | `Content-Type` | `X-Prometheus-Remote-Write-Version` |
//! |---|---|---|
//! | 1.0 (default) | `application/x-protobuf` | `0.1.0` |
//! | 2.0 | `application/x-protobuf;proto=io.prometheus.write.v2.Request` | `2.0.0` |
//!
//! plus `Authorization` (basic auth or bearer token) and the configured
//! headers. What the answers mean:
//!
//! - 2xx: delivered. With 2.0 the receiver must confirm what it wrote in
//!   `X-Prometheus-Remote-Write-Samples-Written` (and `-Histograms-`):
//!   fewer than sent counts every point of the request as rejected
//!   (dropped, reason `rejected`: the receiver does not say which it
//!   refused; with cumulative data the next snapshot carries the same
//!   totals); no header at all means a receiver that does not speak 2.0
//!   (a 1.0 receiver reads a 2.0 body as an empty request), counted the
//!   same way.
//! - 5xx and 429: retried with the pipeline's backoff; `Retry-After`
//!   (seconds or an HTTP date) replaces the backoff and holds every
//!   request until then.
//! - any other status (400, 401, 404, 413...): never retried; the batch is
//!   dropped (`permanent_error`), as the specification requires (the
//!   receiver refused the data itself).
//! - timeouts and connection failures: retried.
//!
//! Temporality: remote write carries cumulative values only, so the
//! exporter asks its reader for cumulative temporality (there is no
//! option to change it). Delta points handed over anyway (a host
//! producer's) are refused, not converted: they are left out of the
//! requests, counted by [`LeftOut`] (never offered to the queue) and
//! warned about once per metric. Exponential histograms are left out the
//! same way (remote write 1.0 has no classic form of them; native
//! histograms are not sent). The snapshot model has no exemplars, so none
//! are sent.
//!
//! Names and labels follow the pull endpoint (see [`encode`]).
//!
//! ```no_run
//! use ferrometer::export::remote_write::RemoteWriteExporter;
//! use ferrometer::{MeterProvider, PeriodicReader};
//! let pipeline = RemoteWriteExporter::builder("http://127.0.0.1:9090/api/v1/write")
//!     .with_bearer_token("s3cr3t")
//!     .build()?
//!     .into_pipeline()
//!     .build()?;
//! let provider = MeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(pipeline.clone()).build())
//!     .build();
//! // ... record ...
//! provider.shutdown()?;
//! # Ok::<(), ferrometer::Error>(())
//! ```

pub mod encode;
pub mod proto;

pub use encode::RemoteWriteEncoder;

use crate::collect::data::Metric;
use crate::diagnostics::diag_warn;
use crate::error::{Error, Result};
use crate::export::pipeline::http_client::HttpClient;
use crate::export::pipeline::https::{is_http_url, push_agent_config, tls_config};
use crate::export::pipeline::{
    parse_retry_after, BatchLimits, FailReason, Outcome, PipelineBuilder, RetryPolicy, Transport,
};
use crate::export::{check_basic_auth_user, check_header};
use crate::temporality::TemporalityPreference;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most response-body bytes read (error messages).
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// The protocol version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RemoteWriteVersion {
    /// Remote-Write 1.0 (`prometheus.WriteRequest`): every receiver.
    #[default]
    V1,
    /// Remote-Write 2.0 (`io.prometheus.write.v2.Request`): Prometheus 3
    /// with `--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request`.
    V2,
}

impl RemoteWriteVersion {
    /// The request's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "application/x-protobuf",
            RemoteWriteVersion::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` header.
    pub fn header(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "0.1.0",
            RemoteWriteVersion::V2 => "2.0.0",
        }
    }
}

/// Points the encoder could not carry (delta temporality, exponential
/// histograms) or that repeat a series already written (see
/// [`encode`]): never offered to the pipeline's queue, counted here.
/// Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct LeftOut(Arc<LeftOutInner>);

#[derive(Debug, Default)]
struct LeftOutInner {
    points: AtomicU64,
    warned: Mutex<std::collections::HashSet<String>>,
}

impl LeftOut {
    /// Points left out so far.
    pub fn points(&self) -> u64 {
        self.0.points.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, m: &Metric, n: u64, why: Why) {
        self.0.points.fetch_add(n, Ordering::Relaxed);
        let mut w = self.0.warned.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() < 1024 && w.insert(format!("{why:?}:{}", m.name)) {
            drop(w);
            match why {
                Why::NotCumulative => diag_warn!(
                    "remote write: metric {:?} is left out (delta temporality or an \
                     exponential histogram: remote write carries cumulative counters, gauges \
                     and classic histograms)",
                    m.name
                ),
                Why::Duplicate => diag_warn!(
                    "remote write: metric {:?} has a point whose series (name, labels and \
                     time) an earlier point already has once translated (attribute keys \
                     equal once sanitized, or two metrics of one translated name): the later \
                     point is left out",
                    m.name
                ),
            }
        }
    }
}

/// Why a point is left out.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Why {
    /// Delta temporality or an exponential histogram.
    NotCumulative,
    /// Its series was already written (the first wins).
    Duplicate,
}

/// The resolved configuration of a [`RemoteWriteExporter`].
#[derive(Clone, Debug)]
pub struct RemoteWriteConfig {
    /// The receiver's URL (`http://` or `https://`), e.g.
    /// `http://prometheus:9090/api/v1/write`.
    pub url: String,
    /// Protocol version (default 1.0).
    pub version: RemoteWriteVersion,
    /// `Authorization: Basic` user and password.
    pub basic_auth: Option<(String, String)>,
    /// `Authorization: Bearer` token.
    pub bearer_token: Option<String>,
    /// Extra request headers (e.g. `X-Scope-OrgID` for Mimir/Cortex
    /// tenants, `THANOS-TENANT` for Thanos Receive).
    pub headers: Vec<(String, String)>,
    /// Timeout of one request (default 30 s, Prometheus' `remote_timeout`).
    pub timeout: Duration,
    /// Retries of 5xx, 429, timeouts and connection failures.
    pub retry: RetryPolicy,
    /// Request size: snapshot points per request (default 2000,
    /// Prometheus' `max_samples_per_send`; a histogram point is one
    /// point) and uncompressed bytes (default 4 MiB).
    pub batch: BatchLimits,
    /// Send the resource as a `target_info` series (default on).
    pub target_info: bool,
    /// PEM file of trusted CA certificates for `https` (instead of the
    /// system roots).
    pub certificate: Option<PathBuf>,
    /// PEM client certificate chain for mTLS (with `client_key`).
    pub client_certificate: Option<PathBuf>,
    /// PEM client private key for mTLS (with `client_certificate`).
    pub client_key: Option<PathBuf>,
}

impl RemoteWriteConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteWriteConfig {
            url: url.into(),
            version: RemoteWriteVersion::V1,
            basic_auth: None,
            bearer_token: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            batch: BatchLimits {
                max_points: 2000,
                max_bytes: 4 << 20,
            },
            target_info: true,
            certificate: None,
            client_certificate: None,
            client_key: None,
        }
    }
}

/// Builds a [`RemoteWriteExporter`].
#[derive(Debug)]
#[must_use]
pub struct RemoteWriteExporterBuilder {
    config: RemoteWriteConfig,
}

impl RemoteWriteExporterBuilder {
    /// Protocol version.
    pub fn with_version(mut self, v: RemoteWriteVersion) -> Self {
        self.config.version = v;
        self
    }
    /// HTTP basic authentication.
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.basic_auth = Some((user.into(), password.into()));
        self
    }
    /// A bearer token (`Authorization: Bearer <token>`).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.config.bearer_token = Some(token.into());
        self
    }
    /// Adds a request header (replacing an earlier one of the same name).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.config
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.config.headers.push((name, value.into()));
        self
    }
    /// Timeout of one request.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.config.timeout = t;
        self
    }
    /// Retry policy.
    pub fn with_retry(mut self, r: RetryPolicy) -> Self {
        self.config.retry = r;
        self
    }
    /// Request size limits.
    pub fn with_batch_limits(mut self, l: BatchLimits) -> Self {
        self.config.batch = l;
        self
    }
    /// Send the resource as `target_info` (default on).
    pub fn with_target_info(mut self, on: bool) -> Self {
        self.config.target_info = on;
        self
    }
    /// Trusts the CA certificates of this PEM file for `https`.
    pub fn with_certificate(mut self, pem_path: impl Into<PathBuf>) -> Self {
        self.config.certificate = Some(pem_path.into());
        self
    }
    /// Presents this client certificate chain and key (PEM files).
    pub fn with_client_certificate(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.config.client_certificate = Some(cert_path.into());
        self.config.client_key = Some(key_path.into());
        self
    }
    /// The configuration so far.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.config
    }
    /// Builds the exporter. Fails with `InvalidArgument` for a URL that is
    /// not `http://` or `https://`, a zero timeout, an invalid header,
    /// both basic auth and a bearer token, a basic-auth user containing `:`
    /// or a control character (RFC 7617), or an unreadable certificate or
    /// key file.
    pub fn build(self) -> Result<RemoteWriteExporter> {
        RemoteWriteExporter::new(self.config)
    }
}

/// The Remote-Write transport: one `POST` per call, the body as the
/// [`RemoteWriteEncoder`] made it. Use it through
/// [`into_pipeline`](Self::into_pipeline).
pub struct RemoteWriteExporter {
    config: RemoteWriteConfig,
    agent: ureq::Agent,
    /// `http://` URLs: a kept-alive connection shutdown can abort.
    raw: Option<HttpClient>,
    /// Every header sent (ureq path).
    headers: Vec<(String, String)>,
    shutdown: AtomicBool,
    left_out: LeftOut,
    /// 2.0 answers without the written headers were warned about.
    warned_unconfirmed: AtomicBool,
}

impl std::fmt::Debug for RemoteWriteExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteExporter")
            .field("url", &self.config.url)
            .field("version", &self.config.version)
            .finish_non_exhaustive()
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

impl RemoteWriteExporter {
    /// A builder with the defaults ([`RemoteWriteConfig::new`]).
    pub fn builder(url: impl Into<String>) -> RemoteWriteExporterBuilder {
        RemoteWriteExporterBuilder {
            config: RemoteWriteConfig::new(url),
        }
    }

    /// An exporter with exactly this configuration.
    pub fn new(config: RemoteWriteConfig) -> Result<Self> {
        if !is_http_url(&config.url) {
            return Err(invalid(format!(
                "remote write URL {:?} is not an http:// or https:// URL",
                config.url
            )));
        }
        if config.timeout.is_zero() {
            return Err(invalid("remote write timeout must be positive"));
        }
        if config.basic_auth.is_some() && config.bearer_token.is_some() {
            return Err(invalid(
                "remote write: basic auth and a bearer token are mutually exclusive",
            ));
        }
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), config.version.content_type().into()),
            ("Content-Encoding".into(), "snappy".into()),
            (
                "X-Prometheus-Remote-Write-Version".into(),
                config.version.header().into(),
            ),
            (
                "User-Agent".into(),
                concat!("ferrometer/", env!("CARGO_PKG_VERSION")).into(),
            ),
        ];
        if let Some((u, p)) = &config.basic_auth {
            check_basic_auth_user(u).map_err(|m| invalid(format!("remote write: {m}")))?;
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            headers.push(("Authorization".into(), format!("Basic {token}")));
        }
        if let Some(t) = &config.bearer_token {
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        for (k, v) in &config.headers {
            check_header(k, v).map_err(|m| invalid(format!("remote write: {m}")))?;
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        if headers.iter().any(|(k, v)| check_header(k, v).is_err()) {
            return Err(invalid(
                "remote write: invalid credentials (a control character)",
            ));
        }
        let tls = tls_config(
            config.certificate.as_deref(),
            config.client_certificate.as_deref(),
            config.client_key.as_deref(),
        )?;
        let agent = push_agent_config(tls).build().new_agent();
        let fixed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let raw = HttpClient::new(&config.url, &fixed);
        Ok(RemoteWriteExporter {
            config,
            agent,
            raw,
            headers,
            shutdown: AtomicBool::new(false),
            left_out: LeftOut::default(),
            warned_unconfirmed: AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.config
    }

    /// The counter of points the encoder leaves out (see [`LeftOut`]).
    pub fn left_out(&self) -> LeftOut {
        self.left_out.clone()
    }

    /// The encoder for this exporter's configuration.
    pub fn encoder(&self) -> RemoteWriteEncoder {
        RemoteWriteEncoder::new(
            self.config.version,
            self.config.target_info,
            self.left_out.clone(),
        )
    }

    /// This exporter as the transport of an
    /// [`ExportPipeline`](crate::export::pipeline::ExportPipeline), with
    /// its encoder, request timeout, retry policy, batch limits and
    /// cumulative temporality set (queue, circuit breaker and the rest on
    /// the returned builder; gzip must stay off: the body is snappy).
    pub fn into_pipeline(self) -> PipelineBuilder {
        let c = self.config.clone();
        let enc = self.encoder();
        crate::export::pipeline::ExportPipeline::builder(self)
            .with_encoder(enc)
            .with_request_timeout(c.timeout)
            .with_retry(c.retry)
            .with_batch_limits(c.batch)
            .with_temporality(TemporalityPreference::Cumulative)
            .with_gzip(None)
    }

    fn fail(&self, msg: impl std::fmt::Display) -> String {
        format!("remote write to {} failed: {msg}", self.config.url)
    }

    /// What an HTTP answer means.
    fn answer(
        &self,
        status: u16,
        body: &[u8],
        written: [Option<u64>; 3],
        retry_after: Option<Duration>,
        request: &[u8],
    ) -> Outcome {
        if (200..=299).contains(&status) {
            if self.config.version == RemoteWriteVersion::V2 {
                return self.confirm_v2(written, request);
            }
            return Outcome::Delivered;
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(512)])
            .trim()
            .to_owned();
        let text = if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        };
        let reason = FailReason::of_status(status);
        if status == 429 || (500..=599).contains(&status) {
            Outcome::Retryable {
                reason,
                message: self.fail(format_args!("HTTP {status}{text}")),
                retry_after,
            }
        } else {
            Outcome::Permanent {
                reason,
                message: self.fail(format_args!("HTTP {status} (not retryable){text}")),
            }
        }
    }

    /// A 2.0 success: compares the written counts with the request's.
    fn confirm_v2(&self, written: [Option<u64>; 3], request: &[u8]) -> Outcome {
        let sent = count_v2_samples(request);
        match written {
            [None, None, _] => {
                if !self.warned_unconfirmed.swap(true, Ordering::Relaxed) {
                    diag_warn!(
                        "remote write 2.0 to {}: the receiver did not confirm the samples it \
                         wrote (no X-Prometheus-Remote-Write-Samples-Written header): it does \
                         not speak 2.0; use version 1.0 with it",
                        self.config.url
                    );
                }
                Outcome::PartiallyRejected {
                    rejected: u64::MAX,
                    message: format!(
                        "{sent:?} samples sent, no X-Prometheus-Remote-Write-Samples-Written \
                         header: the receiver does not speak remote write 2.0"
                    ),
                }
            }
            [s, h, _] => {
                let wrote = s.unwrap_or(0) + h.unwrap_or(0);
                match sent {
                    Some(sent) if wrote < sent => Outcome::PartiallyRejected {
                        // The receiver does not say which: every point of
                        // the request counts (the pipeline caps this at
                        // the request's points).
                        rejected: u64::MAX,
                        message: format!("the receiver wrote {wrote} of {sent} samples"),
                    },
                    _ => Outcome::Delivered,
                }
            }
        }
    }

    fn attempt_ureq(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.config.url)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return Outcome::of_ureq_error(&e, self.fail(&e)),
        };
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let mut written = [None; 3];
        for (k, v) in resp.headers() {
            if let Some(i) = crate::export::pipeline::http_client::written_header(k.as_str()) {
                written[i] = v.to_str().ok().and_then(|v| v.trim().parse().ok());
            }
        }
        let rbody = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec()
            .unwrap_or_default();
        self.answer(status, &rbody, written, retry_after, body)
    }

    fn attempt_raw(&self, raw: &HttpClient, body: &[u8], timeout: Duration) -> Outcome {
        let resp = match raw.post(body, timeout) {
            Ok(r) => r,
            Err((class, msg)) => return raw.failure_outcome(class, self.fail(msg)),
        };
        let after = resp.retry_after.as_deref().and_then(parse_retry_after);
        self.answer(resp.status, &resp.body, resp.written, after, body)
    }
}

/// The samples in a snappy-compressed 2.0 request (`None` when it does not
/// decode).
pub(crate) fn count_v2_samples(body: &[u8]) -> Option<u64> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let mut n = 0u64;
    for (field, series) in fields(&raw)? {
        if field == 5 {
            n += fields(series?)?
                .into_iter()
                .filter(|(f, _)| *f == 2)
                .count() as u64;
        }
    }
    Some(n)
}

/// The top-level fields of a protobuf message: number and, for
/// length-delimited ones, the bytes (`None` for scalars). `None` when the
/// message is malformed.
#[allow(clippy::type_complexity)]
fn fields(mut b: &[u8]) -> Option<Vec<(u64, Option<&[u8]>)>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&c, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(c & 0x7f) << shift;
            if c < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(&mut b)?;
                out.push((field, None));
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                b = b.get(n..)?;
                out.push((field, None));
            }
            2 => {
                let n = usize::try_from(varint(&mut b)?).ok()?;
                out.push((field, Some(b.get(..n)?)));
                b = &b[n..];
            }
            _ => return None,
        }
    }
    Some(out)
}

/// One attempt per call: the pipeline's worker does the retrying.
impl Transport for RemoteWriteExporter {
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        if self.shutdown.load(Ordering::Acquire) {
            return Outcome::Permanent {
                reason: FailReason::Other,
                message: "the remote write exporter has been shut down".into(),
            };
        }
        match &self.raw {
            Some(raw) => self.attempt_raw(raw, body, timeout),
            None => self.attempt_ureq(body, timeout),
        }
    }

    fn name(&self) -> &'static str {
        "remote_write"
    }

    fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    fn abort(&self) {
        if let Some(raw) = &self.raw {
            raw.abort();
        }
    }
}
