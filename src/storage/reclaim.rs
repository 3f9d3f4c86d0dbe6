//! Memory reclamation for the lock-free series maps.
//!
//! Recording threads read series and tables through raw pointers without
//! taking a lock. When a series is removed (explicit removal, delta
//! eviction) or a table is replaced by a larger one, its memory may only be
//! freed once no recording thread can still hold the pointer.
//!
//! Each thread owns a padded sequence counter in a [`Domain`]. A recording
//! thread makes it odd before it reads a table and even after it is done
//! (a "pin"). The reclaimer unlinks the object, issues a heavy fence, and
//! frees the object only after every counter that was odd has changed.
//!
//! The fences are asymmetric on Linux: the reclaimer calls
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which executes a full
//! barrier on every CPU running this process, so the recording side needs
//! only a compiler fence. Where membarrier is unavailable (and under loom)
//! both sides use `fence(SeqCst)`, the textbook symmetric protocol.

use crate::sync::{fence, lock, AtomicBool, AtomicU64, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::atomic::compiler_fence;
use std::sync::Arc;

/// One thread's pin counter: odd while the thread is inside a read section.
#[derive(Default)]
pub(crate) struct ThreadSlot {
    seq: CachePadded<AtomicU64>,
}

impl ThreadSlot {
    /// Runs `f` inside a read section. Re-entrant: a nested pin is free.
    #[inline]
    pub(crate) fn pin<R>(&self, light: bool, f: impl FnOnce() -> R) -> R {
        let v = self.seq.load(Ordering::Relaxed);
        if v & 1 == 1 {
            return f();
        }
        self.seq.store(v + 1, Ordering::Relaxed);
        if light {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
        let r = f();
        self.seq.store(v + 2, Ordering::Release);
        r
    }
}

/// A set of thread slots plus the fence strategy.
pub(crate) struct Domain {
    slots: Mutex<Vec<Arc<ThreadSlot>>>,
    membarrier: AtomicBool,
}

impl Domain {
    pub(crate) fn new() -> Self {
        Domain {
            slots: Mutex::new(Vec::new()),
            membarrier: AtomicBool::new(false),
        }
    }

    /// Registers a new thread slot.
    pub(crate) fn register(&self) -> Arc<ThreadSlot> {
        let s = Arc::new(ThreadSlot::default());
        lock(&self.slots).push(s.clone());
        s
    }

    /// Forgets a slot (its thread ended). The slot must be even.
    pub(crate) fn unregister(&self, slot: &Arc<ThreadSlot>) {
        lock(&self.slots).retain(|s| !Arc::ptr_eq(s, slot));
    }

    #[inline]
    pub(crate) fn light(&self) -> bool {
        self.membarrier.load(Ordering::Relaxed)
    }

    /// Waits until every thread that might hold a pointer unlinked before
    /// this call has left its read section. Returns false when a thread stays
    /// pinned for too long (it was preempted mid-operation); the caller keeps
    /// the garbage and retries at its next opportunity, so reclamation never
    /// blocks for long.
    pub(crate) fn synchronize(&self) -> bool {
        self.heavy_fence();
        let slots: Vec<Arc<ThreadSlot>> = lock(&self.slots).clone();
        for s in &slots {
            let v = s.seq.load(Ordering::Acquire);
            if v & 1 == 0 {
                continue;
            }
            let mut spins = 0u32;
            while s.seq.load(Ordering::Acquire) == v {
                spins += 1;
                if spins > 10_000 {
                    return false;
                }
                #[cfg(loom)]
                loom::thread::yield_now();
                #[cfg(not(loom))]
                std::thread::yield_now();
            }
        }
        true
    }

    fn heavy_fence(&self) {
        #[cfg(all(target_os = "linux", not(loom)))]
        if self.membarrier.load(Ordering::Relaxed) {
            // SAFETY: membarrier takes plain integer arguments; this command
            // was registered for the process in `enable_membarrier`.
            let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
            if r == 0 {
                return;
            }
        }
        fence(Ordering::SeqCst);
    }

    /// Switches the domain to asymmetric fences when the kernel supports it.
    #[cfg(not(loom))]
    fn enable_membarrier(&self) {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: as above, integer-only syscall.
            let r = unsafe {
                libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)
            };
            if r == 0 {
                self.membarrier.store(true, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(target_os = "linux")]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 8;
#[cfg(target_os = "linux")]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 16;

#[cfg(not(loom))]
mod global {
    use super::*;
    use std::sync::OnceLock;

    static GLOBAL: OnceLock<Domain> = OnceLock::new();

    pub(crate) fn domain() -> &'static Domain {
        GLOBAL.get_or_init(|| {
            let d = Domain::new();
            d.enable_membarrier();
            d
        })
    }

    struct LocalSlot(Arc<ThreadSlot>);

    impl Drop for LocalSlot {
        fn drop(&mut self) {
            domain().unregister(&self.0);
        }
    }

    thread_local! {
        static LOCAL: LocalSlot = LocalSlot(domain().register());
    }

    /// Runs `f` pinned in the global domain. After thread exit (TLS
    /// destroyed) falls back to a full-fence pin on a temporary slot.
    #[inline]
    pub(crate) fn pin<R>(f: impl FnOnce() -> R) -> R {
        let d = domain();
        let light = d.light();
        let mut f = Some(f);
        let r = LOCAL.try_with(|s| s.0.pin(light, || (f.take().expect("pin body"))()));
        match r {
            Ok(r) => r,
            Err(_) => {
                let slot = d.register();
                let r = slot.pin(false, || (f.take().expect("pin body"))());
                d.unregister(&slot);
                r
            }
        }
    }
}

#[cfg(not(loom))]
pub(crate) use global::{domain, pin};
