//! A stream's storage and recording side: one instrument (as shaped by
//! one view) = one series map, the recording entry points (find the
//! series, apply the measurement to its cell), binding and removal. The
//! collection side is `collect::stream`.

use super::exemplars::Exemplars;
use super::map::{Series, SeriesMap, SeriesRef, Slot};
use crate::aggregation::Aggregator;
use crate::attributes::{hash_attrs, keys_valid, Attr, AttrRef, AttributeSet, Unchecked, ValueRef};
use crate::diagnostics::{Diag, Reason};
use crate::kinds::Measure;
use crate::kinds::{AggregationCell, StreamDesc};
use crate::sync::{lock, Mutex};
use crate::trace::{ExemplarFilter, TraceContext};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// Series unlinked by the host (remove, clear) since the collector last
/// looked: their cursors go.
#[derive(Default)]
pub(crate) struct Removals {
    /// Every series was removed.
    pub cleared: bool,
    /// The cursor slots of every series unlinked (cleared ones included),
    /// for the collector to hand back once their cursors went.
    pub slots: Vec<u32>,
}

/// A stream with cell type `C`.
pub(crate) struct Stream<C: AggregationCell> {
    pub(crate) desc: StreamDesc,
    pub(crate) map: SeriesMap<C>,
    filter: Option<AttrFilter>,
    shutdown: AtomicBool,
    pub(crate) diag: Arc<Diag>,
    removals: Mutex<Removals>,
    /// The series' exemplar reservoirs (`None`: the stream keeps none).
    pub(crate) exemplars: Option<Exemplars>,
    /// Their filter, held inline for the recording path's check after it
    /// found the series (`AlwaysOff` when the stream keeps none).
    pub(crate) sampling: ExemplarFilter,
}

/// One measurement on its way to a series. `EXPLICIT`: whether the call
/// may pass a context of its own (false on the hot paths, whose code then
/// never reads `explicit`).
#[derive(Clone, Copy)]
pub(crate) struct Measurement<'a, const EXPLICIT: bool> {
    pub m: Measure,
    /// Its time in nanoseconds since the Unix epoch (a gauge's
    /// `record_at`), 0 for the collection's.
    pub ts: u64,
    /// The call's own trace context (`None`: the thread's current one
    /// counts for an exemplar).
    pub explicit: Option<&'a TraceContext>,
}

/// Makes the set of a measurement's attributes that the stream's view
/// filter removed (an exemplar keeps them): called only for an exemplar
/// actually written. Streams without a filter pass
/// `&AttributeSet::default`.
pub(crate) type Removed<'a> = &'a dyn Fn() -> AttributeSet;

impl<C: Aggregator> Stream<C> {
    pub(crate) fn new(
        desc: StreamDesc,
        cfg: C::Config,
        cardinality_limit: usize,
        filter: Option<AttrFilter>,
        diag: Arc<Diag>,
    ) -> Self {
        Stream {
            desc,
            map: SeriesMap::new(cardinality_limit, cfg),
            filter,
            shutdown: AtomicBool::new(false),
            diag,
            removals: Mutex::new(Removals::default()),
            exemplars: None,
            sampling: ExemplarFilter::AlwaysOff,
        }
    }

    /// The stream with these exemplar reservoirs.
    pub(crate) fn with_exemplars(mut self, exemplars: Option<Exemplars>) -> Self {
        self.sampling = exemplars
            .as_ref()
            .map_or(ExemplarFilter::AlwaysOff, Exemplars::filter);
        self.exemplars = exemplars;
        self
    }

    /// True once the provider shut down.
    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Refuses recordings from now on (provider shutdown).
    pub(crate) fn set_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// The series the host removed since the last call (the collector's).
    pub(crate) fn take_removals(&self) -> Removals {
        std::mem::take(&mut *lock(&self.removals))
    }

    /// Records `rec` on the series for `attrs`. Lock-free and
    /// allocation-free for an existing series.
    #[inline(always)]
    pub(crate) fn update<A: Attr, const E: bool>(&self, attrs: &[A], rec: &Measurement<'_, E>) {
        if attrs.is_empty() {
            return self.update_empty(rec);
        }
        if self.is_shutdown() {
            return self.after_shutdown();
        }
        match &self.filter {
            None => self.update_inner(attrs, rec, AttributeSet::default),
            Some(flt) => self.update_filtered(flt, attrs, rec),
        }
    }

