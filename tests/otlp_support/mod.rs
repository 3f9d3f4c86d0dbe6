//! Shared helpers of the OTLP tests: a scripted HTTP sink on 127.0.0.1,
//! the Python decoder (official `opentelemetry-proto` definitions), and a
//! provider that records every instrument kind.

#![allow(dead_code)]

use ferrometer::{KeyValue, ManualReader, Meter, MeterProvider, Resource, TemporalityPreference};
use serde_json::Value as Json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// One request the sink received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn body(mut self, content_type: &str, b: Vec<u8>) -> Self {
        self.headers
            .push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = b;
        self
    }
}

/// A tiny HTTP/1.1 server: answers each request with the next scripted
/// reply (200 with an empty body once the script is used up) and records
/// what it received. Its thread lives as long as the test process.
pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Sink {
    pub fn start(script: Vec<Reply>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (r, s) = (received.clone(), script.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(conn, r, s));
            }
        });
        Sink {
            addr,
            received,
            script,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/metrics", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(
    conn: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let at = Instant::now();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
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
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        received.lock().unwrap().push(Received {
            at,
            method,
            path,
            headers,
            body,
        });
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::status(200));
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if w.write_all(head.as_bytes()).is_err() || w.write_all(&reply.body).is_err() {
            return;
        }
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ferrometer-{name}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs tests/python/decode_otlp.py; panics with a clear message when
/// Python or the official definitions are missing.
pub fn python_decode(mode: &str, files: &[&Path]) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_otlp.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): these tests need Python 3"));
    assert!(
        out.status.success(),
        "decode_otlp.py failed (these tests need `pip install opentelemetry-proto protobuf`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("decoder output is JSON")
}

/// Decodes protobuf request bodies.
pub fn decode_bodies(bodies: &[Vec<u8>]) -> Vec<Json> {
    let dir = temp_dir("otlp-bodies");
    let paths: Vec<PathBuf> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = dir.join(format!("{i}.bin"));
            std::fs::write(&p, b).unwrap();
            p
        })
        .collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let v = python_decode("protobuf", &refs);
    let _ = std::fs::remove_dir_all(&dir);
    let reqs = v["requests"].as_array().unwrap().clone();
    for r in &reqs {
        assert_eq!(
            r["unknown_bytes"], 0,
            "fields the official definitions do not know"
        );
    }
    reqs
}

/// The metric named `name` in a decoded request.
pub fn metric<'a>(req: &'a Json, name: &str) -> &'a Json {
    req["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("metric {name} missing from {req}"))
}

/// The point of `metric` whose attributes equal `attrs` (JSON object).
pub fn point(metric: &Json, attrs: Json) -> &Json {
    metric["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"] == attrs)
        .unwrap_or_else(|| panic!("no point with {attrs} in {metric}"))
}

/// Explicit timestamp given to the gauge.
pub const GAUGE_TIME_NS: u64 = 1_700_000_000_123_456_789;

/// A provider with one instrument of every kind, and the knobs to record
/// a first and a second round.
pub struct Scenario {
    pub provider: MeterProvider,
    pub reader: ManualReader,
    meter: Meter,
    pub counter: ferrometer::Counter<u64>,
    pub fcounter: ferrometer::Counter<f64>,
    pub updown: ferrometer::UpDownCounter<i64>,
    pub fupdown: ferrometer::UpDownCounter<f64>,
    pub hist: ferrometer::Histogram<f64>,
    pub uhist: ferrometer::Histogram<u64>,
    pub gauge: ferrometer::Gauge<i64>,
    pub fgauge: ferrometer::Gauge<f64>,
    pub obs_counter: Arc<AtomicU64>,
    pub obs_updown: Arc<AtomicI64>,
    pub obs_gauge_bits: Arc<AtomicU64>,
}

