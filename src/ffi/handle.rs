//! Handle plumbing: opaque C types mapped to Rust types, NULL checks,
//! borrowed strings and out-parameters.

use super::status::{fail, fm_status};
use std::ffi::c_char;

/// A borrowed UTF-8 string: pointer and byte length (no NUL terminator
/// required). `{NULL, 0}` is the empty string.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fm_str {
    /// First byte, or NULL when `len` is 0.
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

impl fm_str {
    pub(crate) const EMPTY: fm_str = fm_str {
        ptr: c"".as_ptr(),
        len: 0,
    };

    /// A view of a Rust string (borrowed: valid as long as `s`).
    pub(crate) fn from_str(s: &str) -> fm_str {
        if s.is_empty() {
            return fm_str::EMPTY;
        }
        fm_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }
}

/// Maps an opaque C handle type to the Rust value it points to.
///
/// Owned handles are `Box<Rust>` turned into raw pointers; borrowed handles
/// (snapshot walking) point into a value owned by another handle.
pub(crate) trait Handle: Sized {
    /// The Rust type behind the handle.
    type Rust;

    /// Moves `v` to the heap and hands ownership to the caller.
    fn into_raw(v: Self::Rust) -> *mut Self {
        Box::into_raw(Box::new(v)).cast()
    }

    /// A borrowed handle to a value owned elsewhere.
    fn borrowed(v: &Self::Rust) -> *const Self {
        (v as *const Self::Rust).cast()
    }

    /// The value behind a handle, or None for NULL.
    ///
    /// # Safety
    /// `p` is NULL or was produced by [`Handle::into_raw`]/[`Handle::borrowed`]
    /// for this type and is still alive (the C contract of every function).
    unsafe fn get<'a>(p: *const Self) -> Option<&'a Self::Rust> {
        // SAFETY: per this function's contract, a non-NULL `p` points to a
        // live `Self::Rust` (the handle types are only ever created by cast).
        unsafe { p.cast::<Self::Rust>().as_ref() }
    }

    /// Frees an owned handle; NULL is ignored.
    ///
    /// # Safety
    /// `p` is NULL or came from [`Handle::into_raw`] and is not used again.
    unsafe fn free(p: *mut Self) {
        if !p.is_null() {
            // SAFETY: per this function's contract, `p` came from
            // `Box::into_raw` of a `Box<Self::Rust>` and is freed once.
            drop(unsafe { Box::from_raw(p.cast::<Self::Rust>()) });
        }
    }
}

/// Declares the Rust type behind opaque handle types.
macro_rules! handle_types {
    ($($c:ty => $r:ty;)*) => {
        $(impl $crate::ffi::handle::Handle for $c { type Rust = $r; })*
    };
}

/// The value behind a required handle argument, or `INVALID_ARGUMENT`.
pub(crate) fn arg<'a, H: Handle>(p: *const H, what: &str) -> Result<&'a H::Rust, fm_status> {
    // SAFETY: the C contract of every exported function: a handle argument is
    // NULL or a live handle of its declared type.
    match unsafe { H::get(p) } {
        Some(v) => Ok(v),
        None => Err(fail(
            fm_status::InvalidArgument,
            format_args!("{what} is NULL"),
        )),
    }
}

/// The value behind a required handle argument the call may change, or
/// `INVALID_ARGUMENT` for NULL.
pub(crate) fn arg_mut<'a, H: Handle>(p: *mut H, what: &str) -> Result<&'a mut H::Rust, fm_status> {
    // SAFETY: the C contract of every exported function: a handle argument
    // is NULL or a live handle of its declared type, used by one thread at
    // a time, so this is the only reference for the call.
    match unsafe { p.cast::<H::Rust>().as_mut() } {
        Some(v) => Ok(v),
        None => Err(fail(
            fm_status::InvalidArgument,
            format_args!("{what} is NULL"),
        )),
    }
}

/// Checks that an out-parameter is not NULL.
pub(crate) fn out_arg<T>(p: *mut T, what: &str) -> Result<(), fm_status> {
    if p.is_null() {
        Err(fail(
            fm_status::InvalidArgument,
            format_args!("{what} (output) is NULL"),
        ))
    } else {
        Ok(())
    }
}

/// Writes an output (call only after every check passed).
pub(crate) fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: callers checked `p` with `out_arg`; the C contract says an
    // output pointer points to writable storage for one `T`.
    unsafe { p.write(v) }
}

/// A (ptr, len) array; NULL with len 0 is empty, NULL with any other
/// length is `None`. No error text: usable on the recording path.
///
/// # Safety
/// A non-NULL `ptr` points to `len` initialized elements that outlive `'a`.
#[inline(always)]
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if ptr.is_null() {
        return if len == 0 { Some(&[]) } else { None };
    }
    // SAFETY: per this function's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Raw bytes of a (ptr, len) pair; NULL with len 0 is empty.
