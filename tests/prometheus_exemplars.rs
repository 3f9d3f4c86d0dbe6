//! Exemplars reach a real Prometheus: Prometheus 2.42 with
//! `--enable-feature=exemplar-storage` scrapes our endpoint (OpenMetrics,
//! which it asks for) and `/api/v1/query_exemplars` returns exemplars whose
//! trace and span ids are the ones recorded.
//!
//! 1. In-process: threads record with sampled trace contexts (current and
//!    explicit) on a counter and a histogram behind a `PrometheusServer`.
//! 2. With `FERROMETER_DEMO=/path/to/ferrometer_demo`: the C++ demo, which
//!    samples a tenth of its simulated requests (trace ids "fmdemo" + the
//!    tick number); scripts/test-all.sh sets it.

use ferrometer::export::prometheus::PrometheusServer;
use ferrometer::{KeyValue, MeterProvider, TraceContext};
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod demo_support;
mod http_support;
mod prometheus_support;
use demo_support::TempDir;
use prometheus_support::{need, Prometheus};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The (trace_id, span_id) label pairs of the exemplars Prometheus stores
/// for `query`, polled until `done` accepts them or 60 s pass.
fn exemplars_until(
    prom: &Prometheus,
    query: &str,
    done: impl Fn(&HashSet<(String, String)>) -> bool,
) -> HashSet<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = HashSet::new();
    let mut last = None;
    while Instant::now() < deadline {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let path = format!(
            "/api/v1/query_exemplars?query={query}&start={}&end={}",
            now - 600,
            now + 60
        );
        last = prom.get(&path);
        if let Some((200, body)) = &last {
            got = parse_ids(body);
            if done(&got) {
                return got;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "Prometheus stored no matching exemplars for {query}: {got:?}\nlast answer: {last:?}\n--- log ---\n{}",
        prom.log_tail(30)
    );
}

/// The trace_id/span_id pairs in a query_exemplars answer (a JSON body;
/// the ids are hex, so a scan for the label names is exact enough).
fn parse_ids(body: &str) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    let field = |s: &str, name: &str| -> Option<String> {
        let at = s.find(&format!("\"{name}\":\""))? + name.len() + 4;
        Some(s[at..].split('"').next()?.to_string())
    };
    for part in body.split("\"labels\":{").skip(1) {
        let labels = part.split('}').next().unwrap_or("");
        if let (Some(t), Some(s)) = (field(labels, "trace_id"), field(labels, "span_id")) {
            out.insert((t, s));
        }
    }
    out
}

fn config(target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: ex\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

#[test]
fn prometheus_stores_the_exemplars_we_record() {
    let bin = need("prometheus");
    let p = MeterProvider::builder().build();
    let server = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let m = p.meter("exemplars");
    let counter = m.u64_counter("jobs").build().unwrap();
    let hist = m
        .f64_histogram("job.duration")
        .with_unit("s")
        .build()
        .unwrap();
    // Thread t records in trace [t; 16], span [t + 100; 8].
    let ctx = |t: u8| TraceContext::new([t; 16], [t + 100; 8], 1);
    let recorded: HashSet<(String, String)> = (1..=3u8)
        .map(|t| (hex(&[t; 16]), hex(&[t + 100; 8])))
        .collect();
    let threads: Vec<_> = (1..=3u8)
        .map(|t| {
            let (counter, hist) = (counter.clone(), hist.clone());
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("worker", i64::from(t))];
                TraceContext::set_current(Some(ctx(t)));
                counter.add(1, &attrs);
                TraceContext::set_current(None);
                hist.record_in_context(0.25 * f64::from(t), &attrs, &ctx(t));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let dir = TempDir::new("fm-prom-exemplars");
    let prom = Prometheus::start(
        &bin,
        &dir.0,
        &config(&server.local_addr().to_string()),
        &["--enable-feature=exemplar-storage"],
    );
    // Every series' exemplar: one per worker on the counter, and on the
    // histogram's buckets.
    let counter_ids = exemplars_until(&prom, "jobs_total", |g| *g == recorded);
    assert_eq!(counter_ids, recorded);
    let hist_ids = exemplars_until(&prom, "job_duration_seconds_bucket", |g| *g == recorded);
    assert_eq!(hist_ids, recorded);
    p.shutdown().unwrap();
}

#[test]
fn prometheus_stores_the_demos_exemplars() {
    let Some(demo) = std::env::var_os("FERROMETER_DEMO") else {
        eprintln!("note: FERROMETER_DEMO is unset: the demo's exemplars are checked by scripts/test-all.sh");
        return;
    };
    let bin = need("prometheus");
    let port = demo_support::free_port();
    // `cargo test` puts its own target directory on LD_LIBRARY_PATH, whose
    // libferrometer.so (another build) would shadow the demo's.
    let mut child = Command::new(&demo)
        .args(["--seconds", "20", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("LD_LIBRARY_PATH")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = TempDir::new("fm-prom-demo-exemplars");
    let prom = Prometheus::start(
        &bin,
        &dir.0,
        &config(&format!("127.0.0.1:{port}")),
        &["--enable-feature=exemplar-storage"],
    );
    // The demo's trace ids: "fmdemo\0\0" then the tick; span id tick + 1.
    let from_demo = |g: &HashSet<(String, String)>| {
        !g.is_empty()
            && g.iter().all(|(t, s)| {
                let tick = u64::from_str_radix(&t[16..], 16).unwrap_or(u64::MAX);
                t.starts_with("666d64656d6f0000")
                    && u64::from_str_radix(s, 16).ok() == Some(tick.wrapping_add(1))
            })
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the demo stopped early: {:?}",
        child.try_wait()
    );
    let got = exemplars_until(&prom, "game_ticks_total", from_demo);
    let _ = child.kill();
    let _ = child.wait();
    assert!(from_demo(&got), "{got:?}");
}
