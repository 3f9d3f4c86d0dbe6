//! The collection side of one stream: each cycle reads every series once,
//! and each reader gets its points from that read through its own cursors
//! (delta readers: the change since their previous collection). The
//! aggregation of the stream (`crate::aggregation::Aggregator`) reads its
//! cells and builds the points; this module keeps the cursors, evicts idle
//! series and settles what evicted series still owe each reader.
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

use super::data::{Exemplar, MetricData, PointExemplars, Temporality};
use super::owed::Owed;
use crate::aggregation::{Aggregator, Cursors, Emit, RawPoint};
use crate::attributes::AttributeSet;
use crate::diagnostics::Reason;
use crate::kinds::StreamDesc;
use crate::storage::exemplars::RawExemplar;
use crate::storage::stream::Stream;
use crate::storage::SeriesRef;
use crate::sync::{lock, Mutex};
use std::any::Any;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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

/// One stream's points as a cycle read them (a [`Reading`] of the
/// aggregation's own `RawPoint`s: only that stream's collector reads them
/// back).
pub(crate) type RawBatch = Box<dyn Any + Send + Sync>;

/// What one cycle read of one stream.
struct Reading<R> {
    /// The cycle's number.
    no: u64,
    points: Vec<RawPoint<R>>,
    /// Per point, the number of the cycle that last saw its series change
    /// (empty when changes were not tracked): a delta reader whose
    /// previous report came from a later or the same cycle has nothing
    /// to report for it.
    changed_in: Vec<u64>,
    /// The exemplars of the series whose reservoirs held some (an
    /// evicted series' are dropped with its point).
    exemplars: Vec<SeriesExemplars>,
}

/// One series' exemplars as a cycle read them.
type SeriesExemplars = (AttributeSet, Vec<RawExemplar>);

/// A cycle's points for [`StreamCollect::emit`]: moved when no other
/// reader shares the cycle, borrowed when one does.
pub(crate) enum RawIn<'a> {
    Owned(RawBatch),
    Shared(&'a RawBatch),
}

/// The collection side of a stream, object-safe so a meter can hold the
/// streams of every aggregation in one list.
pub(crate) trait StreamCollect: Send + Sync {
    fn desc(&self) -> &StreamDesc;
    /// Reads every series once for cycle number `no` (taken at `now`);
    /// folds what the read reset into delta readers' cursors; evicts idle
    /// series and settles evicted ones with the delta readers; frees
    /// garbage.
    fn cycle(&self, readers: &[CycleReader], no: u64, now: u64) -> RawBatch;
    /// Turns the cycle's points into this reader's points.
    fn emit(&self, raw: RawIn<'_>, reader: u64, t: Temporality, now: u64) -> MetricData;
    /// Drops the cursors of a reader that went away.
    fn forget_reader(&self, reader: u64);
    /// Refuses recordings from now on (provider shutdown).
    fn set_shutdown(&self);
}

/// An evicted series whose final value has been read, waiting until each
/// delta reader in `pending` has been given what it had not reported.
struct Settled<R> {
    point: RawPoint<R>,
    /// The cycle that evicted it: earlier cycles' points still carry it.
    evicted_in: u64,
    pending: Vec<u64>,
}

struct CollectState<C: Aggregator> {
    /// reader id -> its cursors, by series slot.
    cursors: HashMap<u64, Cursors<C::Prev>>,
    /// Evicted series (with the evicting cycle) that recording threads may
    /// still be adding to: read once a grace period has passed.
    draining: Vec<(SeriesRef<C>, u64)>,
    /// Evicted series with their final value, not yet settled with every
    /// delta reader.
    settled: Vec<Settled<C::Read>>,
    /// reader id -> points of settled series it has not collected yet.
    owed: HashMap<u64, Owed>,
    /// reader id -> the latest cycle whose points it reported as deltas
    /// (with its cursors moved to them).
    delta_cycle: HashMap<u64, u64>,
}

impl<C: Aggregator> Default for CollectState<C> {
    fn default() -> Self {
        CollectState {
            cursors: HashMap::new(),
            draining: Vec::new(),
            settled: Vec::new(),
            owed: HashMap::new(),
            delta_cycle: HashMap::new(),
        }
    }
}

/// The collector of one stream whose cells are `C`.
pub(crate) struct StreamCollector<C: Aggregator> {
    stream: Arc<Stream<C>>,
    observable: bool,
    evict_after: u32,
    state: Mutex<CollectState<C>>,
    /// Per series slot, what the walk compares (collector only).
    changes: Mutex<Changes>,
}

/// Per series slot: the change detector the previous cycle read, the
/// cycles in a row without change (saturating), and the number of the
/// cycle that last saw it change.
#[derive(Default)]
struct Changes {
    slots: Vec<SlotChanges>,
}

/// One slot's changes in 16 bytes (they are kept per series): the
/// version, then the cycle that last saw a change (48 bits: 2^48 cycles
/// are millennia of collections) above the idle count (16 bits).
#[derive(Clone, Copy)]
struct SlotChanges {
    version: u64,
    changed_in_idle: u64,
}

/// The largest cycle number a slot keeps: "changed now" until seen.
const CHANGED_UNKNOWN: u64 = (1 << 48) - 1;

impl SlotChanges {
    #[inline]
    fn changed_in(self) -> u64 {
        self.changed_in_idle >> 16
    }

