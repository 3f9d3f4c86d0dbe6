//! The recording path allocates nothing for an existing series, and a
//! 3-attribute counter series costs a bounded number of bytes. Measured with
//! a counting global allocator that only counts on the measuring thread.

use ferrometer::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

// Counters are per thread so that tests running in parallel do not see
// each other's allocations.
thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static NET: Cell<i64> = const { Cell::new(0) };
}

fn get<T: Copy>(c: &'static std::thread::LocalKey<Cell<T>>) -> T {
    c.with(|c| c.get())
}

// SAFETY: forwards to the system allocator; only adds counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.with(|o| o.get()) {
            ALLOCS.with(|c| c.set(c.get() + 1));
            BYTES.with(|c| c.set(c.get() + l.size() as u64));
            NET.with(|c| c.set(c.get() + l.size() as i64));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ON.with(|o| o.get()) {
            NET.with(|c| c.set(c.get() - l.size() as i64));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a0, b0) = (get(&ALLOCS), get(&BYTES));
    ON.with(|o| o.set(true));
    let r = f();
    ON.with(|o| o.set(false));
    (r, get(&ALLOCS) - a0, get(&BYTES) - b0)
}

#[test]
fn hot_path_allocates_nothing() {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = MeterProvider::builder().with_reader(reader.clone()).build();
    let m = p.meter("alloc");
    let c = m.u64_counter("c").build().unwrap();
    let h = m.f64_histogram("h").build().unwrap();
    let g = m.f64_gauge("g").build().unwrap();
    let ud = m.f64_up_down_counter("ud").build().unwrap();
    let udi = m.i64_up_down_counter("udi").build().unwrap();
    let attrs = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
        KeyValue::new("status", "200"),
    ];
    let unsorted = [attrs[2].clone(), attrs[0].clone(), attrs[1].clone()];
    let owned = [
        KeyValue::new("method", String::from("GET")),
        KeyValue::new("route", String::from("/api/v1/items")),
        KeyValue::new("status", String::from("200")),
    ];
    let bound = c.bind(&attrs);
    // Warm up: creates the series and this thread's reclamation slot.
    c.add(1, &attrs);
    c.add(1, &[]);
    h.record(1.0, &attrs);
    g.record(1.0, &attrs);
    ud.add(1.0, &attrs);
    udi.add(1, &[]);
    h.record(1.0, &[]);
    reader.collect().unwrap();

    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case<'_>> = vec![
        ("unbound 3 attrs", Box::new(|| c.add(1, &attrs))),
        ("unbound 3 attrs unsorted", Box::new(|| c.add(1, &unsorted))),
        (
            "unbound 3 owned-string attrs",
            Box::new(|| c.add(1, &owned)),
        ),
        ("bound", Box::new(|| bound.add(1))),
        ("no attributes", Box::new(|| c.add(1, &[]))),
        ("i64 up-down, no attributes", Box::new(|| udi.add(-2, &[]))),
        ("histogram, no attributes", Box::new(|| h.record(7.0, &[]))),
        (
            "3 static literals built per call",
            Box::new(|| {
                c.add(
                    1,
                    &[
                        KeyValue::new("method", "GET"),
                        KeyValue::new("route", "/api/v1/items"),
                        KeyValue::new("status", "200"),
                    ],
                )
            }),
        ),
        ("histogram 3 attrs", Box::new(|| h.record(42.0, &attrs))),
        ("gauge 3 attrs", Box::new(|| g.record(3.5, &attrs))),
        ("up-down 3 attrs", Box::new(|| ud.add(-1.0, &attrs))),
    ];
    for (name, f) in &cases {
        let (_, n, bytes) = counted(|| {
            for _ in 0..10_000 {
                f()
            }
        });
        assert_eq!((n, bytes), (0, 0), "{name}: {n} allocations, {bytes} bytes");
    }
    let rm = reader.collect().unwrap();
    assert!(rm.point_count() >= 5);
}

