//! Sum cells: one atomic add per measurement.

use crate::storage::Cell;
use crate::sync::{AtomicU64, Ordering};

/// Integer sum. u64 counters and i64 up-down counters share it: addition
/// modulo 2^64 is the same operation; the stream knows how to read it.
#[derive(Default)]
pub(crate) struct SumInt {
    value: AtomicU64,
}

impl Cell for SumInt {
    type Config = ();
    fn new(_: &()) -> Self {
        SumInt::default()
    }
}

impl SumInt {
    #[inline]
    pub(crate) fn add(&self, v: i64) {
        self.value.fetch_add(v as u64, Ordering::Relaxed);
    }
    #[inline]
    pub(crate) fn load(&self) -> i64 {
        self.value.load(Ordering::Relaxed) as i64
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
