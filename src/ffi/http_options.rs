//! Argument plumbing shared by the option setters of the HTTP push
//! exporters (`fm_otlp_options_*`, `fm_remote_write_options_*`) and the
//! TLS setters of the Prometheus endpoint: request headers, retry policy,
//! CA file and certificate/key path pairs. One place checks and converts
//! these arguments, so every setter answers the same way.

use super::handle::str_arg;
use super::status::{fail, fm_status};
use crate::export::otlp::RetryPolicy;
use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

/// Adds the header `name[0..name_len]: value[0..value_len]` to `headers`,
/// replacing one of the same name (ASCII case-insensitive). An empty name
/// is `INVALID_ARGUMENT`.
pub(crate) fn add_header_arg(
    headers: &mut Vec<(String, String)>,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> Result<(), fm_status> {
    let n = str_arg(name, name_len, "name")?;
    let v = str_arg(value, value_len, "value")?;
    if n.is_empty() {
        return Err(fail(fm_status::InvalidArgument, "header name is empty"));
    }
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(n));
    headers.push((n.to_owned(), v.to_owned()));
    Ok(())
}

/// The retry policy of a `*_set_retry` call: `multiplier` must be finite
/// and at least 1 (else `INVALID_ARGUMENT`); `max_backoff_ms` below
/// `initial_backoff_ms` is raised to it.
pub(crate) fn retry_arg(
    max_attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    multiplier: f64,
) -> Result<RetryPolicy, fm_status> {
    if !(multiplier >= 1.0 && multiplier.is_finite()) {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("multiplier {multiplier} must be finite and at least 1"),
        ));
    }
    Ok(RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(initial_backoff_ms),
        max_backoff: Duration::from_millis(max_backoff_ms.max(initial_backoff_ms)),
        multiplier,
    })
}

/// The CA file of a `*_set_certificate` call: an empty path means none
/// (the system roots).
pub(crate) fn ca_file_arg(
    pem_path: *const c_char,
    pem_path_len: usize,
) -> Result<Option<PathBuf>, fm_status> {
    let p = str_arg(pem_path, pem_path_len, "pem_path")?;
    Ok((!p.is_empty()).then(|| PathBuf::from(p)))
}

/// The certificate and key paths of a certificate-setting call, as given
/// (`cert_path`, `key_path`).
pub(crate) fn cert_key_args<'a>(
    cert_path: *const c_char,
    cert_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
) -> Result<(&'a str, &'a str), fm_status> {
    let c = str_arg(cert_path, cert_path_len, "cert_path")?;
    let k = str_arg(key_path, key_path_len, "key_path")?;
    Ok((c, k))
}
