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

use fault_sink::{
    assert_accounted, fault_pipeline, fault_retry, max_by_key, provider_exporting_to, sum_by_key,
    sum_points, Drops, FaultSink, Mode,
};
use ferrometer::export::otlp::{OtlpHttpExporter, RetryPolicy};
use ferrometer::export::pipeline::{DropReason, ExportPipeline, FailReason, PipelineStats};
use ferrometer::{KeyValue, TemporalityPreference};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Run {
    stats: PipelineStats,
    recorded: BTreeMap<String, i64>,
    delivered: Vec<Vec<u8>>,
    dropped: Vec<(DropReason, Vec<u8>)>,
    ns_per_op: [f64; 2],
}

fn pipeline(sink: &FaultSink, t: TemporalityPreference, drops: &Drops) -> ExportPipeline {
    let b = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_timeout(Duration::from_millis(150))
        .build()
        .unwrap()
        .into_pipeline()
        .with_temporality(t)
        .with_retry(fault_retry());
    fault_pipeline(b, drops)
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
    if t == TemporalityPreference::Delta {
        assert_eq!(report.lost_points, stats.lost(), "{report:?} {stats:?}");
        assert_eq!(report.superseded_points, 0, "{report:?}");
    } else {
        // The healed sink got a later snapshot in full: every earlier
        // loss is superseded, nothing is missing.
        assert_eq!(report.lost_points, 0, "{report:?} {stats:?}");
        assert_eq!(
            report.superseded_points,
            stats.lost(),
            "{report:?} {stats:?}"
        );
    }
    match res {
        Ok(()) => assert_eq!(report.lost_points, 0),
        Err(e) => {
            assert!(e.to_string().contains("not delivered"), "{e}");
            assert_eq!(e.undelivered_points(), Some(report.lost_points), "{e}");
        }
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
    // Every point offered is delivered or dropped with a reason; what the
    // pipeline counts as delivered is what the sink decoded, what it
    // counts as dropped (by reason) what the drop hook saw.
    let points = |b: &[u8]| sum_points(b, "c", "k").len();
    assert_accounted(s, &r.delivered, &r.dropped, points, &format!("{t:?}"));
    // The drop hook saw exactly the dropped points.
    let hook_points: usize = r.dropped.iter().map(|(_, b)| points(b)).sum();
    assert_eq!(hook_points as u64, s.dropped_total(), "{s:?}");
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

// ---------------------------------------------------------------------
// Hanging destinations: every exporter kind keeps the deadline of
// `force_flush` and `shutdown` (plus 100 ms), and says what it did not
// deliver. The periodic reader's own export deadline is the default 30 s,
// so only the callers' deadlines bound the calls.

use ferrometer::export::console::ConsoleExporter;
use ferrometer::export::host::{BytesExporter, SnapshotExporter, WireFormat};
use ferrometer::export::otlp::OtlpFileExporter;
use ferrometer::export::pushgateway::PushgatewayExporter;
use ferrometer::export::textfile::TextFileExporter;
use ferrometer::export::PushExporter;
use ferrometer::{MeterProvider, PeriodicReader};
use std::sync::atomic::AtomicUsize;
use std::sync::Condvar;

/// The deadline given to `force_flush` and `shutdown`.
const CALL_DEADLINE: Duration = Duration::from_millis(1000);
/// What the calls may take past their deadline.
const SLACK: Duration = Duration::from_millis(100);

/// A gate that host callbacks and writers block on until it opens.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    /// Callers that reached the gate.
    entered: Arc<AtomicUsize>,
    /// Callers that passed it (returned).
    left: Arc<AtomicUsize>,
}

impl Gate {
    fn pass(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let (m, cv) = &*self.open;
        let mut g = m.lock().unwrap();
        while !*g {
            g = cv.wait(g).unwrap();
        }
        drop(g);
        self.left.fetch_add(1, Ordering::SeqCst);
    }
    fn release(&self) {
        let (m, cv) = &*self.open;
        *m.lock().unwrap() = true;
        cv.notify_all();
    }
    fn wait_entered(&self) {
        let t0 = Instant::now();
        while self.entered.load(Ordering::SeqCst) == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nothing reached the gate"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A writer that blocks on a gate (a console whose reader stopped).
struct GatedWriter(Gate);
impl std::io::Write for GatedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.pass();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records through a periodic reader exporting to `exporter` every 50 ms
/// (export deadline: the default 30 s), waits until `stuck` says an
/// export hangs, then checks that `force_flush(1 s)` and then
/// `shutdown(1 s)` each return within 1.1 s with an error counting the
/// undelivered points.
fn deadlines_hold(kind: &str, exporter: impl PushExporter, stuck: impl FnOnce()) {
    ferrometer::diagnostics::set_silent();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_millis(50))
        .build();
    let provider = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(reader)
        .build();
    let c = provider.meter("hang").u64_counter("c").build().unwrap();
    for i in 0..3 {
        c.add(1, &[KeyValue::new("k", format!("s{i}"))]);
    }
    stuck();
    for what in ["force_flush", "shutdown"] {
        let t0 = Instant::now();
        let res = match what {
            "force_flush" => provider.force_flush(CALL_DEADLINE),
            _ => provider.shutdown_with_timeout(CALL_DEADLINE),
        };
        let took = t0.elapsed();
        println!("{kind} {what}(1 s) took {took:?}: {res:?}");
        assert!(
            took <= CALL_DEADLINE + SLACK,
            "{kind}: {what}(1 s) took {took:?}"
        );
        let err = res.expect_err("a hanging destination delivered nothing");
        assert!(
            err.undelivered_points().is_some_and(|n| n > 0),
            "{kind} {what}: the error does not count the undelivered points: {err:?}"
        );
        assert!(err.to_string().contains("not delivered"), "{kind}: {err}");
    }
}

fn otlp_to(sink: &FaultSink) -> ferrometer::export::otlp::OtlpHttpExporterBuilder {
    OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
}

#[test]
fn hanging_sink_otlp_plain() {
    let sink = FaultSink::start();
    sink.set(Mode::Silent);
    let e = otlp_to(&sink).build().unwrap();
    deadlines_hold("otlp", e, || sink.wait_silent());
    sink.set(Mode::Accept);
}

#[test]
fn hanging_sink_otlp_pipeline() {
    let sink = FaultSink::start();
    sink.set(Mode::Silent);
    let pipe = otlp_to(&sink)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    deadlines_hold("otlp pipeline", pipe.clone(), || sink.wait_silent());
    sink.set(Mode::Accept);
    let s = pipe.stats();
    assert_eq!(
        s.points_offered(),
        s.points_delivered + s.dropped_total() + s.queued_points,
        "{s:?}"
    );
}

fn pushgateway_to(sink: &FaultSink) -> PushgatewayExporter {
    PushgatewayExporter::builder(format!("http://{}", sink.addr), "hang")
        .build()
        .unwrap()
}

#[test]
fn hanging_sink_pushgateway_plain() {
    let sink = FaultSink::start();
    sink.set(Mode::Silent);
    deadlines_hold("pushgateway", pushgateway_to(&sink), || sink.wait_silent());
    sink.set(Mode::Accept);
}

#[test]
fn hanging_sink_pushgateway_pipeline() {
    let sink = FaultSink::start();
    sink.set(Mode::Silent);
    let pipe = pushgateway_to(&sink)
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    deadlines_hold("pushgateway pipeline", pipe, || sink.wait_silent());
    sink.set(Mode::Accept);
}

/// A host callback that blocks: when the calls return, the callback is
/// still running on the reader's (or the worker's) thread; the exporter
/// and what it captured stay alive until it returns.
fn host_gated(kind: &str, make: impl FnOnce(Gate, Arc<AtomicBool>) -> Box<dyn FnOnce()>) {
    let gate = Gate::default();
    let freed = Arc::new(AtomicBool::new(false));
    let run = make(gate.clone(), freed.clone());
    let g = gate.clone();
    let _ = kind;
    run();
    assert!(
        g.left.load(Ordering::SeqCst) < g.entered.load(Ordering::SeqCst),
        "the callback is still blocked"
    );
    assert!(
        !freed.load(Ordering::SeqCst),
        "{kind}: the callback's state was dropped while the callback runs"
    );
    g.release();
    let t0 = Instant::now();
    while !freed.load(Ordering::SeqCst) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{kind}: the exporter was never dropped after its callback returned"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        g.left.load(Ordering::SeqCst),
        g.entered.load(Ordering::SeqCst)
    );
}

/// Set when dropped: stands for the host's user data.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn hanging_host_bytes_callback() {
    host_gated("host bytes", |gate, freed| {
        Box::new(move || {
            let flag = DropFlag(freed);
            let g = gate.clone();
            let e = BytesExporter::new(WireFormat::OtlpProtobuf, move |_: &[u8], _: &str| {
                let _keep = &flag;
                g.pass();
                Ok(())
            })
            .unwrap();
            deadlines_hold("host bytes", e, || gate.wait_entered());
        })
    });
}

