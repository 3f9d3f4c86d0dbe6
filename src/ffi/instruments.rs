//! Synchronous instruments: creation, recording (the hot path), prepared
//! recording and series removal. The exported functions are thin typed
//! wrappers over the generic helpers below, one set per instrument type.

use super::attributes::{attrs_arg, fm_attribute, fm_attribute_set, prepared, raw};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::meter::{fm_instrument_options, fm_meter, opts_arg};
use super::status::{core_err, fm_status};
use crate::attributes::{Attr, Unchecked};
use crate::diagnostics::{Diag, Reason};
use crate::{Counter, Gauge, Histogram, InstrumentBuilder, InstrumentKind, Meter, UpDownCounter};
use std::ffi::c_char;
use std::sync::Arc;

/// An instrument handle: the core instrument plus the provider's
/// diagnostics (to count measurements the C layer rejects).
pub(crate) struct Inst<I> {
    pub(crate) inst: I,
    pub(crate) diag: Arc<Diag>,
}

/// What the C layer needs from a synchronous instrument type.
pub(crate) trait SyncInstrument: crate::instruments::Instrument {
    type Value: Copy;
    type Bound: Send + Sync + 'static;
    fn make(m: &Meter, name: String) -> InstrumentBuilder<'_, Self>;
    /// Records with attributes validated when they were prepared.
    fn rec<A: Attr>(&self, v: Self::Value, attrs: &[A]);
    fn rec_unchecked<P: Unchecked>(&self, v: Self::Value, attrs: &[P]);
    /// The attribute-less fast path, which calls nothing that can panic.
    fn rec_empty_fast(&self, v: Self::Value) -> bool;
    fn bind_<A: Attr>(&self, attrs: &[A]) -> Self::Bound;
    fn brec(b: &Self::Bound, v: Self::Value);
    fn remove_<A: Attr>(&self, attrs: &[A]) -> bool;
    fn remove_all_(&self);
    fn name_(&self) -> &str;
}

macro_rules! sync_impl {
    ($($t:ident<$v:ty> => $bound:ident, $ctor:ident, $verb:ident, $verb_attrs:ident;)*) => {$(
        impl SyncInstrument for $t<$v> {
            type Value = $v;
            type Bound = crate::$bound<$v>;
            fn make(m: &Meter, name: String) -> InstrumentBuilder<'_, Self> { m.$ctor(name) }
            #[inline]
            fn rec<A: Attr>(&self, v: $v, attrs: &[A]) { self.record_valid(v, attrs) }
            #[inline]
            fn rec_unchecked<P: Unchecked>(&self, v: $v, attrs: &[P]) { self.record_unchecked(v, attrs) }
            #[inline(always)]
            fn rec_empty_fast(&self, v: $v) -> bool { self.try_record_empty_fast(v) }
            fn bind_<A: Attr>(&self, attrs: &[A]) -> Self::Bound { self.bind_attrs(attrs) }
            #[inline]
            fn brec(b: &Self::Bound, v: $v) { b.$verb(v) }
            fn remove_<A: Attr>(&self, attrs: &[A]) -> bool { self.remove_attrs(attrs) }
            fn remove_all_(&self) { self.remove_all() }
            fn name_(&self) -> &str { self.name() }
        }
    )*};
}

sync_impl! {
    Counter<u64> => BoundCounter, u64_counter, add, add_attrs;
    Counter<f64> => BoundCounter, f64_counter, add, add_attrs;
    UpDownCounter<i64> => BoundUpDownCounter, i64_up_down_counter, add, add_attrs;
    UpDownCounter<f64> => BoundUpDownCounter, f64_up_down_counter, add, add_attrs;
    Histogram<u64> => BoundHistogram, u64_histogram, record, record_attrs;
    Histogram<f64> => BoundHistogram, f64_histogram, record, record_attrs;
    Gauge<i64> => BoundGauge, i64_gauge, record, record_attrs;
    Gauge<f64> => BoundGauge, f64_gauge, record, record_attrs;
}

