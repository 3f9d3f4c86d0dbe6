//! Status codes and the thread-local last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::fmt;

/// Result of every fallible call. Values are stable and never reused.
///
/// On any value other than `FM_STATUS_OK`, no output parameter was written
/// and `fm_last_error_message()` describes the failure.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fm_status {
    /// Success.
    Ok = 0,
    /// A required pointer was NULL or an argument was out of range.
    InvalidArgument = 1,
    /// An instrument or stream name breaks the naming rules
    /// (ASCII letter, then up to 254 of `A-Z a-z 0-9 _ . - /`).
    InvalidName = 2,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 3,
    /// A unit was not ASCII or longer than 63 characters.
    InvalidUnit = 4,
    /// A description had characters outside the Basic Multilingual Plane.
    InvalidDescription = 5,
    /// Histogram boundaries were empty, more than
    /// `FM_HISTOGRAM_MAX_BOUNDARIES`, not finite or not increasing.
    InvalidBoundaries = 6,
    /// A view definition was inconsistent.
    InvalidView = 7,
    /// An attribute had a NULL key, an unknown type or invalid UTF-8.
    InvalidAttributes = 8,
    /// The provider or reader has been shut down.
    Shutdown = 9,
    /// A deadline passed before the operation finished.
    Timeout = 10,
    /// The reader is not registered with a provider.
    ReaderNotRegistered = 11,
    /// The reader is already registered with a provider.
    ReaderAlreadyRegistered = 12,
    /// An operation (export, collection) failed.
    Failed = 13,
    /// An internal panic was caught at the boundary (a bug: please report).
    Panic = 14,
    /// The library was built without the feature the call asks for; the
    /// last error message names the build option (e.g. OTLP/gRPC needs
    /// `-DFERROMETER_OTLP_GRPC=ON`).
    Unsupported = 15,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores the calling thread's last error message.
pub(crate) fn set_last_error(msg: fmt::Arguments<'_>) {
    let mut s = msg.to_string();
    s.retain(|c| c != '\0');
    let c = CString::new(s).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Sets the last error and returns `status` (for `Err(fail(..))`).
pub(crate) fn fail(status: fm_status, msg: impl fmt::Display) -> fm_status {
    set_last_error(format_args!("{msg}"));
    status
}

/// Maps a core error to a status, recording its text as the last error.
pub(crate) fn core_err(e: crate::Error) -> fm_status {
    use crate::Error as E;
    let s = match &e {
        E::InvalidName(_) => fm_status::InvalidName,
        E::InvalidUnit(_) => fm_status::InvalidUnit,
        E::InvalidDescription(_) => fm_status::InvalidDescription,
        E::InvalidBoundaries(_) => fm_status::InvalidBoundaries,
        E::InvalidView(_) => fm_status::InvalidView,
        E::InvalidArgument(_) => fm_status::InvalidArgument,
        E::Shutdown => fm_status::Shutdown,
        E::ReaderNotRegistered => fm_status::ReaderNotRegistered,
        E::ReaderAlreadyRegistered => fm_status::ReaderAlreadyRegistered,
        E::Timeout => fm_status::Timeout,
        E::Unsupported(_) => fm_status::Unsupported,
        E::NotDelivered {
            deadline_passed: true,
            ..
        } => fm_status::Timeout,
        _ => fm_status::Failed,
    };
    // The status names the category (`fm_status_message`); the last error
    // text is the detail, so "status: detail" never repeats the category.
    fail(s, e.detail())
}

/// The calling thread's most recent error message, NUL-terminated; "" when
/// no call on this thread has failed yet.
///
/// Ownership: borrowed from thread-local storage; valid until the next
/// failing `fm_` call on the same thread. Do not free.
/// Thread safety: each thread sees only its own message.
#[no_mangle]
pub extern "C" fn fm_last_error_message() -> *const c_char {
    ffi_boundary! {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }
}

/// A static, NUL-terminated English description of a status code
/// ("unknown status" for values not listed in `fm_status`).
///
/// Ownership: static storage; never free. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_status_message(status: u32) -> *const c_char {
    let s: &'static [u8] = match status {
        0 => b"ok\0",
        1 => b"invalid argument (NULL pointer or value out of range)\0",
        2 => b"invalid instrument name\0",
        3 => b"string is not valid UTF-8\0",
        4 => b"invalid unit\0",
        5 => b"invalid description\0",
        6 => b"invalid histogram boundaries\0",
        7 => b"invalid view\0",
        8 => b"invalid attributes\0",
        9 => b"shut down\0",
        10 => b"timeout\0",
        11 => b"reader not registered with a provider\0",
        12 => b"reader already registered with a provider\0",
        13 => b"operation failed\0",
        14 => b"internal panic caught at the C boundary\0",
        15 => b"not supported by this build of the library\0",
        _ => b"unknown status\0",
    };
    s.as_ptr().cast()
}
