//! Real peers: `promtool check metrics` on the endpoint's output, and a
//! real Prometheus server (started here on loopback with a temporary
//! config) scraping the endpoint in both formats; the values are read back
//! through Prometheus's HTTP API.
//!
//! Needs the Debian package `prometheus` (it ships `prometheus` and
//! `promtool`). Without them the tests FAIL with a clear message.

use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::{KeyValue, MeterProvider, Resource};

mod promtool_support;

use promtool_support::promtool_check_with;

mod demo_support;
use demo_support::TempDir;
mod http_support;
use http_support::http_get;
mod prometheus_support;
use prometheus_support::{need, scrape_until};

/// The demo workload: a counter, a gauge and a histogram.
fn demo_provider() -> MeterProvider {
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "peer-demo")]))
        .build();
    let m = p.meter("demo");
    let c = m
        .u64_counter("demo.requests")
        .with_description("Requests served.")
        .build()
        .unwrap();
    c.add(40, &[KeyValue::new("route", "/play")]);
    c.add(2, &[KeyValue::new("route", "/play")]);
    c.add(5, &[KeyValue::new("route", "/quit \"now\"")]);
    let g = m
        .f64_gauge("demo.temperature")
        .with_description("Room temperature.")
        .with_unit("Cel")
        .build()
        .unwrap();
    g.record(21.5, &[]);
    let h = m
        .f64_histogram("demo.latency")
        .with_description("Request latency.")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build()
        .unwrap();
    for v in [0.05, 0.3, 0.7, 2.0] {
        h.record(v, &[KeyValue::new("route", "/play")]);
    }
    p
}

#[test]
fn promtool_check_metrics_accepts_the_endpoint_output() {
    let promtool = need("promtool");
    let p = demo_provider();
    let s = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let _ = http_get(s.local_addr(), "/metrics"); // so self metrics exist
    let (status, text) = http_get(s.local_addr(), "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    assert!(text.contains("demo_requests_total"), "{text}");
    let (ok, msg) = promtool_check_with(promtool, &text);
    assert!(
        ok,
        "promtool check metrics failed:\n{msg}\n--- input ---\n{text}"
    );
    assert!(
        msg.trim().is_empty(),
        "promtool reported problems:\n{msg}\n--- input ---\n{text}"
    );
    s.stop();
}

#[test]
fn a_real_prometheus_scrapes_counter_gauge_and_histogram() {
    let prometheus = need("prometheus");
    let p = demo_provider();
    // One endpoint negotiates OpenMetrics (what Prometheus asks for), one
    // serves only the text format 0.0.4.
    let om = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let text = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_openmetrics(false),
    )
    .unwrap();

    let dir = TempDir::new("fm-prom-peer");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: om\n    static_configs:\n      - targets: ['{}']\n\
         \x20 - job_name: text\n    static_configs:\n      - targets: ['{}']\n",
        om.local_addr(),
        text.local_addr()
    );
    let want: &[(&str, &str)] = &[
        (r#"up{job="om"}"#, "1"),
        (r#"up{job="text"}"#, "1"),
        (
            r#"demo_requests_total{job="om",route="/play",otel_scope_name="demo"}"#,
            "42",
        ),
        (r#"demo_requests_total{job="text",route="/play"}"#, "42"),
        (
            r#"demo_requests_total{job="om",route="/quit \"now\""}"#,
            "5",
        ),
        (r#"demo_temperature_celsius{job="om"}"#, "21.5"),
        (r#"demo_temperature_celsius{job="text"}"#, "21.5"),
        (r#"demo_latency_seconds_count{job="om",route="/play"}"#, "4"),
        (
            r#"demo_latency_seconds_sum{job="text",route="/play"}"#,
            "3.05",
        ),
        (
            r#"demo_latency_seconds_bucket{job="text",route="/play",le="0.5"}"#,
            "2",
        ),
        (
            r#"demo_latency_seconds_bucket{job="om",route="/play",le="+Inf"}"#,
            "4",
        ),
        (r#"target_info{job="om",service_name="peer-demo"}"#, "1"),
        (
            r#"sum(promhttp_metric_handler_requests_total{job="om",code="200"}) > 0"#,
            "",
        ),
    ];
    scrape_until(&prometheus, &dir.0, &config, want);
    om.stop();
    text.stop();
}
