//! Peak memory during a collector outage: 2 threads record continuously
//! into 20,000 delta counter series while a periodic reader pushes every
//! 100 ms through the export pipeline to an endpoint that refuses
//! connections (a port bound, then released). Every second it prints the
//! process' peak RSS (VmHWM) and current RSS (VmRSS) from
//! /proc/self/status and the pipeline's queue; at the end, the drops.
//!
//! The queue is limited to 65,536 points / 8 MiB (or the given limits),
//! so the growth of the peak RSS must stop once the queue is full.
//!
//! Run: `cargo run --release --example outage_rss [seconds [queue_points
//! [queue_mib]]]` (default 60 65536 8).

use ferrometer::export::otlp::OtlpHttpExporter;
use ferrometer::export::pipeline::DropReason;
use ferrometer::{KeyValue, MeterProvider, PeriodicReader, Resource, TemporalityPreference};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let arg = |i: usize, default: u64| -> u64 {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let secs = arg(1, 60);
    let queue_points = arg(2, 65_536) as usize;
    let queue_mib = arg(3, 8) as usize;
    ferrometer::diagnostics::set_silent();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(format!("http://127.0.0.1:{port}/v1/metrics"))
        .with_temporality(TemporalityPreference::Delta)
        .build()
        .unwrap()
        .into_pipeline()
        .with_queue_limits(queue_points, queue_mib << 20)
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(pipe.clone())
        .with_interval(Duration::from_millis(100))
        .build();
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "outage")]))
        .with_reader(reader)
        .with_cardinality_limit(20_000)
        .build();
    pipe.register_metrics(&provider).unwrap();
    let c = provider
        .meter("app")
        .u64_counter("requests")
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (c, stop, ops) = (c.clone(), stop.clone(), ops.clone());
            std::thread::spawn(move || {
                let attrs: Vec<[KeyValue; 2]> = (0..10_000i64)
                    .map(|i| [KeyValue::new("id", i), KeyValue::new("thread", t)])
                    .collect();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        c.add(1, &attrs[i % attrs.len()]);
                        i += 1;
                    }
                    ops.fetch_add(10_000, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    println!("# {secs} s outage, queue limits {queue_points} points / {queue_mib} MiB");
    println!(
        "t_s,vmhwm_kb,vmrss_kb,queued_points,queued_bytes,dropped_queue_full,failed_attempts,recorded_ops"
    );
    let t0 = Instant::now();
    let mut first_full: Option<u64> = None;
    for s in 1..=secs {
        std::thread::sleep(Duration::from_secs(s).saturating_sub(t0.elapsed()));
        let st = pipe.stats();
        let hwm = status_kb("VmHWM:");
        if first_full.is_none() && st.dropped(DropReason::QueueFull) > 0 {
            first_full = Some(hwm);
        }
        println!(
            "{s},{hwm},{},{},{},{},{},{}",
            status_kb("VmRSS:"),
            st.queued_points,
            st.queued_bytes,
            st.dropped(DropReason::QueueFull),
            st.failed_total(),
            ops.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for h in threads {
        h.join().unwrap();
    }
    let res = provider.shutdown_with_timeout(Duration::from_secs(2));
    let st = pipe.stats();
    println!(
        "peak RSS {} kB (at the first queue-full drop: {} kB); shutdown: {res:?}",
        status_kb("VmHWM:"),
        first_full.unwrap_or(0)
    );
    println!("{st:?}");
}