/// Attribute-less and bound integer adds go to the thread's own cell
/// (`thread_sums`): a thread's first such add takes a block (made, or an
/// ended thread's), after which its adds allocate nothing, here on fresh
/// threads one after the other (each may take over the last one's block).
#[test]
fn per_thread_sums_allocate_nothing_after_a_threads_first_add() {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = MeterProvider::builder().with_reader(reader.clone()).build();
    let m = p.meter("alloc");
    let c = m.u64_counter("c").build().unwrap();
    let ud = m.i64_up_down_counter("ud").build().unwrap();
    let bound = c.bind(&[KeyValue::new("k", "v")]);
    let bound_ud = ud.bind(&[KeyValue::new("k", "v")]);
    // The attribute-less series exist before the threads start.
    c.add(0, &[]);
    ud.add(0, &[]);
    for t in 0..4 {
        std::thread::scope(|s| {
            s.spawn(|| {
                c.add(1, &[]);
                let (_, n, bytes) = counted(|| {
                    for _ in 0..10_000 {
                        c.add(1, &[]);
                        ud.add(-1, &[]);
                        bound.add(2);
                        bound_ud.add(3);
                    }
                });
                assert_eq!(
                    (n, bytes),
                    (0, 0),
                    "thread {t}: {n} allocations, {bytes} bytes"
                );
            });
        });
    }
    let rm = reader.collect().unwrap();
    let total = |name: &str, empty: bool| match &rm.metric(name).unwrap().data {
        MetricData::Sum(s) => s
            .points
            .iter()
            .find(|p| p.attributes.is_empty() == empty)
            .map(|p| p.value),
        other => panic!("{other:?}"),
    };
    assert_eq!(total("c", true), Some(Number::U64(4 * 10_001)));
    assert_eq!(total("c", false), Some(Number::U64(4 * 20_000)));
    assert_eq!(total("ud", true), Some(Number::I64(-40_000)));
    assert_eq!(total("ud", false), Some(Number::I64(120_000)));
}

#[test]
fn bytes_per_series_three_attribute_counter() {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_cardinality_limit(100_000)
        .build();
    let c = p.meter("mem").u64_counter("c").build().unwrap();
    c.add(1, &[KeyValue::new("warm", true)]);
    const N: i64 = 20_000;
    let net0 = get(&NET);
    counted(|| {
        for i in 0..N {
            c.add(
                1,
                &[
                    KeyValue::new("method", "GET"),
                    KeyValue::new("route", "/api/v1/items"),
                    KeyValue::new("id", i),
                ],
            );
        }
    });
    // A collection frees the tables retired by growth, unless another
    // thread (a test running in parallel) is pinned at that moment: then
    // a later one does. Collecting again allocates nothing to keep.
    for _ in 0..3 {
        counted(|| drop(reader.collect().unwrap()));
    }
    let per_series = (get(&NET) - net0) as f64 / N as f64;
    println!("bytes per 3-attribute counter series: {per_series:.1}");
    assert!(per_series <= 256.0, "{per_series} bytes per series");
    assert!(per_series > 64.0, "implausibly small: {per_series}");
}

/// Net bytes per series that one reader's first collection allocates, `n`
/// series recorded by `record`: what it keeps (a delta reader's cursors)
/// less the tables the map retired while growing, which it frees unless
/// another thread is pinned at that moment (then a later cycle frees
/// them). The least of three runs is the one that freed them.
fn kept_per_series(t: TemporalityPreference, n: i64, record: impl Fn(&Meter, i64)) -> f64 {
    (0..3)
        .map(|_| {
            let reader = ManualReader::new(t);
            let p = MeterProvider::builder()
                .with_reader(reader.clone())
                .with_cardinality_limit(n as usize + 1)
                .with_delta_eviction_after(0)
                .build();
            let m = p.meter("mem");
            for i in 0..n {
                record(&m, i);
            }
            let net0 = get(&NET);
            counted(|| drop(reader.collect().unwrap()));
            let kept = (get(&NET) - net0) as f64 / n as f64;
            drop(p);
            kept
        })
        .fold(f64::INFINITY, f64::min)
}

