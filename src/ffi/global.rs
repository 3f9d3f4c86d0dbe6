//! The global meter provider through the C ABI (see `crate::global` for
//! the design): `fm_global_set_meter_provider`, `fm_global_get_meter`, and
//! global instruments that are no-ops until a provider is set and then
//! record into it, whenever they were created.
//!
//! Global instruments are their own handle types (`fm_global_counter_u64`,
//! ...): the recording functions of ordinary instruments are unchanged.
//! A global recording call loads the instrument's current target (one
//! atomic load, no lock) and, when a provider is set, makes the ordinary
//! call on the provider's twin instrument.

use super::attributes::{fm_attribute, fm_attribute_set};
use super::handle::{arg, out_arg, str_arg, write_out, Handle};
use super::instruments::{self as sync, Inst, SyncInstrument};
use super::meter::{fm_instrument_options, opts_arg};
use super::observable::{self as obs, fm_callback, register, ObsInst, ObsInstrument, Registration};
use super::provider::fm_provider;
use super::status::{core_err, fail, fm_status};
use crate::diagnostics::diag_warn;
use crate::global::{self, Delegate, Slot};
use crate::instruments::{validate_description, validate_name, validate_unit};
use crate::provider::MeterSource;
use crate::sync::{lock, Mutex};
use crate::{
    Counter, Gauge, Histogram, InstrumentKind, InstrumentationScope, ObservableCounter,
    ObservableGauge, ObservableUpDownCounter, UpDownCounter,
};
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
        let o = opts_arg(name, name_len, options)?;
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
    slot: Slot<Inst<I>>,
}

impl<I: SyncInstrument> Delegate for GlobalSync<I> {
    fn delegate_to(&self, provider: Option<&MeterSource>) {
        let target = provider
            .and_then(|p| self.spec.build(p, I::make))
            .map(|(inst, m)| Inst {
                inst,
                diag: m.provider.diag.clone(),
            });
        self.slot.set(target);
    }
}

/// One callback of a global observable instrument.
pub(crate) struct GlobalCallback {
    f: unsafe extern "C" fn(*mut c_void),
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
pub(crate) struct GlobalObs<I: ObsInstrument> {
    spec: Spec,
    slot: Slot<ObsInst<I>>,
    /// Locked for a whole retarget, so that a callback added meanwhile is
    /// registered in the new provider exactly once.
    callbacks: Mutex<Vec<Arc<GlobalCallback>>>,
}

impl<I: ObsInstrument> Delegate for GlobalObs<I> {
    fn delegate_to(&self, provider: Option<&MeterSource>) {
        let mut cbs = lock(&self.callbacks);
        cbs.retain(|c| !c.removed.load(Ordering::Acquire));
        // The previous provider's registrations go first (each waits for a
        // call in progress), so no callback runs for two providers at once.
        for c in cbs.iter() {
            drop(lock(&c.reg).take());
        }
        let target = provider
            .and_then(|p| self.spec.build(p, I::make))
            .map(|(inst, m)| ObsInst {
                inst,
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
fn register_in<I: ObsInstrument>(c: &GlobalCallback, target: &ObsInst<I>) {
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

fn create_obs<I, H>(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut H,
) -> Result<(), fm_status>
where
    I: ObsInstrument,
    H: Handle<Rust = GlobalObs<I>>,
{
    let scope = arg(meter, "meter")?;
    out_arg(out, "out")?;
    let g = Arc::new(GlobalObs {
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
    I: ObsInstrument,
    H: Handle<Rust = GlobalObs<I>>,
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
) -> Option<&'a Inst<I>> {
    target(h, |g: &GlobalSync<I>| &g.slot)
}

#[inline(always)]
fn obs_target<'a, I: ObsInstrument, H: Handle<Rust = GlobalObs<I>>>(
    h: *const H,
) -> Option<&'a ObsInst<I>> {
    target(h, |g: &GlobalObs<I>| &g.slot)
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
        let n = str_arg(name, name_len, "name")?;
        if n.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "meter name is empty"));
        }
        let v = str_arg(version, version_len, "version")?;
        let s = str_arg(schema_url, schema_url_len, "schema_url")?;
        let scope = InstrumentationScope::new(n).with_version(v).with_schema_url(s);
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
/// must not be called twice, nor from inside a callback. Once it returns,
/// the callback is not running and never runs again (in any provider), so
/// `user_data` may be freed.
#[no_mangle]
pub extern "C" fn fm_global_callback_registration_release(
    registration: *mut fm_global_callback_registration,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned registration released once.
        unsafe { fm_global_callback_registration::free(registration) }
    }
}

// ---- generated wrappers (one set per instrument type) ----
/// A monotonic counter of u64 increments, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_counter_u64` in the provider set. Created by
/// `fm_global_meter_create_counter_u64`; owned by the caller (release with
/// `fm_global_counter_u64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_counter_u64 {
    _private: [u8; 0],
}

/// A monotonic counter of double increments, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_counter_f64` in the provider set. Created by
/// `fm_global_meter_create_counter_f64`; owned by the caller (release with
/// `fm_global_counter_f64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_counter_f64 {
    _private: [u8; 0],
}

