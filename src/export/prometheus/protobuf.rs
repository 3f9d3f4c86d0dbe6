//! The Prometheus protobuf exposition: varint-length-delimited
//! `io.prometheus.client.MetricFamily` messages ([`CONTENT_TYPE`]), the
//! only exposition that carries native histograms.
//!
//! The messages are declared below with `prost`, with the field numbers of
//! client_model's `io/prometheus/client/metrics.proto` (proto2: optional
//! scalars with presence, repeated scalars unpacked); only the fields
//! ferrometer writes are declared (no summaries, untyped values, float
//! counts or units).
//!
//! Families, names, HELP, labels (sanitizing, reserved names, scope
//! labels, `target_info`) and the collision and duplicate rules are those
//! of the text encoder (shared code in [`super::encode`]); the family name
//! of a counter carries `_total` when the text format's would.
//!
//! | OpenTelemetry point         | `Metric`                                        |
//! |-----------------------------|-------------------------------------------------|
//! | monotonic cumulative sum    | `counter { value, created_timestamp }`          |
//! | gauge, non-monotonic sum    | `gauge { value }`                               |
//! | explicit histogram          | `histogram { sample_count, sample_sum, bucket*, created_timestamp }`: one bucket per bound, cumulative counts; the `+Inf` bucket is left implicit (it is `sample_count`) |
//! | exponential histogram       | native `histogram { schema, zero_threshold, zero_count, positive/negative spans and deltas, sample_count, sample_sum, created_timestamp }` |
//!
//! Exponential histogram points become native histograms: the schema is
//! the point's scale, capped at 8 (Prometheus' finest) by downscaling the
//! buckets ([`ExponentialBuckets::downscaled`]); bucket index `i` of
//! OpenTelemetry, `(base^i, base^(i+1)]`, is Prometheus bucket `i + 1`,
//! whose upper bound is `base^(i+1)`. Spans cover runs of non-empty
//! buckets; deltas are each bucket's count minus the previous bucket's
//! (across spans, the first against 0). A point without any bucket gets
//! one empty span, so Prometheus still reads it as a native histogram.
//! Scales below -4 (Prometheus' coarsest schema) cannot be represented
//! (the buckets cannot be split): such points are left out, warned about
//! once per metric and counted in the returned number of points left out,
//! like the samples of a name conflict.
//!
//! Exemplars: a counter carries its point's latest exemplar (by time) in
//! `Counter.exemplar`; a classic histogram's `Bucket` the latest exemplar
//! whose value it holds (`upper_bound` inclusive), and when the `+Inf`
//! bucket holds one, that bucket is written explicitly (count =
//! `sample_count`) to carry it; a native histogram lists its point's
//! exemplars that have a time in `Histogram.exemplars` (client_model
//! requires a timestamp there). Labels as in OpenMetrics (ids, then
//! filtered attributes within 128 characters), value as a double,
//! timestamp with nanoseconds. Gauges carry none.
//!
//! Sample timestamps (`timestamp_ms`) are written for points that carry an
//! explicit timestamp when [`EncodeOptions::timestamps`] is on; a start
//! time becomes `created_timestamp` of counters and histograms.

use super::encode::{
    bucket_exemplars, exemplar_label_pairs, families, label_pairs, latest, scope_label_pairs,
    warn_once, Family, Naming, Reserved,
};
use super::names::PromKind;
use super::EncodeOptions;
use crate::attributes::AttributeSet;
use crate::collect::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogramPoint, Gauge, HistogramPoint, MetricData,
    Number, NumberPoint, ScopeMetrics, Sum,
};
use crate::export::cumulative_bucket_counts;
use prost::Message;
use std::collections::HashSet;

/// The HTTP `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The finest native histogram schema Prometheus accepts; finer scales are
/// downscaled to it.
pub const MAX_SCHEMA: i32 = 8;
/// The coarsest native histogram schema Prometheus accepts; points of a
/// coarser scale are left out.
pub const MIN_SCHEMA: i32 = -4;

