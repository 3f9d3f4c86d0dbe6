//! Behaviour of the core engine through the public API.

use ferrometer::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

fn setup(pref: TemporalityPreference) -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let r = ManualReader::new(pref);
    let p = MeterProvider::builder()
        .with_resource(Resource::new([kv("service.name", "test")]))
        .with_reader(r.clone())
        .build();
    (p, r)
}

fn sum_points(rm: &ResourceMetrics, name: &str) -> Vec<NumberPoint> {
    match &rm
        .metric(name)
        .unwrap_or_else(|| panic!("no metric {name}"))
        .data
    {
        MetricData::Sum(s) => s.points.clone(),
        other => panic!("{name}: not a sum: {other:?}"),
    }
}

fn value_for(points: &[NumberPoint], attrs: &[KeyValue]) -> Option<Number> {
    let set = AttributeSet::from_attrs(attrs);
    points.iter().find(|p| p.attributes == set).map(|p| p.value)
}

#[test]
fn counter_cumulative_and_attribute_order() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p
        .meter("m")
        .u64_counter("requests")
        .with_unit("1")
        .build()
        .unwrap();
    c.add(1, &[kv("a", "x"), kv("b", 1i64)]);
    c.add(2, &[kv("b", 1i64), kv("a", "x")]);
    c.add(5, &[]);
    let rm = r.collect().unwrap();
    let pts = sum_points(&rm, "requests");
    assert_eq!(pts.len(), 2);
    assert_eq!(
        value_for(&pts, &[kv("a", "x"), kv("b", 1i64)]),
        Some(Number::U64(3))
    );
    assert_eq!(value_for(&pts, &[]), Some(Number::U64(5)));
    match &rm.metric("requests").unwrap().data {
        MetricData::Sum(s) => {
            assert!(s.is_monotonic);
            assert_eq!(s.temporality, Temporality::Cumulative);
        }
        _ => unreachable!(),
    }
    // Cumulative keeps reporting totals and the start time stays.
    c.add(1, &[]);
    let pts2 = sum_points(&r.collect().unwrap(), "requests");
    assert_eq!(value_for(&pts2, &[]), Some(Number::U64(6)));
    let s1 = pts
        .iter()
        .find(|p| p.attributes.is_empty())
        .unwrap()
        .start_time;
    let s2 = pts2
        .iter()
        .find(|p| p.attributes.is_empty())
        .unwrap()
        .start_time;
    assert_eq!(s1, s2);
}

