//! The explicit-bucket histogram aggregation: its cell, and the points it
//! makes for cumulative and delta readers.
//!
//! Only non-negative, finite values are recorded (the recording path rejects
//! the rest), so the IEEE bit patterns order like the values and min/max are
//! plain integer `fetch_min`/`fetch_max` on the bits.
//!
//! The count is not stored: a snapshot derives it from the buckets, so every
//! collected point has count == sum of bucket counts, whatever races with it.
//!
//! The sum stays finite: a value that would make it infinite is refused
//! whole (counted by the caller), so a histogram's sum never becomes
//! infinite or NaN and never goes backwards.
//!
//! A series holding keys in the per-thread sums ([`crate::thread_sums`]:
//! one per bucket, taken as for integer sums) counts each value in the
//! recording thread's own cell, a load and a store instead of a locked
//! add; a read adds the threads' cells to the buckets. The sum stays one
//! shared word (its finiteness rule needs the whole total).

use super::{extreme, take_extreme, Aggregator, Cursors, Emit, RawPoint};
use crate::collect::data::{Histogram, HistogramPoint, MetricData, Temporality};
use crate::kinds::{AggregationCell, Measure};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::thread_sums;
use std::borrow::Cow;
use std::sync::Arc;

/// The spec's default boundaries for explicit-bucket histograms.
pub const DEFAULT_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// Histogram configuration shared by all series of a stream.
pub(crate) struct HistConfig {
    pub bounds: Arc<[f64]>,
    pub record_min_max: bool,
}

const EMPTY_MIN: u64 = u64::MAX; // above every non-negative float's bits
const EMPTY_MAX: u64 = 0;

/// Index of the bucket for `v`: the first bound >= v (upper bounds are
/// inclusive). For the usual short bound lists a branch-free count beats a
/// binary search, whose branches mispredict on varying values.
#[inline]
fn bucket_index(bounds: &[f64], v: f64) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|b| (*b < v) as usize).sum()
    } else {
        bounds.partition_point(|b| *b < v)
    }
}

pub(crate) struct HistogramCell {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    /// Interval min/max, reset by every collection cycle.
    min: AtomicU64,
    max: AtomicU64,
    /// Whether a 0.0 was recorded in the interval (`max` alone cannot say
    /// so: 0.0 has the same bits as "empty"). Only zeros set it, so that a
    /// flag landing in a later interval than its record's min/max updates
    /// never makes up a 0.0 extreme.
    zero: AtomicU64,
    /// Cumulative min/max, folded by the collector only.
    pub(crate) cmin: AtomicU64,
    pub(crate) cmax: AtomicU64,
    /// 1 + the first of the bucket counts' keys in the per-thread sums
    /// (one per bucket, consecutive), 0 while it holds none.
    key: AtomicU32,
}

impl AggregationCell for HistogramCell {
    type Config = HistConfig;
    fn new(cfg: &HistConfig) -> Self {
        HistogramCell {
            buckets: (0..=cfg.bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(EMPTY_MIN),
            max: AtomicU64::new(EMPTY_MAX),
            zero: AtomicU64::new(0),
            cmin: AtomicU64::new(EMPTY_MIN),
            cmax: AtomicU64::new(EMPTY_MAX),
            key: AtomicU32::new(0),
        }
    }
    fn made(&self) {
        self.take_keys(thread_sums::RESERVED_FOR_HOT)
    }
    fn hot(&self) {
        self.take_keys(0)
    }
}

impl HistogramCell {
    /// Keys for the bucket counts, when enough are free (see
    /// [`crate::thread_sums`]) and the cell holds none yet.
    fn take_keys(&self, reserve: usize) {
        #[cfg(not(loom))]
        if self.key.load(Ordering::Relaxed) == 0 {
            let n = self.buckets.len();
            if let Some(k) = thread_sums::global().take_keys(n, reserve) {
                // Release: a thread that sees the keys sees their cells reset.
                if self
                    .key
                    .compare_exchange(0, k as u32 + 1, Ordering::Release, Ordering::Relaxed)
                    .is_err()
                {
                    thread_sums::global().release_keys(k, n);
                }
            }
        }
        #[cfg(loom)]
        let _ = reserve;
    }

    /// Counts one value in bucket `i`: in the thread's own cell when the
    /// cell holds keys and the thread its block, else on the shared count.
    #[inline(always)]
    fn count_in(&self, i: usize) {
        let k = self.key.load(Ordering::Acquire);
        if k != 0 {
            if let Some(b) = thread_sums::this_thread() {
                return thread_sums::add_wrapping(b, k as usize - 1 + i, 1);
            }
        }
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for HistogramCell {
    fn drop(&mut self) {
        // Nothing records any more: the keys go back, their cells reset.
        #[cfg(not(loom))]
        if let k @ 1.. = self.key.load(Ordering::Acquire) {
            thread_sums::global().release_keys(k as usize - 1, self.buckets.len());
        }
    }
}

/// Adds the threads' cells of the keys from `start` to `counts` (one key
/// per count). Out of line: few series hold keys.
#[cold]
#[inline(never)]
fn add_keyed_counts(start: usize, counts: &mut [u64]) {
    #[cfg(not(loom))]
    thread_sums::global().add_sums(start, counts);
    #[cfg(loom)]
    let _ = (start, counts);
}

/// One consistent histogram read (plus interval extremes).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistRead {
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: f64,
    /// Extremes over the interval since the previous cycle.
    pub imin: Option<f64>,
    pub imax: Option<f64>,
}

impl HistogramCell {
    /// Records `v`, which must be finite and >= 0 (checked by the caller).
    /// Returns false, having recorded nothing, when the sum would not be
    /// finite (the sum is updated first, so a refused value is in no
    /// bucket and no extreme).
    #[inline]
    pub(crate) fn record(&self, v: f64, cfg: &HistConfig) -> bool {
        self.record_in(v, cfg).is_some()
    }

