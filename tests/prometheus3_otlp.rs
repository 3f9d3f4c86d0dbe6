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
use std::path::Path;
use std::time::{Duration, Instant};

mod demo_support;

use demo_support::{run_demo_against, DemoRun, TempDir};

mod http_support;
mod prometheus_support;
use prometheus_support::{prometheus3_binary, Prometheus, NO_SCRAPES};

const OTLP_HANDLER: &str = "/api/v1/otlp/v1/metrics";

impl Prometheus {
    /// Requests the OTLP receiver answered, by status code.
    fn otlp_answers(&self) -> Vec<(u16, f64)> {
        self.answers(OTLP_HANDLER)
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
}

#[test]
fn prometheus3_otlp_receiver_accepts_every_collection() {
    ferrometer::diagnostics::set_silent();
    let bin = prometheus3_binary();
    let dir = TempDir::new("ferrometer-prometheus3");
    // No scrape jobs: everything arrives through the OTLP receiver.
    let prom = Prometheus::start(&bin, &dir.0, NO_SCRAPES, &["--web.enable-otlp-receiver"]);

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
    // Six or so periodic pushes in 3 s at 500 ms, and the final one.
    prom.assert_all_accepted(pushes_before + 3.0, "the demo's pushes");
    let ticks = prom.expect_demo_totals(&out);
    eprintln!("demo: every push accepted; PromQL returns its totals (ticks {ticks})");
}