#[test]
fn delta_reports_changes_only() {
    let (p, r) = setup(TemporalityPreference::Delta);
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let ud = m.i64_up_down_counter("ud").build().unwrap();
    c.add(3, &[kv("k", "a")]);
    c.add(4, &[kv("k", "b")]);
    ud.add(-2, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(
        value_for(&sum_points(&rm, "c"), &[kv("k", "a")]),
        Some(Number::U64(3))
    );
    c.add(10, &[kv("k", "a")]);
    ud.add(-1, &[]);
    let rm = r.collect().unwrap();
    let pts = sum_points(&rm, "c");
    assert_eq!(pts.len(), 1, "unchanged series b is not reported: {pts:?}");
    assert_eq!(pts[0].value, Number::U64(10));
    // Up-down counters stay cumulative under the delta preference.
    assert_eq!(
        value_for(&sum_points(&rm, "ud"), &[]),
        Some(Number::I64(-3))
    );
    // Delta start time = previous report time.
    let t_prev = pts[0].time;
    c.add(1, &[kv("k", "a")]);
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(pts[0].start_time, t_prev);
}

#[test]
fn low_memory_preference_per_kind() {
    let sel = |k| {
        let r = ManualReader::new(TemporalityPreference::LowMemory);
        r.core().selector().temporality(k)
    };
    assert_eq!(sel(InstrumentKind::Counter), Temporality::Delta);
    assert_eq!(sel(InstrumentKind::Histogram), Temporality::Delta);
    assert_eq!(
        sel(InstrumentKind::ObservableCounter),
        Temporality::Cumulative
    );
    assert_eq!(sel(InstrumentKind::UpDownCounter), Temporality::Cumulative);
    assert_eq!(
        sel(InstrumentKind::ObservableUpDownCounter),
        Temporality::Cumulative
    );
    let d = ManualReader::new(TemporalityPreference::Delta);
    assert_eq!(
        d.core()
            .selector()
            .temporality(InstrumentKind::ObservableCounter),
        Temporality::Delta
    );
    assert_eq!(
        d.core()
            .selector()
            .temporality(InstrumentKind::UpDownCounter),
        Temporality::Cumulative
    );
    assert_eq!(
        TemporalityPreference::parse("LowMemory"),
        Some(TemporalityPreference::LowMemory)
    );
    assert_eq!(TemporalityPreference::parse("x"), None);
}

#[test]
fn multiple_readers_do_not_disturb_each_other() {
    diagnostics::set_silent();
    let cum = ManualReader::new(TemporalityPreference::Cumulative);
    let d1 = ManualReader::new(TemporalityPreference::Delta);
    let d2 = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(cum.clone())
        .with_reader(d1.clone())
        .with_reader(d2.clone())
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(5, &[]);
    assert_eq!(
        sum_points(&d1.collect().unwrap(), "c")[0].value,
        Number::U64(5)
    );
    c.add(2, &[]);
    assert_eq!(
        sum_points(&d1.collect().unwrap(), "c")[0].value,
        Number::U64(2)
    );
    // d2 has not collected yet: it sees everything.
    assert_eq!(
        sum_points(&d2.collect().unwrap(), "c")[0].value,
        Number::U64(7)
    );
    assert_eq!(
        sum_points(&cum.collect().unwrap(), "c")[0].value,
        Number::U64(7)
    );
    assert_eq!(
        sum_points(&cum.collect().unwrap(), "c")[0].value,
        Number::U64(7)
    );
}

#[test]
fn float_counter_rejects_bad_values_and_counts_them() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p.meter("m").f64_counter("f").build().unwrap();
    c.add(1.5, &[]);
    c.add(f64::NAN, &[]);
    c.add(-1.0, &[]);
    c.add(f64::INFINITY, &[]);
    let h = p.meter("m").f64_histogram("h").build().unwrap();
    h.record(f64::NAN, &[]);
    h.record(-3.0, &[]);
    let ud = p.meter("m").f64_up_down_counter("ud").build().unwrap();
    ud.add(-1.0, &[]);
    ud.add(f64::NEG_INFINITY, &[]);
    let g = p.meter("m").f64_gauge("g").build().unwrap();
    g.record(f64::NAN, &[]);
    g.record(f64::INFINITY, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(sum_points(&rm, "f")[0].value, Number::F64(1.5));
    assert_eq!(sum_points(&rm, "ud")[0].value, Number::F64(-1.0));
    assert!(rm.metric("h").is_none(), "nothing valid was recorded in h");
    let rej = p.rejected();
    assert_eq!(rej.nan, 3);
    assert_eq!(rej.negative, 2);
    assert_eq!(rej.infinite, 2);
}

#[test]
fn histogram_default_buckets_and_consistency() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let h = p
        .meter("m")
        .f64_histogram("lat")
        .with_unit("ms")
        .build()
        .unwrap();
    for v in [0.0, 5.0, 7.0, 10000.0, 20000.0] {
        h.record(v, &[kv("route", "/")]);
    }
    let rm = r.collect().unwrap();
    let MetricData::Histogram(hd) = &rm.metric("lat").unwrap().data else {
        panic!()
    };
    let pt = &hd.points[0];
    assert_eq!(&*pt.bounds, &aggregation::DEFAULT_BOUNDARIES[..]);
    assert_eq!(pt.bucket_counts.len(), 16);
    assert_eq!(pt.bucket_counts[0], 1); // 0 <= 0
    assert_eq!(pt.bucket_counts[1], 1); // 5 <= 5
    assert_eq!(pt.bucket_counts[2], 1); // 7 <= 10
    assert_eq!(pt.bucket_counts[14], 1); // 10000 <= 10000
    assert_eq!(pt.bucket_counts[15], 1); // +Inf
    assert_eq!(pt.count, 5);
    assert_eq!(pt.count, pt.bucket_counts.iter().sum::<u64>());
    assert_eq!(pt.sum, 30012.0);
    assert_eq!((pt.min, pt.max), (Some(0.0), Some(20000.0)));
}

