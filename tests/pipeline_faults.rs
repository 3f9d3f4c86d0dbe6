//! Fault injection: the export pipeline against a loopback sink that
//! answers 503 + Retry-After, 429, 400, 500, hangs past the timeout,
//! closes the connection mid-request, or refuses connections, for a while,
//! and then heals. Two threads record throughout. For every scenario, with
//! cumulative and with delta temporality, the accounting is exact:
//!
//! - pipeline counters: points offered = delivered + dropped (all
//!   reasons), nothing left queued after shutdown, and the points the
//!   sink decoded equal the points the pipeline counted as delivered;
//! - delta: per series, the values recorded = the values the sink
//!   received + the values of the batches reported dropped (decoded from
//!   the drop hook);
//! - cumulative: per series, the final totals the sink received equal the
//!   recorded totals (the outage lost resolution, not counts);
//! - the failure was seen and classified (status class, timeout,
//!   connection), retries and drops happened where they must.
//!
//! The recording threads' per-op cost in the healthy and the outage phase
//! is printed (`--nocapture`); benches/pipeline.rs measures it properly.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::{max_by_key, provider_exporting_to, sum_by_key, sum_points, FaultSink, Mode};
use ferrometer::export::otlp::{OtlpHttpExporter, RetryPolicy};
use ferrometer::export::pipeline::{DropReason, ExportPipeline, FailReason, PipelineStats};
use ferrometer::{KeyValue, TemporalityPreference};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Drops = Arc<Mutex<Vec<(DropReason, Vec<u8>)>>>;

struct Run {
    stats: PipelineStats,
    recorded: BTreeMap<String, i64>,
    delivered: Vec<Vec<u8>>,
    dropped: Vec<(DropReason, Vec<u8>)>,
    ns_per_op: [f64; 2],
}

fn pipeline(sink: &FaultSink, t: TemporalityPreference, drops: &Drops) -> ExportPipeline {
    let d = drops.clone();
    OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_timeout(Duration::from_millis(150))
        .build()
        .unwrap()
        .into_pipeline()
        .with_temporality(t)
        .with_retry(RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
        })
        .with_max_elapsed(Duration::from_secs(2))
        .with_circuit_breaker(4, Duration::from_millis(200))
        // Two series every 40 ms: a 1.2 s outage overflows 24 points.
        .with_queue_limits(24, 1 << 20)
        .with_self_metrics(false)
        .on_drop(move |r, body, _points, gz| {
            assert!(!gz);
            d.lock().unwrap().push((r, body.to_vec()));
        })
        .build()
        .unwrap()
}

fn run(fault: Mode, t: TemporalityPreference) -> Run {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    let drops: Drops = Arc::default();
    let pipe = pipeline(&sink, t, &drops);
    let provider = provider_exporting_to(&pipe, Duration::from_millis(40), Duration::from_secs(1));
    let c = provider.meter("faults").u64_counter("c").build().unwrap();

    // 0 healthy, 1 outage, 2 recovered.
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (c, phase, stop) = (c.clone(), phase.clone(), stop.clone());
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("k", format!("t{i}"))];
                let mut n = 0i64;
                let mut time = [(Duration::ZERO, 0u64); 2];
                while !stop.load(Ordering::Relaxed) {
                    let p = phase.load(Ordering::Relaxed) as usize;
                    let t0 = Instant::now();
                    for _ in 0..1000 {
                        c.add(1, &attrs);
                    }
                    let dt = t0.elapsed();
                    if p < 2 {
                        time[p].0 += dt;
                        time[p].1 += 1000;
                    }
                    n += 1000;
                    std::thread::sleep(Duration::from_millis(1));
                }
                (format!("t{i}"), n, time)
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    sink.set(fault.clone());
    phase.store(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1200));
    sink.set(Mode::Accept);
    phase.store(2, Ordering::Relaxed);
    // Long enough for a 1 s Retry-After and the circuit's cool-down to
    // pass and the queue to drain.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let mut recorded = BTreeMap::new();
    let mut ns = [0.0; 2];
    for h in threads {
        let (k, n, time) = h.join().unwrap();
        recorded.insert(k, n);
        for p in 0..2 {
            ns[p] += time[p].0.as_nanos() as f64 / time[p].1.max(1) as f64 / 2.0;
        }
    }
    let t0 = Instant::now();
    let res = provider.shutdown_with_timeout(Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!pipe.worker_running(), "the worker was joined");
    let stats = pipe.stats();
    // The sink is healthy again: shutdown delivered everything still
    // queued, and its report (nothing was flushed before) names every
    // point lost during the outage.
    let report = pipe.shutdown_report(Duration::ZERO);
    assert!(report.completed, "{report:?}");
    assert_eq!(report.pending_points, 0);
    assert_eq!(report.lost_points, stats.lost(), "{report:?} {stats:?}");
    match res {
        Ok(()) => assert_eq!(stats.lost(), 0),
        Err(e) => assert!(e.to_string().contains("not delivered"), "{e}"),
    }
    let dropped = drops.lock().unwrap().clone();
    println!(
        "{fault:?} {t:?}: recording {:.1} ns/op healthy, {:.1} ns/op during the outage; {stats:?}",
        ns[0], ns[1]
    );
    Run {
        stats,
        recorded,
        delivered: sink.delivered(),
        dropped,
        ns_per_op: ns,
    }
}

