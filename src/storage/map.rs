//! The per-stream series map: attribute set -> aggregation cell.
//!
//! Reads are lock-free: an open-addressing table of atomic pointers, probed
//! linearly, never more than half full, so a probe always ends at an empty
//! slot. Inserts, removals and growth take one short mutex that recording
//! threads only touch on the first measurement of a new series. Unlinked
//! series and replaced tables are retired and freed by [`SeriesMap::reclaim`]
//! once the reclamation domain proves no reader still holds them.

use crate::attributes::{hash_attrs, Attr, AttributeSet, KeyValue, Probe, Str, Value};
use crate::context::Domain;
use crate::kinds::AggregationCell;
use crate::sync::{
    lock_model_checked, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, ModelCheckedMutex,
    Ordering,
};
use std::ptr;

/// One series: its attributes and its cell.
///
/// Allocated with its attribute set, in the room the set's allocation
/// leaves before its pairs (see `new_series`): one allocation per series,
/// 224 bytes from malloc for a sum with three attributes (a 48-byte
/// series, the set's 24-byte header, three 48-byte pairs).
///
/// Not aligned to a cache line: that went through glibc's `memalign`,
/// which cost about 140 bytes of resident memory per series. The cell
/// comes first instead (`repr(C)`), and at least 63 bytes of the block
/// follow it (the rest of the series, the set's header, a pair: see the
/// `cells_of_two_series_never_share_a_cache_line` test), so the cells of
/// two series with attributes are never on one cache line: two threads
/// recording to two series (two bound handles) do not contend. What may
/// share a cell's line is the end of the block before it (pairs, read by
/// lookups of that series).
///
/// [`release`] drops the fields in place: a new field that owns memory
/// must be dropped there.
#[repr(C)]
pub(crate) struct Series<C> {
    pub(crate) cell: C,
    pub(crate) attrs: AttributeSet,
    /// Creation time in nanoseconds since the Unix epoch (the cumulative
    /// start time), made strictly increasing within the map so that it is
    /// also the series' unique, never reused id.
    pub(crate) id: u64,
    /// References: one held by the map while the series is linked (until
    /// reclamation), one per bound handle, one per eviction in progress;
    /// plus the [`EVICTED`] bit once eviction claimed the series. Bound
    /// series are never evicted, and an evicted series is never bound.
    pub(crate) refs: AtomicU32,
    /// The order in which callers pass this series' attributes, when not
    /// sorted (see `AttributeSet::matches_hinted`).
    pub(crate) order: AtomicU16,
    /// The series' slot: a dense number, unique among the map's series
    /// that the collector may still keep state of (its change detector,
    /// readers' cursors), recycled through [`SeriesMap::free_slots`] (see
    /// `aggregation::Cursors`). What the collector keeps per series lives
    /// in its own vectors indexed by slot, not here: a sum's series fills
    /// one cache line.
    pub(crate) slot: u32,
}

struct Table<C> {
    slots: Box<[AtomicPtr<Series<C>>]>,
    mask: usize,
}

impl<C> Table<C> {
    fn with_capacity(cap: usize) -> Box<Self> {
        let cap = cap.next_power_of_two().max(8);
        let slots = (0..cap).map(|_| AtomicPtr::new(ptr::null_mut())).collect();
        Box::new(Table {
            slots,
            mask: cap - 1,
        })
    }
}

/// The bit of [`Series::refs`] that eviction sets, under the writer lock,
/// in the same compare-exchange that checks the map holds the only
/// reference. A bind that finds it set must not take a reference (its
/// measurements would go to a series no collection reads again); it
/// waits for the unlink and resolves the attributes afresh.
pub(crate) const EVICTED: u32 = 1 << 31;

impl<C> Series<C> {
    /// True when only the map references the series (no bound handle, no
    /// eviction under way): the series may be evicted.
    #[inline]
    pub(crate) fn evictable(&self) -> bool {
        self.refs.load(Ordering::Relaxed) == 1
    }

    /// Takes one more reference unless eviction claimed the series.
    fn try_ref(&self) -> bool {
        let mut r = self.refs.load(Ordering::Relaxed);
        loop {
            if r & EVICTED != 0 {
                return false;
            }
            match self
                .refs
                .compare_exchange_weak(r, r + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(cur) => r = cur,
            }
        }
    }
}

fn tomb<C>() -> *mut Series<C> {
    ptr::without_provenance_mut(1)
}

struct Writer<C> {
    /// Occupied slots in the current table (live + tombstones).
    used: usize,
    retired_series: Vec<*mut Series<C>>,
    retired_tables: Vec<*mut Table<C>>,
    /// Cursor slots handed back by the collector, for new series.
    free_slots: Vec<u32>,
    /// Slots handed out so far (the next never-used slot).
    next_slot: u32,
    /// Empty-attributes series anchored so far (see
    /// [`SeriesMap::anchored`]), each holding one reference until the map
    /// drops: at most [`MAX_ANCHORS`].
    anchors: Vec<*mut Series<C>>,
    /// Owned strings of recent series, shared with new ones.
    strings: SharedStrings,
}

