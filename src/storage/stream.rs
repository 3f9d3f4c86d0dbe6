//! A stream: one instrument (as shaped by one view) = one series map, the
//! recording entry points, and the collection side (snapshot, per-reader
//! cursors for delta temporality, eviction).
//!
//! Eviction, when every reader is delta, in three steps over cycles:
//! 1. **Evict** (cycle N): a series idle for `evict_after` cycles is
//!    claimed and unlinked by `SeriesMap::evict`; from then on no bind
//!    takes it and no new lookup finds it. Its points leave the cycle.
//! 2. **Drain** (cycle N or later): once `Domain::synchronize` reports a
//!    grace period after the unlink, no recording thread can still add to
//!    it: its value is read one last time.
//! 3. **Settle** (per reader): each delta reader's remaining delta of the
//!    final value is computed with its own cursor and kept for it in
//!    `collect::owed` until its next collection; then its cursor goes. A
//!    reader collecting while the cycle runs (it may still emit points of
//!    a cycle before N) is settled at a later cycle.
//!
//! No reader waits for another: a reader that never collects is owed at
//! most the cardinality limit's worth of points, the rest folded into its
//! overflow point and counted.

use super::map::{SeriesMap, SeriesRef, Slot};
use crate::aggregation::{
    HistConfig, HistRead, HistogramCell, LastValue, SumFloat, SumInt, SumU64,
};
use crate::attributes::{hash_attrs, keys_valid, Attr, AttrRef, AttributeSet, Unchecked, ValueRef};
use crate::collect::data::{
    Gauge, Histogram, HistogramPoint, MetricData, Number, NumberPoint, Sum, Temporality,
};
use crate::collect::owed::{fold, Owed};
use crate::diagnostics::{Diag, Reason};
use crate::kinds::Cell;
use crate::kinds::{InstrumentKind, NumberKind};
use crate::sync::{lock, Mutex};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a stream's points are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Sum { monotonic: bool },
    Gauge,
    Histogram,
}

/// Identity of a stream.
#[derive(Clone, Debug)]
pub(crate) struct StreamDesc {
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub unit: Arc<str>,
    pub kind: InstrumentKind,
    pub number: NumberKind,
    pub shape: Shape,
}

/// Attribute key filter of a view.
#[derive(Clone, Debug)]
pub(crate) enum AttrFilter {
    Allow(Arc<HashSet<String>>),
    Deny(Arc<HashSet<String>>),
}

impl AttrFilter {
    #[inline]
    fn keep(&self, key: &str) -> bool {
        match self {
            AttrFilter::Allow(s) => s.contains(key),
            AttrFilter::Deny(s) => !s.contains(key),
        }
    }
}

/// A cell value read during a collection cycle.
#[derive(Clone, Debug)]
pub(crate) enum RawValue {
    Int(i64),
    Float(f64),
    /// `resets`: how many times the collector read this cell's bits below
    /// the previous read's (an observable counter's resets).
    Last {
        bits: u64,
        ts: u64,
        writes: u64,
        resets: u64,
    },
    Hist(Box<(HistRead, Option<f64>, Option<f64>)>),
}

impl RawValue {
    /// A change detector: equal versions mean no new measurement.
    fn version(&self) -> u64 {
        match self {
            RawValue::Int(v) => *v as u64,
            RawValue::Float(f) => f.to_bits(),
            RawValue::Last { writes, .. } => *writes,
            RawValue::Hist(h) => h.0.count,
        }
    }
}

/// One series as read in a cycle.
#[derive(Clone, Debug)]
pub(crate) struct RawPoint {
    id: u64,
    attrs: AttributeSet,
    start: u64,
    value: RawValue,
}

/// Cells that the collector can read.
pub(crate) trait ReadCell: Cell {
    fn read(&self) -> Option<RawValue>;
    fn bounds(_cfg: &Self::Config) -> Option<Arc<[f64]>> {
        None
    }
}

