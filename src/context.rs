//! The per-thread context of the recording path, and the reclamation
//! domain it belongs to: each recording thread's slot holds its pin (the
//! read side of memory reclamation), its stripe index for contended sums
//! and its attribute hash memo. A leaf: storage reclaims through it,
//! aggregations take their stripe from it, instruments their owner slot.
//!
//! Memory reclamation for the lock-free series maps:
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

use crate::attributes::HashMemo;
use crate::sync::{fence, lock_model_checked, AtomicBool, AtomicU64, ModelCheckedMutex, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::atomic::compiler_fence;
use std::sync::Arc;

/// One thread's pin counter: odd while the thread is inside a read section.
#[derive(Default)]
pub(crate) struct ThreadSlot {
    seq: CachePadded<AtomicU64>,
    /// Whether the domain used asymmetric fences when this slot registered
    /// (fixed for the life of the domain once enabled).
    pub(crate) light: bool,
    /// The thread's stripe of contended sums (see `aggregation::sum`),
    /// given round-robin at registration. (The loom stand-in for the
    /// global domain does not hand it out.)
    pub(crate) stripe: usize,
    /// The thread's memo of attribute hashes, here because the recording
    /// path already holds the slot (a second thread-local costs a
    /// `__tls_get_addr` call per recording in the shared library). (The
    /// loom stand-in does not lend it: the models check the map.)
    pub(crate) memo: HashMemo,
    /// The thread's block of per-thread sums (`thread_sums`), taken when
    /// the thread's slot is made (null when none could be had, and for
    /// the loom stand-in and short-lived slots); given back at thread
    /// exit.
    pub(crate) sums: std::sync::atomic::AtomicPtr<crate::thread_sums::Block>,
}

impl ThreadSlot {
    /// How many read sections this thread completed: its count of
    /// recording calls, read by the owner thread only.
    #[inline(always)]
    pub(crate) fn pins(&self) -> u64 {
        self.seq.load(Ordering::Relaxed) >> 1
    }

    /// Runs `f` inside a read section. Re-entrant: a nested pin is free.
    /// `f` is called from one place, so that it can be inlined here (with
    /// a second call for the nested case, the recording path's body was
    /// compiled out of line).
    #[inline(always)]
    pub(crate) fn pin<R>(&self, light: bool, f: impl FnOnce() -> R) -> R {
        let v = self.seq.load(Ordering::Relaxed);
        let outer = v & 1 == 0;
        if outer {
            // Release, not Relaxed: a reclaimer that saw this slot odd
            // (previous section) and now reads this store must also be
            // ordered after that section's reads. The Release store that
            // ended it does not cover a later plain store (release
            // sequences only extend through RMWs). Same instruction as
            // Relaxed on x86.
            self.seq.store(v + 1, Ordering::Release);
            if light {
                compiler_fence(Ordering::SeqCst);
            } else {
                fence(Ordering::SeqCst);
            }
        }
        let r = f();
        if outer {
            self.seq.store(v + 2, Ordering::Release);
        }
        r
    }
}

/// The next thread slot's stripe.
static NEXT_STRIPE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A set of thread slots plus the fence strategy.
pub(crate) struct Domain {
    slots: ModelCheckedMutex<Vec<Arc<ThreadSlot>>>,
    membarrier: AtomicBool,
}

impl Domain {
    pub(crate) fn new() -> Self {
        Domain {
            slots: ModelCheckedMutex::new(Vec::new()),
            membarrier: AtomicBool::new(false),
        }
    }

    /// Registers a new thread slot.
    pub(crate) fn register(&self) -> Arc<ThreadSlot> {
        let s = Arc::new(ThreadSlot {
            seq: CachePadded::new(AtomicU64::new(0)),
            light: self.membarrier.load(Ordering::Acquire),
            stripe: NEXT_STRIPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            memo: HashMemo::default(),
            sums: Default::default(),
        });
        lock_model_checked(&self.slots).push(s.clone());
        s
    }

    /// Forgets a slot (its thread ended). The slot must be even.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn unregister(&self, slot: &Arc<ThreadSlot>) {
        lock_model_checked(&self.slots).retain(|s| !Arc::ptr_eq(s, slot));
    }

    #[inline]
    #[cfg_attr(loom, allow(dead_code))]
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
        let slots: Vec<Arc<ThreadSlot>> = lock_model_checked(&self.slots).clone();
        for s in &slots {
            let v = s.seq.load(Ordering::Acquire);
            if v & 1 == 0 {
                continue;
            }
            let mut spins = 0u32;
            while s.seq.load(Ordering::Acquire) == v {
                spins += 1;
                if spins > MAX_SPINS {
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
            let r = unsafe {
                libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)
            };
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
                libc::syscall(
                    libc::SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                    0,
                    0,
                )
            };
            if r == 0 {
                self.membarrier.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// How long `synchronize` waits for one pinned thread before giving up.
/// Tiny under loom, so that the models also explore the give-up path.
const MAX_SPINS: u32 = if cfg!(loom) { 2 } else { 10_000 };

#[cfg(all(target_os = "linux", not(loom)))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 8;
#[cfg(all(target_os = "linux", not(loom)))]
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
            fast::set(std::ptr::null());
            // The thread adds to its block no more: its values stay, for
            // the next thread that takes it over.
            let b = self.0.sums.swap(std::ptr::null_mut(), Ordering::Relaxed);
            if !b.is_null() {
                crate::thread_sums::global().release(b);
            }
            domain().unregister(&self.0);
        }
    }

    impl LocalSlot {
        /// The thread's slot, with its block of per-thread sums taken now
        /// (made, or an ended thread's): a thread's first recording is
        /// where it allocates, once, not its first add to a keyed series.
        fn new() -> Self {
            let slot = domain().register();
            if let Some(b) = crate::thread_sums::global().acquire() {
                slot.sums.store(b as *mut _, Ordering::Relaxed);
            }
            LocalSlot(slot)
        }
    }

    thread_local! {
        // Owns the slot and unregisters it at thread exit.
        static OWNER: LocalSlot = LocalSlot::new();
    }

    /// This thread's slot pointer (null until the first pin, and again
    /// once the thread's TLS destructors ran): the hot path's only
    /// thread-local.
    ///
    /// On x86-64 Linux it is an initial-exec TLS variable, read with one
    /// `mov` from `%fs`: a `thread_local!` in a shared library is reached
    /// through a `__tls_get_addr` call (about 20 instructions) on every
    /// recording, and stable Rust cannot choose the TLS model. The
    /// variable is defined in assembly, hidden (one per copy of the
    /// library). A shared library using it is marked static-TLS: its whole
    /// TLS block (264 bytes, with std's thread-locals) is allocated with
    /// each thread; at dlopen the loader takes it from its reserve
    /// (glibc's `rtld.optional_static_tls`, 512 bytes by default, shared
    /// with other libraries loaded that way). Executables linking the
    /// static library get the local-exec form from the linker.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    mod fast {
        use super::ThreadSlot;

        std::arch::global_asm!(
            ".pushsection .tbss.ferrometer_fast_slot,\"awT\",@nobits",
            ".p2align 3",
            ".globl ferrometer_fast_slot",
            ".hidden ferrometer_fast_slot",
            ".type ferrometer_fast_slot,@tls_object",
            ".size ferrometer_fast_slot,8",
            "ferrometer_fast_slot:",
            ".zero 8",
            ".popsection",
        );

        #[inline(always)]
        pub(super) fn get() -> *const ThreadSlot {
            let p: *const ThreadSlot;
            // SAFETY: reads this thread's 8-byte TLS variable, defined above.
            unsafe {
                std::arch::asm!(
                    "mov {p}, qword ptr [rip + ferrometer_fast_slot@GOTTPOFF]",
                    "mov {p}, qword ptr fs:[{p}]",
                    p = out(reg) p,
                    options(nostack, preserves_flags, readonly, pure),
                );
            }
            p
        }

        #[inline]
        pub(super) fn set(v: *const ThreadSlot) {
            // SAFETY: writes this thread's 8-byte TLS variable, defined above.
            unsafe {
                std::arch::asm!(
                    "mov {t}, qword ptr [rip + ferrometer_fast_slot@GOTTPOFF]",
                    "mov qword ptr fs:[{t}], {v}",
                    t = out(reg) _,
                    v = in(reg) v,
                    options(nostack, preserves_flags),
                );
            }
        }
    }

    /// Elsewhere: a const-initialized `thread_local!` without destructor.
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    mod fast {
        use super::ThreadSlot;
        use std::cell::Cell;

        thread_local! {
            static FAST: Cell<*const ThreadSlot> = const { Cell::new(std::ptr::null()) };
        }

        #[inline(always)]
        pub(super) fn get() -> *const ThreadSlot {
            FAST.with(|c| c.get())
        }

        #[inline]
        pub(super) fn set(v: *const ThreadSlot) {
            FAST.with(|c| c.set(v))
        }
    }

    /// Runs `f` pinned in the global domain.
    #[inline(always)]
    pub(crate) fn pin<R>(f: impl FnOnce() -> R) -> R {
        pin_in(thread_slot(), f)
    }

    /// [`pin`] with the slot [`thread_slot`] returned earlier in the same
    /// call (one thread-local read instead of two).
    #[inline(always)]
    pub(crate) fn pin_in<R>(slot: Option<&ThreadSlot>, f: impl FnOnce() -> R) -> R {
        match slot {
            Some(slot) => slot.pin(slot.light, f),
            None => pin_slow(f),
        }
    }

    /// This thread's slot, once it has one (it pinned before). Its memo is
    /// read without pinning: the memo belongs to the thread and its
    /// entries are only hints. The reference must not outlive the call
    /// that asked for it (the slot lives until the thread's TLS
    /// destructors run).
    #[inline(always)]
    pub(crate) fn thread_slot<'a>() -> Option<&'a ThreadSlot> {
        let p = fast::get();
        // SAFETY: the fast pointer points into OWNER's Arc, which lives
        // until this thread's TLS destructors run (they reset it first);
        // the caller keeps the reference for one call on this thread.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    // Never inlined: its thread-local accesses would otherwise make every
    // caller compute the module's TLS base (`__tls_get_addr` in a shared
    // library) up front, even when the fast pointer is set.
    #[cold]
    #[inline(never)]
    fn pin_slow<R>(f: impl FnOnce() -> R) -> R {
        let d = domain();
        let mut f = Some(f);
        let r = OWNER.try_with(|s| {
            fast::set(Arc::as_ptr(&s.0));
            s.0.pin(d.light(), || (f.take().expect("pin body"))())
        });
        match r {
            Ok(r) => r,
            Err(_) => {
                // TLS already destroyed (recording from a thread-exit hook).
                let slot = d.register();
                let r = slot.pin(false, || (f.take().expect("pin body"))());
                d.unregister(&slot);
                r
            }
        }
    }
}

