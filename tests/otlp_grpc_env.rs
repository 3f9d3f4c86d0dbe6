//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` with `OTEL_METRICS_EXPORTER=otlp`
//! (its own test binary: it sets process environment variables). With
//! the feature `otlp-grpc` the environment's exporter speaks OTLP/gRPC to
//! the grpcio sink, with the environment's headers and gzip; without it,
//! attaching fails with `Error::Unsupported` naming the build option and
//! attaches nothing (no silent OTLP/HTTP to a gRPC port).

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;
#[path = "otlp_support/grpc_sink.rs"]
mod grpc_sink;

use ferrometer::export::env::attach_env_exporters;
use ferrometer::MeterProvider;
use std::time::Duration;

#[cfg(not(feature = "otlp-grpc"))]
#[test]
fn grpc_from_the_environment_is_refused_by_name() {
    ferrometer::diagnostics::set_silent();
    std::env::set_var("OTEL_METRICS_EXPORTER", "otlp");
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let p = MeterProvider::builder().build();
    let e = attach_env_exporters(&p, true).expect_err("no gRPC in this build");
    assert!(matches!(e, ferrometer::Error::Unsupported(_)), "{e:?}");
    assert!(e.to_string().contains("FERROMETER_OTLP_GRPC"), "{e}");
    assert!(e.to_string().contains("otlp-grpc"), "{e}");
    // Nothing was attached: a flush has no reader to flush.
    p.meter("m").u64_counter("c").build().unwrap().add(1, &[]);
    assert!(p.force_flush(Duration::from_secs(1)).is_ok());
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn grpc_from_the_environment_reaches_grpcio() {
    ferrometer::diagnostics::set_silent();
    let sink = grpc_sink::GrpcSink::start();
    std::env::set_var("OTEL_METRICS_EXPORTER", "otlp");
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    // The generic endpoint gets /v1/metrics appended: gRPC ignores paths.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url());
    std::env::set_var("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=yes");
    std::env::set_var("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    std::env::set_var("OTEL_METRIC_EXPORT_INTERVAL", "3600000");
    let p = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .build();
    let started = attach_env_exporters(&p, true).unwrap();
    assert_eq!(started.attached.len(), 1);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(5, &[ferrometer::KeyValue::new("k", "a")]);
    c.add(2, &[ferrometer::KeyValue::new("k", "b")]);
    p.force_flush(Duration::from_secs(5)).unwrap();
    let got = fault_sink::sum_by_key(&sink.delivered(), "c", "k");
    assert_eq!(
        got,
        std::collections::BTreeMap::from([("a".to_owned(), 5), ("b".to_owned(), 2)])
    );
    assert_eq!(sink.cmd("meta"), "x-from-env=yes");
    p.shutdown_with_timeout(Duration::from_secs(2)).unwrap();
}
