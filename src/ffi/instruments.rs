//! Synchronous instruments: creation, recording (the hot path), prepared
//! recording and series removal, written once as generic functions. The
//! exported functions, one set per instrument type, are generated from the
//! table in `tests/ffi_gen/table.rs` into `instruments/generated.rs`.

use super::attributes::{attrs_arg, fm_attribute, fm_attribute_set, prepared, raw};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::instrument_options::{fm_instrument_options, instrument_options_arg};
use super::meter::fm_meter;
use super::status::{core_err, fm_status};
use crate::attributes::{Attr, Unchecked};
use crate::diagnostics::{Diag, Reason};
use crate::ffi::trace::fm_trace_context;
use crate::trace::TraceContext;
use crate::{Gauge, InstrumentBuilder, InstrumentKind, Meter};
use std::ffi::c_char;
use std::sync::Arc;

/// What a synchronous instrument handle points to: the core instrument plus
/// the provider's diagnostics (to count measurements the C layer rejects).
pub(crate) struct InstrumentHandle<I> {
    pub(crate) instrument: I,
    pub(crate) diag: Arc<Diag>,
}

/// What the C layer needs from a synchronous instrument type: the core's
/// methods of the same names, which each type has on its own (this trait
/// lets the generic functions below call them).
pub(crate) trait SyncInstrument: crate::instruments::Instrument {
    type Value: Copy;
    type Bound: Send + Sync + 'static;
    /// `Meter::u64_counter` and its siblings.
    fn builder(meter: &Meter, name: String) -> InstrumentBuilder<'_, Self>;
    /// Records with attributes validated when they were prepared.
    fn record_valid<A: Attr>(&self, value: Self::Value, attrs: &[A]);
    /// Records with attributes straight from the caller, checked on the way.
    fn record_unchecked<P: Unchecked>(&self, value: Self::Value, attrs: &[P]);
    /// The attribute-less fast path, which calls nothing that can panic.
    fn try_record_empty_fast(&self, value: Self::Value) -> bool;
    fn bind_attrs<A: Attr>(&self, attrs: &[A]) -> Self::Bound;
    /// `BoundCounter::add`, `BoundHistogram::record`, ...
    fn record_bound(bound: &Self::Bound, value: Self::Value);
    /// The three recordings above in an explicit trace context.
    fn record_valid_in_context<A: Attr>(&self, value: Self::Value, attrs: &[A], ctx: &TraceContext);
    fn record_unchecked_in_context<P: Unchecked>(
        &self,
        value: Self::Value,
        attrs: &[P],
        ctx: &TraceContext,
    );
    fn record_bound_in_context(bound: &Self::Bound, value: Self::Value, ctx: &TraceContext);
    fn remove_attrs<A: Attr>(&self, attrs: &[A]) -> bool;
    fn remove_all(&self);
    fn name(&self) -> &str;
}

/// Implements [`SyncInstrument`] for each type of the generated table
/// (`Counter<u64> => BoundCounter, u64_counter, add;`).
macro_rules! sync_instruments {
    ($($t:ident<$v:ty> => $bound:ident, $constructor:ident, $verb:ident, $verb_ctx:ident;)*) => {$(
        impl crate::ffi::instruments::SyncInstrument for crate::$t<$v> {
            type Value = $v;
            type Bound = crate::$bound<$v>;
            fn builder(meter: &crate::Meter, name: String) -> crate::InstrumentBuilder<'_, Self> {
                meter.$constructor(name)
            }
            #[inline]
            fn record_valid<A: crate::attributes::Attr>(&self, value: $v, attrs: &[A]) {
                self.record_valid(value, attrs)
            }
            #[inline]
            fn record_unchecked<P: crate::attributes::Unchecked>(&self, value: $v, attrs: &[P]) {
                self.record_unchecked(value, attrs)
            }
            #[inline(always)]
            fn try_record_empty_fast(&self, value: $v) -> bool {
                self.try_record_empty_fast(value)
            }
            fn bind_attrs<A: crate::attributes::Attr>(&self, attrs: &[A]) -> Self::Bound {
                self.bind_attrs(attrs)
            }
            #[inline]
            fn record_bound(bound: &Self::Bound, value: $v) {
                bound.$verb(value)
            }
            fn record_valid_in_context<A: crate::attributes::Attr>(&self, value: $v, attrs: &[A], ctx: &crate::TraceContext) {
                self.$verb_ctx(value, attrs, ctx)
            }
            fn record_unchecked_in_context<P: crate::attributes::Unchecked>(&self, value: $v, attrs: &[P], ctx: &crate::TraceContext) {
                self.record_unchecked_in_context(value, attrs, ctx)
            }
            fn record_bound_in_context(bound: &Self::Bound, value: $v, ctx: &crate::TraceContext) {
                bound.$verb_ctx(value, ctx)
            }
            fn remove_attrs<A: crate::attributes::Attr>(&self, attrs: &[A]) -> bool {
                self.remove_attrs(attrs)
            }
            fn remove_all(&self) {
                self.remove_all()
            }
            fn name(&self) -> &str {
                self.name()
            }
        }
    )*};
}

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub(crate) fn create<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status> {
    let meter = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let options = instrument_options_arg(name, name_len, options)?;
    let mut builder = I::builder(meter, options.name.to_owned())
        .with_description(options.description)
        .with_unit(options.unit);
    if let (InstrumentKind::Histogram, Some(bounds)) = (I::KIND, options.boundaries) {
        builder = builder.with_boundaries(bounds);
    }
    let instrument = builder.build().map_err(core_err)?;
    write_out(
        out,
        H::into_raw(InstrumentHandle {
            instrument,
            diag: meter.provider.diag.clone(),
        }),
    );
    Ok(())
}

