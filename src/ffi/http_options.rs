//! Argument plumbing shared by the option setters of the HTTP push
//! exporters (`fm_otlp_options_*`, `fm_remote_write_options_*`) and the
//! TLS setters of the Prometheus endpoint: request headers, timeout, retry
//! policy, CA file and certificate/key path pairs. One place checks and
//! converts these arguments, so every setter answers the same way, and
//! the setters both push exporters have are one method each of
//! [`HttpPushConfig`]: the exported functions stay in their files
//! (cbindgen lists them in source order and cannot expand macros) with
//! one line of logic, a call to that method.

use super::handle::{str_arg, timeout_ms_arg};
use super::status::{fail, fm_status};
use crate::export::otlp::OtlpHttpConfig;
use crate::export::pipeline::RetryPolicy;
use crate::export::remote_write::RemoteWriteConfig;
use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

/// The settings the OTLP and Remote-Write options share (under the same
/// field names), and the setters both have: `fm_otlp_options_set_retry`
/// and `fm_remote_write_options_set_retry` are one call of
/// [`HttpPushConfig::set_retry`], and so on.
pub(crate) trait HttpPushConfig {
    /// Request headers, in order, one per name.
    fn headers(&mut self) -> &mut Vec<(String, String)>;
    /// Timeout of one request.
    fn timeout(&mut self) -> &mut Duration;
    /// Retry policy of failed requests.
    fn retry(&mut self) -> &mut RetryPolicy;
    /// The CA file trusted instead of the system roots.
    fn certificate(&mut self) -> &mut Option<PathBuf>;
    /// The client certificate chain and its private key, for mutual TLS.
    fn client_certificate(&mut self) -> (&mut Option<PathBuf>, &mut Option<PathBuf>);

