//! The Prometheus pull endpoint: a cumulative reader of its own, a
//! single-flight collector with a scrape deadline, content negotiation,
//! gzip, optional authentication, and promhttp-style self metrics.

use super::{encode_counting, EncodeOptions, Format};
use crate::collect::data::ResourceMetrics;
use crate::diagnostics::{Diag, Reason};
use crate::error::{Error, Result};
use crate::export::http_server::{Handler, HttpServer, Limits, Request, Response};
use crate::instruments::{Counter, Histogram, UpDownCounter};
use crate::readers::{MetricReader, ReaderCore, TemporalityPreference};
use crate::resource::InstrumentationScope;
use crate::{KeyValue, MeterProvider};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The address used when none is given: loopback only.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9464";

/// Authentication required on the metrics path.
#[derive(Clone, PartialEq, Eq)]
pub enum PrometheusAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for PrometheusAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrometheusAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            PrometheusAuth::Basic { user, .. } => write!(f, "Basic({user:?}, <redacted>)"),
        }
    }
}

/// Configuration of a [`PrometheusServer`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PrometheusServerOptions {
    /// The metrics path (default `/metrics`); every other path gets 404.
    pub path: String,
    /// Longest time a scrape waits for its collection (default 10 s; a
    /// shorter `X-Prometheus-Scrape-Timeout-Seconds` from Prometheus
    /// wins). Past it the scrape gets 503; the collection finishes in the
    /// background and the next scrape shares it.
    pub scrape_timeout: Duration,
    /// Deadline for a whole request head to arrive (default 5 s); also the
    /// idle timeout of keep-alive connections.
    pub header_timeout: Duration,
    /// Timeout of each socket write (default 10 s).
    pub write_timeout: Duration,
    /// Most simultaneous connections (default 64). Past it, a new
    /// connection replaces the one waiting longest without having sent a
    /// byte of a request; when every connection is in a request, it gets
    /// 503.
    pub max_connections: usize,
    /// Largest request head in bytes (default 16 KiB); larger gets 431.
    pub max_header_bytes: usize,
    /// Authentication on the metrics path (default none).
    pub auth: Option<PrometheusAuth>,
    /// Compress with gzip when `Accept-Encoding` allows it (default on).
    pub gzip: bool,
    /// Serve OpenMetrics 1.0 when `Accept` prefers it (default on).
    pub openmetrics: bool,
    /// Serve the protobuf exposition (delimited
    /// `io.prometheus.client.MetricFamily`, the only one carrying native
    /// histograms) when `Accept` prefers it (default on).
    pub protobuf: bool,
    /// Record the endpoint's own metrics through the provider (default on):
    /// `promhttp_metric_handler_requests_total{code}`,
    /// `promhttp_metric_handler_requests_in_flight` and
    /// `promhttp_metric_handler_request_duration_seconds`.
    pub self_metrics: bool,
    /// Translation options.
    pub encode: EncodeOptions,
}

impl Default for PrometheusServerOptions {
    fn default() -> Self {
        PrometheusServerOptions {
            path: "/metrics".into(),
            scrape_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_connections: 64,
            max_header_bytes: 16 * 1024,
            auth: None,
            gzip: true,
            openmetrics: true,
            protobuf: true,
            self_metrics: true,
            encode: EncodeOptions::default(),
        }
    }
}

