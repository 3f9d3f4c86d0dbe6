//! Synchronisation primitives used by the lock-free parts of the engine.
//!
//! Under `--cfg loom` these resolve to loom's model-checked types so that the
//! loom models in `storage::loom_models` explore every interleaving of the
//! cells, the series map and the reclamation protocol. Everything else uses
//! `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

pub(crate) use std::sync::atomic::Ordering;

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