#[test]
fn histogram_custom_boundaries_and_delta_min_max() {
    let (p, r) = setup(TemporalityPreference::Delta);
    let h = p
        .meter("m")
        .u64_histogram("size")
        .with_boundaries(vec![10.0, 100.0])
        .build()
        .unwrap();
    h.record(50, &[]);
    h.record(5, &[]);
    let rm = r.collect().unwrap();
    let MetricData::Histogram(hd) = &rm.metric("size").unwrap().data else {
        panic!()
    };
    assert_eq!(hd.temporality, Temporality::Delta);
    assert_eq!(hd.points[0].bucket_counts, vec![1, 1, 0]);
    assert_eq!(
        (hd.points[0].min, hd.points[0].max),
        (Some(5.0), Some(50.0))
    );
    h.record(500, &[]);
    let rm = r.collect().unwrap();
    let MetricData::Histogram(hd) = &rm.metric("size").unwrap().data else {
        panic!()
    };
    assert_eq!(hd.points[0].bucket_counts, vec![0, 0, 1]);
    assert_eq!(hd.points[0].count, 1);
    assert_eq!(hd.points[0].sum, 500.0);
    assert_eq!(
        (hd.points[0].min, hd.points[0].max),
        (Some(500.0), Some(500.0))
    );
    // Bad boundaries are refused at creation.
    for b in [vec![], vec![2.0, 1.0], vec![1.0, f64::NAN], vec![1.0, 1.0]] {
        let e = p
            .meter("m")
            .f64_histogram("bad")
            .with_boundaries(b)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidBoundaries(_)), "{e}");
    }
}

#[test]
fn gauges_last_value_and_explicit_timestamps() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let g = p.meter("m").i64_gauge("temp").build().unwrap();
    g.record(3, &[]);
    g.record(-7, &[]);
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    g.record_at(42, &[kv("room", "a")], t);
    let rm = r.collect().unwrap();
    let MetricData::Gauge(gd) = &rm.metric("temp").unwrap().data else {
        panic!()
    };
    assert_eq!(value_for(&gd.points, &[]), Some(Number::I64(-7)));
    let a = gd.points.iter().find(|p| !p.attributes.is_empty()).unwrap();
    assert_eq!(a.value, Number::I64(42));
    assert_eq!(a.time, 1_700_000_000_000_000_000);
    assert!(a.explicit_time);
    let b = gd.points.iter().find(|p| p.attributes.is_empty()).unwrap();
    assert!(!b.explicit_time);
}

#[test]
fn observable_instruments_and_callbacks() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let m = p.meter("m");
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let _g = m
        .i64_observable_gauge("queue.depth")
        .with_callback(move |g| {
            let n = c2.fetch_add(1, Ordering::SeqCst) as i64;
            g.observe(10 + n, &[kv("q", "main")]);
        })
        .build()
        .unwrap();
    let oc = m.u64_observable_counter("bytes").build().unwrap();
    let oud = m.f64_observable_up_down_counter("balance").build().unwrap();
    let (oc2, oud2) = (oc.clone(), oud.clone());
    let total = Arc::new(AtomicUsize::new(100));
    let t2 = total.clone();
    let reg = m.register_callback(move || {
        oc2.observe(t2.load(Ordering::SeqCst) as u64, &[]);
        oud2.observe(-2.5, &[]);
    });
    let rm = r.collect().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let MetricData::Gauge(gd) = &rm.metric("queue.depth").unwrap().data else {
        panic!()
    };
    assert_eq!(gd.points[0].value, Number::I64(10));
    assert_eq!(sum_points(&rm, "bytes")[0].value, Number::U64(100));
    assert_eq!(sum_points(&rm, "balance")[0].value, Number::F64(-2.5));
    // Unregistered: the multi-instrument callback stops; unobserved series
    // disappear from the next cycle.
    assert!(reg.unregister());
    assert!(!reg.unregister());
    let rm = r.collect().unwrap();
    assert!(rm.metric("bytes").is_none());
    let MetricData::Gauge(gd) = &rm.metric("queue.depth").unwrap().data else {
        panic!()
    };
    assert_eq!(gd.points[0].value, Number::I64(11));
}

