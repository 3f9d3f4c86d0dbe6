//! The sum aggregation: its cells (one atomic add per measurement), and
//! the points they make: totals for cumulative readers, changes since the
//! previous report for delta readers.
//!
//! Three cells, by number: [`SumInt`] (i64 up-down counters, addition
//! modulo 2^64), [`SumU64`] (u64 counters: a total that never wraps) and
//! [`SumFloat`].

use super::{int_number, number_point, Aggregator, Cursors, Emit, RawPoint};
use crate::collect::data::{MetricData, Number, Sum, Temporality};
use crate::kinds::{AggregationCell, Measure, NumberKind, Shape};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::thread_sums;
use crossbeam_utils::CachePadded;
use std::borrow::Cow;
use std::cell::Cell as StdCell;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

/// Number of stripes of a contended sum (a power of two).
const STRIPES: usize = 8;

/// Per-thread stripes of a sum that several threads update at once: each
/// thread adds to its own cache line instead of fighting over one.
struct Stripes {
    cells: [CachePadded<AtomicU64>; STRIPES],
}

static NEXT_STRIPE: StdAtomicUsize = StdAtomicUsize::new(0);

thread_local! {
    static STRIPE: StdCell<usize> = const { StdCell::new(usize::MAX) };
}

/// This thread's stripe index: from the thread's reclamation slot, which
/// the recording path reaches without a `__tls_get_addr` call in the
/// shared library, or from a thread-local before the thread has one.
#[inline]
fn stripe() -> usize {
    match crate::context::thread_stripe() {
        Some(i) => i % STRIPES,
        None => stripe_slow(),
    }
}

#[cold]
#[inline(never)]
fn stripe_slow() -> usize {
    // A thread that only made bound adds has not pinned yet, so it has no
    // slot: an empty pin gives it one, and its later adds find their
    // stripe there instead of through this thread-local.
    #[cfg(not(loom))]
    {
        crate::context::pin(|| ());
        if let Some(i) = crate::context::thread_stripe() {
            return i % STRIPES;
        }
    }
    // No slot (the thread's TLS is being destroyed; loom): the
    // thread-local's own stripe.
    STRIPE.with(|s| {
        let i = s.get();
        if i != usize::MAX {
            return i;
        }
        let i = NEXT_STRIPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
        s.set(i);
        i
    })
}

/// The stripes of a sum, allocated and published on first contention;
/// `None` for a cell whose word holds a per-thread key instead (which
/// never stripes: its threads add to their own cells).
#[cold]
fn inflate(stripes: &AtomicPtr<Stripes>) -> Option<&Stripes> {
    let mut s = stripes.load(Ordering::Acquire);
    if s.is_null() {
        let fresh = Box::into_raw(Box::new(Stripes {
            cells: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }));
        match stripes.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => s = fresh,
            Err(existing) => {
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
                s = existing;
            }
        }
    }
    match mode(s) {
        Mode::Striped(s) => Some(s),
        _ => None,
    }
}

/// What the `stripes` word of an integer sum says: nothing yet, the
/// stripes, or the series' key in the per-thread sums (`key << 1 | 1`:
/// stripes are aligned, so a set low bit is never a pointer).
enum Mode<'a> {
    Plain,
    Striped(&'a Stripes),
    Keyed(usize),
}

#[inline(always)]
fn mode<'a>(s: *mut Stripes) -> Mode<'a> {
    if s.is_null() {
        Mode::Plain
    } else if s.addr() & 1 == 1 {
        Mode::Keyed(s.addr() >> 1)
    } else {
        // SAFETY: stripes are published once and freed only with the
        // cell, which outlives the borrow.
        Mode::Striped(unsafe { &*s })
    }
}

/// The key in a `stripes` word, if it holds one.
#[inline(always)]
fn key_of(s: *mut Stripes) -> Option<usize> {
    (s.addr() & 1 == 1).then_some(s.addr() >> 1)
}

