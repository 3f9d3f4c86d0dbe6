//! Instruments: kinds, naming rules, the synchronous and observable handles,
//! and the dispatch from an instrument to its streams.

mod descriptor;
mod observable;
mod synchronous;

pub use crate::kinds::{InstrumentKind, Measure, NumberKind};
pub use descriptor::{validate_description, validate_name, validate_unit};
pub use observable::{ObservableCounter, ObservableGauge, ObservableUpDownCounter};
pub use synchronous::{
    BoundCounter, BoundGauge, BoundHistogram, BoundUpDownCounter, Counter, Gauge, Histogram,
    UpDownCounter,
};

use crate::aggregation::{FastAdd, HistogramCell, LastValue, SumFloat, SumInt, SumU64};
use crate::attributes::{Attr, Unchecked};
use crate::diagnostics::{Diag, Reason};
use crate::storage::stream::{Stream, StreamCollect};
use crate::storage::SeriesRef;
use std::sync::Arc;

/// One stream of an instrument, by cell type.
#[derive(Clone)]
pub(crate) enum StreamHandle {
    SumInt(Arc<Stream<SumInt>>),
    /// Monotonic integer sums (the streams of u64 instruments).
    SumU64(Arc<Stream<SumU64>>),
    SumFloat(Arc<Stream<SumFloat>>),
    Last(Arc<Stream<LastValue>>),
    Hist(Arc<Stream<HistogramCell>>),
}

impl StreamHandle {
    #[inline]
    fn record_valid<A: Attr>(&self, m: Measure, attrs: &[A], ts: u64) {
        match self {
            StreamHandle::SumInt(s) => s.update(attrs, |c, _| {
                c.add(m.as_i64());
                true
            }),
            StreamHandle::SumU64(s) => s.update(attrs, |c, _| c.add(m.as_u64())),
            StreamHandle::SumFloat(s) => s.update(attrs, |c, _| c.add(m.as_f64())),
            StreamHandle::Last(s) => s.update(attrs, |c, _| {
                c.set(m.bits(), ts);
                true
            }),
            StreamHandle::Hist(s) => s.update(attrs, |c, cfg| c.record(m.as_f64(), cfg)),
        }
    }

    #[inline]
    fn record_unchecked<P: Unchecked>(&self, m: Measure, attrs: &[P], ts: u64) -> bool {
        match self {
            StreamHandle::SumInt(s) => s.update_unchecked(attrs, |c, _| {
                c.add(m.as_i64());
                true
            }),
            StreamHandle::SumU64(s) => s.update_unchecked(attrs, |c, _| c.add(m.as_u64())),
            StreamHandle::SumFloat(s) => s.update_unchecked(attrs, |c, _| c.add(m.as_f64())),
            StreamHandle::Last(s) => s.update_unchecked(attrs, |c, _| {
                c.set(m.bits(), ts);
                true
            }),
            StreamHandle::Hist(s) => s.update_unchecked(attrs, |c, cfg| c.record(m.as_f64(), cfg)),
        }
    }

    pub(crate) fn collector(&self) -> Arc<dyn StreamCollect> {
        match self {
            StreamHandle::SumInt(s) => s.clone(),
            StreamHandle::SumU64(s) => s.clone(),
            StreamHandle::SumFloat(s) => s.clone(),
            StreamHandle::Last(s) => s.clone(),
            StreamHandle::Hist(s) => s.clone(),
        }
    }

    fn bind<A: Attr>(&self, attrs: &[A]) -> BoundCell {
        match self {
            StreamHandle::SumInt(s) => {
                let series = s.bind(attrs);
                // After `bind` (which pinned): the binding thread's slot.
                BoundCell::SumInt(series, s.clone(), crate::context::slot_addr())
            }
            StreamHandle::SumU64(s) => {
                let series = s.bind(attrs);
                BoundCell::SumU64(series, s.clone(), crate::context::slot_addr())
            }
            StreamHandle::SumFloat(s) => BoundCell::SumFloat(s.bind(attrs), s.clone()),
            StreamHandle::Last(s) => BoundCell::Last(s.bind(attrs), s.clone()),
            StreamHandle::Hist(s) => BoundCell::Hist(s.bind(attrs), s.clone()),
        }
    }

