//! A reused `OtlpEncoder` with a reused output buffer does not allocate
//! per point: once warmed up, `encode` and `encode_batches` calls allocate
//! nothing at all, for 10k points as for 100k. Measured with a counting global
//! allocator that only counts on the measuring thread (see tests/alloc.rs).

use ferrometer::export::otlp::encode::{BatchLimits, OtlpEncoder};
use ferrometer::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::ControlFlow;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only adds counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.with(|o| o.get()) {
            ALLOCS.with(|c| c.set(c.get() + 1));
            BYTES.with(|c| c.set(c.get() + l.size() as u64));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if ON.with(|o| o.get()) {
            ALLOCS.with(|c| c.set(c.get() + 1));
            BYTES.with(|c| c.set(c.get() + new_size as u64));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Allocations (and reallocations) and bytes requested while `f` runs.
fn counted<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a0, b0) = (ALLOCS.with(|c| c.get()), BYTES.with(|c| c.get()));
    ON.with(|o| o.set(true));
    let r = f();
    ON.with(|o| o.set(false));
    (
        r,
        ALLOCS.with(|c| c.get()) - a0,
        BYTES.with(|c| c.get()) - b0,
    )
}

/// A snapshot of `n` counter series with three attributes, a histogram
/// and a gauge series.
fn snapshot(n: i64) -> (MeterProvider, collect::data::ResourceMetrics) {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "alloc")]))
        .with_reader(reader.clone())
        .with_cardinality_limit(200_000)
        .build();
    let m = provider.meter("alloc");
    let c = m.u64_counter("requests").build().unwrap();
    for i in 0..n {
        c.add(
            1,
            &[
                KeyValue::new("id", i),
                KeyValue::new("method", "GET"),
                KeyValue::new("route", "/api/v1/items"),
            ],
        );
    }
    m.f64_histogram("latency")
        .build()
        .unwrap()
        .record(2.5, &[KeyValue::new("route", "/")]);
    m.i64_gauge("temp").build().unwrap().record(-3, &[]);
    let rm = reader.collect().unwrap();
    assert_eq!(rm.point_count(), n as usize + 2);
    (provider, rm)
}

/// Allocations of the third `encode` call with a warmed-up encoder and
/// buffer.
fn steady_encode_allocs(n: i64) -> (u64, u64, usize) {
    let (_p, rm) = snapshot(n);
    let mut enc = OtlpEncoder::new();
    let mut out = Vec::new();
    enc.encode(&rm, &mut out);
    enc.encode(&rm, &mut out);
    let (points, allocs, bytes) = counted(|| enc.encode(&rm, &mut out));
    assert_eq!(points, rm.point_count());
    (allocs, bytes, out.len())
}

fn steady_batch_allocs(n: i64) -> (u64, u64, usize) {
    let (_p, rm) = snapshot(n);
    let mut enc = OtlpEncoder::new();
    let mut out = Vec::new();
    let limits = BatchLimits {
        max_points: 1000,
        max_bytes: 64 << 10,
    };
    let run = |enc: &mut OtlpEncoder, out: &mut Vec<u8>| {
        let mut requests = 0;
        let mut bytes = 0;
        let points = enc.encode_batches(&rm, limits, out, &mut |body, _| {
            requests += 1;
            bytes += body.len();
            ControlFlow::Continue(())
        });
        assert_eq!(points, rm.point_count());
        (requests, bytes)
    };
    run(&mut enc, &mut out);
    run(&mut enc, &mut out);
    let ((requests, _), allocs, bytes) = counted(|| run(&mut enc, &mut out));
    (allocs, bytes, requests)
}

#[test]
fn steady_encode_allocates_nothing_per_point() {
    let (a_small, b_small, len_small) = steady_encode_allocs(10_000);
    let (a_large, b_large, len_large) = steady_encode_allocs(100_000);
    println!(
        "encode: 10k points: {a_small} allocations / {b_small} bytes ({len_small} byte body); \
         100k points: {a_large} allocations / {b_large} bytes ({len_large} byte body)"
    );
    assert!(len_large > 9 * len_small);
    // Warmed-up scratch buffers and body: nothing at all to allocate.
    assert_eq!(
        (a_small, a_large),
        (0, 0),
        "allocations for 10k / 100k points"
    );
    assert_eq!((b_small, b_large), (0, 0));
}

#[test]
fn steady_batches_allocate_nothing_per_point() {
    let (a_small, b_small, r_small) = steady_batch_allocs(10_000);
    let (a_large, b_large, r_large) = steady_batch_allocs(100_000);
    println!(
        "encode_batches: 10k points in {r_small} requests: {a_small} allocations / {b_small} bytes; \
         100k points in {r_large} requests: {a_large} allocations / {b_large} bytes"
    );
    assert!(r_large >= 100 && r_small >= 10);
    assert_eq!(
        (a_small, a_large),
        (0, 0),
        "allocations for 10k / 100k points"
    );
    assert_eq!((b_small, b_large), (0, 0));
}