/// A counter of i64 increments that may go up and down, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_updown_counter_i64` in the provider set. Created by
/// `fm_global_meter_create_updown_counter_i64`; owned by the caller (release with
/// `fm_global_updown_counter_i64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_updown_counter_i64 {
    _private: [u8; 0],
}

/// A counter of double increments that may go up and down, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_updown_counter_f64` in the provider set. Created by
/// `fm_global_meter_create_updown_counter_f64`; owned by the caller (release with
/// `fm_global_updown_counter_f64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_updown_counter_f64 {
    _private: [u8; 0],
}

/// A distribution of u64 values, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_histogram_u64` in the provider set. Created by
/// `fm_global_meter_create_histogram_u64`; owned by the caller (release with
/// `fm_global_histogram_u64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_histogram_u64 {
    _private: [u8; 0],
}

/// A distribution of non-negative double values, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_histogram_f64` in the provider set. Created by
/// `fm_global_meter_create_histogram_f64`; owned by the caller (release with
/// `fm_global_histogram_f64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_histogram_f64 {
    _private: [u8; 0],
}

/// The last i64 value of something, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_gauge_i64` in the provider set. Created by
/// `fm_global_meter_create_gauge_i64`; owned by the caller (release with
/// `fm_global_gauge_i64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_gauge_i64 {
    _private: [u8; 0],
}

/// The last double value of something, from the global provider: a no-op until a provider is set,
/// then recorded as `fm_gauge_f64` in the provider set. Created by
/// `fm_global_meter_create_gauge_f64`; owned by the caller (release with
/// `fm_global_gauge_f64_release`). Thread safety: record from any number of
/// threads concurrently, also while the provider is set.
pub struct fm_global_gauge_f64 {
    _private: [u8; 0],
}

/// An observable monotonic sum (u64 totals) of the global provider. Created by
/// `fm_global_meter_create_observable_counter_u64`; owned by the caller (release with
/// `fm_global_observable_counter_u64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_counter_u64 {
    _private: [u8; 0],
}

/// An observable monotonic sum (i64 totals) of the global provider. Created by
/// `fm_global_meter_create_observable_counter_i64`; owned by the caller (release with
/// `fm_global_observable_counter_i64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_counter_i64 {
    _private: [u8; 0],
}

/// An observable monotonic sum (double totals) of the global provider. Created by
/// `fm_global_meter_create_observable_counter_f64`; owned by the caller (release with
/// `fm_global_observable_counter_f64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_counter_f64 {
    _private: [u8; 0],
}

/// An observable non-monotonic sum (i64 totals) of the global provider. Created by
/// `fm_global_meter_create_observable_updown_counter_i64`; owned by the caller (release with
/// `fm_global_observable_updown_counter_i64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_updown_counter_i64 {
    _private: [u8; 0],
}

/// An observable non-monotonic sum (double totals) of the global provider. Created by
/// `fm_global_meter_create_observable_updown_counter_f64`; owned by the caller (release with
/// `fm_global_observable_updown_counter_f64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_updown_counter_f64 {
    _private: [u8; 0],
}