/// The `io.prometheus.client` messages (client_model metrics.proto).
#[allow(missing_docs)]
pub mod proto {
    /// `io.prometheus.client.LabelPair`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    /// `io.prometheus.client.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Counter = 0,
        Gauge = 1,
        Summary = 2,
        Untyped = 3,
        Histogram = 4,
        GaugeHistogram = 5,
    }

    /// `io.prometheus.client.Gauge`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(double, optional, tag = "1")]
        pub value: Option<f64>,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// `io.prometheus.client.Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(double, optional, tag = "2")]
        pub value: Option<f64>,
        #[prost(message, optional, tag = "3")]
        pub timestamp: Option<Timestamp>,
    }

    /// `io.prometheus.client.Counter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        #[prost(double, optional, tag = "1")]
        pub value: Option<f64>,
        #[prost(message, optional, tag = "2")]
        pub exemplar: Option<Exemplar>,
        #[prost(message, optional, tag = "3")]
        pub created_timestamp: Option<Timestamp>,
    }

    /// `io.prometheus.client.Bucket` (float count not written).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bucket {
        #[prost(uint64, optional, tag = "1")]
        pub cumulative_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub upper_bound: Option<f64>,
        #[prost(message, optional, tag = "3")]
        pub exemplar: Option<Exemplar>,
    }

    /// `io.prometheus.client.BucketSpan`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, optional, tag = "1")]
        pub offset: Option<i32>,
        #[prost(uint32, optional, tag = "2")]
        pub length: Option<u32>,
    }

    /// `io.prometheus.client.Histogram` (float counts and absolute counts
    /// not written).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub sample_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub sample_sum: Option<f64>,
        #[prost(message, repeated, tag = "3")]
        pub bucket: Vec<Bucket>,
        #[prost(sint32, optional, tag = "5")]
        pub schema: Option<i32>,
        #[prost(double, optional, tag = "6")]
        pub zero_threshold: Option<f64>,
        #[prost(uint64, optional, tag = "7")]
        pub zero_count: Option<u64>,
        #[prost(message, repeated, tag = "9")]
        pub negative_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, packed = "false", tag = "10")]
        pub negative_delta: Vec<i64>,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, packed = "false", tag = "13")]
        pub positive_delta: Vec<i64>,
        #[prost(message, optional, tag = "15")]
        pub created_timestamp: Option<Timestamp>,
        #[prost(message, repeated, tag = "16")]
        pub exemplars: Vec<Exemplar>,
    }

    /// `io.prometheus.client.Metric` (summary, untyped not written).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "2")]
        pub gauge: Option<Gauge>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
        #[prost(int64, optional, tag = "6")]
        pub timestamp_ms: Option<i64>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    /// `io.prometheus.client.MetricFamily` (unit, 5, not written).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub help: Option<String>,
        #[prost(enumeration = "MetricType", optional, tag = "3")]
        pub r#type: Option<i32>,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }
}