pub(crate) fn create<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status> {
    let m = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let o = opts_arg(name, name_len, options)?;
    let mut b = I::make(m, o.name.to_owned())
        .with_description(o.description)
        .with_unit(o.unit);
    if let (InstrumentKind::Histogram, Some(bounds)) = (I::KIND, o.boundaries) {
        b = b.with_boundaries(bounds);
    }
    let inst = b.build().map_err(core_err)?;
    write_out(
        out,
        H::into_raw(Inst {
            inst,
            diag: m.provider.diag.clone(),
        }),
    );
    Ok(())
}

/// Every exported recording function with an attribute array: the
/// attribute-less fast path inline, the rest out of line.
#[inline(always)]
pub(crate) fn record_entry<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    v: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if !record_empty_fast::<I, H>(h, v, attrs_len) {
        record_full::<I, H>(h, v, attrs, attrs_len)
    }
}

/// The attribute-less add's fast path, run before the panic boundary:
/// a NULL check, then `InstrumentCore::try_add_empty_fast` (loads,
/// compares, one compare-and-swap; nothing that can panic). Returns false,
/// having recorded nothing, when the full path must run.
#[inline(always)]
pub(crate) fn record_empty_fast<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    v: I::Value,
    attrs_len: usize,
) -> bool {
    // SAFETY: C contract: NULL or a live instrument handle.
    attrs_len == 0 && unsafe { H::get(h) }.is_some_and(|i| i.inst.rec_empty_fast(v))
}

/// [`record`] behind the panic boundary, out of line: the exported
/// function's attribute-less fast path then needs no stack frame.
#[inline(never)]
pub(crate) fn record_full<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    v: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { record::<I, H>(h, v, attrs, attrs_len) }
}

#[inline]
pub(crate) fn record<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    v: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(i) = unsafe { H::get(h) } {
        match raw(attrs, attrs_len) {
            Some(a) => i.inst.rec_unchecked(v, a),
            None => i.diag.reject(Reason::InvalidAttributes, i.inst.name_()),
        }
    }
}

#[inline]
pub(crate) fn record_prepared<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    v: I::Value,
    set: *const fm_attribute_set,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(i) = unsafe { H::get(h) } {
        i.inst.rec(v, prepared(set));
    }
}

pub(crate) fn remove<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> Result<(), fm_status> {
    let i = arg(h, "instrument")?;
    let a = attrs_arg(attrs, attrs_len)?;
    let e = i.inst.remove_(a);
    if !existed.is_null() {
        write_out(existed, e);
    }
    Ok(())
}

pub(crate) fn remove_all<I: SyncInstrument, H: Handle<Rust = Inst<I>>>(
    h: *const H,
) -> Result<(), fm_status> {
    arg(h, "instrument")?.inst.remove_all_();
    Ok(())
}

#[inline]
pub(crate) fn gauge_record_at<T, H>(
    h: *const H,
    v: T,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) where
    T: crate::instruments::InstrumentValue,
    Gauge<T>: SyncInstrument,
    H: Handle<Rust = Inst<Gauge<T>>>,
{
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(i) = unsafe { H::get(h) } {
        match raw(attrs, attrs_len) {
            Some(a) => i
                .inst
                .record_at_unchecked(v, a, system_time(time_unix_nano)),
            None => i.diag.reject(Reason::InvalidAttributes, i.inst.name()),
        }
    }
}

// ---- generated wrappers (one set per instrument type) ----
/// A monotonic counter of u64 increments.
/// Created by `fm_meter_create_counter_u64`; owned by the caller (release with
/// `fm_counter_u64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_counter_u64 {
    _private: [u8; 0],
}

/// A monotonic counter of double increments.
/// Created by `fm_meter_create_counter_f64`; owned by the caller (release with
/// `fm_counter_f64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_counter_f64 {
    _private: [u8; 0],
}

/// A counter of i64 increments that may go up and down.
/// Created by `fm_meter_create_updown_counter_i64`; owned by the caller (release with
/// `fm_updown_counter_i64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_updown_counter_i64 {
    _private: [u8; 0],
}