    fn remove<A: Attr>(&self, attrs: &[A]) -> bool {
        match self {
            StreamHandle::SumInt(s) => s.remove(attrs),
            StreamHandle::SumU64(s) => s.remove(attrs),
            StreamHandle::SumFloat(s) => s.remove(attrs),
            StreamHandle::Last(s) => s.remove(attrs),
            StreamHandle::Hist(s) => s.remove(attrs),
        }
    }

    fn clear(&self) {
        match self {
            StreamHandle::SumInt(s) => s.clear(),
            StreamHandle::SumU64(s) => s.clear(),
            StreamHandle::SumFloat(s) => s.clear(),
            StreamHandle::Last(s) => s.clear(),
            StreamHandle::Hist(s) => s.clear(),
        }
    }
}

/// A series held directly by a bound handle.
pub(crate) enum BoundCell {
    /// With the address of the binding thread's reclamation slot: that
    /// thread's adds take the plain atomic add; any other thread's take
    /// [`SumInt::add`], which stripes the cell if threads contend.
    SumInt(SeriesRef<SumInt>, Arc<Stream<SumInt>>, usize),
    /// As `SumInt`, for a monotonic sum.
    SumU64(SeriesRef<SumU64>, Arc<Stream<SumU64>>, usize),
    SumFloat(SeriesRef<SumFloat>, Arc<Stream<SumFloat>>),
    Last(SeriesRef<LastValue>, Arc<Stream<LastValue>>),
    Hist(SeriesRef<HistogramCell>, Arc<Stream<HistogramCell>>),
    /// Bound with invalid attributes: every measurement is rejected.
    Invalid(Arc<Diag>, Arc<str>),
}

impl BoundCell {
    /// Records on every stream's cell. One stream (no views adding more)
    /// is the inlined case; the loop stays out of line so that the single
    /// update does not carry its setup.
    #[inline(always)]
    pub(crate) fn record_all(cells: &[BoundCell], m: Measure, ts: u64) {
        if let [c] = cells {
            c.record(m, ts)
        } else {
            Self::record_each(cells, m, ts)
        }
    }

    /// [`record_all`](Self::record_all) for the bound handle of an integer
    /// sum instrument (u64 counter, i64 up-down counter). Inlined: the
    /// binding thread adding to its unstriped integer cell. Everything
    /// else (views changing the aggregation or adding streams, a striped
    /// cell, another thread) is out of line, so the exported bound add
    /// needs no stack frame and no stores of its own wait to drain before
    /// the atomic add (a locked instruction waits for every earlier
    /// store). Other threads take the contention-detecting add: a handle
    /// shared by threads gets a stripe per thread instead of a cache line
    /// they fight over. `m` is the integer measurement: whether it is
    /// signed matters to a view that makes a histogram of it.
    #[inline(always)]
    pub(crate) fn add_int_sum(cells: &[BoundCell], m: Measure) {
        if let [BoundCell::SumInt(c, s, owner)] = cells {
            if crate::context::slot_addr() == *owner
                && !s.is_shutdown()
                && c.cell.try_add_unstriped(m.as_i64())
            {
                return;
            }
        }
        Self::add_other(cells, m)
    }

    /// [`add_int_sum`](Self::add_int_sum) for a u64 counter's bound
    /// handle, whose default stream is a monotonic sum: the binding
    /// thread's add of a value up to 2^32 - 1 to its unstriped cell is one
    /// atomic add and one compare of the value it returns; the rest
    /// (larger values, a total at its limit) is out of line and counts
    /// what the sum cannot hold.
    #[inline(always)]
    pub(crate) fn add_u64_sum(cells: &[BoundCell], v: u64) {
        if let [BoundCell::SumU64(c, s, owner)] = cells {
            if crate::context::slot_addr() == *owner && !s.is_shutdown() {
                match c.cell.try_add_unstriped(v) {
                    FastAdd::Added => return,
                    FastAdd::PastLimit(found) => return Self::add_u64_past_limit(cells, v, found),
                    FastAdd::NotTaken => {}
                }
            }
        }
        Self::add_other(cells, Measure::UInt(v))
    }

    /// The fast path's add went past the limit: take it back, then let
    /// the full add decide (and count a refusal).
    #[cold]
    #[inline(never)]
    fn add_u64_past_limit(cells: &[BoundCell], v: u64, found: u64) {
        if let [BoundCell::SumU64(c, ..)] = cells {
            c.cell.take_back_fast(found);
        }
        Self::record_all(cells, Measure::UInt(v), 0)
    }

