//! OTLP/HTTP pushes against Prometheus 3's OTLP receiver
//! (`--web.enable-otlp-receiver`), a real peer that keeps millisecond
//! timestamps and refuses a second, different value for a series at the
//! same millisecond (`duplicate sample for timestamp`).
//!
//! Prometheus 3 is built from the Go module
//! `github.com/prometheus/prometheus` (`scripts/build-prometheus3.sh`) and
//! cached under `${FERROMETER_CACHE:-$HOME/.cache/ferrometer}/prometheus-<version>/`,
//! away from Debian's Prometheus 2 on PATH; set `FERROMETER_PROMETHEUS3`
//! to use another binary. The test starts it on a free 127.0.0.1 port and:
//!
//! 1. pushes pairs of collections taken back to back (microseconds apart)
//!    with the counter changing in between: every push must be accepted,
//!    and PromQL must return the last totals;
//! 2. runs the C++ demo (`FERROMETER_DEMO=/path/to/ferrometer_demo`) with
//!    `OTEL_METRICS_EXPORTER=otlp` for 3 seconds: every export it made
//!    (the final one at shutdown included) was accepted, and PromQL
//!    returns its exact final totals.
//!
//! Acceptance is read from Prometheus's own request counters
//! (`prometheus_http_requests_total` for the OTLP handler), so a refused
//! push fails the test even if the pushing side ignored the answer.
//! Needs Go (to build Prometheus once); without it the test FAILS with the
//! build script's message.

use ferrometer::export::otlp::OtlpHttpExporter;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod demo_support;

use demo_support::{free_port, peer_binary, run_demo_against, DemoRun, TempDir};

mod http_support;
use http_support::{dechunk, encode_query};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const OTLP_HANDLER: &str = "/api/v1/otlp/v1/metrics";

/// The Prometheus 3 binary: `FERROMETER_PROMETHEUS3`, else built (or found
/// in the cache) by scripts/build-prometheus3.sh.
fn prometheus3_binary() -> PathBuf {
    peer_binary(
        "FERROMETER_PROMETHEUS3",
        "scripts/build-prometheus3.sh",
        "Prometheus 3",
        "It is built with Go \
         (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0): install Go \
         with access to the Go module proxy, or set FERROMETER_PROMETHEUS3 to a Prometheus 3 binary.",
    )
}

