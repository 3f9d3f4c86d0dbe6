//! The Prometheus Pushgateway exporter: pushes the text exposition format
//! (0.0.4, without sample timestamps, which the Pushgateway rejects) to
//! `{url}/metrics/job/<job>{/<label>/<value>}`.
//!
//! - [`PushMethod::Put`] (default) replaces every metric of the grouping
//!   key; [`PushMethod::Post`] replaces only the metric families pushed.
//! - With [`delete_on_shutdown`](PushgatewayExporterBuilder::with_delete_on_shutdown)
//!   the group is deleted when the exporter shuts down (a job that is gone
//!   should not be reported forever).
//! - The job name and grouping label values that cannot be a plain path
//!   segment (empty, or containing `/`) are sent in the `@base64` form
//!   (`label@base64/<base64url>`; an empty value is `=`); other values are
//!   percent-encoded.
//! - [`PushgatewayExporter::into_pipeline`] puts it behind the export
//!   pipeline: pushes leave the collecting thread at once and are retried
//!   by a worker thread.
//!
//! ```no_run
//! use ferrometer::export::pushgateway::{PushMethod, PushgatewayExporter};
//! let exporter = PushgatewayExporter::builder("http://127.0.0.1:9091", "nightly_batch")
//!     .with_grouping_label("instance", "db-1")
//!     .with_method(PushMethod::Post)
//!     .build()
//!     .unwrap();
//! # let _ = exporter;
//! ```

use super::pipeline::{
    ExportPipeline, FailReason, Outcome, PipelineBuilder, Transport, WholeSnapshotEncoder,
};
use super::prometheus::{encode, EncodeOptions, Format};
use super::push::PushExporter;
use super::{check_basic_auth_user, check_header};
use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use base64::Engine as _;
use std::time::{Duration, Instant};

/// How a push treats metrics already in the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PushMethod {
    /// `PUT`: the push replaces every metric of the grouping key.
    #[default]
    Put,
    /// `POST`: the push replaces only the metric families it contains.
    Post,
}

/// Configures a [`PushgatewayExporter`].
#[must_use]
#[derive(Clone, Debug)]
pub struct PushgatewayExporterBuilder {
    url: String,
    job: String,
    grouping: Vec<(String, String)>,
    method: PushMethod,
    delete_on_shutdown: bool,
    timeout: Duration,
    headers: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    options: EncodeOptions,
}

impl PushgatewayExporterBuilder {
    /// Adds a grouping label (after `job`, in the order given). Names must
    /// be Prometheus label names other than `job`, each used once.
    pub fn with_grouping_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }
    /// PUT (default) or POST.
    pub fn with_method(mut self, m: PushMethod) -> Self {
        self.method = m;
        self
    }
    /// Deletes the group when the exporter shuts down (default off).
    pub fn with_delete_on_shutdown(mut self, on: bool) -> Self {
        self.delete_on_shutdown = on;
        self
    }
    /// Longest time one HTTP request may take (default 10 s; the export
    /// deadline wins when earlier).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Adds an HTTP header to every request. The name must be an HTTP
    /// token and the value must not contain control characters (CR and LF
    /// included) other than tab: [`build`](Self::build) refuses them.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// HTTP basic authentication (replaces an earlier call). The user must
    /// not contain `:` (RFC 7617: the first `:` ends it) nor control
    /// characters: [`build`](Self::build) refuses them.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }
    /// Encoder options (scope labels, `target_info`, suffixes). Timestamps
    /// are always off.
    pub fn with_encode_options(mut self, o: EncodeOptions) -> Self {
        self.options = o;
        self
    }

    /// Checks the configuration and builds the exporter.
    ///
    /// Errors: [`Error::InvalidArgument`] for a URL that is not `http://`
    /// or `https://`, an empty job, a bad or repeated grouping label name,
    /// a header name that is not an HTTP token, a header value with a
    /// control character other than tab (CR, LF...), or a basic-auth user
    /// containing `:` (it could not be told from the password) or a
    /// control character.
    pub fn build(mut self) -> Result<PushgatewayExporter> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        let base = self.url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return bad(format!(
                "pushgateway URL {:?} must start with http:// or https://",
                self.url
            ));
        }
        if self.job.is_empty() {
            return bad("pushgateway job name is empty".into());
        }
        let mut path = format!("{base}/metrics");
        push_segment(&mut path, "job", &self.job);
        for (i, (k, v)) in self.grouping.iter().enumerate() {
            if !is_label_name(k) {
                return bad(format!(
                    "grouping label name {k:?} is not a valid Prometheus label name"
                ));
            }
            if k == "job" || self.grouping[..i].iter().any(|(k2, _)| k2 == k) {
                return bad(format!(
                    "grouping label {k:?} is given more than once (job included)"
                ));
            }
            push_segment(&mut path, k, v);
        }
        if self.timeout.is_zero() {
            return bad("pushgateway timeout is zero".into());
        }
        for (k, v) in &self.headers {
            check_header(k, v).map_err(Error::InvalidArgument)?;
        }
        if let Some((user, password)) = self.basic_auth.take() {
            check_basic_auth_user(&user).map_err(Error::InvalidArgument)?;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            self.headers
                .push(("Authorization".into(), format!("Basic {token}")));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("ferrometer/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(PushgatewayExporter {
            url: path,
            method: self.method,
            delete_on_shutdown: self.delete_on_shutdown,
            timeout: self.timeout,
            headers: self.headers,
            options: self.options.with_timestamps(false),
            agent,
        })
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !s.starts_with("__")
}