/// Issue 13: a delta reader keeps per series at most the aggregation's own
/// state (a counter's 8-byte total, a default histogram's 16 buckets of 8
/// bytes) plus 32 bytes. Kept: 16 bytes for a counter (its previous total
/// and the slot's series id), 160 for a histogram (buckets, sum, min, max,
/// series id).
#[test]
fn delta_reader_bytes_per_series() {
    diagnostics::set_silent();
    const N: i64 = 20_000;
    let attrs = |i: i64| [KeyValue::new("id", i), KeyValue::new("route", "/a")];
    let counter = |m: &Meter, i: i64| m.u64_counter("c").build().unwrap().add(1, &attrs(i));
    let histogram = |m: &Meter, i: i64| {
        m.f64_histogram("h")
            .build()
            .unwrap()
            .record(i as f64, &attrs(i))
    };
    for (name, record, budget) in [
        ("counter", &counter as &dyn Fn(&Meter, i64), 8.0 + 32.0),
        ("histogram", &histogram, 16.0 * 8.0 + 32.0),
    ] {
        // The same retired tables are freed by both.
        let cumulative = kept_per_series(TemporalityPreference::Cumulative, N, record);
        let per_series = kept_per_series(TemporalityPreference::Delta, N, record) - cumulative;
        println!("{name}: a delta reader keeps {per_series:.1} bytes per series");
        assert!(
            per_series <= budget,
            "{name}: {per_series} bytes per series"
        );
        assert!(per_series >= 8.0, "{name}: implausibly small: {per_series}");
    }
}

/// Net bytes that one `add` creating a series allocates, for each of
/// `n` new series (`record(i)` adds to series `i`), after `warm` series
/// that fill the map's shared strings.
fn bytes_per_new_series(n: usize, warm: usize, record: impl Fn(usize)) -> Vec<i64> {
    for i in 0..warm {
        record(i);
    }
    (warm..warm + n)
        .map(|i| {
            let net0 = get(&NET);
            counted(|| record(i));
            get(&NET) - net0
        })
        .collect()
}

/// Issue 19: a u64 counter series is one allocation, the series and its
/// attribute set together: the series' fields (a sum cell of a total
/// and a stripes pointer, the one-word set, id, references, order hint,
/// cursor slot) with no padding beyond 8-byte alignment, the set's
/// header, and the pairs. A caller whose keys and repeated values are
/// copied (the C ABI's, here `AttrRef`s) adds only the bytes of its one
/// unique string; static strings add nothing. Every creation costs
/// exactly that, except the few (one per doubling) that grow the map's
/// table.
#[test]
fn exact_bytes_per_counter_series() {
    diagnostics::set_silent();
    assert_eq!(size_of::<AttributeSet>(), size_of::<usize>());
    let series = (2 * size_of::<u64>() // the sum cell
        + size_of::<AttributeSet>()
        + size_of::<u64>() // id
        + size_of::<u32>() // references
        + size_of::<u16>() // order hint
        + size_of::<u32>()) // slot
    .next_multiple_of(8);
    let block = AttributeSet::heap_bytes(3, series) as i64;
    // A set alone: a header of three words, then the pairs.
    assert_eq!(
        AttributeSet::heap_bytes(3, 0),
        3 * size_of::<usize>() + 3 * size_of::<KeyValue>()
    );
    assert_eq!(block as usize, AttributeSet::heap_bytes(3, 0) + series);
    // An `Arc<str>`: two counts, the bytes, padded to the counts' alignment.
    let arc_str =
        |len: usize| (2 * size_of::<usize>() + len).next_multiple_of(size_of::<usize>()) as i64;
    const N: usize = 5_000;
    let provider = || {
        let p = MeterProvider::builder()
            .with_reader(ManualReader::default())
            .with_cardinality_limit(2 * N + 1_000)
            .build();
        let c = p.meter("mem").u64_counter("c").build().unwrap();
        (p, c)
    };

    let (_p, c) = provider();
    let literal = bytes_per_new_series(N, 10, |i| {
        c.add(
            1,
            &[
                KeyValue::new("method", "GET"),
                KeyValue::new("route", "/api/v1/items"),
                KeyValue::new("id", i as i64),
            ],
        )
    });

    let (_p, c) = provider();
    let methods = ["GET", "POST", "PUT", "DELETE"].map(String::from);
    let keys = ["method", "route", "status"].map(String::from);
    let route = |i: usize| format!("/api/v1/items/{i}");
    let copied = bytes_per_new_series(N, 1_000, |i| {
        let r = route(i);
        c.add_attrs(
            1,
            &[
                AttrRef {
                    key: &keys[0],
                    value: ValueRef::Str(&methods[i % 4]),
                },
                AttrRef {
                    key: &keys[1],
                    value: ValueRef::Str(&r),
                },
                AttrRef {
                    key: &keys[2],
                    value: ValueRef::I64(200 + (i % 3) as i64),
                },
            ],
        )
    });
    for (name, nets, extra) in [
        ("literal", &literal, &(|_| 0i64) as &dyn Fn(usize) -> i64),
        ("copied", &copied, &|i| arc_str(route(i + 1_000).len())),
    ] {
        let mut growths = 0;
        for (i, net) in nets.iter().enumerate() {
            let want = block + extra(i);
            if *net != want {
                // Growing the table allocates the new one (the old one is
                // freed by a later collection).
                assert!(*net > want, "{name} series {i}: {net} bytes, want {want}");
                growths += 1;
            }
        }
        println!(
            "{name}: {} bytes per series ({growths} table growths)",
            block + extra(0)
        );
        // The table doubles: at most one growth per power of two.
        let max_growths = (4 * (N + 1_000)).ilog2();
        assert!(
            growths <= max_growths,
            "{name}: {growths} creations off the exact size"
        );
    }
}