impl PrometheusServerOptions {
    /// Sets [`path`](Self::path).
    pub fn with_path(mut self, p: impl Into<String>) -> Self {
        self.path = p.into();
        self
    }
    /// Sets [`scrape_timeout`](Self::scrape_timeout).
    pub fn with_scrape_timeout(mut self, d: Duration) -> Self {
        self.scrape_timeout = d;
        self
    }
    /// Sets [`header_timeout`](Self::header_timeout).
    pub fn with_header_timeout(mut self, d: Duration) -> Self {
        self.header_timeout = d;
        self
    }
    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn with_write_timeout(mut self, d: Duration) -> Self {
        self.write_timeout = d;
        self
    }
    /// Sets [`max_connections`](Self::max_connections).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    /// Sets [`max_header_bytes`](Self::max_header_bytes).
    pub fn with_max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }
    /// Requires `Authorization: Bearer <token>`.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(PrometheusAuth::Bearer(token.into()));
        self
    }
    /// Requires HTTP basic authentication.
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(PrometheusAuth::Basic {
            user: user.into(),
            password: password.into(),
        });
        self
    }
    /// Sets [`gzip`](Self::gzip).
    pub fn with_gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }
    /// Sets [`openmetrics`](Self::openmetrics).
    pub fn with_openmetrics(mut self, on: bool) -> Self {
        self.openmetrics = on;
        self
    }
    /// Sets [`protobuf`](Self::protobuf).
    pub fn with_protobuf(mut self, on: bool) -> Self {
        self.protobuf = on;
        self
    }
    /// Sets [`self_metrics`](Self::self_metrics).
    pub fn with_self_metrics(mut self, on: bool) -> Self {
        self.self_metrics = on;
        self
    }
    /// Sets [`encode`](Self::encode).
    pub fn with_encode_options(mut self, o: EncodeOptions) -> Self {
        self.encode = o;
        self
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The endpoint's reader: cumulative, collected only by its collector.
struct PullReader {
    core: Arc<ReaderCore>,
}

impl MetricReader for PullReader {
    fn core(&self) -> &Arc<ReaderCore> {
        &self.core
    }
}

type Shared = Arc<Result<ResourceMetrics>>;

#[derive(Default)]
struct CollectState {
    /// Highest collection number asked for.
    requested: u64,
    /// Collections finished.
    done: u64,
    /// The last collection's result, kept while scrapes wait for it.
    result: Option<Shared>,
    waiting: usize,
    stop: bool,
}

enum ScrapeError {
    Timeout,
    Stopped,
}

/// Single-flight collection: one thread collects; scrapes that arrive while
/// a collection runs share its result; each scrape waits at most its
/// deadline.
struct Collector {
    core: Arc<ReaderCore>,
    st: Mutex<CollectState>,
    cv: Condvar,
}

impl Collector {
    fn run(&self) {
        let mut st = lock(&self.st);
        loop {
            while !st.stop && st.requested <= st.done {
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.stop {
                return;
            }
            drop(st);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.core.collect()))
                .unwrap_or_else(|_| Err(Error::Failed("collection panicked".into())));
            st = lock(&self.st);
            st.done += 1;
            st.result = (st.waiting > 0).then(|| Arc::new(r));
            self.cv.notify_all();
        }
    }

    fn scrape(&self, timeout: Duration) -> std::result::Result<Shared, ScrapeError> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.st);
        if st.stop {
            return Err(ScrapeError::Stopped);
        }
        let target = st.done + 1;
        if st.requested < target {
            st.requested = target;
            self.cv.notify_all();
        }
        st.waiting += 1;
        let out = loop {
            if st.done >= target {
                if let Some(r) = st.result.clone() {
                    break Ok(r);
                }
            }
            if st.stop {
                break Err(ScrapeError::Stopped);
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(ScrapeError::Timeout);
            }
            st = self
                .cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        st.waiting -= 1;
        if st.waiting == 0 {
            st.result = None;
        }
        out
    }

    fn stop(&self) {
        lock(&self.st).stop = true;
        self.cv.notify_all();
    }
}

struct SelfMetrics {
    requests: Counter<u64>,
    in_flight: UpDownCounter<i64>,
    duration: Histogram<f64>,
}

