//! Monotonic sums never run backwards and never become infinite or NaN:
//! an add that the total cannot hold is rejected and counted, and an
//! observable counter whose observed total goes down is a reset (a new
//! start time, the new total reported from the reset).

use ferrometer::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

/// 0 for the series `s=bound`, 1 for `s=unbound`.
fn series_index(p: &NumberPoint) -> usize {
    (p.attributes.get("s") == Some(&Value::from("unbound"))) as usize
}

/// A provider with one cumulative and one delta reader.
fn setup() -> (MeterProvider, ManualReader, ManualReader) {
    diagnostics::set_silent();
    let cum = ManualReader::new(TemporalityPreference::Cumulative);
    let delta = ManualReader::new(TemporalityPreference::Delta);
    // The tests record between one reader's collection and the other's
    // and expect the second to see it: no collection window.
    let p = MeterProvider::builder()
        .with_reader(cum.clone())
        .with_reader(delta.clone())
        .with_collection_window(Duration::ZERO)
        .build();
    (p, cum, delta)
}

fn sum_points(rm: &ResourceMetrics, name: &str) -> Vec<NumberPoint> {
    match rm.metric(name).map(|m| &m.data) {
        Some(MetricData::Sum(s)) => {
            assert!(s.is_monotonic, "{name} is a monotonic sum");
            s.points.clone()
        }
        None => Vec::new(),
        Some(other) => panic!("{name}: not a sum: {other:?}"),
    }
}

fn one_point(rm: &ResourceMetrics, name: &str) -> NumberPoint {
    let pts = sum_points(rm, name);
    assert_eq!(pts.len(), 1, "{name}: {pts:?}");
    pts[0].clone()
}

fn hist_point(rm: &ResourceMetrics, name: &str) -> Option<HistogramPoint> {
    match rm.metric(name).map(|m| &m.data) {
        Some(MetricData::Histogram(h)) => {
            assert_eq!(h.points.len(), 1);
            Some(h.points[0].clone())
        }
        None => None,
        Some(other) => panic!("{name}: not a histogram: {other:?}"),
    }
}

/// A value that a monotonic delta may carry: finite and >= 0.
fn assert_sane_delta(n: Number) {
    match n {
        Number::U64(v) => assert!(v <= i64::MAX as u64 * 2, "wrapped delta {v}"),
        Number::I64(v) => assert!(v >= 0, "negative delta {v}"),
        Number::F64(v) => assert!(v.is_finite() && v >= 0.0, "bad delta {v}"),
    }
}

#[test]
fn u64_counter_add_that_would_wrap_is_rejected() {
    let (p, cum, delta) = setup();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let bound = c.bind(&[kv("b", 1i64)]);
    c.add(10, &[]);
    bound.add(10);
    let d = sum_points(&delta.collect().unwrap(), "c");
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|p| p.value == Number::U64(10)), "{d:?}");
    c.add(u64::MAX - 4, &[]);
    bound.add(u64::MAX - 4);
    let pts = sum_points(&cum.collect().unwrap(), "c");
    assert_eq!(pts.len(), 2);
    for pt in &pts {
        assert_eq!(pt.value, Number::U64(10), "the total stays at 10: {pt:?}");
    }
    // Nothing changed for the delta reader: no point, certainly no
    // wrapped one.
    let d = sum_points(&delta.collect().unwrap(), "c");
    for pt in &d {
        assert_sane_delta(pt.value);
    }
    assert!(d.is_empty(), "{d:?}");
    let rej = p.rejected();
    assert_eq!(rej.sum_overflow, 2);
    assert_eq!(rej.negative + rej.nan + rej.infinite, 0);
    // The counter keeps counting.
    c.add(1, &[]);
    bound.add(2);
    let d = sum_points(&delta.collect().unwrap(), "c");
    let mut vals: Vec<_> = d.iter().map(|p| p.value).collect();
    vals.sort_by_key(|v| v.as_f64() as u64);
    assert_eq!(vals, vec![Number::U64(1), Number::U64(2)]);
}

