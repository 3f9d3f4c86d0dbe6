//! A real Prometheus scrapes exponential histograms as native histograms
//! from the endpoint's protobuf exposition, and PromQL's
//! `histogram_quantile(0.5, ...)` over the native series agrees with the
//! true median of the recorded values within the resolution's relative
//! error, `2^(2^-schema) - 1` (the median and the estimate lie in the same
//! bucket, whose bounds differ by the factor `2^(2^-schema)`).
//!
//! - Prometheus 2.42 (Debian package `prometheus`, on PATH) with
//!   `--enable-feature=native-histograms`: required, the test fails
//!   without it.
//! - Prometheus 3 (`FERROMETER_PROMETHEUS3`, else
//!   `${FERROMETER_CACHE:-$HOME/.cache/ferrometer}/prometheus-v0.316.0/prometheus`,
//!   built by scripts/build-prometheus3.sh, which scripts/test-all.sh runs)
//!   with `scrape_native_histograms: true`: skipped with a printed reason
//!   when the binary is absent.
//!
//! Both run on a free 127.0.0.1 port with a temporary config and storage,
//! and are killed and reaped whatever happens.

use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::producer::{ExponentialHistogramValue, PointKind, ProducedMetric, ProducerBatch};
use ferrometer::{InstrumentationScope, KeyValue, MeterProvider, Resource, Temporality};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod demo_support;

use demo_support::TempDir;

mod http_support;
mod prometheus_support;
use prometheus_support::Prometheus;

/// Packet sizes: a fixed pseudo-random mix of small, medium and large
/// packets, and some zeros (which go to the zero bucket). 1001 values, so
/// the median is one of them.
fn values() -> Vec<f64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut v: Vec<f64> = (0..991)
        .map(|_| {
            let r = next();
            let (lo, span) = match r % 10 {
                0..=3 => (40, 60),
                4..=6 => (500, 100),
                _ => (1400, 100),
            };
            (lo + (r >> 8) % span) as f64
        })
        .collect();
    v.extend([0.0; 10]);
    v
}

fn true_median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

/// The buckets of `values` at `scale`: positive value `v` in bucket
/// `ceil(log2(v) * 2^scale) - 1`, whose range is `(base^i, base^(i+1)]`.
fn buckets(values: &[f64], scale: i32) -> (i32, Vec<u64>, u64) {
    let idx = |v: f64| ((v.log2() * 2f64.powi(scale)).ceil() as i64 - 1) as i32;
    let positive: Vec<i32> = values
        .iter()
        .filter(|v| **v > 0.0)
        .map(|&v| idx(v))
        .collect();
    let lo = *positive.iter().min().unwrap();
    let hi = *positive.iter().max().unwrap();
    let mut counts = vec![0u64; (hi - lo + 1) as usize];
    for i in positive {
        counts[(i - lo) as usize] += 1;
    }
    let zeros = values.iter().filter(|v| **v == 0.0).count() as u64;
    (lo, counts, zeros)
}

/// The series: one at scale 5, one at scale 11 (exposed at schema 8).
const SERIES: [(&str, i32); 2] = [("eth0", 5), ("eth1", 11)];

fn provider() -> MeterProvider {
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "native")]))
        .build();
    let metric = ProducedMetric::new(
        "packet.size",
        PointKind::ExponentialHistogram {
            temporality: Temporality::Cumulative,
        },
    )
    .with_unit("By");
    let vals = values();
    let start = ferrometer::time::now_nanos();
    let _reg = p.register_producer(
        InstrumentationScope::new("net"),
        move |b: &mut ProducerBatch| {
            for (host, scale) in SERIES {
                let (offset, counts, zeros) = buckets(&vals, scale);
                let v = ExponentialHistogramValue {
                    scale,
                    count: vals.len() as u64,
                    sum: vals.iter().sum(),
                    min_max: Some((0.0, 1499.0)),
                    zero_count: zeros,
                    zero_threshold: 0.0,
                    positive_offset: offset,
                    positive_counts: &counts,
                    negative_offset: 0,
                    negative_counts: &[],
                };
                b.add_exponential_histogram(&metric, &[KeyValue::new("if", host)], &v, 0, start)?;
            }
            Ok(())
        },
    );
    p
}

/// Starts `bin` scraping `target` every second, waits until every series
/// has a native histogram with all values, and checks the median.
fn scrape_and_check(what: &str, bin: &Path, extra_args: &[&str], job_extra: &str) {
    let p = provider();
    let server =
        PrometheusServer::start(&p, "127.0.0.1:0", PrometheusServerOptions::default()).unwrap();
    let dir = TempDir::new("fm-prom-native");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: native\n{job_extra}    static_configs:\n      - targets: ['{}']\n",
        server.local_addr()
    );
    let prom = Prometheus::start(bin, &dir.0, &config, extra_args);

    let vals = values();
    let median = true_median(&vals);
    let n = vals.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got: Vec<(String, Option<f64>, Option<f64>)>;
    let done = loop {
        got = SERIES
            .iter()
            .map(|(host, _)| {
                let sel = format!("packet_size_bytes{{job=\"native\",if=\"{host}\"}}");
                (
                    host.to_string(),
                    prom.query(&format!("histogram_count({sel})")),
                    prom.query(&format!("histogram_quantile(0.5, {sel})")),
                )
            })
            .collect();
        if got.iter().all(|g| g.1 == Some(n) && g.2.is_some()) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let log_tail = prom.log_tail(30);
    drop(prom);
    server.stop();
    assert!(
        done,
        "{what}: no native histograms with {n} values: {got:?}\n--- prometheus log ---\n{log_tail}"
    );
    for ((host, scale), (_, _, q)) in SERIES.iter().zip(&got) {
        let schema = (*scale).min(8);
        let bound = 2f64.powf(2f64.powi(-schema)) - 1.0;
        let q = q.unwrap();
        let err = (q - median).abs() / median;
        eprintln!(
            "{what}: {host} scale {scale} (schema {schema}): histogram_quantile(0.5) = {q}, \
             true median {median}, relative error {err:.5} (bound {bound:.5})"
        );
        assert!(
            err <= bound,
            "{what}: {host}: median estimate {q} is {err} away from {median} (bound {bound})"
        );
    }
}

fn on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

#[test]
fn prometheus_2_scrapes_native_histograms() {
    let bin = on_path("prometheus").unwrap_or_else(|| {
        panic!(
            "`prometheus` is not installed: this test needs the Debian package `prometheus` \
             (apt-get install -y prometheus)"
        )
    });
    scrape_and_check(
        "Prometheus 2",
        &bin,
        &["--enable-feature=native-histograms"],
        "",
    );
}

#[test]
fn prometheus_3_scrapes_native_histograms() {
    let bin = match std::env::var_os("FERROMETER_PROMETHEUS3") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("FERROMETER_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/ferrometer")
                });
            cache.join("prometheus-v0.316.0/prometheus")
        }
    };
    if !bin.is_file() {
        println!(
            "skipped: no Prometheus 3 binary at {} (scripts/build-prometheus3.sh builds it; \
             scripts/test-all.sh runs that script first)",
            bin.display()
        );
        return;
    }
    scrape_and_check(
        "Prometheus 3",
        &bin,
        &[],
        "    scrape_native_histograms: true\n",
    );
}