impl SelfMetrics {
    fn new(p: &MeterProvider) -> Result<SelfMetrics> {
        let m = p.meter_with_scope(
            InstrumentationScope::new("ferrometer.prometheus")
                .with_version(env!("CARGO_PKG_VERSION")),
        );
        Ok(SelfMetrics {
            requests: m
                .u64_counter("promhttp_metric_handler_requests")
                .with_description("Total number of scrapes by HTTP status code.")
                .build()?,
            in_flight: m
                .i64_up_down_counter("promhttp_metric_handler_requests_in_flight")
                .with_description("Current number of scrapes being served.")
                .build()?,
            duration: m
                .f64_histogram("promhttp_metric_handler_request_duration")
                .with_description("Time spent serving scrapes.")
                .with_unit("s")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build()?,
        })
    }
}

struct Endpoint {
    collector: Arc<Collector>,
    /// The provider's rejection counters (samples left out of an
    /// exposition are counted there); does not keep the provider alive.
    diag: Arc<Diag>,
    opts: PrometheusServerOptions,
    /// The `Authorization` scheme and credentials expected, when auth is on.
    expected_auth: Option<(&'static str, String)>,
    metrics: Option<SelfMetrics>,
}

fn code_str(status: u16) -> &'static str {
    match status {
        200 => "200",
        401 => "401",
        405 => "405",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

impl Endpoint {
    fn handle(&self, req: &Request) -> Response {
        if req.path != self.opts.path {
            return Response::text(404, "not found\n");
        }
        let start = Instant::now();
        if let Some(m) = &self.metrics {
            m.in_flight.add(1, &[]);
        }
        let resp = self.serve(req);
        if let Some(m) = &self.metrics {
            m.in_flight.add(-1, &[]);
            m.requests
                .add(1, &[KeyValue::new("code", code_str(resp.status))]);
            m.duration.record(start.elapsed().as_secs_f64(), &[]);
        }
        resp
    }

    fn serve(&self, req: &Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            let mut r = Response::text(405, "method not allowed\n");
            r.headers.push(("Allow", "GET, HEAD".into()));
            return r;
        }
        if let Some((scheme, expected)) = &self.expected_auth {
            let ok = req
                .header("authorization")
                .and_then(|v| v.trim().split_once(' '))
                .is_some_and(|(s, cred)| {
                    s.eq_ignore_ascii_case(scheme)
                        && ct_eq(cred.trim().as_bytes(), expected.as_bytes())
                });
            if !ok {
                let mut r = Response::text(401, "unauthorized\n");
                r.headers
                    .push(("WWW-Authenticate", format!("{scheme} realm=\"metrics\"")));
                return r;
            }
        }
        let format = negotiate(
            req.header_values("accept"),
            self.opts.openmetrics,
            self.opts.protobuf,
        );
        let mut timeout = self.opts.scrape_timeout;
        if let Some(s) = req
            .header("x-prometheus-scrape-timeout-seconds")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        {
            timeout = timeout.min(Duration::from_secs_f64(s.min(86_400.0)));
        }
        let shared = match self.collector.scrape(timeout) {
            Ok(s) => s,
            Err(ScrapeError::Timeout) => {
                return Response::text(
                    503,
                    "scrape deadline exceeded before the collection finished\n",
                )
            }
            Err(ScrapeError::Stopped) => return Response::text(503, "endpoint stopped\n"),
        };
        let rm = match &*shared {
            Ok(rm) => rm,
            Err(Error::Shutdown) => return Response::text(503, "meter provider shut down\n"),
            Err(e) => return Response::text(500, &format!("collection failed: {e}\n")),
        };
        let mut body = Vec::new();
        let left_out = encode_counting(rm, format, &self.opts.encode, &mut body);
        drop(shared);
        self.diag
            .reject_many(Reason::ExpositionConflict, left_out, "prometheus endpoint");
        let mut headers = vec![
            ("Content-Type", format.content_type().to_owned()),
            ("Vary", "Accept, Accept-Encoding".to_owned()),
        ];
        if self.opts.gzip && accepts_gzip(req.header_values("accept-encoding")) {
            let mut z = Vec::with_capacity(body.len() / 4 + 64);
            crate::export::gzip_into(&body, 1, &mut z);
            body = z;
            headers.push(("Content-Encoding", "gzip".to_owned()));
        }
        Response {
            status: 200,
            headers,
            body,
        }
    }
}

/// Constant-time comparison (the length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// One media range of an `Accept` header.
struct MediaRange {
    /// Type/subtype, lowercase.
    ty: String,
    q: f32,
    /// Other parameters (lowercase names, unquoted values).
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn media_ranges<'a>(values: impl Iterator<Item = &'a str>) -> Vec<MediaRange> {
    let mut out = Vec::new();
    for v in values {
        for range in v.split(',') {
            let mut parts = range.split(';');
            let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if ty.is_empty() {
                continue;
            }
            let mut q = 1.0f32;
            let mut params = Vec::new();
            for p in parts {
                if let Some((k, val)) = p.split_once('=') {
                    let k = k.trim().to_ascii_lowercase();
                    let val = val.trim().trim_matches('"');
                    if k == "q" {
                        q = val.parse().unwrap_or(0.0);
                    } else {
                        params.push((k, val.to_owned()));
                    }
                }
            }
            out.push(MediaRange { ty, q, params });
        }
    }
    out
}

/// Chooses the exposition format from the `Accept` header values: the
/// supported format the client ranks highest (its largest `q`), ties going
/// to protobuf, then OpenMetrics, then text; text when nothing supported
/// is asked for (also `*/*` and `text/*` mean text).
///
/// - protobuf: `application/vnd.google.protobuf` with
///   `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`
///   (or no encoding); only when `protobuf` is on;
/// - OpenMetrics: `application/openmetrics-text` of version 1.0.0, 0.0.1
///   or none; only when `openmetrics` is on;
/// - text 0.0.4: `text/plain`, `text/*`, `*/*`.
pub(crate) fn negotiate<'a>(
    accept: impl Iterator<Item = &'a str>,
    openmetrics: bool,
    protobuf: bool,
) -> Format {
    let mut q_proto = 0.0f32;
    let mut q_om = 0.0f32;
    let mut q_text = 0.0f32;
    for r in media_ranges(accept) {
        match r.ty.as_str() {
            "application/vnd.google.protobuf" => {
                let family = r.param("proto") == Some("io.prometheus.client.MetricFamily");
                let delimited = matches!(r.param("encoding"), None | Some("delimited"));
                if protobuf && family && delimited {
                    q_proto = q_proto.max(r.q);
                }
            }
            "application/openmetrics-text"
                if openmetrics
                    && matches!(r.param("version"), None | Some("1.0.0") | Some("0.0.1")) =>
            {
                q_om = q_om.max(r.q);
            }
            "text/plain" | "text/*" | "*/*" => q_text = q_text.max(r.q),
            _ => {}
        }
    }
    if q_proto > 0.0 && q_proto >= q_om && q_proto >= q_text {
        Format::Protobuf
    } else if q_om > 0.0 && q_om >= q_text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    media_ranges(values)
        .iter()
        .any(|r| (r.ty == "gzip" || r.ty == "x-gzip") && r.q > 0.0)
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    let a = addr.trim();
    let a = if a.is_empty() {
        DEFAULT_ADDRESS.to_owned()
    } else if a.starts_with(':') {
        format!("127.0.0.1{a}")
    } else {
        a.to_owned()
    };
    a.to_socket_addrs()
        .map_err(|e| Error::InvalidArgument(format!("address {addr:?}: {e}")))?
        .next()
        .ok_or_else(|| Error::InvalidArgument(format!("address {addr:?} resolves to nothing")))
}

