//! The panic boundary: every exported body runs inside [`ffi_boundary!`],
//! which catches unwinding and returns the function's fallback value.

use super::status::{fm_status, set_last_error};
use std::any::Any;

/// What an exported function returns when its body panicked.
pub(crate) trait PanicFallback {
    /// The value returned instead of unwinding into C.
    fn fallback() -> Self;
}

impl PanicFallback for () {
    fn fallback() -> Self {}
}
impl PanicFallback for fm_status {
    fn fallback() -> Self {
        fm_status::Panic
    }
}
impl PanicFallback for bool {
    fn fallback() -> Self {
        false
    }
}
impl PanicFallback for usize {
    fn fallback() -> Self {
        0
    }
}
impl PanicFallback for u64 {
    fn fallback() -> Self {
        0
    }
}
impl PanicFallback for u32 {
    fn fallback() -> Self {
        0
    }
}
impl PanicFallback for i32 {
    fn fallback() -> Self {
        0
    }
}
impl PanicFallback for i64 {
    fn fallback() -> Self {
        0
    }
}
impl PanicFallback for f64 {
    fn fallback() -> Self {
        f64::NAN
    }
}
impl<T> PanicFallback for *const T {
    fn fallback() -> Self {
        std::ptr::null()
    }
}
impl<T> PanicFallback for *mut T {
    fn fallback() -> Self {
        std::ptr::null_mut()
    }
}
impl PanicFallback for super::handle::fm_str {
    fn fallback() -> Self {
        super::handle::fm_str::EMPTY
    }
}

/// Records the panic as the thread's last error and returns the fallback.
#[cold]
pub(crate) fn on_panic<T: PanicFallback>(payload: Box<dyn Any + Send>) -> T {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into());
    set_last_error(format_args!(
        "internal panic caught at the C boundary: {msg}"
    ));
    T::fallback()
}

/// Runs the body (a block that may `return`) and converts a panic into the
/// return type's [`PanicFallback`].
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(v) => v,
            Err(p) => $crate::ffi::panic::on_panic(p),
        }
    };
}

/// [`ffi_boundary!`] for fallible calls: the body evaluates to
/// `Result<(), fm_status>` (so `?` works) and the function returns the status.
macro_rules! ffi_status {
    ($($body:tt)*) => {
        ffi_boundary! {
            // The closure gives the body its own `return` and `?` scope.
            #[allow(clippy::redundant_closure_call)]
            let r: ::std::result::Result<(), $crate::ffi::status::fm_status> = (|| { $($body)* })();
            match r {
                Ok(()) => $crate::ffi::status::fm_status::Ok,
                Err(s) => s,
            }
        }
    };
}