/// A counter of double increments that may go up and down.
/// Created by `fm_meter_create_updown_counter_f64`; owned by the caller (release with
/// `fm_updown_counter_f64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_updown_counter_f64 {
    _private: [u8; 0],
}

/// A distribution of u64 values in explicit buckets.
/// Created by `fm_meter_create_histogram_u64`; owned by the caller (release with
/// `fm_histogram_u64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_histogram_u64 {
    _private: [u8; 0],
}

/// A distribution of non-negative double values in explicit buckets.
/// Created by `fm_meter_create_histogram_f64`; owned by the caller (release with
/// `fm_histogram_f64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_histogram_f64 {
    _private: [u8; 0],
}

/// The last i64 value of something.
/// Created by `fm_meter_create_gauge_i64`; owned by the caller (release with
/// `fm_gauge_i64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_gauge_i64 {
    _private: [u8; 0],
}

/// The last double value of something.
/// Created by `fm_meter_create_gauge_f64`; owned by the caller (release with
/// `fm_gauge_f64_release`). Thread safety: record from any number of threads
/// concurrently; recording never blocks and never allocates for an
/// existing series.
pub struct fm_gauge_f64 {
    _private: [u8; 0],
}

handle_types! {
    fm_counter_u64 => Inst<Counter<u64>>;
    fm_counter_f64 => Inst<Counter<f64>>;
    fm_updown_counter_i64 => Inst<UpDownCounter<i64>>;
    fm_updown_counter_f64 => Inst<UpDownCounter<f64>>;
    fm_histogram_u64 => Inst<Histogram<u64>>;
    fm_histogram_f64 => Inst<Histogram<f64>>;
    fm_gauge_i64 => Inst<Gauge<i64>>;
    fm_gauge_f64 => Inst<Gauge<f64>>;
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `counter_u64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_counter_u64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_counter_u64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_counter_u64,
) -> fm_status {
    ffi_status! { create::<Counter<u64>, fm_counter_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_counter_u64_release(instrument: *mut fm_counter_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_counter_u64::free(instrument) }
    }
}

/// Hot path: adds `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). An increment the series' total cannot hold
/// (it holds at least 2^63 - 1 and never wraps) is dropped and counted
/// (`sum_overflow`). Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_counter_u64_add(
    instrument: *const fm_counter_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Counter<u64>, fm_counter_u64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_counter_u64_add` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_counter_u64_add_prepared(
    instrument: *const fm_counter_u64,
    value: u64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Counter<u64>, fm_counter_u64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_counter_u64_remove(
    instrument: *const fm_counter_u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Counter<u64>, fm_counter_u64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_counter_u64_remove_all(instrument: *const fm_counter_u64) -> fm_status {
    ffi_status! { remove_all::<Counter<u64>, fm_counter_u64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `counter_f64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_counter_f64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_counter_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_counter_f64,
) -> fm_status {
    ffi_status! { create::<Counter<f64>, fm_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_counter_f64_release(instrument: *mut fm_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_counter_f64::free(instrument) }
    }
}

/// Hot path: adds `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). NaN, infinite and negative increments are dropped and counted, and so
/// is an increment that would make the total infinite (`sum_overflow`). Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_counter_f64_add(
    instrument: *const fm_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Counter<f64>, fm_counter_f64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_counter_f64_add` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_counter_f64_add_prepared(
    instrument: *const fm_counter_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Counter<f64>, fm_counter_f64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_counter_f64_remove(
    instrument: *const fm_counter_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Counter<f64>, fm_counter_f64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_counter_f64_remove_all(instrument: *const fm_counter_f64) -> fm_status {
    ffi_status! { remove_all::<Counter<f64>, fm_counter_f64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `updown_counter_i64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_updown_counter_i64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_updown_counter_i64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_updown_counter_i64,
) -> fm_status {
    ffi_status! { create::<UpDownCounter<i64>, fm_updown_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_release(instrument: *mut fm_updown_counter_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_updown_counter_i64::free(instrument) }
    }
}

