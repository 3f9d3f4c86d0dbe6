//! Exemplars from recording to the collected points: the filters, both
//! reservoirs, explicit and per-thread contexts, bound handles, views, and
//! delta/cumulative hand-out.

use ferrometer::*;
use std::collections::HashMap;
use std::sync::Arc;

fn ctx(i: u8, sampled: bool) -> TraceContext {
    TraceContext::new([i; 16], [i ^ 0x5a; 8], u8::from(sampled))
}

fn provider(filter: Option<ExemplarFilter>, reader: &ManualReader) -> MeterProvider {
    let mut b = MeterProvider::builder().with_reader(reader.clone());
    if let Some(f) = filter {
        b = b.with_exemplar_filter(f);
    }
    b.build()
}

/// Every exemplar of metric `name`, by the point's attribute `k`.
fn exemplars(rm: &ResourceMetrics, name: &str) -> HashMap<String, Vec<Exemplar>> {
    let mut out: HashMap<String, Vec<Exemplar>> = HashMap::new();
    let Some(m) = rm.metric(name) else { return out };
    let key = |a: &AttributeSet| format!("{:?}", a.get("k"));
    match &m.data {
        MetricData::Sum(s) => s.points.iter().for_each(|p| {
            out.entry(key(&p.attributes))
                .or_default()
                .extend(p.exemplars.clone())
        }),
        MetricData::Gauge(g) => g.points.iter().for_each(|p| {
            out.entry(key(&p.attributes))
                .or_default()
                .extend(p.exemplars.clone())
        }),
        MetricData::Histogram(h) => h.points.iter().for_each(|p| {
            out.entry(key(&p.attributes))
                .or_default()
                .extend(p.exemplars.clone())
        }),
        MetricData::ExponentialHistogram(h) => h.points.iter().for_each(|p| {
            out.entry(key(&p.attributes))
                .or_default()
                .extend(p.exemplars.clone())
        }),
    }
    out
}

fn all(rm: &ResourceMetrics, name: &str) -> Vec<Exemplar> {
    exemplars(rm, name).into_values().flatten().collect()
}

#[test]
fn trace_based_keeps_only_measurements_in_a_sampled_context() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = provider(None, &r);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    std::thread::spawn(move || {
        c.add(1, &[KeyValue::new("k", "none")]);
        TraceContext::set_current(Some(ctx(1, false)));
        c.add(2, &[KeyValue::new("k", "unsampled")]);
        TraceContext::set_current(Some(ctx(2, true)));
        c.add(3, &[KeyValue::new("k", "sampled")]);
        // An explicit context replaces the current one.
        c.add_in_context(
            4,
            &[KeyValue::new("k", "explicit-unsampled")],
            &ctx(3, false),
        );
        TraceContext::set_current(None);
        c.add_in_context(5, &[KeyValue::new("k", "explicit")], &ctx(4, true));
    })
    .join()
    .unwrap();
    let rm = r.collect().unwrap();
    let ex = exemplars(&rm, "c");
    let of = |k: &'static str| {
        ex.get(&format!("{:?}", Some(Value::from(k))))
            .cloned()
            .unwrap_or_default()
    };
    assert!(of("none").is_empty());
    assert!(of("unsampled").is_empty());
    assert!(of("explicit-unsampled").is_empty());
    let s = of("sampled");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].value, Number::U64(3));
    assert_eq!(s[0].trace_id, [2; 16]);
    assert_eq!(s[0].span_id, [2 ^ 0x5a; 8]);
    assert!(s[0].time > 0);
    let e = of("explicit");
    assert_eq!(
        (e.len(), e[0].value, e[0].trace_id),
        (1, Number::U64(5), [4; 16])
    );
    // Every measurement was counted.
    let MetricData::Sum(sum) = &rm.metric("c").unwrap().data else {
        panic!()
    };
    let total: u64 = sum
        .points
        .iter()
        .map(|p| match p.value {
            Number::U64(v) => v,
            _ => panic!(),
        })
        .sum();
    assert_eq!(total, 15);
}