/// The owned strings of recently created series, so that a new series
/// whose attributes repeat them (every key a C caller passes, values
/// such as a method or a status) shares their bytes instead of holding
/// one more allocation of each (at least 32 bytes from malloc).
///
/// A small set-associative cache by content: [`SHARED_WAYS`] entries per
/// bucket, each with a use count. A string not found replaces an unused
/// entry of its bucket, or else wears every entry's count down by one,
/// so strings that recur keep their entry and unique ones (a route with
/// an id) pass through. Bounded: [`SHARED_STRINGS`] strings of at most
/// [`SHARED_STRING_MAX`] bytes. Static strings are kept as they are
/// (their pointer is their identity).
struct SharedStrings {
    entries: Vec<(Option<Str>, u8)>,
}

const SHARED_STRINGS: usize = 64; // a power of two
const SHARED_WAYS: usize = 4;
const SHARED_STRING_MAX: usize = 64;

impl SharedStrings {
    fn new() -> Self {
        SharedStrings {
            entries: Vec::new(),
        }
    }

    /// `s`, or an equal string of an earlier series (sharing its bytes).
    fn share(&mut self, s: Str) -> Str {
        if s.is_static() || s.len() > SHARED_STRING_MAX {
            return s;
        }
        if self.entries.is_empty() {
            self.entries.resize(SHARED_STRINGS, (None, 0));
        }
        let h = crate::attributes::hash_str_value(s.as_bytes()) as usize;
        let b = (h % (SHARED_STRINGS / SHARED_WAYS)) * SHARED_WAYS;
        let bucket = &mut self.entries[b..b + SHARED_WAYS];
        if let Some((Some(e), uses)) = bucket.iter_mut().find(|(e, _)| e.as_ref() == Some(&s)) {
            *uses = uses.saturating_add(1);
            return e.clone();
        }
        match bucket.iter_mut().find(|(_, uses)| *uses == 0) {
            Some(free) => *free = (Some(s.clone()), 1),
            None => bucket.iter_mut().for_each(|(_, uses)| *uses -= 1),
        }
        s
    }

    /// A series' copy of an attribute, its strings shared where possible.
    fn share_pair(&mut self, kv: KeyValue) -> KeyValue {
        if kv.key_str().is_static() && !matches!(kv.value(), Value::Str(v) if !v.is_static()) {
            return kv;
        }
        let (k, v) = kv.into_parts();
        let v = match v {
            Value::Str(v) => Value::Str(self.share(v)),
            other => other,
        };
        KeyValue::new(self.share(k), v)
    }
}

/// How many empty-attributes series one map anchors in its life. Each
/// removal of the empty series (`remove(&[])`, `remove_all`) leaves its
/// anchor allocated until the map drops; past this many, the empty series
/// is found through the pinned path like any other.
const MAX_ANCHORS: usize = 4;

impl<C> Writer<C> {
    /// A cursor slot for a new series: a recycled one, else the next.
    fn take_slot(&mut self) -> u32 {
        self.free_slots.pop().unwrap_or_else(|| {
            let s = self.next_slot;
            self.next_slot = s.saturating_add(1);
            s
        })
    }
}

// SAFETY: the raw pointers in `Writer` are owned (retired tables, Box
// pointers; retired and anchored series, one counted reference each, see
// `Series::refs`) and only touched under the writer mutex; `Series<C>` is
// Send + Sync when C is.
unsafe impl<C: Send + Sync> Send for Writer<C> {}

