//! OTLP over https: a CA file given in code or through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` makes the exporter trust a test CA;
//! without it (system roots) the same server is refused, at once.
//!
//! Needs `openssl` (Debian package `openssl`) to make the test CA and
//! `python3` for the HTTPS sink (tests/python/tls_sink.py).

use ferrometer::export::otlp::{OtlpHttpExporter, RetryPolicy};
use ferrometer::export::PushExporter;
use ferrometer::{Error, KeyValue, ManualReader, MeterProvider, TemporalityPreference};
use std::time::{Duration, Instant};

mod tls_support;
use tls_support::{Pki, TlsSink};

fn snapshot() -> ferrometer::ResourceMetrics {
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let c = provider.meter("tls").u64_counter("c").build().unwrap();
    c.add(1, &[KeyValue::new("k", "v")]);
    let rm = reader.collect().unwrap();
    drop(provider);
    rm
}

#[test]
fn https_with_a_ca_file_from_code_or_env_and_refused_without() {
    let pki = Pki::new("otlp");
    let mut sink = TlsSink::start(&pki);
    let url = format!("https://127.0.0.1:{}/v1/metrics", sink.port);
    let rm = snapshot();
    let deadline = || Instant::now() + Duration::from_secs(10);

    // CA file from code.
    let exp = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_certificate(pki.path("ca.pem"))
        .build()
        .unwrap();
    exp.export(&rm, deadline()).unwrap();
    assert_eq!(
        sink.next_request(),
        format!("POST /v1/metrics application/x-protobuf {}", {
            let mut b = Vec::new();
            ferrometer::export::otlp::encode_protobuf(&rm, &mut b);
            b.len()
        })
    );

    // CA file from OTEL_EXPORTER_OTLP_CERTIFICATE, endpoint from the env.
    let (u, ca) = (
        format!("https://127.0.0.1:{}", sink.port),
        pki.path("ca.pem").display().to_string(),
    );
    let exp = OtlpHttpExporter::builder()
        .with_env_lookup(move |k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(u.clone()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(ca.clone()),
            _ => None,
        })
        .build()
        .unwrap();
    exp.export(&rm, deadline()).unwrap();
    assert!(sink.next_request().starts_with("POST /v1/metrics "));

    // System roots do not know the test CA: refused, and not retried.
    let exp = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_retry(RetryPolicy {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
        })
        .build()
        .unwrap();
    let t = Instant::now();
    let err = exp.export(&rm, deadline()).unwrap_err();
    assert!(matches!(err, Error::Failed(_)), "{err:?}");
    eprintln!("without the CA: {err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a certificate error is permanent: {:?}",
        t.elapsed()
    );

    // A CA file without certificates is refused when building.
    std::fs::write(pki.path("empty.pem"), "not a certificate\n").unwrap();
    assert!(OtlpHttpExporter::builder()
        .without_env()
        .with_certificate(pki.path("empty.pem"))
        .build()
        .is_err());
    drop(sink);
    drop(pki);
}