#[cfg(not(loom))]
pub(crate) use global::{domain, pin, pin_in, thread_slot};

/// Loom stand-in for the global domain: one domain per model execution and
/// one slot per loom thread, always with full fences (no membarrier). The
/// models themselves use test-local domains; this only keeps the stream code
/// compiling (and correct) under `--cfg loom`.
#[cfg(loom)]
mod global {
    use super::*;

    loom::lazy_static! {
        static ref GLOBAL: Domain = Domain::new();
    }

    loom::thread_local! {
        static LOCAL: Arc<ThreadSlot> = domain().register();
    }

    pub(crate) fn domain() -> &'static Domain {
        &GLOBAL
    }

    pub(crate) fn pin<R>(f: impl FnOnce() -> R) -> R {
        // `light` is always false here: membarrier is never enabled under loom.
        LOCAL.with(|s| s.pin(s.light, f))
    }

    /// No slot before pinning under loom, so no memo: the models check
    /// the map, not the hint.
    pub(crate) fn thread_slot<'a>() -> Option<&'a ThreadSlot> {
        None
    }

    pub(crate) fn pin_in<R>(_slot: Option<&ThreadSlot>, f: impl FnOnce() -> R) -> R {
        pin(f)
    }
}

#[cfg(loom)]
pub(crate) use global::{domain, pin, pin_in, thread_slot};

