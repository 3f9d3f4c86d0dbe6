//! Shutdown of a provider whose periodic reader pushes through the export
//! pipeline, while threads keep recording: with the sink down (refusing
//! connections, or hanging on every request) `shutdown(2 s)` returns
//! within its deadline, reports the undelivered points, and every
//! pipeline and reader thread is gone; with the sink up nothing is
//! undelivered.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::{provider_exporting_to, FaultSink, Mode};
use ferrometer::export::otlp::OtlpHttpExporter;
use ferrometer::export::pipeline::{DropReason, ExportPipeline};
use ferrometer::{KeyValue, MeterProvider, TemporalityPreference};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tests of this file run one at a time: they count the process' threads.
static SERIAL: Mutex<()> = Mutex::new(());

/// Threads named by ferrometer's pipeline ("ferrometer-export") and
/// periodic reader ("ferrometer-periodic"), as the kernel shows them
/// (15 characters).
fn sdk_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("ferrometer-expo") || c.starts_with("ferrometer-peri"))
        .count()
}

struct Setup {
    provider: MeterProvider,
    pipe: ExportPipeline,
    stop: Arc<AtomicBool>,
    recorders: Vec<std::thread::JoinHandle<u64>>,
}

fn setup(sink: &FaultSink, t: TemporalityPreference) -> Setup {
    ferrometer::diagnostics::set_silent();
    // Default request timeout (10 s) and retry policy: only the shutdown
    // deadline bounds the attempts.
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_temporality(t)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    let provider = provider_exporting_to(&pipe, Duration::from_millis(50), Duration::from_secs(30));
    let c = provider.meter("shutdown").u64_counter("c").build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let recorders = (0..2)
        .map(|i| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("k", i as i64)];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    for j in 0..100i64 {
                        c.add(1, &[attrs[0].clone(), KeyValue::new("j", j)]);
                    }
                    n += 100;
                    std::thread::sleep(Duration::from_millis(1));
                }
                n
            })
        })
        .collect();
    Setup {
        provider,
        pipe,
        stop,
        recorders,
    }
}

fn sink_down(mode: Mode) {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let sink = FaultSink::start();
    let s = setup(&sink, TemporalityPreference::Delta);
    std::thread::sleep(Duration::from_millis(300));
    sink.set(mode.clone());
    std::thread::sleep(Duration::from_millis(500));
    assert!(sdk_threads() >= 2);

    let t0 = Instant::now();
    let res = s.provider.shutdown_with_timeout(Duration::from_secs(2));
    let took = t0.elapsed();
    // Recording threads are still running here.
    assert!(!s.recorders.iter().any(|h| h.is_finished()));
    s.stop.store(true, Ordering::Relaxed);
    for h in s.recorders {
        h.join().unwrap();
    }
    println!("{mode:?}: shutdown(2 s) took {took:?}: {res:?}");
    assert!(
        took <= Duration::from_millis(2100),
        "shutdown(2 s) took {took:?}"
    );
    let err = res.expect_err("points were not delivered").to_string();
    assert!(err.contains("not delivered"), "{err}");
    let st = s.pipe.stats();
    println!("{st:?}");
    assert!(st.dropped(DropReason::Shutdown) > 0, "{st:?}");
    assert_eq!(st.queued_points, 0);
    assert_eq!(
        st.points_offered(),
        st.points_delivered + st.dropped_total(),
        "{st:?}"
    );
    assert!(!s.pipe.worker_running());
    assert_eq!(
        sdk_threads(),
        0,
        "a pipeline or reader thread outlived shutdown"
    );
}

#[test]
fn sink_refusing_connections() {
    sink_down(Mode::Refuse);
}

#[test]
fn sink_hanging_on_every_request() {
    sink_down(Mode::Hang(Duration::from_secs(30)));
}

#[test]
fn sink_up_nothing_undelivered() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for t in [
        TemporalityPreference::Cumulative,
        TemporalityPreference::Delta,
    ] {
        let sink = FaultSink::start();
        let s = setup(&sink, t);
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        let res = s.provider.shutdown_with_timeout(Duration::from_secs(2));
        let took = t0.elapsed();
        s.stop.store(true, Ordering::Relaxed);
        for h in s.recorders {
            h.join().unwrap();
        }
        let st = s.pipe.stats();
        println!("{t:?}: shutdown took {took:?}: {res:?} {st:?}");
        res.expect("nothing undelivered");
        assert!(took < Duration::from_secs(2));
        assert_eq!(st.lost(), 0, "{st:?}");
        assert!(st.points_delivered > 0);
        assert_eq!(
            st.points_offered(),
            st.points_delivered + st.dropped(DropReason::Superseded),
            "{st:?}"
        );
        assert!(!s.pipe.worker_running());
        assert_eq!(sdk_threads(), 0);
    }
}