#[test]
fn always_on_keeps_context_less_measurements_and_always_off_keeps_none() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = provider(Some(ExemplarFilter::AlwaysOn), &r);
    let h = p.meter("m").f64_histogram("h").build().unwrap();
    h.record(2.5, &[]);
    let ex = all(&r.collect().unwrap(), "h");
    assert_eq!(ex.len(), 1);
    assert_eq!(
        (ex[0].value, ex[0].trace_id, ex[0].span_id),
        (Number::F64(2.5), [0; 16], [0; 8])
    );

    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = provider(Some(ExemplarFilter::AlwaysOff), &r);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add_in_context(1, &[KeyValue::new("k", "v")], &ctx(1, true));
    c.bind(&[KeyValue::new("k", "v")])
        .add_in_context(1, &ctx(1, true));
    let rm = r.collect().unwrap();
    assert!(all(&rm, "c").is_empty());
    assert!(rm.metric("c").is_some(), "the measurements are recorded");
}

#[test]
fn explicit_histograms_keep_one_exemplar_per_bucket() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = provider(Some(ExemplarFilter::AlwaysOn), &r);
    let h = p
        .meter("m")
        .u64_histogram("h")
        .with_boundaries(vec![10.0, 100.0])
        .build()
        .unwrap();
    for (i, v) in [1u64, 5, 50, 500, 7].iter().enumerate() {
        h.record_in_context(*v, &[KeyValue::new("k", "a")], &ctx(i as u8 + 1, true));
    }
    // One per bucket, each one of that bucket's measurements with the
    // context it was recorded in: 1, 5 or 7 (le 10), 50 (le 100), 500.
    let ex = all(&r.collect().unwrap(), "h");
    assert_eq!(ex.len(), 3);
    let mut buckets = [0; 3];
    for e in &ex {
        let Number::U64(v) = e.value else { panic!() };
        let i = [1u64, 5, 50, 500, 7].iter().position(|x| *x == v).unwrap();
        assert_eq!(e.trace_id, [i as u8 + 1; 16]);
        buckets[usize::from(v > 10) + usize::from(v > 100)] += 1;
    }
    assert_eq!(buckets, [1, 1, 1]);
}

#[test]
fn delta_readers_get_each_exemplar_once_cumulative_ones_keep_seeing_it() {
    let d = ManualReader::new(TemporalityPreference::Delta);
    let c = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(d.clone())
        .with_reader(c.clone())
        .with_collection_window(std::time::Duration::ZERO)
        .build();
    let counter = p.meter("m").u64_counter("c").build().unwrap();
    let b = counter.bind(&[KeyValue::new("k", "b")]);
    b.add_in_context(7, &ctx(9, true));
    assert_eq!(all(&d.collect().unwrap(), "c").len(), 1);
    assert_eq!(all(&c.collect().unwrap(), "c").len(), 1);
    // Nothing new: the delta reader has none to report, the cumulative
    // one still sees the reservoir's.
    assert!(all(&d.collect().unwrap(), "c").is_empty());
    assert_eq!(all(&c.collect().unwrap(), "c").len(), 1);
    // A new interval's exemplar reaches both.
    b.add_in_context(8, &ctx(10, true));
    let de = all(&d.collect().unwrap(), "c");
    assert_eq!(
        (de.len(), de[0].value, de[0].trace_id),
        (1, Number::U64(8), [10; 16])
    );
    let ce = all(&c.collect().unwrap(), "c");
    assert_eq!((ce.len(), ce[0].value), (1, Number::U64(8)));
}

#[test]
fn views_size_the_reservoir_or_turn_exemplars_off() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_view(
            View::builder()
                .instrument_name("four")
                .exemplar_reservoir_size(4)
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("none")
                .without_exemplars()
                .build()
                .unwrap(),
        )
        .build();
    let m = p.meter("m");
    let four = m.u64_counter("four").build().unwrap();
    let none = m.u64_counter("none").build().unwrap();
    for i in 0..3 {
        four.add(i, &[]);
        none.add(i, &[]);
    }
    let rm = r.collect().unwrap();
    assert_eq!(all(&rm, "four").len(), 3, "room for 4, 3 offered");
    assert!(all(&rm, "none").is_empty());
    for i in 0..100 {
        four.add(i, &[]);
    }
    assert_eq!(all(&r.collect().unwrap(), "four").len(), 4);
    assert!(View::builder()
        .instrument_name("x")
        .exemplar_reservoir_size(100_000)
        .build()
        .is_err());
}