/// Result of resolving a measurement's series.
pub(crate) enum Slot<'g, C> {
    /// The series for the measurement's attributes.
    Series(&'g Series<C>),
    /// The cardinality limit was reached: the overflow series.
    Overflow(&'g Series<C>),
}

/// The series map of one stream.
pub(crate) struct SeriesMap<C: AggregationCell> {
    table: AtomicPtr<Table<C>>,
    empty: AtomicPtr<Series<C>>,
    /// The empty series again while it is anchored: readable without a
    /// pin (see [`anchored`](Self::anchored)).
    anchor: AtomicPtr<Series<C>>,
    overflow: AtomicPtr<Series<C>>,
    /// Live regular series (including the empty-attributes one).
    live: AtomicUsize,
    /// Maximum number of regular series; the overflow series is extra.
    max_series: usize,
    next_id: AtomicU64,
    cfg: C::Config,
    writer: ModelCheckedMutex<Writer<C>>,
}

// SAFETY: all shared state is atomics or mutex-protected; each series
// lives in its set's allocation with a manual count (`Series::refs`), and
// the map's reference is given up only through the reclamation protocol.
unsafe impl<C: AggregationCell> Send for SeriesMap<C> {}
// SAFETY: as above.
unsafe impl<C: AggregationCell> Sync for SeriesMap<C> {}

impl<C: AggregationCell> SeriesMap<C> {
    /// A map that holds at most `cardinality_limit - 1` regular series plus
    /// the overflow series (the OpenTelemetry definition of the limit): at
    /// most `cardinality_limit` points per collection. A limit of 1 leaves
    /// no room for a regular series, so every measurement goes to the
    /// overflow series; 0 is treated as 1 (the builders refuse it).
    pub(crate) fn new(cardinality_limit: usize, cfg: C::Config) -> Self {
        SeriesMap {
            table: AtomicPtr::new(Box::into_raw(Table::with_capacity(16))),
            empty: AtomicPtr::new(ptr::null_mut()),
            anchor: AtomicPtr::new(ptr::null_mut()),
            overflow: AtomicPtr::new(ptr::null_mut()),
            live: AtomicUsize::new(0),
            max_series: cardinality_limit.max(1) - 1,
            next_id: AtomicU64::new(0),
            cfg,
            writer: ModelCheckedMutex::new(Writer {
                used: 0,
                retired_series: Vec::new(),
                retired_tables: Vec::new(),
                free_slots: Vec::new(),
                next_slot: 0,
                anchors: Vec::new(),
                strings: SharedStrings::new(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &C::Config {
        &self.cfg
    }

    /// The cardinality limit: regular series plus the overflow series.
    pub(crate) fn cardinality_limit(&self) -> usize {
        self.max_series + 1
    }

    /// Number of live regular series.
    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// `max(now, previous + 1)`: a creation time that is unique in the map.
    /// Called under the writer lock, but atomic so it is also sound without.
    fn next_id(&self, now: u64) -> u64 {
        let mut prev = self.next_id.load(Ordering::Relaxed);
        loop {
            let id = now.max(prev + 1);
            match self
                .next_id
                .compare_exchange_weak(prev, id, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return id,
                Err(p) => prev = p,
            }
        }
    }

    /// A new series in `room`, the space that `attrs` (built by
    /// [`AttributeSet::with_room`] with [`series_room`]) leaves for it in
    /// its allocation: one allocation per series. The series' `attrs` is
    /// the set's first reference, so the allocation lives until the series
    /// is released (see [`release`]) and every point that cloned the set
    /// has gone.
    fn new_series(
        &self,
        (attrs, room): (AttributeSet, ptr::NonNull<u8>),
        now: u64,
        slot: u32,
    ) -> *mut Series<C> {
        let order = attrs.identity_order();
        let s = Series {
            cell: C::new(&self.cfg),
            attrs,
            id: self.next_id(now),
            refs: AtomicU32::new(1),
            order: AtomicU16::new(order),
            slot,
        };
        s.cell.made();
        let p = room.as_ptr().cast::<Series<C>>();
        // SAFETY: `room` is uninitialized memory of `series_room::<C>()`'s
        // layout that nothing else uses.
        unsafe { p.write(s) };
        p
    }

    /// Looks up the series for `attrs`; lock-free, allocation-free.
    ///
    /// The caller must be pinned in the reclamation domain for as long as it
    /// uses the returned reference (`'g` is the pin's scope).
    #[inline(always)]
    pub(crate) fn find<'g, A: Probe>(&'g self, hash: u64, attrs: &[A]) -> Option<&'g Series<C>> {
        // SAFETY: the table pointer is always valid; replaced tables are
        // retired, not freed, until every pinned reader has left.
        let t = unsafe { &*self.table.load(Ordering::Acquire) };
        let mut i = hash as usize & t.mask;
        loop {
            let p = t.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p != tomb() {
                // SAFETY: non-null, non-tombstone slots point to live or
                // retired-but-not-freed series (see above).
                let s = unsafe { &*p };
                if s.attrs.hash_value() == hash && s.attrs.matches_hinted(attrs, Some(&s.order)) {
                    return Some(s);
                }
            }
            i = (i + 1) & t.mask;
        }
    }

    /// The empty-attributes series when it is anchored: found without a
    /// pin, so that an attribute-less measurement is one load before the
    /// cell's update. An anchored series holds an extra reference that
    /// only the map's drop gives back, so its memory outlives any reader
    /// that loaded the pointer (and no eviction claims it: the empty
    /// series of a delta stream stays, one series per stream). Removal
    /// clears the anchor; a measurement racing the removal may land in the
    /// removed series, as with any series.
    #[inline(always)]
    pub(crate) fn anchored(&self) -> Option<&Series<C>> {
        let p = self.anchor.load(Ordering::Acquire);
        // SAFETY: an anchored series is freed only when the map drops
        // (its reference is in `Writer::anchors`), and `self` is borrowed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Resolves the series for a measurement: lock-free for an existing
    /// series, one short lock the first time a series is seen. The caller
    /// must be pinned (see [`find`](Self::find)).
    #[inline]
    pub(crate) fn resolve<'g, A: Attr>(
        &'g self,
        attrs: &[A],
        now: impl FnOnce() -> u64,
    ) -> Slot<'g, C> {
        if attrs.is_empty() {
            let p = self.empty.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `find`.
                return Slot::Series(unsafe { &*p });
            }
            return self.insert_slow(hash_attrs(attrs), attrs, now);
        }
        let h = hash_attrs(attrs);
        match self.find(h, attrs) {
            Some(s) => Slot::Series(s),
            None => self.insert_slow(h, attrs, now),
        }
    }

    /// The first measurement of a series (`hash` is `attrs`' hash and no
    /// series matched them): creates it under the writer lock, or routes
    /// to the overflow series at the cardinality limit.
    #[cold]
    #[inline(never)]
    pub(crate) fn insert_slow<'g, A: Attr>(
        &'g self,
        hash: u64,
        attrs: &[A],
        now: impl FnOnce() -> u64,
    ) -> Slot<'g, C> {
        // At the limit, route to the overflow series without locking (once
        // the overflow series exists).
        if self.live.load(Ordering::Relaxed) >= self.max_series {
            let p = self.overflow.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `find`.
                return Slot::Overflow(unsafe { &*p });
            }
        }
        let mut w = lock_model_checked(&self.writer);
        if attrs.is_empty() {
            let p = self.empty.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `find`.
                return Slot::Series(unsafe { &*p });
            }
        } else if let Some(s) = self.find(hash, attrs) {
            return Slot::Series(s);
        }
        // Canonicalize (sort, dedupe); a slice with duplicate keys hashes
        // differently from its canonical set, so look the canonical one up.
        let (set, room) =
            AttributeSet::from_attrs_with(attrs, |kv| w.strings.share_pair(kv), series_room::<C>());
        if !set.is_empty() && set.len() != attrs.len() {
            if let Some(s) = self.find(set.hash_value(), set.as_slice()) {
                return Slot::Series(s);
            }
        }
        if set.is_empty() {
            // Duplicate-free empty canonical set: the empty series.
            let p = self.empty.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `find`.
                return Slot::Series(unsafe { &*p });
            }
        }
        let now = now();
        if self.live.load(Ordering::Relaxed) >= self.max_series {
            let mut p = self.overflow.load(Ordering::Acquire);
            if p.is_null() {
                let ov = AttributeSet::with_room(
                    vec![KeyValue::new("otel.metric.overflow", true)],
                    series_room::<C>(),
                );
                p = self.new_series(ov, now, w.take_slot());
                self.overflow.store(p, Ordering::Release);
            }
            // SAFETY: just created or loaded; retired only under this lock.
            return Slot::Overflow(unsafe { &*p });
        }
        let p = self.new_series((set, room), now, w.take_slot());
        self.live.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `new_series` just wrote the series into its set's
        // allocation, with the one reference the map holds.
        let s = unsafe { &*p };
        if s.attrs.is_empty() {
            self.empty.store(p, Ordering::Release);
            if w.anchors.len() < MAX_ANCHORS {
                s.refs.fetch_add(1, Ordering::Relaxed);
                s.cell.hot();
                w.anchors.push(p);
                self.anchor.store(p, Ordering::Release);
            }
        } else {
            self.insert_locked(&mut w, p);
        }
        Slot::Series(s)
    }

    fn insert_locked(&self, w: &mut Writer<C>, p: *mut Series<C>) {
        // SAFETY: the current table is only replaced under the writer lock we hold.
        let mut t = unsafe { &*self.table.load(Ordering::Acquire) };
        if (w.used + 1) * 2 > t.slots.len() {
            t = self.grow(w);
        }
        // SAFETY: p is a live series.
        let h = unsafe { (*p).attrs.hash_value() };
        let mut i = h as usize & t.mask;
        loop {
            let cur = t.slots[i].load(Ordering::Relaxed);
            if cur.is_null() {
                w.used += 1;
                t.slots[i].store(p, Ordering::Release);
                return;
            }
            if cur == tomb() {
                t.slots[i].store(p, Ordering::Release);
                return;
            }
            i = (i + 1) & t.mask;
        }
    }

    /// Replaces the table by one sized for the live series, dropping
    /// tombstones; the old table is retired.
    fn grow<'a>(&'a self, w: &mut Writer<C>) -> &'a Table<C> {
        let old_p = self.table.load(Ordering::Acquire);
        // SAFETY: current table, valid under the writer lock.
        let old = unsafe { &*old_p };
        let live = old
            .slots
            .iter()
            .filter(|s| {
                let p = s.load(Ordering::Relaxed);
                !p.is_null() && p != tomb()
            })
            .count();
        let cap = ((live + 2) * 2).next_power_of_two().max(16);
        let new = Table::with_capacity(cap);
        for s in old.slots.iter() {
            let p = s.load(Ordering::Relaxed);
            if p.is_null() || p == tomb() {
                continue;
            }
            // SAFETY: live series.
            let h = unsafe { (*p).attrs.hash_value() };
            let mut i = h as usize & new.mask;
            while !new.slots[i].load(Ordering::Relaxed).is_null() {
                i = (i + 1) & new.mask;
            }
            new.slots[i].store(p, Ordering::Relaxed);
        }
        w.used = live;
        let new_p = Box::into_raw(new);
        self.table.store(new_p, Ordering::Release);
        w.retired_tables.push(old_p);
        // SAFETY: just published; replaced only under the writer lock.
        unsafe { &*new_p }
    }

    /// Visits every series (regular, then overflow). The caller must be
    /// pinned. Series inserted concurrently may be missed (next cycle).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Series<C>, bool)) {
        let e = self.empty.load(Ordering::Acquire);
        if !e.is_null() {
            // SAFETY: as in `find`.
            f(unsafe { &*e }, false);
        }
        // SAFETY: as in `find`.
        let t = unsafe { &*self.table.load(Ordering::Acquire) };
        // Series are scattered in memory: prefetch a few slots ahead so the
        // walk of a large map is not one cache miss per series.
        const AHEAD: usize = 8;
        let n = t.slots.len();
        for i in 0..n {
            if i + AHEAD < n {
                // Null and tombstone slots are fine: prefetches never fault.
                crate::hint::prefetch(t.slots[i + AHEAD].load(Ordering::Relaxed));
            }
            let p = t.slots[i].load(Ordering::Acquire);
            if !p.is_null() && p != tomb() {
                // SAFETY: as in `find`.
                f(unsafe { &*p }, false);
            }
        }
        let o = self.overflow.load(Ordering::Acquire);
        if !o.is_null() {
            // SAFETY: as in `find`.
            f(unsafe { &*o }, true);
        }
    }

    /// Returns a counted handle to the series for `attrs` (for bound
    /// instruments). Pinned internally.
    ///
    /// A series that eviction has claimed is never bound: the bind waits
    /// for the evictor to release the writer lock (by then the series is
    /// unlinked) and resolves the attributes again, finding or creating
    /// the live series.
    pub(crate) fn acquire<A: Attr>(
        &self,
        attrs: &[A],
        now: impl Fn() -> u64,
    ) -> (SeriesRef<C>, bool) {
        loop {
            let got = pin_here(|| {
                let (s, overflow) = match self.resolve(attrs, &now) {
                    Slot::Series(s) => (s, false),
                    Slot::Overflow(s) => (s, true),
                };
                // The series cannot be freed while we are pinned, and the
                // map's own reference is only released after an unpinned
                // grace period, so the count is at least 1 here.
                s.try_ref().then(|| {
                    (
                        SeriesRef {
                            ptr: s as *const Series<C> as *mut Series<C>,
                        },
                        overflow,
                    )
                })
            });
            match got {
                Some(r) => return r,
                // Claimed by an eviction that holds the writer lock until
                // the series is unlinked.
                None => drop(lock_model_checked(&self.writer)),
            }
        }
    }

    /// Unlinks the series with exactly these attributes. Returns its id
    /// and cursor slot if one existed. Its memory is freed by a later
    /// [`reclaim`](Self::reclaim).
    pub(crate) fn remove<A: Attr>(&self, attrs: &[A]) -> Option<(u64, u32)> {
        let set = AttributeSet::from_attrs(attrs);
        let mut w = lock_model_checked(&self.writer);
        if set.is_empty() {
            self.anchor.store(ptr::null_mut(), Ordering::Release);
            let p = self.empty.swap(ptr::null_mut(), Ordering::AcqRel);
            if p.is_null() {
                return None;
            }
            self.live.fetch_sub(1, Ordering::Relaxed);
            w.retired_series.push(p);
            // SAFETY: retired, not freed yet.
            return Some(unsafe { ((*p).id, (*p).slot) });
        }
        self.remove_locked(&mut w, &set, None)
    }

    /// Evicts the series `id` with attributes `set` if only the map holds
    /// it: claims it (the [`EVICTED`] bit, so no bind can take it from now
    /// on), unlinks it, and returns a reference that keeps it readable.
    ///
    /// A recording thread that found the series before the unlink may
    /// still add to it until it unpins: the caller reads the series' final
    /// value only after a grace period (`Domain::synchronize`) that began
    /// after this call, and delivers what arrived since the value it
    /// reported. Returns `None` (nothing changed) when the series is gone
    /// or a bound handle holds it.
    pub(crate) fn evict(&self, set: &AttributeSet, id: u64) -> Option<SeriesRef<C>> {
        let mut w = lock_model_checked(&self.writer);
        let claim = |s: &Series<C>| {
            s.id == id
                && s.refs
                    .compare_exchange(1, EVICTED | 2, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
        };
        let p = if set.is_empty() {
            let p = self.empty.load(Ordering::Acquire);
            // SAFETY: as in `find`; unlinked only under this lock.
            if p.is_null() || !claim(unsafe { &*p }) {
                return None;
            }
            self.empty.store(ptr::null_mut(), Ordering::Release);
            self.live.fetch_sub(1, Ordering::Relaxed);
            w.retired_series.push(p);
            p
        } else {
            // SAFETY: current table under the writer lock.
            let t = unsafe { &*self.table.load(Ordering::Acquire) };
            let mut i = set.hash_value() as usize & t.mask;
            loop {
                let p = t.slots[i].load(Ordering::Acquire);
                if p.is_null() {
                    return None;
                }
                // SAFETY: live series (unlinked only under this lock).
                if p != tomb() && unsafe { (*p).id } == id {
                    // SAFETY: as above.
                    if !claim(unsafe { &*p }) {
                        return None;
                    }
                    t.slots[i].store(tomb(), Ordering::Release);
                    self.live.fetch_sub(1, Ordering::Relaxed);
                    w.retired_series.push(p);
                    break p;
                }
                i = (i + 1) & t.mask;
            }
        };
        // The claim took the second reference: the map's stays with the
        // retired series until reclamation.
        Some(SeriesRef { ptr: p })
    }

    fn remove_locked(
        &self,
        w: &mut Writer<C>,
        set: &AttributeSet,
        id: Option<u64>,
    ) -> Option<(u64, u32)> {
        // SAFETY: current table under the writer lock.
        let t = unsafe { &*self.table.load(Ordering::Acquire) };
        let h = set.hash_value();
        let mut i = h as usize & t.mask;
        loop {
            let p = t.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p != tomb() {
                // SAFETY: live series.
                let s = unsafe { &*p };
                if s.attrs == *set && id.is_none_or(|id| id == s.id) {
                    t.slots[i].store(tomb(), Ordering::Release);
                    self.live.fetch_sub(1, Ordering::Relaxed);
                    w.retired_series.push(p);
                    return Some((s.id, s.slot));
                }
            }
            i = (i + 1) & t.mask;
        }
    }

    /// Unlinks every series, the overflow series included. Returns their
    /// cursor slots.
    pub(crate) fn clear(&self) -> Vec<u32> {
        let mut w = lock_model_checked(&self.writer);
        let old_p = self
            .table
            .swap(Box::into_raw(Table::with_capacity(16)), Ordering::AcqRel);
        // SAFETY: the old table is retired below, not freed.
        let old = unsafe { &*old_p };
        let mut slots = Vec::new();
        for s in old.slots.iter() {
            let p = s.load(Ordering::Acquire);
            if !p.is_null() && p != tomb() {
                w.retired_series.push(p);
                // SAFETY: retired, not freed yet.
                slots.push(unsafe { (*p).slot });
            }
        }
        w.retired_tables.push(old_p);
        w.used = 0;
        self.anchor.store(ptr::null_mut(), Ordering::Release);
        for slot in [&self.empty, &self.overflow] {
            let p = slot.swap(ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                w.retired_series.push(p);
                // SAFETY: as above.
                slots.push(unsafe { (*p).slot });
            }
        }
        self.live.store(0, Ordering::Relaxed);
        slots
    }

    /// Slots handed out so far: every series' slot is below it.
    pub(crate) fn slot_count(&self) -> usize {
        lock_model_checked(&self.writer).next_slot as usize
    }

    /// Hands cursor slots back for new series: the collector's, once no
    /// reader can hold a cursor of the series that had them (removed or
    /// cleared series, evicted ones once settled with every reader).
    pub(crate) fn free_slots(&self, slots: &[u32]) {
        if !slots.is_empty() {
            lock_model_checked(&self.writer)
                .free_slots
                .extend_from_slice(slots);
        }
    }

    /// True when there is retired memory waiting for reclamation.
    pub(crate) fn has_garbage(&self) -> bool {
        let w = lock_model_checked(&self.writer);
        !w.retired_series.is_empty() || !w.retired_tables.is_empty()
    }

    /// Frees retired series and tables once no pinned reader can hold them.
    /// Never blocks for long: if a reader stays pinned, retries next time.
    pub(crate) fn reclaim(&self, domain: &Domain) {
        let (series, tables) = {
            let mut w = lock_model_checked(&self.writer);
            if w.retired_series.is_empty() && w.retired_tables.is_empty() {
                return;
            }
            (
                std::mem::take(&mut w.retired_series),
                std::mem::take(&mut w.retired_tables),
            )
        };
        if domain.synchronize() {
            for p in series {
                // SAFETY: unlinked before `synchronize`, no pinned reader
                // holds it; this drops the map's reference.
                unsafe { release(p) };
            }
            for t in tables {
                // SAFETY: as above, for a table allocated with Box.
                drop(unsafe { Box::from_raw(t) });
            }
        } else {
            let mut w = lock_model_checked(&self.writer);
            w.retired_series.extend(series);
            w.retired_tables.extend(tables);
        }
    }
}

