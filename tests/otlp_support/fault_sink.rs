//! A loopback OTLP/HTTP sink whose behaviour can be switched while it
//! runs: accept (200), answer a status (with an optional Retry-After),
//! hang past the client's timeout, never answer at all (until the mode
//! changes or the client gives up), close the connection in the middle of
//! the request, answer 200 with an OTLP partial success, or refuse
//! connections (the listener is dropped; healing
//! binds the same port again). Only requests answered with 200 count as
//! delivered; their bodies are kept for decoding.
//!
//! Include with `#[path = "otlp_support/fault_sink.rs"] mod fault_sink;`.

#![allow(dead_code)]

use ferrometer::export::otlp::proto;
use ferrometer::export::otlp::RetryPolicy;
use ferrometer::export::pipeline::{DropReason, ExportPipeline, PipelineBuilder, PipelineStats};
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the sink answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// 200, body recorded as delivered.
    Accept,
    /// This status, with `Retry-After: value` when given.
    Status(u16, Option<String>),
    /// Read the request, then wait this long and close without answering.
    Hang(Duration),
    /// Read the request and never answer: the connection stays open until
    /// the client closes it or the mode changes (a collector that accepts
    /// connections and hangs).
    Silent,
    /// 200 with an `ExportMetricsServiceResponse` whose partial success
    /// rejects this many data points (the body counts as delivered).
    PartialSuccess(i64),
    /// Read the head and half the body, then close.
    CloseMidRequest,
    /// Nothing listens on the port.
    Refuse,
}

struct State {
    mode: Mutex<Mode>,
    /// Modes for the next requests, one each, before `mode` applies
    /// (not `Refuse`).
    script: Mutex<std::collections::VecDeque<Mode>>,
    delivered: Mutex<Vec<Vec<u8>>>,
    /// Requests answered with something other than 200, or cut.
    faulted: AtomicU64,
    /// Requests being held unanswered (`Silent`) now.
    silent: AtomicU64,
    listening: AtomicBool,
    listener: Mutex<Option<TcpListener>>,
}

/// The sink; its threads live as long as the test process.
#[derive(Clone)]
pub struct FaultSink {
    pub addr: SocketAddr,
    st: Arc<State>,
}

impl FaultSink {
    pub fn start() -> FaultSink {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let addr = l.local_addr().unwrap();
        let st = Arc::new(State {
            mode: Mutex::new(Mode::Accept),
            script: Mutex::default(),
            delivered: Mutex::new(Vec::new()),
            faulted: AtomicU64::new(0),
            silent: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            listener: Mutex::new(None),
        });
        let s = FaultSink { addr, st };
        s.listen(l);
        s
    }

