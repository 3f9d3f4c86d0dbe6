//! CPU hints shared by the collection-side walks.

/// Hints the CPU to load the cache line holding `p`. A prefetch never
/// faults, whatever the address (null and tombstone pointers included),
/// and is a no-op off x86_64 and under loom.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        #[allow(unused_unsafe)]
        // SAFETY: prefetch is a hint; it never dereferences architecturally
        // and is defined for any address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        };
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}
