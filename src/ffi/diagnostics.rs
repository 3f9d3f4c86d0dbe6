//! The process-wide diagnostics handler (warnings and errors of the SDK).

use std::ffi::{c_char, c_void};

/// Severity of a diagnostic message (one of `FM_LEVEL_*`).
pub type fm_level = u32;
/// Debugging detail.
pub const FM_LEVEL_DEBUG: fm_level = 0;
/// Informational.
pub const FM_LEVEL_INFO: fm_level = 1;
/// Something was refused or adjusted; the SDK keeps working.
pub const FM_LEVEL_WARN: fm_level = 2;
/// Something failed.
pub const FM_LEVEL_ERROR: fm_level = 3;

/// Receives one diagnostic message: `message[0..message_len]` is UTF-8 and
/// also NUL-terminated; it is borrowed for the duration of the call only.
/// May be called from any thread, concurrently; must not throw or unwind,
/// and should not call back into the library.
pub type fm_diagnostics_handler = Option<
    unsafe extern "C" fn(
        level: fm_level,
        message: *const c_char,
        message_len: usize,
        user_data: *mut c_void,
    ),
>;

/// Installs the process-wide diagnostics handler, replacing any previous
/// one; NULL `handler` restores the default (warnings and errors on
/// standard error). `user_data` is passed back untouched and must stay
/// valid until the handler is replaced (the library never frees it).
/// Messages raised on recording threads are rate-limited per reason.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_diagnostics_set_handler(
    handler: fm_diagnostics_handler,
    user_data: *mut c_void,
) {
    ffi_boundary! {
        match handler {
            None => crate::diagnostics::reset_handler(),
            Some(h) => {
                let ud = user_data as usize;
                crate::diagnostics::set_handler(move |level, msg| {
                    let mut buf = String::with_capacity(msg.len() + 1);
                    buf.push_str(msg);
                    buf.push('\0');
                    // SAFETY: the installer promised `h` is callable with
                    // `user_data` until replaced; the message outlives the call.
                    unsafe { h(level as u32, buf.as_ptr().cast(), msg.len(), ud as *mut c_void) }
                });
            }
        }
    }
}

/// Silences diagnostics completely (no handler, nothing on stderr).
#[no_mangle]
pub extern "C" fn fm_diagnostics_set_silent() {
    ffi_boundary! { crate::diagnostics::set_silent() }
}

// The C constants are the core's `Level` discriminants.
const _: () = {
    assert!(FM_LEVEL_DEBUG == crate::Level::Debug as u32);
    assert!(FM_LEVEL_INFO == crate::Level::Info as u32);
    assert!(FM_LEVEL_WARN == crate::Level::Warn as u32);
    assert!(FM_LEVEL_ERROR == crate::Level::Error as u32);
};