/// An observable gauge (i64 values) of the global provider. Created by
/// `fm_global_meter_create_observable_gauge_i64`; owned by the caller (release with
/// `fm_global_observable_gauge_i64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_gauge_i64 {
    _private: [u8; 0],
}

/// An observable gauge (double values) of the global provider. Created by
/// `fm_global_meter_create_observable_gauge_f64`; owned by the caller (release with
/// `fm_global_observable_gauge_f64_release`). Its callbacks run in the collections of the
/// provider set (none while none is set).
pub struct fm_global_observable_gauge_f64 {
    _private: [u8; 0],
}

handle_types! {
    fm_global_counter_u64 => GlobalSync<Counter<u64>>;
    fm_global_counter_f64 => GlobalSync<Counter<f64>>;
    fm_global_updown_counter_i64 => GlobalSync<UpDownCounter<i64>>;
    fm_global_updown_counter_f64 => GlobalSync<UpDownCounter<f64>>;
    fm_global_histogram_u64 => GlobalSync<Histogram<u64>>;
    fm_global_histogram_f64 => GlobalSync<Histogram<f64>>;
    fm_global_gauge_i64 => GlobalSync<Gauge<i64>>;
    fm_global_gauge_f64 => GlobalSync<Gauge<f64>>;
    fm_global_observable_counter_u64 => GlobalObs<ObservableCounter<u64>>;
    fm_global_observable_counter_i64 => GlobalObs<ObservableCounter<i64>>;
    fm_global_observable_counter_f64 => GlobalObs<ObservableCounter<f64>>;
    fm_global_observable_updown_counter_i64 => GlobalObs<ObservableUpDownCounter<i64>>;
    fm_global_observable_updown_counter_f64 => GlobalObs<ObservableUpDownCounter<f64>>;
    fm_global_observable_gauge_i64 => GlobalObs<ObservableGauge<i64>>;
    fm_global_observable_gauge_f64 => GlobalObs<ObservableGauge<f64>>;
}

