//! Sum cells: one atomic add per measurement.

use crate::storage::Cell;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
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
    match crate::storage::reclaim::thread_stripe() {
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
        crate::storage::reclaim::pin(|| ());
        if let Some(i) = crate::storage::reclaim::thread_stripe() {
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

/// Integer sum. u64 counters and i64 up-down counters share it: addition
/// modulo 2^64 is the same operation; the stream knows how to read it.
///
/// Uncontended, an add is one compare-and-swap on `value`. The first time a
/// compare-and-swap fails (another thread updated the same series at the
/// same moment), the cell inflates into per-thread stripes, so a series hot
/// on several threads costs each of them what it costs one thread. Only
/// contended series pay the stripes' memory.
pub(crate) struct SumInt {
    value: AtomicU64,
    stripes: AtomicPtr<Stripes>,
}

impl Cell for SumInt {
    type Config = ();
    fn new(_: &()) -> Self {
        SumInt {
            value: AtomicU64::new(0),
            stripes: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

impl SumInt {
    #[inline]
    pub(crate) fn add(&self, v: i64) {
        let s = self.stripes.load(Ordering::Acquire);
        if s.is_null() {
            let cur = self.value.load(Ordering::Relaxed);
            if self
                .value
                .compare_exchange(
                    cur,
                    cur.wrapping_add(v as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return;
            }
            self.add_contended(v);
            return;
        }
        // SAFETY: stripes are published once and freed only with the cell.
        unsafe { &*s }.cells[stripe()].fetch_add(v as u64, Ordering::Relaxed);
    }

    /// A bound handle's add from the thread that bound it: one atomic
    /// add while the cell is not striped (no contention detection: a
    /// handle used by one thread has none). Returns false, having added
    /// nothing, once the cell is striped.
    #[inline(always)]
    pub(crate) fn try_add_unstriped(&self, v: i64) -> bool {
        if !self.stripes.load(Ordering::Acquire).is_null() {
            return false;
        }
        self.value.fetch_add(v as u64, Ordering::Relaxed);
        true
    }

    #[cold]
    #[inline(never)]
    fn add_contended(&self, v: i64) {
        let mut s = self.stripes.load(Ordering::Acquire);
        if s.is_null() {
            let fresh = Box::into_raw(Box::new(Stripes {
                cells: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            }));
            match self.stripes.compare_exchange(
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
        // SAFETY: as in `add`.
        unsafe { &*s }.cells[stripe()].fetch_add(v as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn load(&self) -> i64 {
        let mut total = self.value.load(Ordering::Relaxed);
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            // SAFETY: as in `add`.
            for c in unsafe { &*s }.cells.iter() {
                total = total.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        total as i64
    }
}

impl Drop for SumInt {
    fn drop(&mut self) {
        let s = self.stripes.load(Ordering::Acquire);
        if !s.is_null() {
            // SAFETY: exclusive access at drop; allocated with Box in
            // `add_contended` and published once.
            drop(unsafe { Box::from_raw(s) });
        }
    }
}

/// Floating-point sum: compare-and-swap on the bit pattern.
pub(crate) struct SumFloat {
    bits: AtomicU64,
}

impl Cell for SumFloat {
    type Config = ();
    fn new(_: &()) -> Self {
        SumFloat {
            bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl SumFloat {
    #[inline]
    pub(crate) fn add(&self, v: f64) {
        let mut cur = self.bits.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self
                .bits
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
    #[inline]
    pub(crate) fn load(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

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
        assert!(c.try_add_unstriped(4));
        assert_eq!(c.load(), 4);
        c.add_contended(1);
        assert!(!c.stripes.load(Ordering::Relaxed).is_null());
        // Striped: the fast path refuses and adds nothing; `add` (the
        // out-of-line path) goes to this thread's stripe.
        assert!(!c.try_add_unstriped(10));
        assert_eq!(c.load(), 5);
        c.add(10);
        assert_eq!(c.load(), 15);
    }

    #[test]
    fn float_sum_concurrent() {
        let c = std::sync::Arc::new(SumFloat::new(&()));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.add(0.5)
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