struct Running {
    http: HttpServer,
    collector: Arc<Collector>,
    collector_thread: JoinHandle<()>,
    core: Arc<ReaderCore>,
}

/// A Prometheus pull endpoint serving a provider's metrics over HTTP.
///
/// It attaches its own cumulative reader to the provider, so scrapes
/// never change what other readers (an OTLP push, for example) report.
/// `GET /metrics` (or HEAD) answers with the text format 0.0.4, or with
/// OpenMetrics 1.0 when the `Accept` header prefers it, gzip-compressed
/// when `Accept-Encoding` allows. Every other path gets 404.
///
/// Scrapes that arrive while a collection runs share it (one collection
/// for any number of concurrent scrapers); each scrape waits at most its
/// deadline and otherwise gets 503. Connections are bounded in number,
/// time and header size, so slow or malformed clients cannot hold the
/// endpoint, and recording threads never wait for it.
///
/// [`stop`](Self::stop) (or dropping the server) closes the socket and
/// every connection, joins every thread and detaches the reader. The
/// server does not keep the provider alive.
pub struct PrometheusServer {
    addr: SocketAddr,
    collector: Arc<Collector>,
    diag: Arc<Diag>,
    encode: EncodeOptions,
    scrape_timeout: Duration,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for PrometheusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl PrometheusServer {
    /// Starts an endpoint for `provider` on `addr` (`host:port`; `""` is
    /// [`DEFAULT_ADDRESS`], `":9464"` means loopback port 9464; port 0
    /// picks a free port, see [`local_addr`](Self::local_addr)).
    ///
    /// Errors: `InvalidArgument` for an unusable address or options,
    /// `Shutdown` when the provider has shut down, `Failed` when the
    /// address cannot be bound.
    pub fn start(
        provider: &MeterProvider,
        addr: &str,
        options: PrometheusServerOptions,
    ) -> Result<PrometheusServer> {
        let sock = resolve(addr)?;
        if !options.path.starts_with('/') {
            return Err(Error::InvalidArgument(format!(
                "metrics path {:?} must start with '/'",
                options.path
            )));
        }
        if options.max_connections == 0 || options.max_header_bytes < 256 {
            return Err(Error::InvalidArgument(
                "max_connections must be at least 1 and max_header_bytes at least 256".into(),
            ));
        }
        let expected_auth = match &options.auth {
            None => None,
            Some(PrometheusAuth::Bearer(t)) => Some(("Bearer", t.trim().to_owned())),
            Some(PrometheusAuth::Basic { user, password }) => {
                Some(("Basic", base64(format!("{user}:{password}").as_bytes())))
            }
        };
        let diag = provider.diag();
        let core = ReaderCore::new(TemporalityPreference::Cumulative);
        provider.add_reader(PullReader { core: core.clone() })?;
        let metrics = if options.self_metrics {
            // The SDK's own meters: a scrape served while the provider
            // shuts down is still counted, not rejected as after-shutdown.
            match SelfMetrics::new(&provider.sdk_handle()) {
                Ok(m) => Some(m),
                Err(e) => {
                    core.detach();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let collector = Arc::new(Collector {
            core: core.clone(),
            st: Mutex::new(CollectState::default()),
            cv: Condvar::new(),
        });
        let c2 = collector.clone();
        let collector_thread = match std::thread::Builder::new()
            .name("fm-prom-collect".into())
            .spawn(move || c2.run())
        {
            Ok(t) => t,
            Err(e) => {
                core.detach();
                return Err(Error::Failed(format!(
                    "cannot start the collector thread: {e}"
                )));
            }
        };
        let limits = Limits {
            max_connections: options.max_connections,
            header_timeout: options.header_timeout,
            write_timeout: options.write_timeout,
            max_header_bytes: options.max_header_bytes,
            max_requests_per_connection: 1000,
        };
        let encode = options.encode.clone();
        let scrape_timeout = options.scrape_timeout;
        let ep = Arc::new(Endpoint {
            collector: collector.clone(),
            diag: diag.clone(),
            opts: options,
            expected_auth,
            metrics,
        });
        let handler: Handler = Arc::new(move |r: &Request| ep.handle(r));
        let http = match HttpServer::start(sock, limits, handler) {
            Ok(h) => h,
            Err(e) => {
                collector.stop();
                let _ = collector_thread.join();
                core.detach();
                return Err(Error::Failed(format!("cannot listen on {sock}: {e}")));
            }
        };
        Ok(PrometheusServer {
            addr: http.local_addr(),
            collector: collector.clone(),
            diag,
            encode,
            scrape_timeout,
            running: Mutex::new(Some(Running {
                http,
                collector,
                collector_thread,
                core,
            })),
        })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Collects through the endpoint's reader (sharing a running
    /// collection, like a scrape) and encodes, without HTTP.
    pub fn render(&self, format: Format) -> Result<Vec<u8>> {
        let shared = match self.collector.scrape(self.scrape_timeout) {
            Ok(s) => s,
            Err(ScrapeError::Timeout) => return Err(Error::Timeout),
            Err(ScrapeError::Stopped) => return Err(Error::Shutdown),
        };
        let rm = shared.as_ref().as_ref().map_err(Clone::clone)?;
        let mut out = Vec::new();
        let left_out = encode_counting(rm, format, &self.encode, &mut out);
        self.diag
            .reject_many(Reason::ExpositionConflict, left_out, "prometheus endpoint");
        Ok(out)
    }

    /// Stops the endpoint: closes the listening socket and every open
    /// connection, joins every thread and detaches the reader from the
    /// provider. Scrapes waiting for a collection get 503. Idempotent.
    pub fn stop(&self) {
        let Some(r) = lock(&self.running).take() else {
            return;
        };
        r.collector.stop();
        r.http.stop();
        let _ = r.collector_thread.join();
        r.core.detach();
    }

    /// True until [`stop`](Self::stop).
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let negotiate = |a: &[&str]| negotiate(a.iter().copied(), true, true);
        let prom = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(&[prom]), Format::OpenMetrics);
        assert_eq!(negotiate(&["text/plain"]), Format::Text);
        assert_eq!(negotiate(&[]), Format::Text);
        assert_eq!(negotiate(&["*/*"]), Format::Text);
        assert_eq!(
            negotiate(&["application/openmetrics-text"]),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(&["application/openmetrics-text;version=2.0.0"]),
            Format::Text
        );
        assert_eq!(
            negotiate(&["text/plain;q=0.9, application/openmetrics-text;q=0.5"]),
            Format::Text
        );
        // What Prometheus sends with native histograms on (2.42: protobuf
        // first; 3.x: scrape_protocols order).
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.7,text/plain;version=0.0.4;q=0.6,*/*;q=0.5";
        assert_eq!(negotiate(&[native]), Format::Protobuf);
        assert_eq!(
            super::negotiate([native].into_iter(), true, false),
            Format::OpenMetrics
        );
        assert_eq!(
            super::negotiate([native].into_iter(), false, false),
            Format::Text
        );
        // Ties go to protobuf; another message type, another encoding or a
        // lower rank do not.
        let pb = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily";
        assert_eq!(negotiate(&[pb, "text/plain"]), Format::Protobuf);
        assert_eq!(
            negotiate(&["application/vnd.google.protobuf;proto=other.Message;encoding=delimited"]),
            Format::Text
        );
        assert_eq!(negotiate(&[&format!("{pb};encoding=text")]), Format::Text);
        assert_eq!(
            negotiate(&[&format!("{pb};q=0.4"), "application/openmetrics-text;q=0.5"]),
            Format::OpenMetrics
        );
        assert!(accepts_gzip(["gzip, deflate"].into_iter()));
        assert!(!accepts_gzip(["gzip;q=0"].into_iter()));
        assert!(!accepts_gzip(["identity"].into_iter()));
    }

    #[test]
    fn base64_and_ct_eq() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn addresses() {
        assert_eq!(resolve("").unwrap().to_string(), DEFAULT_ADDRESS);
        assert_eq!(resolve(":9000").unwrap().to_string(), "127.0.0.1:9000");
        assert!(resolve("nonsense").is_err());
    }
}