    #[inline]
    fn idle(self) -> u16 {
        self.changed_in_idle as u16
    }

    #[inline]
    fn set(&mut self, changed_in: u64, idle: u16) {
        self.changed_in_idle = (changed_in.min(CHANGED_UNKNOWN) << 16) | u64::from(idle);
    }
}

/// A slot no series was seen in (or whose series went): its next read
/// is a change, and until then it counts as changed now.
const UNSEEN: SlotChanges = SlotChanges {
    version: u64::MAX,
    changed_in_idle: CHANGED_UNKNOWN << 16,
};

impl Changes {
    /// Makes room for `slots` slots (before a walk: no growth per series).
    fn fit(&mut self, slots: usize) {
        if slots > self.slots.len() {
            self.slots.resize(slots, UNSEEN);
        }
    }

    /// Whether the series in `slot` changed since the previous cycle (its
    /// first is a change), its cycles in a row without change, and the
    /// cycle that last saw it change (`no` when this one did;
    /// [`CHANGED_UNKNOWN`] when it was not seen since it was forgotten).
    #[inline]
    fn see(&mut self, slot: u32, version: u64, no: u64) -> (bool, u16, u64) {
        let i = slot as usize;
        if i >= self.slots.len() {
            self.fit(i + 1);
        }
        let s = &mut self.slots[i];
        let changed = s.version != version;
        s.version = version;
        if changed {
            s.set(no, 0);
        } else {
            s.set(s.changed_in(), s.idle().saturating_add(1));
        }
        (changed, s.idle(), s.changed_in())
    }

    /// [`see`](Self::see) without the idle count (nothing evicts and
    /// nothing is observed): only the cycle that last saw it change.
    #[inline]
    fn last_change(&mut self, slot: u32, version: u64, no: u64) -> u64 {
        let i = slot as usize;
        if i >= self.slots.len() {
            self.fit(i + 1);
        }
        let s = &mut self.slots[i];
        if s.version != version {
            s.version = version;
            s.set(no, 0);
        }
        s.changed_in()
    }

    /// Forgets a slot whose series went (a series that gets it is new),
    /// or whose series could not be read (its next read is a change).
    fn forget(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = UNSEEN;
        }
    }

    fn clear(&mut self) {
        if !self.slots.is_empty() {
            *self = Changes::default();
        }
    }
}

impl<C: Aggregator> StreamCollector<C> {
    pub(crate) fn new(stream: Arc<Stream<C>>, evict_after: u32) -> Self {
        StreamCollector {
            observable: stream.desc.kind.is_observable(),
            stream,
            evict_after,
            state: Mutex::new(CollectState::default()),
            changes: Mutex::new(Changes::default()),
        }
    }

    /// Hands slots of series that went back to the map, once no reader
    /// needs their cursors any more (a reader's cursors of them stay, and
    /// a series that gets the slot starts afresh: see `Cursors`).
    fn free(&self, slots: &[u32]) {
        if slots.is_empty() {
            return;
        }
        let mut ch = lock(&self.changes);
        for s in slots {
            ch.forget(*s);
        }
        drop(ch);
        self.stream.map.free_slots(slots);
    }

