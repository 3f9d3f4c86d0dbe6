//! The last-value aggregation: gauges, and the observations of
//! observable counters and up-down counters (each a total). The cell keeps
//! the last value with an optional measurement timestamp.
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

use super::{int_number, number_point, Aggregator, Cursors, Emit, RawPoint};
use crate::collect::data::{Gauge, MetricData, Number, NumberPoint, Sum, Temporality};
use crate::kinds::{AggregationCell, Measure, NumberKind, Shape};
use crate::sync::{fence, AtomicU64, Ordering};
use std::borrow::Cow;

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

impl AggregationCell for LastValue {
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

/// What a reader keeps of one series between reports.
#[derive(Debug, Default)]
pub(crate) struct LastPrev {
    /// Gauges: the cell's write count at the last report.
    version: u64,
    /// The bits of the total last reported (observed sums, delta).
    total: u64,
    /// Observed counters: the cell's reset count at the last report.
    resets: u64,
    /// Observed counters, cumulative: the start of the current run of
    /// totals since the last reset (0: the series' own start).
    start: u64,
}

impl Aggregator for LastValue {
    type Read = LastRead;
    type Prev = LastPrev;

    #[inline(always)]
    fn record(&self, m: Measure, _: &(), ts: u64) -> bool {
        self.set(m.bits(), ts);
        true
    }

    fn read(&self) -> Option<LastRead> {
        LastValue::read(self)
    }

    fn version(r: &LastRead) -> u64 {
        r.writes
    }

    fn cumulative(
        e: &Emit<'_, Self>,
        raw: Cow<'_, [RawPoint<LastRead>]>,
        cursors: &mut Cursors<LastPrev>,
    ) -> MetricData {
        match e.desc.shape {
            Shape::Sum { monotonic: true } if e.observable => observed_totals(e, &raw, cursors),
            Shape::Sum { monotonic } => MetricData::Sum(Sum {
                temporality: Temporality::Cumulative,
                is_monotonic: monotonic,
                points: raw.iter().map(|p| point(e, p, p.start)).collect(),
            }),
            _ => MetricData::Gauge(Gauge {
                points: raw.iter().map(|p| point(e, p, 0)).collect(),
            }),
        }
    }

    fn delta(
        e: &Emit<'_, Self>,
        raw: &[RawPoint<LastRead>],
        cursors: &mut Cursors<LastPrev>,
    ) -> MetricData {
        let Shape::Sum { monotonic } = e.desc.shape else {
            // Gauges: each series' last value, when it changed since this
            // reader's previous report (observations: whenever observed).
            let mut points = Vec::new();
            for p in raw {
                let mut c = cursors.get(p.slot, p.id);
                if c.reported() && p.value.writes == c.prev.version && !e.observable {
                    continue;
                }
                points.push(point(e, p, 0));
                c.prev.version = p.value.writes;
                c.report();
            }
            return MetricData::Gauge(Gauge { points });
        };
        // Observed sums: the observation is a total. A counter's total
        // below this reader's previous one, or reset in between (see
        // `LastValue`), restarted: the change is the new total.
        let mut points = Vec::new();
        let last = cursors.last_time;
        for p in raw {
            let mut c = cursors.get(p.slot, p.id);
            let is_new = !c.reported();
            let reset = monotonic && !is_new && p.value.resets != c.prev.resets;
            c.prev.resets = p.value.resets;
            let prev = (!is_new && !reset).then_some(c.prev.total);
            let change = change_since(e.desc.number, p.value.bits, prev, monotonic);
            c.prev.total = p.value.bits;
            let (time, explicit) = point_time(&p.value, e.now);
            let start = if is_new { p.start } else { last };
            points.push(number_point(p.attrs.clone(), start, time, explicit, change));
            c.report();
        }
        MetricData::Sum(Sum {
            temporality: Temporality::Delta,
            is_monotonic: monotonic,
            points,
        })
    }
}

/// The point of a read, starting at `start`.
fn point(e: &Emit<'_, LastValue>, p: &RawPoint<LastRead>, start: u64) -> NumberPoint {
    let (time, explicit) = point_time(&p.value, e.now);
    number_point(
        p.attrs.clone(),
        start,
        time,
        explicit,
        value(e.desc.number, p.value.bits),
    )
}

fn value(n: NumberKind, bits: u64) -> Number {
    match n {
        NumberKind::F64 => Number::F64(f64::from_bits(bits)),
        NumberKind::U64 => Number::U64(bits),
        NumberKind::I64 => Number::I64(bits as i64),
    }
}

/// A measurement's own timestamp, or the collection's.
fn point_time(r: &LastRead, now: u64) -> (u64, bool) {
    if r.ts != 0 {
        (r.ts, true)
    } else {
        (now, false)
    }
}

/// The change of an observed total since `prev` (the bits of the total
/// last reported). A monotonic total below the previous one restarted
/// from zero: the change is the total itself.
fn change_since(n: NumberKind, bits: u64, prev: Option<u64>, monotonic: bool) -> Number {
    match n {
        NumberKind::F64 => {
            let v = f64::from_bits(bits);
            let p = match prev.map(f64::from_bits) {
                Some(p) if !(monotonic && v < p) => p,
                _ => 0.0,
            };
            Number::F64(v - p)
        }
        _ => {
            let p = match prev {
                Some(p) if !(monotonic && bits < p) => p,
                _ => 0,
            };
            int_number((bits as i64).wrapping_sub(p as i64), n)
        }
    }
}

/// Cumulative points of an observable counter: the observed totals, each
/// series starting again after a reset (its total went down, see
/// `LastValue`) at the time of this reader's previous collection, so that the
/// new sequence neither overlaps the old one nor claims the time before it.
fn observed_totals(
    e: &Emit<'_, LastValue>,
    raw: &[RawPoint<LastRead>],
    cursors: &mut Cursors<LastPrev>,
) -> MetricData {
    let last = cursors.last_time;
    let points = raw
        .iter()
        .map(|p| {
            let mut c = cursors.get(p.slot, p.id);
            if c.reported() && p.value.resets != c.prev.resets {
                c.prev.start = last;
            }
            c.prev.resets = p.value.resets;
            c.report();
            let start = if c.prev.start != 0 {
                c.prev.start
            } else {
                p.start
            };
            point(e, p, start)
        })
        .collect();
    MetricData::Sum(Sum {
        temporality: Temporality::Cumulative,
        is_monotonic: true,
        points,
    })
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
