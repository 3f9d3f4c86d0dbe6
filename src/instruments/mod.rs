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

use crate::aggregation::{
    Aggregator, ExpoHistogramCell, FastAdd, HistogramCell, LastValue, SumFloat, SumInt, SumU64,
};
use crate::attributes::{Attr, AttributeSet, Unchecked};
use crate::collect::stream::{StreamCollect, StreamCollector};
use crate::diagnostics::{Diag, Reason};
use crate::kinds::AggregationCell;
use crate::storage::stream::{Measurement, Stream};
use crate::storage::SeriesRef;
use crate::trace::{ExemplarFilter, TraceContext};
use std::sync::Arc;

/// Declares the aggregations the hot path dispatches to: one line each
/// (variant => cell type, the cell implementing `Aggregator`). Generates
/// [`StreamHandle`] and [`BoundCell`] with their match blocks, and
/// [`Registered`] for each cell, which `Meter::make_stream` uses to pair
/// a new stream with its collector.
macro_rules! aggregations {
    ($($(#[$doc:meta])* $variant:ident => $cell:ty,)*) => {
        /// One stream of an instrument, by aggregation.
        #[derive(Clone)]
        pub(crate) enum StreamHandle {
            $($(#[$doc])* $variant(Arc<Stream<$cell>>),)*
        }

        /// A series held directly by a bound handle, by aggregation.
        pub(crate) enum BoundCell {
            $($variant(Bound<$cell>),)*
            /// Bound with invalid attributes: every measurement is rejected.
            Invalid(Arc<Diag>, Arc<str>),
        }

        $(impl Registered for $cell {
            fn handle(s: Arc<Stream<Self>>) -> StreamHandle {
                StreamHandle::$variant(s)
            }
        })*

        impl StreamHandle {
            /// Records `m` in the call's trace context `explicit` (else
            /// the thread's current one counts).
            #[inline]
            fn record_valid<A: Attr>(
                &self,
                m: Measure,
                attrs: &[A],
                ts: u64,
                explicit: Option<&TraceContext>,
            ) {
                match self {
                    $(StreamHandle::$variant(s) => s.update(attrs, &Measurement::<true> { m, ts, explicit }),)*
                }
            }

            #[inline]
            fn record_unchecked<P: Unchecked>(
                &self,
                m: Measure,
                attrs: &[P],
                ts: u64,
                explicit: Option<&TraceContext>,
            ) -> bool {
                match self {
                    $(StreamHandle::$variant(s) => {
                        s.update_unchecked(attrs, &Measurement::<true> { m, ts, explicit })
                    })*
                }
            }

            fn bind<A: Attr>(&self, attrs: &[A]) -> BoundCell {
                match self {
                    $(StreamHandle::$variant(s) => {
                        let series = s.bind(attrs);
                        // After `bind` (which pinned): the binding thread's slot.
                        BoundCell::$variant(Bound {
                            series,
                            stream: s.clone(),
                            owner: crate::context::slot_addr(),
                        })
                    })*
                }
            }

            fn remove<A: Attr>(&self, attrs: &[A]) -> bool {
                match self {
                    $(StreamHandle::$variant(s) => s.remove(attrs),)*
                }
            }

            fn clear(&self) {
                match self {
                    $(StreamHandle::$variant(s) => s.clear(),)*
                }
            }
        }

        impl BoundCell {
            fn filter(&self) -> ExemplarFilter {
                match self {
                    $(BoundCell::$variant(b) => b.stream.sampling,)*
                    BoundCell::Invalid(..) => ExemplarFilter::AlwaysOff,
                }
            }

            fn record_sampled(&self, m: Measure, ts: u64, explicit: Option<&TraceContext>) {
                match self {
                    $(BoundCell::$variant(b) => b.record_sampled(m, ts, explicit),)*
                    BoundCell::Invalid(diag, name) => diag.reject(Reason::InvalidAttributes, name),
                }
            }

            // Always inlined: a bound add through the C ABI is one exported
            // call, and the value's kind is known at each call site.
            #[inline(always)]
            fn record(&self, m: Measure, ts: u64) {
                match self {
                    $(BoundCell::$variant(b) => b.record(m, ts),)*
                    BoundCell::Invalid(diag, name) => diag.reject(Reason::InvalidAttributes, name),
                }
            }
        }
    };
}

aggregations! {
    /// Non-monotonic integer sums (i64 up-down counters).
    SumInt => SumInt,
    /// Monotonic integer sums (the streams of u64 instruments).
    SumU64 => SumU64,
    SumFloat => SumFloat,
    Last => LastValue,
    Hist => HistogramCell,
    Expo => ExpoHistogramCell,
}

/// A cell type listed in `aggregations!`: the hot path's variant for its
/// streams.
pub(crate) trait Registered: Aggregator {
    fn handle(s: Arc<Stream<Self>>) -> StreamHandle;
}

/// A new stream's recording handle and its collector.
pub(crate) fn register<C: Registered>(
    stream: Stream<C>,
    evict_after: u32,
) -> (StreamHandle, Arc<dyn StreamCollect>) {
    let s = Arc::new(stream);
    (
        C::handle(s.clone()),
        Arc::new(StreamCollector::new(s, evict_after)),
    )
}

/// A bound handle's series in one stream.
pub(crate) struct Bound<C: AggregationCell> {
    series: SeriesRef<C>,
    stream: Arc<Stream<C>>,
    /// The address of the binding thread's context slot: when the series
    /// has no key in the per-thread sums (every key held), that thread's
    /// adds to an integer sum take the plain atomic add; any other
    /// thread's take the cell's add, which stripes the cell if threads
    /// contend (see [`BoundCell::add_int_sum`]).
    owner: usize,
}

impl<C: Aggregator> Bound<C> {
    /// Refused after shutdown, counted when the cell refuses the value.
    #[inline(always)]
    fn record(&self, m: Measure, ts: u64) {
        let s = &self.stream;
        if s.is_shutdown() {
            s.diag.reject(Reason::AfterShutdown, &s.desc.name);
        } else if !Aggregator::record(&self.series.cell, m, s.map.config(), ts) {
            s.sum_overflow()
        }
    }
}

impl<C: Aggregator> Bound<C> {
    /// [`record`](Self::record) for a measurement that may become an
    /// exemplar.
    #[inline(never)]
    fn record_sampled(&self, m: Measure, ts: u64, explicit: Option<&TraceContext>) {
        let s = &self.stream;
        if s.is_shutdown() {
            s.diag.reject(Reason::AfterShutdown, &s.desc.name);
        // A bound series' attributes were filtered when it was bound: none
        // are at hand to keep.
        } else if !s.record_offering(
            &self.series,
            m.to_bits(),
            ts,
            explicit,
            &AttributeSet::default,
        ) {
            s.sum_overflow()
        }
    }
}

impl BoundCell {
    /// Records on every stream's cell, offering the measurement to the
    /// streams' exemplar reservoirs.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_all_sampled(
        cells: &[BoundCell],
        m: Measure,
        ts: u64,
        explicit: Option<&TraceContext>,
    ) {
        for c in cells {
            c.record_sampled(m, ts, explicit);
        }
    }

    /// The exemplar filter of a bound handle: the widest of its streams'.
    pub(crate) fn exemplar_filter(cells: &[BoundCell]) -> ExemplarFilter {
        cells
            .iter()
            .map(BoundCell::filter)
            .max_by_key(|f| *f as u8)
            .unwrap_or(ExemplarFilter::AlwaysOff)
    }

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
    /// sum instrument (u64 counter, i64 up-down counter). Inlined: any
    /// thread adding to its own cell of a keyed series (binding gives the
    /// series a key in the per-thread sums while keys last: a load and a
    /// store), or the binding thread adding to its unstriped integer cell
    /// (one atomic add). Everything else (views changing the aggregation
    /// or adding streams, a striped cell, another thread on a series
    /// without a key) is out of line, so the exported bound add
    /// needs no stack frame and no stores of its own wait to drain before
    /// the atomic add (a locked instruction waits for every earlier
    /// store). Other threads take the contention-detecting add: a handle
    /// shared by threads gets a stripe per thread instead of a cache line
    /// they fight over. `m` is the integer measurement: whether it is
    /// signed matters to a view that makes a histogram of it.
    #[inline(always)]
    pub(crate) fn add_int_sum(cells: &[BoundCell], m: Measure) {
        if let [BoundCell::SumInt(b)] = cells {
            if !b.stream.is_shutdown()
                && b.series
                    .cell
                    .try_add_bound(m.as_i64(), || crate::context::slot_addr() == b.owner)
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
        if let [BoundCell::SumU64(b)] = cells {
            if !b.stream.is_shutdown() {
                let owner = || crate::context::slot_addr() == b.owner;
                match b.series.cell.try_add_bound(v, owner) {
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
        if let [BoundCell::SumU64(b)] = cells {
            b.series.cell.take_back_fast(found);
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
}

/// What every instrument handle shares: its streams and diagnostics.
#[doc(hidden)]
pub struct InstrumentCore {
    /// The one stream, when there is one (no view added more): what the
    /// recording path matches on, held here so that reaching it takes
    /// one load fewer than through `streams`.
    pub(crate) only: Option<StreamHandle>,
    pub(crate) name: Arc<str>,
    pub(crate) streams: Box<[StreamHandle]>,
    pub(crate) diag: Arc<Diag>,
}

impl InstrumentCore {
    pub(crate) fn new(name: Arc<str>, streams: Vec<StreamHandle>, diag: Arc<Diag>) -> Self {
        InstrumentCore {
            only: match &*streams {
                [s] => Some(s.clone()),
                _ => None,
            },
            name,
            streams: streams.into_boxed_slice(),
            diag,
        }
    }
}

/// Runs `$call` with `$s` bound to the instrument's one stream when that
/// stream has the aggregation the instrument kind defaults to (a sum of
/// the measurement's number type, an explicit or exponential histogram,
/// a last value), else `$other`. `$kind` and the measurement's variant
/// are constants where this is inlined, so each call site keeps one or
/// two arms: the default aggregation inlined, everything else (views
/// changing the aggregation or adding streams, rejected values) one call.
macro_rules! on_default_stream {
    ($self:ident, $kind:expr, $m:expr, |$s:ident, $mm:ident| $call:expr, else $other:expr) => {{
        use InstrumentKind as K;
        match ($kind, $m, &$self.only) {
            (
                K::Counter | K::UpDownCounter,
                Ok($mm @ Measure::UInt(_)),
                Some(StreamHandle::SumU64($s)),
            ) => $call,
            (
                K::Counter | K::UpDownCounter,
                Ok($mm @ Measure::Int(_)),
                Some(StreamHandle::SumInt($s)),
            ) => $call,
            (
                K::Counter | K::UpDownCounter,
                Ok($mm @ Measure::Float(_)),
                Some(StreamHandle::SumFloat($s)),
            ) => $call,
            (K::Histogram, Ok($mm), Some(StreamHandle::Hist($s))) => $call,
            (K::Histogram, Ok($mm), Some(StreamHandle::Expo($s))) => $call,
            (K::Gauge, Ok($mm), Some(StreamHandle::Last($s))) => $call,
            _ => $other,
        }
    }};
}

impl InstrumentCore {
    /// Records on every stream. Rust attributes are valid strings but
    /// their keys may be empty, which the specification forbids: each
    /// stream checks the keys on the way to a new series (a stored series
    /// never has an empty key, so a found series proves them valid) and
    /// counts a refused measurement as `invalid_attributes`. A check per
    /// call cost 34 instructions more than cc02ff4 on the three-attribute
    /// add (scripts/instructions-per-call.sh), with SumU64's limit check.
    /// `kind` is the instrument's (a constant at each call site): it
    /// selects what is inlined, never what is recorded.
    #[inline(always)]
    pub(crate) fn record<A: Attr>(
        &self,
        kind: InstrumentKind,
        m: Result<Measure, Reason>,
        attrs: &[A],
        ts: u64,
    ) {
        self.record_valid(kind, m, attrs, ts)
    }

    /// [`record`](Self::record) for attributes known to be valid (a C
    /// prepared set, every key checked when it was built).
    #[inline(always)]
    pub(crate) fn record_valid<A: Attr>(
        &self,
        kind: InstrumentKind,
        m: Result<Measure, Reason>,
        attrs: &[A],
        ts: u64,
    ) {
        on_default_stream!(self, kind, m, |s, m| {
            // Rebuilt from its two integers: moving the matched enum into
            // the measurement compiled, in whichever arm LLVM chose, to a
            // 16-byte load of the two 8-byte stores that had just written
            // it, a store-forwarding stall (~5 ns a record; it was the
            // exponential arm in the peers bench).
            let m = Measure::from_bits(m.to_bits());
            s.update(attrs, &Measurement::<false> { m, ts, explicit: None })
        }, else self.record_other(m, attrs, ts, None))
    }

    /// Records on every stream in the call's trace context `explicit`
    /// (else the thread's current one counts): the path of every call the
    /// inlined default-stream case does not take.
    #[inline(never)]
    pub(crate) fn record_other<A: Attr>(
        &self,
        m: Result<Measure, Reason>,
        attrs: &[A],
        ts: u64,
        explicit: Option<&TraceContext>,
    ) {
        match m {
            Ok(m) => {
                for s in self.streams.iter() {
                    s.record_valid(m, attrs, ts, explicit);
                }
            }
            Err(r) => self.reject(r),
        }
    }

    /// The attribute-less add of an integer sum instrument whose one
    /// stream is its own sum, anchored and uncontended: one
    /// compare-and-swap, calling nothing that could panic (the C ABI runs
    /// it before its panic boundary). Returns false, having recorded
    /// nothing, in every other case.
    #[inline(always)]
    pub(crate) fn try_add_empty_fast(&self, m: Measure) -> bool {
        match (m, &self.only) {
            (Measure::UInt(v), Some(StreamHandle::SumU64(s))) => {
                s.try_anchored(|c| c.try_add_uncontended(v))
            }
            (Measure::Int(v), Some(StreamHandle::SumInt(s))) => {
                s.try_anchored(|c| c.try_add_uncontended(v))
            }
            _ => false,
        }
    }

    #[cold]
    #[inline(never)]
    fn reject(&self, r: Reason) {
        self.diag.reject(r, &self.name)
    }

    /// [`record`](Self::record) for attributes not validated yet (the C
    /// ABI's): validated only on the way to a new series. Invalid ones are
    /// counted as `invalid_attributes` and nothing is recorded (a stream
    /// that found its series proved them valid, so a later stream cannot
    /// fail after an earlier one recorded).
    #[inline(always)]
    pub(crate) fn record_unchecked<P: Unchecked>(
        &self,
        kind: InstrumentKind,
        m: Result<Measure, Reason>,
        attrs: &[P],
        ts: u64,
    ) {
        let valid = on_default_stream!(self, kind, m, |s, m| {
            s.update_unchecked(attrs, &Measurement::<false> { m, ts, explicit: None })
        }, else return self.record_unchecked_other(m, attrs, ts, None));
        if !valid {
            self.reject(Reason::InvalidAttributes)
        }
    }

    /// [`record_unchecked`](Self::record_unchecked) on every stream, in
    /// the call's trace context `explicit` (else the thread's current one
    /// counts).
    #[inline(never)]
    pub(crate) fn record_unchecked_other<P: Unchecked>(
        &self,
        m: Result<Measure, Reason>,
        attrs: &[P],
        ts: u64,
        explicit: Option<&TraceContext>,
    ) {
        match m {
            Ok(m) => {
                for s in self.streams.iter() {
                    if !s.record_unchecked(m, attrs, ts, explicit) {
                        return self.reject(Reason::InvalidAttributes);
                    }
                }
            }
            Err(r) => self.reject(r),
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
pub trait InstrumentValue: Copy + Send + Sync + 'static + sealed::SealedInstrumentValue {
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

/// Traits that seal a public trait: nothing outside this crate can
/// implement the sealed one, since it cannot name its sealing trait.
mod sealed {
    /// Seals [`InstrumentValue`](super::InstrumentValue): the three number
    /// types below only.
    pub trait SealedInstrumentValue {}
    impl SealedInstrumentValue for u64 {}
    impl SealedInstrumentValue for i64 {}
    impl SealedInstrumentValue for f64 {}

    /// Seals [`Instrument`](super::Instrument): the handle types of
    /// `synchronous` and `observable` only.
    pub trait SealedInstrument {}
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
pub trait Instrument: Sized + Clone + Send + Sync + 'static + sealed::SealedInstrument {
    #[doc(hidden)]
    const KIND: InstrumentKind;
    #[doc(hidden)]
    const NUMBER: NumberKind;
    #[doc(hidden)]
    fn from_core(core: Arc<InstrumentCore>) -> Self;
}

pub(crate) use sealed::SealedInstrument;