impl<C: AggregationCell> Drop for SeriesMap<C> {
    fn drop(&mut self) {
        // Exclusive access: no reader can exist any more.
        let w = match self.writer.get_mut() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        for p in w.retired_series.drain(..) {
            // SAFETY: exclusive access; the map's reference.
            unsafe { release(p) };
        }
        for t in w.retired_tables.drain(..) {
            // SAFETY: exclusive access, Box-owned pointer.
            drop(unsafe { Box::from_raw(t) });
        }
        for p in w.anchors.drain(..) {
            // SAFETY: exclusive access; the anchor's reference.
            unsafe { release(p) };
        }
        let t = self.table.load(Ordering::Relaxed);
        // SAFETY: exclusive access; the current table and its series are ours.
        let t = unsafe { Box::from_raw(t) };
        for s in t.slots.iter() {
            let p = s.load(Ordering::Relaxed);
            if !p.is_null() && p != tomb() {
                // SAFETY: as above.
                unsafe { release(p) };
            }
        }
        for slot in [&self.empty, &self.overflow] {
            let p = slot.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: as above.
                unsafe { release(p) };
            }
        }
    }
}

/// The room a series takes in its attribute set's allocation.
fn series_room<C>() -> std::alloc::Layout {
    std::alloc::Layout::new::<Series<C>>()
}

