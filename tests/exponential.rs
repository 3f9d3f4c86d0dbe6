//! Base2 exponential histograms through the public API (issue 13): chosen
//! by a view or as every histogram's default, for cumulative and delta
//! readers, bound handles, negative values, overflow, and concurrent
//! recording with collections (nothing lost).

use ferrometer::*;
use std::sync::Arc;

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

fn exponential(max_size: u32) -> Aggregation {
    Aggregation::Base2ExponentialHistogram {
        max_size,
        max_scale: 20,
        record_min_max: true,
    }
}

fn provider(pref: TemporalityPreference, views: Vec<View>) -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let r = ManualReader::new(pref);
    let mut b = MeterProvider::builder().with_reader(r.clone());
    for v in views {
        b = b.with_view(v);
    }
    (b.build(), r)
}

fn view(name: &str, a: Aggregation) -> View {
    View::builder()
        .instrument_name(name)
        .aggregation(a)
        .build()
        .unwrap()
}

fn points(rm: &ResourceMetrics, name: &str) -> (Temporality, Vec<ExponentialHistogramPoint>) {
    match &rm.metric(name).unwrap_or_else(|| panic!("no {name}")).data {
        MetricData::ExponentialHistogram(h) => (h.temporality, h.points.clone()),
        other => panic!("{name}: not an exponential histogram: {other:?}"),
    }
}

/// The bucket of a positive integer at scale 0: `(2^i, 2^(i+1)]`.
fn scale0_index(v: u64) -> i32 {
    (64 - (v - 1).leading_zeros()) as i32 - 1
}

#[test]
fn a_view_makes_a_histogram_exponential_and_its_buckets_hold_what_was_recorded() {
    let (p, r) = provider(
        TemporalityPreference::Cumulative,
        vec![view("size", exponential(20))],
    );
    let h = p.meter("m").f64_histogram("size").build().unwrap();
    let attrs = [kv("route", "/a")];
    for v in 1..=1000u64 {
        h.record(v as f64, &attrs);
    }
    let rm = r.collect().unwrap();
    let (t, pts) = points(&rm, "size");
    assert_eq!(t, Temporality::Cumulative);
    assert_eq!(pts.len(), 1);
    let pt = &pts[0];
    assert_eq!(pt.count, 1000);
    assert_eq!(pt.sum, 500_500.0);
    assert_eq!((pt.min, pt.max), (Some(1.0), Some(1000.0)));
    assert_eq!(pt.zero_count, 0);
    assert!(pt.negative.counts.is_empty());
    // 1..=1000 spans indices -1..=9 at scale 0 (11 buckets); at scale 1
    // it would need 21, more than 20: the histogram settled at scale 0.
    assert_eq!(pt.scale, 0);
    let mut expected = vec![0u64; 11];
    for v in 1..=1000u64 {
        expected[(scale0_index(v) + 1) as usize] += 1;
    }
    assert_eq!(pt.positive.offset, -1);
    assert_eq!(pt.positive.counts, expected);
}

#[test]
fn delta_readers_get_what_changed_since_their_last_collection() {
    let (p, r) = provider(
        TemporalityPreference::Delta,
        vec![view("lat", Aggregation::base2_exponential_histogram())],
    );
    let h = p.meter("m").f64_histogram("lat").build().unwrap();
    for v in [1.0, 2.0, 4.0] {
        h.record(v, &[]);
    }
    let (t, first) = points(&r.collect().unwrap(), "lat");
    assert_eq!(t, Temporality::Delta);
    assert_eq!((first[0].count, first[0].sum), (3, 7.0));
    // A range a thousand times wider: the scale drops, and the second
    // delta holds only the new values, at the new scale.
    for v in [0.001, 1000.0] {
        h.record(v, &[]);
    }
    let (_, second) = points(&r.collect().unwrap(), "lat");
    let d = &second[0];
    assert_eq!(d.count, 2);
    assert_eq!(d.sum, 1000.001);
    assert_eq!((d.min, d.max), (Some(0.001), Some(1000.0)));
    assert!(d.scale < first[0].scale);
    assert_eq!(d.positive.total(), 2);
    assert_eq!(d.start_time, first[0].time);
    // Nothing new: no point.
    let rm = r.collect().unwrap();
    assert!(rm.metric("lat").is_none_or(|m| m.data.is_empty()));
}