/// Creates a global `counter_u64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_counter_u64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_counter_u64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_counter_u64,
) -> fm_status {
    ffi_status! { create_sync::<Counter<u64>, fm_global_counter_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_counter_u64_release(instrument: *mut fm_global_counter_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_counter_u64_add` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_counter_u64_add(
    instrument: *const fm_global_counter_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_counter_u64_add(sync::fm_counter_u64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_counter_u64_add` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_counter_u64_add_prepared(
    instrument: *const fm_global_counter_u64,
    value: u64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_counter_u64_add_prepared(sync::fm_counter_u64::borrowed(i), value, attributes)
    }
}

/// Creates a global `counter_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_counter_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_counter_f64,
) -> fm_status {
    ffi_status! { create_sync::<Counter<f64>, fm_global_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_counter_f64_release(instrument: *mut fm_global_counter_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_counter_f64_add` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_counter_f64_add(
    instrument: *const fm_global_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_counter_f64_add(sync::fm_counter_f64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_counter_f64_add` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_counter_f64_add_prepared(
    instrument: *const fm_global_counter_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_counter_f64_add_prepared(sync::fm_counter_f64::borrowed(i), value, attributes)
    }
}

/// Creates a global `updown_counter_i64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_updown_counter_i64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_updown_counter_i64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_updown_counter_i64,
) -> fm_status {
    ffi_status! { create_sync::<UpDownCounter<i64>, fm_global_updown_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_i64_release(
    instrument: *mut fm_global_updown_counter_i64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_updown_counter_i64_add` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_i64_add(
    instrument: *const fm_global_updown_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_updown_counter_i64_add(
            sync::fm_updown_counter_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Hot path: like `fm_global_updown_counter_i64_add` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_i64_add_prepared(
    instrument: *const fm_global_updown_counter_i64,
    value: i64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_updown_counter_i64_add_prepared(
            sync::fm_updown_counter_i64::borrowed(i),
            value,
            attributes,
        )
    }
}

/// Creates a global `updown_counter_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_updown_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_updown_counter_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_updown_counter_f64,
) -> fm_status {
    ffi_status! { create_sync::<UpDownCounter<f64>, fm_global_updown_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_f64_release(
    instrument: *mut fm_global_updown_counter_f64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_updown_counter_f64_add` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_f64_add(
    instrument: *const fm_global_updown_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_updown_counter_f64_add(
            sync::fm_updown_counter_f64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Hot path: like `fm_global_updown_counter_f64_add` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_updown_counter_f64_add_prepared(
    instrument: *const fm_global_updown_counter_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_updown_counter_f64_add_prepared(
            sync::fm_updown_counter_f64::borrowed(i),
            value,
            attributes,
        )
    }
}

/// Creates a global `histogram_u64` instrument named `name[0..name_len]` (`options`
/// may be NULL). `options->boundaries` sets the bucket boundaries advice. Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_histogram_u64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_histogram_u64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_histogram_u64,
) -> fm_status {
    ffi_status! { create_sync::<Histogram<u64>, fm_global_histogram_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_histogram_u64_release(instrument: *mut fm_global_histogram_u64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_histogram_u64_record` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_histogram_u64_record(
    instrument: *const fm_global_histogram_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_histogram_u64_record(sync::fm_histogram_u64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_histogram_u64_record` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_histogram_u64_record_prepared(
    instrument: *const fm_global_histogram_u64,
    value: u64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_histogram_u64_record_prepared(
            sync::fm_histogram_u64::borrowed(i),
            value,
            attributes,
        )
    }
}

/// Creates a global `histogram_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). `options->boundaries` sets the bucket boundaries advice. Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_histogram_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_histogram_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_histogram_f64,
) -> fm_status {
    ffi_status! { create_sync::<Histogram<f64>, fm_global_histogram_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_histogram_f64_release(instrument: *mut fm_global_histogram_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_histogram_f64_record` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_histogram_f64_record(
    instrument: *const fm_global_histogram_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_histogram_f64_record(sync::fm_histogram_f64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_histogram_f64_record` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_histogram_f64_record_prepared(
    instrument: *const fm_global_histogram_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_histogram_f64_record_prepared(
            sync::fm_histogram_f64::borrowed(i),
            value,
            attributes,
        )
    }
}

/// Creates a global `gauge_i64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_gauge_i64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_gauge_i64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_gauge_i64,
) -> fm_status {
    ffi_status! { create_sync::<Gauge<i64>, fm_global_gauge_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_gauge_i64_release(instrument: *mut fm_global_gauge_i64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_gauge_i64_record` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_gauge_i64_record(
    instrument: *const fm_global_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_gauge_i64_record(sync::fm_gauge_i64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_gauge_i64_record` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_gauge_i64_record_prepared(
    instrument: *const fm_global_gauge_i64,
    value: i64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_gauge_i64_record_prepared(sync::fm_gauge_i64::borrowed(i), value, attributes)
    }
}

/// Creates a global `gauge_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name,
/// unit, description and boundaries are checked now.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_BOUNDARIES`,
/// `FM_STATUS_INVALID_UTF8` or `FM_STATUS_INVALID_ARGUMENT` (NULL meter/out).
/// Ownership: `*out` is owned by the caller; release with `fm_global_gauge_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_gauge_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_gauge_f64,
) -> fm_status {
    ffi_status! { create_sync::<Gauge<f64>, fm_global_gauge_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice, nor while
/// another thread records through it.
#[no_mangle]
pub extern "C" fn fm_global_gauge_f64_release(instrument: *mut fm_global_gauge_f64) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Hot path: no-op while no provider is set (one atomic load); otherwise
/// `fm_gauge_f64_record` on the provider's instrument (same rules). A NULL
/// instrument is a no-op. Thread safety: any thread, concurrently; never
/// blocks.
#[no_mangle]
pub extern "C" fn fm_global_gauge_f64_record(
    instrument: *const fm_global_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_gauge_f64_record(sync::fm_gauge_f64::borrowed(i), value, attrs, attrs_len)
    }
}

/// Hot path: like `fm_global_gauge_f64_record` with a prepared attribute set
/// (NULL for no attributes).
#[no_mangle]
pub extern "C" fn fm_global_gauge_f64_record_prepared(
    instrument: *const fm_global_gauge_f64,
    value: f64,
    attributes: *const fm_attribute_set,
) {
    if let Some(i) = sync_target(instrument) {
        sync::fm_gauge_f64_record_prepared(sync::fm_gauge_f64::borrowed(i), value, attributes)
    }
}

/// Creates a global `observable_counter_u64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_counter_u64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_counter_u64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_counter_u64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_counter_u64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableCounter<u64>, fm_global_observable_counter_u64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_u64_release(
    instrument: *mut fm_global_observable_counter_u64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_counter_u64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_u64_observe(
    instrument: *const fm_global_observable_counter_u64,
    value: u64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_counter_u64_observe(
            obs::fm_observable_counter_u64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_u64_add_callback(
    instrument: *const fm_global_observable_counter_u64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<u64>, fm_global_observable_counter_u64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_counter_i64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_counter_i64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_counter_i64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_counter_i64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_counter_i64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableCounter<i64>, fm_global_observable_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_i64_release(
    instrument: *mut fm_global_observable_counter_i64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_counter_i64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_i64_observe(
    instrument: *const fm_global_observable_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_counter_i64_observe(
            obs::fm_observable_counter_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_i64_add_callback(
    instrument: *const fm_global_observable_counter_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<i64>, fm_global_observable_counter_i64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_counter_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_counter_f64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_counter_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_counter_f64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableCounter<f64>, fm_global_observable_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_f64_release(
    instrument: *mut fm_global_observable_counter_f64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_counter_f64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_f64_observe(
    instrument: *const fm_global_observable_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_counter_f64_observe(
            obs::fm_observable_counter_f64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_f64_add_callback(
    instrument: *const fm_global_observable_counter_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableCounter<f64>, fm_global_observable_counter_f64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_updown_counter_i64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_updown_counter_i64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_updown_counter_i64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_updown_counter_i64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_updown_counter_i64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableUpDownCounter<i64>, fm_global_observable_updown_counter_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_i64_release(
    instrument: *mut fm_global_observable_updown_counter_i64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_updown_counter_i64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_i64_observe(
    instrument: *const fm_global_observable_updown_counter_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_updown_counter_i64_observe(
            obs::fm_observable_updown_counter_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_i64_add_callback(
    instrument: *const fm_global_observable_updown_counter_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableUpDownCounter<i64>, fm_global_observable_updown_counter_i64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_updown_counter_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_updown_counter_f64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_updown_counter_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_updown_counter_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_updown_counter_f64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableUpDownCounter<f64>, fm_global_observable_updown_counter_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_f64_release(
    instrument: *mut fm_global_observable_updown_counter_f64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_updown_counter_f64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_f64_observe(
    instrument: *const fm_global_observable_updown_counter_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_updown_counter_f64_observe(
            obs::fm_observable_updown_counter_f64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_f64_add_callback(
    instrument: *const fm_global_observable_updown_counter_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableUpDownCounter<f64>, fm_global_observable_updown_counter_f64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_gauge_i64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_gauge_i64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_gauge_i64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_gauge_i64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_gauge_i64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableGauge<i64>, fm_global_observable_gauge_i64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_i64_release(
    instrument: *mut fm_global_observable_gauge_i64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_gauge_i64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_i64_observe(
    instrument: *const fm_global_observable_gauge_i64,
    value: i64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_gauge_i64_observe(
            obs::fm_observable_gauge_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_i64_add_callback(
    instrument: *const fm_global_observable_gauge_i64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableGauge<i64>, fm_global_observable_gauge_i64>(instrument, callback, user_data, out) }
}

/// Creates a global `observable_gauge_f64` instrument named `name[0..name_len]` (`options`
/// may be NULL). Valid before any provider is set; the name, unit and
/// description are checked now. Add callbacks with
/// `fm_global_observable_gauge_f64_add_callback`.
///
/// Returns `FM_STATUS_INVALID_NAME`, `FM_STATUS_INVALID_UNIT`,
/// `FM_STATUS_INVALID_DESCRIPTION`, `FM_STATUS_INVALID_UTF8` or
/// `FM_STATUS_INVALID_ARGUMENT`.
/// Ownership: `*out` is owned by the caller; release with `fm_global_observable_gauge_f64_release`.
#[no_mangle]
pub extern "C" fn fm_global_meter_create_observable_gauge_f64(
    meter: *const fm_global_meter,
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
    out: *mut *mut fm_global_observable_gauge_f64,
) -> fm_status {
    ffi_status! { create_obs::<ObservableGauge<f64>, fm_global_observable_gauge_f64>(meter, name, name_len, options, out) }
}

/// Releases the handle. NULL is fine; must not be called twice. Release
/// its callback registrations first: a callback that observes through a
/// released handle is a use after free.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_f64_release(
    instrument: *mut fm_global_observable_gauge_f64,
) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned handle released once.
        unsafe { release_shared(instrument) }
    }
}

/// Reports the current value of the series `attrs[0..attrs_len]` to the
/// provider set (as `fm_observable_gauge_f64_observe`); call it from the instrument's
/// callbacks. A no-op while no provider is set, and for a NULL instrument.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_f64_observe(
    instrument: *const fm_global_observable_gauge_f64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_gauge_f64_observe(
            obs::fm_observable_gauge_f64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Registers `callback(user_data)`, called once per collection cycle of
/// the provider set (on the collecting thread; never while none is set),
/// in every provider set from now on. It must not throw or unwind, and
/// must not call `fm_global_*` functions other than the `_observe` ones.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` (NULL instrument, callback or out).
/// Ownership: `*out` is owned by the caller; release it with
/// `fm_global_callback_registration_release` (before the instrument) to
/// remove this registration and no other.
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_f64_add_callback(
    instrument: *const fm_global_observable_gauge_f64,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_global_callback_registration,
) -> fm_status {
    ffi_status! { add_callback::<ObservableGauge<f64>, fm_global_observable_gauge_f64>(instrument, callback, user_data, out) }
}

/// Like `fm_global_observable_counter_u64_observe` with a double (as
/// `fm_observable_counter_u64_observe_f64`: rounded; values the type cannot hold are dropped
/// and counted).
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_u64_observe_f64(
    instrument: *const fm_global_observable_counter_u64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_counter_u64_observe_f64(
            obs::fm_observable_counter_u64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Like `fm_global_observable_counter_i64_observe` with a double (as
/// `fm_observable_counter_i64_observe_f64`: rounded; values the type cannot hold are dropped
/// and counted).
#[no_mangle]
pub extern "C" fn fm_global_observable_counter_i64_observe_f64(
    instrument: *const fm_global_observable_counter_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_counter_i64_observe_f64(
            obs::fm_observable_counter_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Like `fm_global_observable_updown_counter_i64_observe` with a double (as
/// `fm_observable_updown_counter_i64_observe_f64`: rounded; values the type cannot hold are dropped
/// and counted).
#[no_mangle]
pub extern "C" fn fm_global_observable_updown_counter_i64_observe_f64(
    instrument: *const fm_global_observable_updown_counter_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_updown_counter_i64_observe_f64(
            obs::fm_observable_updown_counter_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}

/// Like `fm_global_observable_gauge_i64_observe` with a double (as
/// `fm_observable_gauge_i64_observe_f64`: rounded; values the type cannot hold are dropped
/// and counted).
#[no_mangle]
pub extern "C" fn fm_global_observable_gauge_i64_observe_f64(
    instrument: *const fm_global_observable_gauge_i64,
    value: f64,
    attrs: *const fm_attribute,
    attrs_len: usize,
) {
    if let Some(i) = obs_target(instrument) {
        obs::fm_observable_gauge_i64_observe_f64(
            obs::fm_observable_gauge_i64::borrowed(i),
            value,
            attrs,
            attrs_len,
        )
    }
}