    /// [`record`](Self::record), returning the bucket it counted `v` in.
    #[inline(always)]
    fn record_in(&self, v: f64, cfg: &HistConfig) -> Option<usize> {
        let v = v + 0.0; // -0.0 -> +0.0 so bit order matches value order
        let i = bucket_index(&cfg.bounds, v);
        if !super::add_finite(&self.sum, v) {
            return None;
        }
        self.count_in(i);
        if cfg.record_min_max {
            let b = v.to_bits();
            if b < self.min.load(Ordering::Relaxed) {
                self.min.fetch_min(b, Ordering::Relaxed);
            }
            if b > self.max.load(Ordering::Relaxed) {
                self.max.fetch_max(b, Ordering::Relaxed);
            }
            if b == EMPTY_MAX && self.zero.load(Ordering::Relaxed) == 0 {
                self.zero.store(1, Ordering::Relaxed);
            }
        }
        Some(i)
    }

    /// Reads the buckets and sum, and takes (resets) the interval extremes.
    pub(crate) fn take(&self) -> HistRead {
        let mut buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        if let k @ 1.. = self.key.load(Ordering::Acquire) {
            add_keyed_counts(k as usize - 1, &mut buckets);
        }
        let count = buckets.iter().sum();
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed));
        let zero = self.zero.swap(0, Ordering::Relaxed) != 0;
        let min = self.min.swap(EMPTY_MIN, Ordering::Relaxed);
        let max = self.max.swap(EMPTY_MAX, Ordering::Relaxed);
        // A concurrent record may have landed only some of its min/max/zero
        // updates; whatever is missing lands in the next interval. Report
        // extremes when either side is known, and keep min <= max: every
        // value reported was recorded.
        let have_min = min != EMPTY_MIN;
        let have_max = zero || max != EMPTY_MAX;
        let (imin, imax) = match (have_min, have_max) {
            (false, false) => (None, None),
            (true, false) => (Some(f64::from_bits(min)), Some(f64::from_bits(min))),
            (false, true) => (Some(f64::from_bits(max)), Some(f64::from_bits(max))),
            (true, true) => (
                Some(f64::from_bits(min.min(max))),
                Some(f64::from_bits(max.max(min))),
            ),
        };
        if let Some(m) = imin {
            self.cmin.fetch_min(m.to_bits(), Ordering::Relaxed);
        }
        if let Some(m) = imax {
            self.cmax.fetch_max(m.to_bits(), Ordering::Relaxed);
        }
        HistRead {
            buckets,
            count,
            sum,
            imin,
            imax,
        }
    }

    /// Cumulative extremes (after the last [`take`](Self::take)).
    pub(crate) fn cumulative_min_max(&self) -> (Option<f64>, Option<f64>) {
        let min = self.cmin.load(Ordering::Relaxed);
        let max = self.cmax.load(Ordering::Relaxed);
        if min == EMPTY_MIN {
            (None, None)
        } else {
            (Some(f64::from_bits(min)), Some(f64::from_bits(max)))
        }
    }
}

/// A histogram as one cycle read it: the buckets and sum, the interval
/// extremes the read took, and the cumulative extremes after it.
#[derive(Clone, Debug)]
pub(crate) struct HistSnapshot {
    pub read: HistRead,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// What a delta reader keeps of one series between reports, besides the
/// bucket counts last reported (the cursor's words, one per bucket): with
/// the cursor's id word, buckets * 8 + 32 bytes.
#[derive(Debug)]
pub(crate) struct HistPrev {
    /// The sum last reported (0 before the first report).
    sum: f64,
    /// Extremes of the intervals since the last report (NaN: none).
    min: f64,
    max: f64,
}

impl Default for HistPrev {
    fn default() -> Self {
        HistPrev {
            sum: 0.0,
            min: f64::NAN,
            max: f64::NAN,
        }
    }
}

impl Aggregator for HistogramCell {
    type Read = HistSnapshot;
    type Prev = HistPrev;

    #[inline(always)]
    fn record(&self, m: Measure, cfg: &HistConfig, _: u64) -> bool {
        HistogramCell::record(self, m.as_f64(), cfg)
    }

    /// `AlignedHistogramBucketExemplarReservoir`: one cell per bucket.
    fn reservoir(cfg: &HistConfig) -> super::Reservoir {
        super::Reservoir::Buckets(cfg.bounds.len() + 1)
    }