#[test]
fn hanging_host_snapshot_callback() {
    host_gated("host snapshot", |gate, freed| {
        Box::new(move || {
            let flag = DropFlag(freed);
            let g = gate.clone();
            let e = SnapshotExporter::new(move |_: &ferrometer::ResourceMetrics| {
                let _keep = &flag;
                g.pass();
                Ok(())
            });
            deadlines_hold("host snapshot", e, || gate.wait_entered());
        })
    });
}

#[test]
fn hanging_host_bytes_pipeline_callback() {
    host_gated("host bytes pipeline", |gate, freed| {
        Box::new(move || {
            let flag = DropFlag(freed);
            let g = gate.clone();
            let pipe = BytesExporter::new(WireFormat::OtlpProtobuf, move |_: &[u8], _: &str| {
                let _keep = &flag;
                g.pass();
                Ok(())
            })
            .unwrap()
            .into_pipeline()
            .with_self_metrics(false)
            .build()
            .unwrap();
            deadlines_hold("host bytes pipeline", pipe, || gate.wait_entered());
        })
    });
}

#[test]
fn hanging_console_writer() {
    let gate = Gate::default();
    let e = ConsoleExporter::to_writer(GatedWriter(gate.clone()));
    deadlines_hold("console", e, || gate.wait_entered());
    gate.release();
}

