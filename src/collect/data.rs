//! The snapshot data model that collection produces and encoders consume:
//! resource -> scopes -> metrics -> points. Timestamps are nanoseconds since
//! the Unix epoch.

use crate::attributes::AttributeSet;
use crate::resource::{InstrumentationScope, Resource};
use std::sync::Arc;

/// Everything one reader collected in one cycle.
#[derive(Clone, Debug)]
pub struct ResourceMetrics {
    /// The provider's resource.
    pub resource: Arc<Resource>,
    /// One entry per meter that produced metrics.
    pub scope_metrics: Vec<ScopeMetrics>,
}

impl ResourceMetrics {
    /// Finds a metric by name in any scope (first match).
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter())
            .find(|m| &*m.name == name)
    }

    /// Total number of points.
    pub fn point_count(&self) -> usize {
        self.scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter())
            .map(|m| m.data.len())
            .sum()
    }
}

/// Metrics of one instrumentation scope.
#[derive(Clone, Debug)]
pub struct ScopeMetrics {
    /// The scope.
    pub scope: Arc<InstrumentationScope>,
    /// Its metrics.
    pub metrics: Vec<Metric>,
}

/// One metric stream.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Stream name.
    pub name: Arc<str>,
    /// Description.
    pub description: Arc<str>,
    /// Unit (UCUM).
    pub unit: Arc<str>,
    /// The points.
    pub data: MetricData,
}

/// Temporality of reported sums and histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Temporality {
    /// Totals since the series started.
    Cumulative = 0,
    /// Change since the reader's previous collection.
    Delta = 1,
}

/// The points of a metric, by aggregation shape.
#[derive(Clone, Debug)]
pub enum MetricData {
    /// Last values.
    Gauge(Gauge),
    /// Sums.
    Sum(Sum),
    /// Explicit-bucket histograms.
    Histogram(Histogram),
    /// Base2 exponential histograms.
    ExponentialHistogram(ExponentialHistogram),
}

impl MetricData {
    /// Number of points.
    pub fn len(&self) -> usize {
        match self {
            MetricData::Gauge(g) => g.points.len(),
            MetricData::Sum(s) => s.points.len(),
            MetricData::Histogram(h) => h.points.len(),
            MetricData::ExponentialHistogram(h) => h.points.len(),
        }
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A numeric value as the instrument produced it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
}

impl Number {
    /// The value as f64 (lossy for huge integers).
    pub fn as_f64(&self) -> f64 {
        match *self {
            Number::U64(v) => v as f64,
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        }
    }
}

/// A measurement kept beside a point with the trace context it was
/// recorded in (the OpenTelemetry data model's `Exemplar`): "this value
/// came from that trace".
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The measurement's attributes that the stream's attribute filter
    /// removed (empty when it removed none).
    pub filtered_attributes: AttributeSet,
    /// When the measurement was recorded (ns since the Unix epoch).
    pub time: u64,
    /// The measurement.
    pub value: Number,
    /// The trace it was recorded in.
    pub trace_id: [u8; 16],
    /// The span it was recorded in.
    pub span_id: [u8; 8],
}

/// A point's exemplars: one word, and no allocation, for a point without
/// any (nearly every point). As a `Vec` they made each collected point 16
/// bytes larger and its drop longer: a 100k-series collection took 10%
/// longer (BENCHMARKS.md, "Seventh session"). Reads as a slice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointExemplars(Option<Box<[Exemplar]>>);

impl PointExemplars {
    /// No exemplars.
    pub const fn new() -> Self {
        PointExemplars(None)
    }

    /// Adds one.
    pub fn push(&mut self, e: Exemplar) {
        self.extend([e])
    }

    /// Removes them all.
    pub fn clear(&mut self) {
        self.0 = None
    }

    /// The exemplars as a slice.
    pub fn as_slice(&self) -> &[Exemplar] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl std::ops::Deref for PointExemplars {
    type Target = [Exemplar];
    fn deref(&self) -> &[Exemplar] {
        self.as_slice()
    }
}

impl From<Vec<Exemplar>> for PointExemplars {
    fn from(v: Vec<Exemplar>) -> Self {
        PointExemplars((!v.is_empty()).then(|| v.into_boxed_slice()))
    }
}

impl FromIterator<Exemplar> for PointExemplars {
    fn from_iter<I: IntoIterator<Item = Exemplar>>(it: I) -> Self {
        it.into_iter().collect::<Vec<_>>().into()
    }
}

impl Extend<Exemplar> for PointExemplars {
    fn extend<I: IntoIterator<Item = Exemplar>>(&mut self, it: I) {
        let mut v = self.0.take().map(Vec::from).unwrap_or_default();
        v.extend(it);
        *self = v.into();
    }
}

impl IntoIterator for PointExemplars {
    type Item = Exemplar;
    type IntoIter = std::vec::IntoIter<Exemplar>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.map(Vec::from).unwrap_or_default().into_iter()
    }
}

