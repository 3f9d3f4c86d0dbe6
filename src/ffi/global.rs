//! The global meter provider through the C ABI (see `crate::global` for
//! the design): `fm_global_set_meter_provider`, `fm_global_get_meter`, and
//! global instruments that are no-ops until a provider is set and then
//! record into it, whenever they were created.
//!
//! Global instruments are their own handle types (`fm_global_counter_u64`,
//! ...): the recording functions of ordinary instruments are unchanged.
//! A global recording call loads the instrument's current target (one
//! atomic load, no lock) and, when a provider is set, makes the ordinary
//! call on the provider's twin instrument. Those exported functions, one
//! set per instrument type, are generated from the table in
//! `tests/ffi_gen/table.rs` into `global/generated.rs`.

use super::callbacks::{fm_callback, register, CallbackFn, Registration};
use super::handle::{arg, out_arg, write_out, Handle};
use super::instrument_options::{fm_instrument_options, instrument_options_arg};
use super::instruments::{InstrumentHandle, SyncInstrument};
use super::meter::scope_arg;
use super::observable::{ObservableHandle, ObservableInstrument};
use super::provider::fm_provider;
use super::status::{core_err, fail, fm_status};
use crate::diagnostics::diag_warn;
use crate::global::{self, Delegate, Slot};
use crate::instruments::{validate_description, validate_name, validate_unit};
use crate::provider::MeterSource;
use crate::sync::{lock, Mutex};
use crate::{InstrumentKind, InstrumentationScope};
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A meter of the global provider: creates global instruments for one
/// instrumentation scope. Owned by the caller (release with
/// `fm_global_meter_release`). Thread safety: any thread, concurrently.
pub struct fm_global_meter {
    _private: [u8; 0],
}

/// A callback registered on a global observable instrument: it follows the
/// instrument to every provider that is set. Owned by the caller: releasing
/// it with `fm_global_callback_registration_release` unregisters it.
pub struct fm_global_callback_registration {
    _private: [u8; 0],
}

/// What a global instrument is re-created from in each provider.
struct Spec {
    scope: InstrumentationScope,
    name: String,
    description: String,
    unit: String,
    boundaries: Option<Vec<f64>>,
}

impl Spec {
    /// Parses and validates the options as the ordinary constructor would,
    /// so that a bad name fails at creation, not at the later set.
    fn parse(
        meter: &InstrumentationScope,
        kind: InstrumentKind,
        name: *const c_char,
        name_len: usize,
        options: *const fm_instrument_options,
    ) -> Result<Spec, fm_status> {
        let o = instrument_options_arg(name, name_len, options)?;
        validate_name(o.name).map_err(core_err)?;
        validate_unit(o.unit).map_err(core_err)?;
        validate_description(o.description).map_err(core_err)?;
        let boundaries = match (kind, o.boundaries) {
            (InstrumentKind::Histogram, Some(b)) => {
                crate::aggregation::validate_boundaries(&b).map_err(core_err)?;
                Some(b)
            }
            _ => None,
        };
        Ok(Spec {
            scope: meter.clone(),
            name: o.name.to_owned(),
            description: o.description.to_owned(),
            unit: o.unit.to_owned(),
            boundaries,
        })
    }

    /// Builds the twin instrument in `provider`; a refusal (which the
    /// checks at creation make rare) is reported and leaves the global
    /// instrument a no-op until the next set.
    fn build<I: crate::instruments::Instrument>(
        &self,
        provider: &MeterSource,
        make: impl FnOnce(&crate::Meter, String) -> crate::InstrumentBuilder<'_, I>,
    ) -> Option<(I, crate::Meter)> {
        let m = provider.meter_with_scope(self.scope.clone());
        let mut b = make(&m, self.name.clone())
            .with_description(self.description.clone())
            .with_unit(self.unit.clone());
        if let Some(bounds) = &self.boundaries {
            b = b.with_boundaries(bounds.clone());
        }
        match b.build() {
            Ok(i) => Some((i, m)),
            Err(e) => {
                diag_warn!(
                    "global instrument {} not created in the provider set: {e}; it records nothing until the next set",
                    self.name
                );
                None
            }
        }
    }
}

/// A global synchronous instrument.
pub(crate) struct GlobalSync<I: SyncInstrument> {
    spec: Spec,
    slot: Slot<InstrumentHandle<I>>,
}

