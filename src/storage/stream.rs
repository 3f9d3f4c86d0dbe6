//! A stream's storage and recording side: one instrument (as shaped by
//! one view) = one series map, the recording entry points (find the
//! series, apply the measurement to its cell), binding and removal. The
//! collection side is `collect::stream`.

use super::exemplars::Exemplars;
use super::map::{Series, SeriesMap, SeriesRef, Slot};
use crate::attributes::{hash_attrs, keys_valid, Attr, AttrRef, AttributeSet, Unchecked, ValueRef};
use crate::diagnostics::{Diag, Reason};
use crate::kinds::{AggregationCell, StreamDesc};
use crate::sync::{lock, Mutex};
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
}

impl<C: AggregationCell> Stream<C> {
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
        }
    }

    /// The stream with these exemplar reservoirs.
    pub(crate) fn with_exemplars(mut self, exemplars: Option<Exemplars>) -> Self {
        self.exemplars = exemplars;
        self
    }

    /// [`update`](Self::update) for a measurement that may become an
    /// exemplar: `f` gets the series (to offer it to the series'
    /// reservoir), not only its cell, and a function making the set of the
    /// measurement's attributes the view's filter removed (an exemplar
    /// keeps them; made only for an exemplar actually written). Always the
    /// pinned path, out of line: only measurements the stream's exemplar
    /// filter may keep come here.
    #[inline(never)]
    pub(crate) fn update_series<A: Attr>(
        &self,
        attrs: &[A],
        f: impl FnOnce(&Series<C>, &C::Config, &dyn Fn() -> AttributeSet) -> bool,
    ) {
        if self.is_shutdown() {
            return self.after_shutdown();
        }
        match &self.filter {
            None => self.update_series_inner(attrs, |s, cfg| f(s, cfg, &AttributeSet::default)),
            Some(flt) => {
                if !keys_valid(attrs) {
                    return self.invalid_attributes();
                }
                let removed = || {
                    let r: Vec<AttrRef<'_>> = attrs
                        .iter()
                        .filter(|a| !flt.keep(a.key()))
                        .map(|a| AttrRef {
                            key: a.key(),
                            value: a.value(),
                        })
                        .collect();
                    AttributeSet::from_attrs(&r)
                };
                with_filtered(flt, attrs, |a| {
                    self.update_series_inner(a, |s, cfg| f(s, cfg, &removed))
                })
            }
        }
    }

    fn update_series_inner<A: Attr>(
        &self,
        attrs: &[A],
        f: impl FnOnce(&Series<C>, &C::Config) -> bool,
    ) {
        crate::context::pin(|| {
            let slot = if attrs.is_empty() {
                self.map.resolve(attrs, crate::time::now_nanos)
            } else {
                let h = hash_attrs(attrs);
                match self.map.find(h, attrs) {
                    Some(s) => Slot::Series(s),
                    None if keys_valid(attrs) => {
                        self.map.insert_slow(h, attrs, crate::time::now_nanos)
                    }
                    None => return self.invalid_attributes(),
                }
            };
            let s = match slot {
                Slot::Series(s) => s,
                Slot::Overflow(s) => {
                    self.diag.reject(Reason::Overflow, &self.desc.name);
                    s
                }
            };
            if !f(s, self.map.config()) {
                self.sum_overflow()
            }
        })
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

    /// Applies `f` to the cell of the series for `attrs`. Lock-free and
    /// allocation-free for an existing series.
    #[inline(always)]
    pub(crate) fn update<A: Attr>(&self, attrs: &[A], f: impl FnOnce(&C, &C::Config) -> bool) {
        if attrs.is_empty() {
            return self.update_empty(f);
        }
        if self.is_shutdown() {
            return self.after_shutdown();
        }
        match &self.filter {
            None => self.update_inner(attrs, f),
            Some(flt) => self.update_filtered(flt, attrs, f),
        }
    }

    #[inline(never)]
    fn update_filtered<A: Attr>(
        &self,
        flt: &AttrFilter,
        attrs: &[A],
        f: impl FnOnce(&C, &C::Config) -> bool,
    ) {
        // The filter may drop an empty key: the caller's attributes are
        // invalid all the same.
        if !keys_valid(attrs) {
            return self.invalid_attributes();
        }
        with_filtered(flt, attrs, |a| self.update_inner(a, f))
    }

    /// [`update`](Self::update) and
    /// [`update_unchecked`](Self::update_unchecked) for no attributes
    /// (a constant at most call sites, so the test folds): the anchored empty
    /// series takes the measurement without a pin, a hash or a probe
    /// (see `SeriesMap::anchored`); until it exists, and once the map
    /// stopped anchoring it, the pinned path. A view's attribute filter
    /// leaves no attributes as none.
    #[inline(always)]
    pub(crate) fn update_empty(&self, f: impl FnOnce(&C, &C::Config) -> bool) {
        if self.is_shutdown() {
            return self.after_shutdown();
        }
        match self.map.anchored() {
            Some(s) => {
                if !f(&s.cell, self.map.config()) {
                    self.sum_overflow()
                }
            }
            None => self.update_empty_pinned(f),
        }
    }

    /// `f` on the anchored empty series' cell, unless the stream is shut
    /// down or the series is not anchored: false, having done nothing,
    /// when `f` was not called or returned false (it must then have
    /// changed nothing). Calls nothing but `f`.
    #[inline(always)]
    pub(crate) fn try_anchored(&self, f: impl FnOnce(&C) -> bool) -> bool {
        !self.is_shutdown() && self.map.anchored().is_some_and(|s| f(&s.cell))
    }

    #[inline(never)]
    fn update_empty_pinned(&self, f: impl FnOnce(&C, &C::Config) -> bool) {
        crate::context::pin(|| {
            self.apply(
                self.map.resolve::<AttrRef<'_>>(&[], crate::time::now_nanos),
                f,
            )
        })
    }

    #[cold]
    #[inline(never)]
    fn after_shutdown(&self) {
        self.diag.reject(Reason::AfterShutdown, &self.desc.name)
    }

    /// Resolves the series (lock-free when it exists) and applies `f`.
    /// Attributes are checked only on the way to a new series: a stored
    /// series never has an empty key, so one that matches proves them
    /// valid.
    #[inline(always)]
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
        if attrs.is_empty() {
            self.update_empty(f);
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
