//! OTLP/gRPC fault injection (feature `otlp-grpc`): the export pipeline
//! with the gRPC transport against a fault sink built on Python `grpcio`
//! and the official `opentelemetry-proto` service definitions
//! (tests/otlp_support/grpc_fault_sink.py): UNAVAILABLE with and without
//! `RetryInfo`, RESOURCE_EXHAUSTED with and without it, INVALID_ARGUMENT,
//! a hang past the deadline, and a TCP reset, each for a while, then
//! healed. Two threads record throughout; the accounting is checked as
//! tests/pipeline_faults.rs does for OTLP/HTTP: every point offered is
//! delivered or dropped with a reason, the points the sink decoded are
//! those counted as delivered, delta values recorded = delivered +
//! reported dropped, cumulative final totals arrive.
//!
//! Then the standalone gRPC exporter (no pipeline): exact values with and
//! without gzip, RetryInfo delays, permanent codes, attempts running out,
//! and a periodic reader driving it.
#![cfg(feature = "otlp-grpc")]

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;
#[path = "otlp_support/grpc_sink.rs"]
mod grpc_sink;

use fault_sink::{
    assert_accounted, fault_pipeline, fault_retry, max_by_key, provider_exporting_to, sum_by_key,
    sum_points, Drops,
};
use ferrometer::export::otlp::{Compression, OtlpGrpcExporter, RetryPolicy};
use ferrometer::export::pipeline::{DropReason, ExportPipeline, FailReason, PipelineStats};
use ferrometer::{KeyValue, MeterProvider, PeriodicReader, TemporalityPreference};
use grpc_sink::GrpcSink;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Run {
    stats: PipelineStats,
    recorded: BTreeMap<String, i64>,
    delivered: Vec<Vec<u8>>,
    dropped: Vec<(DropReason, Vec<u8>)>,
    faulted: u64,
}

/// The request timeout of the fault runs: longer than the HTTP suite's
/// 150 ms, because a call the client gave up on may still have reached
/// the Python sink (stored, but not counted as delivered): on a loaded
/// machine 150 ms is within the sink's ordinary latency.
const TIMEOUT: Duration = Duration::from_millis(500);

fn pipeline(sink: &GrpcSink, t: TemporalityPreference, drops: &Drops) -> ExportPipeline {
    let b = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_timeout(TIMEOUT)
        .build_grpc()
        .unwrap()
        .into_pipeline()
        .with_temporality(t)
        .with_retry(fault_retry());
    fault_pipeline(b, drops)
}

/// Healthy 300 ms, `fault` for 1.2 s, healed 1.5 s, then shutdown.
fn run(fault: &str, t: TemporalityPreference) -> Run {
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    let drops: Drops = Arc::default();
    let pipe = pipeline(&sink, t, &drops);
    let provider = provider_exporting_to(&pipe, Duration::from_millis(40), Duration::from_secs(1));
    let c = provider.meter("faults").u64_counter("c").build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("k", format!("t{i}"))];
                let mut n = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        c.add(1, &attrs);
                    }
                    n += 1000;
                    std::thread::sleep(Duration::from_millis(1));
                }
                (format!("t{i}"), n)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    sink.set(fault);
    std::thread::sleep(Duration::from_millis(1200));
    sink.set("accept");
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let recorded: BTreeMap<String, i64> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    let t0 = Instant::now();
    let res = provider.shutdown_with_timeout(Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!pipe.worker_running(), "the worker was joined");
    let stats = pipe.stats();
    let report = pipe.shutdown_report(Duration::ZERO);
    assert!(report.completed, "{report:?}");
    assert_eq!(report.pending_points, 0);
    if t == TemporalityPreference::Delta {
        assert_eq!(report.lost_points, stats.lost(), "{report:?} {stats:?}");
    } else {
        assert_eq!(report.lost_points, 0, "{report:?} {stats:?}");
        assert_eq!(report.superseded_points, stats.lost(), "{report:?}");
    }
    if res.is_ok() {
        assert_eq!(report.lost_points, 0);
    }
    let dropped = drops.lock().unwrap().clone();
    let (_, faulted) = sink.calls();
    println!("{fault} {t:?}: {stats:?}");
    Run {
        stats,
        recorded,
        delivered: sink.delivered(),
        dropped,
        faulted,
    }
}