fn check(fault: Mode, t: TemporalityPreference) -> Run {
    let r = run(fault, t);
    let s = &r.stats;
    // Every point offered is delivered or dropped with a reason.
    assert_eq!(s.queued_points, 0, "{s:?}");
    assert_eq!(
        s.points_offered(),
        s.points_delivered + s.dropped_total(),
        "{s:?}"
    );
    // What the pipeline counts as delivered is what the sink decoded.
    let sink_points: usize = r
        .delivered
        .iter()
        .map(|b| sum_points(b, "c", "k").len())
        .sum();
    assert_eq!(sink_points as u64, s.points_delivered, "{s:?}");
    assert_eq!(r.delivered.len() as u64, s.requests_delivered);
    // The drop hook saw exactly the dropped points.
    let hook_points: usize = r
        .dropped
        .iter()
        .map(|(_, b)| sum_points(b, "c", "k").len())
        .sum();
    assert_eq!(hook_points as u64, s.dropped_total(), "{s:?}");
    for reason in DropReason::ALL {
        let n: usize = r
            .dropped
            .iter()
            .filter(|(x, _)| *x == reason)
            .map(|(_, b)| sum_points(b, "c", "k").len())
            .sum();
        assert_eq!(n as u64, s.dropped(reason), "{reason:?}: {s:?}");
    }
    match t {
        TemporalityPreference::Delta => {
            assert_eq!(s.dropped(DropReason::Superseded), 0);
            let mut got = sum_by_key(&r.delivered, "c", "k");
            let lost: Vec<Vec<u8>> = r.dropped.iter().map(|(_, b)| b.clone()).collect();
            for (k, v) in sum_by_key(&lost, "c", "k") {
                *got.entry(k).or_insert(0) += v;
            }
            assert_eq!(
                got, r.recorded,
                "delta: recorded = delivered + reported dropped; {s:?}"
            );
        }
        _ => {
            let got = max_by_key(&r.delivered, "c", "k");
            assert_eq!(
                got, r.recorded,
                "cumulative: the final totals arrive after recovery; {s:?}"
            );
        }
    }
    r
}

const C: TemporalityPreference = TemporalityPreference::Cumulative;
const D: TemporalityPreference = TemporalityPreference::Delta;

/// A transient failure was retried: delta batches are resent (retries);
/// a cumulative batch may instead be replaced by a newer snapshot that
/// carries the same totals (superseded), which is its retry.
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
fn status_503_with_retry_after_cumulative() {
    let r = check(Mode::Status(503, Some("1".into())), C);
    assert_retried(&r.stats, FailReason::Status5xx, C);
    assert!(r.stats.dropped(DropReason::Superseded) > 0);
}

#[test]
fn status_503_with_retry_after_delta() {
    let r = check(Mode::Status(503, Some("1".into())), D);
    assert_retried(&r.stats, FailReason::Status5xx, D);
    assert!(r.stats.dropped(DropReason::QueueFull) > 0, "{:?}", r.stats);
}

#[test]
fn status_429_cumulative() {
    let r = check(Mode::Status(429, None), C);
    assert_retried(&r.stats, FailReason::Status4xx, C);
}

#[test]
fn status_429_delta() {
    let r = check(Mode::Status(429, None), D);
    assert_retried(&r.stats, FailReason::Status4xx, D);
}

#[test]
fn status_400_cumulative() {
    let r = check(Mode::Status(400, None), C);
    assert_permanent(&r.stats, FailReason::Status4xx);
}

#[test]
fn status_400_delta() {
    let r = check(Mode::Status(400, None), D);
    assert_permanent(&r.stats, FailReason::Status4xx);
}

#[test]
fn status_500_cumulative() {
    let r = check(Mode::Status(500, None), C);
    assert_permanent(&r.stats, FailReason::Status5xx);
}

#[test]
fn status_500_delta() {
    let r = check(Mode::Status(500, None), D);
    assert_permanent(&r.stats, FailReason::Status5xx);
}

#[test]
fn hang_past_the_timeout_cumulative() {
    let r = check(Mode::Hang(Duration::from_millis(500)), C);
    assert_retried(&r.stats, FailReason::Timeout, C);
}

#[test]
fn hang_past_the_timeout_delta() {
    let r = check(Mode::Hang(Duration::from_millis(500)), D);
    assert_retried(&r.stats, FailReason::Timeout, D);
}

#[test]
fn close_mid_request_cumulative() {
    let r = check(Mode::CloseMidRequest, C);
    assert_retried(&r.stats, FailReason::Connection, C);
}

#[test]
fn close_mid_request_delta() {
    let r = check(Mode::CloseMidRequest, D);
    assert_retried(&r.stats, FailReason::Connection, D);
}

#[test]
fn connection_refused_cumulative() {
    let r = check(Mode::Refuse, C);
    assert_retried(&r.stats, FailReason::Connection, C);
    assert!(r.stats.circuit_opened > 0, "{:?}", r.stats);
}

#[test]
fn connection_refused_delta() {
    let r = check(Mode::Refuse, D);
    assert_retried(&r.stats, FailReason::Connection, D);
    assert!(r.stats.circuit_opened > 0, "{:?}", r.stats);
    assert!(r.stats.dropped(DropReason::QueueFull) > 0, "{:?}", r.stats);
    let _ = r.ns_per_op;
}
