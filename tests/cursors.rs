//! What a delta reader keeps per series (its cursor, in a slot the series
//! map recycles): a series that gets the slot of a series that went never
//! sees that series' previous value, and delta points start at the
//! reader's previous collection (a series' first point: at the series'
//! start).

use ferrometer::*;

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

fn sums(rm: &ResourceMetrics, name: &str) -> Vec<NumberPoint> {
    match rm.metric(name).map(|m| &m.data) {
        Some(MetricData::Sum(s)) => {
            assert_eq!(s.temporality, Temporality::Delta);
            s.points.clone()
        }
        None => Vec::new(),
        other => panic!("{name}: {other:?}"),
    }
}

fn histograms(rm: &ResourceMetrics, name: &str) -> Vec<HistogramPoint> {
    match rm.metric(name).map(|m| &m.data) {
        Some(MetricData::Histogram(h)) => {
            assert_eq!(h.temporality, Temporality::Delta);
            h.points.clone()
        }
        None => Vec::new(),
        other => panic!("{name}: {other:?}"),
    }
}

fn provider(readers: &[&ManualReader], evict_after: u32) -> MeterProvider {
    let mut b = MeterProvider::builder().with_delta_eviction_after(evict_after);
    for r in readers {
        b = b.with_reader((*r).clone());
    }
    b.build()
}

/// A removed counter series' slot goes to the next new series: that
/// series' first delta is its own total (3), not its total less the
/// removed series' (3 - 100), and starts at its own start.
#[test]
fn removed_series_slot_reused_by_counter() {
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = provider(&[&r], 0);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(100, &[kv("k", "old")]);
    let first = sums(&r.collect().unwrap(), "c");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].value, Number::U64(100));
    assert!(c.remove(&[kv("k", "old")]));
    // This collection hands the removed series' slot back to the map.
    assert!(sums(&r.collect().unwrap(), "c").is_empty());
    c.add(3, &[kv("k", "new")]);
    let pts = sums(&r.collect().unwrap(), "c");
    assert_eq!(pts.len(), 1, "{pts:?}");
    assert_eq!(pts[0].value, Number::U64(3));
    assert!(
        pts[0].start_time > first[0].time,
        "a new series starts at its own start: {pts:?}"
    );
    c.add(4, &[kv("k", "new")]);
    let pts = sums(&r.collect().unwrap(), "c");
    assert_eq!(pts[0].value, Number::U64(4));
}

/// The same for a histogram with two delta readers, one of which still
/// holds the removed series' cursor (it did not collect since): the new
/// series' first delta is its own buckets, count, sum and extremes.
#[test]
fn removed_series_slot_reused_by_histogram() {
    let a = ManualReader::new(TemporalityPreference::Delta);
    let b = ManualReader::new(TemporalityPreference::Delta);
    let p = provider(&[&a, &b], 0);
    let h = p.meter("m").f64_histogram("h").build().unwrap();
    for _ in 0..5 {
        h.record(1000.0, &[kv("k", "old")]);
    }
    for r in [&a, &b] {
        let pts = histograms(&r.collect().unwrap(), "h");
        assert_eq!((pts[0].count, pts[0].sum), (5, 5000.0));
    }
    assert!(h.remove(&[kv("k", "old")]));
    assert!(histograms(&a.collect().unwrap(), "h").is_empty());
    h.record(1.0, &[kv("k", "new")]);
    h.record(2.0, &[kv("k", "new")]);
    // Reader a's collection folds the new series' extremes into b's
    // cursors, in the slot where b still keeps the old series' buckets.
    assert_eq!(histograms(&a.collect().unwrap(), "h").len(), 1);
    // a reports the 3.0 recorded since; b everything the new series got.
    h.record(3.0, &[kv("k", "new")]);
    for (r, count, sum, min) in [(&a, 1, 3.0, 3.0), (&b, 3, 6.0, 1.0)] {
        let pts = histograms(&r.collect().unwrap(), "h");
        assert_eq!(pts.len(), 1, "{pts:?}");
        let pt = &pts[0];
        assert_eq!((pt.count, pt.sum), (count, sum), "{pt:?}");
        assert_eq!((pt.min, pt.max), (Some(min), Some(3.0)), "{pt:?}");
        // Every value is in the bucket (0, 5]: the old series' counts of
        // (750, 1000] are gone.
        let mut expect = vec![0u64; pt.bucket_counts.len()];
        expect[1] = count;
        assert_eq!(pt.bucket_counts, expect);
    }
}

/// Slots of evicted series are recycled once settled with every reader:
/// series come and go through eviction many times over, and each new
/// series' first delta is its own total.
#[test]
fn evicted_series_slots_reused() {
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = provider(&[&r], 1);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let mut total = 0u64;
    let mut expected = 0u64;
    for round in 0..20u64 {
        let v = 1000 - round;
        c.add(v, &[kv("round", round as i64)]);
        expected += v;
        for _ in 0..3 {
            for pt in sums(&r.collect().unwrap(), "c") {
                let Number::U64(x) = pt.value else {
                    panic!("{pt:?}")
                };
                assert!(x <= 1000, "a delta leaked another series' value: {pt:?}");
                total += x;
            }
        }
    }
    assert_eq!(total, expected);
}

/// A delta point starts at the reader's previous collection, also when
/// the series was unchanged (and not reported) in that collection.
#[test]
fn delta_starts_at_previous_collection() {
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = provider(&[&r], 0);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[kv("k", "a")]);
    c.add(1, &[kv("k", "b")]);
    let t1 = sums(&r.collect().unwrap(), "c")[0].time;
    c.add(1, &[kv("k", "b")]);
    let second = sums(&r.collect().unwrap(), "c");
    assert_eq!(second.len(), 1, "only b changed: {second:?}");
    let t2 = second[0].time;
    assert_eq!(second[0].start_time, t1);
    c.add(5, &[kv("k", "a")]);
    let third = sums(&r.collect().unwrap(), "c");
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].value, Number::U64(5));
    assert_eq!(third[0].start_time, t2, "a was unchanged at t2");
    assert!(t2 > t1);
}
