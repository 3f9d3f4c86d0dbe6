//! Bound instruments: a handle that holds one series' cell directly, so
//! recording is one atomic update with no lookup.

use super::attributes::{attrs_arg, fm_attribute};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::instruments::{
    fm_counter_f64, fm_counter_u64, fm_gauge_f64, fm_gauge_i64, fm_histogram_f64, fm_histogram_u64,
    fm_updown_counter_f64, fm_updown_counter_i64, Inst, SyncInstrument,
};
use super::status::fm_status;
use crate::{Counter, Gauge, Histogram, UpDownCounter};

/// A bound handle.
pub(crate) struct Bound<I: SyncInstrument> {
    pub(crate) bound: I::Bound,
}

pub(crate) fn bind<I: SyncInstrument, H: Handle<Rust = Inst<I>>, B: Handle<Rust = Bound<I>>>(
    h: *const H,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut B,
) -> Result<(), fm_status> {
    let i = arg(h, "instrument")?;
    out_arg(out, "out")?;
    let a = attrs_arg(attrs, attrs_len)?;
    write_out(
        out,
        B::into_raw(Bound {
            bound: i.inst.bind_(a),
        }),
    );
    Ok(())
}

#[inline]
pub(crate) fn bound_record<I: SyncInstrument, B: Handle<Rust = Bound<I>>>(
    b: *const B,
    v: I::Value,
) {
    // SAFETY: C contract: NULL or a live bound handle.
    if let Some(b) = unsafe { B::get(b) } {
        I::brec(&b.bound, v);
    }
}

/// A `fm_counter_u64` bound to one series: recording is a single atomic update.
/// Created by `fm_counter_u64_bind`; owned by the caller (release with
/// `fm_bound_counter_u64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_counter_u64 {
    _private: [u8; 0],
}

/// A `fm_counter_f64` bound to one series: recording is a single atomic update.
/// Created by `fm_counter_f64_bind`; owned by the caller (release with
/// `fm_bound_counter_f64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_counter_f64 {
    _private: [u8; 0],
}

/// A `fm_updown_counter_i64` bound to one series: recording is a single atomic update.
/// Created by `fm_updown_counter_i64_bind`; owned by the caller (release with
/// `fm_bound_updown_counter_i64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_updown_counter_i64 {
    _private: [u8; 0],
}

/// A `fm_updown_counter_f64` bound to one series: recording is a single atomic update.
/// Created by `fm_updown_counter_f64_bind`; owned by the caller (release with
/// `fm_bound_updown_counter_f64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_updown_counter_f64 {
    _private: [u8; 0],
}

/// A `fm_histogram_u64` bound to one series: recording is a single atomic update.
/// Created by `fm_histogram_u64_bind`; owned by the caller (release with
/// `fm_bound_histogram_u64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_histogram_u64 {
    _private: [u8; 0],
}

/// A `fm_histogram_f64` bound to one series: recording is a single atomic update.
/// Created by `fm_histogram_f64_bind`; owned by the caller (release with
/// `fm_bound_histogram_f64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_histogram_f64 {
    _private: [u8; 0],
}

/// A `fm_gauge_i64` bound to one series: recording is a single atomic update.
/// Created by `fm_gauge_i64_bind`; owned by the caller (release with
/// `fm_bound_gauge_i64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_gauge_i64 {
    _private: [u8; 0],
}