/// Hot path: adds `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). Every i64 value is accepted. Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_add(
    instrument: *const fm_updown_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<UpDownCounter<i64>, fm_updown_counter_i64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_updown_counter_i64_add` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_add_prepared(
    instrument: *const fm_updown_counter_i64,
    value: i64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<UpDownCounter<i64>, fm_updown_counter_i64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_remove(
    instrument: *const fm_updown_counter_i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<UpDownCounter<i64>, fm_updown_counter_i64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_updown_counter_i64_remove_all(
    instrument: *const fm_updown_counter_i64,
) -> fm_status {
    ffi_status! { remove_all::<UpDownCounter<i64>, fm_updown_counter_i64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `updown_counter_f64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_updown_counter_f64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_updown_counter_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_updown_counter_f64,
) -> fm_status {
    ffi_status! { create::<UpDownCounter<f64>, fm_updown_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_release(instrument: *mut fm_updown_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_updown_counter_f64::free(instrument) }
    }
}

/// Hot path: adds `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). NaN and infinite increments are dropped and counted, and so
/// is an increment that would make the total infinite (`sum_overflow`). Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_add(
    instrument: *const fm_updown_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<UpDownCounter<f64>, fm_updown_counter_f64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_updown_counter_f64_add` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_add_prepared(
    instrument: *const fm_updown_counter_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<UpDownCounter<f64>, fm_updown_counter_f64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_remove(
    instrument: *const fm_updown_counter_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<UpDownCounter<f64>, fm_updown_counter_f64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_updown_counter_f64_remove_all(
    instrument: *const fm_updown_counter_f64,
) -> fm_status {
    ffi_status! { remove_all::<UpDownCounter<f64>, fm_updown_counter_f64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `histogram_u64` instrument named `name[0..name_len]`. `options`
/// may be NULL. `options->boundaries` sets the bucket boundaries advice.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_histogram_u64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_histogram_u64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_histogram_u64,
) -> fm_status {
    ffi_status! { create::<Histogram<u64>, fm_histogram_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_histogram_u64_release(instrument: *mut fm_histogram_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_histogram_u64::free(instrument) }
    }
}

/// Hot path: records `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). Every u64 value is accepted. Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_histogram_u64_record(
    instrument: *const fm_histogram_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Histogram<u64>, fm_histogram_u64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_histogram_u64_record` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_histogram_u64_record_prepared(
    instrument: *const fm_histogram_u64,
    value: u64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Histogram<u64>, fm_histogram_u64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_histogram_u64_remove(
    instrument: *const fm_histogram_u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Histogram<u64>, fm_histogram_u64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_histogram_u64_remove_all(instrument: *const fm_histogram_u64) -> fm_status {
    ffi_status! { remove_all::<Histogram<u64>, fm_histogram_u64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `histogram_f64` instrument named `name[0..name_len]`. `options`
/// may be NULL. `options->boundaries` sets the bucket boundaries advice.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_histogram_f64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_histogram_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_histogram_f64,
) -> fm_status {
    ffi_status! { create::<Histogram<f64>, fm_histogram_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_histogram_f64_release(instrument: *mut fm_histogram_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_histogram_f64::free(instrument) }
    }
}

/// Hot path: records `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). NaN, infinite and negative values are dropped and counted, and so
/// is a value that would make the sum infinite (`sum_overflow`). Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_histogram_f64_record(
    instrument: *const fm_histogram_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Histogram<f64>, fm_histogram_f64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_histogram_f64_record` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_histogram_f64_record_prepared(
    instrument: *const fm_histogram_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Histogram<f64>, fm_histogram_f64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_histogram_f64_remove(
    instrument: *const fm_histogram_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Histogram<f64>, fm_histogram_f64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_histogram_f64_remove_all(instrument: *const fm_histogram_f64) -> fm_status {
    ffi_status! { remove_all::<Histogram<f64>, fm_histogram_f64>(instrument) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `gauge_i64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_gauge_i64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_gauge_i64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_gauge_i64,
) -> fm_status {
    ffi_status! { create::<Gauge<i64>, fm_gauge_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_gauge_i64_release(instrument: *mut fm_gauge_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_gauge_i64::free(instrument) }
    }
}