impl<'a> IntoIterator for &'a PointExemplars {
    type Item = &'a Exemplar;
    type IntoIter = std::slice::Iter<'a, Exemplar>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

/// A sum or gauge point.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint {
    /// The series' attributes.
    pub attributes: AttributeSet,
    /// Start of the aggregation interval (0 for gauges).
    pub start_time: u64,
    /// Time of the point: the collection time, or the measurement's own
    /// timestamp when it carried one.
    pub time: u64,
    /// Whether `time` is a measurement's explicit timestamp.
    pub explicit_time: bool,
    /// The value.
    pub value: Number,
    /// Measurements of the interval kept with their trace context.
    pub exemplars: PointExemplars,
}

/// Gauge points.
#[derive(Clone, Debug)]
pub struct Gauge {
    /// The points.
    pub points: Vec<NumberPoint>,
}

/// Sum points.
#[derive(Clone, Debug)]
pub struct Sum {
    /// The points.
    pub points: Vec<NumberPoint>,
    /// Cumulative or delta.
    pub temporality: Temporality,
    /// Whether the sum only goes up.
    pub is_monotonic: bool,
}

/// A histogram point. `count == bucket_counts.iter().sum()` always holds.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    /// The series' attributes.
    pub attributes: AttributeSet,
    /// Start of the aggregation interval.
    pub start_time: u64,
    /// Collection time.
    pub time: u64,
    /// Number of measurements.
    pub count: u64,
    /// Sum of measurements.
    pub sum: f64,
    /// Smallest measurement, when recorded.
    pub min: Option<f64>,
    /// Largest measurement, when recorded.
    pub max: Option<f64>,
    /// Upper bounds (inclusive); one fewer than `bucket_counts`.
    pub bounds: Arc<[f64]>,
    /// Per-bucket counts, not cumulative; the last bucket is (last bound, +Inf).
    pub bucket_counts: Vec<u64>,
    /// Measurements of the interval kept with their trace context.
    pub exemplars: PointExemplars,
}

/// Histogram points.
#[derive(Clone, Debug)]
pub struct Histogram {
    /// The points.
    pub points: Vec<HistogramPoint>,
    /// Cumulative or delta.
    pub temporality: Temporality,
}

/// One range of an exponential histogram's buckets (positive or negative
/// values): `counts[k]` counts the values whose magnitude lies in
/// `(base^(offset + k), base^(offset + k + 1)]`, with `base = 2^(2^-scale)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialBuckets {
    /// Index of the first bucket in `counts`.
    pub offset: i32,
    /// Per-bucket counts, not cumulative.
    pub counts: Vec<u64>,
}

impl ExponentialBuckets {
    /// Sum of the counts.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The same counts at a scale `by` steps coarser: bucket `i` becomes
    /// bucket `i >> by` (each coarser bucket is `2^by` finer ones).
    pub fn downscaled(&self, by: u32) -> ExponentialBuckets {
        if by == 0 || self.counts.is_empty() {
            return self.clone();
        }
        let by = by.min(63);
        let first = i64::from(self.offset) >> by;
        let last = (i64::from(self.offset) + self.counts.len() as i64 - 1) >> by;
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let i = ((i64::from(self.offset) + k as i64) >> by) - first;
            counts[i as usize] = counts[i as usize].saturating_add(*c);
        }
        ExponentialBuckets {
            offset: first as i32,
            counts,
        }
    }

    /// Adds `other`'s counts (at the same scale), widening the range.
    pub fn add(&mut self, other: &ExponentialBuckets) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        let first = self.offset.min(other.offset);
        let end = (i64::from(self.offset) + self.counts.len() as i64)
            .max(i64::from(other.offset) + other.counts.len() as i64);
        let mut counts = vec![0u64; (end - i64::from(first)) as usize];
        for b in [&*self, other] {
            let at = (b.offset - first) as usize;
            for (k, c) in b.counts.iter().enumerate() {
                counts[at + k] = counts[at + k].saturating_add(*c);
            }
        }
        *self = ExponentialBuckets {
            offset: first,
            counts,
        };
    }
}