impl ReadCell for SumInt {
    fn read(&self) -> Option<RawValue> {
        Some(RawValue::Int(self.load()))
    }
}
impl ReadCell for SumU64 {
    /// Nothing while an add past the limit is being taken back: the series
    /// is reported in the next cycle.
    fn read(&self) -> Option<RawValue> {
        self.load().map(|v| RawValue::Int(v as i64))
    }
}
impl ReadCell for SumFloat {
    fn read(&self) -> Option<RawValue> {
        Some(RawValue::Float(self.load()))
    }
}
impl ReadCell for LastValue {
    fn read(&self) -> Option<RawValue> {
        LastValue::read(self).map(|r| RawValue::Last {
            bits: r.bits,
            ts: r.ts,
            writes: r.writes,
            resets: r.resets,
        })
    }
}
impl ReadCell for HistogramCell {
    fn read(&self) -> Option<RawValue> {
        let r = self.take();
        let (mn, mx) = self.cumulative_min_max();
        Some(RawValue::Hist(Box::new((r, mn, mx))))
    }
    fn bounds(cfg: &HistConfig) -> Option<Arc<[f64]>> {
        Some(cfg.bounds.clone())
    }
}

#[derive(Clone, Debug)]
enum Prev {
    None,
    Int(i64),
    Float(f64),
    Hist { buckets: Vec<u64>, sum: f64 },
}

#[derive(Clone, Debug)]
struct Cursor {
    prev: Prev,
    /// Time of the last report to this reader (0 = never).
    last_time: u64,
    /// Version of the last reported value.
    version: u64,
    /// Min/max folded over the cycles since the last report.
    acc_min: Option<f64>,
    acc_max: Option<f64>,
    /// Observable counters: the cell's reset count at the last report.
    resets: u64,
    /// Observable counters, cumulative: the start time since the last
    /// reset (0: the series' own start).
    start: u64,
}

impl Cursor {
    fn new() -> Self {
        Cursor {
            prev: Prev::None,
            last_time: 0,
            version: u64::MAX,
            acc_min: None,
            acc_max: None,
            resets: 0,
            start: 0,
        }
    }
}

/// A reader as one collection cycle sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CycleReader {
    pub id: u64,
    pub temporality: Temporality,
    /// The oldest cycle whose points the reader may still be about to
    /// emit ([`NOT_HOLDING`] when it is not collecting).
    pub holding: u64,
}

/// [`CycleReader::holding`] of a reader that is not collecting.
pub(crate) const NOT_HOLDING: u64 = u64::MAX;

/// An evicted series whose final value has been read, waiting until each
/// delta reader in `pending` has been given what it had not reported.
struct Settled {
    point: RawPoint,
    /// The cycle that evicted it: earlier cycles' points still carry it.
    evicted_in: u64,
    pending: Vec<u64>,
}

struct CollectState<C> {
    /// reader id -> series id -> cursor (delta readers only).
    cursors: HashMap<u64, HashMap<u64, Cursor>>,
    /// Series unlinked by explicit removal; their cursors are dropped.
    removed: Vec<u64>,
    cleared: bool,
    /// Evicted series (with the evicting cycle) that recording threads may
    /// still be adding to: read once a grace period has passed.
    draining: Vec<(SeriesRef<C>, u64)>,
    /// Evicted series with their final value, not yet settled with every
    /// delta reader.
    settled: Vec<Settled>,
    /// reader id -> points of settled series it has not collected yet.
    owed: HashMap<u64, Owed>,
}

impl<C> Default for CollectState<C> {
    fn default() -> Self {
        CollectState {
            cursors: HashMap::new(),
            removed: Vec::new(),
            cleared: false,
            draining: Vec::new(),
            settled: Vec::new(),
            owed: HashMap::new(),
        }
    }
}

/// A stream with cell type `C`.
pub(crate) struct Stream<C: Cell> {
    pub(crate) desc: StreamDesc,
    pub(crate) map: SeriesMap<C>,
    filter: Option<AttrFilter>,
    shutdown: AtomicBool,
    pub(crate) diag: Arc<Diag>,
    observable: bool,
    evict_after: u32,
    state: Mutex<CollectState<C>>,
}

impl<C: ReadCell> Stream<C> {
    pub(crate) fn new(
        desc: StreamDesc,
        cfg: C::Config,
        cardinality_limit: usize,
        filter: Option<AttrFilter>,
        diag: Arc<Diag>,
        evict_after: u32,
    ) -> Self {
        Stream {
            observable: desc.kind.is_observable(),
            desc,
            map: SeriesMap::new(cardinality_limit, cfg),
            filter,
            shutdown: AtomicBool::new(false),
            diag,
            evict_after,
            state: Mutex::new(CollectState::default()),
        }
    }