/// Appends `/<name>/<value>` in the Pushgateway's URL form.
fn push_segment(out: &mut String, name: &str, value: &str) {
    out.push('/');
    out.push_str(name);
    if value.is_empty() {
        out.push_str("@base64/=");
    } else if value.contains('/') {
        out.push_str("@base64/");
        out.push_str(&base64::engine::general_purpose::URL_SAFE.encode(value));
    } else {
        out.push('/');
        for &c in value.as_bytes() {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
        }
    }
}

/// Pushes snapshots to a Prometheus Pushgateway (see the
/// [module documentation](self)). Collects cumulatively; delta data is
/// never pushed.
#[derive(Debug)]
pub struct PushgatewayExporter {
    url: String,
    method: PushMethod,
    delete_on_shutdown: bool,
    timeout: Duration,
    headers: Vec<(String, String)>,
    options: EncodeOptions,
    agent: ureq::Agent,
}

impl PushgatewayExporter {
    /// Starts a builder for the Pushgateway at `url` (for example
    /// `http://127.0.0.1:9091`) and a job name.
    pub fn builder(url: impl Into<String>, job: impl Into<String>) -> PushgatewayExporterBuilder {
        PushgatewayExporterBuilder {
            url: url.into(),
            job: job.into(),
            grouping: Vec::new(),
            method: PushMethod::Put,
            delete_on_shutdown: false,
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            basic_auth: None,
            options: EncodeOptions::default(),
        }
    }

    /// The group's URL (`{url}/metrics/job/...`).
    pub fn group_url(&self) -> &str {
        &self.url
    }

    /// The body a push of `metrics` sends (text format, no timestamps).
    pub fn encode(&self, metrics: &ResourceMetrics) -> Vec<u8> {
        let mut body = Vec::new();
        encode(metrics, Format::Text, &self.options, &mut body);
        body
    }

    fn request_timeout(&self, deadline: Instant) -> Result<Duration> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        Ok(left.min(self.timeout))
    }

    /// One push of `body` (PUT or POST, with the configured headers).
    fn push(
        &self,
        body: &[u8],
        timeout: Duration,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut req = match self.method {
            PushMethod::Put => self.agent.put(&self.url),
            PushMethod::Post => self.agent.post(&self.url),
        };
        req = req.header("Content-Type", Format::Text.content_type());
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.config()
            .timeout_global(Some(timeout))
            .build()
            .send(body)
    }

    fn check(
        &self,
        what: &str,
        r: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<()> {
        match r {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(());
                }
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                Err(Error::Failed(format!(
                    "pushgateway {what} {} answered HTTP {status}: {}",
                    self.url,
                    body.trim()
                )))
            }
            Err(ureq::Error::Timeout(_)) => Err(Error::Timeout),
            Err(e) => Err(Error::Failed(format!(
                "pushgateway {what} {}: {e}",
                self.url
            ))),
        }
    }

    /// Deletes the group now (`DELETE` on the group URL).
    pub fn delete(&self, deadline: Instant) -> Result<()> {
        let t = self.request_timeout(deadline)?;
        let mut req = self.agent.delete(&self.url);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req.config().timeout_global(Some(t)).build().call();
        self.check("DELETE", r)
    }
}