    fn listen(&self, l: TcpListener) {
        l.set_nonblocking(true).unwrap();
        *self.st.listener.lock().unwrap() = Some(l.try_clone().unwrap());
        self.st.listening.store(true, Ordering::SeqCst);
        let st = self.st.clone();
        std::thread::spawn(move || loop {
            if !st.listening.load(Ordering::SeqCst) {
                return; // `l` dropped: the port refuses connections
            }
            match l.accept() {
                Ok((c, _)) => {
                    c.set_nonblocking(false).ok();
                    let st = st.clone();
                    std::thread::spawn(move || serve(c, st));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        });
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/metrics", self.addr)
    }

    /// Switches behaviour. `Refuse` closes the listening socket; leaving
    /// `Refuse` binds the same port again.
    pub fn set(&self, m: Mode) {
        let was = std::mem::replace(&mut *self.st.mode.lock().unwrap(), m.clone());
        if m == Mode::Refuse && was != Mode::Refuse {
            self.st.listening.store(false, Ordering::SeqCst);
            *self.st.listener.lock().unwrap() = None;
            // Let the accept loop notice and drop its socket.
            std::thread::sleep(Duration::from_millis(10));
        } else if m != Mode::Refuse && was == Mode::Refuse {
            let mut tries = 0;
            let l = loop {
                match TcpListener::bind(self.addr) {
                    Ok(l) => break l,
                    Err(e) if tries < 200 => {
                        tries += 1;
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("rebind {}: {e}", self.addr),
                }
            };
            self.listen(l);
        }
    }

    /// The next requests get these modes, one each, then `mode` applies
    /// again.
    pub fn script(&self, modes: Vec<Mode>) {
        self.st.script.lock().unwrap().extend(modes);
    }

    pub fn mode(&self) -> Mode {
        self.st.mode.lock().unwrap().clone()
    }

    /// Bodies of the requests answered with 200, in order.
    pub fn delivered(&self) -> Vec<Vec<u8>> {
        self.st.delivered.lock().unwrap().clone()
    }

    pub fn faulted(&self) -> u64 {
        self.st.faulted.load(Ordering::SeqCst)
    }

    /// Requests held unanswered (`Silent`) right now.
    pub fn silent(&self) -> u64 {
        self.st.silent.load(Ordering::SeqCst)
    }

    /// Waits (up to 10 s) until a request is held unanswered.
    pub fn wait_silent(&self) {
        let t0 = std::time::Instant::now();
        while self.silent() == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no request reached the sink"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve(conn: TcpStream, st: Arc<State>) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let scripted = st.script.lock().unwrap().pop_front();
        let mode = scripted.unwrap_or_else(|| st.mode.lock().unwrap().clone());
        if mode == Mode::Refuse {
            // A kept-alive connection from before the outage: cut it.
            st.faulted.fetch_add(1, Ordering::SeqCst);
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        if mode == Mode::CloseMidRequest {
            let mut half = vec![0; len / 2];
            let _ = r.read_exact(&mut half);
            st.faulted.fetch_add(1, Ordering::SeqCst);
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        match mode {
            Mode::Accept => {
                st.delivered.lock().unwrap().push(body);
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
                );
            }
            Mode::Status(code, ra) => {
                st.faulted.fetch_add(1, Ordering::SeqCst);
                let ra = ra
                    .map(|v| format!("Retry-After: {v}\r\n"))
                    .unwrap_or_default();
                let msg = format!(
                    "HTTP/1.1 {code} Injected\r\n{ra}Content-Type: text/plain\r\nContent-Length: 8\r\n\r\ninjected"
                );
                let _ = w.write_all(msg.as_bytes());
            }
            Mode::PartialSuccess(rejected) => {
                st.delivered.lock().unwrap().push(body);
                let resp = proto::ExportMetricsServiceResponse {
                    partial_success: Some(proto::ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message: "injected rejection".into(),
                    }),
                };
                let bytes = resp.encode_to_vec();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
                    bytes.len()
                );
                let _ = w.write_all(head.as_bytes());
                let _ = w.write_all(&bytes);
            }
            Mode::Silent => {
                st.faulted.fetch_add(1, Ordering::SeqCst);
                st.silent.fetch_add(1, Ordering::SeqCst);
                let conn = r.into_inner();
                conn.set_read_timeout(Some(Duration::from_millis(20))).ok();
                let mut buf = [0u8; 4096];
                loop {
                    if *st.mode.lock().unwrap() != Mode::Silent {
                        break;
                    }
                    match (&conn).read(&mut buf) {
                        Ok(0) => break, // the client gave up
                        Ok(_) => {}
                        Err(_) => {} // read timeout: look at the mode again
                    }
                }
                st.silent.fetch_sub(1, Ordering::SeqCst);
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::Hang(d) => {
                st.faulted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(d);
                let _ = w.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::CloseMidRequest | Mode::Refuse => unreachable!(),
        }
    }
}

/// Values of the number metric (sum or gauge) `name` in one request body,
/// by the value of the attribute `key` (doubles truncated).
pub fn sum_points(body: &[u8], name: &str, key: &str) -> Vec<(String, i64)> {
    let req = proto::ExportMetricsServiceRequest::decode(body).expect("valid OTLP protobuf");
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in sm.metrics.iter().filter(|m| m.name == name) {
                let points = match &m.data {
                    Some(proto::metric::Data::Sum(s)) => &s.data_points,
                    Some(proto::metric::Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for p in points {
                    let attr = p
                        .attributes
                        .iter()
                        .find(|kv| kv.key == key)
                        .and_then(|kv| kv.value.as_ref())
                        .and_then(|v| match &v.value {
                            Some(proto::any_value::Value::StringValue(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let v = match p.value {
                        Some(proto::number_data_point::Value::AsInt(i)) => i,
                        Some(proto::number_data_point::Value::AsDouble(d)) => d as i64,
                        None => 0,
                    };
                    out.push((attr, v));
                }
            }
        }
    }
    out
}

/// Sum per attribute value over many bodies (delta accounting).
pub fn sum_by_key(bodies: &[Vec<u8>], name: &str, key: &str) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for b in bodies {
        for (k, v) in sum_points(b, name, key) {
            *m.entry(k).or_insert(0) += v;
        }
    }
    m
}

/// Largest value per attribute value over many bodies (cumulative
/// totals: the final total is the largest).
pub fn max_by_key(bodies: &[Vec<u8>], name: &str, key: &str) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for b in bodies {
        for (k, v) in sum_points(b, name, key) {
            let e = m.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
    m
}

/// A provider (empty resource) whose one periodic reader exports through
/// `pipe` every `interval`, with export deadline `timeout`.
pub fn provider_exporting_to(
    pipe: &ferrometer::export::pipeline::ExportPipeline,
    interval: Duration,
    timeout: Duration,
) -> ferrometer::MeterProvider {
    let reader = ferrometer::PeriodicReader::builder(pipe.clone())
        .with_interval(interval)
        .with_timeout(timeout)
        .build();
    ferrometer::MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(reader)
        .build()
}

/// What a pipeline dropped, as its `on_drop` callback saw it: the reason
/// and the (uncompressed) request body.
pub type Drops = Arc<Mutex<Vec<(DropReason, Vec<u8>)>>>;

/// The retry policy of the fault tests: 6 attempts, backoff 20 ms to
/// 100 ms.
pub fn fault_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        multiplier: 2.0,
    }
}

/// The pipeline settings the fault schedules are sized for, on a builder
/// whose transport (150 ms request timeout, [`fault_retry`]) is set: 2 s
/// per batch, the circuit opening after 4 failures for 200 ms, a queue of
/// 24 points (two series every 40 ms: a 1.2 s outage overflows it), no
/// self-metrics, and every drop recorded in `drops`.
pub fn fault_pipeline(b: PipelineBuilder, drops: &Drops) -> ExportPipeline {
    let d = drops.clone();
    b.with_max_elapsed(Duration::from_secs(2))
        .with_circuit_breaker(4, Duration::from_millis(200))
        .with_queue_limits(24, 1 << 20)
        .with_self_metrics(false)
        .on_drop(move |r, body, _points, gz| {
            assert!(!gz);
            d.lock().unwrap().push((r, body.to_vec()));
        })
        .build()
        .unwrap()
}

/// Checks a fault run's counters against what the sink accepted
/// (`delivered` bodies) and what the drop hook got (`dropped`), with
/// `points(body)` the points in a request body: nothing is left queued,
/// every point offered was delivered or dropped, the delivered points and
/// requests are those the sink accepted, and each reason's dropped points
/// are those the hook got with that reason. `what` names the run.
pub fn assert_accounted(
    s: &PipelineStats,
    delivered: &[Vec<u8>],
    dropped: &[(DropReason, Vec<u8>)],
    points: impl Fn(&[u8]) -> usize,
    what: &str,
) {
    assert_eq!(s.queued_points, 0, "{what}: {s:?}");
    assert_eq!(
        s.points_offered(),
        s.points_delivered + s.dropped_total(),
        "{what}: {s:?}"
    );
    let sink_points: usize = delivered.iter().map(|b| points(b)).sum();
    assert_eq!(sink_points as u64, s.points_delivered, "{what}: {s:?}");
    assert_eq!(delivered.len() as u64, s.requests_delivered, "{what}");
    for reason in DropReason::ALL {
        let n: usize = dropped
            .iter()
            .filter(|(x, _)| *x == reason)
            .map(|(_, b)| points(b))
            .sum();
        assert_eq!(n as u64, s.dropped(reason), "{what}: {reason:?}: {s:?}");
    }
}