    /// True once the provider shut down.
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Applies `f` to the cell of the series for `attrs`. Lock-free and
    /// allocation-free for an existing series.
    #[inline]
    pub(crate) fn update<A: Attr>(&self, attrs: &[A], f: impl FnOnce(&C, &C::Config) -> bool) {
        if self.is_shutdown() {
            self.diag.reject(Reason::AfterShutdown, &self.desc.name);
            return;
        }
        match &self.filter {
            None => self.update_inner(attrs, f),
            // The filter may drop an empty key: the caller's attributes
            // are invalid all the same.
            Some(_) if !keys_valid(attrs) => self.invalid_attributes(),
            Some(flt) => with_filtered(flt, attrs, |a| self.update_inner(a, f)),
        }
    }

    /// Resolves the series (lock-free when it exists) and applies `f`.
    /// Attributes are checked only on the way to a new series: a stored
    /// series never has an empty key, so one that matches proves them
    /// valid.
    #[inline]
    fn update_inner<A: Attr>(&self, attrs: &[A], f: impl FnOnce(&C, &C::Config) -> bool) {
        crate::context::pin(|| {
            if attrs.is_empty() {
                return self.apply(self.map.resolve(attrs, crate::time::now_nanos), f);
            }
            let h = hash_attrs(attrs);
            let slot = match self.map.find(h, attrs) {
                Some(s) => Slot::Series(s),
                None if keys_valid(attrs) => self.map.insert_slow(h, attrs, crate::time::now_nanos),
                None => return self.invalid_attributes(),
            };
            self.apply(slot, f)
        })
    }

    #[cold]
    #[inline(never)]
    fn invalid_attributes(&self) {
        self.diag.reject(Reason::InvalidAttributes, &self.desc.name)
    }

    /// Applies `f` to a resolved series' cell, counting a measurement
    /// routed to the overflow series.
    #[inline(always)]
    fn apply(&self, slot: Slot<'_, C>, f: impl FnOnce(&C, &C::Config) -> bool) {
        let s = match slot {
            Slot::Series(s) => s,
            Slot::Overflow(s) => {
                self.diag.reject(Reason::Overflow, &self.desc.name);
                s
            }
        };
        if !f(&s.cell, self.map.config()) {
            self.sum_overflow()
        }
    }

    /// Counts a measurement that the cell refused because its sum could
    /// not hold it (the total is as it was).
    #[cold]
    #[inline(never)]
    pub(crate) fn sum_overflow(&self) {
        self.diag.reject(Reason::SumOverflow, &self.desc.name)
    }

    /// [`update`](Self::update) for attributes that were not validated
    /// (the C ABI's): an existing series is found by comparing bytes, and
    /// the attributes are validated only when none matches (or a view
    /// filters keys), before a series is created. Returns false, having
    /// recorded nothing, when they are invalid.
    #[inline]
    pub(crate) fn update_unchecked<P: Unchecked>(
        &self,
        attrs: &[P],
        f: impl FnOnce(&C, &C::Config) -> bool,
    ) -> bool {
        if self.is_shutdown() {
            self.diag.reject(Reason::AfterShutdown, &self.desc.name);
            return true;
        }
        if self.filter.is_some() || attrs.is_empty() {
            return match P::validate(attrs) {
                Some(valid) => {
                    match &self.filter {
                        None => self.update_inner(valid, f),
                        Some(flt) => with_filtered(flt, valid, |a| self.update_inner(a, f)),
                    }
                    true
                }
                None => false,
            };
        }
        // The memo is read before pinning. Read inside the pin, the same
        // call measured 21.8 to 27.3 ns depending only on which memo entry
        // the key selected (BM_C_CounterAdd3AttrsStatic with four slot
        // mappings); read first, 21.9 and 21.5 ns for the best and worst
        // of them. Likely cause: the entry's load waited on one of the
        // call's earlier stores with the same low 12 address bits (4K
        // aliasing).
        let thread = crate::context::thread_slot();
        let memo = thread
            .map(|t| (&t.memo, t.pins()))
            .filter(|(m, now)| m.active(*now))
            .and_then(|(m, now)| Some((m, now, P::memo_key(attrs)?)));
        let hash = memo.and_then(|(m, _, k)| m.recall(k));
        crate::context::pin_in(thread, || {
            // A remembered hash saves hashing the strings; `find` verifies
            // every attribute whatever hash it is given.
            let slot = match hash.and_then(|h| self.map.find(h, attrs)) {
                Some(s) => Slot::Series(s),
                None => {
                    let h = hash_attrs(attrs);
                    if let Some((m, now, k)) = memo {
                        m.miss(k, h, now);
                    }
                    match self.map.find(h, attrs) {
                        Some(s) => Slot::Series(s),
                        // The validated attributes are the same bytes, so
                        // `h` is their hash too: no second hash or lookup.
                        None => match P::validate(attrs) {
                            Some(valid) => self.map.insert_slow(h, valid, crate::time::now_nanos),
                            None => return false,
                        },
                    }
                }
            };
            self.apply(slot, f);
            true
        })
    }

