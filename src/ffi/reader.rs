//! The manual reader: the host collects on demand.

use super::handle::{arg, out_arg, write_out, Handle};
use super::snapshot::{fm_snapshot, Snapshot};
use super::status::{core_err, fail, fm_status};
use crate::{ManualReader, TemporalityPreference};

/// Temporality preference of a reader (one of `FM_TEMPORALITY_PREFERENCE_*`).
pub type fm_temporality_preference = u32;
/// Everything cumulative.
pub const FM_TEMPORALITY_PREFERENCE_CUMULATIVE: fm_temporality_preference = 0;
/// Counters, observable counters, histograms and gauges delta; up-down
/// counters cumulative.
pub const FM_TEMPORALITY_PREFERENCE_DELTA: fm_temporality_preference = 1;
/// Counters and histograms delta; everything else cumulative.
pub const FM_TEMPORALITY_PREFERENCE_LOWMEMORY: fm_temporality_preference = 2;

/// A reader whose snapshots the host takes with `fm_manual_reader_collect`.
/// Owned by the caller (release with `fm_manual_reader_release`); a
/// provider it is attached to keeps its own reference.
/// Thread safety: collect from any thread; concurrent collections of
/// several readers share one collection cycle.
pub struct fm_manual_reader {
    _private: [u8; 0],
}

handle_types! {
    fm_manual_reader => ManualReader;
}

/// Creates a manual reader with a temporality preference.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for an unknown preference or NULL
/// `out`. Ownership: `*out` is owned by the caller; release with
/// `fm_manual_reader_release`.
#[no_mangle]
pub extern "C" fn fm_manual_reader_new(
    temporality: fm_temporality_preference,
    out: *mut *mut fm_manual_reader,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let pref = match temporality {
            FM_TEMPORALITY_PREFERENCE_CUMULATIVE => TemporalityPreference::Cumulative,
            FM_TEMPORALITY_PREFERENCE_DELTA => TemporalityPreference::Delta,
            FM_TEMPORALITY_PREFERENCE_LOWMEMORY => TemporalityPreference::LowMemory,
            t => return Err(fail(fm_status::InvalidArgument, format_args!("unknown temporality preference {t}"))),
        };
        write_out(out, fm_manual_reader::into_raw(ManualReader::new(pref)));
        Ok(())
    }
}

/// Releases the caller's reader handle. NULL is fine; must not be called
/// twice. A provider the reader is attached to keeps collecting for it.
#[no_mangle]
pub extern "C" fn fm_manual_reader_release(reader: *mut fm_manual_reader) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned reader released once.
        unsafe { fm_manual_reader::free(reader) }
    }
}

/// Collects a snapshot now (runs observable callbacks on this thread).
/// Returns `FM_STATUS_READER_NOT_REGISTERED` before the reader is attached
/// to a provider, `FM_STATUS_SHUTDOWN` after the provider shut down.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_snapshot_release`. Must not be called from an observable callback.
#[no_mangle]
pub extern "C" fn fm_manual_reader_collect(
    reader: *const fm_manual_reader,
    out: *mut *mut fm_snapshot,
) -> fm_status {
    ffi_status! {
        let r = arg(reader, "reader")?;
        out_arg(out, "out")?;
        let rm = r.collect().map_err(core_err)?;
        write_out(out, fm_snapshot::into_raw(Snapshot::new(rm)));
        Ok(())
    }
}