/// Recording with an exemplar allocates nothing once the series' reservoir
/// block exists: for an existing series in both context styles, on plain
/// and bound handles, counters and histograms (`AlwaysOn`, so every call
/// writes or replaces a reservoir cell). A series made while the stream
/// keeps exemplars gets its block where it is made (`bind` here), so its
/// first exemplar allocates nothing either.
#[test]
fn exemplar_recording_allocates_nothing() {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .build();
    let m = p.meter("alloc_exemplars");
    let c = m.u64_counter("c").build().unwrap();
    let h = m.f64_histogram("h").build().unwrap();
    let attrs = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
        KeyValue::new("status", "200"),
    ];
    let ctx = TraceContext::new([7; 16], [9; 8], 1);
    // Warm up: the series, this thread's slot, each stream's first block.
    c.add(1, &attrs);
    h.record(1.0, &attrs);
    reader.collect().unwrap();
    // Made after the streams kept exemplars: their blocks come with them
    // (200 series: past the first block of 64).
    let fresh: Vec<_> = (0..200)
        .map(|i| c.bind(&[KeyValue::new("i", i as i64)]))
        .collect();
    let hb = h.bind(&[KeyValue::new("i", 1)]);
    let previous = TraceContext::set_current(Some(ctx));
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case<'_>> = vec![
        ("counter, current context", Box::new(|| c.add(1, &attrs))),
        (
            "counter, explicit context",
            Box::new(|| c.add_in_context(1, &attrs, &ctx)),
        ),
        (
            "histogram, current context",
            Box::new(|| h.record(42.0, &attrs)),
        ),
        (
            "histogram, explicit context",
            Box::new(|| h.record_in_context(3.0, &attrs, &ctx)),
        ),
        (
            "bound histogram, current context",
            Box::new(|| hb.record(5.0)),
        ),
        (
            "bound counter made later, explicit context",
            Box::new(|| fresh[199].add_in_context(1, &ctx)),
        ),
        (
            "bound counter made later, current context",
            Box::new(|| fresh[100].add(1)),
        ),
    ];
    for (name, f) in &cases {
        let (_, n, bytes) = counted(|| {
            for _ in 0..10_000 {
                f()
            }
        });
        assert_eq!((n, bytes), (0, 0), "{name}: {n} allocations, {bytes} bytes");
    }
    TraceContext::set_current(previous);
    // The exemplars are there: the measurements above were offered.
    let rm = reader.collect().unwrap();
    let with_exemplars = rm.scope_metrics[0]
        .metrics
        .iter()
        .map(|m| match &m.data {
            MetricData::Sum(s) => s.points.iter().filter(|p| !p.exemplars.is_empty()).count(),
            MetricData::Histogram(h) => h.points.iter().filter(|p| !p.exemplars.is_empty()).count(),
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(with_exemplars, 5, "exemplars on the recorded series");
}