impl<I: SyncInstrument> Delegate for GlobalSync<I> {
    fn delegate_to(&self, provider: Option<&MeterSource>) {
        let target =
            provider
                .and_then(|p| self.spec.build(p, I::builder))
                .map(|(instrument, m)| InstrumentHandle {
                    instrument,
                    diag: m.provider.diag.clone(),
                });
        self.slot.set(target);
    }
}

/// One callback of a global observable instrument.
pub(crate) struct GlobalCallback {
    f: CallbackFn,
    user_data: usize,
    /// Its registration in the provider set now, if any.
    reg: Mutex<Option<Registration>>,
    /// Released by its owner: never registered again.
    removed: AtomicBool,
}

/// The handle behind `fm_global_callback_registration`.
pub(crate) struct GlobalRegistration(Arc<GlobalCallback>);

impl Drop for GlobalRegistration {
    fn drop(&mut self) {
        self.0.removed.store(true, Ordering::Release);
        // Unregisters (waiting for a call in progress, as
        // fm_callback_registration_release does).
        drop(lock(&self.0.reg).take());
    }
}

/// A global observable instrument and its callbacks.
pub(crate) struct GlobalObservable<I: ObservableInstrument> {
    spec: Spec,
    slot: Slot<ObservableHandle<I>>,
    /// Locked for a whole retarget, so that a callback added meanwhile is
    /// registered in the new provider exactly once.
    callbacks: Mutex<Vec<Arc<GlobalCallback>>>,
}

impl<I: ObservableInstrument> Delegate for GlobalObservable<I> {
    fn delegate_to(&self, provider: Option<&MeterSource>) {
        let mut cbs = lock(&self.callbacks);
        cbs.retain(|c| !c.removed.load(Ordering::Acquire));
        // The previous provider's registrations go first (each waits for a
        // call in progress), so no callback runs for two providers at once.
        for c in cbs.iter() {
            drop(lock(&c.reg).take());
        }
        let target =
            provider
                .and_then(|p| self.spec.build(p, I::builder))
                .map(|(instrument, m)| ObservableHandle {
                    instrument,
                    diag: m.provider.diag.clone(),
                    meter: m,
                });
        self.slot.set(target);
        if let Some(t) = self.slot.get() {
            for c in cbs.iter() {
                register_in(c, t);
            }
        }
    }
}

/// Registers `c` on the meter of `target` unless it was released.
fn register_in<I: ObservableInstrument>(c: &GlobalCallback, target: &ObservableHandle<I>) {
    let mut reg = lock(&c.reg);
    if !c.removed.load(Ordering::Acquire) {
        *reg = Some(register(&target.meter, c.f, c.user_data as *mut c_void));
    }
}

handle_types! {
    fm_global_meter => InstrumentationScope;
    fm_global_callback_registration => GlobalRegistration;
}

/// Hands out a shared global instrument as an owned C handle (released
/// with [`release_shared`]).
fn into_shared<T, H: Handle<Rust = T>>(v: Arc<T>) -> *mut H {
    Arc::into_raw(v).cast_mut().cast()
}

/// Releases a handle made by [`into_shared`]; NULL is fine.
///
/// # Safety
/// `p` is NULL or came from [`into_shared`] for this type, released once.
unsafe fn release_shared<H: Handle>(p: *mut H) {
    if !p.is_null() {
        // SAFETY: per this function's contract.
        drop(unsafe { Arc::from_raw(p.cast_const().cast::<H::Rust>()) });
    }
}

