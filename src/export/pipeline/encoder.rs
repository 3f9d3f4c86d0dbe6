//! The encoding half of the pipeline: a snapshot in, size-bounded request
//! bodies out, with buffers reused from one export to the next.

use crate::collect::data::{
    ExponentialHistogram, Gauge, Histogram, Metric, MetricData, ResourceMetrics, ScopeMetrics, Sum,
};
use std::ops::ControlFlow;

/// Limits for splitting one snapshot into several requests.
///
/// The default is 8192 points (the OpenTelemetry Collector batch
/// processor's default `send_batch_size`; about 0.7 MB of counter points
/// with three attributes) and 4 MiB (the largest message gRPC servers
/// accept by default, so a request fits OTLP/gRPC receivers as well as
/// OTLP/HTTP ones, whose limits are usually larger).
/// An encoder may cap `max_bytes` further (the OTLP protobuf encoder at
/// 64 MiB); `max_points` 0 is treated as 1.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// Most data points in one request.
    pub max_points: usize,
    /// Most bytes in one request body (before any compression).
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_points: 8192,
            max_bytes: 4 << 20,
        }
    }
}

/// Splits a snapshot into request bodies of at most `limits` each and
/// hands them to `emit(body, points)` in order. `emit` may take the body
/// (swap another buffer in: the encoder clears and reuses whatever it
/// gets back), so a body is not copied on its way to the queue. `emit`
/// returning `Break` stops the encoding. Returns the points handed to
/// `emit`.
pub trait BatchEncoder: Send + 'static {
    /// Encodes `metrics`.
    fn encode(
        &mut self,
        metrics: &ResourceMetrics,
        limits: BatchLimits,
        emit: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> usize;

    /// A second, independent encoder of the same kind, for encoding parts
    /// of a large snapshot in parallel (`None`: this encoder cannot be
    /// forked; the snapshot is encoded on one thread).
    fn fork(&self) -> Option<Box<dyn BatchEncoder>> {
        None
    }
}

/// Splits a snapshot into `k` parts of about equal point counts, moving
/// the points (a metric straddling two parts is split, its metadata
/// shared). Every series stays in exactly one part.
pub(crate) fn split(rm: ResourceMetrics, k: usize) -> Vec<ResourceMetrics> {
    let k = k.max(1);
    let target = rm.point_count().div_ceil(k).max(1);
    let resource = rm.resource.clone();
    let empty = || ResourceMetrics {
        resource: resource.clone(),
        scope_metrics: Vec::new(),
    };
    let mut parts = Vec::with_capacity(k);
    let mut cur = empty();
    let mut n_cur = 0usize;
    for sm in rm.scope_metrics {
        let scope = sm.scope.clone();
        let mut cur_sm = ScopeMetrics {
            scope: scope.clone(),
            metrics: Vec::new(),
        };
        for mut m in sm.metrics {
            loop {
                if n_cur >= target && parts.len() < k - 1 {
                    if !cur_sm.metrics.is_empty() {
                        cur.scope_metrics.push(std::mem::replace(
                            &mut cur_sm,
                            ScopeMetrics {
                                scope: scope.clone(),
                                metrics: Vec::new(),
                            },
                        ));
                    }
                    parts.push(std::mem::replace(&mut cur, empty()));
                    n_cur = 0;
                }
                let room = target - n_cur.min(target);
                let n = m.data.len();
                if n <= room || parts.len() == k - 1 {
                    n_cur += n;
                    cur_sm.metrics.push(m);
                    break;
                }
                let tail = split_metric(&mut m, room);
                n_cur += room;
                cur_sm.metrics.push(m);
                m = tail;
            }
        }
        if !cur_sm.metrics.is_empty() {
            cur.scope_metrics.push(cur_sm);
        }
    }
    parts.push(cur);
    parts
}

