//! Two instruments of one name with different bucket advice: the conflict
//! is reported through the diagnostics handler at registration and counted
//! when the Prometheus endpoint leaves the second one's samples out. In
//! its own test binary because the handler is process-wide.

use ferrometer::export::prometheus::{Format, PrometheusServer};
use ferrometer::*;
use std::sync::{Arc, Mutex};

mod promtool_support;

use promtool_support::promtool_check;

#[test]
fn same_name_different_bucket_advice_is_reported_and_counted() {
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let w2 = warnings.clone();
    diagnostics::set_handler(move |lvl, msg| {
        if lvl == Level::Warn {
            w2.lock().unwrap().push(msg.to_owned());
        }
    });
    let reader = ManualReader::default();
    let p = MeterProvider::builder().with_reader(reader.clone()).build();
    let m = p.meter("m");
    let first = m
        .f64_histogram("latency")
        .with_description("Request latency.")
        .with_boundaries(vec![1.0, 2.0])
        .build()
        .unwrap();
    assert!(warnings.lock().unwrap().is_empty());
    let second = m
        .f64_histogram("latency")
        .with_description("Request latency.")
        .with_boundaries(vec![10.0, 20.0, 30.0])
        .build()
        .unwrap();
    {
        let w = warnings.lock().unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("\"latency\""), "{}", w[0]);
        assert!(w[0].contains("bucket boundaries"), "{}", w[0]);
        assert!(
            w[0].contains("first registered instrument wins"),
            "{}",
            w[0]
        );
    }
    let route = |r: &'static str| [KeyValue::new("route", r)];
    first.record(1.5, &route("/a"));
    second.record(15.0, &route("/a"));
    // A series only the second one has is still exposed.
    second.record(25.0, &route("/b"));
    let server = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let text = String::from_utf8(server.render(Format::Text).unwrap()).unwrap();
    let counts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("latency_count{"))
        .collect();
    assert_eq!(counts.len(), 2, "one sample per series: {text}");
    let a_buckets: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("latency_bucket{") && l.contains("route=\"/a\""))
        .collect();
    assert_eq!(a_buckets.len(), 3, "the first one's 2 bounds + Inf: {text}");
    assert!(a_buckets.iter().any(|l| l.contains("le=\"2\"")), "{text}");
    assert!(text.contains("route=\"/b\""), "{text}");
    assert_eq!(p.rejected().exposition_conflicts, 1);
    let (ok, msg) = promtool_check(&text);
    assert!(ok, "promtool: {msg}\n{text}");
    // Other readers (OTLP) still get both streams whole.
    let rm = reader.collect().unwrap();
    let both = rm.scope_metrics[0]
        .metrics
        .iter()
        .filter(|m| &*m.name == "latency")
        .count();
    assert_eq!(both, 2);
    server.stop();
    diagnostics::set_silent();
}
