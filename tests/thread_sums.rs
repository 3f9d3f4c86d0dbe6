//! Attribute-less integer adds go to per-thread cells (`thread_sums`): a
//! thread adds to its own cell with a plain load and store, a collection
//! sums the cells. These tests check what that must not change: every add
//! counted exactly once while threads start and end, readers of both
//! temporalities collect concurrently, instruments come and go (their
//! keys are reused with the cells reset), more instruments exist than
//! keys, and values too large for a cell go to the series' own word.

use ferrometer::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn provider() -> (MeterProvider, ManualReader, ManualReader) {
    diagnostics::set_silent();
    let cumulative = ManualReader::new(TemporalityPreference::Cumulative);
    let delta = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .with_collection_window(std::time::Duration::ZERO)
        .build();
    (p, cumulative, delta)
}

/// The attribute-less point of `name`, if any.
fn empty_point(rm: &ResourceMetrics, name: &str) -> Option<Number> {
    match &rm.metric(name)?.data {
        MetricData::Sum(s) => s
            .points
            .iter()
            .find(|p| p.attributes.is_empty())
            .map(|p| p.value),
        other => panic!("{name}: not a sum: {other:?}"),
    }
}

fn u64_of(n: Option<Number>) -> u64 {
    match n {
        None => 0,
        Some(Number::U64(v)) => v,
        Some(other) => panic!("not a u64: {other:?}"),
    }
}

fn i64_of(n: Option<Number>) -> i64 {
    match n {
        None => 0,
        Some(Number::I64(v)) => v,
        Some(other) => panic!("not an i64: {other:?}"),
    }
}