/// Keeps the first `at` points in `m`, returns the rest as a metric with
/// the same metadata.
fn split_metric(m: &mut Metric, at: usize) -> Metric {
    let data = match &mut m.data {
        MetricData::Gauge(g) => MetricData::Gauge(Gauge {
            points: g.points.split_off(at),
        }),
        MetricData::Sum(s) => MetricData::Sum(Sum {
            points: s.points.split_off(at),
            temporality: s.temporality,
            is_monotonic: s.is_monotonic,
        }),
        MetricData::Histogram(h) => MetricData::Histogram(Histogram {
            points: h.points.split_off(at),
            temporality: h.temporality,
        }),
        MetricData::ExponentialHistogram(h) => {
            MetricData::ExponentialHistogram(ExponentialHistogram {
                points: h.points.split_off(at),
                temporality: h.temporality,
            })
        }
    };
    Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        data,
    }
}

/// Any function from a snapshot to one body (Prometheus text for the
/// Pushgateway, a host's own format): the whole snapshot is one request.
pub struct WholeSnapshotEncoder<F> {
    f: F,
    buf: Vec<u8>,
}

impl<F> WholeSnapshotEncoder<F>
where
    F: FnMut(&ResourceMetrics, &mut Vec<u8>) + Send + 'static,
{
    /// `f` appends the body for a snapshot to the (cleared) buffer.
    pub fn new(f: F) -> Self {
        WholeSnapshotEncoder { f, buf: Vec::new() }
    }
}

impl<F> BatchEncoder for WholeSnapshotEncoder<F>
where
    F: FnMut(&ResourceMetrics, &mut Vec<u8>) + Send + 'static,
{
    fn encode(
        &mut self,
        metrics: &ResourceMetrics,
        _limits: BatchLimits,
        emit: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> usize {
        let n = metrics.point_count();
        if n == 0 {
            return 0;
        }
        self.buf.clear();
        (self.f)(metrics, &mut self.buf);
        let _ = emit(&mut self.buf, n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{AttributeSet, KeyValue};
    use crate::collect::data::{ExponentialBuckets, ExponentialHistogramPoint, Temporality};
    use crate::resource::{InstrumentationScope, Resource};
    use std::sync::Arc;

    #[test]
    fn split_divides_exponential_histograms_keeping_their_shape() {
        // Each point with its own exemplars, which travel with it.
        let points: Vec<ExponentialHistogramPoint> = (0..5i64)
            .map(|i| ExponentialHistogramPoint {
                exemplars: (0..i)
                    .map(|k| crate::collect::data::Exemplar {
                        filtered_attributes: AttributeSet::empty(),
                        time: k as u64,
                        value: crate::collect::data::Number::I64(i),
                        trace_id: [i as u8; 16],
                        span_id: [k as u8; 8],
                    })
                    .collect(),
                attributes: AttributeSet::from_key_values(vec![KeyValue::new("i", i)]),
                start_time: 1,
                time: 2,
                count: 1,
                sum: 3.0,
                min: None,
                max: None,
                scale: i as i32,
                zero_count: 0,
                zero_threshold: 0.0,
                positive: ExponentialBuckets {
                    offset: -1,
                    counts: vec![1],
                },
                negative: ExponentialBuckets::default(),
            })
            .collect();
        let rm = ResourceMetrics {
            resource: Arc::new(Resource::empty()),
            scope_metrics: vec![ScopeMetrics {
                scope: Arc::new(InstrumentationScope::new("s")),
                metrics: vec![Metric {
                    name: "sizes".into(),
                    description: "d".into(),
                    unit: "By".into(),
                    data: MetricData::ExponentialHistogram(ExponentialHistogram {
                        points: points.clone(),
                        temporality: Temporality::Delta,
                    }),
                }],
            }],
        };
        let parts = split(rm, 2);
        let mut seen = Vec::new();
        for p in &parts {
            let m = &p.scope_metrics[0].metrics[0];
            assert_eq!((&*m.name, &*m.unit), ("sizes", "By"));
            let MetricData::ExponentialHistogram(h) = &m.data else {
                panic!("{:?}", m.data)
            };
            assert_eq!(h.temporality, Temporality::Delta);
            seen.extend(h.points.iter().cloned());
        }
        assert_eq!(
            parts.iter().map(|p| p.point_count()).collect::<Vec<_>>(),
            vec![3, 2]
        );
        assert_eq!(seen, points);
    }
}