/// Drops one reference to a series, dropping it with the last one.
///
/// # Safety
/// `p` must come from `SeriesMap::new_series` and the caller must own one
/// reference, which it gives up.
unsafe fn release<C>(p: *mut Series<C>) {
    // SAFETY: the caller owns a reference, so the series is alive.
    if unsafe { (*p).refs.fetch_sub(1, Ordering::AcqRel) } & !EVICTED == 1 {
        // SAFETY: that was the last reference: nothing reads the series
        // any more. Its fields are dropped in place, its set last: the
        // series lives in the set's allocation (see `new_series`), which
        // goes with the set's last reference, maybe this one. Nothing
        // touches `*p` after that.
        unsafe {
            let attrs = ptr::read(&(*p).attrs);
            ptr::drop_in_place(&mut (*p).cell);
            ptr::drop_in_place(&mut (*p).refs);
            ptr::drop_in_place(&mut (*p).order);
            drop(attrs);
        }
    }
}

/// A counted reference to a series (held by bound instruments): keeps the
/// series alive after removal from its map.
pub(crate) struct SeriesRef<C> {
    ptr: *mut Series<C>,
}

// SAFETY: a shared reference to a Sync series; the count is atomic.
unsafe impl<C: Send + Sync> Send for SeriesRef<C> {}
// SAFETY: as above.
unsafe impl<C: Send + Sync> Sync for SeriesRef<C> {}