#[test]
fn observable_counter_delta() {
    let (p, r) = setup(TemporalityPreference::Delta);
    let total = Arc::new(AtomicUsize::new(10));
    let t2 = total.clone();
    let _c = p
        .meter("m")
        .u64_observable_counter("bytes")
        .with_callback(move |c| c.observe(t2.load(Ordering::SeqCst) as u64, &[]))
        .build()
        .unwrap();
    assert_eq!(
        sum_points(&r.collect().unwrap(), "bytes")[0].value,
        Number::U64(10)
    );
    total.store(25, Ordering::SeqCst);
    assert_eq!(
        sum_points(&r.collect().unwrap(), "bytes")[0].value,
        Number::U64(15)
    );
}

#[test]
fn callbacks_run_once_per_cycle_with_concurrent_collectors() {
    diagnostics::set_silent();
    let readers: Vec<ManualReader> = (0..4).map(|_| ManualReader::default()).collect();
    let mut b = MeterProvider::builder();
    for r in &readers {
        b = b.with_reader(r.clone());
    }
    let p = b.build();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let _g = p
        .meter("m")
        .i64_observable_gauge("g")
        .with_callback(move |g| {
            c2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            g.observe(1, &[]);
        })
        .build()
        .unwrap();
    let hs: Vec<_> = readers
        .iter()
        .map(|r| {
            let r = r.clone();
            std::thread::spawn(move || r.collect().unwrap().point_count())
        })
        .collect();
    let counts: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(counts.iter().all(|c| *c == 1), "{counts:?}");
    // Four concurrent collections coalesce: fewer callback runs than readers.
    let n = calls.load(Ordering::SeqCst);
    assert!(n < 4, "callback ran {n} times for 4 concurrent collections");
}

#[test]
fn panicking_callback_is_counted_and_isolated() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let m = p.meter("m");
    let _bad = m
        .i64_observable_gauge("bad")
        .with_callback(|_| panic!("boom"))
        .build()
        .unwrap();
    let _good = m
        .i64_observable_gauge("good")
        .with_callback(|g| g.observe(1, &[]))
        .build()
        .unwrap();
    let rm = r.collect().unwrap();
    assert!(rm.metric("good").is_some());
    assert_eq!(p.rejected().callback_panics, 1);
}

#[test]
fn invalid_names_units_descriptions_are_refused() {
    let (p, _r) = setup(TemporalityPreference::Cumulative);
    let m = p.meter("m");
    assert!(matches!(
        m.u64_counter("1abc").build(),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        m.u64_counter("").build(),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        m.u64_counter("a b").build(),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        m.u64_counter("x".repeat(256)).build(),
        Err(Error::InvalidName(_))
    ));
    assert!(m.u64_counter("x".repeat(255)).build().is_ok());
    assert!(matches!(
        m.u64_counter("a").with_unit("µs").build(),
        Err(Error::InvalidUnit(_))
    ));
    assert!(matches!(
        m.u64_counter("a").with_description("😀").build(),
        Err(Error::InvalidDescription(_))
    ));
}