#[test]
fn u64_counter_holds_totals_up_to_i64_max() {
    let (p, cum, _delta) = setup();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let b = c.bind(&[kv("b", 1i64)]);
    let base = i64::MAX as u64 - 10;
    // Large values (the compare-and-swap path) and small ones (the
    // fetch-add fast paths) up to the limit, exactly.
    c.add(base, &[]);
    b.add(base);
    for _ in 0..10 {
        c.add(1, &[]);
        b.add(1);
    }
    c.add(1, &[]);
    b.add(1);
    c.add(u64::MAX, &[]);
    b.add(u64::MAX);
    c.add(1 << 40, &[]);
    b.add(1 << 40);
    for pt in sum_points(&cum.collect().unwrap(), "c") {
        assert_eq!(pt.value, Number::U64(i64::MAX as u64), "{pt:?}");
    }
    assert_eq!(p.rejected().sum_overflow, 6);
}

/// Threads add to series sitting just below the limit, through bound
/// handles (several threads adding to one word) and unbound adds (which
/// stripe the series), while a reader collects: no total it reads ever
/// decreases, and at the end every add is either in the total or counted
/// as rejected, exactly.
#[test]
fn concurrent_adds_at_the_limit_are_exact_and_never_go_backwards() {
    let (p, cum, delta) = setup();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let base = i64::MAX as u64 - 50_000;
    c.add(base, &[kv("s", "bound")]);
    c.add(base, &[kv("s", "unbound")]);
    let stop = Arc::new(AtomicBool::new(false));
    const THREADS: u64 = 4;
    const ADDS: u64 = 40_000;
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                let b = c.bind(&[kv("s", "bound")]);
                for _ in 0..ADDS {
                    b.add(1);
                    c.add(1, &[kv("s", "unbound")]);
                }
            })
        })
        .collect();
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut last = [0u64; 2];
            let mut delta_sum = [0u64; 2];
            while !stop.load(Ordering::Relaxed) {
                for pt in sum_points(&cum.collect().unwrap(), "c") {
                    let i = series_index(&pt);
                    let Number::U64(v) = pt.value else { panic!() };
                    assert!(v >= last[i], "cumulative went back: {} -> {v}", last[i]);
                    last[i] = v;
                }
                for pt in sum_points(&delta.collect().unwrap(), "c") {
                    let i = series_index(&pt);
                    assert_sane_delta(pt.value);
                    let Number::U64(v) = pt.value else { panic!() };
                    delta_sum[i] += v;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (cum, delta, delta_sum)
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (cum, delta, mut delta_sum) = reader.join().unwrap();
    for pt in sum_points(&delta.collect().unwrap(), "c") {
        let i = series_index(&pt);
        let Number::U64(v) = pt.value else { panic!() };
        delta_sum[i] += v;
    }
    let mut accepted_total = 0;
    for pt in sum_points(&cum.collect().unwrap(), "c") {
        let i = series_index(&pt);
        let Number::U64(v) = pt.value else { panic!() };
        assert!(v >= base);
        assert_eq!(delta_sum[i], v, "delta points add up to the total");
        accepted_total += v - base;
    }
    // Every add (of 1) was either accepted or counted, and the bound
    // series (one word that four threads add to) did reach its limit.
    let rejected = p.rejected().sum_overflow;
    assert!(rejected > 0);
    assert_eq!(accepted_total + rejected, 2 * THREADS * ADDS);
}

#[test]
fn f64_counter_never_becomes_infinite() {
    let (p, cum, delta) = setup();
    let c = p.meter("m").f64_counter("c").build().unwrap();
    let b = c.bind(&[kv("b", 1i64)]);
    c.add(f64::MAX, &[]);
    b.add(f64::MAX);
    let d1 = sum_points(&delta.collect().unwrap(), "c");
    assert_eq!(d1.len(), 2);
    for pt in &d1 {
        assert_eq!(pt.value, Number::F64(f64::MAX));
    }
    c.add(f64::MAX, &[]);
    b.add(f64::MAX);
    for _ in 0..3 {
        for pt in sum_points(&cum.collect().unwrap(), "c") {
            assert_eq!(pt.value, Number::F64(f64::MAX), "{pt:?}");
        }
        for pt in sum_points(&delta.collect().unwrap(), "c") {
            assert_sane_delta(pt.value);
        }
    }
    assert_eq!(p.rejected().sum_overflow, 2);
    assert_eq!(p.rejected().infinite, 0);
    // Up-down float sums cannot reach infinity either.
    let ud = p.meter("m").f64_up_down_counter("ud").build().unwrap();
    ud.add(-f64::MAX, &[]);
    ud.add(-f64::MAX, &[]);
    assert_eq!(
        sum_points_any(&cum.collect().unwrap(), "ud"),
        vec![Number::F64(-f64::MAX)]
    );
    assert_eq!(p.rejected().sum_overflow, 3);
}

fn sum_points_any(rm: &ResourceMetrics, name: &str) -> Vec<Number> {
    match rm.metric(name).map(|m| &m.data) {
        Some(MetricData::Sum(s)) => s.points.iter().map(|p| p.value).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn histogram_sum_never_becomes_infinite() {
    let (p, cum, delta) = setup();
    let h = p.meter("m").f64_histogram("h").build().unwrap();
    h.record(f64::MAX, &[]);
    let d1 = hist_point(&delta.collect().unwrap(), "h").unwrap();
    assert_eq!((d1.count, d1.sum), (1, f64::MAX));
    h.record(f64::MAX, &[]);
    h.record(1.0, &[]);
    let c = hist_point(&cum.collect().unwrap(), "h").unwrap();
    assert_eq!(c.count, 2, "the overflowing value is not in the buckets");
    assert_eq!(c.count, c.bucket_counts.iter().sum::<u64>());
    assert_eq!(c.sum, f64::MAX);
    assert_eq!(c.max, Some(f64::MAX));
    let d2 = hist_point(&delta.collect().unwrap(), "h").unwrap();
    assert_eq!(d2.count, 1);
    assert!(d2.sum.is_finite() && d2.sum >= 0.0, "delta sum {}", d2.sum);
    assert_eq!((d2.min, d2.max), (Some(1.0), Some(1.0)));
    assert_eq!(p.rejected().sum_overflow, 1);
}

#[test]
fn u64_histogram_viewed_as_a_sum_is_a_checked_u64_sum() {
    diagnostics::set_silent();
    let cum = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(cum.clone())
        .with_view(
            View::builder()
                .instrument_name("h")
                .aggregation(Aggregation::Sum)
                .build()
                .unwrap(),
        )
        .build();
    let h = p.meter("m").u64_histogram("h").build().unwrap();
    h.record(10, &[]);
    h.record(u64::MAX - 4, &[]);
    assert_eq!(
        one_point(&cum.collect().unwrap(), "h").value,
        Number::U64(10)
    );
    assert_eq!(p.rejected().sum_overflow, 1);
}

/// An observable counter whose total goes down (100 -> 50) was reset:
/// the delta reader reports 50 (the new total since the reset), the
/// cumulative reader reports 50 under a new start time, the time of its
/// previous point.
fn observable_reset(build: impl FnOnce(&Meter, Arc<AtomicU64>), to_value: fn(u64) -> Number) {
    let (p, cum, delta) = setup();
    let total = Arc::new(AtomicU64::new(100));
    build(&p.meter("m"), total.clone());
    let c1 = one_point(&cum.collect().unwrap(), "oc");
    let d1 = one_point(&delta.collect().unwrap(), "oc");
    assert_eq!((c1.value, d1.value), (to_value(100), to_value(100)));
    total.store(50, Ordering::SeqCst);
    let c2 = one_point(&cum.collect().unwrap(), "oc");
    let d2 = one_point(&delta.collect().unwrap(), "oc");
    assert_eq!(d2.value, to_value(50), "delta from the reset");
    assert_eq!(d2.start_time, d1.time);
    assert_eq!(c2.value, to_value(50));
    assert!(
        c2.start_time > c1.start_time,
        "a reset starts a new sequence"
    );
    assert_eq!(c2.start_time, c1.time);
    total.store(70, Ordering::SeqCst);
    let c3 = one_point(&cum.collect().unwrap(), "oc");
    let d3 = one_point(&delta.collect().unwrap(), "oc");
    assert_eq!((c3.value, c3.start_time), (to_value(70), c2.start_time));
    assert_eq!(d3.value, to_value(20));
    // A drop that happens between two collections of the cumulative
    // reader (seen only by the delta reader's cycle) is a reset for it too.
    total.store(10, Ordering::SeqCst);
    assert_eq!(
        one_point(&delta.collect().unwrap(), "oc").value,
        to_value(10)
    );
    total.store(90, Ordering::SeqCst);
    let c4 = one_point(&cum.collect().unwrap(), "oc");
    assert_eq!(c4.value, to_value(90));
    assert_eq!(c4.start_time, c3.time, "70 -> 10 -> 90 is a reset");
    let d4 = one_point(&delta.collect().unwrap(), "oc");
    assert_eq!(d4.value, to_value(80));
}

#[test]
fn observable_counter_that_goes_down_is_a_reset() {
    observable_reset(
        |m, t| {
            let oc = m
                .u64_observable_counter("oc")
                .with_callback(move |o| o.observe(t.load(Ordering::SeqCst), &[]))
                .build()
                .unwrap();
            std::mem::forget(oc);
        },
        Number::U64,
    );
    observable_reset(
        |m, t| {
            let oc = m
                .f64_observable_counter("oc")
                .with_callback(move |o| o.observe(t.load(Ordering::SeqCst) as f64, &[]))
                .build()
                .unwrap();
            std::mem::forget(oc);
        },
        |v| Number::F64(v as f64),
    );
    observable_reset(
        |m, t| {
            let oc = m
                .i64_observable_counter("oc")
                .with_callback(move |o| o.observe(t.load(Ordering::SeqCst) as i64, &[]))
                .build()
                .unwrap();
            std::mem::forget(oc);
        },
        |v| Number::I64(v as i64),
    );
}

#[test]
fn observable_counter_negative_zero_is_not_a_reset() {
    let (p, cum, _delta) = setup();
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let _oc = p
        .meter("m")
        .f64_observable_counter("oc")
        .with_callback(move |o| {
            let v = t.load(Ordering::SeqCst);
            o.observe(if v == 0 { -0.0 } else { v as f64 }, &[])
        })
        .build()
        .unwrap();
    let c1 = one_point(&cum.collect().unwrap(), "oc");
    total.store(5, Ordering::SeqCst);
    let c2 = one_point(&cum.collect().unwrap(), "oc");
    assert_eq!(c2.value, Number::F64(5.0));
    assert_eq!(c2.start_time, c1.start_time);
}

#[test]
fn observable_up_down_counter_going_down_is_not_a_reset() {
    let (p, cum, _delta) = setup();
    let total = Arc::new(AtomicU64::new(100));
    let t = total.clone();
    let _oc = p
        .meter("m")
        .i64_observable_up_down_counter("ud")
        .with_callback(move |o| o.observe(t.load(Ordering::SeqCst) as i64, &[]))
        .build()
        .unwrap();
    let rm = cum.collect().unwrap();
    let Some(MetricData::Sum(s1)) = rm.metric("ud").map(|m| &m.data) else {
        panic!()
    };
    total.store(50, Ordering::SeqCst);
    let rm = cum.collect().unwrap();
    let Some(MetricData::Sum(s2)) = rm.metric("ud").map(|m| &m.data) else {
        panic!()
    };
    assert_eq!(s2.points[0].value, Number::I64(50));
    assert_eq!(s2.points[0].start_time, s1.points[0].start_time);
}