fn mkfifo(p: &std::path::Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

fn fifo_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fm-hang-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The text file exporter writes `<path>.<pid>.tmp` first: a FIFO there
/// that nobody opens makes the write hang in `open`.
#[test]
fn hanging_textfile_fifo() {
    let dir = fifo_dir("textfile");
    let path = dir.join("app.prom");
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    mkfifo(&tmp);
    deadlines_hold("textfile", TextFileExporter::new(&path), || {
        std::thread::sleep(Duration::from_millis(300))
    });
    // Unblock the writer: open the FIFO and read what it writes.
    let mut r = std::fs::File::open(&tmp).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut r, &mut text).unwrap();
    assert!(text.contains("c_total"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The OTLP file exporter appends to a FIFO whose reader never reads: the
/// pipe fills and the write hangs.
#[test]
fn hanging_otlp_file_fifo() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = fifo_dir("otlpfile");
    let path = dir.join("metrics.jsonl");
    mkfifo(&path);
    // A reader that never reads (non-blocking open: nobody writes yet).
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000) // O_NONBLOCK
        .open(&path)
        .unwrap();
    let e = OtlpFileExporter::builder()
        .with_path(&path)
        .build()
        .unwrap();
    // Enough series that a few exports fill the pipe (64 KiB).
    deadlines_hold("otlp file", FatSnapshots(e), || {
        std::thread::sleep(Duration::from_millis(600))
    });
    drop(reader); // the blocked write fails with EPIPE and the thread ends
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pads every snapshot with a large resource so that each line is big.
struct FatSnapshots(OtlpFileExporter);
impl PushExporter for FatSnapshots {
    fn export(&self, rm: &ferrometer::ResourceMetrics, d: Instant) -> ferrometer::Result<()> {
        let mut rm = rm.clone();
        rm.resource = Arc::new(ferrometer::Resource::new([KeyValue::new(
            "pad",
            "x".repeat(40_000),
        )]));
        self.0.export(&rm, d)
    }
    fn shutdown(&self, t: Duration) -> ferrometer::Result<()> {
        self.0.shutdown(t)
    }
    fn name(&self) -> &'static str {
        "otlp-file"
    }
}

// ---------------------------------------------------------------------
// A one-off refusal under cumulative temporality, and partial success.

/// A pipeline to `sink`, fast retries, no self-metrics.
fn plain_pipeline(sink: &FaultSink, t: TemporalityPreference) -> ExportPipeline {
    otlp_to(sink)
        .with_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .into_pipeline()
        .with_temporality(t)
        .with_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2.0,
        })
        .with_self_metrics(false)
        .build()
        .unwrap()
}