fn check(fault: &str, t: TemporalityPreference) -> Run {
    let r = run(fault, t);
    let s = &r.stats;
    assert!(r.faulted > 0, "the fault never happened: {s:?}");
    let points = |b: &[u8]| sum_points(b, "c", "k").len();
    assert_accounted(
        s,
        &r.delivered,
        &r.dropped,
        points,
        &format!("{fault} {t:?}"),
    );
    let hook_points: usize = r.dropped.iter().map(|(_, b)| points(b)).sum();
    assert_eq!(hook_points as u64, s.dropped_total(), "{s:?}");
    if t == D {
        assert_eq!(s.dropped(DropReason::Superseded), 0);
        let mut got = sum_by_key(&r.delivered, "c", "k");
        let lost: Vec<Vec<u8>> = r.dropped.iter().map(|(_, b)| b.clone()).collect();
        for (k, v) in sum_by_key(&lost, "c", "k") {
            *got.entry(k).or_insert(0) += v;
        }
        assert_eq!(
            got, r.recorded,
            "delta: recorded = delivered + dropped; {s:?}"
        );
    } else {
        let got = max_by_key(&r.delivered, "c", "k");
        assert_eq!(
            got, r.recorded,
            "cumulative: the final totals arrive; {s:?}"
        );
    }
    r
}

const C: TemporalityPreference = TemporalityPreference::Cumulative;
const D: TemporalityPreference = TemporalityPreference::Delta;

fn assert_retried(s: &PipelineStats, reason: FailReason, t: TemporalityPreference) {
    if t == D {
        assert!(s.retries > 0, "delta batches are resent: {s:?}");
    }
    assert!(s.failed(reason) > 0, "no {reason:?} failure seen: {s:?}");
    assert!(
        s.retries > 0 || s.dropped(DropReason::Superseded) > 0,
        "not retried: {s:?}"
    );
    assert_eq!(s.dropped(DropReason::PermanentError), 0, "{s:?}");
}

fn assert_permanent(s: &PipelineStats, reason: FailReason) {
    assert!(s.failed(reason) > 0, "{s:?}");
    assert!(s.dropped(DropReason::PermanentError) > 0, "{s:?}");
    assert_eq!(s.retries, 0, "permanent errors are not retried: {s:?}");
}

#[test]
fn unavailable_cumulative() {
    let r = check("unavailable", C);
    assert_retried(&r.stats, FailReason::Status5xx, C);
}

#[test]
fn unavailable_delta() {
    let r = check("unavailable", D);
    assert_retried(&r.stats, FailReason::Status5xx, D);
}

#[test]
fn unavailable_with_retry_info_delta() {
    // RetryInfo of 1 s holds the queue: it overflows.
    let r = check("unavailable_retry 1000", D);
    assert_retried(&r.stats, FailReason::Status5xx, D);
    assert!(r.stats.dropped(DropReason::QueueFull) > 0, "{:?}", r.stats);
}

#[test]
fn unavailable_with_retry_info_cumulative() {
    let r = check("unavailable_retry 1000", C);
    assert_retried(&r.stats, FailReason::Status5xx, C);
    assert!(r.stats.dropped(DropReason::Superseded) > 0, "{:?}", r.stats);
}

#[test]
fn resource_exhausted_without_retry_info_is_permanent() {
    let r = check("exhausted", D);
    assert_permanent(&r.stats, FailReason::Status4xx);
}

#[test]
fn resource_exhausted_with_retry_info_is_retried() {
    let r = check("exhausted_retry 100", D);
    assert_retried(&r.stats, FailReason::Status4xx, D);
}

#[test]
fn invalid_argument_cumulative() {
    let r = check("invalid", C);
    assert_permanent(&r.stats, FailReason::Status4xx);
}

#[test]
fn invalid_argument_delta() {
    let r = check("invalid", D);
    assert_permanent(&r.stats, FailReason::Status4xx);
}

#[test]
fn hang_past_the_deadline_cumulative() {
    let r = check("hang 1500", C);
    assert_retried(&r.stats, FailReason::Timeout, C);
}

#[test]
fn hang_past_the_deadline_delta() {
    let r = check("hang 1500", D);
    assert_retried(&r.stats, FailReason::Timeout, D);
}

#[test]
fn reset_cumulative() {
    let r = check("reset", C);
    assert_retried(&r.stats, FailReason::Connection, C);
}

#[test]
fn reset_delta() {
    let r = check("reset", D);
    assert_retried(&r.stats, FailReason::Connection, D);
}

/// One export against one scripted answer, with a fast retry policy:
/// the sink's call times.
fn one_export(sink: &GrpcSink, mode: &str, retry: RetryPolicy) -> (PipelineStats, Vec<u64>) {
    ferrometer::diagnostics::set_silent();
    sink.set(mode);
    let pipe = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_retry(retry)
        .build_grpc()
        .unwrap()
        .into_pipeline()
        .with_temporality(D)
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
    let c = provider.meter("faults").u64_counter("c").build().unwrap();
    for k in ["a", "b", "c", "d", "e"] {
        c.add(1, &[KeyValue::new("k", k)]);
    }
    let _ = provider.force_flush(Duration::from_secs(5));
    let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
    let times = sink
        .cmd("times")
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    (pipe.stats(), times)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        multiplier: 2.0,
    }
}

