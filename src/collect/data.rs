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
}

impl MetricData {
    /// Number of points.
    pub fn len(&self) -> usize {
        match self {
            MetricData::Gauge(g) => g.points.len(),
            MetricData::Sum(s) => s.points.len(),
            MetricData::Histogram(h) => h.points.len(),
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
}

/// Histogram points.
#[derive(Clone, Debug)]
pub struct Histogram {
    /// The points.
    pub points: Vec<HistogramPoint>,
    /// Cumulative or delta.
    pub temporality: Temporality,
}