    /// Words of sized state per cursor of this stream.
    fn stride(&self) -> usize {
        C::words(self.stream.map.config())
    }

    fn emit_ctx(&self, now: u64) -> Emit<'_, C> {
        Emit {
            desc: &self.stream.desc,
            cfg: self.stream.map.config(),
            observable: self.observable,
            now,
        }
    }

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
        let mut unread = Vec::new();
        for (s, evicted_in) in draining {
            match s.cell.read() {
                Some(value) => finals.push((
                    RawPoint {
                        id: s.id,
                        slot: s.slot,
                        attrs: s.attrs.clone(),
                        start: s.id,
                        value,
                    },
                    evicted_in,
                )),
                None => unread.push(s.slot),
            }
        }
        // Nothing to settle: no reader needs their cursors any more.
        self.free(&unread);
        let stride = self.stride();
        let mut st = lock(&self.state);
        if C::FOLDS {
            for (point, _) in &finals {
                fold_into_readers::<C>(
                    &mut st.cursors,
                    stride,
                    readers,
                    std::slice::from_ref(point),
                );
            }
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
        let stride = self.stride();
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
            let ready: Vec<RawPoint<C::Read>> = st
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
            let data = C::delta(
                &self.emit_ctx(now),
                &ready,
                reader_cursors::<C>(&mut st.cursors, r.id, stride),
            );
            let cap = self.stream.map.cardinality_limit();
            let folded = st.owed.entry(r.id).or_default().stash(data, cap);
            for _ in 0..folded {
                self.stream
                    .diag
                    .reject(Reason::LaggingReader, &self.stream.desc.name);
            }
            // The reader's cursors of these series are left behind: their
            // slots go back to the map once every reader is settled, and a
            // series that gets one starts afresh (see `Cursors`).
            let ids: HashSet<u64> = ready.iter().map(|p| p.id).collect();
            for s in st.settled.iter_mut() {
                if ids.contains(&s.point.id) {
                    s.pending.retain(|id| *id != r.id);
                }
            }
        }
        self.retire_settled(&mut st);
    }

    /// Drops the settled series no reader is owed any more, handing their
    /// cursor slots back to the map.
    fn retire_settled(&self, st: &mut CollectState<C>) {
        let mut done = Vec::new();
        st.settled.retain(|s| {
            let keep = !s.pending.is_empty();
            if !keep {
                done.push(s.point.slot);
            }
            keep
        });
        self.free(&done);
    }

    /// A delta reader's points of cycle `no` without the series that did
    /// not change since the cycle of its previous report: their delta is
    /// zero and their cursors already hold their value, so the
    /// aggregation would report nothing for them (its cursor lookup per
    /// series is what a delta reader of idle series pays otherwise).
    /// Records `no` as the reader's latest reported cycle. A cycle older
    /// than the reader's previous one skips nothing.
    fn skip_unchanged<'a>(
        &self,
        raw: Cow<'a, [RawPoint<C::Read>]>,
        changed_in: &[u64],
        previous: u64,
        no: u64,
    ) -> Cow<'a, [RawPoint<C::Read>]> {
        if changed_in.len() != raw.len()
            || previous == 0
            || previous >= no
            || previous >= CHANGED_UNKNOWN
        {
            return raw;
        }
        let changed = |i: usize| changed_in[i] > previous;
        let unchanged = (0..raw.len()).filter(|i| !changed(*i)).count();
        if unchanged == 0 {
            return raw;
        }
        let mut i = 0;
        let mut keep = |_: &RawPoint<C::Read>| {
            i += 1;
            changed(i - 1)
        };
        Cow::Owned(match raw {
            Cow::Owned(mut v) => {
                v.retain(|p| keep(p));
                v
            }
            Cow::Borrowed(v) => v.iter().filter(|p| keep(p)).cloned().collect(),
        })
    }

    /// The latest cycle whose points delta reader `reader` reported before
    /// this one (0: none); records `no` as reported.
    fn delta_reported(&self, reader: u64, no: u64) -> u64 {
        let mut st = lock(&self.state);
        let last = st.delta_cycle.entry(reader).or_insert(0);
        let previous = *last;
        *last = previous.max(no);
        previous
    }

    /// One reader's points of a cycle (`emit` without what the reader is
    /// owed); moves its cursors.
    fn emit_raw(
        &self,
        raw: Cow<'_, [RawPoint<C::Read>]>,
        reader: u64,
        t: Temporality,
        now: u64,
    ) -> MetricData {
        let e = self.emit_ctx(now);
        let stride = self.stride();
        let mut st = lock(&self.state);
        let cursors = reader_cursors::<C>(&mut st.cursors, reader, stride);
        let data = match t {
            Temporality::Cumulative => C::cumulative(&e, raw, cursors),
            Temporality::Delta => C::delta(&e, &raw, cursors),
        };
        cursors.last_time = cursors.last_time.max(now);
        data
    }
}