/// A base2 exponential histogram point (the OpenTelemetry data model's
/// `ExponentialHistogramDataPoint`). `count == zero_count +
/// positive.total() + negative.total()` always holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialHistogramPoint {
    /// The series' attributes.
    pub attributes: AttributeSet,
    /// Start of the aggregation interval.
    pub start_time: u64,
    /// Collection time.
    pub time: u64,
    /// Number of measurements.
    pub count: u64,
    /// Sum of measurements.
    pub sum: f64,
    /// Smallest measurement, when recorded.
    pub min: Option<f64>,
    /// Largest measurement, when recorded.
    pub max: Option<f64>,
    /// Resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub scale: i32,
    /// Measurements whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Upper bound of the zero bucket's magnitudes (0 when only exact
    /// zeros go there).
    pub zero_threshold: f64,
    /// Buckets of positive measurements.
    pub positive: ExponentialBuckets,
    /// Buckets of negative measurements, by magnitude.
    pub negative: ExponentialBuckets,
    /// Measurements of the interval kept with their trace context.
    pub exemplars: PointExemplars,
}

impl ExponentialHistogramPoint {
    /// Adds `other`'s measurements to this point: both are brought to the
    /// coarser of the two scales, then counts, sums and extremes combine.
    /// The interval becomes the union of both.
    pub fn merge(&mut self, other: &ExponentialHistogramPoint) {
        let scale = self.scale.min(other.scale);
        let mine = (self.scale - scale) as u32;
        let theirs = (other.scale - scale) as u32;
        self.positive = self.positive.downscaled(mine);
        self.negative = self.negative.downscaled(mine);
        self.positive.add(&other.positive.downscaled(theirs));
        self.negative.add(&other.negative.downscaled(theirs));
        self.scale = scale;
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.zero_threshold = self.zero_threshold.max(other.zero_threshold);
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = fold(self.min, other.min, f64::min);
        self.max = fold(self.max, other.max, f64::max);
        self.start_time = self.start_time.min(other.start_time);
        self.time = self.time.max(other.time);
        self.exemplars.extend(other.exemplars.iter().cloned());
    }
}

/// Combines two optional extremes (a histogram's min or max) with `f`.
pub(crate) fn fold(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (x, None) | (None, x) => x,
    }
}

/// Exponential histogram points.
#[derive(Clone, Debug)]
pub struct ExponentialHistogram {
    /// The points.
    pub points: Vec<ExponentialHistogramPoint>,
    /// Cumulative or delta.
    pub temporality: Temporality,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(offset: i32, counts: &[u64]) -> ExponentialBuckets {
        ExponentialBuckets {
            offset,
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn downscale_folds_pairs_with_floor_indices() {
        // Indices -3..=2 at one step coarser: -3 -> -2, -2/-1 -> -1, 0/1 -> 0, 2 -> 1.
        let b = buckets(-3, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(b.downscaled(1), buckets(-2, &[1, 5, 9, 6]));
        assert_eq!(b.downscaled(1).total(), b.total());
        // Far enough, everything lands in one bucket per sign of index.
        assert_eq!(buckets(4, &[1, 1]).downscaled(10), buckets(0, &[2]));
        assert_eq!(b.downscaled(0), b);
    }

    #[test]
    fn merge_brings_both_to_the_coarser_scale() {
        let point = |scale, positive, count| ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes: AttributeSet::default(),
            start_time: 10,
            time: 20,
            count,
            sum: 1.0,
            min: Some(1.0),
            max: Some(2.0),
            scale,
            zero_count: 1,
            zero_threshold: 0.0,
            positive,
            negative: ExponentialBuckets::default(),
        };
        let mut a = point(3, buckets(8, &[1, 1]), 3);
        let mut b = point(2, buckets(3, &[4]), 5);
        b.time = 30;
        b.min = Some(0.5);
        a.merge(&b);
        assert_eq!(a.scale, 2);
        // a's 8 and 9 at scale 3 are bucket 4 at scale 2; b's 3 stays.
        assert_eq!(a.positive, buckets(3, &[4, 2]));
        assert_eq!(a.count, 8);
        assert_eq!(a.zero_count, 2);
        assert_eq!((a.min, a.max, a.time), (Some(0.5), Some(2.0), 30));
    }
}