/// Hot path: records `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). Every i64 value is accepted. Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_gauge_i64_record(
    instrument: *const fm_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Gauge<i64>, fm_gauge_i64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_gauge_i64_record` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_gauge_i64_record_prepared(
    instrument: *const fm_gauge_i64,
    value: i64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Gauge<i64>, fm_gauge_i64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_gauge_i64_remove(
    instrument: *const fm_gauge_i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Gauge<i64>, fm_gauge_i64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_gauge_i64_remove_all(instrument: *const fm_gauge_i64) -> fm_status {
    ffi_status! { remove_all::<Gauge<i64>, fm_gauge_i64>(instrument) }
}

/// Hot path: records `value` observed at `time_unix_nano` (nanoseconds
/// since the Unix epoch), carried to exporters as the point's timestamp.
/// Otherwise like `fm_gauge_i64_record`.
#[no_mangle]
pub extern "C" fn fm_gauge_i64_record_at(
    instrument: *const fm_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { gauge_record_at::<i64, fm_gauge_i64>(instrument, value, attrs, attrs_len, time_unix_nano) }
}

/// Creates (or finds, when name, unit, description and kind match an
/// existing one) a `gauge_f64` instrument named `name[0..name_len]`. `options`
/// may be NULL.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_gauge_f64_release`.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_meter_create_gauge_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_gauge_f64,
) -> fm_status {
    ffi_status! { create::<Gauge<f64>, fm_gauge_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Recorded
/// data stays in the provider (other handles to the same instrument and
/// bound handles keep working).
#[no_mangle]
pub extern "C" fn fm_gauge_f64_release(instrument: *mut fm_gauge_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_gauge_f64::free(instrument) }
    }
}

/// Hot path: records `value` to the series identified by
/// `attrs[0..attrs_len]` (any order; duplicate keys: the last one wins;
/// borrowed for the call only). NaN is dropped and counted. Invalid attributes drop the
/// measurement and are counted. A NULL instrument is a no-op.
/// Thread safety: any thread, concurrently; never blocks.
#[no_mangle]
pub extern "C" fn fm_gauge_f64_record(
    instrument: *const fm_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    record_entry::<Gauge<f64>, fm_gauge_f64>(instrument, value, attrs, attrs_len)
}

/// Hot path: like `fm_gauge_f64_record` with a prepared attribute set (NULL for no
/// attributes): no validation or copying of attributes.
#[no_mangle]
pub extern "C" fn fm_gauge_f64_record_prepared(
    instrument: *const fm_gauge_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    ffi_boundary! { record_prepared::<Gauge<f64>, fm_gauge_f64>(instrument, value, attributes) }
}

/// Removes the series with exactly these attributes (its totals are
/// forgotten, like Prometheus' DeleteLabelValues). When `existed` is not
/// NULL it receives whether the series existed. Bound handles to the
/// series keep working but are no longer exported.
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument) or
/// `FM_STATUS_INVALID_ATTRIBUTES`.
#[no_mangle]
pub extern "C" fn fm_gauge_f64_remove(
    instrument: *const fm_gauge_f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    existed: *mut bool,
) -> fm_status {
    ffi_status! { remove::<Gauge<f64>, fm_gauge_f64>(instrument, attrs, attrs_len, existed) }
}

/// Removes every series of the instrument.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_gauge_f64_remove_all(instrument: *const fm_gauge_f64) -> fm_status {
    ffi_status! { remove_all::<Gauge<f64>, fm_gauge_f64>(instrument) }
}

/// Hot path: records `value` observed at `time_unix_nano` (nanoseconds
/// since the Unix epoch), carried to exporters as the point's timestamp.
/// Otherwise like `fm_gauge_f64_record`.
#[no_mangle]
pub extern "C" fn fm_gauge_f64_record_at(
    instrument: *const fm_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { gauge_record_at::<f64, fm_gauge_f64>(instrument, value, attrs, attrs_len, time_unix_nano) }
}