/// Folds what the cycle's reads reset (a histogram's interval extremes)
/// into every delta reader's cursor: it is reported, and reset, at that
/// reader's next report.
fn fold_into_readers<C: Aggregator>(
    cursors: &mut HashMap<u64, Cursors<C::Prev>>,
    stride: usize,
    readers: &[CycleReader],
    points: &[RawPoint<C::Read>],
) {
    for r in readers {
        if r.temporality != Temporality::Delta {
            continue;
        }
        let cur = reader_cursors::<C>(cursors, r.id, stride);
        for p in points.iter().filter(|p| C::has_fold(&p.value)) {
            C::fold(cur.get(p.slot, p.id).prev, &p.value);
        }
    }
}

/// One reader's cursors of the stream.
fn reader_cursors<C: Aggregator>(
    cursors: &mut HashMap<u64, Cursors<C::Prev>>,
    reader: u64,
    stride: usize,
) -> &mut Cursors<C::Prev> {
    cursors
        .entry(reader)
        .or_insert_with(|| Cursors::new(stride))
}

/// Sizes every delta reader's cursors for the map's slots at once: each
/// grows by exactly what it needs (vectors grown slot by slot would double
/// their capacity), once per cycle at most.
fn fit_cursors<C: Aggregator>(
    cursors: &mut HashMap<u64, Cursors<C::Prev>>,
    stride: usize,
    readers: &[CycleReader],
    slots: usize,
) {
    for r in readers {
        if r.temporality == Temporality::Delta {
            reader_cursors::<C>(cursors, r.id, stride).fit(slots);
        }
    }
}

impl<C: Aggregator> StreamCollect for StreamCollector<C> {
    fn desc(&self) -> &StreamDesc {
        &self.stream.desc
    }

    fn set_shutdown(&self) {
        self.stream.set_shutdown();
    }

    fn forget_reader(&self, reader: u64) {
        let mut st = lock(&self.state);
        st.cursors.remove(&reader);
        st.owed.remove(&reader);
        st.delta_cycle.remove(&reader);
        for s in st.settled.iter_mut() {
            s.pending.retain(|id| *id != reader);
        }
        self.retire_settled(&mut st);
    }

