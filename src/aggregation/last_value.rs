//! Last-value cells (gauges), with an optional measurement timestamp.
//!
//! The value and its timestamp must be read as a pair, so the cell is a
//! sequence lock: a writer claims the cell by moving `seq` from even to odd,
//! stores both words and releases with the next even number. This is the one
//! place where recording threads can wait: only for another writer of the
//! same series between two plain stores. Readers never block writers.
//!
//! The collector also counts the times a value it reads is below the one
//! it read before: for an observable counter (whose observations are
//! totals, never negative, so that their bits order like their values)
//! each is a reset of the observed total.

use crate::kinds::Cell;
use crate::sync::{fence, AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct LastValue {
    /// Even: stable; odd: a write is in progress; 0: never written.
    seq: AtomicU64,
    bits: AtomicU64,
    /// Measurement time in ns since the Unix epoch; 0 = collection time.
    ts: AtomicU64,
    /// The bits of the previous [`read`](LastValue::read) (collector only).
    last_read: AtomicU64,
    /// Reads that found the bits below the previous read's (collector only).
    resets: AtomicU64,
}

impl Cell for LastValue {
    type Config = ();
    fn new(_: &()) -> Self {
        LastValue::default()
    }
}

/// A consistent read of a [`LastValue`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LastRead {
    pub bits: u64,
    pub ts: u64,
    /// Number of writes so far (change detector).
    pub writes: u64,
    /// Reads so far, this one included, whose bits were below the
    /// previous read's: the resets of an observed total.
    pub resets: u64,
}

impl LastValue {
    #[inline]
    pub(crate) fn set(&self, bits: u64, ts: u64) {
        let mut s = self.seq.load(Ordering::Relaxed);
        loop {
            if s & 1 == 0 {
                match self
                    .seq
                    .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(a) => {
                        spin();
                        s = a
                    }
                }
            } else {
                spin();
                s = self.seq.load(Ordering::Relaxed);
            }
        }
        fence(Ordering::Release);
        self.bits.store(bits, Ordering::Relaxed);
        self.ts.store(ts, Ordering::Relaxed);
        self.seq.store(s + 2, Ordering::Release);
    }

    /// The last write, or `None` if never written. Called by the
    /// collector (one at a time): it counts the reads whose value went
    /// down (see the module documentation).
    pub(crate) fn read(&self) -> Option<LastRead> {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return None;
            }
            if s1 & 1 == 1 {
                spin();
                continue;
            }
            let bits = self.bits.load(Ordering::Relaxed);
            let ts = self.ts.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                let mut resets = self.resets.load(Ordering::Relaxed);
                if bits < self.last_read.swap(bits, Ordering::Relaxed) {
                    resets += 1;
                    self.resets.store(resets, Ordering::Relaxed);
                }
                return Some(LastRead {
                    bits,
                    ts,
                    writes: s1 / 2,
                    resets,
                });
            }
            spin();
        }
    }
}

#[inline]
fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_never_torn() {
        let c = std::sync::Arc::new(LastValue::new(&()));
        assert!(c.read().is_none());
        let writers: Vec<_> = (1..=2u64)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 1..20_000u64 {
                        let v = i * 10 + t;
                        c.set(v, v); // value and timestamp always equal
                    }
                })
            })
            .collect();
        for _ in 0..20_000 {
            if let Some(r) = c.read() {
                assert_eq!(r.bits, r.ts);
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.read().unwrap().writes, 2 * 19_999);
    }

    #[test]
    fn reads_count_values_going_down() {
        let c = LastValue::new(&());
        let mut resets = Vec::new();
        for v in [100u64, 100, 120, 50, 50, 70, 10, 10, 0, 5] {
            c.set(v, 0);
            resets.push(c.read().unwrap().resets);
        }
        assert_eq!(resets, vec![0, 0, 0, 1, 1, 1, 2, 2, 3, 3]);
        // Float totals order like their bits.
        let f = LastValue::new(&());
        for v in [0.0f64, 1.5, 1e300, 2.0] {
            f.set(v.to_bits(), 0);
        }
        assert_eq!(f.read().unwrap().resets, 0, "one read, the first");
        f.set(1.0f64.to_bits(), 0);
        assert_eq!(f.read().unwrap().resets, 1);
    }
}
