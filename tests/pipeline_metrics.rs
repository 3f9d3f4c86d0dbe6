//! Self-metrics of the export pipeline, recorded through the provider it
//! exports for, checked against injected faults on the Prometheus
//! endpoint and in the OTLP requests themselves (decoded with prost).
//!
//! Script: export 1 gets 503, 503, then 200 (two retries); export 2 gets
//! 400 (dropped, permanent); export 3 succeeds and carries the
//! self-metrics as they were at its collection.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::{sum_points, FaultSink, Mode};
use ferrometer::export::otlp::{proto, OtlpHttpExporter, RetryPolicy};
use ferrometer::export::prometheus::PrometheusServer;
use ferrometer::KeyValue;
use prost::Message;
use std::io::{Read, Write};
use std::time::Duration;

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of the first sample whose line starts with `name` and
/// contains every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(name)
                && l[name.len()..].starts_with(['{', ' '])
                && labels.iter().all(|x| l.contains(x))
        })
        .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn hist_count(body: &[u8], name: &str) -> u64 {
    let req = proto::ExportMetricsServiceRequest::decode(body).unwrap();
    req.resource_metrics[0]
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(proto::metric::Data::Histogram(h)) => Some(h.data_points[0].count),
            _ => None,
        })
        .sum()
}

#[test]
fn self_metrics_match_injected_faults_on_prometheus_and_otlp() {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .build()
        .unwrap()
        .into_pipeline()
        .with_retry(RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2.0,
        })
        .build()
        .unwrap();
    // The scrapes below read the self-metrics of the export just before
    // them, recorded after the flush's cycle: no collection window.
    let provider = ferrometer::MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(
            ferrometer::PeriodicReader::builder(pipe.clone())
                .with_interval(Duration::from_secs(3600))
                .with_timeout(Duration::from_secs(30))
                .build(),
        )
        .with_collection_window(Duration::ZERO)
        .build();
    // The periodic reader registered the self-metrics when the provider
    // attached it; registering again changes nothing (values below would
    // double if it did).
    pipe.register_metrics(&provider).unwrap();
    let prom = PrometheusServer::start(&provider, "127.0.0.1:0", Default::default()).unwrap();
    let c = provider.meter("app").u64_counter("jobs").build().unwrap();
    c.add(1, &[KeyValue::new("k", "a")]);

    // Export 1: 503, 503, 200.
    sink.script(vec![
        Mode::Status(503, Some("0".into())),
        Mode::Status(503, None),
    ]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    assert_eq!(sink.delivered().len(), 1);
    let first_points = sum_points(&sink.delivered()[0], "jobs", "k").len();
    assert_eq!(first_points, 1);
    let p1 = pipe.stats().points_delivered;
    // Export 2: 400, dropped.
    sink.script(vec![Mode::Status(400, None)]);
    let err = provider.force_flush(Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("not delivered"), "{err}");
    let st = pipe.stats();
    let dropped_400 = st.dropped(ferrometer::export::pipeline::DropReason::PermanentError);
    assert_eq!(dropped_400, st.points_enqueued - p1);
    // Export 3: delivered, carries the self-metrics of its collection.
    provider.force_flush(Duration::from_secs(5)).unwrap();
    let bodies = sink.delivered();
    assert_eq!(bodies.len(), 2);
    let b = &bodies[1];
    let failed = sum_points(b, "ferrometer.exporter.requests.failed", "reason");
    let get = |v: &[(String, i64)], k: &str| v.iter().find(|(x, _)| x == k).unwrap().1;
    assert_eq!(get(&failed, "5xx"), 2, "{failed:?}");
    assert_eq!(get(&failed, "4xx"), 1, "{failed:?}");
    assert_eq!(get(&failed, "timeout"), 0);
    assert_eq!(get(&failed, "connection"), 0);
    let dropped = sum_points(b, "ferrometer.exporter.points.dropped", "reason");
    assert_eq!(get(&dropped, "permanent_error"), dropped_400 as i64);
    assert_eq!(get(&dropped, "queue_full"), 0);
    let one = |name: &str| sum_points(b, name, "exporter")[0].clone();
    assert_eq!(one("ferrometer.exporter.retries"), ("otlp".into(), 2));
    assert_eq!(
        one("ferrometer.exporter.requests.exported"),
        ("otlp".into(), 1)
    );
    assert_eq!(one("ferrometer.exporter.points.exported").1, p1 as i64);
    assert_eq!(one("ferrometer.exporter.circuit.state").1, 0);
    assert_eq!(
        one("ferrometer.exporter.queue.capacity").1,
        pipe.config().max_queue_points as i64
    );
    // Collection happens before the batch is enqueued: the queue is empty.
    assert_eq!(one("ferrometer.exporter.queue.length").1, 0);
    // Four attempts so far: 503, 503, 200, 400.
    assert_eq!(hist_count(b, "ferrometer.exporter.export.duration"), 4);

    // Prometheus, scraped after export 3 was delivered (two requests
    // delivered, five attempts).
    let text = scrape(prom.local_addr());
    let ex = "exporter=\"otlp\"";
    assert_eq!(
        sample(
            &text,
            "ferrometer_exporter_requests_failed_total",
            &[ex, "reason=\"5xx\""]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "ferrometer_exporter_requests_failed_total",
            &[ex, "reason=\"4xx\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "ferrometer_exporter_points_dropped_total",
            &[ex, "reason=\"permanent_error\""]
        ),
        dropped_400 as f64
    );
    assert_eq!(
        sample(&text, "ferrometer_exporter_retries_total", &[ex]),
        2.0
    );
    assert_eq!(
        sample(&text, "ferrometer_exporter_requests_exported_total", &[ex]),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "ferrometer_exporter_export_duration_seconds_count",
            &[ex]
        ),
        5.0
    );
    assert_eq!(
        sample(&text, "ferrometer_exporter_circuit_state", &[ex]),
        0.0
    );
    provider.shutdown().unwrap();
}