#[test]
fn same_scope_same_meter() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let s = InstrumentationScope::new("lib").with_version("1.0");
    let a = p
        .meter_with_scope(s.clone())
        .u64_counter("c")
        .build()
        .unwrap();
    let b = p.meter_with_scope(s).u64_counter("c").build().unwrap();
    let other = p.meter_with_scope(InstrumentationScope::new("lib").with_version("2.0"));
    other.u64_counter("c").build().unwrap().add(100, &[]);
    a.add(1, &[]);
    b.add(1, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(rm.scope_metrics.len(), 2);
    let v1 = rm
        .scope_metrics
        .iter()
        .find(|s| s.scope.version() == Some("1.0"))
        .unwrap();
    match &v1.metrics[0].data {
        MetricData::Sum(s) => assert_eq!(s.points[0].value, Number::U64(2)),
        _ => panic!(),
    }
}

#[test]
fn cardinality_limit_overflow_keeps_everything() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_cardinality_limit(5)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    for i in 0..10i64 {
        c.add(1, &[kv("id", i)]);
    }
    // Series created before the limit keep being updated.
    c.add(10, &[kv("id", 0i64)]);
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(pts.len(), 5, "4 series + overflow");
    let total: u64 = pts
        .iter()
        .map(|p| match p.value {
            Number::U64(v) => v,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 20, "nothing dropped, nothing counted twice");
    let of = pts
        .iter()
        .find(|p| p.attributes.get("otel.metric.overflow") == Some(&Value::Bool(true)))
        .unwrap();
    assert_eq!(of.value, Number::U64(6));
    assert_eq!(value_for(&pts, &[kv("id", 0i64)]), Some(Number::U64(11)));
    assert_eq!(p.rejected().overflow, 6);
}

#[test]
fn views_rename_filter_aggregate_limit_and_drop() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("http.requests")
                .stream_name("reqs")
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("http.requests")
                .stream_name("reqs_by_method")
                .allowed_attribute_keys(["method"])
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("lat*")
                .aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![1.0, 2.0],
                    record_min_max: false,
                })
                .denied_attribute_keys(["user"])
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("noisy")
                .aggregation(Aggregation::Drop)
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_kind(InstrumentKind::UpDownCounter)
                .cardinality_limit(2)
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("as.gauge")
                .aggregation(Aggregation::LastValue)
                .build()
                .unwrap(),
        )
        .build();
    let m = p.meter("m");
    let c = m.u64_counter("http.requests").build().unwrap();
    c.add(1, &[kv("method", "GET"), kv("status", 200i64)]);
    c.add(1, &[kv("method", "GET"), kv("status", 500i64)]);
    let h = m.f64_histogram("latency").build().unwrap();
    h.record(1.5, &[kv("user", "u1"), kv("route", "/")]);
    h.record(3.0, &[kv("user", "u2"), kv("route", "/")]);
    m.u64_counter("noisy").build().unwrap().add(1, &[]);
    let ud = m.i64_up_down_counter("conns").build().unwrap();
    for i in 0..5i64 {
        ud.add(1, &[kv("i", i)]);
    }
    let g = m.u64_counter("as.gauge").build().unwrap();
    g.add(5, &[]);
    g.add(7, &[]);
    let rm = r.collect().unwrap();
    assert!(rm.metric("http.requests").is_none());
    assert_eq!(sum_points(&rm, "reqs").len(), 2);
    let by_method = sum_points(&rm, "reqs_by_method");
    assert_eq!(by_method.len(), 1);
    assert_eq!(by_method[0].value, Number::U64(2));
    let MetricData::Histogram(hd) = &rm.metric("latency").unwrap().data else {
        panic!()
    };
    assert_eq!(hd.points.len(), 1);
    assert_eq!(hd.points[0].bucket_counts, vec![0, 1, 1]);
    assert_eq!(hd.points[0].min, None);
    assert!(rm.metric("noisy").is_none());
    assert_eq!(
        sum_points(&rm, "conns").len(),
        2,
        "limit 2 = 1 series + overflow"
    );
    let MetricData::Gauge(gd) = &rm.metric("as.gauge").unwrap().data else {
        panic!()
    };
    assert_eq!(gd.points[0].value, Number::U64(7));
}

