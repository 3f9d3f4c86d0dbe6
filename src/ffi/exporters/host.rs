//! Exporters whose transport is the host's: a callback receives each
//! snapshot encoded (`fm_bytes_exporter_new`, also behind the export
//! pipeline) or to walk (`fm_snapshot_exporter_new`).

use super::exporter::{fm_exporter, give, pref_arg};
use super::pipeline_options::{fm_pipeline_options, give_pipeline};
use crate::collect::data::ResourceMetrics;
use crate::error::Error;
use crate::export::host::{BytesExporter, SnapshotExporter, WireFormat};
use crate::ffi::handle::{out_arg, Handle};
use crate::ffi::reader::fm_temporality_preference;
use crate::ffi::snapshot::{fm_snapshot, Snapshot};
use crate::ffi::status::{core_err, fail, fm_status};
use std::ffi::{c_char, c_void, CStr};

/// Encoding handed to a bytes callback (one of `FM_WIRE_FORMAT_*`).
pub type fm_wire_format = u32;
/// Prometheus text format 0.0.4.
pub const FM_WIRE_FORMAT_PROMETHEUS_TEXT: fm_wire_format = 0;
/// OpenMetrics 1.0 text.
pub const FM_WIRE_FORMAT_OPENMETRICS: fm_wire_format = 1;
/// OTLP `ExportMetricsServiceRequest`, protobuf.
pub const FM_WIRE_FORMAT_OTLP_PROTOBUF: fm_wire_format = 2;
/// OTLP `ExportMetricsServiceRequest`, OTLP/JSON.
pub const FM_WIRE_FORMAT_OTLP_JSON: fm_wire_format = 3;

/// Receives one encoded snapshot: `data[0..len]` (borrowed for the call),
/// its NUL-terminated static `content_type`, and the registered
/// `user_data`. Return true when the bytes were sent, false to report the
/// export as failed. Runs on the exporting thread (a periodic reader's own
/// thread, or a pipeline's worker); must not throw or unwind, nor collect
/// from the same provider. A callback may block: `fm_provider_force_flush`
/// and `fm_provider_shutdown` still return at their deadline
/// (`FM_STATUS_TIMEOUT`, the points counted as not delivered) while it
/// goes on; `user_data` stays valid until it returns (`free_user_data`
/// runs after the last call).
pub type fm_export_bytes_callback = Option<
    unsafe extern "C" fn(
        data: *const u8,
        len: usize,
        content_type: *const c_char,
        user_data: *mut c_void,
    ) -> bool,
>;

/// Receives one snapshot to walk with the `fm_snapshot_*` functions; the
/// snapshot (and everything borrowed from it) is valid for the call only:
/// never release it. Return true on success, false to report the export
/// as failed. Must not throw or unwind. Runs on the periodic reader's
/// thread; if it blocks, flush and shutdown return at their deadline as
/// for `fm_export_bytes_callback`.
pub type fm_export_snapshot_callback =
    Option<unsafe extern "C" fn(snapshot: *const fm_snapshot, user_data: *mut c_void) -> bool>;

/// Frees a callback's `user_data`; called exactly once, when the last
/// reference to the exporter (handle or reader) is gone. May be NULL.
pub type fm_free_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A host callback with its user data, freed with it.
struct HostFn<F: Copy> {
    f: F,
    user_data: usize,
    free: fm_free_callback,
}

impl<F: Copy> HostFn<F> {
    fn user_data(&self) -> *mut c_void {
        self.user_data as *mut c_void
    }
}

impl<F: Copy> Drop for HostFn<F> {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the registrant gave `free` for this `user_data`; it is
            // called once, after the last call of the callback.
            unsafe { free(self.user_data()) };
        }
    }
}

fn failed_callback() -> Error {
    Error::Failed("the host exporter callback returned false".into())
}

fn wire_format(f: fm_wire_format) -> std::result::Result<WireFormat, fm_status> {
    let w = match f {
        FM_WIRE_FORMAT_PROMETHEUS_TEXT => WireFormat::PrometheusText,
        FM_WIRE_FORMAT_OPENMETRICS => WireFormat::OpenMetrics,
        FM_WIRE_FORMAT_OTLP_PROTOBUF => WireFormat::OtlpProtobuf,
        FM_WIRE_FORMAT_OTLP_JSON => WireFormat::OtlpJson,
        f => {
            return Err(fail(
                fm_status::InvalidArgument,
                format_args!("unknown wire format {f}"),
            ))
        }
    };
    Ok(w)
}

