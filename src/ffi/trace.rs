//! The host's trace context for exemplars: a thread's current context, and
//! the provider's exemplar filter.

use super::handle::{out_arg, write_out};
use super::status::{fail, fm_status};
use crate::trace::{ExemplarFilter, TraceContext};

/// A W3C trace context as exemplars carry it: the trace id, the span id,
/// and the trace flags (bit 0: sampled). All-zero ids mean "none".
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct fm_trace_context {
    /// The 16-byte trace id.
    pub trace_id: [u8; 16],
    /// The 8-byte span id.
    pub span_id: [u8; 8],
    /// W3C trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl From<&fm_trace_context> for TraceContext {
    fn from(c: &fm_trace_context) -> Self {
        TraceContext::new(c.trace_id, c.span_id, c.flags)
    }
}

impl From<TraceContext> for fm_trace_context {
    fn from(c: TraceContext) -> Self {
        fm_trace_context {
            trace_id: c.trace_id,
            span_id: c.span_id,
            flags: c.flags,
        }
    }
}

/// Makes `*ctx` the calling thread's current trace context (`ctx` NULL
/// clears it). Measurements the thread records afterwards may become
/// exemplars carrying its ids, as the provider's exemplar filter decides
/// (`TraceBased`, the default: when the context is sampled). When
/// `previous` is not NULL, `*previous` receives the context that was
/// current (all zero when none was), so that a span's scope can restore
/// it. Cheap (a thread-local store); never blocks.
#[no_mangle]
pub extern "C" fn fm_trace_context_set(
    ctx: *const fm_trace_context,
    previous: *mut fm_trace_context,
) -> fm_status {
    ffi_status! {
        // SAFETY: the C contract: `ctx` is NULL or points to a readable
        // fm_trace_context.
        let new = unsafe { ctx.as_ref() }.map(TraceContext::from);
        let prev = TraceContext::set_current(new);
        if !previous.is_null() {
            write_out(previous, prev.map(fm_trace_context::from).unwrap_or_default());
        }
        Ok(())
    }
}

/// Writes the calling thread's current trace context to `*out` (all zero
/// when none is set). `out` must not be NULL.
#[no_mangle]
pub extern "C" fn fm_trace_context_current(out: *mut fm_trace_context) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        write_out(out, TraceContext::current().map(fm_trace_context::from).unwrap_or_default());
        Ok(())
    }
}

/// No measurement becomes an exemplar; recording never looks at a context.
pub const FM_EXEMPLAR_FILTER_ALWAYS_OFF: u32 = 0;
/// Measurements recorded in a sampled trace context become exemplars (the
/// specification's default).
pub const FM_EXEMPLAR_FILTER_TRACE_BASED: u32 = 1;
/// Every measurement may become an exemplar.
pub const FM_EXEMPLAR_FILTER_ALWAYS_ON: u32 = 2;

/// The exemplar filter `FM_EXEMPLAR_FILTER_*` as the core's.
pub(crate) fn exemplar_filter(f: u32) -> Result<ExemplarFilter, fm_status> {
    match f {
        FM_EXEMPLAR_FILTER_ALWAYS_OFF => Ok(ExemplarFilter::AlwaysOff),
        FM_EXEMPLAR_FILTER_TRACE_BASED => Ok(ExemplarFilter::TraceBased),
        FM_EXEMPLAR_FILTER_ALWAYS_ON => Ok(ExemplarFilter::AlwaysOn),
        f => Err(fail(
            fm_status::InvalidArgument,
            format_args!("unknown exemplar filter {f}"),
        )),
    }
}