/// Threads recording with their own sampled contexts, current and
/// explicit, on plain and bound handles: every measurement is counted,
/// and every exemplar is one some thread recorded whole (its value names
/// the thread, whose trace id it carries).
#[test]
fn threads_with_their_own_contexts_keep_their_own_exemplars() {
    let r = ManualReader::new(TemporalityPreference::Delta);
    let p = provider(None, &r);
    let c = p.meter("m").u64_counter("c").build().unwrap();
    let per_thread = 20_000u64;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (r, stop) = (r.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(r.collect().unwrap());
            }
            seen
        })
    };
    let threads: Vec<_> = (1..=4u8)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("k", "shared")];
                let bound = c.bind(&attrs);
                TraceContext::set_current(Some(ctx(t, true)));
                for i in 0..per_thread {
                    let v = u64::from(t) * 1_000_000 + i % 1000;
                    match i % 3 {
                        0 => c.add(v, &attrs),
                        1 => bound.add(v),
                        _ => c.add_in_context(v, &attrs, &ctx(t, true)),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut collected = collector.join().unwrap();
    collected.push(r.collect().unwrap());
    let mut total = 0u64;
    let mut kept = 0;
    for rm in &collected {
        if let Some(m) = rm.metric("c") {
            let MetricData::Sum(s) = &m.data else {
                panic!()
            };
            for p in &s.points {
                let Number::U64(v) = p.value else { panic!() };
                total += v;
                assert!(p.exemplars.len() <= 1, "the default reservoir has one cell");
                for e in &p.exemplars {
                    let Number::U64(v) = e.value else { panic!() };
                    let t = (v / 1_000_000) as u8;
                    assert_eq!(e.trace_id, [t; 16], "value {v}");
                    assert_eq!(e.span_id, [t ^ 0x5a; 8]);
                    kept += 1;
                }
            }
        }
    }
    let want: u64 = (1..=4u64)
        .map(|t| {
            (0..per_thread)
                .map(|i| t * 1_000_000 + i % 1000)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(total, want);
    assert!(kept >= 1);
    assert_eq!(p.rejected(), RejectedCounts::default());
}

/// A view's attribute filter removes keys from the series; the exemplar
/// keeps the removed ones (the specification's `filtered_attributes`).
#[test]
fn exemplars_keep_the_attributes_a_view_filtered_out() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("req")
                .allowed_attribute_keys(["route"])
                .build()
                .unwrap(),
        )
        .build();
    let c = p.meter("m").u64_counter("req").build().unwrap();
    c.add_in_context(
        3,
        &[
            KeyValue::new("route", "/play"),
            KeyValue::new("user", "u-42"),
            KeyValue::new("shard", 7i64),
        ],
        &ctx(1, true),
    );
    // Nothing filtered out: no filtered attributes.
    c.add_in_context(4, &[KeyValue::new("route", "/quit")], &ctx(2, true));
    let rm = r.collect().unwrap();
    let MetricData::Sum(s) = &rm.metric("req").unwrap().data else {
        panic!()
    };
    let of = |route: &'static str| {
        s.points
            .iter()
            .find(|p| p.attributes.get("route") == Some(&Value::from(route)))
            .unwrap()
    };
    let play = of("/play");
    assert_eq!(play.attributes.len(), 1);
    assert_eq!(play.exemplars.len(), 1);
    let f = &play.exemplars[0].filtered_attributes;
    assert_eq!(f.len(), 2);
    assert_eq!(f.get("user"), Some(&Value::from("u-42")));
    assert_eq!(f.get("shard"), Some(&Value::I64(7)));
    assert!(of("/quit").exemplars[0].filtered_attributes.is_empty());
}
