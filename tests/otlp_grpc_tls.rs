//! OTLP/gRPC over TLS (feature `otlp-grpc`) against the grpcio sink
//! serving TLS and requiring a client certificate: a custom CA plus the
//! client certificate deliver exact values (in code, and through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` / `_CLIENT_CERTIFICATE` / `_CLIENT_KEY`);
//! without the CA (system roots) the server is refused at once, as a
//! permanent error; without a client certificate, or with one from
//! another CA, nothing is delivered.
//!
//! Needs `openssl` (test certificates) and python3 with grpcio.
#![cfg(feature = "otlp-grpc")]

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;
#[path = "otlp_support/grpc_sink.rs"]
mod grpc_sink;
mod tls_support;

use ferrometer::export::otlp::{OtlpGrpcExporter, OtlpHttpExporterBuilder, RetryPolicy};
use ferrometer::export::pipeline::{DropReason, PipelineStats};
use ferrometer::{KeyValue, MeterProvider, PeriodicReader, TemporalityPreference};
use grpc_sink::GrpcSink;
use std::collections::BTreeMap;
use std::time::Duration;
use tls_support::Pki;

/// Exports c{k=a}=3 once through a pipeline made from `b`; the stats and
/// what the sink stored.
fn export_once(sink: &GrpcSink, b: OtlpHttpExporterBuilder) -> (PipelineStats, Vec<Vec<u8>>) {
    ferrometer::diagnostics::set_silent();
    let pipe = b
        .with_retry(RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2.0,
        })
        .with_timeout(Duration::from_secs(2))
        .build_grpc()
        .unwrap()
        .into_pipeline()
        .with_temporality(TemporalityPreference::Delta)
        .with_self_metrics(false)
        .build()
        .unwrap();
    let provider = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(
            PeriodicReader::builder(pipe.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let c = provider.meter("m").u64_counter("c").build().unwrap();
    c.add(3, &[KeyValue::new("k", "a")]);
    let _ = provider.force_flush(Duration::from_secs(5));
    let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
    (pipe.stats(), sink.delivered())
}

#[test]
fn tls_with_a_custom_ca_and_a_client_certificate() {
    let pki = Pki::with_clients("grpc");
    let sink = GrpcSink::start_tls(
        &pki.path("server.pem"),
        &pki.path("server.key"),
        &pki.path("ca.pem"),
    );
    let url = format!("https://127.0.0.1:{}", sink.port);
    let want = BTreeMap::from([("a".to_owned(), 3)]);

    // In code.
    let b = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_certificate(pki.path("ca.pem"))
        .with_client_certificate(pki.path("client.pem"), pki.path("client.key"));
    let (st, got) = export_once(&sink, b);
    assert_eq!(st.points_delivered, 1, "{st:?}");
    assert_eq!(fault_sink::sum_by_key(&got, "c", "k"), want);

    // From the environment.
    let (u, ca, cert, key) = (
        url.clone(),
        pki.path("ca.pem").display().to_string(),
        pki.path("client.pem").display().to_string(),
        pki.path("client.key").display().to_string(),
    );
    let b = OtlpGrpcExporter::builder().with_env_lookup(move |k| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(u.clone()),
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(ca.clone()),
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE" => Some(cert.clone()),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY" => Some(key.clone()),
        _ => None,
    });
    let (st, got) = export_once(&sink, b);
    assert_eq!(st.points_delivered, 1, "{st:?}");
    assert_eq!(got.len(), 2);

    // System roots: the test CA is unknown, a permanent error, no retry.
    let b = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_client_certificate(pki.path("client.pem"), pki.path("client.key"));
    let (st, got) = export_once(&sink, b);
    assert_eq!(st.points_delivered, 0, "{st:?}");
    assert_eq!(st.dropped(DropReason::PermanentError), 1, "{st:?}");
    assert_eq!(st.retries, 0, "{st:?}");
    assert_eq!(got.len(), 2);

    // No client certificate, then one from another CA: refused.
    for client in [None, Some(("rogue.pem", "rogue.key"))] {
        let mut b = OtlpGrpcExporter::builder()
            .without_env()
            .with_endpoint(&url)
            .with_certificate(pki.path("ca.pem"));
        if let Some((c, k)) = client {
            b = b.with_client_certificate(pki.path(c), pki.path(k));
        }
        let (st, got) = export_once(&sink, b);
        assert_eq!(st.points_delivered, 0, "{client:?}: {st:?}");
        assert_eq!(st.points_offered(), st.dropped_total(), "{st:?}");
        assert_eq!(got.len(), 2, "{client:?}");
    }
}
