//! Aggregations, one per file: each owns its cell (what a recording
//! does to it), its read during a collection cycle, the state a delta
//! reader keeps per series, and the building of its points for cumulative
//! and delta readers. The collection cycle (`collect::stream`) drives
//! them through [`Aggregator`]; the hot-path dispatch
//! (`instruments::StreamHandle`) lists them once.

mod exponential;
mod histogram;
mod last_value;
// A sum's stripes: allocated on first contention, read through a raw pointer.
#[allow(unsafe_code)]
mod sum;

pub(crate) use exponential::{ExpoConfig, ExpoHistogramCell};
pub use histogram::DEFAULT_BOUNDARIES;
pub(crate) use histogram::{HistConfig, HistogramCell};
pub(crate) use last_value::LastValue;
pub(crate) use sum::{FastAdd, SumFloat, SumInt, SumU64};

use crate::attributes::AttributeSet;
use crate::collect::data::{MetricData, Number, NumberPoint};
use crate::error::Error;
use crate::kinds::{AggregationCell, Measure, NumberKind, StreamDesc};
use std::borrow::Cow;

/// How a stream's series sample their exemplars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reservoir {
    /// `SimpleFixedSizeExemplarReservoir` of this many cells.
    FixedSize(usize),
    /// `AlignedHistogramBucketExemplarReservoir`: one cell per bucket.
    Buckets(usize),
}

impl Reservoir {
    pub(crate) fn cells(self) -> usize {
        match self {
            Reservoir::FixedSize(n) | Reservoir::Buckets(n) => n,
        }
    }
}

/// One series as a collection cycle read it.
#[derive(Clone, Debug)]
pub(crate) struct RawPoint<R> {
    /// The series' id (its creation time, unique within the stream).
    pub id: u64,
    /// The series' cursor slot (see [`Cursors`]).
    pub slot: u32,
    pub attrs: AttributeSet,
    /// Start of the series' cumulative interval.
    pub start: u64,
    pub value: R,
}

/// One reader's cursors for one stream: what it keeps of each series
/// between its collections (a delta's previous value, folded extremes),
/// in flat vectors indexed by the series' slot (`Series::slot`, dense
/// and recycled by the series map), so that a cursor costs its state plus
/// one word (the id of the series it belongs to), with no hash-map entry.
///
/// A slot's state belongs to the series whose id it holds: `id` once the
/// series was reported to this reader, `!id` (the top bit set, which no
/// creation time has) while it was only touched (extremes folded, or a
/// read that reported nothing), 0 when never used. A series that finds
/// another series' id starts afresh, as if it had never been reported, so
/// a recycled slot never leaks one series' previous value into another's
/// delta. Ids grow with creation, so a slot holding a newer id than the
/// series asking means the asker was removed and its slot reused: its
/// state is gone (as a removed series' cursor always was), it gets a
/// scratch cursor and leaves the slot alone.
#[derive(Debug)]
pub(crate) struct Cursors<P> {
    /// Per slot: the id of the series whose state it holds (see above).
    ids: Vec<u64>,
    /// Per slot: the aggregation's fixed-size state.
    prev: Vec<P>,
    /// Per slot: `stride` words of the aggregation's sized state (an
    /// explicit histogram's previous bucket counts).
    words: Vec<u64>,
    stride: usize,
    /// The scratch cursor of a series whose slot was reused.
    scratch: (u64, P, Vec<u64>),
    /// Time of this reader's previous collection of the stream (0:
    /// never): the start of its delta points, except a series' first.
    pub last_time: u64,
}

/// One series' cursor in a reader's [`Cursors`].
pub(crate) struct Cursor<'a, P> {
    tag: &'a mut u64,
    id: u64,
    /// The aggregation's fixed-size state.
    pub prev: &'a mut P,
    /// The aggregation's sized state ([`Aggregator::words`] words).
    pub words: &'a mut [u64],
}