/// Appends the exposition of a resource's attributes and scopes to `out`.
/// Returns the number of points left out (see the module documentation).
pub(crate) fn encode_parts(
    resource: &AttributeSet,
    scopes: &[&ScopeMetrics],
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> u64 {
    let naming = Naming::of(opts);
    let target_info = opts.target_info && !resource.is_empty();
    let (families, mut left_out) = families(scopes, opts, target_info, true);
    if target_info {
        put(&target_info_family(resource, naming), out);
    }
    let scope_labels: Vec<Vec<(String, String)>> = scopes
        .iter()
        .map(|s| {
            if opts.scope_labels {
                scope_label_pairs(&s.scope, naming)
            } else {
                Vec::new()
            }
        })
        .collect();
    for f in &families {
        let (family, n) = family(f, opts, naming, &scope_labels);
        left_out += n;
        if !family.metric.is_empty() {
            put(&family, out);
        }
    }
    left_out
}

/// The `target_info` family: the resource's attributes as the labels of
/// one gauge sample of value 1.
fn target_info_family(resource: &AttributeSet, naming: Naming) -> proto::MetricFamily {
    proto::MetricFamily {
        name: Some("target_info".into()),
        help: Some("Target metadata".into()),
        r#type: Some(proto::MetricType::Gauge as i32),
        metric: vec![proto::Metric {
            label: pairs(label_pairs(resource, Reserved::None, "", naming)),
            gauge: Some(proto::Gauge { value: Some(1.0) }),
            ..Default::default()
        }],
    }
}

fn put(family: &proto::MetricFamily, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = family.encode_length_delimited(out);
}

fn pairs(v: Vec<(String, String)>) -> Vec<proto::LabelPair> {
    v.into_iter()
        .map(|(k, v)| proto::LabelPair {
            name: Some(k),
            value: Some(v),
        })
        .collect()
}

fn timestamp(nanos: u64) -> Option<proto::Timestamp> {
    (nanos > 0).then_some(proto::Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

/// One family's message; also returns the points left out.
fn family(
    f: &Family<'_>,
    opts: &EncodeOptions,
    naming: Naming,
    scope_labels: &[Vec<(String, String)>],
) -> (proto::MetricFamily, u64) {
    let base = f.wire.as_str();
    let (name, ty) = match f.kind {
        PromKind::Counter if f.name.total => (
            naming.metric(&format!("{}_total", f.name.base)),
            proto::MetricType::Counter,
        ),
        PromKind::Counter => (base.to_owned(), proto::MetricType::Counter),
        PromKind::Gauge => (base.to_owned(), proto::MetricType::Gauge),
        PromKind::Histogram => (base.to_owned(), proto::MetricType::Histogram),
    };
    let reserved = Reserved::of(f.kind, opts.scope_labels);
    let mut seen: HashSet<Vec<(String, String)>> = HashSet::new();
    let mut metrics = Vec::new();
    let mut left_out = 0u64;
    let mut repeated = 0u64;
    for &(si, m) in &f.sources {
        let mut add = |attrs: &AttributeSet, body: proto::Metric| {
            let mut labels = label_pairs(attrs, reserved, "", naming);
            labels.extend(scope_labels[si].iter().cloned());
            if seen.contains(&labels) {
                repeated += 1;
                return;
            }
            seen.insert(labels.clone());
            metrics.push(proto::Metric {
                label: pairs(labels),
                ..body
            });
        };
        match &m.data {
            MetricData::Gauge(Gauge { points }) | MetricData::Sum(Sum { points, .. }) => {
                for p in points {
                    add(&p.attributes, number_metric(p, f.kind, opts, naming));
                }
            }
            MetricData::Histogram(h) => {
                for p in &h.points {
                    add(&p.attributes, classic_metric(p, naming));
                }
            }
            MetricData::ExponentialHistogram(h) => {
                for p in &h.points {
                    match native_histogram(p) {
                        Some(mut h) => {
                            h.exemplars = native_exemplars(p, naming);
                            add(
                                &p.attributes,
                                proto::Metric {
                                    histogram: Some(h),
                                    ..Default::default()
                                },
                            )
                        }
                        None => {
                            left_out += 1;
                            warn_once(
                                format!("schema:{}", m.name),
                                format_args!(
                                    "metric {:?}: an exponential histogram point of scale {} (below {MIN_SCHEMA}, the coarsest native histogram schema) cannot be exposed to Prometheus: left out",
                                    m.name, p.scale
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    if repeated > 0 {
        warn_once(
            format!("dup:{base}"),
            format_args!(
                "family {base:?}: two samples with the same labels (two metrics of one name, label names equal once sanitized, or a producer's series at two timestamps); one sample per series per exposition: the later one is dropped and counted as an exposition conflict"
            ),
        );
    }
    let family = proto::MetricFamily {
        name: Some(name),
        help: Some(f.help.to_owned()),
        r#type: Some(ty as i32),
        metric: metrics,
    };
    (family, left_out + repeated)
}

/// An exemplar as client_model's message.
fn exemplar(e: &Exemplar, naming: Naming) -> proto::Exemplar {
    proto::Exemplar {
        label: pairs(exemplar_label_pairs(e, naming)),
        value: Some(e.value.as_f64()),
        timestamp: timestamp(e.time),
    }
}

/// A native histogram's exemplars: those with a time (client_model
/// requires one there), in the point's order.
fn native_exemplars(p: &ExponentialHistogramPoint, naming: Naming) -> Vec<proto::Exemplar> {
    p.exemplars
        .iter()
        .filter(|e| e.time > 0)
        .map(|e| exemplar(e, naming))
        .collect()
}

fn number_metric(
    p: &NumberPoint,
    kind: PromKind,
    opts: &EncodeOptions,
    naming: Naming,
) -> proto::Metric {
    let value = match p.value {
        Number::U64(v) => v as f64,
        Number::I64(v) => v as f64,
        Number::F64(v) => v,
    };
    let timestamp_ms = (p.explicit_time && opts.timestamps).then_some((p.time / 1_000_000) as i64);
    if kind == PromKind::Counter {
        proto::Metric {
            counter: Some(proto::Counter {
                value: Some(value),
                exemplar: latest(p.exemplars.iter()).map(|e| exemplar(e, naming)),
                created_timestamp: timestamp(p.start_time),
            }),
            timestamp_ms,
            ..Default::default()
        }
    } else {
        proto::Metric {
            gauge: Some(proto::Gauge { value: Some(value) }),
            timestamp_ms,
            ..Default::default()
        }
    }
}

fn classic_metric(p: &HistogramPoint, naming: Naming) -> proto::Metric {
    let picks = if p.exemplars.is_empty() {
        Vec::new()
    } else {
        bucket_exemplars(p)
    };
    let pick = |i: usize| picks.get(i).copied().flatten().map(|e| exemplar(e, naming));
    let mut bucket: Vec<proto::Bucket> = p
        .bounds
        .iter()
        .zip(cumulative_bucket_counts(p))
        .enumerate()
        .map(|(i, (&b, cum))| proto::Bucket {
            cumulative_count: Some(cum),
            upper_bound: Some(b),
            exemplar: pick(i),
        })
        .collect();
    // The +Inf bucket stays implicit unless it carries an exemplar.
    if let Some(e) = pick(p.bounds.len()) {
        bucket.push(proto::Bucket {
            cumulative_count: Some(p.count),
            upper_bound: Some(f64::INFINITY),
            exemplar: Some(e),
        });
    }
    proto::Metric {
        histogram: Some(proto::Histogram {
            sample_count: Some(p.count),
            sample_sum: Some(p.sum),
            bucket,
            created_timestamp: timestamp(p.start_time),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Spans and deltas of one bucket range in Prometheus' indexing
/// (OpenTelemetry index + 1); None when an index does not fit `i32`.
fn spans(b: &ExponentialBuckets) -> Option<(Vec<proto::BucketSpan>, Vec<i64>)> {
    let mut spans: Vec<proto::BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut prev = 0i64;
    // Prometheus index just past the last span.
    let mut end: Option<i64> = None;
    for (k, &c) in b.counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let index = i64::from(b.offset) + k as i64 + 1;
        i32::try_from(index).ok()?;
        match (end, spans.last_mut()) {
            (Some(e), Some(s)) if e == index => {
                s.length = Some(s.length.unwrap_or(0) + 1);
            }
            _ => spans.push(proto::BucketSpan {
                offset: Some((index - end.unwrap_or(0)) as i32),
                length: Some(1),
            }),
        }
        end = Some(index + 1);
        let c = c.min(i64::MAX as u64) as i64;
        deltas.push(c.wrapping_sub(prev));
        prev = c;
    }
    Some((spans, deltas))
}

/// The native histogram of an exponential histogram point; None when its
/// scale is below [`MIN_SCHEMA`] (or a bucket index does not fit).
pub(crate) fn native_histogram(p: &ExponentialHistogramPoint) -> Option<proto::Histogram> {
    if p.scale < MIN_SCHEMA {
        return None;
    }
    let by = (p.scale - MAX_SCHEMA).max(0) as u32;
    let (mut positive_span, positive_delta) = spans(&p.positive.downscaled(by))?;
    let (negative_span, negative_delta) = spans(&p.negative.downscaled(by))?;
    if positive_span.is_empty() && negative_span.is_empty() {
        // Marks the histogram as native even without any bucket.
        positive_span.push(proto::BucketSpan {
            offset: Some(0),
            length: Some(0),
        });
    }
    Some(proto::Histogram {
        sample_count: Some(p.count),
        sample_sum: Some(p.sum),
        bucket: Vec::new(),
        schema: Some(p.scale.min(MAX_SCHEMA)),
        zero_threshold: Some(p.zero_threshold),
        zero_count: Some(p.zero_count),
        negative_span,
        negative_delta,
        positive_span,
        positive_delta,
        created_timestamp: timestamp(p.start_time),
        exemplars: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(scale: i32, offset: i32, counts: &[u64]) -> ExponentialHistogramPoint {
        ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes: AttributeSet::empty(),
            start_time: 1_500_000_000,
            time: 2,
            count: counts.iter().sum(),
            sum: 1.0,
            min: None,
            max: None,
            scale,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: ExponentialBuckets {
                offset,
                counts: counts.to_vec(),
            },
            negative: ExponentialBuckets::default(),
        }
    }

    /// Absolute counts by Prometheus index, read back from spans and deltas.
    fn expand(spans: &[proto::BucketSpan], deltas: &[i64]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let (mut index, mut count, mut d) = (0i64, 0i64, deltas.iter());
        for s in spans {
            // The first offset is an index, the others gaps after the
            // previous span.
            index += i64::from(s.offset.unwrap());
            for _ in 0..s.length.unwrap() {
                count += d.next().unwrap();
                out.push((index, count));
                index += 1;
            }
        }
        assert!(d.next().is_none());
        out
    }

    #[test]
    fn spans_skip_empty_buckets_and_shift_indices_by_one() {
        let h = native_histogram(&point(3, -2, &[5, 0, 0, 2, 7, 0, 1])).unwrap();
        assert_eq!(h.schema, Some(3));
        // OpenTelemetry indices -2, 1, 2, 4 are Prometheus -1, 2, 3, 5.
        assert_eq!(
            expand(&h.positive_span, &h.positive_delta),
            vec![(-1, 5), (2, 2), (3, 7), (5, 1)]
        );
        assert_eq!(h.positive_delta, vec![5, -3, 5, -6]);
        assert_eq!(
            h.created_timestamp,
            Some(proto::Timestamp {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn fine_scales_are_capped_at_schema_8_and_coarse_ones_refused() {
        // Scale 10, indices 1024..=1027: all bucket 256 at scale 8, which
        // is Prometheus index 257.
        let h = native_histogram(&point(10, 1024, &[1, 2, 3, 4])).unwrap();
        assert_eq!(h.schema, Some(8));
        assert_eq!(expand(&h.positive_span, &h.positive_delta), vec![(257, 10)]);
        assert!(native_histogram(&point(-5, 0, &[1])).is_none());
        assert_eq!(
            native_histogram(&point(-4, 0, &[1])).unwrap().schema,
            Some(-4)
        );
        // No bucket at all: one empty span keeps it native.
        let empty = native_histogram(&point(0, 0, &[])).unwrap();
        assert_eq!(empty.positive_span.len(), 1);
        assert_eq!(empty.positive_span[0].length, Some(0));
    }
}