/// The server's RetryInfo delay replaces the backoff (at most 20 ms
/// here): the second call comes at least 600 ms after the first.
#[test]
fn retry_info_delay_is_honoured() {
    let sink = GrpcSink::start();
    let (st, times) = one_export(&sink, "unavailable_retry 600 once", fast_retry());
    assert_eq!(times.len(), 2, "{times:?} {st:?}");
    assert!(times[1] - times[0] >= 600, "{times:?}");
    assert_eq!((st.retries, st.points_delivered), (1, 5), "{st:?}");
    let got = sum_by_key(&sink.delivered(), "c", "k");
    assert_eq!(got.values().sum::<i64>(), 5, "{got:?}");
}

/// Without RetryInfo the backoff applies: well under the 600 ms above.
#[test]
fn unavailable_without_retry_info_backs_off() {
    let sink = GrpcSink::start();
    let (st, times) = one_export(&sink, "unavailable once", fast_retry());
    assert_eq!(times.len(), 2, "{times:?} {st:?}");
    assert!(times[1] - times[0] < 400, "{times:?}");
    assert_eq!((st.retries, st.points_delivered), (1, 5), "{st:?}");
}

/// A partial success: the rejected points are dropped as `rejected`,
/// the rest delivered, nothing retried.
#[test]
fn partial_success_counts_rejected_points() {
    let sink = GrpcSink::start();
    let (st, times) = one_export(&sink, "partial 2", fast_retry());
    assert_eq!(times.len(), 1, "{times:?}");
    assert_eq!(st.dropped(DropReason::Rejected), 2, "{st:?}");
    assert_eq!(st.points_delivered, 3, "{st:?}");
    assert_eq!(st.retries, 0);
}