impl<P> Cursor<'_, P> {
    /// Whether the series was reported to this reader before.
    #[inline]
    pub(crate) fn reported(&self) -> bool {
        *self.tag == self.id
    }

    /// Marks the series as reported to this reader.
    #[inline]
    pub(crate) fn report(&mut self) {
        *self.tag = self.id;
    }
}

/// Marks a slot touched by a series not reported yet.
#[inline]
fn touched(id: u64) -> u64 {
    !id
}

impl<P: Default> Cursors<P> {
    /// Cursors whose slots carry `stride` words of sized state.
    pub(crate) fn new(stride: usize) -> Self {
        Cursors {
            ids: Vec::new(),
            prev: Vec::new(),
            words: Vec::new(),
            stride,
            scratch: (0, P::default(), vec![0; stride]),
            last_time: 0,
        }
    }

    /// The cursor of series `id` in `slot`: fresh (not reported, default
    /// state, zero words) unless the slot already holds this series.
    #[inline]
    pub(crate) fn get(&mut self, slot: u32, id: u64) -> Cursor<'_, P> {
        let i = slot as usize;
        if i >= self.ids.len() {
            self.grow(i + 1);
        }
        let tag = self.ids[i];
        let owner = if tag >> 63 == 1 { !tag } else { tag };
        let fresh = owner != id;
        if fresh && owner > id {
            // The slot was recycled for a newer series: `id` is gone.
            let (tag, prev, words) = &mut self.scratch;
            *tag = touched(id);
            *prev = P::default();
            words.fill(0);
            return Cursor {
                tag,
                id,
                prev,
                words,
            };
        }
        let words = &mut self.words[i * self.stride..(i + 1) * self.stride];
        if fresh {
            self.ids[i] = touched(id);
            self.prev[i] = P::default();
            words.fill(0);
        }
        Cursor {
            tag: &mut self.ids[i],
            id,
            prev: &mut self.prev[i],
            words,
        }
    }

    /// Makes room for `slots` slots at once (the series map's slot count,
    /// before a collection's points), allocating exactly that much.
    pub(crate) fn fit(&mut self, slots: usize) {
        if slots > self.ids.len() {
            self.grow(slots);
        }
    }

    #[cold]
    fn grow(&mut self, len: usize) {
        let more = len - self.ids.len();
        self.ids.reserve_exact(more);
        self.prev.reserve_exact(more);
        self.words.reserve_exact(more * self.stride);
        self.ids.resize(len, 0);
        self.prev.resize_with(len, P::default);
        self.words.resize(len * self.stride, 0);
    }

    /// Number of slots held (a test's view of the memory kept).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn slots(&self) -> usize {
        self.ids.len()
    }
}

/// What an aggregation knows of its stream while it builds points.
pub(crate) struct Emit<'a, C: AggregationCell> {
    pub desc: &'a StreamDesc,
    pub cfg: &'a C::Config,
    /// Values come from callbacks (observable instruments).
    pub observable: bool,
    /// The collection's time.
    pub now: u64,
}

/// An aggregation: a cell and everything the engine does with it.
pub(crate) trait Aggregator: AggregationCell + Sized {
    /// A cell's value as one cycle read it.
    type Read: Clone + Send + Sync + std::fmt::Debug + 'static;
    /// Per reader and series: what the aggregation needs to report the
    /// next point (a delta's previous value, folded extremes), the part of
    /// fixed size. Kept in a [`Cursors`] slot next to [`words`](Self::words)
    /// words of sized state.
    type Prev: Default + Send + std::fmt::Debug + 'static;

    /// How many words of sized state each cursor holds besides its
    /// [`Prev`](Self::Prev) (an explicit histogram's bucket counts).
    fn words(_cfg: &Self::Config) -> usize {
        0
    }

    /// Applies one measurement (the hot path). Returns false, having
    /// changed nothing, when the cell refuses it (a sum that cannot hold
    /// it): the stream counts it.
    fn record(&self, m: Measure, cfg: &Self::Config, ts: u64) -> bool;

