//! Synchronisation primitives used by the lock-free parts of the engine.
//!
//! Under `--cfg loom` these resolve to loom's model-checked types so that the
//! loom models in `storage::loom_models` explore every interleaving of the
//! cells, the series map and the reclamation protocol. Everything else uses
//! `std` directly.
//!
//! [`ModelCheckedMutex`] is the lock inside the lock-free structures (the
//! series map's writer lock, the reclamation domain's slot list): loom's,
//! so model-checked, under `--cfg loom`. [`Mutex`] is always `std`'s: it
//! guards plain bookkeeping (meters, stream state) that the models do not
//! exercise and that is shared with code locking it as a
//! `std::sync::Mutex`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex as ModelCheckedMutex, MutexGuard as ModelCheckedMutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex as ModelCheckedMutex;

pub(crate) use std::sync::atomic::Ordering;
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a previous holder panicked.
///
/// A poisoned lock must never turn into a panic on a recording or collecting
/// thread: the protected state is always left consistent by its writers.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// [`lock`] for an [`ModelCheckedMutex`] (the same function without loom).
#[cfg(not(loom))]
pub(crate) use self::lock as lock_model_checked;

/// [`lock`] for an [`ModelCheckedMutex`] (the same function without loom).
#[cfg(loom)]
pub(crate) fn lock_model_checked<T>(m: &ModelCheckedMutex<T>) -> ModelCheckedMutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Runs `f` under loom for the `loom_` models, bounding preemptions at 2
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise, and reports the executions
/// explored (`--nocapture` shows them).
#[cfg(all(test, loom))]
#[track_caller]
pub(crate) fn loom_model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model at {}: {} executions",
        std::panic::Location::caller(),
        runs.load(Ordering::Relaxed)
    );
}
