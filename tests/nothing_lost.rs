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

/// One thread per entry of `ops`, each recording its ops on `c` and `h`
/// (bound or not, as each op says); returns once all of them started.
fn start_recording(
    c: &Counter<u64>,
    h: &Histogram<u64>,
    ops: &[Vec<Op>],
) -> Vec<std::thread::JoinHandle<()>> {
    let barrier = Arc::new(Barrier::new(ops.len() + 1));
    let hs = ops
        .iter()
        .cloned()
        .map(|thread_ops| {
            let (c, h, b) = (c.clone(), h.clone(), barrier.clone());
            std::thread::spawn(move || {
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
            })
        })
        .collect();
    barrier.wait();
    hs
}

/// What `ops` recorded, by series: the counter's totals and the
/// histogram's counts.
fn wanted(ops: &[Vec<Op>]) -> (HashMap<i64, u64>, HashMap<i64, u64>) {
    let mut want_c: HashMap<i64, u64> = HashMap::new();
    let mut want_n: HashMap<i64, u64> = HashMap::new();
    for op in ops.iter().flatten() {
        *want_c.entry(op.series as i64).or_default() += op.value as u64;
        *want_n.entry(op.series as i64).or_default() += 1;
    }
    (want_c, want_n)
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
        let hs = start_recording(&c, &h, &ops);
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

        let (want_c, want_n) = wanted(&ops);
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

/// How one round of collections runs.
#[derive(Clone, Debug)]
enum Round {
    /// The readers (indices) collect one after another, in this order.
    OneAfterAnother(Vec<usize>),
    /// The readers collect at the same moment, each on its own thread.
    Together(Vec<usize>),
}

/// One reader's view of what it collected: its totals (summed deltas, or
/// the latest cumulative values) and the times of its collections.
#[derive(Default)]
struct Seen {
    counter: HashMap<i64, u64>,
    histogram: HashMap<i64, (u64, f64)>,
    times: Vec<u64>,
}

impl Seen {
    fn take(&mut self, rm: &ResourceMetrics, delta: bool) {
        let (c, h) = sums(rm);
        if delta {
            for (k, v) in c {
                *self.counter.entry(k).or_default() += v;
            }
            for (k, v) in h {
                let e = self.histogram.entry(k).or_insert((0, 0.0));
                e.0 += v.0;
                e.1 += v.1;
            }
        } else {
            // A cumulative reader's series never go back.
            for (k, v) in &c {
                assert!(*v >= self.counter.get(k).copied().unwrap_or(0));
            }
            self.counter.extend(c);
            self.histogram.extend(h);
        }
        let times: Vec<u64> = rm
            .scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter())
            .flat_map(|m| match &m.data {
                MetricData::Sum(s) => s.points.iter().map(|p| p.time).collect::<Vec<_>>(),
                MetricData::Histogram(h) => h.points.iter().map(|p| p.time).collect(),
                _ => Vec::new(),
            })
            .collect();
        if let Some(t) = times.first() {
            assert!(times.iter().all(|x| x == t), "one time per collection");
            self.times.push(*t);
        }
    }
}

fn round_strategy(readers: usize) -> impl Strategy<Value = Round> {
    let order = Just((0..readers).collect::<Vec<_>>()).prop_shuffle();
    (order, any::<bool>(), 1..=readers).prop_map(|(order, together, n)| {
        let picked = order[..n].to_vec();
        if together {
            Round::Together(picked)
        } else {
            Round::OneAfterAnother(picked)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    /// The same property with up to four readers of mixed temporalities
    /// sharing cycles: collecting at the same moment (one cycle), one
    /// after another within the collection window (served from the
    /// previous cycle's reading) or with the window disabled, and with
    /// eviction of idle series when every reader is delta. No reader
    /// misses or double-counts a measurement, and each reader's
    /// collections carry strictly increasing times.
    #[test]
    fn readers_sharing_cycles_see_exactly_what_was_recorded(
        ops in prop::collection::vec(
            prop::collection::vec((0u8..6, 1u32..1000, any::<bool>()).prop_map(|(series, value, bound)| Op { series, value, bound }), 1..150),
            1..4),
        delta in prop::collection::vec(any::<bool>(), 1..5),
        window_on in any::<bool>(),
        evict in any::<bool>(),
        rounds in (1usize..5).prop_flat_map(|n| prop::collection::vec(round_strategy(4), 1..=n)),
    ) {
        diagnostics::set_silent();
        let readers: Vec<ManualReader> = delta
            .iter()
            .map(|d| ManualReader::new(if *d { TemporalityPreference::Delta } else { TemporalityPreference::Cumulative }))
            .collect();
        let mut b = MeterProvider::builder()
            .with_delta_eviction_after(u32::from(evict))
            .with_collection_window(if window_on { std::time::Duration::from_secs(30) } else { std::time::Duration::ZERO });
        for r in &readers {
            b = b.with_reader(r.clone());
        }
        let p = b.build();
        let m = p.meter("prop");
        let c = m.u64_counter("c").build().unwrap();
        let h = m.u64_histogram("h").build().unwrap();
        let hs = start_recording(&c, &h, &ops);
        let mut seen: Vec<Seen> = readers.iter().map(|_| Seen::default()).collect();
        let collect = |seen: &mut Vec<Seen>, round: &Round| match round {
            Round::OneAfterAnother(order) => {
                for i in order.iter().filter(|i| **i < readers.len()) {
                    seen[*i].take(&readers[*i].collect().unwrap(), delta[*i]);
                }
            }
            Round::Together(which) => {
                let which: Vec<usize> = which.iter().copied().filter(|i| *i < readers.len()).collect();
                let go = Arc::new(Barrier::new(which.len()));
                let got: Vec<(usize, ResourceMetrics)> = which
                    .iter()
                    .map(|i| {
                        let (r, go, i) = (readers[*i].clone(), go.clone(), *i);
                        std::thread::spawn(move || {
                            go.wait();
                            (i, r.collect().unwrap())
                        })
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|t| t.join().unwrap())
                    .collect();
                for (i, rm) in got {
                    seen[i].take(&rm, delta[i]);
                }
            }
        };
        for round in &rounds {
            collect(&mut seen, round);
        }
        for t in hs { t.join().unwrap(); }
        // Two final rounds: a reader's first collection after the
        // recording may be served from a cycle read before it ended; its
        // second one never is (it emitted that cycle, and any later cycle
        // began after its first).
        let all = Round::OneAfterAnother((0..readers.len()).collect());
        collect(&mut seen, &all);
        collect(&mut seen, &all);

        let (want_c, want_n) = wanted(&ops);
        for (i, s) in seen.iter().enumerate() {
            prop_assert_eq!(&s.counter, &want_c, "reader {} (delta: {})", i, delta[i]);
            for (k, n) in &want_n {
                prop_assert_eq!(s.histogram[k].0, *n);
                prop_assert_eq!(s.histogram[k].1, want_c[k] as f64);
            }
            prop_assert!(s.times.windows(2).all(|w| w[0] < w[1]), "reader {} times {:?}", i, s.times);
        }
        prop_assert_eq!(p.rejected(), RejectedCounts::default());
    }
}