impl Scenario {
    pub fn new(pref: TemporalityPreference) -> Scenario {
        let reader = ManualReader::new(pref);
        let provider = MeterProvider::builder()
            .with_resource(Resource::new([
                KeyValue::new("service.name", "otlp-test"),
                KeyValue::new("host.id", 7i64),
            ]))
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("otlp.test");
        let obs_counter = Arc::new(AtomicU64::new(42));
        let obs_updown = Arc::new(AtomicI64::new(-3));
        let obs_gauge_bits = Arc::new(AtomicU64::new(123.5f64.to_bits()));
        let (oc, ou, og) = (
            obs_counter.clone(),
            obs_updown.clone(),
            obs_gauge_bits.clone(),
        );
        std::mem::forget(
            meter
                .u64_observable_counter("obs.counter")
                .with_callback(move |i| {
                    i.observe(oc.load(Ordering::SeqCst), &[KeyValue::new("cpu", 0i64)])
                })
                .build()
                .unwrap(),
        );
        std::mem::forget(
            meter
                .i64_observable_up_down_counter("obs.updown")
                .with_callback(move |i| i.observe(ou.load(Ordering::SeqCst), &[]))
                .build()
                .unwrap(),
        );
        std::mem::forget(
            meter
                .f64_observable_gauge("obs.gauge")
                .with_unit("By")
                .with_callback(move |i| {
                    i.observe(
                        f64::from_bits(og.load(Ordering::SeqCst)),
                        &[KeyValue::new("pool", "a")],
                    )
                })
                .build()
                .unwrap(),
        );
        Scenario {
            counter: meter
                .u64_counter("requests")
                .with_unit("{request}")
                .with_description("Requests served")
                .build()
                .unwrap(),
            fcounter: meter.f64_counter("bytes").with_unit("By").build().unwrap(),
            updown: meter.i64_up_down_counter("queue").build().unwrap(),
            fupdown: meter.f64_up_down_counter("balance").build().unwrap(),
            hist: meter
                .f64_histogram("latency")
                .with_unit("s")
                .with_boundaries(vec![0.1, 1.0, 10.0])
                .build()
                .unwrap(),
            uhist: meter
                .u64_histogram("size")
                .with_boundaries(vec![10.0, 100.0])
                .build()
                .unwrap(),
            gauge: meter.i64_gauge("temperature").build().unwrap(),
            fgauge: meter.f64_gauge("load").build().unwrap(),
            provider,
            reader,
            meter,
            obs_counter,
            obs_updown,
            obs_gauge_bits,
        }
    }

    /// Round 1 (see `check_round1`).
    pub fn record_round1(&self) {
        let a = [KeyValue::new("route", "/a")];
        let b = [KeyValue::new("route", "/b"), KeyValue::new("ok", true)];
        self.counter.add(3, &a);
        self.counter.add(4, &b);
        self.counter.add(5, &a);
        self.fcounter.add(1.5, &[]);
        self.fcounter.add(2.25, &[]);
        self.updown.add(10, &[]);
        self.updown.add(-3, &[]);
        self.fupdown.add(-1.5, &[KeyValue::new("ratio", 0.5)]);
        for v in [0.05, 0.5, 0.5, 5.0, 50.0] {
            self.hist.record(v, &a);
        }
        for v in [1, 20, 300] {
            self.uhist.record(v, &[]);
        }
        self.gauge.record_at(
            -7,
            &[KeyValue::new("room", "b12")],
            SystemTime::UNIX_EPOCH + Duration::from_nanos(GAUGE_TIME_NS),
        );
        self.fgauge.record(0.75, &[]);
    }

    /// Round 2: more of everything.
    pub fn record_round2(&self) {
        let a = [KeyValue::new("route", "/a")];
        self.counter.add(2, &a);
        self.fcounter.add(0.25, &[]);
        self.updown.add(-10, &[]);
        self.hist.record(0.2, &a);
        self.gauge.record(21, &[KeyValue::new("room", "b12")]);
        self.obs_counter.store(50, Ordering::SeqCst);
        self.obs_updown.store(4, Ordering::SeqCst);
        self.obs_gauge_bits
            .store(99.0f64.to_bits(), Ordering::SeqCst);
    }
}

use serde_json::json;

