//! Host producers supply base2 exponential histogram points: a valid point
//! reaches the snapshot unchanged; every invalid one is refused with
//! `InvalidArgument`, counted on the registration and never exported.

use ferrometer::producer::{
    ExponentialHistogramValue, PointKind, ProducedMetric, ProducerBatch, MAX_EXPONENTIAL_SCALE,
    MIN_EXPONENTIAL_SCALE,
};
use ferrometer::{
    diagnostics, Error, ExponentialBuckets, InstrumentationScope, KeyValue, ManualReader,
    MeterProvider, MetricData, Number, Resource, Temporality,
};
use std::sync::{Arc, Mutex};

const T0: u64 = 1_700_000_000_000_000_000;

fn provider(reader: &ManualReader) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build()
}

fn exp_metric() -> ProducedMetric {
    ProducedMetric::new(
        "packet.size",
        PointKind::ExponentialHistogram {
            temporality: Temporality::Delta,
        },
    )
    .with_unit("By")
}

/// What each refused call returned, by name.
type Outcomes = Vec<(&'static str, Result<(), Error>)>;

const POS: [u64; 3] = [4, 0, 1];
const NEG: [u64; 1] = [3];

/// A valid value: 2 zeros, 5 positive and 3 negative measurements.
fn good() -> ExponentialHistogramValue<'static> {
    ExponentialHistogramValue {
        scale: -3,
        count: 10,
        sum: 41.5,
        min_max: Some((-300.0, 90.0)),
        zero_count: 2,
        zero_threshold: 1e-6,
        positive_offset: -1,
        positive_counts: &POS,
        negative_offset: 7,
        negative_counts: &NEG,
    }
}

#[test]
fn a_valid_point_reaches_the_snapshot_unchanged() {
    let reader = ManualReader::default();
    let p = provider(&reader);
    let m = exp_metric();
    let _reg = p.register_producer(
        InstrumentationScope::new("net"),
        move |b: &mut ProducerBatch| {
            b.add_exponential_histogram(&m, &[KeyValue::new("if", "eth0")], &good(), T0 + 5, T0)
        },
    );
    let rm = reader.collect().unwrap();
    let metric = rm.metric("packet.size").unwrap();
    assert_eq!(&*metric.unit, "By");
    let MetricData::ExponentialHistogram(h) = &metric.data else {
        panic!("exponential histogram expected: {:?}", metric.data)
    };
    assert_eq!(h.temporality, Temporality::Delta);
    assert_eq!(h.points.len(), 1);
    let pt = &h.points[0];
    let v = good();
    assert_eq!((pt.start_time, pt.time), (T0, T0 + 5));
    assert_eq!((pt.count, pt.sum, pt.scale), (v.count, v.sum, v.scale));
    assert_eq!((pt.min, pt.max), (Some(-300.0), Some(90.0)));
    assert_eq!((pt.zero_count, pt.zero_threshold), (2, 1e-6));
    assert_eq!(
        pt.positive,
        ExponentialBuckets {
            offset: -1,
            counts: POS.to_vec()
        }
    );
    assert_eq!(
        pt.negative,
        ExponentialBuckets {
            offset: 7,
            counts: NEG.to_vec()
        }
    );
    // The data model's invariant holds for what the producer accepted.
    assert_eq!(
        pt.count,
        pt.zero_count + pt.positive.total() + pt.negative.total()
    );
}