    /// Returns a counted handle to a series, for bound instruments.
    pub(crate) fn bind<A: Attr>(&self, attrs: &[A]) -> SeriesRef<C> {
        let (s, overflow) = match &self.filter {
            None => self.map.acquire(attrs, crate::time::now_nanos),
            Some(flt) => with_filtered(flt, attrs, |a| self.map.acquire(a, crate::time::now_nanos)),
        };
        if overflow {
            self.diag.reject(Reason::Overflow, &self.desc.name);
        }
        s
    }

    /// Removes one series. Returns whether it existed.
    pub(crate) fn remove<A: Attr>(&self, attrs: &[A]) -> bool {
        let id = match &self.filter {
            None => self.map.remove(attrs),
            Some(flt) => with_filtered(flt, attrs, |a| self.map.remove(a)),
        };
        if let Some(id) = id {
            lock(&self.state).removed.push(id);
            true
        } else {
            false
        }
    }

    /// Removes every series of the stream.
    pub(crate) fn clear(&self) {
        self.map.clear();
        lock(&self.state).cleared = true;
    }
}

impl<C: ReadCell> Stream<C> {
    /// Reads the final value of evicted series once a grace period has
    /// passed since their unlink (no recording thread can still hold
    /// them), and queues them for settlement with every delta reader.
    /// Without a grace period (a recording thread stayed pinned), keeps
    /// them for the next cycle.
    fn drain(&self, draining: Vec<(SeriesRef<C>, u64)>, readers: &[CycleReader]) {
        if !crate::context::domain().synchronize() {
            lock(&self.state).draining.extend(draining);
            return;
        }
        let delta: Vec<u64> = readers
            .iter()
            .filter(|r| r.temporality == Temporality::Delta)
            .map(|r| r.id)
            .collect();
        let mut finals = Vec::with_capacity(draining.len());
        for (s, evicted_in) in draining {
            if let Some(value) = s.cell.read() {
                finals.push((
                    RawPoint {
                        id: s.id,
                        attrs: s.attrs.clone(),
                        start: s.id,
                        value,
                    },
                    evicted_in,
                ));
            }
        }
        let mut st = lock(&self.state);
        if self.desc.shape == Shape::Histogram {
            let points: Vec<RawPoint> = finals.iter().map(|f| f.0.clone()).collect();
            fold_extremes(&mut st.cursors, readers, &points);
        }
        for (point, evicted_in) in finals {
            st.settled.push(Settled {
                point,
                evicted_in,
                pending: delta.clone(),
            });
        }
    }

    /// Gives each delta reader its remaining delta of every settled series
    /// it is still owed, computed with its own cursor, into its owed store
    /// (bounded: see `collect::owed`), then forgets its cursor. A reader
    /// that may still emit points of a cycle older than the eviction (it is
    /// collecting right now) is settled at a later cycle, so that those
    /// points meet their cursor.
    fn settle(&self, readers: &[CycleReader], now: u64) {
        let mut st = lock(&self.state);
        if st.settled.is_empty() {
            return;
        }
        for s in st.settled.iter_mut() {
            s.pending.retain(|id| readers.iter().any(|r| r.id == *id));
        }
        for r in readers
            .iter()
            .filter(|r| r.temporality == Temporality::Delta)
        {
            let ready: Vec<RawPoint> = st
                .settled
                .iter()
                .filter(|s| {
                    s.pending.contains(&r.id)
                        && (r.holding == NOT_HOLDING || r.holding >= s.evicted_in)
                })
                .map(|s| s.point.clone())
                .collect();
            if ready.is_empty() {
                continue;
            }
            drop(st);
            let data = self.emit_raw(Cow::Borrowed(&ready), r.id, Temporality::Delta, now);
            st = lock(&self.state);
            let cap = self.map.cardinality_limit();
            let folded = st.owed.entry(r.id).or_default().stash(data, cap);
            for _ in 0..folded {
                self.diag.reject(Reason::LaggingReader, &self.desc.name);
            }
            let ids: HashSet<u64> = ready.iter().map(|p| p.id).collect();
            if let Some(c) = st.cursors.get_mut(&r.id) {
                c.retain(|id, _| !ids.contains(id));
            }
            for s in st.settled.iter_mut() {
                if ids.contains(&s.point.id) {
                    s.pending.retain(|id| *id != r.id);
                }
            }
        }
        st.settled.retain(|s| !s.pending.is_empty());
    }
}