/// Eight waves of four short-lived threads each (so blocks are handed from
/// ended threads to new ones), adding through the instrument and through
/// a bound handle, while a collector reads both readers in a loop: the
/// cumulative totals never go down, the counter's deltas add up to its
/// total, and the final totals are exact. (The delta preference reports
/// up-down counters cumulatively, as the specification has it.)
#[test]
fn threads_that_end_leave_every_add_counted() {
    let (p, cumulative, delta) = provider();
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let ud = m.i64_up_down_counter("ud").build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (cumulative, delta, done) = (cumulative.clone(), delta.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut last, mut delta_c, mut reads) = (0u64, 0u64, 0u32);
            while !done.load(Ordering::Acquire) || reads < 3 {
                let now = u64_of(empty_point(&cumulative.collect().unwrap(), "c"));
                assert!(now >= last, "cumulative went down: {last} -> {now}");
                last = now;
                let rm = delta.collect().unwrap();
                delta_c += u64_of(empty_point(&rm, "c"));
                reads += 1;
            }
            delta_c
        })
    };
    const WAVES: u64 = 8;
    const THREADS: u64 = 4;
    const ADDS: u64 = 20_000;
    for wave in 0..WAVES {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (c, ud) = (c.clone(), ud.clone());
                std::thread::spawn(move || {
                    let bound = c.bind(&[]);
                    for i in 0..ADDS {
                        if i % 4 == 0 {
                            bound.add(wave + t + 1);
                        } else {
                            c.add(wave + t + 1, &[]);
                        }
                        ud.add(if i % 2 == 0 { 3 } else { -1 }, &[]);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
    done.store(true, Ordering::Release);
    let delta_c = collector.join().unwrap();
    let want_c: u64 = (0..WAVES)
        .flat_map(|w| (0..THREADS).map(move |t| (w + t + 1) * ADDS))
        .sum();
    let want_ud = (WAVES * THREADS * ADDS) as i64; // +3 -1 per pair of adds
    let rm = cumulative.collect().unwrap();
    assert_eq!(u64_of(empty_point(&rm, "c")), want_c);
    assert_eq!(i64_of(empty_point(&rm, "ud")), want_ud);
    let rm = delta.collect().unwrap();
    assert_eq!(delta_c + u64_of(empty_point(&rm, "c")), want_c);
    assert_eq!(i64_of(empty_point(&rm, "ud")), want_ud);
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// A provider made and dropped 600 times (1200 keys taken, more than the
/// 1024 there are): each
/// new counter's total is exactly what was added to it, so a key given
/// back by a dropped series is reused with its cells reset.
#[test]
fn instruments_made_again_start_from_zero() {
    for round in 1..=600u64 {
        let (p, cumulative, _delta) = provider();
        let c = p.meter("m").u64_counter("c").build().unwrap();
        let ud = p.meter("m").i64_up_down_counter("ud").build().unwrap();
        c.add(round, &[]);
        c.add(1, &[]);
        ud.add(-(round as i64), &[]);
        let rm = cumulative.collect().unwrap();
        assert_eq!(u64_of(empty_point(&rm, "c")), round + 1, "round {round}");
        assert_eq!(i64_of(empty_point(&rm, "ud")), -(round as i64));
        p.shutdown().unwrap();
    }
}

/// More live attribute-less counters (1100) than keys (1024): those
/// without one use the series' own word; all are exact, from three
/// threads.
#[test]
fn more_counters_than_keys_stay_exact() {
    let (p, cumulative, _delta) = provider();
    let m = p.meter("m");
    let counters: Arc<Vec<Counter<u64>>> = Arc::new(
        (0..1100)
            .map(|i| m.u64_counter(format!("c{i}")).build().unwrap())
            .collect(),
    );
    let threads: Vec<_> = (0..3u64)
        .map(|_| {
            let counters = counters.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    for (i, c) in counters.iter().enumerate() {
                        c.add(i as u64 + 1, &[]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rm = cumulative.collect().unwrap();
    for i in 0..1100u64 {
        assert_eq!(
            u64_of(empty_point(&rm, &format!("c{i}"))),
            150 * (i + 1),
            "c{i}"
        );
    }
}

/// Values above 2^32 - 1, and adds past what one thread's cell holds
/// (2^50), go to the series' own word: nothing is lost or refused while
/// the total fits.
#[test]
fn large_values_and_a_full_cell_use_the_series_word() {
    let (p, cumulative, _delta) = provider();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let big = u64::from(u32::MAX);
    let mut want = 0u64;
    c.add(big + 1, &[]);
    want += big + 1;
    // 2^50 / (2^32 - 1) is just over 2^18 adds: go well past it.
    for _ in 0..400_000u32 {
        c.add(big, &[]);
    }
    want += 400_000 * big;
    c.add(7, &[]);
    want += 7;
    let rm = cumulative.collect().unwrap();
    assert_eq!(u64_of(empty_point(&rm, "c")), want);
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// Binding gives a series a key too (while keys last): 600 bound series
/// of two instruments (1200 keys wanted, 1024 there are), each added to
/// from three threads both through a shared bound handle and through the
/// instrument with the same attributes, are exact, for u64 counters and
/// i64 up-down counters.
#[test]
fn bound_series_from_many_threads_stay_exact() {
    let (p, cumulative, _delta) = provider();
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let ud = m.i64_up_down_counter("ud").build().unwrap();
    const SERIES: u64 = 600;
    let attrs = |i: u64| [KeyValue::new("n", i as i64)];
    let bound: Arc<Vec<_>> = Arc::new(
        (0..SERIES)
            .map(|i| (c.bind(&attrs(i)), ud.bind(&attrs(i))))
            .collect(),
    );
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (bound, c, ud) = (bound.clone(), c.clone(), ud.clone());
            std::thread::spawn(move || {
                for round in 0..20 {
                    for (i, (bc, bud)) in bound.iter().enumerate() {
                        let i = i as u64;
                        if round % 2 == 0 {
                            bc.add(i + 1);
                            bud.add(-1);
                        } else {
                            c.add(i + 1, &attrs(i));
                            ud.add(-1, &attrs(i));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rm = cumulative.collect().unwrap();
    let point = |name: &str, i: u64| match &rm.metric(name).unwrap().data {
        MetricData::Sum(s) => s
            .points
            .iter()
            .find(|p| p.attributes.get("n") == Some(&Value::I64(i as i64)))
            .map(|p| p.value),
        other => panic!("{other:?}"),
    };
    for i in 0..SERIES {
        assert_eq!(u64_of(point("c", i)), 60 * (i + 1), "c n={i}");
        assert_eq!(i64_of(point("ud", i)), -60, "ud n={i}");
    }
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// Explicit histograms count in the threads' own cells too (a key per
/// bucket): waves of short-lived threads record through the instrument
/// and a bound handle while a delta and a cumulative reader collect; the
/// final buckets, count and sum are exact and the deltas add up to them.
/// Sixty histograms (960 keys wanted) run some of them without keys.
#[test]
fn histogram_buckets_are_exact_across_threads_and_readers() {
    let (p, cumulative, delta) = provider();
    let m = p.meter("m");
    let hists: Arc<Vec<Histogram<u64>>> = Arc::new(
        (0..60)
            .map(|i| m.u64_histogram(format!("h{i}")).build().unwrap())
            .collect(),
    );
    let attrs = [KeyValue::new("k", "v")];
    let bucket_of = |v: u64| {
        aggregation::DEFAULT_BOUNDARIES
            .iter()
            .filter(|b| **b < v as f64)
            .count()
    };
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (delta, done, hists) = (delta.clone(), done.clone(), hists.clone());
        std::thread::spawn(move || {
            let mut sums = vec![vec![0u64; 16]; hists.len()];
            let mut reads = 0;
            while !done.load(Ordering::Acquire) || reads < 2 {
                add_buckets(&delta.collect().unwrap(), &mut sums);
                reads += 1;
            }
            sums
        })
    };
    const VALUES: u64 = 3_000;
    for _wave in 0..3 {
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let hists = hists.clone();
                let attrs = attrs.clone();
                std::thread::spawn(move || {
                    let bound: Vec<_> = hists.iter().map(|h| h.bind(&attrs)).collect();
                    for v in 0..VALUES {
                        let h = (v as usize + t) % hists.len();
                        if v % 2 == 0 {
                            hists[h].record(v * 7 % 12_000, &attrs);
                        } else {
                            bound[h].record(v * 7 % 12_000);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
    done.store(true, Ordering::Release);
    let mut deltas = collector.join().unwrap();
    add_buckets(&delta.collect().unwrap(), &mut deltas);
    let mut want = vec![(vec![0u64; 16], 0u64); hists.len()];
    for _wave in 0..3 {
        for t in 0..3 {
            for v in 0..VALUES {
                let h = (v as usize + t) % hists.len();
                let x = v * 7 % 12_000;
                want[h].0[bucket_of(x)] += 1;
                want[h].1 += x;
            }
        }
    }
    let rm = cumulative.collect().unwrap();
    for (i, (buckets, sum)) in want.iter().enumerate() {
        let MetricData::Histogram(h) = &rm.metric(&format!("h{i}")).unwrap().data else {
            panic!("h{i}: not a histogram")
        };
        let p = &h.points[0];
        assert_eq!(&p.bucket_counts, buckets, "h{i} buckets");
        assert_eq!(p.count, buckets.iter().sum::<u64>(), "h{i} count");
        assert_eq!(p.sum, *sum as f64, "h{i} sum");
        assert_eq!(&deltas[i], buckets, "h{i}: the deltas add up");
    }
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// Adds each histogram's bucket counts in `rm` (metric `h<i>`, one point)
/// to `into[i]`.
fn add_buckets(rm: &ResourceMetrics, into: &mut [Vec<u64>]) {
    for (i, acc) in into.iter_mut().enumerate() {
        let Some(m) = rm.metric(&format!("h{i}")) else {
            continue;
        };
        let MetricData::Histogram(h) = &m.data else {
            panic!("h{i}: not a histogram")
        };
        for p in &h.points {
            for (a, c) in acc.iter_mut().zip(&p.bucket_counts) {
                *a += c;
            }
        }
    }
}
