//! Bound instruments: a handle that holds one series' cell directly, so
//! recording is one atomic update with no lookup. The exported functions,
//! one set per instrument type, are generated from the table in
//! `tests/ffi_gen/table.rs` into `bound/generated.rs`.

use super::attributes::{attrs_arg, fm_attribute};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::instruments::{InstrumentHandle, SyncInstrument};
use super::status::fm_status;
use crate::{BoundGauge, Gauge};

/// What a bound handle points to.
pub(crate) struct Bound<I: SyncInstrument> {
    pub(crate) bound: I::Bound,
}

#[rustfmt::skip]
mod generated;

pub(crate) fn bind<I, H, B>(
    ptr: *const H,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut B,
) -> Result<(), fm_status>
where
    I: SyncInstrument,
    H: Handle<Rust = InstrumentHandle<I>>,
    B: Handle<Rust = Bound<I>>,
{
    let handle = arg(ptr, "instrument")?;
    out_arg(out, "out")?;
    let a = attrs_arg(attrs, attrs_len)?;
    write_out(
        out,
        B::into_raw(Bound {
            bound: handle.instrument.bind_attrs(a),
        }),
    );
    Ok(())
}

#[inline]
pub(crate) fn bound_record<I: SyncInstrument, B: Handle<Rust = Bound<I>>>(
    ptr: *const B,
    value: I::Value,
) {
    // SAFETY: C contract: NULL or a live bound handle.
    if let Some(handle) = unsafe { B::get(ptr) } {
        I::record_bound(&handle.bound, value);
    }
}

/// [`bound_record`] in the trace context `*ctx` (NULL: the thread's
/// current one, as the plain call).
pub(crate) fn bound_record_in_context<I: SyncInstrument, B: Handle<Rust = Bound<I>>>(
    ptr: *const B,
    value: I::Value,
    ctx: *const crate::ffi::trace::fm_trace_context,
) {
    // SAFETY: C contract: NULL or a readable fm_trace_context.
    let Some(ctx) = (unsafe { ctx.as_ref() }).map(crate::TraceContext::from) else {
        return bound_record::<I, B>(ptr, value);
    };
    // SAFETY: C contract: NULL or a live bound handle.
    if let Some(handle) = unsafe { B::get(ptr) } {
        I::record_bound_in_context(&handle.bound, value, &ctx);
    }
}

#[inline]
pub(crate) fn bound_record_at<T, B>(ptr: *const B, value: T, time_unix_nano: u64)
where
    T: crate::instruments::InstrumentValue,
    Gauge<T>: SyncInstrument<Bound = BoundGauge<T>>,
    B: Handle<Rust = Bound<Gauge<T>>>,
{
    // SAFETY: C contract: NULL or a live bound handle.
    if let Some(handle) = unsafe { B::get(ptr) } {
        handle.bound.record_at(value, system_time(time_unix_nano));
    }
}