#[test]
fn invalid_points_are_refused_and_counted() {
    diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = provider(&reader);
    let m = exp_metric();
    let results: Arc<Mutex<Outcomes>> = Arc::default();
    let r2 = results.clone();
    let reg = p.register_producer(
        InstrumentationScope::new("net"),
        move |b: &mut ProducerBatch| {
            let mut out = Vec::new();
            let mut n = 0i64;
            let mut add =
                |b: &mut ProducerBatch, what, m: &ProducedMetric, v: ExponentialHistogramValue| {
                    n += 1;
                    out.push((
                        what,
                        b.add_exponential_histogram(m, &[KeyValue::new("n", n)], &v, 0, 0),
                    ));
                };
            // Accepted first (a name's first accepted point fixes its shape).
            // The extremes of the scale range and an empty point are fine.
            for (i, scale) in [MIN_EXPONENTIAL_SCALE, MAX_EXPONENTIAL_SCALE]
                .into_iter()
                .enumerate()
            {
                b.add_exponential_histogram(
                    &m,
                    &[KeyValue::new("ok", i as i64)],
                    &ExponentialHistogramValue { scale, ..good() },
                    0,
                    0,
                )
                .expect("scale at the end of the range");
            }
            b.add_exponential_histogram(&m, &[], &ExponentialHistogramValue::default(), 0, 0)
                .expect("empty point");
            let big = [u64::MAX, 1];
            let lots = [1u64; 4];
            add(
                b,
                "scale too low",
                &m,
                ExponentialHistogramValue {
                    scale: MIN_EXPONENTIAL_SCALE - 1,
                    ..good()
                },
            );
            add(
                b,
                "scale too high",
                &m,
                ExponentialHistogramValue {
                    scale: MAX_EXPONENTIAL_SCALE + 1,
                    ..good()
                },
            );
            add(
                b,
                "count too high",
                &m,
                ExponentialHistogramValue {
                    count: 11,
                    ..good()
                },
            );
            add(
                b,
                "count too low",
                &m,
                ExponentialHistogramValue { count: 9, ..good() },
            );
            add(
                b,
                "counts overflow",
                &m,
                ExponentialHistogramValue {
                    positive_counts: &big,
                    count: 0,
                    ..good()
                },
            );
            add(
                b,
                "NaN sum",
                &m,
                ExponentialHistogramValue {
                    sum: f64::NAN,
                    ..good()
                },
            );
            add(
                b,
                "infinite sum",
                &m,
                ExponentialHistogramValue {
                    sum: f64::INFINITY,
                    ..good()
                },
            );
            add(
                b,
                "min above max",
                &m,
                ExponentialHistogramValue {
                    min_max: Some((5.0, 1.0)),
                    ..good()
                },
            );
            add(
                b,
                "NaN min",
                &m,
                ExponentialHistogramValue {
                    min_max: Some((f64::NAN, 1.0)),
                    ..good()
                },
            );
            add(
                b,
                "negative zero threshold",
                &m,
                ExponentialHistogramValue {
                    zero_threshold: -1.0,
                    ..good()
                },
            );
            add(
                b,
                "NaN zero threshold",
                &m,
                ExponentialHistogramValue {
                    zero_threshold: f64::NAN,
                    ..good()
                },
            );
            add(
                b,
                "indices past i32",
                &m,
                ExponentialHistogramValue {
                    positive_offset: i32::MAX - 2,
                    positive_counts: &lots,
                    count: 2 + 4 + 3,
                    ..good()
                },
            );
            let explicit = ProducedMetric::new("latency", PointKind::HISTOGRAM);
            add(b, "not an exponential histogram", &explicit, good());
            // One shape per name: the same name as an explicit histogram.
            let clash = ProducedMetric::new("packet.size", PointKind::HISTOGRAM).with_unit("By");
            out.push((
                "shape conflict",
                b.add_histogram(&clash, &[], &[1.0], &[1, 1], 2.0, None, 0, 0),
            ));
            // A number point for an exponential histogram metric is refused.
            out.push((
                "number point",
                b.add_number(&m, &[], Number::F64(1.0), 0, 0),
            ));
            *r2.lock().unwrap() = out;
            Ok(())
        },
    );
    let rm = reader.collect().unwrap();
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 15);
    for (what, r) in results.iter() {
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "{what}: expected a refusal, got {r:?}"
        );
    }
    assert_eq!(reg.refused(), 15);
    let MetricData::ExponentialHistogram(h) = &rm.metric("packet.size").unwrap().data else {
        panic!()
    };
    // Only the three valid points were kept.
    assert_eq!(h.points.len(), 3);
    let scales: Vec<i32> = h.points.iter().map(|p| p.scale).collect();
    assert_eq!(scales, vec![-10, 20, 0]);
    assert!(rm.metric("latency").is_none());
}
