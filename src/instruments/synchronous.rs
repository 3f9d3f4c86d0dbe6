//! Synchronous instruments and their bound handles.

use super::{
    BoundCell, Instrument, InstrumentCore, InstrumentKind, InstrumentValue, Measure, NumberKind,
    SealedInstrument,
};
use crate::attributes::{Attr, KeyValue, Unchecked};
use crate::trace::{ExemplarFilter, TraceContext};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

macro_rules! sync_instrument {
    (
        $(#[$m:meta])* $name:ident, $bound:ident, $kind:expr, $verb:ident, $verb_attrs:ident, $verb_ctx:ident, $check:ident, [$($t:ty),*]
    ) => {
        $(#[$m])*
        ///
        /// Cheap to clone; clones share storage. Recording never blocks,
        /// never allocates for an existing series and never fails loudly:
        /// rejected values are counted (see `MeterProvider::rejected`).
        #[must_use]
        pub struct $name<T> {
            core: Arc<InstrumentCore>,
            _t: PhantomData<fn(T)>,
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { core: self.core.clone(), _t: PhantomData }
            }
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.core.name).finish()
            }
        }

        impl<T: InstrumentValue> $name<T> {
            /// Records a measurement for the series identified by `attrs`
            /// (any order; duplicate keys: the last one wins).
            #[inline]
            pub fn $verb(&self, value: T, attrs: &[KeyValue]) {
                self.core.record($kind, value.$check(), attrs, 0)
            }

            /// Same as the method without `_attrs`, for any attribute type
            /// (borrowed [`AttrRef`](crate::AttrRef)s, C ABI attributes).
            #[inline]
            pub fn $verb_attrs<A: Attr>(&self, value: T, attrs: &[A]) {
                self.core.record($kind, value.$check(), attrs, 0)
            }

            /// Records a measurement in the trace context `ctx` (in place
            /// of the thread's current one): under the provider's exemplar
            /// filter it may become an exemplar carrying `ctx`'s trace and
            /// span ids. The measurement itself is recorded either way.
            #[inline]
            pub fn $verb_ctx<A: Attr>(&self, value: T, attrs: &[A], ctx: &TraceContext) {
                self.core.record_other(value.$check(), attrs, 0, Some(ctx))
            }

            /// [`Self::$verb_ctx`] with attributes validated only when no
            /// series matches them (the C ABI's path).
            #[inline]
            pub(crate) fn record_unchecked_in_context<P: Unchecked>(
                &self,
                value: T,
                attrs: &[P],
                ctx: &TraceContext,
            ) {
                self.core
                    .record_unchecked_other(value.$check(), attrs, 0, Some(ctx))
            }

            /// Records with attributes known to be valid (a C prepared
            /// set): no check on any path.
            #[inline]
            pub(crate) fn record_valid<A: Attr>(&self, value: T, attrs: &[A]) {
                self.core.record_valid($kind, value.$check(), attrs, 0)
            }

            /// Records with attributes validated only when no series
            /// matches them (the C ABI's path).
            #[inline]
            pub(crate) fn record_unchecked<P: Unchecked>(&self, value: T, attrs: &[P]) {
                self.core.record_unchecked($kind, value.$check(), attrs, 0)
            }

            /// The attribute-less fast path alone (see
            /// `InstrumentCore::try_add_empty_fast`): false, having
            /// recorded nothing, when it does not apply.
            #[inline(always)]
            pub(crate) fn try_record_empty_fast(&self, value: T) -> bool {
                match value.$check() {
                    Ok(m) => self.core.try_add_empty_fast(m),
                    Err(_) => false,
                }
            }

            /// Returns a handle bound to one series: recording through it is
            /// a single atomic update, with no lookup.
            pub fn bind(&self, attrs: &[KeyValue]) -> $bound<T> {
                self.bind_attrs(attrs)
            }

            /// [`bind`](Self::bind) for any attribute type.
            pub fn bind_attrs<A: Attr>(&self, attrs: &[A]) -> $bound<T> {
                let cells = self.core.bind(attrs);
                $bound {
                    exemplars: BoundCell::exemplar_filter(&cells),
                    cells,
                    core: self.core.clone(),
                    _t: PhantomData,
                }
            }

            /// Removes the series with exactly these attributes (its totals are
            /// forgotten, as Prometheus' DeleteLabelValues does). Bound handles
            /// to it keep working but their updates are no longer exported.
            /// Returns whether the series existed.
            pub fn remove(&self, attrs: &[KeyValue]) -> bool {
                self.core.remove(attrs)
            }

            /// [`remove`](Self::remove) for any attribute type.
            pub fn remove_attrs<A: Attr>(&self, attrs: &[A]) -> bool {
                self.core.remove(attrs)
            }

            /// Removes every series of this instrument.
            pub fn remove_all(&self) {
                self.core.clear()
            }

            /// The instrument's name.
            pub fn name(&self) -> &str {
                &self.core.name
            }
        }

        $(
        impl SealedInstrument for $name<$t> {}
        impl Instrument for $name<$t> {
            const KIND: InstrumentKind = $kind;
            const NUMBER: NumberKind = <$t as InstrumentValue>::NUMBER;
            fn from_core(core: Arc<InstrumentCore>) -> Self {
                $name { core, _t: PhantomData }
            }
        }
        )*

        #[doc = concat!("A [`", stringify!($name), "`] bound to one series.")]
        #[must_use]
        pub struct $bound<T> {
            /// The streams' exemplar filter, checked first on every
            /// recording.
            exemplars: ExemplarFilter,
            cells: Box<[BoundCell]>,
            core: Arc<InstrumentCore>,
            _t: PhantomData<fn(T)>,
        }

        impl<T: InstrumentValue> $bound<T> {
            /// Records a measurement on the bound series.
            #[inline]
            pub fn $verb(&self, value: T) {
                if self.exemplars.may_sample() {
                    return self.record_sampling(value, None);
                }
                match value.$check() {
                    // Known at compile time: an integer sum's fast path
                    // (only u64/i64 values give `Measure::UInt`/`Measure::Int`;
                    // a u64 counter's sum is monotonic, an up-down counter's
                    // not).
                    Ok(Measure::UInt(v)) if matches!($kind, InstrumentKind::Counter) => {
                        BoundCell::add_u64_sum(&self.cells, v)
                    }
                    Ok(m @ (Measure::Int(_) | Measure::UInt(_)))
                        if matches!($kind, InstrumentKind::UpDownCounter) =>
                    {
                        BoundCell::add_int_sum(&self.cells, m)
                    }
                    Ok(m) => BoundCell::record_all(&self.cells, m, 0),
                    Err(r) => self.core.diag.reject(r, &self.core.name),
                }
            }

            /// Records a measurement on the bound series in the trace
            /// context `ctx` (see the instrument's method of this name).
            #[inline]
            pub fn $verb_ctx(&self, value: T, ctx: &TraceContext) {
                self.record_sampling(value, Some(ctx))
            }

            #[cold]
            #[inline(never)]
            fn record_sampling(&self, value: T, explicit: Option<&TraceContext>) {
                match value.$check() {
                    Ok(m) => BoundCell::record_all_sampled(&self.cells, m, 0, explicit),
                    Err(r) => self.core.diag.reject(r, &self.core.name),
                }
            }
        }
    };
}