/// Gives a cell's word a per-thread key (see [`crate::thread_sums`]),
/// when more than `reserve` are free and the cell has neither stripes nor
/// a key yet.
fn take_key(stripes: &AtomicPtr<Stripes>, reserve: usize) {
    #[cfg(not(loom))]
    if !stripes.load(Ordering::Relaxed).is_null() {
        return;
    }
    #[cfg(not(loom))]
    if let Some(k) = thread_sums::global().take_keys(1, reserve) {
        let word = std::ptr::without_provenance_mut(k << 1 | 1);
        // Release: a thread that sees the key sees its cells reset.
        if stripes
            .compare_exchange(
                std::ptr::null_mut(),
                word,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_err()
        {
            thread_sums::global().release_keys(k, 1);
        }
    }
    #[cfg(loom)]
    let _ = (stripes, reserve);
}

/// Frees a cell's stripes or gives back its key (at drop, with exclusive
/// access: nothing adds to the cell any more).
fn free_stripes(stripes: &AtomicPtr<Stripes>) {
    let s = stripes.load(Ordering::Acquire);
    if let Some(k) = key_of(s) {
        #[cfg(not(loom))]
        thread_sums::global().release_keys(k, 1);
        #[cfg(loom)]
        let _ = k;
    } else if !s.is_null() {
        // SAFETY: exclusive access at drop; allocated with Box in
        // `inflate` and published once.
        drop(unsafe { Box::from_raw(s) });
    }
}

/// The sum of a key's per-thread cells. Out of line: few series hold a
/// key, and inlined into every read it made the collection of unkeyed
/// series 14% more instructions (`examples/collect_loop.rs`).
#[cold]
#[inline(never)]
fn keyed_sum(k: usize) -> u64 {
    #[cfg(not(loom))]
    return thread_sums::global().sum(k);
    #[cfg(loom)]
    {
        let _ = k;
        0
    }
}

/// A keyed [`SumInt`]'s add to the thread's own cell (modulo 2^64):
/// false, having added nothing, when `s` holds no key or the thread has
/// no block yet.
#[inline(always)]
fn try_add_keyed_int(s: *mut Stripes, v: i64) -> bool {
    match (key_of(s), thread_sums::this_thread()) {
        (Some(k), Some(b)) => {
            thread_sums::add_wrapping(b, k, v as u64);
            true
        }
        _ => false,
    }
}

/// Integer sum of a non-monotonic stream (i64 up-down counters): addition
/// modulo 2^64. Monotonic u64 sums are [`SumU64`].
///
/// Uncontended, an add is one compare-and-swap on `value`. The first time a
/// compare-and-swap fails (another thread updated the same series at the
/// same moment), the cell inflates into per-thread stripes, so a series hot
/// on several threads costs each of them what it costs one thread. Only
/// contended series pay the stripes' memory.
///
/// A series holding a key in the per-thread sums (the attribute-less
/// series a map anchors, a bound series, the first series a process
/// makes; see [`crate::thread_sums`]) never stripes: each thread adds to
/// its own cell with a plain load and store, and the word takes only the
/// adds of threads without a block.
pub(crate) struct SumInt {
    value: AtomicU64,
    stripes: AtomicPtr<Stripes>,
}

impl AggregationCell for SumInt {
    type Config = ();
    fn new(_: &()) -> Self {
        SumInt {
            value: AtomicU64::new(0),
            stripes: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
    fn made(&self) {
        take_key(&self.stripes, thread_sums::RESERVED_FOR_HOT)
    }
    fn hot(&self) {
        take_key(&self.stripes, 0)
    }
}

impl SumInt {
    #[inline]
    pub(crate) fn add(&self, v: i64) {
        if self.try_add_uncontended(v) {
            return;
        }
        match mode(self.stripes.load(Ordering::Acquire)) {
            // Unstriped, and the compare-and-swap lost a race.
            Mode::Plain => self.add_contended(v),
            Mode::Striped(s) => {
                s.cells[stripe()].fetch_add(v as u64, Ordering::Relaxed);
            }
            Mode::Keyed(k) => self.add_keyed_slow(k, v),
        }
    }

    /// A keyed cell's add from a thread without its block yet (or that
    /// can have none: then to the shared word).
    #[cold]
    #[inline(never)]
    fn add_keyed_slow(&self, k: usize, v: i64) {
        match thread_sums::attach() {
            Some(b) => thread_sums::add_wrapping(b, k, v as u64),
            None => {
                self.value.fetch_add(v as u64, Ordering::Relaxed);
            }
        }
    }

    /// The uncontended add alone: one compare-and-swap on the unstriped
    /// cell, calling nothing (the C ABI's attribute-less add runs it
    /// before its panic boundary). Returns false, having added nothing,
    /// when the cell is striped or the swap lost a race: [`add`](Self::add)
    /// then decides. A keyed cell adds to the thread's own cell instead,
    /// once the thread has its block.
    #[inline(always)]
    pub(crate) fn try_add_uncontended(&self, v: i64) -> bool {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            return try_add_keyed_int(s, v);
        }
        let cur = self.value.load(Ordering::Relaxed);
        self.value
            .compare_exchange(
                cur,
                cur.wrapping_add(v as u64),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// A bound handle's add: to the thread's own cell when the series is
    /// keyed (any thread), else, from the thread that bound it (`owner`),
    /// one atomic add while the cell is not striped (no contention
    /// detection: a handle used by one thread has none). Returns false,
    /// having added nothing, otherwise.
    #[inline(always)]
    pub(crate) fn try_add_bound(&self, v: i64, owner: impl FnOnce() -> bool) -> bool {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            return try_add_keyed_int(s, v);
        }
        if !owner() {
            return false;
        }
        self.value.fetch_add(v as u64, Ordering::Relaxed);
        true
    }

    #[cold]
    #[inline(never)]
    fn add_contended(&self, v: i64) {
        match inflate(&self.stripes) {
            Some(s) => {
                s.cells[stripe()].fetch_add(v as u64, Ordering::Relaxed);
            }
            // Keyed meanwhile.
            None => self.add(v),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> i64 {
        let mut total = self.value.load(Ordering::Relaxed);
        match mode(self.stripes.load(Ordering::Acquire)) {
            Mode::Plain => {}
            Mode::Striped(s) => {
                for c in s.cells.iter() {
                    total = total.wrapping_add(c.load(Ordering::Relaxed));
                }
            }
            Mode::Keyed(k) => total = total.wrapping_add(keyed_sum(k)),
        }
        total as i64
    }
}

impl Drop for SumInt {
    fn drop(&mut self) {
        free_stripes(&self.stripes);
    }
}

/// Largest total the main word of a [`SumU64`] holds: 2^63 - 1, so that
/// its top bit is free to show an add in flight past the limit.
pub(crate) const U64_SUM_LIMIT: u64 = i64::MAX as u64;
/// Largest value of a keyed [`SumU64`]'s main word at which its threads
/// still add to their own cells: those hold at most 2^62 together
/// ([`thread_sums::CELL_LIMIT`]), so the total stays within
/// [`U64_SUM_LIMIT`]. Above it, adds go to the word, whose limit is then
/// lowered by what the cells hold: the total reaches the limit exactly.
const KEYED_WORD_MAX: u64 = U64_SUM_LIMIT - (1 << 62);
/// Largest amount one stripe of a [`SumU64`] holds: the eight of them
/// together hold 2^62, so the total (main word plus stripes) never
/// exceeds 2^64 - 1.
const STRIPE_LIMIT: u64 = 1 << 59;
/// Largest increment the fetch-add paths take. Larger ones go through a
/// compare-and-swap on the main word; bounding what one fetch-add can add
/// keeps a word from wrapping while adds past its limit are in flight
/// (it would take 2^31 of them during one).
const FETCH_ADD_MAX: u64 = u32::MAX as u64;

/// What [`SumU64::try_add_bound`] did.
pub(crate) enum FastAdd {
    /// Added.
    Added,
    /// Nothing done: the cell is striped or the value large.
    NotTaken,
    /// Added past the limit: to be taken back (the value found).
    PastLimit(u64),
}

/// Monotonic integer sum (u64 counters, u64 histograms viewed as a sum):
/// a total that never wraps. An add that would take the total past what
/// it can hold is refused (the caller counts it) and leaves the total as
/// it was; every add that keeps it at or below [`U64_SUM_LIMIT`] is
/// accepted, except that near the limit an add racing with a refused one
/// may be refused too.
///
/// Layout and fast paths are [`SumInt`]'s: a main word, striped on first
/// contention, and a bound handle's plain fetch-add. Each word has a
/// limit (the main word [`U64_SUM_LIMIT`], a stripe [`STRIPE_LIMIT`]); an
/// add is accepted when the value the word had plus the add is within
/// the limit, which the fetch-add's returned value says with one compare.
/// A fetch-add that ends past the limit is taken back without a race:
///
/// - the add that took the word past its limit (its returned value was
///   within the limit) stores that returned value back: every fetch-add
///   that landed in between also ended past the limit, so none of them
///   was accepted, and their amounts go with it;
/// - an add that found the word already past the limit does nothing to
///   the word: its amount is removed by that store.
///
/// Both then try the main word with a compare-and-swap, which checks
/// before it writes, and are refused when it is full. A word past its
/// limit is therefore always an add in flight: the reader retries and, if
/// it persists, reports nothing for the series in this cycle; every total
/// it does report is exact and no smaller than the previous one.
///
/// A keyed series (see [`SumInt`] and [`crate::thread_sums`]) adds to the
/// thread's own cell while its word is at most [`KEYED_WORD_MAX`] and the
/// cell holds at most [`thread_sums::CELL_LIMIT`]: the cells together
/// hold at most 2^62, so the total stays within the limit. Past either,
/// adds go to the word, whose limit is lowered by what the cells hold.
pub(crate) struct SumU64 {
    value: AtomicU64,
    stripes: AtomicPtr<Stripes>,
}

impl AggregationCell for SumU64 {
    type Config = ();
    fn new(_: &()) -> Self {
        SumU64 {
            value: AtomicU64::new(0),
            stripes: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
    fn made(&self) {
        take_key(&self.stripes, thread_sums::RESERVED_FOR_HOT)
    }
    fn hot(&self) {
        take_key(&self.stripes, 0)
    }
}

impl SumU64 {
    /// Adds `v`. Returns false, having added nothing, when the total
    /// cannot hold it. Inlined: the unstriped compare-and-swap (what
    /// [`SumInt::add`] does, plus one compare); the rest (striped or
    /// contended cells, large values, a total at its limit) is one call,
    /// so that the recording closure around it stays small enough to be
    /// inlined too (with the whole add inline it was not, and an unbound
    /// add cost 20 instructions more).
    ///
    /// A keyed cell (an attribute-less series, see
    /// [`crate::thread_sums`]) adds to the thread's own cell: a load and a
    /// store, within [`thread_sums::CELL_LIMIT`].
    #[inline(always)]
    pub(crate) fn add(&self, v: u64) -> bool {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            if self.try_add_keyed(s, v) {
                return true;
            }
        } else {
            let cur = self.value.load(Ordering::Relaxed);
            let new = cur.wrapping_add(v);
            // One test: all three below 2^63 means no carry and `new`
            // within the limit (2^63 - 1); a word past its limit (an add
            // in flight, see the type's documentation) fails it too.
            if ((cur | v | new) as i64) >= 0
                && self
                    .value
                    .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return true;
            }
        }
        self.add_slow(v)
    }

    /// [`add`](Self::add)'s inlined case alone, calling nothing (see
    /// [`SumInt::try_add_uncontended`]): false, having added nothing,
    /// when the cell is striped, the total or `v` is large, or the swap
    /// lost a race.
    #[inline(always)]
    pub(crate) fn try_add_uncontended(&self, v: u64) -> bool {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            return self.try_add_keyed(s, v);
        }
        let cur = self.value.load(Ordering::Relaxed);
        let new = cur.wrapping_add(v);
        ((cur | v | new) as i64) >= 0
            && self
                .value
                .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// [`add`](Self::add) past its inlined case.
    #[inline(never)]
    fn add_slow(&self, v: u64) -> bool {
        match mode(self.stripes.load(Ordering::Acquire)) {
            Mode::Striped(s) => return self.add_striped(s, v),
            Mode::Keyed(k) => return self.add_keyed_slow(k, v),
            Mode::Plain => {}
        }
        let cur = self.value.load(Ordering::Relaxed);
        match cur.checked_add(v) {
            // Fits, and the compare-and-swap failed: another thread
            // changed the word at the same moment, so stripe.
            Some(new) if new <= U64_SUM_LIMIT => self.add_contended(v),
            _ => self.add_to_value(v),
        }
    }

    /// A bound handle's add: to the thread's own cell when the series is
    /// keyed (any thread, within the cell's limit), else, from the thread
    /// that bound it (`owner`), one atomic add while the cell is not
    /// striped, and one compare of the value it returns. Nothing is added
    /// when the cell is striped or `v` is large ([`add`](Self::add)
    /// decides); an add past the limit must be taken back with
    /// [`take_back_fast`](Self::take_back_fast) by the caller, out of line
    /// (so that the inlined fast path saves no registers).
    #[inline(always)]
    pub(crate) fn try_add_bound(&self, v: u64, owner: impl FnOnce() -> bool) -> FastAdd {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            return if self.try_add_keyed(s, v) {
                FastAdd::Added
            } else {
                FastAdd::NotTaken
            };
        }
        if v > FETCH_ADD_MAX || !owner() {
            return FastAdd::NotTaken;
        }
        let found = self.value.fetch_add(v, Ordering::Relaxed);
        if found + v <= U64_SUM_LIMIT {
            FastAdd::Added
        } else {
            FastAdd::PastLimit(found)
        }
    }

    /// Takes back a [`try_add_bound`](Self::try_add_bound) that
    /// went past the limit, given the value it found.
    #[cold]
    pub(crate) fn take_back_fast(&self, found: u64) {
        take_back(&self.value, found, U64_SUM_LIMIT)
    }

    #[inline]
    fn add_striped(&self, s: &Stripes, v: u64) -> bool {
        if v > FETCH_ADD_MAX {
            return self.add_to_value(v);
        }
        let stripe = &s.cells[stripe()];
        let old = stripe.fetch_add(v, Ordering::Relaxed);
        if old + v <= STRIPE_LIMIT {
            return true;
        }
        take_back(stripe, old, STRIPE_LIMIT);
        self.add_to_value(v)
    }

    #[cold]
    #[inline(never)]
    fn add_contended(&self, v: u64) -> bool {
        match inflate(&self.stripes) {
            Some(s) => self.add_striped(s, v),
            // Keyed meanwhile.
            None => self.add_slow(v),
        }
    }

    /// A keyed cell's add that its inlined case did not take: a thread
    /// without its block yet (it gets one), a large value or a full cell
    /// (to the shared word, within its limit).
    #[cold]
    #[inline(never)]
    fn add_keyed_slow(&self, k: usize, v: u64) -> bool {
        if self.value.load(Ordering::Relaxed) <= KEYED_WORD_MAX {
            if let Some(b) = thread_sums::attach() {
                if thread_sums::add_limited(b, k, v, FETCH_ADD_MAX) {
                    return true;
                }
            }
        }
        // The word, within what the cells leave of the limit: the total
        // stays at most U64_SUM_LIMIT (but for an add on another thread
        // that read the word below KEYED_WORD_MAX just before this one
        // took it above: at most 2^32 - 1 each, far below 2^64).
        self.add_to_value_within(v, U64_SUM_LIMIT.saturating_sub(keyed_sum(k)))
    }

    /// A keyed cell's inlined add: to the thread's own cell while the
    /// word is at most [`KEYED_WORD_MAX`] (so that the total stays within
    /// the limit) and the cell has room. False, having added nothing,
    /// otherwise (and for a cell without a key).
    #[inline(always)]
    fn try_add_keyed(&self, s: *mut Stripes, v: u64) -> bool {
        match (key_of(s), thread_sums::this_thread()) {
            (Some(k), Some(b)) => {
                self.value.load(Ordering::Relaxed) <= KEYED_WORD_MAX
                    && thread_sums::add_limited(b, k, v, FETCH_ADD_MAX)
            }
            _ => false,
        }
    }

    /// Adds to the main word by compare-and-swap, within its limit.
    #[cold]
    #[inline(never)]
    fn add_to_value(&self, v: u64) -> bool {
        self.add_to_value_within(v, U64_SUM_LIMIT)
    }

    /// [`add_to_value`](Self::add_to_value) with the word's limit lowered
    /// to `limit` (a keyed cell's: what its per-thread cells hold is
    /// taken off).
    fn add_to_value_within(&self, v: u64, limit: u64) -> bool {
        let mut cur = self.value.load(Ordering::Relaxed);
        loop {
            // A word past its limit has a refused fetch-add in flight,
            // so the total is within `FETCH_ADD_MAX` of the limit: this
            // add is refused with it.
            let Some(new) = cur.checked_add(v).filter(|n| *n <= limit) else {
                return false;
            };
            match self
                .value
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The total, or `None` while adds past a word's limit are being
    /// taken back (a few retries first).
    pub(crate) fn load(&self) -> Option<u64> {
        const TRIES: usize = 64;
        'retry: for _ in 0..TRIES {
            let mut total = self.value.load(Ordering::Relaxed);
            if total > U64_SUM_LIMIT {
                spin_hint();
                continue;
            }
            match mode(self.stripes.load(Ordering::Acquire)) {
                Mode::Plain => {}
                Mode::Striped(s) => {
                    for c in s.cells.iter() {
                        let x = c.load(Ordering::Relaxed);
                        if x > STRIPE_LIMIT {
                            spin_hint();
                            continue 'retry;
                        }
                        total += x; // at most 2^63 - 1 + 8 * 2^59 < 2^64
                    }
                }
                // All cells together at most 2^62: below 2^64 with the
                // word (and within the limit, see KEYED_WORD_MAX).
                Mode::Keyed(k) => total += keyed_sum(k),
            }
            return Some(total);
        }
        None
    }
}

/// Undoes a fetch-add that ended past `limit` on `word` (see [`SumU64`]):
/// the add that crossed the limit restores the value it found, which
/// also removes every add that landed past the limit after it.
#[cold]
#[inline(never)]
fn take_back(word: &AtomicU64, found: u64, limit: u64) {
    if found <= limit {
        // A swap, not a store: the same in the memory model (every write
        // in between is a fetch-add that ended past the limit), and loom
        // models a store racing with read-modify-writes more weakly.
        word.swap(found, Ordering::Relaxed);
    }
}

#[inline]
fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

impl Drop for SumU64 {
    fn drop(&mut self) {
        free_stripes(&self.stripes);
    }
}

/// Floating-point sum: compare-and-swap on the bit pattern. The total
/// stays finite: an add that would make it infinite is refused.
pub(crate) struct SumFloat {
    bits: AtomicU64,
}

impl AggregationCell for SumFloat {
    type Config = ();
    fn new(_: &()) -> Self {
        SumFloat {
            bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl SumFloat {
    /// Adds `v` (finite). Returns false, having added nothing, when the
    /// total would not be finite.
    #[inline]
    pub(crate) fn add(&self, v: f64) -> bool {
        super::add_finite(&self.bits, v)
    }
    #[inline]
    pub(crate) fn load(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

/// A sum's total as the engine reports it: integer sums (both cells)
/// read as i64 (the bits of a u64 total), float sums as f64.
trait Total: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// A change detector (equal totals: nothing recorded).
    fn version(self) -> u64;
    /// The change since `prev`.
    fn since(self, prev: Self) -> Self;
    fn is_zero(self) -> bool;
    fn number(self, n: NumberKind) -> Number;
}

impl Total for i64 {
    fn version(self) -> u64 {
        self as u64
    }
    fn since(self, prev: i64) -> i64 {
        self.wrapping_sub(prev)
    }
    fn is_zero(self) -> bool {
        self == 0
    }
    fn number(self, n: NumberKind) -> Number {
        int_number(self, n)
    }
}

impl Total for f64 {
    fn version(self) -> u64 {
        self.to_bits()
    }
    fn since(self, prev: f64) -> f64 {
        self - prev
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn number(self, _: NumberKind) -> Number {
        Number::F64(self)
    }
}

fn monotonic<C: AggregationCell>(e: &Emit<'_, C>) -> bool {
    matches!(e.desc.shape, Shape::Sum { monotonic: true })
}

/// Cumulative points: each series' total since it started.
fn cumulative<C: AggregationCell, T: Total>(
    e: &Emit<'_, C>,
    raw: Cow<'_, [RawPoint<T>]>,
) -> MetricData {
    let (n, now) = (e.desc.number, e.now);
    let points = match raw {
        Cow::Owned(v) => v
            .into_iter()
            .map(|p| number_point(p.attrs, p.start, now, false, p.value.number(n)))
            .collect(),
        Cow::Borrowed(v) => v
            .iter()
            .map(|p| number_point(p.attrs.clone(), p.start, now, false, p.value.number(n)))
            .collect(),
    };
    MetricData::Sum(Sum {
        temporality: Temporality::Cumulative,
        is_monotonic: monotonic(e),
        points,
    })
}

/// Delta points: each series' change since this reader's previous
/// report, from the reader's previous collection (a series' first point:
/// from the series' start) to now; a series that did not change is left
/// out.
fn delta<C: AggregationCell, T: Total>(
    e: &Emit<'_, C>,
    raw: &[RawPoint<T>],
    cursors: &mut Cursors<T>,
) -> MetricData {
    let mut points = Vec::new();
    let last = cursors.last_time;
    for p in raw {
        let mut c = cursors.get(p.slot, p.id);
        let is_new = !c.reported();
        let change = if is_new {
            p.value
        } else {
            p.value.since(*c.prev)
        };
        *c.prev = p.value;
        if change.is_zero() && !is_new {
            continue;
        }
        let start = if is_new { p.start } else { last };
        points.push(number_point(
            p.attrs.clone(),
            start,
            e.now,
            false,
            change.number(e.desc.number),
        ));
        c.report();
    }
    MetricData::Sum(Sum {
        temporality: Temporality::Delta,
        is_monotonic: monotonic(e),
        points,
    })
}

/// The [`Aggregator`] methods every sum cell shares, given its total's
/// type and how it reads it.
macro_rules! sum_aggregator {
    ($cell:ty, $total:ty, |$c:ident, $m:ident| $record:expr, |$r:ident| $read:expr) => {
        impl Aggregator for $cell {
            type Read = $total;
            type Prev = $total;

            #[inline(always)]
            fn record(&self, $m: Measure, _: &(), _: u64) -> bool {
                let $c = self;
                $record
            }

            fn read(&self) -> Option<$total> {
                let $r = self;
                $read
            }

            fn version(r: &$total) -> u64 {
                r.version()
            }

            fn cumulative(
                e: &Emit<'_, Self>,
                raw: Cow<'_, [RawPoint<$total>]>,
                _: &mut Cursors<$total>,
            ) -> MetricData {
                cumulative(e, raw)
            }

            fn delta(
                e: &Emit<'_, Self>,
                raw: &[RawPoint<$total>],
                cursors: &mut Cursors<$total>,
            ) -> MetricData {
                delta(e, raw, cursors)
            }
        }
    };
}

sum_aggregator!(
    SumInt,
    i64,
    |c, m| {
        c.add(m.as_i64());
        true
    },
    |c| Some(c.load())
);
// Nothing while an add past the limit is being taken back: the series is
// reported in the next cycle.
sum_aggregator!(SumU64, i64, |c, m| c.add(m.as_u64()), |c| c
    .load()
    .map(|v| v as i64));
sum_aggregator!(SumFloat, f64, |c, m| c.add(m.as_f64()), |c| Some(c.load()));

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn int_sum_wraps_like_twos_complement() {
        let c = SumInt::new(&());
        c.add(5);
        c.add(-7);
        assert_eq!(c.load(), -2);
        let u = SumInt::new(&());
        u.add(u64::MAX as i64);
        assert_eq!(u.load() as u64, u64::MAX);
    }

    #[test]
    fn contended_int_sum_inflates_and_stays_exact() {
        let c = std::sync::Arc::new(SumInt::new(&()));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        c.add(3)
                    }
                })
            })
            .collect();
        for _ in 0..1000 {
            let v = c.load();
            assert!((0..=1_200_000).contains(&v));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(c.load(), 1_200_000);
        c.add_contended(-200_000);
        assert!(!c.stripes.load(Ordering::Relaxed).is_null());
        assert_eq!(c.load(), 1_000_000);
    }

    #[test]
    fn bound_fast_path_adds_until_the_cell_inflates() {
        let c = SumInt::new(&());
        assert!(c.try_add_bound(4, || true));
        assert_eq!(c.load(), 4);
        c.add_contended(1);
        assert!(!c.stripes.load(Ordering::Relaxed).is_null());
        // Striped: the fast path refuses and adds nothing; `add` (the
        // out-of-line path) goes to this thread's stripe.
        assert!(!c.try_add_bound(10, || true));
        assert_eq!(c.load(), 5);
        c.add(10);
        assert_eq!(c.load(), 15);
    }

    /// The bound handle's fast path as `BoundCell` drives it: true when
    /// added; a refused add is taken back.
    pub(super) fn fast(c: &SumU64, v: u64) -> bool {
        match c.try_add_bound(v, || true) {
            FastAdd::Added => true,
            FastAdd::NotTaken => false,
            FastAdd::PastLimit(found) => {
                c.take_back_fast(found);
                false
            }
        }
    }

    #[test]
    fn u64_sum_holds_up_to_its_limit_and_never_wraps() {
        let c = SumU64::new(&());
        assert!(c.add(10));
        assert!(!c.add(u64::MAX - 4), "would wrap");
        assert_eq!(c.load(), Some(10));
        assert!(c.add(U64_SUM_LIMIT - 20));
        // The bound fast path: accepted to the limit, then refused and
        // taken back.
        assert!(fast(&c, 10));
        assert_eq!(c.load(), Some(U64_SUM_LIMIT));
        assert!(!fast(&c, 1));
        assert_eq!(c.load(), Some(U64_SUM_LIMIT));
        assert!(!c.add(1));
        assert!(matches!(
            c.try_add_bound(1 << 40, || true),
            FastAdd::NotTaken
        ));
        assert_eq!(c.load(), Some(U64_SUM_LIMIT));
    }

    #[test]
    fn u64_sum_word_past_its_limit_is_an_add_in_flight() {
        let c = SumU64::new(&());
        assert!(c.add(5));
        // A fetch-add past the limit that has not been taken back yet.
        c.value.store(U64_SUM_LIMIT + 3, Ordering::Relaxed);
        assert_eq!(c.load(), None, "never reported");
        assert!(!c.add(1), "refused with it");
        assert!(!fast(&c, 1));
        // The add that crossed stores back what it found (5); the one
        // that found the word past the limit leaves it alone.
        take_back(&c.value, U64_SUM_LIMIT + 3, U64_SUM_LIMIT);
        assert_eq!(c.load(), None);
        take_back(&c.value, 5, U64_SUM_LIMIT);
        assert_eq!(c.load(), Some(5));
    }

    #[test]
    fn u64_sum_full_stripe_moves_adds_to_the_main_word() {
        let c = SumU64::new(&());
        assert!(c.add_contended(7));
        assert!(!c.stripes.load(Ordering::Relaxed).is_null());
        let stripes = inflate(&c.stripes).unwrap();
        let mine = &stripes.cells[stripe()];
        mine.store(STRIPE_LIMIT - 1, Ordering::Relaxed);
        let before = c.load().unwrap();
        assert!(c.add(3), "the stripe is full: the main word takes it");
        assert_eq!(mine.load(Ordering::Relaxed), STRIPE_LIMIT - 1);
        assert_eq!(c.load(), Some(before + 3));
        assert!(c.add(1), "fits the stripe exactly");
        assert_eq!(mine.load(Ordering::Relaxed), STRIPE_LIMIT);
        // Every stripe and the main word full: the total is still below
        // 2^64, and nothing more is accepted.
        for s in stripes.cells.iter() {
            s.store(STRIPE_LIMIT, Ordering::Relaxed);
        }
        c.value.store(U64_SUM_LIMIT, Ordering::Relaxed);
        assert_eq!(
            c.load(),
            Some(U64_SUM_LIMIT + STRIPES as u64 * STRIPE_LIMIT)
        );
        assert!(!c.add(1));
        assert!(!c.add(1 << 40));
        assert!(!fast(&c, 1));
        assert_eq!(
            c.load(),
            Some(U64_SUM_LIMIT + STRIPES as u64 * STRIPE_LIMIT)
        );
    }

    #[test]
    fn u64_sum_contended_at_the_limit_is_exact() {
        // Threads add 1s to a striped cell whose stripes and main word sit
        // near their limits, while a reader checks that the total never
        // goes back: at the end, total + refused adds = base + all adds.
        let c = std::sync::Arc::new(SumU64::new(&()));
        assert!(c.add_contended(0));
        let stripes = inflate(&c.stripes).unwrap();
        for s in stripes.cells.iter() {
            s.store(STRIPE_LIMIT - 1000, Ordering::Relaxed);
        }
        c.value.store(U64_SUM_LIMIT - 5000, Ordering::Relaxed);
        let base = c.load().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(v) = c.load() {
                        assert!(v >= last, "{last} -> {v}");
                        last = v;
                    }
                }
            })
        };
        let adders: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut refused = 0u64;
                    for i in 0..50_000 {
                        let ok = if i % 2 == 0 {
                            c.add(1)
                        } else {
                            fast(&c, 1) || c.add(1)
                        };
                        refused += u64::from(!ok);
                    }
                    refused
                })
            })
            .collect();
        let refused: u64 = adders.into_iter().map(|h| h.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert!(refused > 0);
        assert_eq!(c.load().unwrap() + refused, base + 200_000);
    }

    #[test]
    fn float_sum_stays_finite() {
        let c = SumFloat::new(&());
        assert!(c.add(f64::MAX));
        assert!(!c.add(f64::MAX));
        assert_eq!(c.load(), f64::MAX);
        assert!(c.add(-f64::MAX));
        assert!(c.add(-f64::MAX));
        assert!(!c.add(-f64::MAX));
        assert_eq!(c.load(), -f64::MAX);
    }

    #[test]
    fn float_sum_concurrent() {
        let c = std::sync::Arc::new(SumFloat::new(&()));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        assert!(c.add(0.5));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(c.load(), 20_000.0);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    fn fast(c: &SumU64, v: u64) -> bool {
        match c.try_add_bound(v, || true) {
            FastAdd::Added => true,
            FastAdd::NotTaken => false,
            FastAdd::PastLimit(found) => {
                c.take_back_fast(found);
                false
            }
        }
    }

    /// Two bound-handle adds race at the limit (one of them takes the
    /// word past it, the other may land while it is past) with a reader:
    /// exactly one is accepted, the reader never sees a total above the
    /// limit or below the start, and the word ends exact.
    #[test]
    fn loom_u64_sum_take_back_is_exact() {
        loom::model(|| {
            let c = Arc::new(SumU64::new(&()));
            c.value.store(U64_SUM_LIMIT - 1, Ordering::Relaxed);
            let adders: Vec<_> = [2u64, 1]
                .into_iter()
                .map(|v| {
                    let c = c.clone();
                    loom::thread::spawn(move || fast(&c, v) || c.add(v))
                })
                .collect();
            if let Some(v) = c.load() {
                assert!(v == U64_SUM_LIMIT - 1 || v == U64_SUM_LIMIT, "read {v}");
            }
            let accepted: Vec<bool> = adders.into_iter().map(|h| h.join().unwrap()).collect();
            // 2 never fits; 1 fits unless refused with 2 in flight.
            assert!(!accepted[0]);
            let total = c.load().expect("no add in flight");
            assert_eq!(total, U64_SUM_LIMIT - 1 + u64::from(accepted[1]));
        });
    }
}
