//! Fault injection for the Remote-Write exporter, as tests/pipeline_faults.rs
//! does for OTLP: the pipeline pushes every 40 ms to a loopback sink that,
//! for 1.2 s, answers 503 with and without Retry-After, 500, 429, 400 or
//! 401, hangs past the request timeout, or closes the connection
//! mid-request, and then heals; two threads record throughout. For every
//! scenario the accounting is exact:
//!
//! - points offered = delivered + dropped (by reason), nothing queued
//!   after shutdown;
//! - the points the sink decoded (snappy, then `prometheus.WriteRequest`)
//!   equal the points the pipeline counted as delivered, and the drop
//!   hook's bodies hold exactly the points counted as dropped, per reason;
//! - the final totals the sink received equal the recorded totals
//!   (cumulative: an outage loses resolution, not counts);
//! - 5xx, 429, timeouts and resets were retried; 400 and 401 never were.
//!
//! Two focused tests check that `Retry-After` replaces the backoff and
//! that a 400 is sent exactly once.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::{
    assert_accounted, fault_pipeline, fault_retry, provider_exporting_to, Drops, FaultSink, Mode,
};
use ferrometer::export::pipeline::{DropReason, ExportPipeline, FailReason, PipelineStats};
use ferrometer::export::remote_write::proto;
use ferrometer::export::remote_write::RemoteWriteExporter;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `c_total` samples of one request: (value of label `k`, value).
fn samples(body: &[u8]) -> Vec<(String, i64)> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    let req = proto::WriteRequest::decode(&raw[..]).unwrap();
    req.timeseries
        .iter()
        .filter(|ts| {
            ts.labels
                .iter()
                .any(|l| l.name == "__name__" && l.value == "c_total")
        })
        .map(|ts| {
            let k = ts.labels.iter().find(|l| l.name == "k").unwrap();
            assert_eq!(ts.samples.len(), 1);
            (k.value.clone(), ts.samples[0].value as i64)
        })
        .collect()
}

fn pipeline(sink: &FaultSink, drops: &Drops) -> ExportPipeline {
    let b = RemoteWriteExporter::builder(sink.url())
        .with_timeout(Duration::from_millis(150))
        .with_retry(fault_retry())
        .build()
        .unwrap()
        .into_pipeline();
    fault_pipeline(b, drops)
}

struct Run {
    stats: PipelineStats,
    recorded: BTreeMap<String, i64>,
    delivered: Vec<Vec<u8>>,
    dropped: Vec<(DropReason, Vec<u8>)>,
}

fn run(fault: Mode) -> Run {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    let drops: Drops = Arc::default();
    let pipe = pipeline(&sink, &drops);
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
    sink.set(Mode::Accept);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let recorded = threads.into_iter().map(|h| h.join().unwrap()).collect();
    let t0 = Instant::now();
    provider
        .shutdown_with_timeout(Duration::from_secs(5))
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let report = pipe.shutdown_report(Duration::ZERO);
    assert!(report.completed && report.pending_points == 0, "{report:?}");
    // The healed sink got the last snapshot in full: nothing is missing.
    assert_eq!(report.lost_points, 0, "{report:?}");
    let dropped = drops.lock().unwrap().clone();
    Run {
        stats: pipe.stats(),
        recorded,
        delivered: sink.delivered(),
        dropped,
    }
}

fn check(fault: Mode) -> PipelineStats {
    let r = run(fault.clone());
    let s = &r.stats;
    let what = format!("{fault:?}");
    assert_accounted(s, &r.delivered, &r.dropped, |b| samples(b).len(), &what);
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for b in &r.delivered {
        for (k, v) in samples(b) {
            let e = last.entry(k).or_insert(0);
            assert!(v >= *e, "a series' samples arrive in order");
            *e = v;
        }
    }
    assert_eq!(last, r.recorded, "final totals after recovery; {s:?}");
    println!("{fault:?}: {s:?}");
    r.stats
}