    /// The out-of-line rest of [`add_int_sum`](Self::add_int_sum) and
    /// [`add_u64_sum`](Self::add_u64_sum).
    #[inline(never)]
    fn add_other(cells: &[BoundCell], m: Measure) {
        Self::record_all(cells, m, 0)
    }

    #[inline(never)]
    fn record_each(cells: &[BoundCell], m: Measure, ts: u64) {
        for c in cells {
            c.record(m, ts);
        }
    }

    // Always inlined: a bound add through the C ABI is one exported call,
    // and the value's kind is known at each call site.
    #[inline(always)]
    fn record(&self, m: Measure, ts: u64) {
        macro_rules! go {
            ($series:expr, $stream:expr, $op:expr) => {{
                if $stream.is_shutdown() {
                    $stream
                        .diag
                        .reject(Reason::AfterShutdown, &$stream.desc.name);
                } else {
                    #[allow(clippy::redundant_closure_call)]
                    if !$op(&$series.cell, $stream.map.config()) {
                        $stream.sum_overflow()
                    }
                }
            }};
        }
        match self {
            BoundCell::SumInt(c, s, _) => go!(c, s, |c: &SumInt, _| {
                c.add(m.as_i64());
                true
            }),
            BoundCell::SumU64(c, s, _) => go!(c, s, |c: &SumU64, _| c.add(m.as_u64())),
            BoundCell::SumFloat(c, s) => go!(c, s, |c: &SumFloat, _| c.add(m.as_f64())),
            BoundCell::Last(c, s) => go!(c, s, |c: &LastValue, _| {
                c.set(m.bits(), ts);
                true
            }),
            BoundCell::Hist(c, s) => go!(c, s, |c: &HistogramCell, cfg| c.record(m.as_f64(), cfg)),
            BoundCell::Invalid(diag, name) => diag.reject(Reason::InvalidAttributes, name),
        }
    }
}

/// What every instrument handle shares: its streams and diagnostics.
#[doc(hidden)]
pub struct InstrumentCore {
    pub(crate) name: Arc<str>,
    pub(crate) streams: Box<[StreamHandle]>,
    pub(crate) diag: Arc<Diag>,
}

impl InstrumentCore {
    /// Records on every stream. Rust attributes are valid strings but
    /// their keys may be empty, which the specification forbids: each
    /// stream checks the keys on the way to a new series (a stored series
    /// never has an empty key, so a found series proves them valid) and
    /// counts a refused measurement as `invalid_attributes`. A check per
    /// call cost 34 instructions more than cc02ff4 on the three-attribute
    /// add (scripts/instructions-per-call.sh), with SumU64's limit check.
    #[inline]
    pub(crate) fn record<A: Attr>(&self, m: Result<Measure, Reason>, attrs: &[A], ts: u64) {
        self.record_valid(m, attrs, ts)
    }

    /// [`record`](Self::record) for attributes known to be valid (a C
    /// prepared set, every key checked when it was built).
    #[inline]
    pub(crate) fn record_valid<A: Attr>(&self, m: Result<Measure, Reason>, attrs: &[A], ts: u64) {
        match m {
            Ok(m) => {
                for s in self.streams.iter() {
                    s.record_valid(m, attrs, ts);
                }
            }
            Err(r) => self.diag.reject(r, &self.name),
        }
    }

    /// [`record`](Self::record) for attributes not validated yet (the C
    /// ABI's): validated only on the way to a new series. Invalid ones are
    /// counted as `invalid_attributes` and nothing is recorded (a stream
    /// that found its series proved them valid, so a later stream cannot
    /// fail after an earlier one recorded).
    #[inline]
    pub(crate) fn record_unchecked<P: Unchecked>(
        &self,
        m: Result<Measure, Reason>,
        attrs: &[P],
        ts: u64,
    ) {
        match m {
            Ok(m) => {
                for s in self.streams.iter() {
                    if !s.record_unchecked(m, attrs, ts) {
                        self.diag.reject(Reason::InvalidAttributes, &self.name);
                        return;
                    }
                }
            }
            Err(r) => self.diag.reject(r, &self.name),
        }
    }