    #[inline]
    fn record_bucket(&self, m: Measure, cfg: &HistConfig, _: u64) -> Option<usize> {
        self.record_in(m.as_f64(), cfg)
    }

    fn read(&self) -> Option<HistSnapshot> {
        let read = self.take();
        let (min, max) = self.cumulative_min_max();
        Some(HistSnapshot { read, min, max })
    }

    fn version(r: &HistSnapshot) -> u64 {
        r.read.count
    }

    // Every read takes (resets) the interval extremes: each delta reader
    // accumulates them until it reports.
    const FOLDS: bool = true;
    fn has_fold(r: &HistSnapshot) -> bool {
        r.read.imin.is_some()
    }
    fn fold(prev: &mut HistPrev, r: &HistSnapshot) {
        prev.min = prev.min.min(extreme(r.read.imin));
        prev.max = prev.max.max(extreme(r.read.imax));
    }

    fn words(cfg: &HistConfig) -> usize {
        cfg.bounds.len() + 1
    }

    fn cumulative(
        e: &Emit<'_, Self>,
        raw: Cow<'_, [RawPoint<HistSnapshot>]>,
        _: &mut Cursors<HistPrev>,
    ) -> MetricData {
        let points = raw
            .iter()
            .map(|p| HistogramPoint {
                exemplars: Default::default(),
                attributes: p.attrs.clone(),
                start_time: p.start,
                time: e.now,
                count: p.value.read.count,
                sum: p.value.read.sum,
                min: p.value.min,
                max: p.value.max,
                bounds: e.cfg.bounds.clone(),
                bucket_counts: p.value.read.buckets.clone(),
            })
            .collect();
        MetricData::Histogram(Histogram {
            temporality: Temporality::Cumulative,
            points,
        })
    }

    fn delta(
        e: &Emit<'_, Self>,
        raw: &[RawPoint<HistSnapshot>],
        cursors: &mut Cursors<HistPrev>,
    ) -> MetricData {
        let mut points = Vec::new();
        let last = cursors.last_time;
        for p in raw {
            let h = &p.value.read;
            let mut c = cursors.get(p.slot, p.id);
            // A cursor not reported yet holds zero counts and sum.
            let buckets: Vec<u64> = h
                .buckets
                .iter()
                .zip(c.words.iter())
                .map(|(a, b)| a.wrapping_sub(*b))
                .collect();
            let count: u64 = buckets.iter().sum();
            if count == 0 {
                continue;
            }
            points.push(HistogramPoint {
                exemplars: Default::default(),
                attributes: p.attrs.clone(),
                start_time: if c.reported() { last } else { p.start },
                time: e.now,
                count,
                sum: h.sum - c.prev.sum,
                min: take_extreme(&mut c.prev.min),
                max: take_extreme(&mut c.prev.max),
                bounds: e.cfg.bounds.clone(),
                bucket_counts: buckets,
            });
            for (w, b) in c.words.iter_mut().zip(&h.buckets) {
                *w = *b;
            }
            c.prev.sum = h.sum;
            c.report();
        }
        MetricData::Histogram(Histogram {
            temporality: Temporality::Delta,
            points,
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cfg(b: &[f64]) -> HistConfig {
        HistConfig {
            bounds: b.into(),
            record_min_max: true,
        }
    }

    #[test]
    fn upper_bounds_are_inclusive() {
        let c = cfg(&[0.0, 5.0, 10.0]);
        let h = HistogramCell::new(&c);
        for v in [0.0, -0.0, 0.5, 5.0, 5.0001, 10.0, 11.0] {
            h.record(v, &c);
        }
        let r = h.take();
        assert_eq!(r.buckets, vec![2, 2, 2, 1]);
        assert_eq!(r.count, 7);
        assert_eq!(r.imin, Some(0.0));
        assert_eq!(r.imax, Some(11.0));
        assert!((r.sum - 31.5001).abs() < 1e-9);
        // Interval extremes reset; cumulative ones stay.
        let r2 = h.take();
        assert_eq!(r2.imin, None);
        assert_eq!(h.cumulative_min_max(), (Some(0.0), Some(11.0)));
    }

    /// The budget: a delta reader keeps at most the histogram's
    /// own bucket state plus 32 bytes per series.
    #[test]
    fn delta_cursor_is_buckets_plus_32_bytes() {
        for bounds in [&DEFAULT_BOUNDARIES[..], &[1.0], &[0.0; 100][..]] {
            let c = cfg(bounds);
            let buckets = bounds.len() + 1;
            let per_slot = std::mem::size_of::<u64>() // the slot's series id
                + std::mem::size_of::<HistPrev>()
                + 8 * HistogramCell::words(&c);
            assert!(per_slot <= buckets * 8 + 32, "{per_slot} bytes");
        }
    }

    #[test]
    fn only_zero_recorded_has_min_max() {
        let c = cfg(&DEFAULT_BOUNDARIES);
        let h = HistogramCell::new(&c);
        h.record(0.0, &c);
        let r = h.take();
        assert_eq!((r.imin, r.imax), (Some(0.0), Some(0.0)));
    }
}
