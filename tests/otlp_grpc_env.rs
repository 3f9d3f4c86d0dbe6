//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` with `OTEL_METRICS_EXPORTER=otlp`
//! (its own test binary: it sets process environment variables). With
//! the feature `otlp-grpc` the environment's exporter speaks OTLP/gRPC to
//! the grpcio sink, with the environment's headers and gzip; without it,
//! attaching fails with `Error::Unsupported` naming the build option and
//! attaches nothing (no silent OTLP/HTTP to a gRPC port).
//!
//! Then `OTEL_EXPORTER_OTLP_INSECURE` / `_METRICS_INSECURE` (and
//! `with_insecure`) with endpoints given without a scheme: `true` reaches
//! the plaintext sink; unset or `false` attempts TLS, which fails against
//! it (counted as a permanent TLS error); a scheme overrides the setting;
//! a value that is not a boolean warns and means false.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;
#[path = "otlp_support/grpc_sink.rs"]
mod grpc_sink;

use ferrometer::export::env::attach_env_exporters;
use ferrometer::MeterProvider;
use std::time::Duration;

/// The tests of this file, one at a time: they set the process-wide
/// diagnostics handler (and the first one process variables).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(not(feature = "otlp-grpc"))]
#[test]
fn grpc_from_the_environment_is_refused_by_name() {
    let _serial = serial();
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
    let _serial = serial();
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

// ------------------------------------------------------------- INSECURE
//
// `OTEL_EXPORTER_OTLP_INSECURE` / `_METRICS_INSECURE` with a gRPC endpoint
// given without a scheme. These read the variables through
// `with_env_lookup` (the same parsing as the process environment) so that
// they can run beside the test above, which sets process variables.

/// The exporter made from `vars` (OTLP/gRPC, fast retries), behind a
/// pipeline that exports c{k=a}=3 once; its stats, what the sink stored,
/// and the diagnostics' warnings.
#[cfg(feature = "otlp-grpc")]
fn export_with_env(
    sink: &grpc_sink::GrpcSink,
    vars: &[(&str, String)],
    code: impl FnOnce(
        ferrometer::export::otlp::OtlpHttpExporterBuilder,
    ) -> ferrometer::export::otlp::OtlpHttpExporterBuilder,
) -> (ferrometer::export::pipeline::PipelineStats, Vec<Vec<u8>>) {
    use ferrometer::export::otlp::{OtlpGrpcExporter, RetryPolicy};
    ferrometer::diagnostics::set_silent();
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let b = OtlpGrpcExporter::builder()
        .with_env_lookup(move |k| vars.get(k).cloned())
        .with_retry(RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2.0,
        })
        .with_timeout(Duration::from_secs(2));
    let pipe = code(b)
        .build_grpc()
        .unwrap()
        .into_pipeline()
        .with_temporality(ferrometer::TemporalityPreference::Delta)
        .with_self_metrics(false)
        .build()
        .unwrap();
    let p = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(
            ferrometer::PeriodicReader::builder(pipe.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(3, &[ferrometer::KeyValue::new("k", "a")]);
    let _ = p.force_flush(Duration::from_secs(5));
    let _ = p.shutdown_with_timeout(Duration::from_secs(2));
    (pipe.stats(), sink.delivered())
}

/// `host:port` of the sink (no scheme).
#[cfg(feature = "otlp-grpc")]
fn schemeless(sink: &grpc_sink::GrpcSink) -> String {
    format!("127.0.0.1:{}", sink.port)
}

#[cfg(feature = "otlp-grpc")]
fn delivered_once(st: &ferrometer::export::pipeline::PipelineStats, got: &[Vec<u8>]) {
    assert_eq!(st.points_delivered, 1, "{st:?}");
    assert_eq!(st.requests_failed.iter().sum::<u64>(), 0, "{st:?}");
    assert_eq!(
        fault_sink::sum_by_key(got, "c", "k"),
        std::collections::BTreeMap::from([("a".to_owned(), 3)])
    );
}

/// Nothing delivered: the one request failed its TLS handshake against
/// the plaintext sink, counted as the pipeline counts such errors (a
/// permanent `other` failure, no retry, the point dropped as
/// `permanent_error`), and the sink stored nothing new.
#[cfg(feature = "otlp-grpc")]
fn refused_by_tls(
    st: &ferrometer::export::pipeline::PipelineStats,
    got: &[Vec<u8>],
    stored_before: usize,
) {
    use ferrometer::export::pipeline::{DropReason, FailReason};
    assert_eq!(st.points_delivered, 0, "{st:?}");
    assert_eq!(st.failed(FailReason::Other), 1, "{st:?}");
    assert_eq!(st.requests_failed.iter().sum::<u64>(), 1, "{st:?}");
    assert_eq!(st.retries, 0, "{st:?}");
    assert_eq!(st.dropped(DropReason::PermanentError), 1, "{st:?}");
    assert_eq!(got.len(), stored_before);
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn schemeless_endpoint_with_insecure_true_speaks_plaintext() {
    let _serial = serial();
    let sink = grpc_sink::GrpcSink::start();
    // The generic variables (the endpoint gets /v1/metrics appended,
    // which gRPC ignores), then the metrics-specific ones, any case.
    for vars in [
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", schemeless(&sink)),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true".to_owned()),
        ],
        vec![
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", schemeless(&sink)),
            ("OTEL_EXPORTER_OTLP_INSECURE", "false".to_owned()),
            ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", " TRUE ".to_owned()),
        ],
    ] {
        let before = sink.delivered().len();
        let (st, got) = export_with_env(&sink, &vars, |b| b);
        delivered_once(&st, &got[before..]);
    }
    // In code: with_insecure(true) wins over the environment's false.
    let before = sink.delivered().len();
    let vars = [("OTEL_EXPORTER_OTLP_INSECURE", "false".to_owned())];
    let url = schemeless(&sink);
    let (st, got) = export_with_env(&sink, &vars, |b| b.with_endpoint(url).with_insecure(true));
    delivered_once(&st, &got[before..]);
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn schemeless_endpoint_without_insecure_attempts_tls() {
    let _serial = serial();
    let sink = grpc_sink::GrpcSink::start();
    // Unset (the default, false), false, and a value that is not a
    // boolean (false, with a warning): TLS, which the plaintext sink
    // cannot answer.
    for insecure in [None, Some("false"), Some("maybe")] {
        let mut vars = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", schemeless(&sink))];
        if let Some(v) = insecure {
            vars.push(("OTEL_EXPORTER_OTLP_INSECURE", v.to_owned()));
        }
        let before = sink.delivered().len();
        let (st, got) = export_with_env(&sink, &vars, |b| b);
        refused_by_tls(&st, &got, before);
    }
    let url = schemeless(&sink);
    let (st, got) = export_with_env(&sink, &[], |b| b.with_endpoint(url).with_insecure(false));
    refused_by_tls(&st, &got, 0);
    assert_eq!(sink.calls().0, 0, "no gRPC call reached the sink");
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn a_scheme_overrides_insecure() {
    let _serial = serial();
    let sink = grpc_sink::GrpcSink::start();
    // http:// is plaintext even with INSECURE=false ...
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url()),
        ("OTEL_EXPORTER_OTLP_INSECURE", "false".to_owned()),
    ];
    let (st, got) = export_with_env(&sink, &vars, |b| b);
    delivered_once(&st, &got);
    // ... and https:// is TLS even with INSECURE=true (in the
    // environment, then in code).
    let https = format!("https://127.0.0.1:{}", sink.port);
    let vars = [
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", https.clone()),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true".to_owned()),
    ];
    let (st, got) = export_with_env(&sink, &vars, |b| b);
    refused_by_tls(&st, &got, 1);
    let (st, got) = export_with_env(&sink, &[], |b| b.with_endpoint(https).with_insecure(true));
    refused_by_tls(&st, &got, 1);
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn a_bad_insecure_value_warns_and_means_false() {
    let _serial = serial();
    use ferrometer::export::otlp::OtlpGrpcExporter;
    let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let w = warnings.clone();
    ferrometer::diagnostics::set_handler(move |_, msg| w.lock().unwrap().push(msg.to_owned()));
    let c = OtlpGrpcExporter::builder()
        .with_env_lookup(|k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("collector:4317".into()),
            "OTEL_EXPORTER_OTLP_METRICS_INSECURE" => Some("yes".into()),
            _ => None,
        })
        .config();
    let got = warnings.lock().unwrap().clone();
    ferrometer::diagnostics::set_silent();
    assert!(!c.insecure);
    let w: Vec<&String> = got
        .iter()
        .filter(|m| m.contains("OTEL_EXPORTER_OTLP_METRICS_INSECURE"))
        .collect();
    assert_eq!(w.len(), 1, "{got:?}");
    assert!(
        w[0].contains("\"yes\"") && w[0].contains("true or false"),
        "{w:?}"
    );
    // The endpoint without a scheme then means TLS.
    let e = OtlpGrpcExporter::new(c).unwrap();
    assert_eq!(e.config().endpoint, "collector:4317/v1/metrics");
}