    #[inline(never)]
    fn update_filtered<A: Attr, const E: bool>(
        &self,
        flt: &AttrFilter,
        attrs: &[A],
        rec: &Measurement<'_, E>,
    ) {
        // The filter may drop an empty key: the caller's attributes are
        // invalid all the same.
        if !keys_valid(attrs) {
            return self.invalid_attributes();
        }
        let removed = || removed_by(flt, attrs);
        with_filtered(flt, attrs, |a| self.update_inner(a, rec, removed))
    }

    /// [`update`](Self::update) and
    /// [`update_unchecked`](Self::update_unchecked) for no attributes
    /// (a constant at most call sites, so the test folds): the anchored empty
    /// series takes the measurement without a pin, a hash or a probe
    /// (see `SeriesMap::anchored`); until it exists, and once the map
    /// stopped anchoring it, the pinned path. A view's attribute filter
    /// leaves no attributes as none.
    #[inline(always)]
    pub(crate) fn update_empty<const E: bool>(&self, rec: &Measurement<'_, E>) {
        if self.is_shutdown() {
            return self.after_shutdown();
        }
        match self.map.anchored() {
            Some(s) => {
                if !self.record_on(s, rec, &AttributeSet::default) {
                    self.sum_overflow()
                }
            }
            None => self.update_empty_pinned(rec),
        }
    }

    /// `f` on the anchored empty series' cell, unless the stream is shut
    /// down, the series is not anchored or the measurement may become an
    /// exemplar: false, having done nothing, when `f` was not called or
    /// returned false (it must then have changed nothing). Calls nothing
    /// but `f`.
    #[inline(always)]
    pub(crate) fn try_anchored(&self, f: impl FnOnce(&C) -> bool) -> bool {
        !self.is_shutdown()
            && self
                .map
                .anchored()
                .is_some_and(|s| !self.sampling.may_sample() && f(&s.cell))
    }

    #[inline(never)]
    fn update_empty_pinned<const E: bool>(&self, rec: &Measurement<'_, E>) {
        crate::context::pin(|| {
            self.apply(
                self.map.resolve::<AttrRef<'_>>(&[], crate::time::now_nanos),
                rec,
                AttributeSet::default,
            )
        })
    }

    #[cold]
    #[inline(never)]
    fn after_shutdown(&self) {
        self.diag.reject(Reason::AfterShutdown, &self.desc.name)
    }

    /// Resolves the series (lock-free when it exists) and records `rec`.
    /// Attributes are checked only on the way to a new series: a stored
    /// series never has an empty key, so one that matches proves them
    /// valid.
    #[inline(always)]
    fn update_inner<A: Attr, const E: bool>(
        &self,
        attrs: &[A],
        rec: &Measurement<'_, E>,
        removed: impl Fn() -> AttributeSet,
    ) {
        crate::context::pin(|| {
            if attrs.is_empty() {
                return self.apply(
                    self.map.resolve(attrs, crate::time::now_nanos),
                    rec,
                    removed,
                );
            }
            let h = hash_attrs(attrs);
            let slot = match self.map.find(h, attrs) {
                Some(s) => Slot::Series(s),
                None if keys_valid(attrs) => self.insert(h, attrs),
                None => return self.invalid_attributes(),
            };
            self.apply(slot, rec, removed)
        })
    }