#[test]
fn negative_values_and_zero_have_their_own_buckets() {
    let (p, r) = provider(
        TemporalityPreference::Cumulative,
        vec![view("balance", exponential(160))],
    );
    let c = p.meter("m").i64_up_down_counter("balance").build().unwrap();
    for v in [-3, -5, 0, 7, -5] {
        c.add(v, &[]);
    }
    let (_, pts) = points(&r.collect().unwrap(), "balance");
    let pt = &pts[0];
    assert_eq!(pt.count, 5);
    assert_eq!(pt.zero_count, 1);
    assert_eq!(pt.negative.total(), 3);
    assert_eq!(pt.positive.total(), 1);
    assert_eq!(pt.sum, -6.0);
    assert_eq!((pt.min, pt.max), (Some(-5.0), Some(7.0)));
}

#[test]
fn bound_u64_histograms_record_into_the_same_series() {
    let (p, r) = provider(
        TemporalityPreference::Cumulative,
        vec![view("bytes", exponential(160))],
    );
    let h = p.meter("m").u64_histogram("bytes").build().unwrap();
    let attrs = [kv("dir", "in")];
    let bound = h.bind(&attrs);
    for v in 1..=100u64 {
        bound.record(v);
    }
    h.record(1 << 20, &attrs);
    let (_, pts) = points(&r.collect().unwrap(), "bytes");
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0].count, 101);
    assert_eq!(pts[0].sum, 5050.0 + (1u64 << 20) as f64);
}

#[test]
fn the_provider_default_makes_every_histogram_exponential_unless_a_view_says_otherwise() {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_default_histogram_aggregation(Aggregation::base2_exponential_histogram())
        .with_view(view("explicit", Aggregation::default_histogram()))
        .build();
    let m = p.meter("m");
    m.f64_histogram("plain").build().unwrap().record(3.0, &[]);
    m.f64_histogram("explicit")
        .build()
        .unwrap()
        .record(3.0, &[]);
    let rm = r.collect().unwrap();
    assert!(matches!(
        rm.metric("plain").unwrap().data,
        MetricData::ExponentialHistogram(_)
    ));
    assert!(matches!(
        rm.metric("explicit").unwrap().data,
        MetricData::Histogram(_)
    ));
}

#[test]
fn invalid_parameters_are_refused_by_the_view() {
    for (max_size, max_scale) in [(1, 20), (16385, 20), (160, 21), (160, -11)] {
        let v = View::builder()
            .instrument_name("x")
            .aggregation(Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max: true,
            })
            .build();
        assert!(v.is_err(), "{max_size} {max_scale} accepted");
    }
}

#[test]
fn past_the_cardinality_limit_measurements_go_to_the_overflow_point() {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("h")
                .aggregation(exponential(160))
                .cardinality_limit(2)
                .build()
                .unwrap(),
        )
        .build();
    let h = p.meter("m").f64_histogram("h").build().unwrap();
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        h.record((i + 1) as f64, &[kv("k", *k)]);
    }
    let (_, pts) = points(&r.collect().unwrap(), "h");
    assert_eq!(pts.len(), 2);
    assert_eq!(pts.iter().map(|p| p.count).sum::<u64>(), 3);
    let overflow = AttributeSet::from_attrs(&[kv("otel.metric.overflow", true)]);
    assert_eq!(
        pts.iter()
            .find(|p| p.attributes == overflow)
            .map(|p| p.count),
        Some(2)
    );
}

/// Threads record over a range that forces downscales while a delta
/// reader collects: the deltas add up to exactly what was recorded.
#[test]
fn concurrent_recording_with_downscales_and_collections_loses_nothing() {
    let (p, r) = provider(
        TemporalityPreference::Delta,
        vec![view("load", exponential(32))],
    );
    let h = p.meter("m").f64_histogram("load").build().unwrap();
    const THREADS: u64 = 4;
    const PER: u64 = 50_000;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let r = r.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut count = 0u64;
            let mut take = |rm: ResourceMetrics| {
                if let Some(m) = rm.metric("load") {
                    if let MetricData::ExponentialHistogram(e) = &m.data {
                        for p in &e.points {
                            let buckets = p.zero_count + p.positive.total() + p.negative.total();
                            assert_eq!(p.count, buckets, "inconsistent point");
                            count += p.count;
                        }
                    }
                }
            };
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                take(r.collect().unwrap());
            }
            take(r.collect().unwrap());
            count
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    // Values from 2^-20 to 2^20: many downscales.
                    let e = ((i * 7 + t * 13) % 41) as i32 - 20;
                    h.record(2f64.powi(e), &[kv("t", (t % 2) as i64)]);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let count = collector.join().unwrap();
    assert_eq!(count, THREADS * PER);
}
