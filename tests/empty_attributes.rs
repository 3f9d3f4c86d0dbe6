//! The attribute-less recording path: its series is found without a pin
//! (anchored in the series map), so these tests check that removal,
//! eviction, views, the cardinality limit, shutdown and concurrent
//! collection all still see every measurement exactly once.

use ferrometer::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn provider(pref: TemporalityPreference) -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let r = ManualReader::new(pref);
    let p = MeterProvider::builder().with_reader(r.clone()).build();
    (p, r)
}

/// The sum points of `name` as (attributes, value), or none when the
/// metric is absent.
fn sums(rm: &ResourceMetrics, name: &str) -> Vec<(AttributeSet, Number)> {
    match rm.metric(name).map(|m| &m.data) {
        None => Vec::new(),
        Some(MetricData::Sum(s)) => s
            .points
            .iter()
            .map(|p| (p.attributes.clone(), p.value))
            .collect(),
        Some(other) => panic!("{name}: not a sum: {other:?}"),
    }
}

fn empty_total(rm: &ResourceMetrics, name: &str) -> Option<Number> {
    sums(rm, name)
        .into_iter()
        .find(|(a, _)| a.is_empty())
        .map(|(_, v)| v)
}

/// Each removal unlinks the series; the next add starts a new one from
/// zero. More removals than the map anchors (it anchors a few, then falls
/// back to the pinned lookup) must not change that.
#[test]
fn removed_empty_series_start_again_from_zero_every_time() {
    let (p, r) = provider(TemporalityPreference::Cumulative);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let ud = p.meter("m").i64_up_down_counter("ud").build().unwrap();
    for round in 1..=12u64 {
        for _ in 0..round {
            c.add(2, &[]);
            ud.add(-1, &[]);
        }
        let rm = r.collect().unwrap();
        assert_eq!(
            empty_total(&rm, "c"),
            Some(Number::U64(2 * round)),
            "round {round}"
        );
        assert_eq!(empty_total(&rm, "ud"), Some(Number::I64(-(round as i64))));
        if round % 2 == 0 {
            assert!(c.remove(&[]));
            assert!(!c.remove(&[]));
            assert!(ud.remove(&[]));
        } else {
            c.remove_all();
            ud.remove_all();
        }
        let rm = r.collect().unwrap();
        assert_eq!(empty_total(&rm, "c"), None, "round {round}: removed");
        assert_eq!(empty_total(&rm, "ud"), None);
    }
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// With a delta reader and eviction after one idle cycle, the
/// attribute-less series reports each interval's change and nothing when
/// idle, however long it stays idle.
#[test]
fn delta_empty_series_reports_changes_across_idle_cycles() {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_delta_eviction_after(1)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    for (i, n) in [3u64, 0, 0, 0, 7, 0, 1].into_iter().enumerate() {
        for _ in 0..n {
            c.add(1, &[]);
        }
        let got = empty_total(&r.collect().unwrap(), "c");
        let want = (n > 0).then_some(Number::U64(n));
        assert_eq!(got, want, "cycle {i}");
    }
}

/// A view whose filter drops every key sends attributed measurements to
/// the same empty series as attribute-less ones; a second view on the
/// same instrument gets each measurement too.
#[test]
fn views_filtering_to_no_attributes_share_the_empty_series() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("c")
                .stream_name("all")
                .allowed_attribute_keys(Vec::<String>::new())
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("c")
                .stream_name("kept")
                .build()
                .unwrap(),
        )
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[]);
    c.add(10, &[KeyValue::new("k", "v")]);
    c.add(100, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(
        sums(&rm, "all"),
        vec![(AttributeSet::empty(), Number::U64(111))]
    );
    assert_eq!(empty_total(&rm, "kept"), Some(Number::U64(101)));
    let kept = AttributeSet::from_attrs(&[KeyValue::new("k", "v")]);
    assert!(sums(&rm, "kept").contains(&(kept, Number::U64(10))));
}

/// At a cardinality limit of 1 there is no room for a regular series: the
/// attribute-less measurements go to the overflow series, counted.
#[test]
fn empty_attributes_at_the_cardinality_limit_go_to_overflow() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_cardinality_limit(1)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    for _ in 0..5 {
        c.add(2, &[]);
    }
    let overflow = AttributeSet::from_attrs(&[KeyValue::new("otel.metric.overflow", true)]);
    assert_eq!(
        sums(&r.collect().unwrap(), "c"),
        vec![(overflow, Number::U64(10))]
    );
    assert_eq!(p.rejected().overflow, 5);
}

/// Rejections on the attribute-less path are counted like on any other:
/// after shutdown, past a u64 total's limit, NaN and negative values.
#[test]
fn empty_attribute_rejections_are_counted() {
    let (p, r) = provider(TemporalityPreference::Cumulative);
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let f = m.f64_counter("f").build().unwrap();
    c.add(u64::MAX / 2, &[]);
    c.add(u64::MAX / 2, &[]);
    // 2 * (2^63 - 1) fits no u64 total that never wraps: refused.
    c.add(u64::MAX / 2 + 1, &[]);
    f.add(f64::NAN, &[]);
    f.add(-1.0, &[]);
    f.add(0.5, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(empty_total(&rm, "f"), Some(Number::F64(0.5)));
    let rej = p.rejected();
    assert_eq!((rej.sum_overflow, rej.nan, rej.negative), (2, 1, 1));
    let Some(Number::U64(total)) = empty_total(&rm, "c") else {
        panic!("no u64 total")
    };
    assert_eq!(total, u64::MAX / 2);
    p.shutdown().unwrap();
    c.add(1, &[]);
    assert_eq!(p.rejected().after_shutdown, 1);
}

/// Four threads add to one attribute-less series while a delta reader
/// collects: the deltas sum to exactly what was added (the anchored
/// series is read like any other, its contended cell stripes).
#[test]
fn concurrent_empty_adds_against_delta_collection_lose_nothing() {
    const THREADS: u64 = 4;
    const ADDS: u64 = 200_000;
    let (p, r) = provider(TemporalityPreference::Delta);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (r, done) = (r.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = 0u64;
            while !done.load(Ordering::Acquire) {
                if let Some(Number::U64(v)) = empty_total(&r.collect().unwrap(), "c") {
                    seen += v;
                }
            }
            seen
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..ADDS {
                    c.add(1 + (i + t) % 3, &[]);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let mut seen = collector.join().unwrap();
    if let Some(Number::U64(v)) = empty_total(&r.collect().unwrap(), "c") {
        seen += v;
    }
    let want: u64 = (0..THREADS)
        .map(|t| (0..ADDS).map(|i| 1 + (i + t) % 3).sum::<u64>())
        .sum();
    assert_eq!(seen, want);
}