impl<C> std::ops::Deref for SeriesRef<C> {
    type Target = Series<C>;
    #[inline]
    fn deref(&self) -> &Series<C> {
        // SAFETY: we own a reference, so the series is alive.
        unsafe { &*self.ptr }
    }
}

impl<C> Drop for SeriesRef<C> {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { release(self.ptr) }
    }
}

#[cfg(not(loom))]
#[inline]
fn pin_here<R>(f: impl FnOnce() -> R) -> R {
    crate::context::pin(f)
}

#[cfg(loom)]
fn pin_here<R>(f: impl FnOnce() -> R) -> R {
    // Loom models pin explicitly through their own domain.
    f()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::aggregation::SumInt;
    use crate::attributes::KeyValue;

    fn slot_of(map: &SeriesMap<SumInt>, v: i64) -> u32 {
        crate::context::pin(|| match map.resolve(&[KeyValue::new("k", v)], || 1) {
            Slot::Series(s) | Slot::Overflow(s) => s.slot,
        })
    }

    /// Slots are dense, and a slot handed back goes to the next new series
    /// (never while its series is linked).
    #[test]
    fn slots_are_dense_and_recycled() {
        let map: SeriesMap<SumInt> = SeriesMap::new(100, ());
        let slots: Vec<u32> = (0..5).map(|v| slot_of(&map, v)).collect();
        let mut sorted = slots.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(slot_of(&map, 2), slots[2], "a linked series keeps its slot");
        let (_, freed) = map.remove(&[KeyValue::new("k", 2)]).expect("linked");
        assert_eq!(freed, slots[2]);
        // Not handed back yet: a new series gets a new slot.
        assert_eq!(slot_of(&map, 5), 5);
        map.free_slots(&[freed]);
        assert_eq!(slot_of(&map, 6), freed);
        assert_eq!(slot_of(&map, 7), 6);
        let mut cleared = map.clear();
        cleared.sort();
        assert_eq!(cleared, vec![0, 1, 2, 3, 4, 5, 6]);
    }

    /// A cell starts its series' block, and the block holds at least 63
    /// bytes after the cell when the set has a pair, for every cell type:
    /// the next block's cell (or the previous block's) is on another
    /// cache line.
    #[test]
    fn cells_of_two_series_never_share_a_cache_line() {
        use crate::aggregation::{ExpoHistogramCell, HistogramCell, LastValue, SumFloat, SumU64};
        fn check<C>() {
            assert_eq!(std::mem::offset_of!(Series<C>, cell), 0);
            let block = AttributeSet::heap_bytes(1, std::mem::size_of::<Series<C>>());
            assert!(
                block >= std::mem::size_of::<C>() + 63,
                "{}: block {block}",
                std::any::type_name::<C>()
            );
        }
        check::<SumInt>();
        check::<SumU64>();
        check::<SumFloat>();
        check::<LastValue>();
        check::<HistogramCell>();
        check::<ExpoHistogramCell>();
        // Two live series of a map, side by side or not.
        let map: SeriesMap<SumU64> = SeriesMap::new(100, ());
        let cells: Vec<usize> = (0..64i64)
            .map(|i| {
                crate::context::pin(|| match map.resolve(&[KeyValue::new("k", i)], || 1) {
                    Slot::Series(s) | Slot::Overflow(s) => &s.cell as *const SumU64 as usize,
                })
            })
            .collect();
        for (i, a) in cells.iter().enumerate() {
            for b in &cells[i + 1..] {
                let (lo, hi) = if a < b { (*a, *b) } else { (*b, *a) };
                let last = lo + std::mem::size_of::<SumU64>() - 1;
                assert_ne!(last / 64, hi / 64, "cells at {lo:#x} and {hi:#x}");
            }
        }
    }

    fn owned(s: &str) -> Str {
        Str::from_string(s.to_owned())
    }

    /// Recurring owned strings are shared between series (one copy of the
    /// bytes), even while unique strings stream past; static strings keep
    /// their pointer; the cache never holds more than its bound.
    #[test]
    fn shared_strings_keep_recurring_ones() {
        let mut c = SharedStrings::new();
        let recurring = [
            "method", "route", "status", "GET", "POST", "200", "404", "500",
        ];
        let first: Vec<Str> = recurring.iter().map(|r| c.share(owned(r))).collect();
        for i in 0..10_000 {
            let unique = c.share(owned(&format!("/api/v1/items/{i}")));
            assert_eq!(unique, format!("/api/v1/items/{i}").as_str());
            let r = recurring[i % recurring.len()];
            let again = c.share(owned(r));
            assert_eq!(again, r);
            assert_eq!(
                again.as_ptr(),
                first[i % recurring.len()].as_ptr(),
                "{r} shared at {i}"
            );
        }
        let lit = Str::from_static("GET");
        let shared = c.share(lit.clone());
        assert!(shared.is_static() && shared.as_ptr() == lit.as_ptr());
        let long = "x".repeat(SHARED_STRING_MAX + 1);
        let p = owned(&long);
        let ptr = p.as_ptr();
        assert_eq!(c.share(p).as_ptr(), ptr, "long strings are not cached");
        assert_eq!(c.entries.len(), SHARED_STRINGS);
    }

    /// A series' attributes share their owned keys and repeated values with
    /// earlier series of the map; the set stays equal to the caller's.
    #[test]
    fn new_series_share_owned_strings() {
        let map: SeriesMap<SumInt> = SeriesMap::new(100, ());
        let attrs = |i: i64| {
            [
                KeyValue::new(String::from("method"), String::from("GET")),
                KeyValue::new(String::from("id"), i),
            ]
        };
        let ptrs: Vec<(*const u8, *const u8)> = (0..3)
            .map(|i| {
                crate::context::pin(|| match map.resolve(&attrs(i), || 1) {
                    Slot::Series(s) | Slot::Overflow(s) => {
                        assert_eq!(s.attrs, AttributeSet::from_attrs(&attrs(i)));
                        let m = &s.attrs.as_slice()[1];
                        let Value::Str(v) = m.value() else {
                            panic!("string value")
                        };
                        (m.key().as_ptr(), v.as_ptr())
                    }
                })
            })
            .collect();
        assert!(ptrs.iter().all(|p| *p == ptrs[0]), "{ptrs:?}");
    }
}
