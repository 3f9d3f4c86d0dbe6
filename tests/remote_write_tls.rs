//! Remote write over https, with the TLS options the OTLP/HTTP client
//! has: a CA file makes the exporter trust a test CA; without it (system
//! roots) the same server is refused at once, as a permanent failure that
//! is not retried.
//!
//! Needs `openssl` (Debian package `openssl`) to make the test CA and
//! `python3` for the HTTPS sink (tests/python/tls_sink.py). The PKI and
//! sink helpers are in tests/tls_support/ (shared with tests/otlp_tls.rs).

use ferrometer::export::otlp::RetryPolicy;
use ferrometer::export::pipeline::{DropReason, FailReason};
use ferrometer::export::remote_write::RemoteWriteExporter;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use std::time::{Duration, Instant};

mod tls_support;
use tls_support::{Pki, TlsSink};

fn snapshot() -> ferrometer::ResourceMetrics {
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build();
    let c = provider.meter("tls").u64_counter("c").build().unwrap();
    c.add(1, &[KeyValue::new("k", "v")]);
    let rm = reader.collect().unwrap();
    drop(provider);
    rm
}

#[test]
fn remote_write_over_https_with_a_ca_file_and_refused_without() {
    ferrometer::diagnostics::set_silent();
    let pki = Pki::new("rw");
    let mut sink = TlsSink::start(&pki);
    let url = format!("https://127.0.0.1:{}/api/v1/write", sink.port);
    let rm = snapshot();
    let deadline = || Instant::now() + Duration::from_secs(10);
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        multiplier: 2.0,
    };

    let pipe = RemoteWriteExporter::builder(&url)
        .with_certificate(pki.path("ca.pem"))
        .with_retry(retry)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    pipe.export(&rm, deadline()).unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
    let line = sink.next_request();
    assert!(
        line.starts_with("POST /api/v1/write application/x-protobuf "),
        "{line}"
    );
    let st = pipe.stats();
    assert_eq!(
        (st.points_delivered, st.requests_delivered),
        (1, 1),
        "{st:?}"
    );

    // System roots do not know the test CA: permanent, not retried.
    let pipe = RemoteWriteExporter::builder(&url)
        .with_retry(retry)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    pipe.export(&rm, deadline()).unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
    let st = pipe.stats();
    assert_eq!(st.dropped(DropReason::PermanentError), 1, "{st:?}");
    assert_eq!(st.failed(FailReason::Other), 1, "{st:?}");
    assert_eq!(st.retries, 0, "{st:?}");

    // A CA file without certificates is refused when building.
    std::fs::write(pki.path("empty.pem"), "not a certificate\n").unwrap();
    assert!(RemoteWriteExporter::builder(&url)
        .with_certificate(pki.path("empty.pem"))
        .build()
        .is_err());
    drop(sink);
    drop(pki);
}
