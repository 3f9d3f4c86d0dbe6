//! Observable instruments: creation, observation (from callbacks), their
//! own callbacks and series removal, written once as generic functions.
//! The exported functions, one set per instrument type, are generated from
//! the table in `tests/ffi_gen/table.rs` into `observable/generated.rs`.

use super::attributes::{fm_attribute, with_attrs};
use super::callbacks::{fm_callback, fm_callback_registration, register};
use super::handle::{arg, out_arg, system_time, write_out, Handle};
use super::instrument_options::{fm_instrument_options, instrument_options_arg};
use super::meter::fm_meter;
use super::status::{core_err, fail, fm_status};
use crate::attributes::Attr;
use crate::diagnostics::{Diag, Reason};
use crate::{InstrumentBuilder, Meter};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::SystemTime;

/// What an observable instrument handle points to: the core instrument,
/// the provider's diagnostics, and its meter (to register callbacks).
pub(crate) struct ObservableHandle<I> {
    pub(crate) instrument: I,
    pub(crate) diag: Arc<Diag>,
    pub(crate) meter: Meter,
}

/// What the C layer needs from an observable instrument type: the core's
/// methods, which each type has on its own (this trait lets the generic
/// functions below call them).
pub(crate) trait ObservableInstrument: crate::instruments::Instrument {
    type Value: Copy;
    /// `Meter::u64_observable_counter` and its siblings.
    fn builder(meter: &Meter, name: String) -> InstrumentBuilder<'_, Self>;
    /// Observes at `time`, or at the collection's time when None.
    fn observe_with_time<A: Attr>(&self, value: Self::Value, attrs: &[A], time: Option<SystemTime>);
    fn remove_all(&self);
    fn name(&self) -> &str;
}

/// Implements [`ObservableInstrument`] for each type of the generated table
/// (`ObservableCounter<u64> => u64_observable_counter;`).
macro_rules! observable_instruments {
    ($($t:ident<$v:ty> => $constructor:ident;)*) => {$(
        impl crate::ffi::observable::ObservableInstrument for crate::$t<$v> {
            type Value = $v;
            fn builder(meter: &crate::Meter, name: String) -> crate::InstrumentBuilder<'_, Self> {
                meter.$constructor(name)
            }
            #[inline]
            fn observe_with_time<A: crate::attributes::Attr>(
                &self,
                value: $v,
                attrs: &[A],
                time: Option<std::time::SystemTime>,
            ) {
                match time {
                    None => self.observe_attrs(value, attrs),
                    Some(t) => self.observe_at_attrs(value, attrs, t),
                }
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

fn create<I: ObservableInstrument, H: Handle<Rust = ObservableHandle<I>>>(
    meter: *const fm_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status> {
    let meter = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let options = instrument_options_arg(name, name_len, options)?;
    let instrument = I::builder(meter, options.name.to_owned())
        .with_description(options.description)
        .with_unit(options.unit)
        .build()
        .map_err(core_err)?;
    write_out(
        out,
        H::into_raw(ObservableHandle {
            instrument,
            diag: meter.provider.diag.clone(),
            meter: meter.clone(),
        }),
    );
    Ok(())
}

#[inline]
fn observe<I: ObservableInstrument, H: Handle<Rust = ObservableHandle<I>>>(
    ptr: *const H,
    value: I::Value,
    attrs: *const fm_attribute,
    attrs_len: usize,
    time_unix_nano: Option<u64>,
) {
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        with_attrs(
            attrs,
            attrs_len,
            &handle.diag,
            handle.instrument.name(),
            |a| {
                handle
                    .instrument
                    .observe_with_time(value, a, time_unix_nano.map(system_time))
            },
        );
    }
}

fn add_callback<I: ObservableInstrument, H: Handle<Rust = ObservableHandle<I>>>(
    ptr: *const H,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> Result<(), fm_status> {
    let handle = arg(ptr, "instrument")?;
    out_arg(out, "out")?;
    let cb = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
    write_out(
        out,
        fm_callback_registration::into_raw(register(&handle.meter, cb, user_data)),
    );
    Ok(())
}

fn remove_all<I: ObservableInstrument, H: Handle<Rust = ObservableHandle<I>>>(
    ptr: *const H,
) -> Result<(), fm_status> {
    arg(ptr, "instrument")?.instrument.remove_all();
    Ok(())
}

// ---- doubles observed on integer instruments ----
//
// One C++ callback serves every observable kind (`ferrometer::ObserverResult`),
// so it may observe a double on an integer instrument. The `_observe_f64`
// functions round it to the nearest integer; a value the instrument's type
// cannot hold is dropped and counted, never wrapped or saturated.

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
    ptr: *const H,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
    round: fn(f64) -> Result<I::Value, Reason>,
) where
    I: ObservableInstrument,
    H: Handle<Rust = ObservableHandle<I>>,
{
    // SAFETY: C contract: NULL or a live instrument handle.
    if let Some(handle) = unsafe { H::get(ptr) } {
        match round(value) {
            Ok(n) => observe::<I, H>(ptr, n, attrs, attrs_len, None),
            Err(r) => handle.diag.reject(r, handle.instrument.name()),
        }
    }
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