    /// The exemplar reservoir of this aggregation's series when no view
    /// sets one (the specification's defaults): a fixed-size reservoir of
    /// one cell, unless the aggregation says otherwise.
    fn reservoir(_cfg: &Self::Config) -> Reservoir {
        Reservoir::FixedSize(1)
    }

    /// [`record`](Self::record) for a measurement offered as an exemplar:
    /// `None` when refused, else its cell in a bucket-aligned reservoir
    /// (its bucket; 0 for the others).
    #[inline]
    fn record_bucket(&self, m: Measure, cfg: &Self::Config, ts: u64) -> Option<usize> {
        self.record(m, cfg, ts).then_some(0)
    }

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

/// Adds `v` to the f64 total kept as bits in `sum`, unless the total would
/// stop being finite: then returns false, having changed nothing (a float
/// sum, a histogram's sum). One compare-and-swap when uncontended.
#[inline]
pub(crate) fn add_finite(sum: &crate::sync::AtomicU64, v: f64) -> bool {
    use crate::sync::Ordering;
    let mut cur = sum.load(Ordering::Relaxed);
    loop {
        let next = f64::from_bits(cur) + v;
        if !next.is_finite() {
            return false;
        }
        match sum.compare_exchange_weak(cur, next.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
}

/// An extreme kept as an f64 with NaN for "none" (no `Option` tag):
/// `f64::min`/`f64::max` fold it, as they ignore a NaN operand.
#[inline]
pub(crate) fn extreme(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
}

/// Takes an extreme kept by [`extreme`], leaving "none".
#[inline]
pub(crate) fn take_extreme(x: &mut f64) -> Option<f64> {
    let v = std::mem::replace(x, f64::NAN);
    (!v.is_nan()).then_some(v)
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
        exemplars: Default::default(),
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
    fn a_cursor_belongs_to_the_series_in_its_slot() {
        let mut c: Cursors<u64> = Cursors::new(2);
        // Fresh: not reported, default state, zero words.
        let mut k = c.get(3, 10);
        assert!(!k.reported());
        assert_eq!((*k.prev, &k.words[..]), (0, &[0, 0][..]));
        *k.prev = 7;
        k.words.copy_from_slice(&[1, 2]);
        k.report();
        assert_eq!(c.slots(), 4);
        let k = c.get(3, 10);
        assert!(k.reported());
        assert_eq!((*k.prev, &k.words[..]), (7, &[1, 2][..]));
        // A newer series in the recycled slot starts afresh.
        let k = c.get(3, 20);
        assert!(!k.reported());
        assert_eq!((*k.prev, &k.words[..]), (0, &[0, 0][..]));
        // Touched without a report: its state stays, still not reported.
        *k.prev = 9;
        k.words[1] = 4;
        let k = c.get(3, 20);
        assert!(!k.reported());
        assert_eq!((*k.prev, &k.words[..]), (9, &[0, 4][..]));
        // The older series (removed, its slot reused) gets a scratch
        // cursor and leaves the newer one's state alone.
        let mut k = c.get(3, 10);
        assert!(!k.reported());
        assert_eq!((*k.prev, &k.words[..]), (0, &[0, 0][..]));
        *k.prev = 100;
        k.report();
        let k = c.get(3, 20);
        assert!(!k.reported());
        assert_eq!((*k.prev, &k.words[..]), (9, &[0, 4][..]));
        // Other slots are untouched.
        assert!(!c.get(0, 10).reported());
    }

    #[test]
    fn extremes_fold_with_nan_for_none() {
        let mut m = extreme(None);
        m = m.min(extreme(Some(3.0)));
        m = m.min(extreme(None));
        m = m.min(extreme(Some(-1.5)));
        assert_eq!(take_extreme(&mut m), Some(-1.5));
        assert_eq!(take_extreme(&mut m), None);
    }

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