sync_instrument!(
    /// A monotonic counter (u64 or f64). Negative, NaN and infinite
    /// increments are rejected and counted, and so is an increment the
    /// total cannot hold: a u64 series holds totals up to at least
    /// 2^63 - 1 and never wraps; an f64 total never becomes infinite.
    Counter, BoundCounter, InstrumentKind::Counter, add, add_attrs, add_in_context, monotonic, [u64, f64]
);
sync_instrument!(
    /// A counter that can go up and down (i64 or f64). NaN and infinite
    /// increments are rejected and counted, and so is an f64 increment
    /// that would make the total infinite.
    UpDownCounter, BoundUpDownCounter, InstrumentKind::UpDownCounter, add, add_attrs, add_in_context, finite, [i64, f64]
);
sync_instrument!(
    /// A distribution of non-negative values (u64 or f64) in explicit
    /// buckets. Negative, NaN and infinite values are rejected and counted,
    /// and so is a value that would make the sum infinite.
    Histogram, BoundHistogram, InstrumentKind::Histogram, record, record_attrs, record_in_context, monotonic, [u64, f64]
);
sync_instrument!(
    /// The last value of something (i64 or f64). NaN is rejected and counted.
    Gauge, BoundGauge, InstrumentKind::Gauge, record, record_attrs, record_in_context, gauge, [i64, f64]
);

impl<T: InstrumentValue> Gauge<T> {
    /// Records a value observed at `time` (carried to exporters as the
    /// point's own timestamp).
    #[inline]
    pub fn record_at(&self, value: T, attrs: &[KeyValue], time: SystemTime) {
        self.record_at_attrs(value, attrs, time)
    }

    /// [`record_at`](Self::record_at) for any attribute type.
    #[inline]
    pub fn record_at_attrs<A: Attr>(&self, value: T, attrs: &[A], time: SystemTime) {
        self.core.record(
            InstrumentKind::Gauge,
            value.gauge(),
            attrs,
            crate::time::to_nanos(time).max(1),
        )
    }

    /// [`record_at`](Self::record_at) with attributes validated only when
    /// no series matches them (the C ABI's path).
    #[inline]
    pub(crate) fn record_at_unchecked<P: Unchecked>(
        &self,
        value: T,
        attrs: &[P],
        time: SystemTime,
    ) {
        self.core.record_unchecked(
            InstrumentKind::Gauge,
            value.gauge(),
            attrs,
            crate::time::to_nanos(time).max(1),
        )
    }
}

impl<T: InstrumentValue> BoundGauge<T> {
    /// Records a value observed at `time`.
    #[inline]
    pub fn record_at(&self, value: T, time: SystemTime) {
        match value.gauge() {
            Ok(m) => BoundCell::record_all(&self.cells, m, crate::time::to_nanos(time).max(1)),
            Err(r) => self.core.diag.reject(r, &self.core.name),
        }
    }
}
