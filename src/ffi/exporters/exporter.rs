//! The exporter handle every exporter constructor hands out
//! (`fm_exporter`), and what the host does with one it drives itself:
//! export a snapshot, flush, shut down, ask its temporality.

use crate::export::PushExporter;
use crate::ffi::handle::{arg, write_out, Handle};
use crate::ffi::reader::{
    fm_temporality_preference, FM_TEMPORALITY_PREFERENCE_CUMULATIVE,
    FM_TEMPORALITY_PREFERENCE_DELTA, FM_TEMPORALITY_PREFERENCE_LOWMEMORY,
};
use crate::ffi::snapshot::fm_snapshot;
use crate::ffi::status::{core_err, fail, fm_status};
use crate::readers::TemporalityPreference;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An exporter. Owned by the caller (release with `fm_exporter_release`);
/// a reader it is given to keeps its own reference, so releasing the
/// handle does not stop that reader's exports.
/// Thread safety: any thread; exports through one reader never overlap.
pub struct fm_exporter {
    _private: [u8; 0],
}

handle_types! {
    fm_exporter => Arc<dyn PushExporter>;
}

/// Hands `e` to the caller as an owned `fm_exporter`.
pub(crate) fn give(out: *mut *mut fm_exporter, e: impl PushExporter) {
    let e: Arc<dyn PushExporter> = Arc::new(e);
    write_out(out, fm_exporter::into_raw(e));
}

/// A temporality preference from C.
pub(crate) fn pref_arg(
    t: fm_temporality_preference,
) -> std::result::Result<TemporalityPreference, fm_status> {
    match t {
        FM_TEMPORALITY_PREFERENCE_CUMULATIVE => Ok(TemporalityPreference::Cumulative),
        FM_TEMPORALITY_PREFERENCE_DELTA => Ok(TemporalityPreference::Delta),
        FM_TEMPORALITY_PREFERENCE_LOWMEMORY => Ok(TemporalityPreference::LowMemory),
        t => Err(fail(
            fm_status::InvalidArgument,
            format_args!("unknown temporality preference {t}"),
        )),
    }
}

/// Releases an exporter handle. NULL is fine; must not be called twice.
/// Readers using the exporter keep it alive.
#[no_mangle]
pub extern "C" fn fm_exporter_release(exporter: *mut fm_exporter) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned exporter released once.
        unsafe { fm_exporter::free(exporter) }
    }
}

/// Exports a snapshot now (from a manual reader whose temporality matches
/// `fm_exporter_temporality`), within `timeout_ms`. Returns
/// `FM_STATUS_TIMEOUT` when the deadline passed, `FM_STATUS_FAILED` when
/// the destination refused or could not be reached (the message says why).
/// Runs on the calling thread: the network exporters keep `timeout_ms`; a
/// host callback or a blocked file write holds the call as long as it
/// blocks (a periodic reader's calls never wait past their deadline).
/// Do not call concurrently with a reader that drives the same exporter.
#[no_mangle]
pub extern "C" fn fm_exporter_export(
    exporter: *const fm_exporter,
    snapshot: *const fm_snapshot,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let e = arg(exporter, "exporter")?;
        let s = arg(snapshot, "snapshot")?;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        e.export(&s.rm, deadline).map_err(core_err)
    }
}

/// Flushes what the exporter buffers, within `timeout_ms`.
#[no_mangle]
pub extern "C" fn fm_exporter_force_flush(
    exporter: *const fm_exporter,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        arg(exporter, "exporter")?
            .force_flush(Duration::from_millis(timeout_ms))
            .map_err(core_err)
    }
}

/// Shuts the exporter down (a Pushgateway exporter configured so deletes
/// its group). For exporters the host drives itself; a reader shuts its
/// exporter down on its own.
#[no_mangle]
pub extern "C" fn fm_exporter_shutdown(exporter: *const fm_exporter, timeout_ms: u64) -> fm_status {
    ffi_status! {
        arg(exporter, "exporter")?
            .shutdown(Duration::from_millis(timeout_ms))
            .map_err(core_err)
    }
}

/// The temporality the exporter wants (`FM_TEMPORALITY_PREFERENCE_*`;
/// CUMULATIVE for NULL).
#[no_mangle]
pub extern "C" fn fm_exporter_temporality(
    exporter: *const fm_exporter,
) -> fm_temporality_preference {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live exporter handle.
        match unsafe { fm_exporter::get(exporter) }.map(|e| e.temporality()) {
            Some(TemporalityPreference::Delta) => FM_TEMPORALITY_PREFERENCE_DELTA,
            Some(TemporalityPreference::LowMemory) => FM_TEMPORALITY_PREFERENCE_LOWMEMORY,
            _ => FM_TEMPORALITY_PREFERENCE_CUMULATIVE,
        }
    }
}
