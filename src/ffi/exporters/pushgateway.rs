//! The Pushgateway exporter and its options (`fm_pushgateway_options`),
//! directly or behind the export pipeline.

use super::exporter::{fm_exporter, give};
use super::pipeline_options::{fm_pipeline_options, give_pipeline};
use crate::export::pushgateway::{PushMethod, PushgatewayExporter, PushgatewayExporterBuilder};
use crate::export::{check_basic_auth_user, check_header};
use crate::ffi::handle::{arg, arg_mut, out_arg, str_arg, timeout_ms_arg, write_out, Handle};
use crate::ffi::status::{core_err, fail, fm_status};
use std::ffi::c_char;

/// Configuration of a Pushgateway exporter. Owned by the caller (release
/// with `fm_pushgateway_options_release`); use it from one thread at a
/// time. Creating an exporter copies it.
pub struct fm_pushgateway_options {
    _private: [u8; 0],
}

handle_types! {
    fm_pushgateway_options => PushgatewayExporterBuilder;
}

/// Pushgateway HTTP method (one of `FM_PUSH_METHOD_*`).
pub type fm_push_method = u32;
/// PUT: a push replaces every metric of the group.
pub const FM_PUSH_METHOD_PUT: fm_push_method = 0;
/// POST: a push replaces only the metric families it contains.
pub const FM_PUSH_METHOD_POST: fm_push_method = 1;

fn pushgateway_options_mut<'a>(
    o: *mut fm_pushgateway_options,
) -> Result<&'a mut PushgatewayExporterBuilder, fm_status> {
    arg_mut(o, "options")
}

/// Creates Pushgateway options for the gateway at `url` (for example
/// `http://127.0.0.1:9091`) and a job name (both copied). Defaults: PUT,
/// no grouping labels beyond `job`, no delete at shutdown, 10 s timeout.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_pushgateway_options_release`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_new(
    url: *const c_char,
    url_len: usize,
    job: *const c_char,
    job_len: usize,
    out: *mut *mut fm_pushgateway_options,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let u = str_arg(url, url_len, "url")?;
        let j = str_arg(job, job_len, "job")?;
        write_out(out, fm_pushgateway_options::into_raw(PushgatewayExporter::builder(u, j)));
        Ok(())
    }
}

/// Releases options. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_release(options: *mut fm_pushgateway_options) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned options handle released once.
        unsafe { fm_pushgateway_options::free(options) }
    }
}

/// Adds a grouping label (copied) after `job`. Values that are empty or
/// contain `/` are sent base64-encoded. Names are checked when the
/// exporter is created.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_add_grouping_label(
    options: *mut fm_pushgateway_options,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        let n = str_arg(name, name_len, "name")?;
        let v = str_arg(value, value_len, "value")?;
        *o = o.clone().with_grouping_label(n, v);
        Ok(())
    }
}

/// PUT (`FM_PUSH_METHOD_PUT`, default) or POST (`FM_PUSH_METHOD_POST`);
/// other values are `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_set_method(
    options: *mut fm_pushgateway_options,
    method: fm_push_method,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        let m = match method {
            FM_PUSH_METHOD_PUT => PushMethod::Put,
            FM_PUSH_METHOD_POST => PushMethod::Post,
            m => return Err(fail(fm_status::InvalidArgument, format_args!("unknown push method {m}"))),
        };
        *o = o.clone().with_method(m);
        Ok(())
    }
}

/// Deletes the group when the exporter shuts down (default off).
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_set_delete_on_shutdown(
    options: *mut fm_pushgateway_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        *o = o.clone().with_delete_on_shutdown(enabled);
        Ok(())
    }
}

/// Longest time one HTTP request may take, in milliseconds (default
/// 10000; 0 is `FM_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_set_timeout_ms(
    options: *mut fm_pushgateway_options,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        *o = o.clone().with_timeout(timeout_ms_arg(timeout_ms, "timeout")?);
        Ok(())
    }
}

/// Adds an HTTP header (copied) to every request. A name that is not an
/// HTTP token, or a value containing a control character other than tab
/// (CR and LF included), is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_add_header(
    options: *mut fm_pushgateway_options,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        let n = str_arg(name, name_len, "name")?;
        let v = str_arg(value, value_len, "value")?;
        check_header(n, v).map_err(|e| fail(fm_status::InvalidArgument, e))?;
        *o = o.clone().with_header(n, v);
        Ok(())
    }
}

/// Uses HTTP basic authentication (copied; replaces an earlier call). A
/// user containing `:` or a control character is
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_options_set_basic_auth(
    options: *mut fm_pushgateway_options,
    user: *const c_char,
    user_len: usize,
    password: *const c_char,
    password_len: usize,
) -> fm_status {
    ffi_status! {
        let o = pushgateway_options_mut(options)?;
        let u = str_arg(user, user_len, "user")?;
        let p = str_arg(password, password_len, "password")?;
        check_basic_auth_user(u).map_err(|e| fail(fm_status::InvalidArgument, e))?;
        *o = o.clone().with_basic_auth(u, p);
        Ok(())
    }
}

/// Creates a Pushgateway exporter from options (copied). Returns
/// `FM_STATUS_INVALID_ARGUMENT` for a URL that is not http(s), an empty
/// job, or a bad or repeated grouping label name. Ownership: `*out` is
/// owned by the caller; release with `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_exporter_new(
    options: *const fm_pushgateway_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let o = arg(options, "options")?;
        let e = o.clone().build().map_err(core_err)?;
        give(out, e);
        Ok(())
    }
}

/// Creates a Pushgateway exporter (options copied) running behind the
/// export pipeline (`pipeline` may be NULL for its defaults): pushes are
/// queued and sent by a worker thread with retries (429, 502, 503, 504,
/// timeouts, connection failures; 5 attempts, backoff 1 s to 5 s),
/// Retry-After and the circuit breaker; a newer snapshot replaces a
/// queued older one. Errors as for `fm_pushgateway_exporter_new`.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_pushgateway_pipeline_exporter_new(
    options: *const fm_pushgateway_options,
    pipeline: *const fm_pipeline_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let o = arg(options, "options")?;
        let e = o.clone().build().map_err(core_err)?;
        give_pipeline(out, e.into_pipeline(), pipeline)
    }
}
