//! The Prometheus pull endpoint: a cumulative reader of its own, a
//! single-flight collector with a scrape deadline, content negotiation,
//! gzip, optional authentication, and promhttp-style self metrics. A
//! reader (it collects when scraped); the encoders it serves with are in
//! [`crate::export::prometheus`], its HTTP server in `export/http_server.rs`.

use super::{MetricReader, ReaderCore, TemporalityPreference};
use crate::collect::data::ResourceMetrics;
use crate::diagnostics::{Diag, Reason};
use crate::error::{Error, Result};
use crate::export::http_server::{Handler, HttpServer, Limits, Request, Response};
use crate::export::prometheus::{
    encode_counting, EncodeOptions, EscapingScheme, Format, PrometheusTls,
};
use crate::instruments::{BoundCounter, BoundHistogram, BoundUpDownCounter, Counter};
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
    /// Serve `https://` with this certificate (default none: plain HTTP).
    /// The handshake runs on the connection's thread and, with the first
    /// request head, must finish within
    /// [`header_timeout`](Self::header_timeout).
    pub tls: Option<PrometheusTls>,
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
            tls: None,
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
    /// Sets [`tls`](Self::tls).
    pub fn with_tls(mut self, tls: PrometheusTls) -> Self {
        self.tls = Some(tls);
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

/// The endpoint's promhttp-style metrics. Their series exist from the
/// start (bound before the first scrape, as client_golang registers them
/// at 0): the first scrape already shows `requests_total` for the codes
/// client_golang pre-creates (200, 500, 503) and an empty duration
/// histogram.
struct SelfMetrics {
    requests: Counter<u64>,
    /// `requests` bound to code 200, 500 and 503.
    requests_by_code: [BoundCounter<u64>; 3],
    in_flight: BoundUpDownCounter<i64>,
    duration: BoundHistogram<f64>,
}

impl SelfMetrics {
    fn new(p: &MeterProvider) -> Result<SelfMetrics> {
        let m = p.meter_with_scope(
            InstrumentationScope::new("ferrometer.prometheus")
                .with_version(env!("CARGO_PKG_VERSION")),
        );
        let requests = m
            .u64_counter("promhttp_metric_handler_requests")
            .with_description("Total number of scrapes by HTTP status code.")
            .build()?;
        let by_code = |c: &'static str| requests.bind(&[KeyValue::new("code", c)]);
        Ok(SelfMetrics {
            requests_by_code: [by_code("200"), by_code("500"), by_code("503")],
            requests,
            in_flight: m
                .i64_up_down_counter("promhttp_metric_handler_requests_in_flight")
                .with_description("Current number of scrapes being served.")
                .build()?
                .bind(&[]),
            duration: m
                .f64_histogram("promhttp_metric_handler_request_duration")
                .with_description("Time spent serving scrapes.")
                .with_unit("s")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build()?
                .bind(&[]),
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
            m.in_flight.add(1);
        }
        let resp = self.serve(req);
        if let Some(m) = &self.metrics {
            m.in_flight.add(-1);
            match resp.status {
                200 => m.requests_by_code[0].add(1),
                500 => m.requests_by_code[1].add(1),
                503 => m.requests_by_code[2].add(1),
                s => m.requests.add(1, &[KeyValue::new("code", code_str(s))]),
            }
            m.duration.record(start.elapsed().as_secs_f64());
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
        let answer = negotiate(
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
        let opts = self.opts.encode.clone().with_escaping(answer.escaping);
        let left_out = encode_counting(rm, answer.format, &opts, &mut body);
        drop(shared);
        self.diag
            .reject_many(Reason::ExpositionConflict, left_out, "prometheus endpoint");
        let mut headers = vec![
            ("Content-Type", answer.content_type()),
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

/// What a scrape gets: a format, its version, and how names outside the
/// legacy character set are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub format: Format,
    /// Text format 1.0.0 or OpenMetrics 1.0.0 (else text 0.0.4 or
    /// OpenMetrics 0.0.1); unused for protobuf.
    pub v1: bool,
    pub escaping: EscapingScheme,
    /// The client named the escaping (the protobuf answer then names it
    /// back).
    pub named: bool,
}

impl Negotiated {
    /// Text format 0.0.4, what a client that asks for nothing else gets.
    const TEXT_004: Negotiated = Negotiated {
        format: Format::Text,
        v1: false,
        escaping: EscapingScheme::Underscores,
        named: false,
    };

    /// The `Content-Type` of the answer: media type, version, and for the
    /// 1.0.0 text formats (and a protobuf answer to a request that named
    /// one) the escaping scheme.
    pub fn content_type(&self) -> String {
        let esc = self.escaping.as_str();
        match (self.format, self.v1) {
            (Format::Text, false) => Format::Text.content_type().to_owned(),
            (Format::Text, true) => {
                format!("text/plain; version=1.0.0; charset=utf-8; escaping={esc}")
            }
            (Format::OpenMetrics, false) => {
                "application/openmetrics-text; version=0.0.1; charset=utf-8".to_owned()
            }
            (Format::OpenMetrics, true) => {
                format!(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping={esc}"
                )
            }
            (Format::Protobuf, _) if self.named => {
                format!("{}; escaping={esc}", Format::Protobuf.content_type())
            }
            (Format::Protobuf, _) => Format::Protobuf.content_type().to_owned(),
        }
    }
}

/// Chooses the answer from the `Accept` header values: the supported
/// format the client ranks highest (its largest `q`); ties go to protobuf,
/// then OpenMetrics 1.0.0, OpenMetrics 0.0.1, text 1.0.0, text 0.0.4. Text
/// 0.0.4 when nothing supported is asked for (also `*/*` and `text/*`).
///
/// - protobuf: `application/vnd.google.protobuf` with
///   `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`
///   (or no encoding); only when `protobuf` is on;
/// - OpenMetrics: `application/openmetrics-text` of version 1.0.0 (or
///   none) or 0.0.1; only when `openmetrics` is on;
/// - text: `text/plain` of version 1.0.0, or 0.0.4 (any other or none),
///   `text/*`, `*/*` (0.0.4).
///
/// The escaping is the range's `escaping` parameter for text 1.0.0,
/// OpenMetrics 1.0.0 and protobuf; `underscores` when it is missing or
/// unknown, and always for text 0.0.4 and OpenMetrics 0.0.1.
pub(crate) fn negotiate<'a>(
    accept: impl Iterator<Item = &'a str>,
    openmetrics: bool,
    protobuf: bool,
) -> Negotiated {
    // (q, preference among ties, answer)
    let mut best: Option<(f32, u8, Negotiated)> = None;
    for r in media_ranges(accept) {
        let escaping = r.param("escaping").and_then(EscapingScheme::parse);
        let with = |format, v1, pref: u8| {
            let escaping = if v1 || format == Format::Protobuf {
                escaping
            } else {
                None
            };
            let n = Negotiated {
                format,
                v1,
                escaping: escaping.unwrap_or_default(),
                named: escaping.is_some(),
            };
            (pref, n)
        };
        let candidate = match r.ty.as_str() {
            "application/vnd.google.protobuf" => {
                let family = r.param("proto") == Some("io.prometheus.client.MetricFamily");
                let delimited = matches!(r.param("encoding"), None | Some("delimited"));
                (protobuf && family && delimited).then(|| with(Format::Protobuf, false, 4))
            }
            "application/openmetrics-text" if openmetrics => match r.param("version") {
                None | Some("1.0.0") => Some(with(Format::OpenMetrics, true, 3)),
                Some("0.0.1") => Some(with(Format::OpenMetrics, false, 2)),
                Some(_) => None,
            },
            "text/plain" if r.param("version") == Some("1.0.0") => {
                Some(with(Format::Text, true, 1))
            }
            "text/plain" | "text/*" | "*/*" => Some(with(Format::Text, false, 0)),
            _ => None,
        };
        if let Some((pref, n)) = candidate {
            let better = match best {
                None => r.q > 0.0,
                Some((q, p, _)) => r.q > q || (r.q == q && pref > p),
            };
            if better {
                best = Some((r.q, pref, n));
            }
        }
    }
    best.map_or(Negotiated::TEXT_004, |(_, _, n)| n)
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
/// `GET /metrics` (or HEAD) answers with the format, version and name
/// escaping the `Accept` header negotiates (the README has the table: text 0.0.4
/// or 1.0.0, OpenMetrics 0.0.1 or 1.0.0, protobuf; `escaping=allow-utf-8`,
/// `underscores`, `dots`, `values`), named in its `Content-Type`,
/// gzip-compressed when `Accept-Encoding` allows; over TLS when
/// [`PrometheusServerOptions::tls`] is set. Every other path gets 404.
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
    /// Errors: `InvalidArgument` for an unusable address or options (TLS
    /// material that cannot be read or does not fit together included),
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
        // Before anything is attached: a bad certificate leaves no trace.
        let tls = match &options.tls {
            Some(t) => Some(t.server_config()?),
            None => None,
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
        let http = match HttpServer::start(sock, limits, handler, tls) {
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
        let negotiate = |a: &[&str]| negotiate(a.iter().copied(), true, true).format;
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
            super::negotiate([native].into_iter(), true, false).format,
            Format::OpenMetrics
        );
        assert_eq!(
            super::negotiate([native].into_iter(), false, false).format,
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
    fn negotiated_versions_escapings_and_content_types() {
        let n = |a: &str| negotiate([a].into_iter(), true, true);
        let ct = |a: &str| n(a).content_type();
        // Prometheus 3's default Accept: OpenMetrics 1.0.0 with UTF-8.
        let prom3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(n(prom3).escaping, EscapingScheme::AllowUtf8);
        assert_eq!(
            ct(prom3),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
        // scrape_protocols: [PrometheusText1.0.0]
        assert_eq!(
            ct("text/plain;version=1.0.0;escaping=allow-utf-8;q=0.2,*/*;q=0.1"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
        for (esc, want) in [
            ("underscores", EscapingScheme::Underscores),
            ("dots", EscapingScheme::Dots),
            ("values", EscapingScheme::Values),
            ("allow-utf8", EscapingScheme::AllowUtf8),
            ("bogus", EscapingScheme::Underscores),
        ] {
            let a = format!("text/plain;version=1.0.0;escaping={esc}");
            assert_eq!(n(&a).escaping, want, "{a}");
            assert!(
                ct(&a).ends_with(&format!("escaping={}", want.as_str())),
                "{a}"
            );
        }
        // 1.0.0 without escaping: underscores, and the answer says so.
        assert_eq!(
            ct("text/plain;version=1.0.0"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
        );
        // Escaping is a 1.0.0 parameter: ignored on 0.0.4 and 0.0.1.
        let a = "text/plain;version=0.0.4;escaping=allow-utf-8";
        assert_eq!(n(a).escaping, EscapingScheme::Underscores);
        assert_eq!(ct(a), "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(
            ct("application/openmetrics-text;version=0.0.1;escaping=allow-utf-8"),
            "application/openmetrics-text; version=0.0.1; charset=utf-8"
        );
        // Equal q: 1.0.0 before the older versions.
        assert!(n("text/plain;version=0.0.4,text/plain;version=1.0.0").v1);
        // Protobuf names the escaping back only when asked with one.
        let pb = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert_eq!(ct(pb), crate::export::prometheus::protobuf::CONTENT_TYPE);
        assert_eq!(
            ct(&format!("{pb};escaping=allow-utf-8")),
            format!(
                "{}; escaping=allow-utf-8",
                crate::export::prometheus::protobuf::CONTENT_TYPE
            )
        );
        // Nothing acceptable (q=0 only): text 0.0.4.
        assert_eq!(n("text/plain;version=1.0.0;q=0"), Negotiated::TEXT_004);
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