/// A `fm_gauge_f64` bound to one series: recording is a single atomic update.
/// Created by `fm_gauge_f64_bind`; owned by the caller (release with
/// `fm_bound_gauge_f64_release`). Thread safety: any thread, concurrently.
pub struct fm_bound_gauge_f64 {
    _private: [u8; 0],
}
handle_types! {
    fm_bound_counter_u64 => Bound<Counter<u64>>;
    fm_bound_counter_f64 => Bound<Counter<f64>>;
    fm_bound_updown_counter_i64 => Bound<UpDownCounter<i64>>;
    fm_bound_updown_counter_f64 => Bound<UpDownCounter<f64>>;
    fm_bound_histogram_u64 => Bound<Histogram<u64>>;
    fm_bound_histogram_f64 => Bound<Histogram<f64>>;
    fm_bound_gauge_i64 => Bound<Gauge<i64>>;
    fm_bound_gauge_f64 => Bound<Gauge<f64>>;
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_counter_u64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_counter_u64_bind(
    instrument: *const fm_counter_u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_counter_u64,
) -> fm_status {
    ffi_status! { bind::<Counter<u64>, fm_counter_u64, fm_bound_counter_u64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_counter_u64_release(bound: *mut fm_bound_counter_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_counter_u64::free(bound) }
    }
}

/// Hot path: adds `value` to the bound series. An increment the series' total cannot hold
/// (it holds at least 2^63 - 1 and never wraps) is dropped and counted
/// (`sum_overflow`).
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_counter_u64_add(bound: *const fm_bound_counter_u64, value: u64) {
    ffi_boundary! { bound_record::<Counter<u64>, fm_bound_counter_u64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_counter_f64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_counter_f64_bind(
    instrument: *const fm_counter_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_counter_f64,
) -> fm_status {
    ffi_status! { bind::<Counter<f64>, fm_counter_f64, fm_bound_counter_f64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_counter_f64_release(bound: *mut fm_bound_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_counter_f64::free(bound) }
    }
}

/// Hot path: adds `value` to the bound series. NaN, infinite and negative increments are dropped and counted, and so
/// is an increment that would make the total infinite (`sum_overflow`).
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_counter_f64_add(bound: *const fm_bound_counter_f64, value: f64) {
    ffi_boundary! { bound_record::<Counter<f64>, fm_bound_counter_f64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_updown_counter_i64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_bind(
    instrument: *const fm_updown_counter_i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_updown_counter_i64,
) -> fm_status {
    ffi_status! { bind::<UpDownCounter<i64>, fm_updown_counter_i64, fm_bound_updown_counter_i64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_updown_counter_i64_release(bound: *mut fm_bound_updown_counter_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_updown_counter_i64::free(bound) }
    }
}

/// Hot path: adds `value` to the bound series. Every i64 value is accepted.
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_updown_counter_i64_add(
    bound: *const fm_bound_updown_counter_i64,
    value: i64,
) {
    ffi_boundary! { bound_record::<UpDownCounter<i64>, fm_bound_updown_counter_i64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_updown_counter_f64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_bind(
    instrument: *const fm_updown_counter_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_updown_counter_f64,
) -> fm_status {
    ffi_status! { bind::<UpDownCounter<f64>, fm_updown_counter_f64, fm_bound_updown_counter_f64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_updown_counter_f64_release(bound: *mut fm_bound_updown_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_updown_counter_f64::free(bound) }
    }
}

/// Hot path: adds `value` to the bound series. NaN and infinite increments are dropped and counted, and so is an
/// increment that would make the total infinite (`sum_overflow`).
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_updown_counter_f64_add(
    bound: *const fm_bound_updown_counter_f64,
    value: f64,
) {
    ffi_boundary! { bound_record::<UpDownCounter<f64>, fm_bound_updown_counter_f64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_histogram_u64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_histogram_u64_bind(
    instrument: *const fm_histogram_u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_histogram_u64,
) -> fm_status {
    ffi_status! { bind::<Histogram<u64>, fm_histogram_u64, fm_bound_histogram_u64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_histogram_u64_release(bound: *mut fm_bound_histogram_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_histogram_u64::free(bound) }
    }
}

/// Hot path: records `value` to the bound series. Every u64 value is accepted.
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_histogram_u64_record(bound: *const fm_bound_histogram_u64, value: u64) {
    ffi_boundary! { bound_record::<Histogram<u64>, fm_bound_histogram_u64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_histogram_f64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_histogram_f64_bind(
    instrument: *const fm_histogram_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_histogram_f64,
) -> fm_status {
    ffi_status! { bind::<Histogram<f64>, fm_histogram_f64, fm_bound_histogram_f64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_histogram_f64_release(bound: *mut fm_bound_histogram_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_histogram_f64::free(bound) }
    }
}

/// Hot path: records `value` to the bound series. NaN, infinite and negative values are dropped and counted, and so is a
/// value that would make the sum infinite (`sum_overflow`).
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_histogram_f64_record(bound: *const fm_bound_histogram_f64, value: f64) {
    ffi_boundary! { bound_record::<Histogram<f64>, fm_bound_histogram_f64>(bound, value) }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_gauge_i64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_gauge_i64_bind(
    instrument: *const fm_gauge_i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_gauge_i64,
) -> fm_status {
    ffi_status! { bind::<Gauge<i64>, fm_gauge_i64, fm_bound_gauge_i64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_i64_release(bound: *mut fm_bound_gauge_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_gauge_i64::free(bound) }
    }
}

/// Hot path: records `value` to the bound series. Every i64 value is accepted.
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_i64_record(bound: *const fm_bound_gauge_i64, value: i64) {
    ffi_boundary! { bound_record::<Gauge<i64>, fm_bound_gauge_i64>(bound, value) }
}

/// Hot path: records `value` observed at `time_unix_nano` on the bound
/// series. A NULL handle is a no-op.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_i64_record_at(
    bound: *const fm_bound_gauge_i64,
    value: i64,
    time_unix_nano: u64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live bound handle.
        if let Some(b) = unsafe { fm_bound_gauge_i64::get(bound) } {
            b.bound.record_at(value, system_time(time_unix_nano));
        }
    }
}

/// Binds the instrument to the series `attrs[0..attrs_len]` (copied).
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument/out) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_bound_gauge_f64_release` (the instrument handle may be released first).
#[no_mangle]
pub extern "C" fn fm_gauge_f64_bind(
    instrument: *const fm_gauge_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_bound_gauge_f64,
) -> fm_status {
    ffi_status! { bind::<Gauge<f64>, fm_gauge_f64, fm_bound_gauge_f64>(instrument, attrs, attrs_len, out) }
}

/// Releases a bound handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_f64_release(bound: *mut fm_bound_gauge_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_bound_gauge_f64::free(bound) }
    }
}

/// Hot path: records `value` to the bound series. NaN is dropped and counted.
/// A NULL handle is a no-op. Thread safety: any thread, concurrently.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_f64_record(bound: *const fm_bound_gauge_f64, value: f64) {
    ffi_boundary! { bound_record::<Gauge<f64>, fm_bound_gauge_f64>(bound, value) }
}

/// Hot path: records `value` observed at `time_unix_nano` on the bound
/// series. A NULL handle is a no-op.
#[no_mangle]
pub extern "C" fn fm_bound_gauge_f64_record_at(
    bound: *const fm_bound_gauge_f64,
    value: f64,
    time_unix_nano: u64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live bound handle.
        if let Some(b) = unsafe { fm_bound_gauge_f64::get(bound) } {
            b.bound.record_at(value, system_time(time_unix_nano));
        }
    }
}
