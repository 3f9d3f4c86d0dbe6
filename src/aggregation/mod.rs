//! Aggregations, one per file: each owns its cell (what a recording
//! does to it), its read during a collection cycle, the state a delta
//! reader keeps per series, and the building of its points for cumulative
//! and delta readers. The collection cycle (`collect::stream`) drives
//! them through [`Aggregator`]; the hot-path dispatch
//! (`instruments::StreamHandle`) lists them once.

mod exponential;
mod histogram;
mod last_value;
mod sum;

pub(crate) use exponential::{ExpoConfig, ExpoHistogramCell};
pub use histogram::DEFAULT_BOUNDARIES;
pub(crate) use histogram::{HistConfig, HistogramCell};
pub(crate) use last_value::LastValue;
pub(crate) use sum::{FastAdd, SumFloat, SumInt, SumU64};

use crate::attributes::AttributeSet;
use crate::collect::data::{MetricData, Number, NumberPoint};
use crate::error::Error;
use crate::kinds::{Cell, Measure, NumberKind, StreamDesc};
use std::borrow::Cow;
use std::collections::HashMap;

/// One series as a collection cycle read it.
#[derive(Clone, Debug)]
pub(crate) struct RawPoint<R> {
    /// The series' id (its creation time, unique within the stream).
    pub id: u64,
    pub attrs: AttributeSet,
    /// Start of the series' cumulative interval.
    pub start: u64,
    pub value: R,
}

/// What a delta reader (and, for observed totals, a cumulative one) keeps
/// of one series between its collections.
#[derive(Debug)]
pub(crate) struct Cursor<P> {
    /// Time of the last report to this reader (0 = never).
    pub last_time: u64,
    /// Version of the last reported value (`u64::MAX`: none).
    pub version: u64,
    /// The aggregation's own state (the previous value, folded extremes).
    pub prev: P,
}

impl<P: Default> Default for Cursor<P> {
    fn default() -> Self {
        Cursor {
            last_time: 0,
            version: u64::MAX,
            prev: P::default(),
        }
    }
}

/// One reader's cursors for one stream, by series id.
pub(crate) type Cursors<P> = HashMap<u64, Cursor<P>>;

/// What an aggregation knows of its stream while it builds points.
pub(crate) struct Emit<'a, C: Cell> {
    pub desc: &'a StreamDesc,
    pub cfg: &'a C::Config,
    /// Values come from callbacks (observable instruments).
    pub observable: bool,
    /// The collection's time.
    pub now: u64,
}

/// An aggregation: a cell and everything the engine does with it.
pub(crate) trait Aggregator: Cell + Sized {
    /// A cell's value as one cycle read it.
    type Read: Clone + Send + Sync + std::fmt::Debug + 'static;
    /// Per reader and series: what the aggregation needs to report the
    /// next point (a delta's previous value, folded extremes).
    type Prev: Default + Send + std::fmt::Debug + 'static;

    /// Applies one measurement (the hot path). Returns false, having
    /// changed nothing, when the cell refuses it (a sum that cannot hold
    /// it): the stream counts it.
    fn record(&self, m: Measure, cfg: &Self::Config, ts: u64) -> bool;

    /// Reads the cell for a collection cycle (the collector, one at a
    /// time). `None`: nothing to report in this cycle.
    fn read(&self) -> Option<Self::Read>;

    /// A change detector: equal versions mean no new measurement.
    fn version(r: &Self::Read) -> u64;

    /// Whether a read resets something delta readers accumulate until
    /// their next report (a histogram's interval extremes).
    const FOLDS: bool = false;
    /// Folds such a read into one delta reader's state. Only called when
    /// [`FOLDS`](Self::FOLDS) and [`has_fold`](Self::has_fold).
    fn fold(_prev: &mut Self::Prev, _r: &Self::Read) {}
    /// Whether this read has anything to fold.
    fn has_fold(_r: &Self::Read) -> bool {
        false
    }

    /// A cumulative reader's points (by value when the cycle's points are
    /// not shared with another reader).
    fn cumulative(
        e: &Emit<'_, Self>,
        raw: Cow<'_, [RawPoint<Self::Read>]>,
        cursors: &mut Cursors<Self::Prev>,
    ) -> MetricData;

    /// A delta reader's points: each series' change since this reader's
    /// previous report; moves the reader's cursors.
    fn delta(
        e: &Emit<'_, Self>,
        raw: &[RawPoint<Self::Read>],
        cursors: &mut Cursors<Self::Prev>,
    ) -> MetricData;
}

/// Combines two optional extremes (a histogram's min or max) with `f`.
pub(crate) fn fold(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (x, None) | (None, x) => x,
    }
}

/// An integer total or change as a point's number of the stream's kind.
pub(crate) fn int_number(v: i64, n: NumberKind) -> Number {
    match n {
        NumberKind::U64 => Number::U64(v as u64),
        _ => Number::I64(v),
    }
}

/// A sum or gauge point.
pub(crate) fn number_point(
    attributes: AttributeSet,
    start_time: u64,
    time: u64,
    explicit_time: bool,
    value: Number,
) -> NumberPoint {
    NumberPoint {
        attributes,
        start_time,
        time,
        explicit_time,
        value,
    }
}