    /// `*_add_header`: see [`add_header_arg`].
    fn add_header(
        &mut self,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> Result<(), fm_status> {
        add_header_arg(self.headers(), name, name_len, value, value_len)
    }

    /// `*_set_timeout_ms`: 0 is `INVALID_ARGUMENT`.
    fn set_timeout_ms(&mut self, timeout_ms: u64) -> Result<(), fm_status> {
        *self.timeout() = timeout_ms_arg(timeout_ms, "timeout")?;
        Ok(())
    }

    /// `*_set_retry`: see [`retry_arg`].
    fn set_retry(
        &mut self,
        max_attempts: u32,
        initial_backoff_ms: u64,
        max_backoff_ms: u64,
        multiplier: f64,
    ) -> Result<(), fm_status> {
        *self.retry() = retry_arg(max_attempts, initial_backoff_ms, max_backoff_ms, multiplier)?;
        Ok(())
    }

    /// `*_set_certificate`: see [`ca_file_arg`].
    fn set_certificate(
        &mut self,
        pem_path: *const c_char,
        pem_path_len: usize,
    ) -> Result<(), fm_status> {
        *self.certificate() = ca_file_arg(pem_path, pem_path_len)?;
        Ok(())
    }

    /// `*_set_client_certificate`: both paths as given.
    fn set_client_certificate(
        &mut self,
        cert_path: *const c_char,
        cert_path_len: usize,
        key_path: *const c_char,
        key_path_len: usize,
    ) -> Result<(), fm_status> {
        let (cert, key) = cert_key_args(cert_path, cert_path_len, key_path, key_path_len)?;
        let (client_cert, client_key) = self.client_certificate();
        *client_cert = Some(PathBuf::from(cert));
        *client_key = Some(PathBuf::from(key));
        Ok(())
    }
}

macro_rules! http_push_config {
    ($($t:ty),*) => {$(
        impl HttpPushConfig for $t {
            fn headers(&mut self) -> &mut Vec<(String, String)> {
                &mut self.headers
            }
            fn timeout(&mut self) -> &mut Duration {
                &mut self.timeout
            }
            fn retry(&mut self) -> &mut RetryPolicy {
                &mut self.retry
            }
            fn certificate(&mut self) -> &mut Option<PathBuf> {
                &mut self.certificate
            }
            fn client_certificate(&mut self) -> (&mut Option<PathBuf>, &mut Option<PathBuf>) {
                (&mut self.client_certificate, &mut self.client_key)
            }
        }
    )*};
}

http_push_config!(OtlpHttpConfig, RemoteWriteConfig);

/// Adds the header `name[0..name_len]: value[0..value_len]` to `headers`,
/// replacing one of the same name (ASCII case-insensitive). An empty name
/// is `INVALID_ARGUMENT`.
fn add_header_arg(
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
fn retry_arg(
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
fn ca_file_arg(pem_path: *const c_char, pem_path_len: usize) -> Result<Option<PathBuf>, fm_status> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::handle::Handle;
    use crate::ffi::otlp::*;
    use crate::ffi::remote_write::*;

    type SetStrPair<H> =
        extern "C" fn(*mut H, *const c_char, usize, *const c_char, usize) -> fm_status;

    /// The shared setters of one options type, as the header exports them.
    struct Setters<H> {
        add_header: SetStrPair<H>,
        set_timeout_ms: extern "C" fn(*mut H, u64) -> fm_status,
        set_retry: extern "C" fn(*mut H, u32, u64, u64, f64) -> fm_status,
        set_certificate: extern "C" fn(*mut H, *const c_char, usize) -> fm_status,
        set_client_certificate: SetStrPair<H>,
    }

    /// What the setters set, read from the fields by name (not through
    /// [`HttpPushConfig`]).
    #[derive(Debug, Default, PartialEq)]
    struct Settings {
        headers: Vec<(String, String)>,
        timeout: Duration,
        retry: Option<RetryPolicy>,
        certificate: Option<PathBuf>,
        client_certificate: Option<PathBuf>,
        client_key: Option<PathBuf>,
    }

    macro_rules! settings {
        ($c:expr) => {{
            let c = $c;
            Settings {
                headers: c.headers.clone(),
                timeout: c.timeout,
                retry: Some(c.retry),
                certificate: c.certificate.clone(),
                client_certificate: c.client_certificate.clone(),
                client_key: c.client_key.clone(),
            }
        }};
    }

    fn s(text: &str) -> (*const c_char, usize) {
        (text.as_ptr().cast(), text.len())
    }

    /// Each exported setter of `o` lands in its own setting, with the
    /// checks of the argument helpers, and refuses NULL options.
    fn setters_set_what_they_name<H: Handle>(
        o: *mut H,
        f: Setters<H>,
        read: fn(&H::Rust) -> Settings,
    ) {
        let ok = fm_status::Ok;
        let bad = fm_status::InvalidArgument;
        let pair = |set: SetStrPair<H>, o, a: &str, b: &str| {
            let ((a, al), (b, bl)) = (s(a), s(b));
            set(o, a, al, b, bl)
        };
        // SAFETY: `o` is the live options handle the test created.
        let now = || read(unsafe { H::get(o) }.expect("live options"));

        assert_eq!(pair(f.add_header, o, "X-Tenant", "a"), ok);
        assert_eq!(pair(f.add_header, o, "x-tenant", "b"), ok);
        assert_eq!(pair(f.add_header, o, "Other", "c"), ok);
        assert_eq!(pair(f.add_header, o, "", "d"), bad);
        let headers =
            [("x-tenant", "b"), ("Other", "c")].map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(now().headers, headers);

        assert_eq!((f.set_timeout_ms)(o, 1500), ok);
        assert_eq!((f.set_timeout_ms)(o, 0), bad);
        assert_eq!(now().timeout, Duration::from_millis(1500));

        assert_eq!((f.set_retry)(o, 3, 2000, 500, 2.0), ok);
        assert_eq!((f.set_retry)(o, 3, 1, 1, 0.5), bad);
        assert_eq!((f.set_retry)(o, 3, 1, 1, f64::NAN), bad);
        let backoff = Duration::from_secs(2);
        let want = RetryPolicy {
            max_attempts: 3,
            initial_backoff: backoff,
            max_backoff: backoff,
            multiplier: 2.0,
        };
        assert_eq!(now().retry, Some(want));

        let (ca, ca_len) = s("ca.pem");
        assert_eq!((f.set_certificate)(o, ca, ca_len), ok);
        assert_eq!(now().certificate, Some(PathBuf::from("ca.pem")));
        assert_eq!((f.set_certificate)(o, std::ptr::null(), 0), ok);
        assert_eq!(now().certificate, None);

        assert_eq!(pair(f.set_client_certificate, o, "c.pem", "k.pem"), ok);
        let all = Settings {
            headers: headers.to_vec(),
            timeout: Duration::from_millis(1500),
            retry: Some(want),
            certificate: None,
            client_certificate: Some("c.pem".into()),
            client_key: Some("k.pem".into()),
        };
        assert_eq!(now(), all);

        let null = std::ptr::null_mut();
        assert_eq!(pair(f.add_header, null, "n", "v"), bad);
        assert_eq!((f.set_timeout_ms)(null, 1), bad);
        assert_eq!((f.set_retry)(null, 1, 1, 1, 1.0), bad);
        assert_eq!((f.set_certificate)(null, ca, ca_len), bad);
        assert_eq!(pair(f.set_client_certificate, null, "c", "k"), bad);
    }

    #[test]
    fn otlp_options_setters_set_what_they_name() {
        let mut o = std::ptr::null_mut();
        assert_eq!(fm_otlp_options_new(false, &mut o), fm_status::Ok);
        setters_set_what_they_name(
            o,
            Setters {
                add_header: fm_otlp_options_add_header,
                set_timeout_ms: fm_otlp_options_set_timeout_ms,
                set_retry: fm_otlp_options_set_retry,
                set_certificate: fm_otlp_options_set_certificate,
                set_client_certificate: fm_otlp_options_set_client_certificate,
            },
            |c| settings!(c),
        );
        fm_otlp_options_release(o);
    }

    #[test]
    fn remote_write_options_setters_set_what_they_name() {
        let mut o = std::ptr::null_mut();
        let (url, url_len) = s("http://127.0.0.1:9/api/v1/write");
        assert_eq!(
            fm_remote_write_options_new(url, url_len, &mut o),
            fm_status::Ok
        );
        setters_set_what_they_name(
            o,
            Setters {
                add_header: fm_remote_write_options_add_header,
                set_timeout_ms: fm_remote_write_options_set_timeout_ms,
                set_retry: fm_remote_write_options_set_retry,
                set_certificate: fm_remote_write_options_set_certificate,
                set_client_certificate: fm_remote_write_options_set_client_certificate,
            },
            |c| settings!(c),
        );
        fm_remote_write_options_release(o);
    }
}
