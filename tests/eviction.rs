//! Delta eviction at its edges: series evicted while threads add to them
//! and bind them lose nothing, and a delta reader that does not collect
//! costs only itself.

use ferrometer::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

/// Sum of every u64 sum point and every histogram count of `name`, by
/// attribute set.
fn totals(rm: &ResourceMetrics, name: &str, out: &mut HashMap<String, u64>) {
    let Some(m) = rm.metric(name) else { return };
    match &m.data {
        MetricData::Sum(s) => {
            assert_eq!(s.temporality, Temporality::Delta);
            for p in &s.points {
                let Number::U64(v) = p.value else {
                    panic!("{name}: {:?}", p.value)
                };
                *out.entry(format!("{:?}", p.attributes)).or_default() += v;
            }
        }
        MetricData::Histogram(h) => {
            for p in &h.points {
                assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
                *out.entry(format!("{:?}", p.attributes)).or_default() += p.count;
                // Every value recorded is 1.0: the sums add up to the
                // count over all points (one point's sum may lag its count
                // while a record is in flight).
                *out.entry("sum".to_string()).or_default() += p.sum as u64;
            }
        }
        other => panic!("{name}: {other:?}"),
    }
}

/// Threads add to (unbound) and bind series that churn (each thread moves
/// through a window of series so they go idle and come back) while a
/// collector collects deltas as fast as it can, evicting after one idle
/// cycle. Every measurement must reach the collector exactly once.
#[test]
fn eviction_racing_adds_and_binds_loses_nothing() {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_delta_eviction_after(1)
        .with_cardinality_limit(100_000)
        .build();
    let m = p.meter("m");
    let counter = m.u64_counter("c").build().unwrap();
    let hist = m
        .f64_histogram("h")
        .with_boundaries(vec![0.5, 2.0])
        .build()
        .unwrap();
    const THREADS: u64 = 3;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let deadline = Instant::now() + Duration::from_millis(1500);
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (counter, hist, start) = (counter.clone(), hist.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let (mut added, mut recorded) = (0u64, 0u64);
                let mut round = 0u64;
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                while Instant::now() < deadline {
                    // Series picked at random among 1,000 per thread: each
                    // goes idle for a few cycles, is evicted, and comes back.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let attrs = [kv("t", t as i64), kv("s", (x % 1000) as i64)];
                    if round % 4 == 0 {
                        let b = counter.bind(&attrs);
                        for _ in 0..100 {
                            b.add(1);
                        }
                        added += 100;
                    } else {
                        for _ in 0..20 {
                            counter.add(1, &attrs);
                        }
                        added += 20;
                    }
                    hist.record(1.0, &attrs);
                    recorded += 1;
                    round += 1;
                }
                (added, recorded)
            })
        })
        .collect();
    let collector = {
        let (r, stop, start) = (r.clone(), stop.clone(), start.clone());
        std::thread::spawn(move || {
            let (mut c, mut h) = (HashMap::new(), HashMap::new());
            start.wait();
            let mut cycles = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rm = r.collect().unwrap();
                totals(&rm, "c", &mut c);
                totals(&rm, "h", &mut h);
                cycles += 1;
            }
            (c, h, cycles)
        })
    };
    let (mut added, mut recorded) = (0, 0);
    for w in workers {
        let (a, r) = w.join().unwrap();
        added += a;
        recorded += r;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut c, mut h, cycles) = collector.join().unwrap();
    // Evicted series settle after a grace period, at a later cycle.
    for _ in 0..3 {
        let rm = r.collect().unwrap();
        totals(&rm, "c", &mut c);
        totals(&rm, "h", &mut h);
    }
    assert!(cycles >= 3, "the collector ran {cycles} cycles");
    assert_eq!(
        c.values().sum::<u64>(),
        added,
        "counter adds lost or doubled"
    );
    let sum = h.remove("sum").unwrap_or(0);
    assert_eq!(h.values().sum::<u64>(), recorded, "histogram records lost");
    assert_eq!(sum, recorded, "histogram sums lost");
    assert!(
        !c.keys().any(|k| k.contains("otel.metric.overflow")),
        "nothing should overflow"
    );
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// One delta reader collects every interval, another never does. The
/// collecting reader keeps its own series (none in overflow, exact values)
/// and the map stays small; the idle reader, when it finally collects,
/// receives every measurement, at most `limit` points, the excess folded
/// into its overflow point and counted.
#[test]
fn an_idle_delta_reader_costs_only_itself() {
    diagnostics::set_silent();
    let active = ManualReader::new(TemporalityPreference::Delta);
    let idle = ManualReader::new(TemporalityPreference::Delta);
    const LIMIT: usize = 50;
    let p = MeterProvider::builder()
        .with_reader(active.clone())
        .with_reader(idle.clone())
        .with_delta_eviction_after(1)
        .with_cardinality_limit(LIMIT)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let mut total = 0u64;
    let mut reported_folds = 0u64;
    for interval in 0..20i64 {
        // 20 new attribute sets per interval: 400 in all, far above the
        // limit, but never more than 40 alive at once for the active one.
        for j in 0..20i64 {
            let v = (interval * 20 + j) as u64 + 1;
            c.add(v, &[kv("i", interval), kv("j", j)]);
            total += v;
        }
        let rm = active.collect().unwrap();
        reported_folds += folded_points(&rm);
        let pts = match &rm.metric("c").unwrap().data {
            MetricData::Sum(s) => s.points.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pts.len(), 20, "interval {interval}: {pts:?}");
        for pt in &pts {
            assert!(pt.attributes.get("otel.metric.overflow").is_none());
            let (Some(Value::I64(i)), Some(Value::I64(j))) =
                (pt.attributes.get("i"), pt.attributes.get("j"))
            else {
                panic!("{:?}", pt.attributes)
            };
            assert_eq!(*i, interval);
            assert_eq!(pt.value, Number::U64((i * 20 + j) as u64 + 1));
        }
    }
    // Two more cycles: the last interval's series go idle and settle.
    reported_folds += folded_points(&active.collect().unwrap());
    reported_folds += folded_points(&active.collect().unwrap());
    let mut got = HashMap::new();
    let rm = idle.collect().unwrap();
    totals(&rm, "c", &mut got);
    assert_eq!(got.values().sum::<u64>(), total);
    let pts = rm.metric("c").unwrap().data.len();
    assert!(pts <= LIMIT, "the idle reader got {pts} points");
    assert!(got.keys().any(|k| k.contains("otel.metric.overflow")));
    let folded = p.rejected().lagging_reader;
    assert!(folded >= (400 - LIMIT) as u64, "folded {folded}");
    assert_eq!(p.rejected().overflow, 0, "no measurement overflowed");
    // Nothing is owed twice.
    assert!(idle.collect().unwrap().metric("c").is_none());
    // The folds are visible as a self-metric too (a delta counter here).
    reported_folds += folded_points(&active.collect().unwrap());
    assert_eq!(reported_folds, folded);
}

