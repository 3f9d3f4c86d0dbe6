//! Steady-state allocation of the export pipeline: once warmed up, an
//! export cycle (encode into batches, enqueue, worker sends over the kept
//! connection, flush) allocates a small number of times per request,
//! independent of the number of points. Counted with a global counting
//! allocator on every thread except the test sink's.

use ferrometer::export::otlp::OtlpHttpExporter;
use ferrometer::export::pipeline::BatchLimits;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator; only adds counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) && !EXCLUDED.with(|e| e.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) && !EXCLUDED.with(|e| e.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A sink that reads requests with fixed buffers and answers 200; its
/// threads are excluded from counting.
fn sink() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/metrics", l.local_addr().unwrap());
    std::thread::spawn(move || {
        EXCLUDED.with(|e| e.set(true));
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                EXCLUDED.with(|e| e.set(true));
                let mut buf = vec![0u8; 1 << 20];
                let mut have = 0usize;
                loop {
                    // Head.
                    let end = loop {
                        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match c.read(&mut buf[have..]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => have += n,
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let total = end + len;
                    while have < total {
                        match c.read(&mut buf[have..]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => have += n,
                        }
                    }
                    buf.copy_within(total..have, 0);
                    have -= total;
                    if c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn snapshot(series: i64) -> (MeterProvider, ferrometer::ResourceMetrics) {
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "alloc")]))
        .with_reader(reader.clone())
        .with_cardinality_limit(100_000)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    for i in 0..series {
        c.add(1, &[KeyValue::new("id", i), KeyValue::new("k", "v")]);
    }
    let rm = reader.collect().unwrap();
    (p, rm)
}

/// Allocations per export cycle (after warm-up) for a snapshot of
/// `series` points sent as `requests` requests.
fn per_cycle(url: &str, series: i64, batch_points: usize) -> (f64, u64) {
    let (_p, rm) = snapshot(series);
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(url)
        .build()
        .unwrap()
        .into_pipeline()
        .with_batch_limits(BatchLimits {
            max_points: batch_points,
            max_bytes: 16 << 20,
        })
        .with_queue_limits(1 << 20, 64 << 20)
        .with_self_metrics(false)
        .build()
        .unwrap();
    let cycle = || {
        pipe.export(&rm, Instant::now() + Duration::from_secs(10))
            .unwrap();
        assert!(pipe.flush(Duration::from_secs(10)).completed);
    };
    for _ in 0..5 {
        cycle();
    }
    let requests0 = pipe.stats().requests_delivered;
    const CYCLES: u64 = 20;
    ALLOCS.store(0, Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    for _ in 0..CYCLES {
        cycle();
    }
    ON.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let requests = (pipe.stats().requests_delivered - requests0) / CYCLES;
    pipe.shutdown(Duration::from_secs(5)).unwrap();
    (allocs as f64 / CYCLES as f64, requests)
}

#[test]
fn steady_export_cycles_allocate_per_request_not_per_point() {
    ferrometer::diagnostics::set_silent();
    let url = sink();
    // One request per cycle, 1000 vs 20000 points.
    let (small, r1) = per_cycle(&url, 1_000, 50_000);
    let (large, r2) = per_cycle(&url, 20_000, 50_000);
    // Ten requests per cycle.
    let (split, r3) = per_cycle(&url, 20_000, 2_000);
    println!(
        "allocations per export cycle: 1000 points/1 request {small}, \
         20000 points/1 request {large}, 20000 points/{r3} requests {split}"
    );
    assert_eq!((r1, r2, r3), (1, 1, 10));
    assert!(small <= 8.0, "{small} allocations per cycle");
    assert!(
        (large - small).abs() <= 1.0,
        "allocations grow with points: {small} vs {large}"
    );
    assert!(
        split <= 8.0 * 10.0,
        "{split} allocations for 10 requests: more than 8 per request"
    );
}