/// How a stream aggregates measurements.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Aggregation {
    /// The instrument kind's default (sum, last value or histogram).
    #[default]
    Default,
    /// Discard every measurement.
    Drop,
    /// Arithmetic sum.
    Sum,
    /// The last measurement.
    LastValue,
    /// Explicit-bucket histogram.
    ExplicitBucketHistogram {
        /// Strictly increasing, finite upper bounds (inclusive).
        boundaries: Vec<f64>,
        /// Whether to record min and max.
        record_min_max: bool,
    },
    /// Base2 exponential bucket histogram: buckets whose boundaries are
    /// powers of `2^(2^-scale)`, the scale chosen (and lowered as the
    /// range of values grows) so that each sign's values fit `max_size`
    /// buckets. Relative error at most `2^(2^-scale) - 1`.
    Base2ExponentialHistogram {
        /// Most buckets per sign (at least 2; the specification's default
        /// is 160).
        max_size: u32,
        /// Highest (finest) scale, from -10 to 20 (default 20).
        max_scale: i32,
        /// Whether to record min and max.
        record_min_max: bool,
    },
}

impl Aggregation {
    /// A histogram with the specification's default boundaries.
    pub fn default_histogram() -> Self {
        Aggregation::ExplicitBucketHistogram {
            boundaries: DEFAULT_BOUNDARIES.to_vec(),
            record_min_max: true,
        }
    }

    /// A base2 exponential histogram with the specification's defaults
    /// (160 buckets per sign, scale at most 20, min and max recorded).
    pub fn base2_exponential_histogram() -> Self {
        Aggregation::Base2ExponentialHistogram {
            max_size: EXPONENTIAL_DEFAULT_MAX_SIZE,
            max_scale: EXPONENTIAL_MAX_SCALE,
            record_min_max: true,
        }
    }

    /// Checks the aggregation's parameters.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Aggregation::ExplicitBucketHistogram { boundaries, .. } => {
                validate_boundaries(boundaries)
            }
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                ..
            } => validate_exponential(*max_size, *max_scale),
            _ => Ok(()),
        }
    }

    /// Whether this is one of the histogram aggregations.
    pub fn is_histogram(&self) -> bool {
        matches!(
            self,
            Aggregation::ExplicitBucketHistogram { .. }
                | Aggregation::Base2ExponentialHistogram { .. }
        )
    }
}

/// The specification's default bucket count per sign of an exponential
/// histogram.
pub const EXPONENTIAL_DEFAULT_MAX_SIZE: u32 = 160;
/// The highest scale an exponential histogram may use (the
/// specification's default and maximum).
pub const EXPONENTIAL_MAX_SCALE: i32 = 20;
/// The lowest scale an exponential histogram may be configured with: at
/// -10 one bucket spans a factor of 2^1024, the whole f64 range.
pub const EXPONENTIAL_MIN_SCALE: i32 = -10;
/// The most buckets per sign an exponential histogram may have: as for
/// explicit histograms, a series' buckets cost 8 bytes each, per sign.
pub const EXPONENTIAL_MAX_MAX_SIZE: u32 = 16384;

/// An exponential histogram's size and scale must be within their ranges
/// (the cell's own check, for views and the C API).
pub(crate) fn validate_exponential(max_size: u32, max_scale: i32) -> Result<(), Error> {
    ExpoConfig {
        max_size,
        max_scale,
        record_min_max: true,
    }
    .validate()
}

/// The most bucket boundaries a histogram may have (views and instrument
/// advice alike). Every series holds one 8-byte count per bucket and every
/// delta reader a copy: at this cap a series costs 32 KiB, a stream at the
/// default cardinality limit 64 MiB, and a Prometheus scrape 4097 bucket
/// lines per series; far past what classic histograms use (the default has
/// 15 boundaries, exponential histograms default to 160 buckets), while
/// the uncapped million boundaries cost 8 MiB per series.
pub const MAX_BOUNDARIES: usize = 4096;

/// Boundaries must be non-empty, at most [`MAX_BOUNDARIES`], finite and
/// strictly increasing.
pub(crate) fn validate_boundaries(b: &[f64]) -> Result<(), Error> {
    if b.is_empty() {
        return Err(Error::InvalidBoundaries("boundaries are empty".into()));
    }
    if b.len() > MAX_BOUNDARIES {
        return Err(Error::InvalidBoundaries(format!(
            "{} boundaries given, at most {MAX_BOUNDARIES} are allowed",
            b.len()
        )));
    }
    if let Some(x) = b.iter().find(|x| !x.is_finite()) {
        return Err(Error::InvalidBoundaries(format!(
            "boundary {x} is not a finite number"
        )));
    }
    if let Some(w) = b.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::InvalidBoundaries(format!(
            "boundaries are not strictly increasing: {} then {}",
            w[0], w[1]
        )));
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn boundary_validation() {
        assert!(validate_boundaries(&DEFAULT_BOUNDARIES).is_ok());
        assert!(validate_boundaries(&[]).is_err());
        assert!(validate_boundaries(&[1.0, f64::NAN]).is_err());
        assert!(validate_boundaries(&[1.0, f64::INFINITY]).is_err());
        assert!(validate_boundaries(&[1.0, 1.0]).is_err());
        assert!(validate_boundaries(&[2.0, 1.0]).is_err());
        assert!(validate_boundaries(&[-1.0, 0.0, 1.0]).is_ok());
        let at_cap: Vec<f64> = (0..MAX_BOUNDARIES).map(|i| i as f64).collect();
        assert!(validate_boundaries(&at_cap).is_ok());
        let past_cap: Vec<f64> = (0..=MAX_BOUNDARIES).map(|i| i as f64).collect();
        assert!(validate_boundaries(&past_cap).is_err());
    }
}