/// The `ferrometer.reader.points.folded` self-metric's points, added up.
fn folded_points(rm: &ResourceMetrics) -> u64 {
    let Some(m) = rm.metric("ferrometer.reader.points.folded") else {
        return 0;
    };
    let MetricData::Sum(s) = &m.data else {
        panic!("{m:?}")
    };
    s.points
        .iter()
        .map(|p| match p.value {
            Number::U64(v) => v,
            other => panic!("{other:?}"),
        })
        .sum()
}

/// A delta reader whose own collection evicts a series it has not
/// reported yet reports it in that collection, not in its next one: a
/// collection made after the recording sees all of it. (It used to count
/// as possibly emitting an older cycle, so the settlement of the series
/// it evicted waited for a later cycle and its report lacked them.)
#[test]
fn a_reader_whose_collection_evicts_a_series_reports_it_in_that_collection() {
    diagnostics::set_silent();
    let (a, b) = (
        ManualReader::new(TemporalityPreference::Delta),
        ManualReader::new(TemporalityPreference::Delta),
    );
    let p = MeterProvider::builder()
        .with_reader(a.clone())
        .with_reader(b.clone())
        .with_delta_eviction_after(1)
        .with_collection_window(Duration::ZERO)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(5, &[kv("k", "v")]);
    // b's cycle sees the series for the first time; a took no part.
    let mut seen_b = HashMap::new();
    totals(&b.collect().unwrap(), "c", &mut seen_b);
    assert_eq!(seen_b.values().sum::<u64>(), 5);
    // a walks a cycle of its own, in which the idle series is evicted.
    let mut seen_a = HashMap::new();
    totals(&a.collect().unwrap(), "c", &mut seen_a);
    assert_eq!(seen_a.values().sum::<u64>(), 5);
    // And nothing more for either afterwards.
    totals(&a.collect().unwrap(), "c", &mut seen_a);
    totals(&b.collect().unwrap(), "c", &mut seen_b);
    assert_eq!(
        (seen_a.values().sum::<u64>(), seen_b.values().sum::<u64>()),
        (5, 5)
    );
}
