//! The library version (the header's `FERROMETER_VERSION_*` macros give the
//! version the caller compiled against).

use std::ffi::c_char;

/// The library's version as a static NUL-terminated "MAJOR.MINOR.PATCH".
/// Compare with `FERROMETER_VERSION_STRING` to detect a header/library
/// mismatch. Never free. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as `MAJOR * 10000 + MINOR * 100 + PATCH`
/// (same encoding as `FERROMETER_VERSION_NUMBER`).
#[no_mangle]
pub extern "C" fn fm_version_number() -> u32 {
    const fn parse(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut v = 0;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    parse(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + parse(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + parse(env!("CARGO_PKG_VERSION_PATCH"))
}
