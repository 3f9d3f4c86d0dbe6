//! Property: with several recording threads and a cumulative and a delta
//! reader collecting in between, every reader's totals equal exactly what
//! was recorded.

use ferrometer::*;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};

#[derive(Clone, Debug)]
struct Op {
    series: u8,
    value: u32,
    bound: bool,
}

fn key(attrs: &AttributeSet) -> i64 {
    match attrs.get("s") {
        Some(Value::I64(i)) => *i,
        Some(Value::Bool(true)) => -1, // overflow series never appears here
        other => panic!("unexpected attributes {other:?}"),
    }
}

fn sums(rm: &ResourceMetrics) -> (HashMap<i64, u64>, HashMap<i64, (u64, f64)>) {
    let mut c = HashMap::new();
    let mut h = HashMap::new();
    for m in rm.scope_metrics.iter().flat_map(|s| s.metrics.iter()) {
        match &m.data {
            MetricData::Sum(s) => {
                for p in &s.points {
                    let Number::U64(v) = p.value else { panic!() };
                    *c.entry(key(&p.attributes)).or_default() += v;
                }
            }
            MetricData::Histogram(hd) => {
                for p in &hd.points {
                    assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
                    let e = h.entry(key(&p.attributes)).or_insert((0, 0.0));
                    e.0 += p.count;
                    e.1 += p.sum;
                }
            }
            MetricData::Gauge(_) | MetricData::ExponentialHistogram(_) => {}
        }
    }
    (c, h)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn every_reader_sees_exactly_what_was_recorded(
        ops in prop::collection::vec(
            prop::collection::vec((0u8..6, 1u32..1000, any::<bool>()).prop_map(|(series, value, bound)| Op { series, value, bound }), 1..200),
            2..5),
        collects in 1usize..6,
    ) {
        diagnostics::set_silent();
        let cum = ManualReader::new(TemporalityPreference::Cumulative);
        let delta = ManualReader::new(TemporalityPreference::Delta);
        let p = MeterProvider::builder()
            .with_reader(cum.clone())
            .with_reader(delta.clone())
            .with_delta_eviction_after(0)
            .build();
        let m = p.meter("prop");
        let c = m.u64_counter("c").build().unwrap();
        let h = m.u64_histogram("h").build().unwrap();
        let threads = ops.len();
        let barrier = Arc::new(Barrier::new(threads + 1));
        let mut hs = Vec::new();
        for thread_ops in ops.clone() {
            let (c, h, b) = (c.clone(), h.clone(), barrier.clone());
            hs.push(std::thread::spawn(move || {
                b.wait();
                for op in thread_ops {
                    let attrs = [KeyValue::new("s", op.series as i64)];
                    if op.bound {
                        c.bind(&attrs).add(op.value as u64);
                        h.bind(&attrs).record(op.value as u64);
                    } else {
                        c.add(op.value as u64, &attrs);
                        h.record(op.value as u64, &attrs);
                    }
                }
            }));
        }
        barrier.wait();
        let mut delta_c: HashMap<i64, u64> = HashMap::new();
        let mut delta_h: HashMap<i64, (u64, f64)> = HashMap::new();
        for _ in 0..collects {
            let (dc, dh) = sums(&delta.collect().unwrap());
            for (k, v) in dc { *delta_c.entry(k).or_default() += v; }
            for (k, v) in dh { let e = delta_h.entry(k).or_insert((0, 0.0)); e.0 += v.0; e.1 += v.1; }
            let _ = cum.collect().unwrap();
        }
        for t in hs { t.join().unwrap(); }
        let (dc, dh) = sums(&delta.collect().unwrap());
        for (k, v) in dc { *delta_c.entry(k).or_default() += v; }
        for (k, v) in dh { let e = delta_h.entry(k).or_insert((0, 0.0)); e.0 += v.0; e.1 += v.1; }
        let (cum_c, cum_h) = sums(&cum.collect().unwrap());

        let mut want_c: HashMap<i64, u64> = HashMap::new();
        let mut want_n: HashMap<i64, u64> = HashMap::new();
        for op in ops.iter().flatten() {
            *want_c.entry(op.series as i64).or_default() += op.value as u64;
            *want_n.entry(op.series as i64).or_default() += 1;
        }
        prop_assert_eq!(&cum_c, &want_c);
        prop_assert_eq!(&delta_c, &want_c);
        for (k, n) in &want_n {
            prop_assert_eq!(cum_h[k].0, *n);
            prop_assert_eq!(delta_h[k].0, *n);
            prop_assert_eq!(cum_h[k].1, want_c[k] as f64);
            prop_assert_eq!(delta_h[k].1, want_c[k] as f64);
        }
        prop_assert_eq!(p.rejected(), RejectedCounts::default());
    }
}
