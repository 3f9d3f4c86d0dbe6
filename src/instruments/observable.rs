//! Observable (asynchronous) instruments: values reported by callbacks
//! that run once per collection cycle.

use super::{
    Instrument, InstrumentCore, InstrumentKind, InstrumentValue, NumberKind, SealedInstrument,
};
use crate::attributes::{Attr, KeyValue};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

macro_rules! observable {
    ($(#[$m:meta])* $name:ident, $kind:expr, $check:ident) => {
        $(#[$m])*
        ///
        /// Observations are made from callbacks (registered with the
        /// builder's `with_callback` or `Meter::register_callback`); only
        /// series observed in a cycle are reported in it.
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
            /// Reports the current value of the series identified by `attrs`.
            #[inline]
            pub fn observe(&self, value: T, attrs: &[KeyValue]) {
                self.core.record($kind, value.$check(), attrs, 0)
            }

            /// [`observe`](Self::observe) for any attribute type.
            #[inline]
            pub fn observe_attrs<A: Attr>(&self, value: T, attrs: &[A]) {
                self.core.record($kind, value.$check(), attrs, 0)
            }

            /// Reports a value with its own timestamp.
            #[inline]
            pub fn observe_at(&self, value: T, attrs: &[KeyValue], time: SystemTime) {
                self.observe_at_attrs(value, attrs, time)
            }

            /// [`observe_at`](Self::observe_at) for any attribute type.
            #[inline]
            pub fn observe_at_attrs<A: Attr>(&self, value: T, attrs: &[A], time: SystemTime) {
                self.core.record($kind, value.$check(), attrs, crate::time::to_nanos(time).max(1))
            }

            /// The instrument's name.
            pub fn name(&self) -> &str {
                &self.core.name
            }

            /// Removes every series of this instrument.
            pub fn remove_all(&self) {
                self.core.clear()
            }
        }

        impl<T: InstrumentValue> SealedInstrument for $name<T> {}
        impl<T: InstrumentValue> Instrument for $name<T> {
            const KIND: InstrumentKind = $kind;
            const NUMBER: NumberKind = T::NUMBER;
            fn from_core(core: Arc<InstrumentCore>) -> Self {
                $name { core, _t: PhantomData }
            }
        }
    };
}

observable!(
    /// A monotonic sum reported as a total by callbacks (u64, i64 or f64).
    /// Negative, NaN and infinite totals are rejected and counted. A total
    /// below the one observed in an earlier collection is a reset: the
    /// series restarts with a new start time (the time of the reader's
    /// previous collection) and a delta reader reports the new total.
    ObservableCounter, InstrumentKind::ObservableCounter, observed_total
);
observable!(
    /// A non-monotonic sum reported as a total by callbacks (i64 or f64).
    ObservableUpDownCounter, InstrumentKind::ObservableUpDownCounter, finite
);
observable!(
    /// A gauge reported by callbacks (i64 or f64).
    ObservableGauge, InstrumentKind::ObservableGauge, gauge
);