/// Checks a decoded request against round 1 (cumulative and delta agree
/// on the first collection).
pub fn check_round1(req: &Json, delta: bool) {
    let sum_t = if delta { 1 } else { 2 };
    assert_eq!(req["resource"]["service.name"], "otlp-test");
    assert_eq!(req["resource"]["host.id"], 7);

    let m = metric(req, "requests");
    assert_eq!(m["type"], "sum");
    assert_eq!(m["scope"], "otlp.test");
    assert_eq!(m["unit"], "{request}");
    assert_eq!(m["description"], "Requests served");
    assert_eq!(m["monotonic"], true);
    assert_eq!(m["temporality"], sum_t);
    assert_eq!(point(m, json!({"route": "/a"}))["as_int"], 8);
    assert_eq!(point(m, json!({"route": "/b", "ok": true}))["as_int"], 4);
    let p = point(m, json!({"route": "/a"}));
    assert!(p["start"].as_u64().unwrap() > 0);
    assert!(p["time"].as_u64().unwrap() >= p["start"].as_u64().unwrap());

    let m = metric(req, "bytes");
    assert_eq!(point(m, json!({}))["as_double"], 3.75);
    assert_eq!(m["unit"], "By");

    let m = metric(req, "queue");
    assert_eq!(m["type"], "sum");
    assert_eq!(m["monotonic"], false);
    assert_eq!(m["temporality"], 2, "up-down counters stay cumulative");
    assert_eq!(point(m, json!({}))["as_int"], 7);
    let m = metric(req, "balance");
    assert_eq!(point(m, json!({"ratio": 0.5}))["as_double"], -1.5);

    let m = metric(req, "latency");
    assert_eq!(m["type"], "histogram");
    assert_eq!(m["temporality"], sum_t);
    let p = point(m, json!({"route": "/a"}));
    assert_eq!(p["count"], 5);
    assert!((p["sum"].as_f64().unwrap() - 56.05).abs() < 1e-9);
    assert_eq!(p["min"], 0.05);
    assert_eq!(p["max"], 50.0);
    assert_eq!(p["bounds"], json!([0.1, 1.0, 10.0]));
    assert_eq!(p["bucket_counts"], json!([1, 2, 1, 1]));
    let p = point(metric(req, "size"), json!({}));
    assert_eq!(p["count"], 3);
    assert_eq!(p["sum"], 321.0);
    assert_eq!(p["min"], 1.0);
    assert_eq!(p["max"], 300.0);
    assert_eq!(p["bucket_counts"], json!([1, 1, 1]));

    let m = metric(req, "temperature");
    assert_eq!(m["type"], "gauge");
    let p = point(m, json!({"room": "b12"}));
    assert_eq!(p["as_int"], -7);
    assert_eq!(
        p["time"], GAUGE_TIME_NS,
        "explicit timestamp carried through"
    );
    assert_eq!(point(metric(req, "load"), json!({}))["as_double"], 0.75);

    let m = metric(req, "obs.counter");
    assert_eq!(m["type"], "sum");
    assert_eq!(m["monotonic"], true);
    assert_eq!(m["temporality"], sum_t);
    assert_eq!(point(m, json!({"cpu": 0}))["as_int"], 42);
    let m = metric(req, "obs.updown");
    assert_eq!(m["monotonic"], false);
    assert_eq!(point(m, json!({}))["as_int"], -3);
    let m = metric(req, "obs.gauge");
    assert_eq!(m["type"], "gauge");
    assert_eq!(m["unit"], "By");
    assert_eq!(point(m, json!({"pool": "a"}))["as_double"], 123.5);
}

/// Checks a decoded request against round 1 + round 2.
pub fn check_round2(req: &Json, delta: bool) {
    let a = || json!({"route": "/a"});
    let m = metric(req, "requests");
    if delta {
        assert_eq!(point(m, a())["as_int"], 2);
        // /b did not change: a delta reader reports it as 0 or not at all.
        if let Some(p) = m["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["attributes"] == json!({"route": "/b", "ok": true}))
        {
            assert_eq!(p["as_int"], 0);
        }
    } else {
        assert_eq!(point(m, a())["as_int"], 10);
        assert_eq!(point(m, json!({"route": "/b", "ok": true}))["as_int"], 4);
    }
    let want = if delta { 0.25 } else { 4.0 };
    assert_eq!(point(metric(req, "bytes"), json!({}))["as_double"], want);
    assert_eq!(point(metric(req, "queue"), json!({}))["as_int"], -3);

    let p = point(metric(req, "latency"), a());
    if delta {
        assert_eq!(p["count"], 1);
        assert_eq!(p["bucket_counts"], json!([0, 1, 0, 0]));
        assert_eq!(p["min"], 0.2);
        assert_eq!(p["max"], 0.2);
    } else {
        assert_eq!(p["count"], 6);
        assert_eq!(p["bucket_counts"], json!([1, 3, 1, 1]));
        assert_eq!(p["min"], 0.05);
        assert_eq!(p["max"], 50.0);
    }

    let p = point(metric(req, "temperature"), json!({"room": "b12"}));
    assert_eq!(p["as_int"], 21);
    assert_ne!(
        p["time"], GAUGE_TIME_NS,
        "a plain record takes the collection time"
    );

    let want = if delta { 8 } else { 50 };
    assert_eq!(
        point(metric(req, "obs.counter"), json!({"cpu": 0}))["as_int"],
        want
    );
    assert_eq!(point(metric(req, "obs.updown"), json!({}))["as_int"], 4);
    assert_eq!(
        point(metric(req, "obs.gauge"), json!({"pool": "a"}))["as_double"],
        99.0
    );
}