fn assert_retried(s: &PipelineStats, reason: FailReason) {
    assert!(s.failed(reason) > 0, "no {reason:?} failure seen: {s:?}");
    assert!(
        s.retries > 0 || s.dropped(DropReason::Superseded) > 0,
        "not retried: {s:?}"
    );
    assert_eq!(s.dropped(DropReason::PermanentError), 0, "{s:?}");
}

fn assert_permanent(s: &PipelineStats) {
    assert!(s.failed(FailReason::Status4xx) > 0, "{s:?}");
    assert!(s.dropped(DropReason::PermanentError) > 0, "{s:?}");
    assert_eq!(s.retries, 0, "other 4xx are never retried: {s:?}");
}

#[test]
fn status_503_with_retry_after() {
    let s = check(Mode::Status(503, Some("1".into())));
    assert_retried(&s, FailReason::Status5xx);
}

#[test]
fn status_500_without_retry_after_is_retried() {
    let s = check(Mode::Status(500, None));
    assert_retried(&s, FailReason::Status5xx);
}

#[test]
fn status_429() {
    let s = check(Mode::Status(429, None));
    assert_retried(&s, FailReason::Status4xx);
}

#[test]
fn status_400_is_never_retried() {
    assert_permanent(&check(Mode::Status(400, None)));
}

#[test]
fn status_401_is_never_retried() {
    assert_permanent(&check(Mode::Status(401, None)));
}

#[test]
fn hang_past_the_timeout() {
    let s = check(Mode::Hang(Duration::from_millis(400)));
    assert_retried(&s, FailReason::Timeout);
}

#[test]
fn reset_mid_request() {
    let s = check(Mode::CloseMidRequest);
    assert_retried(&s, FailReason::Connection);
}

/// One snapshot of one point, pushed once; returns the time until the
/// pipeline's flush completed and the stats.
fn one_push(script: Vec<Mode>) -> (Duration, PipelineStats, u64) {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    sink.script(script);
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build();
    provider
        .meter("m")
        .u64_counter("c")
        .build()
        .unwrap()
        .add(3, &[KeyValue::new("k", "x")]);
    let rm = reader.collect().unwrap();
    let pipe = RemoteWriteExporter::builder(sink.url())
        .with_retry(fault_retry())
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    let t0 = Instant::now();
    pipe.export(&rm, t0 + Duration::from_secs(10)).unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
    let took = t0.elapsed();
    let st = pipe.stats();
    assert_eq!(st.points_offered(), 1);
    assert_eq!(st.points_delivered + st.dropped_total(), 1, "{st:?}");
    let delivered: usize = sink.delivered().iter().map(|b| samples(b).len()).sum();
    assert_eq!(delivered as u64, st.points_delivered);
    (took, st, sink.faulted())
}

#[test]
fn retry_after_replaces_the_backoff() {
    // Without Retry-After the retry comes after at most 20 ms of jitter.
    let (quick, st, faults) = one_push(vec![Mode::Status(503, None)]);
    assert_eq!((st.points_delivered, st.retries, faults), (1, 1, 1));
    assert!(quick < Duration::from_millis(700), "{quick:?}");
    // Retry-After: 1 holds the retry for a second.
    let (slow, st, faults) = one_push(vec![Mode::Status(503, Some("1".into()))]);
    assert_eq!((st.points_delivered, st.retries, faults), (1, 1, 1));
    assert!(slow >= Duration::from_millis(950), "{slow:?}");
    // 429 with Retry-After as an HTTP date two seconds ahead (whole
    // seconds: at least one second away).
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let (slow, st, _) = one_push(vec![Mode::Status(429, Some(date))]);
    assert_eq!((st.points_delivered, st.retries), (1, 1));
    assert!(slow >= Duration::from_millis(900), "{slow:?}");
}

#[test]
fn a_400_is_sent_once_and_dropped() {
    let (_, st, faults) = one_push(vec![Mode::Status(400, None)]);
    assert_eq!(faults, 1, "one request, no retry");
    assert_eq!(st.retries, 0);
    assert_eq!(st.dropped(DropReason::PermanentError), 1, "{st:?}");
    assert_eq!(st.failed(FailReason::Status4xx), 1);
}