    fn cycle(&self, readers: &[CycleReader], no: u64, now: u64) -> RawBatch {
        let map = &self.stream.map;
        let mut raw: Vec<RawPoint<C::Read>> = Vec::with_capacity(map.len() + 1);
        let mut candidates: Vec<(AttributeSet, u64)> = Vec::new();
        let evict_after = self.evict_after;
        let all_delta =
            !readers.is_empty() && readers.iter().all(|r| r.temporality == Temporality::Delta);
        let may_evict = evict_after > 0 && (self.observable || all_delta);
        // Changes are tracked only where they matter: an observable series
        // is reported when observed, an evicting stream's idle series go,
        // and a delta reader skips the series that did not change since
        // its previous report (see `skip_unchanged`).
        let skips = delta_skips::<C>(self.observable)
            && readers.iter().any(|r| r.temporality == Temporality::Delta);
        let mut changed_in: Vec<u64> = Vec::new();
        if skips {
            changed_in.reserve_exact(raw.capacity());
        }
        let mut changes = Some(lock(&self.changes));
        if !(self.observable || may_evict || skips) {
            if let Some(mut ch) = changes.take() {
                ch.clear();
            }
        }
        if let Some(ch) = changes.as_mut() {
            ch.fit(map.slot_count());
        }
        let mut exemplars: Vec<SeriesExemplars> = Vec::new();
        let reservoirs = self.stream.exemplars.as_ref().filter(|e| e.any());
        crate::context::pin(|| {
            map.for_each(|s, overflow| {
                let Some(value) = s.cell.read() else {
                    // Unread (an add past the limit being taken back): its
                    // next read counts as a change.
                    if let Some(ch) = changes.as_mut() {
                        ch.forget(s.slot);
                    }
                    return;
                };
                if let Some(ch) = changes.as_mut() {
                    if !(may_evict || self.observable) {
                        // Only delta readers' skips need it.
                        changed_in.push(ch.last_change(s.slot, C::version(&value), no));
                    } else {
                        let (changed, idle, last_change) = ch.see(s.slot, C::version(&value), no);
                        if may_evict && !overflow && u32::from(idle) >= evict_after && s.evictable()
                        {
                            candidates.push((s.attrs.clone(), s.id));
                        }
                        if self.observable && !changed {
                            return; // not observed in this cycle
                        }
                        if skips {
                            changed_in.push(last_change);
                        }
                    }
                }
                if let Some(ex) = reservoirs {
                    let held = ex.read(s.slot, s.id, no);
                    if !held.is_empty() {
                        exemplars.push((s.attrs.clone(), held));
                    }
                }
                raw.push(RawPoint {
                    id: s.id,
                    slot: s.slot,
                    attrs: s.attrs.clone(),
                    start: s.id,
                    value,
                });
            })
        });
        drop(changes);

        // Removed series' cursors stay where they are until their slots
        // are reused (a series that finds another's cursor starts afresh):
        // their slots go back to the map now.
        let removals = self.stream.take_removals();
        let mut freed = removals.slots;
        let mut st = lock(&self.state);
        if removals.cleared {
            st.cursors.clear();
            st.delta_cycle.clear();
            freed.extend(st.draining.drain(..).map(|(s, _)| s.slot));
            freed.extend(st.settled.drain(..).map(|s| s.point.slot));
            st.owed.clear();
        }
        // Evict idle series. `evict` checks again, under the map's lock,
        // that no bound handle holds the series, and from then on no bind
        // can take it. Their points leave this cycle: what each delta
        // reader has not reported yet reaches it when the series settles.
        let mut evicted = HashSet::new();
        for (attrs, id) in candidates {
            let Some(series) = map.evict(&attrs, id) else {
                continue;
            };
            evicted.insert(id);
            if self.observable {
                // Observations only happen in the cycle's callbacks, which
                // ran before the walk: the value read is final, and no
                // reader needs its cursor.
                freed.push(series.slot);
            } else {
                st.draining.push((series, no));
            }
        }
        if !evicted.is_empty() {
            if skips {
                let mut keep = raw.iter().map(|p| !evicted.contains(&p.id));
                changed_in.retain(|_| keep.next().unwrap_or(true));
            }
            raw.retain(|p| !evicted.contains(&p.id));
        }
        fit_cursors::<C>(&mut st.cursors, self.stride(), readers, map.slot_count());
        if C::FOLDS {
            fold_into_readers::<C>(&mut st.cursors, self.stride(), readers, &raw);
        }
        let draining = std::mem::take(&mut st.draining);
        drop(st);
        self.free(&freed);
        if !draining.is_empty() {
            self.drain(draining, readers);
        }
        self.settle(readers, now);
        if map.has_garbage() {
            map.reclaim(crate::context::domain());
        }
        Box::new(Reading {
            no,
            points: raw,
            changed_in,
            exemplars,
        })
    }

    fn emit(&self, raw: RawIn<'_>, reader: u64, t: Temporality, now: u64) -> MetricData {
        let Opened {
            no,
            points: raw,
            changed_in,
            exemplars,
        } = open::<C::Read>(raw);
        // A delta reader's previous report: the exemplars first read by
        // that cycle or an earlier one were handed out then. Kept only
        // where it matters (skips, or a reading with exemplars: a reader
        // that emitted the cycle first reading an exemplar recorded it),
        // so a stream that needs neither keeps no entry per reader.
        let skips = delta_skips::<C>(self.observable);
        let previous = (t == Temporality::Delta && (skips || !exemplars.is_empty()))
            .then(|| self.delta_reported(reader, no));
        let exemplars = exemplars_after(&exemplars, previous.unwrap_or(0));
        let raw = match previous {
            Some(previous) if skips => self.skip_unchanged(raw, &changed_in, previous, no),
            _ => raw,
        };
        let mut data = self.emit_raw(raw, reader, t, now);
        if !exemplars.is_empty() {
            attach_exemplars(&mut data, exemplars);
        }
        if t == Temporality::Delta {
            let owed = lock(&self.state).owed.remove(&reader);
            if let Some(owed) = owed {
                owed.settle_into(&mut data, now);
            }
        }
        data
    }
}