    /// A new series (`SeriesMap::insert_slow`), with its exemplar block
    /// when the stream's series need one (`Exemplars::prepare`).
    fn insert<A: Attr>(&self, h: u64, attrs: &[A]) -> Slot<'_, C> {
        let slot = self.map.insert_slow(h, attrs, crate::time::now_nanos);
        if let (Some(ex), Slot::Series(s) | Slot::Overflow(s)) = (&self.exemplars, &slot) {
            ex.prepare(s.slot);
        }
        slot
    }

    #[cold]
    #[inline(never)]
    fn invalid_attributes(&self) {
        self.diag.reject(Reason::InvalidAttributes, &self.desc.name)
    }

    /// Records `rec` on a resolved series, counting a measurement routed
    /// to the overflow series.
    #[inline(always)]
    fn apply<const E: bool>(
        &self,
        slot: Slot<'_, C>,
        rec: &Measurement<'_, E>,
        removed: impl Fn() -> AttributeSet,
    ) {
        let s = match slot {
            Slot::Series(s) => s,
            Slot::Overflow(s) => {
                self.diag.reject(Reason::Overflow, &self.desc.name);
                s
            }
        };
        if !self.record_on(s, rec, &removed) {
            self.sum_overflow()
        }
    }

    /// Records `rec` on a found series. The exemplar check comes here,
    /// after the lookup, and calls out of line only when the measurement
    /// may become an exemplar; first in the recording function, the same
    /// check cost 2 to 5 ns per call (BENCHMARKS.md, "Seventh session").
    /// False when the cell refused the measurement.
    #[inline(always)]
    fn record_on<const E: bool>(
        &self,
        series: &Series<C>,
        rec: &Measurement<'_, E>,
        removed: Removed<'_>,
    ) -> bool {
        let sample = match rec.explicit {
            Some(_) if E => self.sampling != ExemplarFilter::AlwaysOff,
            _ => self.sampling.may_sample(),
        };
        if sample {
            return self.record_offering(series, rec.m.to_bits(), rec.ts, rec.explicit, removed);
        }
        Aggregator::record(&series.cell, rec.m, self.map.config(), rec.ts)
    }

    /// [`record_on`](Self::record_on) for a measurement the stream's
    /// filter may keep (`m` as [`Measure::to_bits`] gives it, which a call
    /// passes in registers): recorded, then offered to the series'
    /// reservoir when the filter admits its context (`explicit`, else the
    /// thread's current one). False when the cell refused it (nothing
    /// offered).
    #[cold]
    #[inline(never)]
    pub(crate) fn record_offering(
        &self,
        series: &Series<C>,
        m: (u8, u64),
        ts: u64,
        explicit: Option<&TraceContext>,
        removed: Removed<'_>,
    ) -> bool {
        let m = Measure::from_bits(m);
        let cfg = self.map.config();
        let Some((ex, ctx)) = self
            .exemplars
            .as_ref()
            .and_then(|e| Some((e, e.filter().admit(explicit)?)))
        else {
            return Aggregator::record(&series.cell, m, cfg, ts);
        };
        match Aggregator::record_bucket(&series.cell, m, cfg, ts) {
            Some(bucket) => {
                ex.offer(series.slot, series.id, m, bucket, &ctx, removed);
                true
            }
            None => false,
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
    pub(crate) fn update_unchecked<P: Unchecked, const E: bool>(
        &self,
        attrs: &[P],
        rec: &Measurement<'_, E>,
    ) -> bool {
        if attrs.is_empty() {
            self.update_empty(rec);
            return true;
        }
        if self.is_shutdown() {
            self.after_shutdown();
            return true;
        }
        if self.filter.is_some() {
            return match P::validate(attrs) {
                Some(valid) => {
                    match &self.filter {
                        None => self.update_inner(valid, rec, AttributeSet::default),
                        Some(flt) => {
                            let removed = || removed_by(flt, valid);
                            with_filtered(flt, valid, |a| self.update_inner(a, rec, removed))
                        }
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
                            Some(valid) => self.insert(h, valid),
                            None => return false,
                        },
                    }
                }
            };
            self.apply(slot, rec, AttributeSet::default);
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
        if let Some(ex) = &self.exemplars {
            ex.prepare(s.slot);
        }
        s.cell.hot();
        s
    }

    /// Removes one series. Returns whether it existed.
    pub(crate) fn remove<A: Attr>(&self, attrs: &[A]) -> bool {
        let id = match &self.filter {
            None => self.map.remove(attrs),
            Some(flt) => with_filtered(flt, attrs, |a| self.map.remove(a)),
        };
        if let Some((_, slot)) = id {
            let mut r = lock(&self.removals);
            r.slots.push(slot);
            true
        } else {
            false
        }
    }

    /// Removes every series of the stream.
    pub(crate) fn clear(&self) {
        let slots = self.map.clear();
        let mut r = lock(&self.removals);
        r.cleared = true;
        r.slots.extend(slots);
    }
}

/// The attributes of `attrs` that the view filter `flt` removes.
fn removed_by<A: Attr>(flt: &AttrFilter, attrs: &[A]) -> AttributeSet {
    let r: Vec<AttrRef<'_>> = attrs
        .iter()
        .filter(|a| !flt.keep(a.key()))
        .map(|a| AttrRef {
            key: a.key(),
            value: a.value(),
        })
        .collect();
    AttributeSet::from_attrs(&r)
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