    /// One bound cell per stream. Invalid attributes (an empty key) bind
    /// nothing: the handle counts each of its measurements as
    /// `invalid_attributes`.
    pub(crate) fn bind<A: Attr>(&self, attrs: &[A]) -> Box<[BoundCell]> {
        if !crate::attributes::keys_valid(attrs) {
            crate::diagnostics::diag_warn!(
                "{}: bind with an empty attribute key refused; the handle's measurements are dropped and counted as invalid attributes",
                self.name
            );
            return Box::new([BoundCell::Invalid(self.diag.clone(), self.name.clone())]);
        }
        self.streams.iter().map(|s| s.bind(attrs)).collect()
    }

    pub(crate) fn remove<A: Attr>(&self, attrs: &[A]) -> bool {
        let mut any = false;
        for s in self.streams.iter() {
            any |= s.remove(attrs);
        }
        any
    }

    pub(crate) fn clear(&self) {
        for s in self.streams.iter() {
            s.clear();
        }
    }
}

/// Number types an instrument accepts, with the checks each instrument kind
/// applies on the recording path.
pub trait InstrumentValue: Copy + Send + Sync + 'static + private::Sealed {
    #[doc(hidden)]
    const NUMBER: NumberKind;
    #[doc(hidden)]
    fn monotonic(self) -> Result<Measure, Reason>;
    #[doc(hidden)]
    fn finite(self) -> Result<Measure, Reason>;
    #[doc(hidden)]
    fn gauge(self) -> Result<Measure, Reason>;
    /// An observable counter's observation: a total, checked like a
    /// monotonic increment, with -0.0 as 0.0 (so that totals order like
    /// their bits, see `LastValue`).
    #[doc(hidden)]
    #[inline]
    fn observed_total(self) -> Result<Measure, Reason> {
        match self.monotonic()? {
            Measure::Float(f) => Ok(Measure::Float(f + 0.0)),
            m => Ok(m),
        }
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

impl InstrumentValue for u64 {
    const NUMBER: NumberKind = NumberKind::U64;
    #[inline]
    fn monotonic(self) -> Result<Measure, Reason> {
        Ok(Measure::UInt(self))
    }
    #[inline]
    fn finite(self) -> Result<Measure, Reason> {
        Ok(Measure::UInt(self))
    }
    #[inline]
    fn gauge(self) -> Result<Measure, Reason> {
        Ok(Measure::UInt(self))
    }
}

impl InstrumentValue for i64 {
    const NUMBER: NumberKind = NumberKind::I64;
    #[inline]
    fn monotonic(self) -> Result<Measure, Reason> {
        if self < 0 {
            Err(Reason::Negative)
        } else {
            Ok(Measure::Int(self))
        }
    }
    #[inline]
    fn finite(self) -> Result<Measure, Reason> {
        Ok(Measure::Int(self))
    }
    #[inline]
    fn gauge(self) -> Result<Measure, Reason> {
        Ok(Measure::Int(self))
    }
}

impl InstrumentValue for f64 {
    const NUMBER: NumberKind = NumberKind::F64;
    #[inline]
    fn monotonic(self) -> Result<Measure, Reason> {
        if self.is_nan() {
            Err(Reason::Nan)
        } else if self.is_infinite() {
            Err(Reason::Infinite)
        } else if self < 0.0 {
            Err(Reason::Negative)
        } else {
            Ok(Measure::Float(self))
        }
    }
    #[inline]
    fn finite(self) -> Result<Measure, Reason> {
        if self.is_nan() {
            Err(Reason::Nan)
        } else if self.is_infinite() {
            Err(Reason::Infinite)
        } else {
            Ok(Measure::Float(self))
        }
    }
    #[inline]
    fn gauge(self) -> Result<Measure, Reason> {
        if self.is_nan() {
            Err(Reason::Nan)
        } else {
            Ok(Measure::Float(self))
        }
    }
}

/// Implemented by every instrument handle: how the meter builds it.
pub trait Instrument: Sized + Clone + Send + Sync + 'static + private2::Sealed2 {
    #[doc(hidden)]
    const KIND: InstrumentKind;
    #[doc(hidden)]
    const NUMBER: NumberKind;
    #[doc(hidden)]
    fn from_core(core: Arc<InstrumentCore>) -> Self;
}

pub(crate) use private2::Sealed2;
mod private2 {
    pub trait Sealed2 {}
}