/// A running Prometheus 3; killed (and reaped) on drop, panics included.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with the OTLP receiver on a free loopback port
    /// (retrying with another port if it loses the race for the one picked).
    fn start(bin: &Path, dir: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        // No scrape jobs: everything arrives through the OTLP receiver.
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-otlp-receiver")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut p = Prometheus { child, port, log };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if p.get("/-/ready").is_some_and(|(code, _)| code == 200) {
                    return p;
                }
                if let Ok(Some(status)) = p.child.try_wait() {
                    last_log = p.log_text();
                    eprintln!("prometheus exited ({status}) on port {port}; retrying");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Prometheus was not ready on 127.0.0.1:{port} within {START_TIMEOUT:?}; its log:\n{}",
                    p.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("Prometheus failed to start three times; last log:\n{last_log}");
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A plain HTTP/1.1 GET: (status, body), None when unreachable.
    fn get(&self, path_and_query: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let code = text.split(' ').nth(1)?.parse().ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Some((code, body))
    }

    /// Requests the OTLP receiver answered, by status code.
    fn otlp_answers(&self) -> Vec<(u16, f64)> {
        let (_, text) = self.get("/metrics").expect("Prometheus /metrics");
        text.lines()
            .filter(|l| {
                l.starts_with("prometheus_http_requests_total{")
                    && l.contains(&format!("handler=\"{OTLP_HANDLER}\""))
            })
            .map(|l| {
                let code = l
                    .split("code=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let n = l.rsplit(' ').next().unwrap().parse().unwrap();
                (code, n)
            })
            .collect()
    }

    /// Checks that the OTLP receiver accepted `at_least` requests and
    /// refused none.
    fn assert_all_accepted(&self, at_least: f64, what: &str) {
        let answers = self.otlp_answers();
        let refused: Vec<_> = answers
            .iter()
            .filter(|(code, n)| !(200..300).contains(code) && *n > 0.0)
            .collect();
        let ok: f64 = answers
            .iter()
            .filter(|(code, _)| (200..300).contains(code))
            .map(|(_, n)| n)
            .sum();
        assert!(
            refused.is_empty(),
            "{what}: Prometheus refused pushes (status, count): {refused:?}\nits log:\n{}",
            self.log_text()
        );
        assert!(
            ok >= at_least,
            "{what}: Prometheus accepted {ok} pushes, want at least {at_least}"
        );
    }

    /// The single value an instant PromQL query returns.
    fn query(&self, promql: &str) -> Option<f64> {
        let (code, body) = self.get(&format!("/api/v1/query?query={}", encode_query(promql)))?;
        assert_eq!(code, 200, "query {promql}: {body}");
        let v: Json = serde_json::from_str(&body).unwrap();
        let result = v["data"]["result"].as_array()?;
        assert!(
            result.len() <= 1,
            "query {promql} returned several series: {body}"
        );
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Polls an instant query until it returns `want` (fresh samples can
    /// take a moment to be queryable).
    fn expect_value(&self, promql: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.query(promql);
            if got == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PromQL {promql} = {got:?}, want {want}\nPrometheus log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn prometheus3_otlp_receiver_accepts_every_collection() {
    ferrometer::diagnostics::set_silent();
    let bin = prometheus3_binary();
    let dir = TempDir::new("ferrometer-prometheus3");
    let prom = Prometheus::start(&bin, &dir.0);

    // 1. Back-to-back collections of one reader, the counter changing in
    // between: each must carry its own millisecond.
    let exporter = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(format!("{}{OTLP_HANDLER}", prom.base_url()))
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let reader = ManualReader::new(exporter.temporality());
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new(
            "service.name",
            "ferrometer-prometheus3-pairs",
        )]))
        .with_reader(reader.clone())
        .build();
    let c = provider
        .meter("pairs")
        .u64_counter("pairs.done")
        .build()
        .unwrap();
    const ROUNDS: u64 = 20;
    let mut total = 0;
    for round in 0..ROUNDS {
        c.add(1, &[]);
        let first = reader.collect().unwrap();
        c.add(2, &[]);
        let second = reader.collect().unwrap();
        total += 3;
        for rm in [first, second] {
            exporter
                .export(&rm, Instant::now() + Duration::from_secs(10))
                .unwrap_or_else(|e| {
                    panic!(
                        "round {round}: Prometheus refused a collection: {e}\nits log:\n{}",
                        prom.log_text()
                    )
                });
        }
    }
    provider.shutdown().unwrap();
    prom.assert_all_accepted((2 * ROUNDS) as f64, "back-to-back collections");
    prom.expect_value(
        "pairs_done_total{job=\"ferrometer-prometheus3-pairs\"}",
        total as f64,
    );

    // 2. The demo, configured from the environment.
    match std::env::var_os("FERROMETER_DEMO") {
        None => println!(
            "note: FERROMETER_DEMO is unset: skipped the demo part \
             (set it to a built ferrometer_demo to check its OTLP pushes)"
        ),
        Some(demo) => run_demo(Path::new(&demo), &prom, 2.0 * ROUNDS as f64),
    }
}

/// Runs the demo for 3 s with `OTEL_METRICS_EXPORTER=otlp` pushing to
/// Prometheus every 500 ms; checks every push was accepted and PromQL
/// returns the totals the demo printed.
fn run_demo(demo: &Path, prom: &Prometheus, pushes_before: f64) {
    let DemoRun {
        status,
        stdout: out,
        stderr: err,
    } = run_demo_against(
        demo,
        &[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("{}{OTLP_HANDLER}", prom.base_url()),
        )],
    );
    assert!(
        status.success(),
        "the demo failed ({status})\nstdout:\n{out}\nstderr:\n{err}\nPrometheus log:\n{}",
        prom.log_text()
    );
    // The SDK's own self-metrics stop after the exporters: a clean
    // shutdown rejects none of them.
    assert!(
        !err.contains("after shutdown"),
        "the demo's shutdown rejected measurements:\n{err}"
    );
    assert!(
        out.contains("OTEL_METRICS_EXPORTER=otlp attached"),
        "the demo did not attach the OTLP exporter\nstdout:\n{out}\nstderr:\n{err}"
    );
    // "  ticks           150 / 150": the SDK's total first.
    let total = |label: &str| -> f64 {
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{label}' total in the demo's output:\n{out}"))
    };
    let ticks = total("ticks ");
    assert!(ticks > 0.0, "the demo ran no tick:\n{out}");
    // Six or so periodic pushes in 3 s at 500 ms, and the final one.
    prom.assert_all_accepted(pushes_before + 3.0, "the demo's pushes");
    let job = "job=\"ferrometer-demo\"";
    prom.expect_value(&format!("sum(game_ticks_total{{{job}}})"), ticks);
    prom.expect_value(
        &format!("sum(game_entity_updates_total{{{job}}})"),
        total("entity updates "),
    );
    prom.expect_value(
        &format!("sum(game_events_total{{{job}}})"),
        total("events "),
    );
    prom.expect_value(
        &format!("sum(game_players_online{{{job}}})"),
        total("players online "),
    );
    prom.expect_value(
        &format!("sum(game_frame_duration_milliseconds_count{{{job}}})"),
        total("frames "),
    );
    eprintln!("demo: every push accepted; PromQL returns its totals (ticks {ticks})");
}
