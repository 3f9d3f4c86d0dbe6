//! Collection-cycle callbacks: C function pointers with a `void *user_data`,
//! each owned by a registration handle that guarantees that, once
//! released, the callback is neither running nor called again.
//! `fm_meter_register_callback` and the observable instruments'
//! `_add_callback` functions hand them out.

use super::handle::Handle;
use crate::{CallbackRegistration, Meter};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A collection-cycle callback: called with the `user_data` given at
/// registration. Must not throw or unwind.
pub type fm_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A registered callback. Owned by the caller: releasing it with
/// `fm_callback_registration_release` unregisters the callback.
pub struct fm_callback_registration {
    _private: [u8; 0],
}

/// A callback as C gives it (`fm_callback` without the NULL case).
pub(crate) type CallbackFn = unsafe extern "C" fn(*mut c_void);

/// What a registration and the provider's closure share.
struct CallbackState {
    /// The callback and its user data; None once unregistered. Read-locked
    /// while the callback runs, so unregistering waits for a running call.
    callback: RwLock<Option<(CallbackFn, usize)>>,
    /// Set when unregistered, also from inside a callback, where the
    /// write lock cannot be taken: the closure then calls nothing.
    disabled: AtomicBool,
}

thread_local! {
    /// Depth of C callbacks running on this thread.
    static CALLBACK_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Owns one registered callback; dropping it unregisters.
pub(crate) struct Registration {
    registration: CallbackRegistration,
    state: Arc<CallbackState>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registration.unregister();
        self.state.disabled.store(true, Ordering::Release);
        if CALLBACK_DEPTH.with(|d| d.get()) == 0 {
            // Wait for a call in progress on another thread, then forget
            // the pointer: user_data may be freed after this returns.
            *self
                .state
                .callback
                .write()
                .unwrap_or_else(|p| p.into_inner()) = None;
        }
        // Inside a callback (its own or another of the same provider's
        // cycle: collections of one provider run their callbacks on one
        // thread at a time), nothing else can be running this callback,
        // and `disabled` keeps it from being called again.
    }
}

/// Registers `f(user_data)` with the meter's provider.
pub(crate) fn register(meter: &Meter, f: CallbackFn, user_data: *mut c_void) -> Registration {
    let state = Arc::new(CallbackState {
        callback: RwLock::new(Some((f, user_data as usize))),
        disabled: AtomicBool::new(false),
    });
    let shared = state.clone();
    let registration = meter.register_callback(move || {
        let guard = shared.callback.read().unwrap_or_else(|p| p.into_inner());
        if shared.disabled.load(Ordering::Acquire) {
            return;
        }
        if let Some((f, user_data)) = *guard {
            CALLBACK_DEPTH.with(|d| d.set(d.get() + 1));
            // SAFETY: the registrant promised `f` is callable with its
            // `user_data` until the registration is released, which waits
            // for this read lock to be dropped.
            unsafe { f(user_data as *mut c_void) };
            CALLBACK_DEPTH.with(|d| d.set(d.get() - 1));
        }
    });
    Registration {
        registration,
        state,
    }
}

handle_types! {
    fm_callback_registration => Registration;
}

/// Unregisters and frees a callback registration. NULL is fine; must not
/// be called twice.
///
/// Outside a callback, it waits for a call in progress: once it returns,
/// the callback is not running and never runs again, so its `user_data`
/// may be freed. Inside a callback it returns at once, and may release
/// the running callback's own registration or another registration of the
/// same provider: the released callback is not called again, not even
/// later in the same collection (free the running callback's `user_data`
/// only after it returns). Inside a callback, do not release a
/// registration of another provider.
#[no_mangle]
pub extern "C" fn fm_callback_registration_release(registration: *mut fm_callback_registration) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned registration released once.
        unsafe { fm_callback_registration::free(registration) }
    }
}