fn content_type_c(w: WireFormat) -> &'static CStr {
    match w {
        WireFormat::PrometheusText => c"text/plain; version=0.0.4; charset=utf-8",
        WireFormat::OpenMetrics => c"application/openmetrics-text; version=1.0.0; charset=utf-8",
        WireFormat::OtlpProtobuf => c"application/x-protobuf",
        _ => c"application/json",
    }
}

type BytesCFn = unsafe extern "C" fn(*const u8, usize, *const c_char, *mut c_void) -> bool;
type SnapshotCFn = unsafe extern "C" fn(*const fm_snapshot, *mut c_void) -> bool;

/// The host-bytes exporter of `fm_bytes_exporter_new` and
/// `fm_bytes_pipeline_exporter_new`: checks the arguments and wraps the
/// callback.
fn bytes_exporter(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
) -> Result<BytesExporter, fm_status> {
    let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
    let t = pref_arg(temporality)?;
    let w = wire_format(format)?;
    if !w.is_available() {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("wire format {w:?} is not available in this build"),
        ));
    }
    let host: HostFn<BytesCFn> = HostFn {
        f,
        user_data: user_data as usize,
        free: free_user_data,
    };
    let ct = content_type_c(w);
    Ok(BytesExporter::new(w, move |bytes: &[u8], _ct: &str| {
        // SAFETY: the registrant promised `f` is callable with its
        // `user_data` until `free_user_data` runs (after the last call);
        // `bytes` and `ct` outlive the call.
        let ok = unsafe { (host.f)(bytes.as_ptr(), bytes.len(), ct.as_ptr(), host.user_data()) };
        if ok {
            Ok(())
        } else {
            Err(failed_callback())
        }
    })
    .map_err(core_err)?
    .with_temporality(t))
}

/// An exporter that encodes each snapshot in `format` and calls
/// `callback(data, len, content_type, user_data)`, for hosts with their own
/// transport. `free_user_data` (may be NULL) is called once when the
/// exporter is gone. Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL
/// callback, an unknown format or temporality, or a format this build
/// cannot encode (then `free_user_data` is not called).
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_bytes_exporter_new(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let e = bytes_exporter(format, temporality, callback, user_data, free_user_data)?;
        give(out, e);
        Ok(())
    }
}

/// An exporter that calls `callback(snapshot, user_data)` with each
/// snapshot, to walk with the `fm_snapshot_*` functions (borrowed for the
/// call only). `free_user_data` (may be NULL) is called once when the
/// exporter is gone. Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL
/// callback or an unknown temporality. Ownership: `*out` is owned by the
/// caller; release with `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_snapshot_exporter_new(
    temporality: fm_temporality_preference,
    callback: fm_export_snapshot_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
        let t = pref_arg(temporality)?;
        let host: HostFn<SnapshotCFn> = HostFn { f, user_data: user_data as usize, free: free_user_data };
        let e = SnapshotExporter::new(move |rm: &ResourceMetrics| {
            let snap = Snapshot::new(rm.clone());
            // SAFETY: as for the bytes callback; `snap` outlives the call.
            let ok = unsafe { (host.f)(fm_snapshot::borrowed(&snap), host.user_data()) };
            if ok { Ok(()) } else { Err(failed_callback()) }
        })
        .with_temporality(t);
        give(out, e);
        Ok(())
    }
}

/// `fm_bytes_exporter_new` behind the export pipeline (`pipeline` may be
/// NULL for its defaults): the callback runs on the pipeline's worker
/// thread, once per request (OTLP protobuf is split into size-bounded
/// batches; other formats pass whole snapshots); a callback returning
/// false is retried (5 attempts, backoff 1 s to 5 s) and, when retries
/// run out, the batch is dropped and counted. Errors and ownership as for
/// `fm_bytes_exporter_new`.
#[no_mangle]
pub extern "C" fn fm_bytes_pipeline_exporter_new(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    pipeline: *const fm_pipeline_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let e = bytes_exporter(format, temporality, callback, user_data, free_user_data)?;
        give_pipeline(out, e.into_pipeline(), pipeline)
    }
}