#[test]
fn bound_instruments_survive_collections() {
    let (p, r) = setup(TemporalityPreference::Delta);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let b = c.bind(&[kv("hot", true)]);
    b.add(2);
    c.add(1, &[kv("hot", true)]);
    assert_eq!(
        sum_points(&r.collect().unwrap(), "c")[0].value,
        Number::U64(3)
    );
    b.add(4);
    assert_eq!(
        sum_points(&r.collect().unwrap(), "c")[0].value,
        Number::U64(4)
    );
    let h = p.meter("m").f64_histogram("h").build().unwrap().bind(&[]);
    h.record(1.0);
    let g = p.meter("m").f64_gauge("g").build().unwrap().bind(&[]);
    g.record(9.5);
    let ud = p
        .meter("m")
        .f64_up_down_counter("ud")
        .build()
        .unwrap()
        .bind(&[]);
    ud.add(-0.5);
    let rm = r.collect().unwrap();
    assert!(rm.metric("h").is_some() && rm.metric("g").is_some());
    assert_eq!(sum_points(&rm, "ud")[0].value, Number::F64(-0.5));
}

#[test]
fn remove_series_and_remove_all() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[kv("k", "a")]);
    c.add(1, &[kv("k", "b")]);
    c.add(1, &[]);
    assert_eq!(sum_points(&r.collect().unwrap(), "c").len(), 3);
    assert!(c.remove(&[kv("k", "a")]));
    assert!(!c.remove(&[kv("k", "a")]));
    assert!(c.remove(&[]));
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(pts.len(), 1);
    // A removed series starts again from zero.
    c.add(5, &[kv("k", "a")]);
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(value_for(&pts, &[kv("k", "a")]), Some(Number::U64(5)));
    c.remove_all();
    assert!(r.collect().unwrap().metric("c").is_none());
    c.add(1, &[kv("k", "z")]);
    assert_eq!(sum_points(&r.collect().unwrap(), "c").len(), 1);
}

#[test]
fn delta_only_series_are_evicted() {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_delta_eviction_after(2)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let bound = c.bind(&[kv("bound", true)]);
    for i in 0..100i64 {
        c.add(1, &[kv("i", i)]);
    }
    bound.add(1);
    assert_eq!(sum_points(&r.collect().unwrap(), "c").len(), 101);
    for _ in 0..3 {
        r.collect().unwrap();
    }
    // Evicted series come back from zero: a delta reader sees just the new value.
    c.add(3, &[kv("i", 7i64)]);
    bound.add(2);
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(pts.len(), 2);
    assert_eq!(value_for(&pts, &[kv("i", 7i64)]), Some(Number::U64(3)));
    assert_eq!(value_for(&pts, &[kv("bound", true)]), Some(Number::U64(2)));
}

#[test]
fn no_eviction_with_a_cumulative_reader() {
    diagnostics::set_silent();
    let d = ManualReader::new(TemporalityPreference::Delta);
    let cum = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(d.clone())
        .with_reader(cum.clone())
        .with_delta_eviction_after(1)
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(4, &[kv("i", 1i64)]);
    for _ in 0..5 {
        d.collect().unwrap();
    }
    assert_eq!(
        sum_points(&cum.collect().unwrap(), "c")[0].value,
        Number::U64(4)
    );
}

#[test]
fn shutdown_is_idempotent_and_counts_late_recordings() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let b = c.bind(&[]);
    c.add(1, &[]);
    assert!(p.force_flush(Duration::from_secs(1)).is_ok());
    p.shutdown_with_timeout(Duration::from_secs(1)).unwrap();
    assert!(p.shutdown().is_ok());
    c.add(1, &[]);
    b.add(1);
    assert_eq!(p.rejected().after_shutdown, 2);
    assert!(matches!(r.collect(), Err(Error::Shutdown)));
    assert!(matches!(
        p.force_flush(Duration::from_secs(1)),
        Err(Error::Shutdown)
    ));
    // Instruments created after shutdown are usable no-ops.
    let late = p.meter("m").u64_counter("late").build().unwrap();
    late.add(1, &[]);
    assert_eq!(p.rejected().after_shutdown, 3);
}

