//! Observable instruments and callbacks. Callbacks are C function pointers
//! with a `void *user_data`; a registration handle owns each one and
//! guarantees that, once released, the callback is neither running nor
//! called again.

use super::attributes::{fm_attribute, with_attrs};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::meter::{fm_instrument_options, fm_meter, opts_arg};
use super::status::{core_err, fail, fm_status};
use crate::attributes::Attr;
use crate::diagnostics::{Diag, Reason};
use crate::{
    CallbackRegistration, InstrumentBuilder, Meter, ObservableCounter, ObservableGauge,
    ObservableUpDownCounter,
};
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// A collection-cycle callback: called with the `user_data` given at
/// registration. Must not throw or unwind.
pub type fm_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A registered callback. Owned by the caller: releasing it with
/// `fm_callback_registration_release` unregisters the callback.
pub struct fm_callback_registration {
    _private: [u8; 0],
}

type CFn = unsafe extern "C" fn(*mut c_void);

struct CbState {
    /// The callback and its user data; None once unregistered. Read-locked
    /// while the callback runs, so unregistering waits for a running call.
    f: RwLock<Option<(CFn, usize)>>,
    /// Set when unregistered from inside the callback itself.
    disabled: AtomicBool,
}

thread_local! {
    /// Depth of C callbacks running on this thread.
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

/// Owns one registered callback.
pub(crate) struct Registration {
    reg: CallbackRegistration,
    state: Arc<CbState>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.reg.unregister();
        self.state.disabled.store(true, Ordering::Release);
        if IN_CALLBACK.with(|d| d.get()) == 0 {
            // Wait for a call in progress on another thread, then forget
            // the pointer: user_data may be freed after this returns.
            *self.state.f.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

pub(crate) fn register(m: &Meter, f: CFn, user_data: *mut c_void) -> Registration {
    let state = Arc::new(CbState {
        f: RwLock::new(Some((f, user_data as usize))),
        disabled: AtomicBool::new(false),
    });
    let s = state.clone();
    let reg = m.register_callback(move || {
        let g = s.f.read().unwrap_or_else(|p| p.into_inner());
        if s.disabled.load(Ordering::Acquire) {
            return;
        }
        if let Some((f, ud)) = *g {
            IN_CALLBACK.with(|d| d.set(d.get() + 1));
            // SAFETY: the registrant promised `f` is callable with its
            // `user_data` until the registration is released, which waits
            // for this read lock to be dropped.
            unsafe { f(ud as *mut c_void) };
            IN_CALLBACK.with(|d| d.set(d.get() - 1));
        }
    });
    Registration { reg, state }
}

handle_types! {
    fm_callback_registration => Registration;
}

/// Unregisters and frees a callback registration. NULL is fine; must not
/// be called twice. When called outside the callback, it waits for a call
/// in progress and the callback never runs again once it returns (free
/// `user_data` after). Called from inside the callback, the callback is
/// not called again after it returns.
#[no_mangle]
pub extern "C" fn fm_callback_registration_release(registration: *mut fm_callback_registration) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned registration released once.
        unsafe { fm_callback_registration::free(registration) }
    }
}

/// An observable instrument handle: keeps its meter (for callbacks).
pub(crate) struct ObsInst<I> {
    pub(crate) inst: I,
    pub(crate) diag: Arc<Diag>,
    pub(crate) meter: Meter,
}

/// What the C layer needs from an observable instrument type.
pub(crate) trait ObsInstrument: crate::instruments::Instrument {
    type Value: Copy;
    fn make(m: &Meter, name: String) -> InstrumentBuilder<'_, Self>;
    fn obs<A: Attr>(&self, v: Self::Value, attrs: &[A], t: Option<SystemTime>);
    fn remove_all_(&self);
    fn name_(&self) -> &str;
}

macro_rules! obs_impl {
    ($($t:ident<$v:ty> => $ctor:ident;)*) => {$(
        impl ObsInstrument for $t<$v> {
            type Value = $v;
            fn make(m: &Meter, name: String) -> InstrumentBuilder<'_, Self> { m.$ctor(name) }
            #[inline]
            fn obs<A: Attr>(&self, v: $v, attrs: &[A], t: Option<SystemTime>) {
                match t {
                    None => self.observe_attrs(v, attrs),
                    Some(t) => self.observe_at_attrs(v, attrs, t),
                }
            }
            fn remove_all_(&self) { self.remove_all() }
            fn name_(&self) -> &str { self.name() }
        }
    )*};
}

obs_impl! {
    ObservableCounter<u64> => u64_observable_counter;
    ObservableCounter<i64> => i64_observable_counter;
    ObservableCounter<f64> => f64_observable_counter;
    ObservableUpDownCounter<i64> => i64_observable_up_down_counter;
    ObservableUpDownCounter<f64> => f64_observable_up_down_counter;
    ObservableGauge<i64> => i64_observable_gauge;
    ObservableGauge<f64> => f64_observable_gauge;
}

fn create<I: ObsInstrument, H: Handle<Rust = ObsInst<I>>>(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status> {
    let m = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let o = opts_arg(name, name_len, options)?;
    let inst = I::make(m, o.name.to_owned())
        .with_description(o.description)
        .with_unit(o.unit)
        .build()
        .map_err(core_err)?;
    write_out(
        out,
        H::into_raw(ObsInst {
            inst,
            diag: m.provider.diag.clone(),
            meter: m.clone(),
        }),
    );
    Ok(())
}

#[inline]
fn observe<I: ObsInstrument, H: Handle<Rust = ObsInst<I>>>(
    h: *const H,
    v: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
    t: Option<u64>,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(i) = unsafe { H::get(h) } {
        with_attrs(attrs, attrs_len, &i.diag, i.inst.name_(), |a| {
            i.inst.obs(v, a, t.map(system_time))
        });
    }
}

fn add_callback<I: ObsInstrument, H: Handle<Rust = ObsInst<I>>>(
    h: *const H,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> Result<(), fm_status> {
    let i = arg(h, "instrument")?;
    out_arg(out, "out")?;
    let cb = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
    write_out(
        out,
        fm_callback_registration::into_raw(register(&i.meter, cb, user_data)),
    );
    Ok(())
}

fn remove_all<I: ObsInstrument, H: Handle<Rust = ObsInst<I>>>(
    h: *const H,
) -> Result<(), fm_status> {
    arg(h, "instrument")?.inst.remove_all_();
    Ok(())
}

/// An observable monotonic sum (u64 totals reported by callbacks).
/// Created by `fm_meter_create_observable_counter_u64`; owned by the caller (release with
/// `fm_observable_counter_u64_release`). Observe from callbacks (any thread).
pub struct fm_observable_counter_u64 {
    _private: [u8; 0],
}

/// An observable monotonic sum (i64 totals reported by callbacks).
/// Created by `fm_meter_create_observable_counter_i64`; owned by the caller (release with
/// `fm_observable_counter_i64_release`). Observe from callbacks (any thread).
pub struct fm_observable_counter_i64 {
    _private: [u8; 0],
}

/// An observable monotonic sum (double totals reported by callbacks).
/// Created by `fm_meter_create_observable_counter_f64`; owned by the caller (release with
/// `fm_observable_counter_f64_release`). Observe from callbacks (any thread).
pub struct fm_observable_counter_f64 {
    _private: [u8; 0],
}

/// An observable non-monotonic sum (i64 totals reported by callbacks).
/// Created by `fm_meter_create_observable_updown_counter_i64`; owned by the caller (release with
/// `fm_observable_updown_counter_i64_release`). Observe from callbacks (any thread).
pub struct fm_observable_updown_counter_i64 {
    _private: [u8; 0],
}

/// An observable non-monotonic sum (double totals reported by callbacks).
/// Created by `fm_meter_create_observable_updown_counter_f64`; owned by the caller (release with
/// `fm_observable_updown_counter_f64_release`). Observe from callbacks (any thread).
pub struct fm_observable_updown_counter_f64 {
    _private: [u8; 0],
}

/// An observable gauge (i64 values reported by callbacks).
/// Created by `fm_meter_create_observable_gauge_i64`; owned by the caller (release with
/// `fm_observable_gauge_i64_release`). Observe from callbacks (any thread).
pub struct fm_observable_gauge_i64 {
    _private: [u8; 0],
}

/// An observable gauge (double values reported by callbacks).
/// Created by `fm_meter_create_observable_gauge_f64`; owned by the caller (release with
/// `fm_observable_gauge_f64_release`). Observe from callbacks (any thread).
pub struct fm_observable_gauge_f64 {
    _private: [u8; 0],
}
handle_types! {
    fm_observable_counter_u64 => ObsInst<ObservableCounter<u64>>;
    fm_observable_counter_i64 => ObsInst<ObservableCounter<i64>>;
    fm_observable_counter_f64 => ObsInst<ObservableCounter<f64>>;
    fm_observable_updown_counter_i64 => ObsInst<ObservableUpDownCounter<i64>>;
    fm_observable_updown_counter_f64 => ObsInst<ObservableUpDownCounter<f64>>;
    fm_observable_gauge_i64 => ObsInst<ObservableGauge<i64>>;
    fm_observable_gauge_f64 => ObsInst<ObservableGauge<f64>>;
}

/// Creates (or finds) a `observable_counter_u64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_counter_u64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_counter_u64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_counter_u64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_counter_u64,
) -> fm_status {
    ffi_status! { create::<ObservableCounter<u64>, fm_observable_counter_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_release(instrument: *mut fm_observable_counter_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_counter_u64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. Every u64 value is accepted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
/// A total below the one observed in an earlier collection is a reset: the
/// series starts again (cumulative: a new start time, the time of the
/// reader's previous collection; delta: the new total is the delta).
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_observe(
    instrument: *const fm_observable_counter_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableCounter<u64>, fm_observable_counter_u64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_counter_u64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_observe_at(
    instrument: *const fm_observable_counter_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableCounter<u64>, fm_observable_counter_u64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_add_callback(
    instrument: *const fm_observable_counter_u64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<u64>, fm_observable_counter_u64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_remove_all(
    instrument: *const fm_observable_counter_u64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableCounter<u64>, fm_observable_counter_u64>(instrument) }
}

/// Creates (or finds) a `observable_counter_i64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_counter_i64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_counter_i64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_counter_i64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_counter_i64,
) -> fm_status {
    ffi_status! { create::<ObservableCounter<i64>, fm_observable_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_release(instrument: *mut fm_observable_counter_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_counter_i64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. Negative totals are dropped and counted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
/// A total below the one observed in an earlier collection is a reset: the
/// series starts again (cumulative: a new start time, the time of the
/// reader's previous collection; delta: the new total is the delta).
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_observe(
    instrument: *const fm_observable_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableCounter<i64>, fm_observable_counter_i64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_counter_i64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_observe_at(
    instrument: *const fm_observable_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableCounter<i64>, fm_observable_counter_i64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_add_callback(
    instrument: *const fm_observable_counter_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<i64>, fm_observable_counter_i64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_remove_all(
    instrument: *const fm_observable_counter_i64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableCounter<i64>, fm_observable_counter_i64>(instrument) }
}

/// Creates (or finds) a `observable_counter_f64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_counter_f64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_counter_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_counter_f64,
) -> fm_status {
    ffi_status! { create::<ObservableCounter<f64>, fm_observable_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_counter_f64_release(instrument: *mut fm_observable_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_counter_f64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. NaN, infinite and negative totals are dropped and counted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
/// A total below the one observed in an earlier collection is a reset: the
/// series starts again (cumulative: a new start time, the time of the
/// reader's previous collection; delta: the new total is the delta).
#[no_mangle]
pub extern "C" fn fm_observable_counter_f64_observe(
    instrument: *const fm_observable_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableCounter<f64>, fm_observable_counter_f64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_counter_f64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_f64_observe_at(
    instrument: *const fm_observable_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableCounter<f64>, fm_observable_counter_f64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_counter_f64_add_callback(
    instrument: *const fm_observable_counter_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<f64>, fm_observable_counter_f64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_counter_f64_remove_all(
    instrument: *const fm_observable_counter_f64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableCounter<f64>, fm_observable_counter_f64>(instrument) }
}

/// Creates (or finds) a `observable_updown_counter_i64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_updown_counter_i64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_updown_counter_i64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_updown_counter_i64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_updown_counter_i64,
) -> fm_status {
    ffi_status! { create::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_release(
    instrument: *mut fm_observable_updown_counter_i64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_updown_counter_i64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. Every i64 value is accepted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_observe(
    instrument: *const fm_observable_updown_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_updown_counter_i64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_observe_at(
    instrument: *const fm_observable_updown_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_add_callback(
    instrument: *const fm_observable_updown_counter_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_remove_all(
    instrument: *const fm_observable_updown_counter_i64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(instrument) }
}

/// Creates (or finds) a `observable_updown_counter_f64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_updown_counter_f64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_updown_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_updown_counter_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_updown_counter_f64,
) -> fm_status {
    ffi_status! { create::<ObservableUpDownCounter<f64>, fm_observable_updown_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_f64_release(
    instrument: *mut fm_observable_updown_counter_f64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_updown_counter_f64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. NaN and infinite totals are dropped and counted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_f64_observe(
    instrument: *const fm_observable_updown_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableUpDownCounter<f64>, fm_observable_updown_counter_f64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_updown_counter_f64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_f64_observe_at(
    instrument: *const fm_observable_updown_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableUpDownCounter<f64>, fm_observable_updown_counter_f64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_f64_add_callback(
    instrument: *const fm_observable_updown_counter_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableUpDownCounter<f64>, fm_observable_updown_counter_f64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_f64_remove_all(
    instrument: *const fm_observable_updown_counter_f64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableUpDownCounter<f64>, fm_observable_updown_counter_f64>(instrument) }
}

/// Creates (or finds) a `observable_gauge_i64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_gauge_i64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_gauge_i64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_gauge_i64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_gauge_i64,
) -> fm_status {
    ffi_status! { create::<ObservableGauge<i64>, fm_observable_gauge_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_release(instrument: *mut fm_observable_gauge_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_gauge_i64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. Every i64 value is accepted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_observe(
    instrument: *const fm_observable_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableGauge<i64>, fm_observable_gauge_i64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_gauge_i64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_observe_at(
    instrument: *const fm_observable_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableGauge<i64>, fm_observable_gauge_i64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_add_callback(
    instrument: *const fm_observable_gauge_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableGauge<i64>, fm_observable_gauge_i64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_remove_all(
    instrument: *const fm_observable_gauge_i64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableGauge<i64>, fm_observable_gauge_i64>(instrument) }
}

/// Creates (or finds) a `observable_gauge_f64` instrument named `name[0..name_len]`;
/// `options` may be NULL. Add callbacks with `fm_observable_gauge_f64_add_callback` or
/// `fm_meter_register_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_observable_gauge_f64_release`.
#[no_mangle]
pub extern "C" fn fm_meter_create_observable_gauge_f64(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_observable_gauge_f64,
) -> fm_status {
    ffi_status! { create::<ObservableGauge<f64>, fm_observable_gauge_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Callbacks
/// registered for it stay registered until their registration is released.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_f64_release(instrument: *mut fm_observable_gauge_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { fm_observable_gauge_f64::free(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]`; call it
/// from a callback. NaN is dropped and counted. Invalid attributes drop the observation and are
/// counted. A NULL instrument is a no-op.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_f64_observe(
    instrument: *const fm_observable_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe::<ObservableGauge<f64>, fm_observable_gauge_f64>(instrument, value, attrs, attrs_len, None) }
}

/// Like `fm_observable_gauge_f64_observe`, with the time the value was observed
/// (nanoseconds since the Unix epoch), carried to exporters.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_f64_observe_at(
    instrument: *const fm_observable_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: u64,
) {
    ffi_boundary! { observe::<ObservableGauge<f64>, fm_observable_gauge_f64>(instrument, value, attrs, attrs_len, Some(time_unix_nano)) }
}

/// Registers `callback(user_data)`, called once per collection cycle on
/// the collecting thread, to observe this instrument (see
/// `fm_meter_register_callback` for the lifetime and threading contract).
/// Ownership: `*out` is owned by the caller; releasing it unregisters.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_f64_add_callback(
    instrument: *const fm_observable_gauge_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableGauge<f64>, fm_observable_gauge_f64>(instrument, callback, user_data, out) }
}

/// Forgets every series of the instrument (they reappear when observed).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_observable_gauge_f64_remove_all(
    instrument: *const fm_observable_gauge_f64,
) -> fm_status {
    ffi_status! { remove_all::<ObservableGauge<f64>, fm_observable_gauge_f64>(instrument) }
}

// ---- doubles observed on integer instruments ----
//
// One C++ callback serves every observable kind (`ferrometer::ObserverResult`),
// so it may observe a double on an integer instrument. These functions round
// it to the nearest integer; a value the instrument's type cannot hold is
// dropped and counted, never wrapped or saturated.

/// `v` rounded to the nearest u64, or why it cannot be one.
fn round_u64(v: f64) -> Result<u64, Reason> {
    let r = v.round();
    match r {
        _ if v.is_nan() => Err(Reason::Nan),
        _ if v.is_infinite() => Err(Reason::Infinite),
        _ if r < 0.0 => Err(Reason::Negative),
        // 2^64 is the first double above u64::MAX.
        _ if r >= 18_446_744_073_709_551_616.0 => Err(Reason::SumOverflow),
        _ => Ok(r as u64),
    }
}

/// `v` rounded to the nearest i64, or why it cannot be one.
fn round_i64(v: f64) -> Result<i64, Reason> {
    let r = v.round();
    match r {
        _ if v.is_nan() => Err(Reason::Nan),
        _ if v.is_infinite() => Err(Reason::Infinite),
        // [-2^63, 2^63): exactly the doubles an i64 holds the value of.
        _ if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) => {
            Err(Reason::SumOverflow)
        }
        _ => Ok(r as i64),
    }
}

#[inline]
fn observe_rounded<I, H>(
    h: *const H,
    v: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    round: fn(f64) -> Result<I::Value, Reason>,
) where
    I: ObsInstrument,
    H: Handle<Rust = ObsInst<I>>,
{
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(i) = unsafe { H::get(h) } {
        match round(v) {
            Ok(n) => observe::<I, H>(h, n, attrs, attrs_len, None),
            Err(r) => i.diag.reject(r, i.inst.name_()),
        }
    }
}

/// Like `fm_observable_counter_u64_observe` with a double, rounded to the
/// nearest integer. NaN, infinite, negative and values of 2^64 or more are
/// dropped and counted (`nan`, `infinite`, `negative`, `sum_overflow`).
#[no_mangle]
pub extern "C" fn fm_observable_counter_u64_observe_f64(
    instrument: *const fm_observable_counter_u64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe_rounded::<ObservableCounter<u64>, fm_observable_counter_u64>(instrument, value, attrs, attrs_len, round_u64) }
}

/// Like `fm_observable_counter_i64_observe` with a double, rounded to the
/// nearest integer. NaN, infinite and values outside the i64 range are
/// dropped and counted (`nan`, `infinite`, `sum_overflow`).
#[no_mangle]
pub extern "C" fn fm_observable_counter_i64_observe_f64(
    instrument: *const fm_observable_counter_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe_rounded::<ObservableCounter<i64>, fm_observable_counter_i64>(instrument, value, attrs, attrs_len, round_i64) }
}

/// Like `fm_observable_updown_counter_i64_observe` with a double, rounded
/// to the nearest integer. NaN, infinite and values outside the i64 range
/// are dropped and counted (`nan`, `infinite`, `sum_overflow`).
#[no_mangle]
pub extern "C" fn fm_observable_updown_counter_i64_observe_f64(
    instrument: *const fm_observable_updown_counter_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe_rounded::<ObservableUpDownCounter<i64>, fm_observable_updown_counter_i64>(instrument, value, attrs, attrs_len, round_i64) }
}

/// Like `fm_observable_gauge_i64_observe` with a double, rounded to the
/// nearest integer. NaN, infinite and values outside the i64 range are
/// dropped and counted (`nan`, `infinite`, `sum_overflow`).
#[no_mangle]
pub extern "C" fn fm_observable_gauge_i64_observe_f64(
    instrument: *const fm_observable_gauge_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    ffi_boundary! { observe_rounded::<ObservableGauge<i64>, fm_observable_gauge_i64>(instrument, value, attrs, attrs_len, round_i64) }
}

#[cfg(test)]
mod rounding_tests {
    use super::*;

    #[test]
    fn doubles_round_or_are_refused_with_their_reason() {
        assert_eq!(round_u64(2.5), Ok(3));
        assert_eq!(round_u64(-0.4), Ok(0));
        assert_eq!(round_u64(-0.6), Err(Reason::Negative));
        assert_eq!(round_u64(f64::NAN), Err(Reason::Nan));
        assert_eq!(round_u64(f64::INFINITY), Err(Reason::Infinite));
        assert_eq!(round_u64(2f64.powi(64)), Err(Reason::SumOverflow));
        assert_eq!(
            round_u64(18_446_744_073_709_549_568u64 as f64),
            Ok(18_446_744_073_709_549_568)
        );
        assert_eq!(round_i64(-2.5), Ok(-3));
        assert_eq!(round_i64(i64::MIN as f64), Ok(i64::MIN));
        assert_eq!(round_i64(2f64.powi(63)), Err(Reason::SumOverflow));
        assert_eq!(round_i64(f64::NEG_INFINITY), Err(Reason::Infinite));
    }
}