impl PushgatewayExporter {
    /// This exporter as the transport of an
    /// [`ExportPipeline`](crate::export::pipeline::ExportPipeline): pushes
    /// leave the collecting thread at once, a worker sends them with
    /// retries (429, 502, 503, 504, timeouts, connection failures),
    /// `Retry-After` and the circuit breaker; a newer snapshot replaces a
    /// queued older one (the Pushgateway keeps only the last push anyway).
    /// The group is deleted at shutdown when configured.
    pub fn into_pipeline(self) -> PipelineBuilder {
        let options = self.options.clone();
        let timeout = self.timeout;
        ExportPipeline::builder(self)
            .with_encoder(WholeSnapshotEncoder::new(
                move |rm: &ResourceMetrics, out: &mut Vec<u8>| {
                    encode(rm, Format::Text, &options, out)
                },
            ))
            .with_temporality(crate::temporality::TemporalityPreference::Cumulative)
            .with_request_timeout(timeout)
    }
}

/// One push per call; the pipeline's worker retries.
impl Transport for PushgatewayExporter {
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        match self.push(body, timeout) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Outcome::Delivered;
                }
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::export::pipeline::parse_retry_after);
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                let message = format!(
                    "pushgateway {} answered HTTP {status}: {}",
                    self.url,
                    text.trim()
                );
                let reason = FailReason::of_status(status);
                if crate::export::pipeline::is_transient_status(status) {
                    Outcome::Retryable {
                        reason,
                        message,
                        retry_after,
                    }
                } else {
                    Outcome::Permanent { reason, message }
                }
            }
            Err(e) => Outcome::of_ureq_error(&e, format!("pushgateway {}: {e}", self.url)),
        }
    }

    fn name(&self) -> &'static str {
        "pushgateway"
    }

    fn shutdown(&self) {
        if self.delete_on_shutdown {
            if let Err(e) = self.delete(Instant::now() + self.timeout) {
                crate::diagnostics::diag_warn!("{e}");
            }
        }
    }
}

impl PushExporter for PushgatewayExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        let body = self.encode(metrics);
        let t = self.request_timeout(deadline)?;
        let r = self.push(&body, t);
        let what = match self.method {
            PushMethod::Put => "PUT",
            PushMethod::Post => "POST",
        };
        self.check(what, r)
    }

    fn shutdown(&self, timeout: Duration) -> Result<()> {
        if self.delete_on_shutdown {
            self.delete(Instant::now() + timeout)
        } else {
            Ok(())
        }
    }

    fn name(&self) -> &'static str {
        "pushgateway"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(job: &str, labels: &[(&str, &str)]) -> String {
        let mut b = PushgatewayExporter::builder("http://h:9091/", job);
        for (k, v) in labels {
            b = b.with_grouping_label(*k, *v);
        }
        b.build().unwrap().group_url().to_owned()
    }

    #[test]
    fn grouping_key_urls() {
        assert_eq!(url("j", &[]), "http://h:9091/metrics/job/j");
        assert_eq!(
            url("j", &[("instance", "a b"), ("empty", "")]),
            "http://h:9091/metrics/job/j/instance/a%20b/empty@base64/="
        );
        assert_eq!(
            url("a/b", &[("path", "/var/tmp")]),
            "http://h:9091/metrics/job@base64/YS9i/path@base64/L3Zhci90bXA="
        );
        for bad in [("job", "x"), ("9x", "x"), ("__x", "y")] {
            assert!(PushgatewayExporter::builder("http://h", "j")
                .with_grouping_label(bad.0, bad.1)
                .build()
                .is_err());
        }
        assert!(PushgatewayExporter::builder("ftp://h", "j")
            .build()
            .is_err());
        assert!(PushgatewayExporter::builder("http://h", "")
            .build()
            .is_err());
    }
}
