//! Status codes and the thread-local last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
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

impl fm_status {
    /// Every status, each at the index of its own value (checked at
    /// compile time below; a status missing here has no message, which the
    /// test `every_status_of_the_header_has_a_message` catches).
    const ALL: [fm_status; 16] = [
        fm_status::Ok,
        fm_status::InvalidArgument,
        fm_status::InvalidName,
        fm_status::InvalidUtf8,
        fm_status::InvalidUnit,
        fm_status::InvalidDescription,
        fm_status::InvalidBoundaries,
        fm_status::InvalidView,
        fm_status::InvalidAttributes,
        fm_status::Shutdown,
        fm_status::Timeout,
        fm_status::ReaderNotRegistered,
        fm_status::ReaderAlreadyRegistered,
        fm_status::Failed,
        fm_status::Panic,
        fm_status::Unsupported,
    ];

    /// The status with this value, if there is one.
    fn from_code(code: u32) -> Option<fm_status> {
        Self::ALL.get(code as usize).copied()
    }

    /// What `fm_status_message` says about the status.
    fn message(self) -> &'static CStr {
        match self {
            fm_status::Ok => c"ok",
            fm_status::InvalidArgument => c"invalid argument (NULL pointer or value out of range)",
            fm_status::InvalidName => c"invalid instrument name",
            fm_status::InvalidUtf8 => c"string is not valid UTF-8",
            fm_status::InvalidUnit => c"invalid unit",
            fm_status::InvalidDescription => c"invalid description",
            fm_status::InvalidBoundaries => c"invalid histogram boundaries",
            fm_status::InvalidView => c"invalid view",
            fm_status::InvalidAttributes => c"invalid attributes",
            fm_status::Shutdown => c"shut down",
            fm_status::Timeout => c"timeout",
            fm_status::ReaderNotRegistered => c"reader not registered with a provider",
            fm_status::ReaderAlreadyRegistered => c"reader already registered with a provider",
            fm_status::Failed => c"operation failed",
            fm_status::Panic => c"internal panic caught at the C boundary",
            fm_status::Unsupported => c"not supported by this build of the library",
        }
    }
}

// `ALL[i]` has the value `i`, so `from_code` is the enum's own numbering.
const _: () = {
    let mut i = 0;
    while i < fm_status::ALL.len() {
        assert!(fm_status::ALL[i] as usize == i);
        i += 1;
    }
};

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
    fm_status::from_code(status)
        .map_or(c"unknown status", fm_status::message)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header (generated from the enum) names every status with its
    /// value: each must have its own message, and the next value none.
    #[test]
    fn every_status_of_the_header_has_a_message() {
        let header = include_str!("../../include/ferrometer.h");
        let enum_body = header
            .split("enum fm_status\n")
            .nth(1)
            .and_then(|rest| rest.split("};").next())
            .expect("enum fm_status in the header");
        let mut codes: Vec<u32> = enum_body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("FM_STATUS_"))
            .map(|l| {
                let value = l.split('=').nth(1).expect("explicit value");
                value.trim().trim_end_matches(',').parse().expect("number")
            })
            .collect();
        assert_eq!(codes.len(), fm_status::ALL.len());
        codes.sort_unstable();
        let message = |c: u32| {
            // SAFETY: fm_status_message returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(fm_status_message(c)) }
        };
        let mut seen = std::collections::HashSet::new();
        for &c in &codes {
            let m = message(c);
            assert_ne!(m, c"unknown status", "status {c}");
            assert!(seen.insert(m), "status {c} repeats another's message");
        }
        assert_eq!(message(codes[codes.len() - 1] + 1), c"unknown status");
        assert_eq!(message(u32::MAX), c"unknown status");
        assert_eq!(message(9), c"shut down");
    }
}