fn create_sync<I, H>(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status>
where
    I: SyncInstrument,
    H: Handle<Rust = GlobalSync<I>>,
{
    let scope = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let g = Arc::new(GlobalSync {
        spec: Spec::parse(scope, I::KIND, name, name_len, options)?,
        slot: Slot::default(),
    });
    global::register(g.clone());
    write_out(out, into_shared(g));
    Ok(())
}

fn create_observable<I, H>(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status>
where
    I: ObservableInstrument,
    H: Handle<Rust = GlobalObservable<I>>,
{
    let scope = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let g = Arc::new(GlobalObservable {
        spec: Spec::parse(scope, I::KIND, name, name_len, options)?,
        slot: Slot::default(),
        callbacks: Mutex::new(Vec::new()),
    });
    global::register(g.clone());
    write_out(out, into_shared(g));
    Ok(())
}

fn add_callback<I, H>(
    h: *const H,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> Result<(), fm_status>
where
    I: ObservableInstrument,
    H: Handle<Rust = GlobalObservable<I>>,
{
    let g = arg(h, "instrument")?;
    out_arg(out, "out")?;
    let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
    let c = Arc::new(GlobalCallback {
        f,
        user_data: user_data as usize,
        reg: Mutex::new(None),
        removed: AtomicBool::new(false),
    });
    {
        let mut cbs = lock(&g.callbacks);
        cbs.retain(|c| !c.removed.load(Ordering::Acquire));
        if let Some(t) = g.slot.get() {
            register_in(&c, t);
        }
        cbs.push(c.clone());
    }
    write_out(
        out,
        fm_global_callback_registration::into_raw(GlobalRegistration(c)),
    );
    Ok(())
}

/// The provider's twin of a global instrument, if a provider is set: one
/// atomic load, nothing that can panic.
#[inline(always)]
fn target<'a, T: 'a, G: 'a, H: Handle<Rust = G>>(
    h: *const H,
    slot: fn(&G) -> &Slot<T>,
) -> Option<&'a T> {
    // SAFETY: C contract: NULL or a live global instrument handle.
    unsafe { H::get(h) }.and_then(|g| slot(g).get())
}

#[inline(always)]
fn sync_target<'a, I: SyncInstrument, H: Handle<Rust = GlobalSync<I>>>(
    h: *const H,
) -> Option<&'a InstrumentHandle<I>> {
    target(h, |g: &GlobalSync<I>| &g.slot)
}

#[inline(always)]
fn observable_target<'a, I: ObservableInstrument, H: Handle<Rust = GlobalObservable<I>>>(
    h: *const H,
) -> Option<&'a ObservableHandle<I>> {
    target(h, |g: &GlobalObservable<I>| &g.slot)
}

/// Sets the global meter provider: every global instrument, created before
/// or after, records into `provider` from now on (a measurement that starts
/// after this call returns is never lost). NULL clears it: global
/// instruments become no-ops again.
///
/// Setting another provider later moves every global instrument to it
/// (setting the one already set changes nothing). The global does not own
/// the provider: releasing its last handle shuts it down as usual, after
/// which global instruments count their measurements as after-shutdown in
/// it until the next set; set NULL (or another provider) before releasing
/// it to avoid that.
///
/// Returns whether a provider was set before this call.
/// Thread safety: any thread, concurrently with recording on global
/// instruments; must not be called from an observable callback.
#[no_mangle]
pub extern "C" fn fm_global_set_meter_provider(provider: *const fm_provider) -> bool {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live provider.
        global::set_meter_provider(unsafe { fm_provider::get(provider) })
    }
}

/// True while a provider is set (`fm_global_set_meter_provider`).
#[no_mangle]
pub extern "C" fn fm_global_meter_provider_is_set() -> bool {
    ffi_boundary! { global::meter_provider_is_set() }
}

/// Returns a meter of the global provider for the scope (name, version,
/// schema URL); valid before any provider is set. `version` and
/// `schema_url` may be NULL (with length 0) for none.
///
/// Returns `FM_STATUS_INVALID_UTF8` for bad UTF-8, `FM_STATUS_INVALID_ARGUMENT`
/// for NULL out or an empty name.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_global_meter_release` (instruments created from it stay valid).
#[no_mangle]
pub extern "C" fn fm_global_get_meter(
    name: *const c_char,
    name_len: usize,
    version: *const c_char,
    version_len: usize,
    schema_url: *const c_char,
    schema_url_len: usize,
    out: *mut *mut fm_global_meter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let scope = scope_arg(name, name_len, version, version_len, schema_url, schema_url_len)?;
        write_out(out, fm_global_meter::into_raw(scope));
        Ok(())
    }
}

/// Releases a global meter handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_global_meter_release(meter: *mut fm_global_meter) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned meter released once.
        unsafe { fm_global_meter::free(meter) }
    }
}

/// Unregisters and frees a global callback registration. NULL is fine;
/// must not be called twice, nor from inside any callback (unlike
/// `fm_callback_registration_release`: a provider being set may be waiting
/// for the running callback). Once it returns, the callback is not running
/// and never runs again (in any provider), so `user_data` may be freed.
#[no_mangle]
pub extern "C" fn fm_global_callback_registration_release(
    registration: *mut fm_global_callback_registration,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned registration released once.
        unsafe { fm_global_callback_registration::free(registration) }
    }
}

#[rustfmt::skip]
mod generated;
