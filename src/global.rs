//! The global meter provider: instrumentation written before (or without)
//! the SDK's configuration, as opentelemetry-cpp's
//! `Provider::GetMeterProvider()` and OpenTelemetry Go's global package.
//!
//! A library asks the global provider for meters and instruments at any
//! time; the host sets the provider later (or never). Each global
//! instrument is a [`Delegate`] registered here and holds a [`Slot`]: the
//! instrument of the provider currently set, or nothing.
//!
//! - Before a provider is set, a measurement loads the slot, finds it
//!   empty and returns: one load and one branch, no lock.
//! - [`set_meter_provider`] walks every live delegate under the registry
//!   lock and points its slot at an instrument of the new provider (created
//!   there with the global instrument's scope, name, unit, description and
//!   advice). A measurement that starts after the set returns finds the new
//!   instrument: nothing recorded after the set is lost.
//! - Setting again retargets every global instrument to the new provider
//!   (`None` makes them no-ops again). The instruments of the previous
//!   provider are kept, not freed, until the global instrument is released:
//!   a thread still recording through one never touches freed memory, and
//!   the recording path needs no reclamation scheme. The cost is one
//!   instrument handle per global instrument per set, which a host that
//!   sets the provider a few times never notices.
//! - The registry holds no provider handle: the provider shuts down when
//!   the host releases its last handle, as it would without the global;
//!   global instruments then count their measurements as after-shutdown in
//!   it until the next set.
//!
//! Dependency rule: this module knows the provider and meters; the
//! recording path of ordinary instruments knows nothing of it.

use crate::provider::{MeterProvider, MeterSource};
use crate::sync::{lock, AtomicPtr, Mutex, Ordering};
use std::sync::{Arc, Weak};

/// A global instrument: re-created in each provider that is set.
pub(crate) trait Delegate: Send + Sync {
    /// Points the instrument at `provider`'s twin of it (`None`: no-op).
    /// Called with the registry locked: it must not call back into this
    /// module.
    fn delegate_to(&self, provider: Option<&MeterSource>);
}

struct Registry {
    provider: Option<MeterSource>,
    delegates: Vec<Weak<dyn Delegate>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    provider: None,
    delegates: Vec::new(),
});

/// Sets (`Some`) or clears (`None`) the global provider and retargets every
/// live global instrument. Returns whether a provider was set before.
/// Setting the provider that is already set changes nothing.
pub(crate) fn set_meter_provider(provider: Option<&MeterProvider>) -> bool {
    let source = provider.map(MeterProvider::meter_source);
    let mut r = lock(&REGISTRY);
    let was_set = r.provider.is_some();
    if let (Some(old), Some(new)) = (&r.provider, &source) {
        if old.same_provider(new) {
            return true;
        }
    }
    r.provider = source;
    r.delegates.retain(|d| d.strong_count() > 0);
    let live: Vec<Arc<dyn Delegate>> = r.delegates.iter().filter_map(Weak::upgrade).collect();
    for d in &live {
        d.delegate_to(r.provider.as_ref());
    }
    drop(r);
    // The last handle of a delegate released during the walk is dropped
    // here, outside the registry lock.
    drop(live);
    was_set
}

/// True while a provider is set.
pub(crate) fn meter_provider_is_set() -> bool {
    lock(&REGISTRY).provider.is_some()
}

/// Registers a new global instrument and points it at the provider set
/// now, if any.
pub(crate) fn register(d: Arc<dyn Delegate>) {
    let mut r = lock(&REGISTRY);
    d.delegate_to(r.provider.as_ref());
    r.delegates.retain(|d| d.strong_count() > 0);
    r.delegates.push(Arc::downgrade(&d));
}

/// The current target of a global instrument: read without a lock, changed
/// only under the registry lock. Every value ever stored stays allocated
/// until the slot is dropped, so a reference read from it is valid as long
/// as the slot is.
pub(crate) struct Slot<T> {
    current: AtomicPtr<T>,
    kept: Mutex<Vec<Box<T>>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            current: AtomicPtr::new(std::ptr::null_mut()),
            kept: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Slot<T> {
    /// The current target; `None` before a provider is set.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: `p` is NULL or points into a Box held in `kept`, which
        // only grows while `self` lives (see `set`), so it outlives the
        // returned reference, which borrows `self`. The Release store in
        // `set` published the value before its address.
        unsafe { p.as_ref() }
    }

    /// Makes `v` the target (`None`: no target). The previous target stays
    /// allocated for threads that may still be using it.
    pub(crate) fn set(&self, v: Option<T>) {
        let p = match v {
            None => std::ptr::null_mut(),
            Some(v) => {
                let mut kept = lock(&self.kept);
                let b = Box::new(v);
                let p = (&*b as *const T).cast_mut();
                kept.push(b);
                p
            }
        };
        self.current.store(p, Ordering::Release);
    }

    /// Every target ever set, the current one last (when one is set).
    #[cfg(test)]
    fn kept_len(&self) -> usize {
        lock(&self.kept).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keeps_earlier_targets_alive() {
        let s = Slot::default();
        assert!(s.get().is_none());
        s.set(Some(String::from("first")));
        let first: *const String = s.get().unwrap();
        s.set(Some(String::from("second")));
        assert_eq!(s.get().map(String::as_str), Some("second"));
        // The first target is still allocated and unchanged.
        // SAFETY: `kept` holds it until `s` is dropped.
        assert_eq!(unsafe { &*first }, "first");
        s.set(None);
        assert!(s.get().is_none());
        assert_eq!(s.kept_len(), 2);
    }
}