/// The sink answers 400 to the first two requests and 200 afterwards
/// (the demo): the sink ends with the exact final totals, so with
/// cumulative temporality shutdown succeeds and reports the refused
/// points as superseded; with delta the refused points are really
/// missing and shutdown says how many.
fn one_off_400(
    t: TemporalityPreference,
) -> (
    ferrometer::Result<()>,
    PipelineStats,
    FlushReport,
    FaultSink,
    BTreeMap<String, i64>,
) {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    sink.script(vec![Mode::Status(400, None), Mode::Status(400, None)]);
    let pipe = plain_pipeline(&sink, t);
    let provider = provider_exporting_to(&pipe, Duration::from_millis(40), Duration::from_secs(1));
    let c = provider.meter("faults").u64_counter("c").build().unwrap();
    let mut recorded = BTreeMap::new();
    for round in 0..8i64 {
        for k in ["a", "b", "c"] {
            c.add(round as u64 + 1, &[KeyValue::new("k", k)]);
            *recorded.entry(k.to_string()).or_insert(0) += round + 1;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let res = provider.shutdown_with_timeout(Duration::from_secs(5));
    let stats = pipe.stats();
    let report = pipe.shutdown_report(Duration::ZERO);
    (res, stats, report, sink, recorded)
}

use ferrometer::export::pipeline::FlushReport;

#[test]
fn one_off_400_cumulative_is_superseded_not_undelivered() {
    let (res, st, report, sink, recorded) = one_off_400(C);
    assert_eq!(st.failed(FailReason::Status4xx), 2, "{st:?}");
    assert!(st.dropped(DropReason::PermanentError) > 0, "{st:?}");
    assert_eq!(max_by_key(&sink.delivered(), "c", "k"), recorded, "{st:?}");
    assert_eq!(report.lost_points, 0, "{report:?}");
    assert_eq!(
        report.superseded_points,
        st.dropped(DropReason::PermanentError),
        "{report:?}"
    );
    assert!(res.is_ok(), "the sink has every total: {res:?}");
}

#[test]
fn one_off_400_delta_reports_what_is_missing() {
    let (res, st, report, sink, recorded) = one_off_400(D);
    let refused = st.dropped(DropReason::PermanentError);
    assert!(refused > 0, "{st:?}");
    let got: i64 = sum_by_key(&sink.delivered(), "c", "k").values().sum();
    assert!(
        got < recorded.values().sum::<i64>(),
        "delta data was refused"
    );
    assert_eq!(report.lost_points, refused, "{report:?}");
    assert_eq!(report.superseded_points, 0, "{report:?}");
    let err = res.expect_err("delta points were refused");
    assert_eq!(err.undelivered_points(), Some(refused), "{err}");
    // One category in the text: the status's name is added by the C
    // boundary's callers, never twice.
    assert_eq!(
        err.to_string().matches("operation failed").count(),
        0,
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("otlp export pipeline shutdown: "),
        "{err}"
    );
}

/// Value of the sum `name` whose attribute `key` is `value`.
fn sum_value(rm: &ferrometer::ResourceMetrics, name: &str, key: &str, value: &str) -> Option<u64> {
    let m = rm.metric(name)?;
    let ferrometer::MetricData::Sum(s) = &m.data else {
        return None;
    };
    s.points
        .iter()
        .find(|p| {
            p.attributes
                .iter()
                .any(|kv| kv.key() == key && kv.value().to_string() == value)
        })
        .map(|p| match p.value {
            ferrometer::Number::U64(v) => v,
            ferrometer::Number::I64(v) => v as u64,
            ferrometer::Number::F64(v) => v as u64,
        })
}

/// The receiver accepts a request but rejects 2 of its points (OTLP
/// partial success): they are dropped as `rejected`, not exported, in the
/// counters, the self-metrics and the shutdown report.
#[test]
fn partial_success_counts_rejected_points_as_dropped() {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    sink.script(vec![Mode::PartialSuccess(2)]);
    let pipe = otlp_to(&sink)
        .build()
        .unwrap()
        .into_pipeline()
        .with_temporality(D)
        .build()
        .unwrap();
    let manual = ferrometer::ManualReader::new(D);
    let provider = MeterProvider::builder()
        .with_resource(ferrometer::Resource::empty())
        .with_reader(
            PeriodicReader::builder(pipe.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .with_reader(manual.clone())
        // The manual reader reads the self-metrics the export recorded
        // after the flush's cycle: no collection window.
        .with_collection_window(Duration::ZERO)
        .build();
    let c = provider.meter("faults").u64_counter("c").build().unwrap();
    for k in ["a", "b", "c", "d", "e"] {
        c.add(1, &[KeyValue::new("k", k)]);
    }
    let flushed = provider.force_flush(Duration::from_secs(5));
    let st = pipe.stats();
    assert_eq!(st.dropped(DropReason::Rejected), 2, "{st:?}");
    assert_eq!(st.requests_delivered, 1, "{st:?}");
    assert_eq!(
        st.points_offered(),
        st.points_delivered + st.dropped_total() + st.queued_points,
        "{st:?}"
    );
    // The first export's points: c's five series (self-metrics were
    // registered but had nothing to report yet, or a few points more).
    assert_eq!(st.points_delivered + 2, st.points_enqueued, "{st:?}");
    let err = flushed.expect_err("two points were rejected");
    assert_eq!(err.undelivered_points(), Some(2), "{err}");
    // The self-metrics say the same (delta: this collection's increase).
    let rm = manual.collect().unwrap();
    assert_eq!(
        sum_value(
            &rm,
            "ferrometer.exporter.points.dropped",
            "reason",
            "rejected"
        ),
        Some(2)
    );
    assert_eq!(
        sum_value(
            &rm,
            "ferrometer.exporter.points.exported",
            "exporter",
            "otlp"
        ),
        Some(st.points_delivered)
    );
    let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
}