/// Every exported recording function with an attribute array: the
/// attribute-less fast path inline, the rest out of line.
#[inline(always)]
pub(crate) fn record_entry<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if !record_empty_fast::<I, H>(ptr, value, attrs_len) {
        record_full::<I, H>(ptr, value, attrs, attrs_len)
    }
}

/// The attribute-less add's fast path, run before the panic boundary:
/// a NULL check, then `InstrumentCore::try_add_empty_fast` (loads,
/// compares, one compare-and-swap; nothing that can panic). Returns false,
/// having recorded nothing, when the full path must run.
#[inline(always)]
pub(crate) fn record_empty_fast<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs_len: usize,
) -> bool {
    // SAFETY: C contract: NULL or a live instrument handle.
    attrs_len == 0
        && unsafe { H::get(ptr) }
            .is_some_and(|handle| handle.instrument.try_record_empty_fast(value))
}

/// [`record`] behind the panic boundary, out of line: the exported
/// function's attribute-less fast path then needs no stack frame.
#[inline(never)]
pub(crate) fn record_full<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { record::<I, H>(ptr, value, attrs, attrs_len) }
}

#[inline]
pub(crate) fn record<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        match raw(attrs, attrs_len) {
            Some(a) => handle.instrument.record_unchecked(value, a),
            None => handle
                .diag
                .reject(Reason::InvalidAttributes, handle.instrument.name()),
        }
    }
}

/// [`record`] in the trace context `*ctx` (NULL: the thread's current
/// one, as the plain call).
pub(crate) fn record_in_context<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
    ctx: *const fm_trace_context,
) {
    // SAFETY: C contract: NULL or a readable fm_trace_context.
    let Some(ctx) = (unsafe { ctx.as_ref() }).map(TraceContext::from) else {
        return record::<I, H>(ptr, value, attrs, attrs_len);
    };
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        match raw(attrs, attrs_len) {
            Some(a) => handle
                .instrument
                .record_unchecked_in_context(value, a, &ctx),
            None => handle
                .diag
                .reject(Reason::InvalidAttributes, handle.instrument.name()),
        }
    }
}

/// [`record_prepared`] in the trace context `*ctx` (NULL: the thread's
/// current one, as the plain call).
pub(crate) fn record_prepared_in_context<
    I: SyncInstrument,
    H: Handle<Rust = InstrumentHandle<I>>,
>(
    ptr: *const H,
    value: I::Value,
    set: *const fm_attribute_set,
    ctx: *const fm_trace_context,
) {
    // SAFETY: C contract: NULL or a readable fm_trace_context.
    let Some(ctx) = (unsafe { ctx.as_ref() }).map(TraceContext::from) else {
        return record_prepared::<I, H>(ptr, value, set);
    };
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        handle
            .instrument
            .record_valid_in_context(value, prepared(set), &ctx);
    }
}

#[inline]
pub(crate) fn record_prepared<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    set: *const fm_attribute_set,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        handle.instrument.record_valid(value, prepared(set));
    }
}

pub(crate) fn remove<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> Result<(), fm_status> {
    let handle = arg(ptr, "instrument")?;
    let a = attrs_arg(attrs, attrs_len)?;
    let e = handle.instrument.remove_attrs(a);
    if !existed.is_null() {
        write_out(existed, e);
    }
    Ok(())
}

pub(crate) fn remove_all<I: SyncInstrument, H: Handle<Rust = InstrumentHandle<I>>>(
    ptr: *const H,
) -> Result<(), fm_status> {
    arg(ptr, "instrument")?.instrument.remove_all();
    Ok(())
}

#[inline]
pub(crate) fn gauge_record_at<T, H>(
    ptr: *const H,
    value: T,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) where
    T: crate::instruments::InstrumentValue,
    Gauge<T>: SyncInstrument,
    H: Handle<Rust = InstrumentHandle<Gauge<T>>>,
{
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        match raw(attrs, attrs_len) {
            Some(a) => handle
                .instrument
                .record_at_unchecked(value, a, system_time(time_unix_nano)),
            None => handle
                .diag
                .reject(Reason::InvalidAttributes, handle.instrument.name()),
        }
    }
}