/// Folds the interval extremes of histogram points into every delta
/// reader's cursor (they are reported, and reset, at its next report).
fn fold_extremes(
    cursors: &mut HashMap<u64, HashMap<u64, Cursor>>,
    readers: &[CycleReader],
    points: &[RawPoint],
) {
    for r in readers {
        if r.temporality != Temporality::Delta {
            continue;
        }
        let cur = cursors.entry(r.id).or_default();
        for p in points {
            if let RawValue::Hist(h) = &p.value {
                if h.0.imin.is_none() {
                    continue;
                }
                let c = cur.entry(p.id).or_insert_with(Cursor::new);
                c.acc_min = fold(c.acc_min, h.0.imin, f64::min);
                c.acc_max = fold(c.acc_max, h.0.imax, f64::max);
            }
        }
    }
}

fn with_filtered<A: Attr, R>(
    flt: &AttrFilter,
    attrs: &[A],
    f: impl FnOnce(&[AttrRef<'_>]) -> R,
) -> R {
    const N: usize = 16;
    if attrs.len() <= N {
        let mut buf = [AttrRef {
            key: "",
            value: ValueRef::Bool(false),
        }; N];
        let mut n = 0;
        for a in attrs {
            if flt.keep(a.key()) {
                buf[n] = AttrRef {
                    key: a.key(),
                    value: a.value(),
                };
                n += 1;
            }
        }
        f(&buf[..n])
    } else {
        let v: Vec<AttrRef<'_>> = attrs
            .iter()
            .filter(|a| flt.keep(a.key()))
            .map(|a| AttrRef {
                key: a.key(),
                value: a.value(),
            })
            .collect();
        f(&v)
    }
}

/// The collection side of a stream, object-safe so a meter can hold streams
/// of every cell type in one list.
pub(crate) trait StreamCollect: Send + Sync {
    fn desc(&self) -> &StreamDesc;
    /// Reads every series once for cycle number `no` (taken at `now`);
    /// folds histogram extremes into delta readers' cursors; evicts idle
    /// series and settles evicted ones with the delta readers; frees
    /// garbage.
    fn cycle(&self, readers: &[CycleReader], no: u64, now: u64) -> Vec<RawPoint>;
    /// Turns the cycle's raw points into this reader's points.
    fn emit(&self, raw: Cow<'_, [RawPoint]>, reader: u64, t: Temporality, now: u64) -> MetricData;
    /// Drops the cursors of a reader that went away.
    fn forget_reader(&self, reader: u64);
    fn set_shutdown(&self);
}

impl<C: ReadCell> StreamCollect for Stream<C> {
    fn desc(&self) -> &StreamDesc {
        &self.desc
    }

    fn set_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    fn forget_reader(&self, reader: u64) {
        let mut st = lock(&self.state);
        st.cursors.remove(&reader);
        st.owed.remove(&reader);
        for s in st.settled.iter_mut() {
            s.pending.retain(|id| *id != reader);
        }
        st.settled.retain(|s| !s.pending.is_empty());
    }

    fn cycle(&self, readers: &[CycleReader], no: u64, now: u64) -> Vec<RawPoint> {
        let mut raw = Vec::with_capacity(self.map.len() + 1);
        let mut candidates: Vec<(AttributeSet, u64)> = Vec::new();
        let evict_after = self.evict_after;
        let all_delta =
            !readers.is_empty() && readers.iter().all(|r| r.temporality == Temporality::Delta);
        let may_evict = evict_after > 0 && (self.observable || all_delta);
        crate::context::pin(|| {
            self.map.for_each(|s, overflow| {
                let Some(value) = s.cell.read() else { return };
                let ver = value.version();
                let last = s.last_version.swap(ver, Ordering::Relaxed);
                let changed = last != ver;
                // Only the collector touches `idle`: load and store suffice.
                let idle = if changed {
                    0
                } else {
                    s.idle.load(Ordering::Relaxed).saturating_add(1)
                };
                s.idle.store(idle, Ordering::Relaxed);
                if may_evict && !overflow && u32::from(idle) >= evict_after && s.evictable() {
                    candidates.push((s.attrs.clone(), s.id));
                }
                if self.observable && !changed {
                    return; // not observed in this cycle
                }
                raw.push(RawPoint {
                    id: s.id,
                    attrs: s.attrs.clone(),
                    start: s.id,
                    value,
                });
            })
        });

        let mut st = lock(&self.state);
        if std::mem::take(&mut st.cleared) {
            st.cursors.clear();
            st.removed.clear();
            st.draining.clear();
            st.settled.clear();
            st.owed.clear();
        }
        let removed = std::mem::take(&mut st.removed);
        if !removed.is_empty() {
            for c in st.cursors.values_mut() {
                for id in &removed {
                    c.remove(id);
                }
            }
        }
        // Evict idle series. `evict` checks again, under the map's lock,
        // that no bound handle holds the series, and from then on no bind
        // can take it. Their points leave this cycle: what each delta
        // reader has not reported yet reaches it when the series settles.
        let mut evicted = HashSet::new();
        for (attrs, id) in candidates {
            let Some(series) = self.map.evict(&attrs, id) else {
                continue;
            };
            evicted.insert(id);
            if self.observable {
                // Observations only happen in the cycle's callbacks, which
                // ran before the walk: the value read is final.
                for c in st.cursors.values_mut() {
                    c.remove(&id);
                }
            } else {
                st.draining.push((series, no));
            }
        }
        if !evicted.is_empty() {
            raw.retain(|p| !evicted.contains(&p.id));
        }
        // Fold this cycle's histogram extremes into every delta reader.
        if self.desc.shape == Shape::Histogram {
            fold_extremes(&mut st.cursors, readers, &raw);
        }
        let draining = std::mem::take(&mut st.draining);
        drop(st);
        if !draining.is_empty() {
            self.drain(draining, readers);
        }
        self.settle(readers, now);
        if self.map.has_garbage() {
            self.map.reclaim(crate::context::domain());
        }
        raw
    }

    fn emit(&self, raw: Cow<'_, [RawPoint]>, reader: u64, t: Temporality, now: u64) -> MetricData {
        let mut data = self.emit_raw(raw, reader, t, now);
        if t == Temporality::Delta {
            let owed = lock(&self.state).owed.remove(&reader);
            if let Some(owed) = owed {
                owed.settle_into(&mut data, now);
            }
        }
        data
    }
}

impl<C: ReadCell> Stream<C> {
    /// One reader's points of a cycle (`emit` without what the reader is
    /// owed); moves its delta cursors.
    fn emit_raw(
        &self,
        raw: Cow<'_, [RawPoint]>,
        reader: u64,
        t: Temporality,
        now: u64,
    ) -> MetricData {
        let d = &self.desc;
        if t == Temporality::Cumulative && self.observable && d.shape == MONOTONIC {
            return self.emit_observed_totals(&raw, reader, now);
        }
        // Cumulative sums and gauges take the points by value when the cycle
        // is not shared with another collector.
        if t == Temporality::Cumulative && d.shape != Shape::Histogram {
            let start_of = |p: &RawPoint| {
                if matches!(d.shape, Shape::Gauge) {
                    0
                } else {
                    p.start
                }
            };
            let points: Vec<NumberPoint> = match raw {
                Cow::Owned(v) => v
                    .into_iter()
                    .map(|p| {
                        let start = start_of(&p);
                        number_point_owned(d.number, p, start, now)
                    })
                    .collect(),
                Cow::Borrowed(v) => v
                    .iter()
                    .map(|p| number_point(d.number, p, start_of(p), now))
                    .collect(),
            };
            return match d.shape {
                Shape::Sum { monotonic } => MetricData::Sum(Sum {
                    temporality: t,
                    is_monotonic: monotonic,
                    points,
                }),
                _ => MetricData::Gauge(Gauge { points }),
            };
        }
        let raw: &[RawPoint] = &raw;
        let bounds = C::bounds(self.map.config());
        match t {
            // Cumulative sums and gauges returned above: only histograms here.
            Temporality::Cumulative => MetricData::Histogram(Histogram {
                temporality: t,
                points: raw
                    .iter()
                    .filter_map(|p| match &p.value {
                        RawValue::Hist(h) => Some(HistogramPoint {
                            attributes: p.attrs.clone(),
                            start_time: p.start,
                            time: now,
                            count: h.0.count,
                            sum: h.0.sum,
                            min: h.1,
                            max: h.2,
                            bounds: bounds.clone().unwrap_or_else(|| Arc::from(Vec::new())),
                            bucket_counts: h.0.buckets.clone(),
                        }),
                        _ => None,
                    })
                    .collect(),
            }),
            Temporality::Delta => {
                let mut st = lock(&self.state);
                let cur = st.cursors.entry(reader).or_default();
                match d.shape {
                    Shape::Histogram => {
                        let mut points = Vec::new();
                        for p in raw {
                            let RawValue::Hist(h) = &p.value else {
                                continue;
                            };
                            let c = cur.entry(p.id).or_insert_with(Cursor::new);
                            let (pb, ps) = match &c.prev {
                                Prev::Hist { buckets, sum } => (Some(buckets), *sum),
                                _ => (None, 0.0),
                            };
                            let buckets: Vec<u64> = match pb {
                                Some(pb) => {
                                    h.0.buckets
                                        .iter()
                                        .zip(pb)
                                        .map(|(a, b)| a.wrapping_sub(*b))
                                        .collect()
                                }
                                None => h.0.buckets.clone(),
                            };
                            let count: u64 = buckets.iter().sum();
                            if count == 0 {
                                c.version = h.0.count;
                                continue;
                            }
                            points.push(HistogramPoint {
                                attributes: p.attrs.clone(),
                                start_time: if c.last_time == 0 {
                                    p.start
                                } else {
                                    c.last_time
                                },
                                time: now,
                                count,
                                sum: h.0.sum - ps,
                                min: c.acc_min.take(),
                                max: c.acc_max.take(),
                                bounds: bounds.clone().unwrap_or_else(|| Arc::from(Vec::new())),
                                bucket_counts: buckets,
                            });
                            c.prev = Prev::Hist {
                                buckets: h.0.buckets.clone(),
                                sum: h.0.sum,
                            };
                            c.last_time = now;
                            c.version = h.0.count;
                        }
                        MetricData::Histogram(Histogram {
                            temporality: t,
                            points,
                        })
                    }
                    Shape::Sum { monotonic } => {
                        let mut points = Vec::new();
                        for p in raw {
                            let c = cur.entry(p.id).or_insert_with(Cursor::new);
                            let ver = p.value.version();
                            let is_new = c.last_time == 0;
                            let (delta, next) = match (&p.value, &c.prev) {
                                (RawValue::Int(v), Prev::Int(pv)) => {
                                    (DeltaVal::Int(v.wrapping_sub(*pv)), Prev::Int(*v))
                                }
                                (RawValue::Int(v), _) => (DeltaVal::Int(*v), Prev::Int(*v)),
                                (RawValue::Float(v), Prev::Float(pv)) => {
                                    (DeltaVal::Float(v - pv), Prev::Float(*v))
                                }
                                (RawValue::Float(v), _) => (DeltaVal::Float(*v), Prev::Float(*v)),
                                // Observable sums: the observation is a total.
                                // A counter's total below this reader's
                                // previous one, or reset in between (see
                                // `LastValue`), restarted: the delta is the
                                // new total.
                                (RawValue::Last { bits, resets, .. }, prev) => {
                                    let reset = monotonic && !is_new && *resets != c.resets;
                                    c.resets = *resets;
                                    let prev = if reset { &Prev::None } else { prev };
                                    last_delta(d.number, *bits, prev, monotonic)
                                }
                                (RawValue::Hist(_), _) => continue,
                            };
                            let zero = matches!(delta, DeltaVal::Int(0))
                                || matches!(delta, DeltaVal::Float(f) if f == 0.0);
                            c.prev = next;
                            if zero && !is_new && !self.observable {
                                c.version = ver;
                                continue;
                            }
                            let value = match (delta, d.number) {
                                (DeltaVal::Int(v), NumberKind::U64) => Number::U64(v as u64),
                                (DeltaVal::Int(v), _) => Number::I64(v),
                                (DeltaVal::Float(v), _) => Number::F64(v),
                            };
                            let (time, explicit) = point_time(&p.value, now);
                            points.push(NumberPoint {
                                attributes: p.attrs.clone(),
                                start_time: if is_new { p.start } else { c.last_time },
                                time,
                                explicit_time: explicit,
                                value,
                            });
                            c.last_time = now;
                            c.version = ver;
                        }
                        MetricData::Sum(Sum {
                            temporality: t,
                            is_monotonic: monotonic,
                            points,
                        })
                    }
                    Shape::Gauge => {
                        let mut points = Vec::new();
                        for p in raw {
                            let c = cur.entry(p.id).or_insert_with(Cursor::new);
                            let ver = p.value.version();
                            if ver == c.version && !self.observable {
                                continue;
                            }
                            points.push(number_point(d.number, p, 0, now));
                            c.last_time = now;
                            c.version = ver;
                        }
                        MetricData::Gauge(Gauge { points })
                    }
                }
            }
        }
    }
}

enum DeltaVal {
    Int(i64),
    Float(f64),
}

const MONOTONIC: Shape = Shape::Sum { monotonic: true };

impl<C: ReadCell> Stream<C> {
    /// Cumulative points of an observable counter: the observed totals,
    /// each series starting again after a reset (its total went down, see
    /// `LastValue`) at the time of this reader's previous point, so that
    /// the new sequence neither overlaps the old one nor claims the time
    /// before it.
    fn emit_observed_totals(&self, raw: &[RawPoint], reader: u64, now: u64) -> MetricData {
        let d = &self.desc;
        let mut st = lock(&self.state);
        let cur = st.cursors.entry(reader).or_default();
        let points = raw
            .iter()
            .map(|p| {
                let c = cur.entry(p.id).or_insert_with(Cursor::new);
                if let RawValue::Last { resets, .. } = p.value {
                    if c.last_time != 0 && resets != c.resets {
                        c.start = c.last_time;
                    }
                    c.resets = resets;
                }
                c.last_time = now;
                let start = if c.start != 0 { c.start } else { p.start };
                number_point(d.number, p, start, now)
            })
            .collect();
        MetricData::Sum(Sum {
            temporality: Temporality::Cumulative,
            is_monotonic: true,
            points,
        })
    }
}

/// The delta of an observed total. A monotonic total below the previous
/// one restarted from zero: the delta is the total itself.
fn last_delta(n: NumberKind, bits: u64, prev: &Prev, monotonic: bool) -> (DeltaVal, Prev) {
    match n {
        NumberKind::F64 => {
            let v = f64::from_bits(bits);
            let p = match prev {
                Prev::Float(p) if !(monotonic && v < *p) => *p,
                _ => 0.0,
            };
            (DeltaVal::Float(v - p), Prev::Float(v))
        }
        _ => {
            let v = bits as i64;
            let p = match prev {
                Prev::Int(p) if !(monotonic && bits < *p as u64) => *p,
                _ => 0,
            };
            (DeltaVal::Int(v.wrapping_sub(p)), Prev::Int(v))
        }
    }
}

fn point_time(v: &RawValue, now: u64) -> (u64, bool) {
    match v {
        RawValue::Last { ts, .. } if *ts != 0 => (*ts, true),
        _ => (now, false),
    }
}

fn number_point_owned(n: NumberKind, p: RawPoint, start: u64, now: u64) -> NumberPoint {
    let RawPoint { attrs, value, .. } = p;
    number_point_with(n, &value, attrs, start, now)
}

fn number_point(n: NumberKind, p: &RawPoint, start: u64, now: u64) -> NumberPoint {
    number_point_with(n, &p.value, p.attrs.clone(), start, now)
}

fn number_point_with(
    n: NumberKind,
    value: &RawValue,
    attributes: AttributeSet,
    start: u64,
    now: u64,
) -> NumberPoint {
    let v = match (value, n) {
        (RawValue::Int(v), NumberKind::U64) => Number::U64(*v as u64),
        (RawValue::Int(v), _) => Number::I64(*v),
        (RawValue::Float(v), _) => Number::F64(*v),
        (RawValue::Last { bits, .. }, NumberKind::F64) => Number::F64(f64::from_bits(*bits)),
        (RawValue::Last { bits, .. }, NumberKind::U64) => Number::U64(*bits),
        (RawValue::Last { bits, .. }, NumberKind::I64) => Number::I64(*bits as i64),
        (RawValue::Hist(h), _) => Number::F64(h.0.sum),
    };
    let (time, explicit) = point_time(value, now);
    NumberPoint {
        attributes,
        start_time: start,
        time,
        explicit_time: explicit,
        value: v,
    }
}