#[test]
fn shutdown_concurrent_with_recording_and_collection() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hs = Vec::new();
    for t in 0..2i64 {
        let (c, stop) = (c.clone(), stop.clone());
        hs.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.add(1, &[kv("t", t)]);
                n += 1;
            }
            n
        }));
    }
    let r2 = r.clone();
    let collector = std::thread::spawn(move || while r2.collect().is_ok() {});
    std::thread::sleep(Duration::from_millis(50));
    p.shutdown().unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    collector.join().unwrap();
}

#[test]
fn reader_registration_errors() {
    let r = ManualReader::default();
    assert!(matches!(r.collect(), Err(Error::ReaderNotRegistered)));
    let p = MeterProvider::builder().with_reader(r.clone()).build();
    let p2 = MeterProvider::builder().build();
    assert!(matches!(
        p2.add_reader(r.clone()),
        Err(Error::ReaderAlreadyRegistered)
    ));
    let late = ManualReader::default();
    p.add_reader(late.clone()).unwrap();
    p.meter("m").u64_counter("c").build().unwrap().add(1, &[]);
    assert_eq!(late.collect().unwrap().point_count(), 1);
}

#[test]
fn resource_and_scope_are_in_the_snapshot() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let m = p.meter_with_scope(
        InstrumentationScope::new("engine")
            .with_version("2.1")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([kv("shard", 3i64)]),
    );
    m.u64_counter("c").build().unwrap().add(1, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(rm.resource.get("service.name"), Some(&Value::from("test")));
    let s = &rm.scope_metrics[0].scope;
    assert_eq!((s.name(), s.version()), ("engine", Some("2.1")));
    assert_eq!(s.attributes().get("shard"), Some(&Value::I64(3)));
    let pt = &sum_points(&rm, "c")[0];
    let now = ferrometer::time::to_nanos(SystemTime::now());
    assert!(pt.start_time <= pt.time && pt.time <= now);
}

#[test]
fn duplicate_attribute_keys_last_wins() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[kv("k", "first"), kv("k", "second")]);
    c.add(1, &[kv("k", "second")]);
    let pts = sum_points(&r.collect().unwrap(), "c");
    assert_eq!(pts.len(), 1);
    assert_eq!(value_for(&pts, &[kv("k", "second")]), Some(Number::U64(2)));
}

#[test]
fn prepared_attribute_sets_are_reusable() {
    let (p, r) = setup(TemporalityPreference::Cumulative);
    let set = AttributeSet::from([kv("b", 2i64), kv("a", "x")]);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    for _ in 0..3 {
        c.add(1, set.as_slice());
    }
    c.add(1, &[kv("a", "x"), kv("b", 2i64)]);
    assert_eq!(
        value_for(&sum_points(&r.collect().unwrap(), "c"), set.as_slice()),
        Some(Number::U64(4))
    );
}

/// A bound handle used by the thread that bound it and by others at once
/// (the owner takes the plain atomic add, the others the add that stripes
/// the cell under contention): every add counted, with a delta reader
/// collecting in between.
#[test]
fn bound_handle_shared_by_threads_counts_exactly() {
    diagnostics::set_silent();
    let delta = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder().with_reader(delta.clone()).build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let bound = std::sync::Arc::new(c.bind(&[kv("shared", true)]));
    let n = 200_000u64;
    let others: Vec<_> = (0..3)
        .map(|_| {
            let b = bound.clone();
            std::thread::spawn(move || (0..n).for_each(|_| b.add(1)))
        })
        .collect();
    let mut total = 0u64;
    let take = |total: &mut u64| {
        for pt in sum_points(&delta.collect().unwrap(), "c") {
            if let Number::U64(v) = pt.value {
                *total += v;
            }
        }
    };
    for i in 0..n {
        bound.add(2);
        if i % 50_000 == 0 {
            take(&mut total);
        }
    }
    for h in others {
        h.join().unwrap();
    }
    take(&mut total);
    assert_eq!(total, 3 * n + 2 * n);
}