/// A cycle's [`Reading`] of one stream, moved or borrowed.
struct Opened<'a, R: Clone> {
    no: u64,
    points: Cow<'a, [RawPoint<R>]>,
    changed_in: Cow<'a, [u64]>,
    exemplars: Cow<'a, [SeriesExemplars]>,
}

/// The exemplars of a cycle's points a reader has not been handed: those
/// first read by a cycle later than `previous` (a delta reader's previous
/// report; 0 for a cumulative reader, which gets all the reservoirs hold),
/// by series.
fn exemplars_after(held: &[SeriesExemplars], previous: u64) -> Vec<(AttributeSet, Vec<Exemplar>)> {
    held.iter()
        .filter_map(|(attrs, held)| {
            let ex: Vec<Exemplar> = held
                .iter()
                .filter(|e| e.first_cycle > previous)
                .map(|e| e.exemplar.clone())
                .collect();
            (!ex.is_empty()).then(|| (attrs.clone(), ex))
        })
        .collect()
}

/// Puts each series' exemplars on its point (a series without a point in
/// `data`, a delta reader's unchanged one, has none to carry).
fn attach_exemplars(data: &mut MetricData, exemplars: Vec<(AttributeSet, Vec<Exemplar>)>) {
    let mut by: HashMap<AttributeSet, Vec<Exemplar>> = exemplars.into_iter().collect();
    let mut put = |attrs: &AttributeSet, into: &mut PointExemplars| {
        if let Some(ex) = by.remove(attrs) {
            into.extend(ex);
        }
    };
    match data {
        MetricData::Sum(s) => s
            .points
            .iter_mut()
            .for_each(|p| put(&p.attributes, &mut p.exemplars)),
        MetricData::Gauge(g) => g
            .points
            .iter_mut()
            .for_each(|p| put(&p.attributes, &mut p.exemplars)),
        MetricData::Histogram(h) => h
            .points
            .iter_mut()
            .for_each(|p| put(&p.attributes, &mut p.exemplars)),
        MetricData::ExponentialHistogram(h) => h
            .points
            .iter_mut()
            .for_each(|p| put(&p.attributes, &mut p.exemplars)),
    }
}

/// Opens a stream's batch of a cycle (moved when no other reader shares
/// the cycle).
fn open<R: Clone + 'static>(raw: RawIn<'_>) -> Opened<'_, R> {
    let foreign = || Opened {
        no: 0,
        points: foreign_batch(),
        changed_in: Cow::Borrowed(&[]),
        exemplars: Cow::Borrowed(&[]),
    };
    match raw {
        RawIn::Owned(b) => match b.downcast::<Reading<R>>() {
            Ok(r) => Opened {
                no: r.no,
                points: Cow::Owned(r.points),
                changed_in: Cow::Owned(r.changed_in),
                exemplars: Cow::Owned(r.exemplars),
            },
            Err(_) => foreign(),
        },
        RawIn::Shared(b) => match b.downcast_ref::<Reading<R>>() {
            Some(r) => Opened {
                no: r.no,
                points: Cow::Borrowed(&r.points[..]),
                changed_in: Cow::Borrowed(&r.changed_in[..]),
                exemplars: Cow::Borrowed(&r.exemplars[..]),
            },
            None => foreign(),
        },
    }
}

/// Whether a delta reader may skip the series of a stream of `C` that
/// did not change since its previous report: not where a read folds
/// something into the readers' cursors (histogram extremes) nor for
/// observations (reported whenever observed).
fn delta_skips<C: Aggregator>(observable: bool) -> bool {
    !C::FOLDS && !observable
}

/// A batch that another stream's cycle made: a bug in the caller (each
/// stream's batch goes back to that stream); nothing is reported.
#[cold]
fn foreign_batch<'a, T: Clone>() -> Cow<'a, [T]> {
    debug_assert!(false, "a stream was handed another stream's points");
    Cow::Owned(Vec::new())
}