/// This thread's stripe, once it has a slot (it pinned before; never
/// under loom).
#[inline(always)]
pub(crate) fn thread_stripe() -> Option<usize> {
    thread_slot().map(|s| s.stripe)
}

/// The address of this thread's slot (0 before its first pin, and always
/// under loom): which thread is calling, in one `mov`. Only a hint: a
/// thread that ended may leave its address to a new one.
#[inline(always)]
pub(crate) fn slot_addr() -> usize {
    thread_slot().map_or(0, |s| s as *const ThreadSlot as usize)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// The hot path's thread-local slot pointer (an initial-exec TLS
    /// variable on x86-64 Linux): unset in a new thread, set by its first
    /// pin, one per thread, and the slot stays registered and pinnable
    /// while the thread lives.
    #[test]
    fn each_thread_gets_its_own_slot_on_first_pin() {
        let n = 4;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    assert_eq!(thread_stripe(), None, "no slot before the first pin");
                    assert!(thread_slot().is_none(), "no slot before the first pin");
                    let stripe = pin(thread_stripe).expect("a slot after the first pin");
                    let slot = thread_slot().map(|s| s as *const ThreadSlot as usize);
                    let slot = slot.expect("a slot after the first pin");
                    // All threads alive at once: their slots must differ.
                    barrier.wait();
                    assert_eq!(pin(thread_stripe), Some(stripe));
                    assert_eq!(
                        thread_slot().map(|s| s as *const ThreadSlot as usize),
                        Some(slot)
                    );
                    (stripe, slot)
                })
            })
            .collect();
        let mut seen: Vec<(usize, usize)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        seen.sort();
        seen.dedup_by(|a, b| a.0 == b.0 || a.1 == b.1);
        assert_eq!(seen.len(), n, "stripes and slots are per thread");
    }
}