///
/// # Safety
/// A non-NULL `ptr` points to `len` readable bytes that outlive `'a`.
#[inline(always)]
pub(crate) unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    // SAFETY: per this function's contract.
    unsafe { slice(ptr.cast::<u8>(), len) }
}

/// A timeout argument in milliseconds: 0 is `INVALID_ARGUMENT`.
pub(crate) fn timeout_ms_arg(ms: u64, what: &str) -> Result<std::time::Duration, fm_status> {
    if ms == 0 {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("{what} must be at least 1 ms"),
        ));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// A caller's output buffer `buf[0..buf_len]`: NULL is fine only with
/// length 0 (the size query of [`write_buffer`]).
pub(crate) fn buffer_arg(buf: *mut c_char, buf_len: usize) -> Result<(), fm_status> {
    if buf.is_null() && buf_len != 0 {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("buf is NULL with length {buf_len}"),
        ));
    }
    Ok(())
}

/// Hands `bytes` to the caller of an encode function: with `buf` NULL
/// (a size query) writes only their count to `*out_len`; else copies them
/// into `buf[0..buf_len]` and writes their count, or, when `buf_len` is
/// too small, writes nothing and fails with the size needed. `buf` and
/// `out_len` were checked by [`buffer_arg`] and [`out_arg`].
pub(crate) fn write_buffer(
    bytes: &[u8],
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> Result<(), fm_status> {
    if !buf.is_null() {
        if buf_len < bytes.len() {
            return Err(fail(
                fm_status::InvalidArgument,
                format_args!(
                    "buffer of {buf_len} bytes is too small: {} needed",
                    bytes.len()
                ),
            ));
        }
        // SAFETY: C contract: `buf` points to `buf_len` writable bytes, and
        // `bytes.len() <= buf_len`; `bytes` is a separate allocation.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
    }
    write_out(out_len, bytes.len());
    Ok(())
}

/// A required string argument: NULL with a non-zero length is
/// `INVALID_ARGUMENT`, invalid UTF-8 is `INVALID_UTF8`.
pub(crate) fn str_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, fm_status> {
    // SAFETY: the C contract: a string argument is NULL or points to `len`
    // readable bytes for the duration of the call.
    let b = unsafe { bytes(ptr, len) }.ok_or_else(|| {
        fail(
            fm_status::InvalidArgument,
            format_args!("{what} is NULL with length {len}"),
        )
    })?;
    std::str::from_utf8(b).map_err(|e| {
        fail(
            fm_status::InvalidUtf8,
            format_args!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// An `fm_str` argument (see [`str_arg`]).
pub(crate) fn fm_str_arg<'a>(s: fm_str, what: &str) -> Result<&'a str, fm_status> {
    str_arg(s.ptr, s.len, what)
}

/// A (ptr, len) slice argument; NULL with len 0 is empty.
pub(crate) fn slice_arg<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], fm_status> {
    // SAFETY: the C contract: a non-NULL array argument points to `len`
    // readable, initialized elements for the duration of the call.
    unsafe { slice(ptr, len) }.ok_or_else(|| {
        fail(
            fm_status::InvalidArgument,
            format_args!("{what} is NULL with length {len}"),
        )
    })
}

/// Converts a nanosecond Unix timestamp to `SystemTime`.
pub(crate) fn system_time(unix_nanos: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer contract of the encode functions: a size query writes
    /// only the size, a short buffer gets nothing, a large enough one the
    /// bytes and their count.
    #[test]
    fn write_buffer_answers_size_queries_and_never_overruns() {
        let bytes = b"hello";
        let mut n = usize::MAX;
        assert_eq!(buffer_arg(std::ptr::null_mut(), 0), Ok(()));
        assert_eq!(write_buffer(bytes, std::ptr::null_mut(), 0, &mut n), Ok(()));
        assert_eq!(n, 5);

        let mut short = [b'x'; 4];
        let mut n = usize::MAX;
        let r = write_buffer(bytes, short.as_mut_ptr().cast(), short.len(), &mut n);
        assert_eq!(r, Err(fm_status::InvalidArgument));
        assert_eq!((short, n), ([b'x'; 4], usize::MAX));

        let mut buf = [b'x'; 7];
        assert_eq!(
            write_buffer(bytes, buf.as_mut_ptr().cast(), buf.len(), &mut n),
            Ok(())
        );
        assert_eq!((&buf, n), (b"helloxx", 5));

        assert_eq!(
            buffer_arg(std::ptr::null_mut(), 3),
            Err(fm_status::InvalidArgument)
        );
    }
}
