//! Meters (one per instrumentation scope) and the callbacks registered on
//! them. Instrument constructors are generated per type (`instruments/`,
//! `observable/`).

use super::attributes::{attrs_arg, fm_attribute, to_set};
use super::callbacks::{fm_callback, fm_callback_registration, register};
use super::handle::{arg, out_arg, str_arg, write_out, Handle};
use super::provider::fm_provider;
use super::status::{fail, fm_status};
use crate::{InstrumentationScope, Meter};
use std::ffi::{c_char, c_void};

/// Creates instruments for one instrumentation scope.
/// Owned by the caller (release with `fm_meter_release`). Thread safety:
/// any thread, concurrently.
pub struct fm_meter {
    _private: [u8; 0],
}

handle_types! {
    fm_meter => Meter;
}

/// The instrumentation scope of a get-meter call: a non-empty name
/// (else `INVALID_ARGUMENT`), and a version and schema URL that may be
/// empty.
pub(crate) fn scope_arg(
    name: *const c_char,
    name_len: usize,
    version: *const c_char,
    version_len: usize,
    schema_url: *const c_char,
    schema_url_len: usize,
) -> Result<InstrumentationScope, fm_status> {
    let n = str_arg(name, name_len, "name")?;
    if n.is_empty() {
        return Err(fail(fm_status::InvalidArgument, "meter name is empty"));
    }
    let v = str_arg(version, version_len, "version")?;
    let s = str_arg(schema_url, schema_url_len, "schema_url")?;
    Ok(InstrumentationScope::new(n)
        .with_version(v)
        .with_schema_url(s))
}

/// Returns the meter of the scope (name, version, schema URL); asking twice
/// for an equal scope returns a meter sharing the same instruments.
/// `version` and `schema_url` may be NULL (with length 0) for none.
/// `fm_provider_get_meter_with_attributes` also sets scope attributes.
///
/// Returns `FM_STATUS_INVALID_UTF8` for bad UTF-8, `FM_STATUS_INVALID_ARGUMENT`
/// for NULL provider/out or an empty name.
/// Ownership: `*out` is owned by the caller; release with `fm_meter_release`.
#[no_mangle]
pub extern "C" fn fm_provider_get_meter(
    provider: *const fm_provider,
    name: *const c_char,
    name_len: usize,
    version: *const c_char,
    version_len: usize,
    schema_url: *const c_char,
    schema_url_len: usize,
    out: *mut *mut fm_meter,
) -> fm_status {
    fm_provider_get_meter_with_attributes(
        provider,
        name,
        name_len,
        version,
        version_len,
        schema_url,
        schema_url_len,
        std::ptr::null(),
        0,
        out,
    )
}

/// `fm_provider_get_meter` with scope attributes `attrs[0..attrs_len]`
/// (copied; NULL with length 0 for none): they describe the
/// instrumentation scope and are exported with it (OTLP scope attributes;
/// Prometheus `otel_scope_<key>` labels while scope labels are on). The
/// attributes are part of the
/// scope's identity: the same name, version and schema URL with other
/// attributes is another meter with its own instruments; with the same
/// attributes in any order, the same meter.
///
/// Returns what `fm_provider_get_meter` returns, and
/// `FM_STATUS_INVALID_ATTRIBUTES` for unreadable attributes (NULL or empty
/// key, bad UTF-8).
/// Ownership: `*out` is owned by the caller; release with `fm_meter_release`.
#[no_mangle]
pub extern "C" fn fm_provider_get_meter_with_attributes(
    provider: *const fm_provider,
    name: *const c_char,
    name_len: usize,
    version: *const c_char,
    version_len: usize,
    schema_url: *const c_char,
    schema_url_len: usize,
    attrs: *const fm_attribute,
    attrs_len: usize,
    out: *mut *mut fm_meter,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        out_arg(out, "out")?;
        let mut scope = scope_arg(name, name_len, version, version_len, schema_url, schema_url_len)?;
        if attrs_len > 0 {
            let a = attrs_arg(attrs, attrs_len)?;
            scope = scope.with_attributes(to_set(a).iter().cloned());
        }
        write_out(out, fm_meter::into_raw(p.meter_with_scope(scope)));
        Ok(())
    }
}

/// Releases a meter handle. NULL is fine; must not be called twice.
/// Instruments created from it stay valid.
#[no_mangle]
pub extern "C" fn fm_meter_release(meter: *mut fm_meter) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned meter released once.
        unsafe { fm_meter::free(meter) }
    }
}

/// Registers `callback`, called with `user_data` once per collection cycle
/// (on the collecting thread), typically to observe several observable
/// instruments. It must not throw or unwind. It may release its own
/// registration, or another registration of the same provider (see
/// `fm_callback_registration_release`).
///
/// Ownership: `*out` is owned by the caller; releasing it with
/// `fm_callback_registration_release` unregisters the callback, and once
/// that returns (outside a callback) the callback is not running and never
/// runs again, so `user_data` may be freed then. `user_data` is never
/// dereferenced by the library. Thread safety: the callback may run on any
/// thread that collects; `user_data` must tolerate that.
#[no_mangle]
pub extern "C" fn fm_meter_register_callback(
    meter: *const fm_meter,
    callback: fm_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_callback_registration,
) -> fm_status {
    ffi_status! {
        let m = arg(meter, "meter")?;
        out_arg(out, "out")?;
        let cb = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
        write_out(out, fm_callback_registration::into_raw(register(m, cb, user_data)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One reading of a get-meter call's scope, for the provider's meters
    /// and the global ones: a name is required, version and schema URL are
    /// optional.
    #[test]
    fn scope_arg_requires_a_name_only() {
        let arg = |n: &str, v: &str, s: &str| {
            scope_arg(
                n.as_ptr().cast(),
                n.len(),
                v.as_ptr().cast(),
                v.len(),
                s.as_ptr().cast(),
                s.len(),
            )
        };
        let scope = arg("lib", "1.2", "https://example.com/s").expect("valid scope");
        assert_eq!(
            (scope.name(), scope.version(), scope.schema_url()),
            ("lib", Some("1.2"), Some("https://example.com/s"))
        );
        let bare = scope_arg(
            b"lib".as_ptr().cast(),
            3,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
        )
        .expect("bare name");
        assert_eq!(
            (bare.name(), bare.version(), bare.schema_url()),
            ("lib", None, None)
        );
        assert_eq!(arg("", "1", "").err(), Some(fm_status::InvalidArgument));
        let bad = [0xffu8, 0xfe];
        let bad_version = scope_arg(
            b"lib".as_ptr().cast(),
            3,
            bad.as_ptr().cast(),
            2,
            std::ptr::null(),
            0,
        );
        assert_eq!(bad_version.err(), Some(fm_status::InvalidUtf8));
    }
}