/// gzip and metadata: the grpcio server decompresses (grpc-encoding
/// gzip) and sees the headers as metadata; the values arrive exactly.
#[test]
fn gzip_and_metadata_reach_grpcio() {
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    let pipe = OtlpGrpcExporter::builder()
        .with_env_lookup(|k| match k {
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-tenant=t%2D1,x-env=e".into()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
            _ => None,
        })
        .with_endpoint(sink.url())
        .with_header("X-Code", "c")
        .build_grpc()
        .unwrap();
    assert_eq!(pipe.config().compression, Compression::Gzip);
    let pipe = pipe
        .into_pipeline()
        .with_temporality(D)
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
    c.add(41, &[KeyValue::new("k", "a")]);
    c.add(1, &[KeyValue::new("k", "a")]);
    c.add(7, &[KeyValue::new("k", "b")]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    let got = sum_by_key(&sink.delivered(), "c", "k");
    assert_eq!(
        got,
        BTreeMap::from([("a".to_owned(), 42), ("b".to_owned(), 7)])
    );
    let mut meta: Vec<String> = sink.cmd("meta").split(' ').map(str::to_owned).collect();
    meta.sort();
    assert_eq!(meta, ["x-code=c", "x-env=e", "x-tenant=t-1"]);
    assert_eq!(pipe.stats().requests_delivered, 1);
    let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
}

/// A receiver that never answers: shutdown keeps its deadline (the call
/// in flight is cut) and reports the undelivered points.
#[test]
fn shutdown_deadline_holds_against_a_hanging_receiver() {
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    sink.set("hang 20000");
    let pipe = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_timeout(Duration::from_secs(30))
        .build_grpc()
        .unwrap()
        .into_pipeline()
        .with_temporality(D)
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
    c.add(1, &[KeyValue::new("k", "a")]);
    c.add(1, &[KeyValue::new("k", "b")]);
    // Let the call start and hang.
    let _ = provider.force_flush(Duration::from_millis(300));
    assert_eq!(sink.calls().0, 1);
    let t0 = Instant::now();
    let res = provider.shutdown_with_timeout(Duration::from_millis(500));
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let err = res.expect_err("two points never arrived");
    assert_eq!(err.undelivered_points(), Some(2), "{err}");
    assert!(!pipe.worker_running(), "the worker was joined");
    let st = pipe.stats();
    assert_eq!(st.points_delivered, 0, "{st:?}");
    assert_eq!(st.points_offered(), st.dropped_total(), "{st:?}");
}

// ------------------------------------------- the standalone gRPC exporter
//
// The exporter without the pipeline (`OtlpGrpcExporter` as a
// `PushExporter`, or `otlp_exporter` for a gRPC configuration): each
// export sends on the caller's thread, with the retry loop of the
// standalone OTLP/HTTP exporter.

/// A delta reader with c{k=a}=41+1, c{k=b}=7 recorded, and its provider.
fn recorded() -> (MeterProvider, ferrometer::ManualReader) {
    let reader = ferrometer::ManualReader::new(D);
    let provider = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(reader.clone())
        .build();
    let c = provider.meter("m").u64_counter("c").build().unwrap();
    c.add(41, &[KeyValue::new("k", "a")]);
    c.add(1, &[KeyValue::new("k", "a")]);
    c.add(7, &[KeyValue::new("k", "b")]);
    (provider, reader)
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// Exact values through `export()`, without and with gzip, the headers
/// as metadata; built directly and through `otlp_exporter` (which picks
/// gRPC by the configured protocol). One call per export.
#[test]
fn standalone_exporter_delivers_exact_values() {
    use ferrometer::export::otlp::{otlp_exporter, Protocol};
    use ferrometer::export::PushExporter;
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    let want = BTreeMap::from([("a".to_owned(), 42), ("b".to_owned(), 7)]);
    for (i, compression) in [Compression::None, Compression::Gzip]
        .into_iter()
        .enumerate()
    {
        let b = || {
            OtlpGrpcExporter::builder()
                .without_env()
                .with_endpoint(sink.url())
                .with_header("x-tenant", "t1")
                .with_compression(compression)
        };
        let direct: Arc<dyn PushExporter> = Arc::new(b().build_grpc().unwrap());
        let mut config = b().config();
        config.protocol = Protocol::Grpc;
        let picked = otlp_exporter(config).unwrap();
        for (j, e) in [direct, picked].into_iter().enumerate() {
            assert_eq!(e.name(), "otlp_grpc");
            let (_provider, reader) = recorded();
            e.export(&reader.collect().unwrap(), deadline())
                .expect("export to the sink");
            let all = sink.delivered();
            let n = 2 * i + j + 1;
            assert_eq!(all.len(), n, "{compression:?}");
            assert_eq!(sum_by_key(&all[n - 1..], "c", "k"), want, "{compression:?}");
            assert_eq!(sink.cmd("meta"), "x-tenant=t1");
            e.shutdown(Duration::from_secs(1)).unwrap();
            let (_provider, reader) = recorded();
            assert!(matches!(
                e.export(&reader.collect().unwrap(), deadline()),
                Err(ferrometer::Error::Shutdown)
            ));
        }
    }
    assert_eq!(sink.calls(), (4, 0));
}

/// Retries as the specification asks for gRPC: UNAVAILABLE with a
/// RetryInfo is retried after the server's delay (not the 1-20 ms
/// backoff) and delivered; INVALID_ARGUMENT fails at once with the code
/// in the error, one call only.
#[test]
fn standalone_exporter_retries_per_the_grpc_codes() {
    use ferrometer::export::PushExporter;
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    let e = OtlpGrpcExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_retry(fast_retry())
        .build_grpc()
        .unwrap();
    sink.set("unavailable_retry 600 once");
    let (_provider, reader) = recorded();
    e.export(&reader.collect().unwrap(), deadline())
        .expect("delivered on the retry");
    let times: Vec<u64> = sink
        .cmd("times")
        .split(' ')
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(times[1] - times[0] >= 600, "{times:?}");
    assert_eq!(
        sum_by_key(&sink.delivered(), "c", "k"),
        BTreeMap::from([("a".to_owned(), 42), ("b".to_owned(), 7)])
    );

    sink.set("invalid");
    let (_provider, reader) = recorded();
    let err = e
        .export(&reader.collect().unwrap(), deadline())
        .expect_err("INVALID_ARGUMENT is permanent");
    assert!(err.to_string().contains("INVALID_ARGUMENT"), "{err}");
    assert_eq!(sink.calls(), (3, 2), "one call for the permanent error");

    // UNAVAILABLE without end: the attempts of the policy, then an error.
    sink.set("unavailable");
    let (_provider, reader) = recorded();
    let err = e
        .export(&reader.collect().unwrap(), deadline())
        .expect_err("never available");
    assert!(
        err.to_string().contains("gave up after 4 attempts"),
        "{err}"
    );
    assert_eq!(sink.calls(), (7, 6));
    assert_eq!(sink.delivered().len(), 1);
}

/// A periodic reader driving the standalone exporter: both collections
/// (a flush, then the final one at shutdown) arrive.
#[test]
fn standalone_exporter_under_a_periodic_reader() {
    ferrometer::diagnostics::set_silent();
    let sink = GrpcSink::start();
    let e = Arc::new(
        OtlpGrpcExporter::builder()
            .without_env()
            .with_endpoint(sink.url())
            .with_temporality(D)
            .build_grpc()
            .unwrap(),
    );
    let provider = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(
            PeriodicReader::builder(e.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let c = provider.meter("m").u64_counter("c").build().unwrap();
    c.add(5, &[KeyValue::new("k", "a")]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    c.add(2, &[KeyValue::new("k", "a")]);
    provider
        .shutdown_with_timeout(Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        sum_by_key(&sink.delivered(), "c", "k"),
        BTreeMap::from([("a".to_owned(), 7)])
    );
}
