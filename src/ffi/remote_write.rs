//! The Prometheus Remote-Write exporter (`fm_remote_write_exporter_new`),
//! configured through `fm_remote_write_options`, always behind the export
//! pipeline. It hands out the generic `fm_exporter` handle: give it to a
//! periodic reader (it asks for cumulative temporality).

use super::exporters::{
    fm_exporter, fm_pipeline_options, give, positive_limits, with_pipeline_options,
};
use super::handle::{arg_mut, out_arg, str_arg, write_out, Handle};
use super::http_options::HttpPushConfig;
use super::status::{core_err, fail, fm_status};
use crate::export::pipeline::BatchLimits;
use crate::export::remote_write::{RemoteWriteConfig, RemoteWriteExporter, RemoteWriteVersion};
use std::ffi::c_char;

/// Configuration of a Remote-Write exporter. Owned by the caller (release
/// with `fm_remote_write_options_release`); use it from one thread at a
/// time. Creating an exporter copies it.
pub struct fm_remote_write_options {
    _private: [u8; 0],
}

handle_types! {
    fm_remote_write_options => RemoteWriteConfig;
}

/// Remote-Write protocol version (one of `FM_REMOTE_WRITE_VERSION_*`).
pub type fm_remote_write_version = u32;
/// Remote-Write 1.0 (`prometheus.WriteRequest`, header `0.1.0`): every
/// receiver (Prometheus, Thanos Receive, Mimir, Cortex, VictoriaMetrics).
pub const FM_REMOTE_WRITE_VERSION_1: fm_remote_write_version = 1;
/// Remote-Write 2.0 (`io.prometheus.write.v2.Request`, header `2.0.0`):
/// Prometheus 3 with
/// `--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request`.
/// A 2xx answer without `X-Prometheus-Remote-Write-Samples-Written`, or
/// with fewer samples written than sent, counts the request's points as
/// rejected.
pub const FM_REMOTE_WRITE_VERSION_2: fm_remote_write_version = 2;

fn options_mut<'a>(
    o: *mut fm_remote_write_options,
) -> Result<&'a mut RemoteWriteConfig, fm_status> {
    arg_mut(o, "options")
}

/// Creates Remote-Write options for the receiver at `url[0..url_len]`
/// (e.g. `http://prometheus:9090/api/v1/write`), with the defaults:
/// version 1.0, no credentials, timeout 30 s, 5 attempts with backoff
/// 1 s to 5 s (5xx, 429, timeouts and connection failures are retried,
/// `Retry-After` honoured; other 4xx never), requests of at most 2000
/// points / 4 MiB, `target_info` on, system CA roots. The URL is copied
/// and checked when the exporter is created.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_remote_write_options_release`.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_new(
    url: *const c_char,
    url_len: usize,
    out: *mut *mut fm_remote_write_options,
) -> fm_status {
    ffi_status! {
        let u = str_arg(url, url_len, "url")?.trim().to_owned();
        out_arg(out, "out")?;
        write_out(out, fm_remote_write_options::into_raw(RemoteWriteConfig::new(u)));
        Ok(())
    }
}

/// Releases options. NULL is fine. Must not be called twice.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_release(options: *mut fm_remote_write_options) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned options handle released once.
        unsafe { fm_remote_write_options::free(options) }
    }
}

/// Protocol version (`FM_REMOTE_WRITE_VERSION_*`; default 1).
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_version(
    options: *mut fm_remote_write_options,
    version: fm_remote_write_version,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.version = match version {
            FM_REMOTE_WRITE_VERSION_1 => RemoteWriteVersion::V1,
            FM_REMOTE_WRITE_VERSION_2 => RemoteWriteVersion::V2,
            v => return Err(fail(fm_status::InvalidArgument, format_args!("unknown remote write version {v}"))),
        };
        Ok(())
    }
}

/// HTTP basic authentication (`Authorization: Basic`). Copied. Exclusive
/// with a bearer token: creating the exporter with both is
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_basic_auth(
    options: *mut fm_remote_write_options,
    user: *const c_char,
    user_len: usize,
    password: *const c_char,
    password_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let u = str_arg(user, user_len, "user")?;
        let p = str_arg(password, password_len, "password")?;
        o.basic_auth = Some((u.to_owned(), p.to_owned()));
        Ok(())
    }
}

/// A bearer token (`Authorization: Bearer <token>`). Copied.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_bearer_token(
    options: *mut fm_remote_write_options,
    token: *const c_char,
    token_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.bearer_token = Some(str_arg(token, token_len, "token")?.to_owned());
        Ok(())
    }
}

/// Adds a request header (e.g. `X-Scope-OrgID` for a Mimir or Cortex
/// tenant, `THANOS-TENANT` for Thanos Receive), replacing one of the same
/// name (ASCII case-insensitive). Copied. Returns
/// `FM_STATUS_INVALID_ARGUMENT` for an empty name.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_add_header(
    options: *mut fm_remote_write_options,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.add_header(name, name_len, value, value_len)
    }
}

/// Timeout of one request in milliseconds (default 30000; 0 is
/// `FM_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_timeout_ms(
    options: *mut fm_remote_write_options,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_timeout_ms(timeout_ms)
    }
}

/// Retry policy for 5xx, 429, timeouts and connection failures: at most
/// `max_attempts` attempts per request (the first included; 1 disables
/// retries, 0 means no limit but the pipeline's time limit), waits drawn
/// uniformly in `[0, min(max_backoff_ms, initial_backoff_ms *
/// multiplier^n)]`, or the server's `Retry-After`. `multiplier` below 1 is
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_retry(
    options: *mut fm_remote_write_options,
    max_attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    multiplier: f64,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_retry(max_attempts, initial_backoff_ms, max_backoff_ms, multiplier)
    }
}

/// Request size: at most `max_points` snapshot points (a histogram point
/// with all its bucket series is one) and about `max_bytes` uncompressed
/// bytes per request (defaults 2000 and 4 MiB). These win over the batch
/// size of `fm_pipeline_options`. 0 for either is
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_batch(
    options: *mut fm_remote_write_options,
    max_points: u64,
    max_bytes: u64,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let (max_points, max_bytes) = positive_limits(max_points, max_bytes, "batch limits")?;
        o.batch = BatchLimits { max_points, max_bytes };
        Ok(())
    }
}

/// Whether the resource's attributes are sent as a `target_info` series
/// (default true).
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_target_info(
    options: *mut fm_remote_write_options,
    on: bool,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.target_info = on;
        Ok(())
    }
}

/// Trusts the CA certificates of this PEM file for `https` instead of the
/// system roots. The path is copied; the file is read when the exporter
/// is created.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_certificate(
    options: *mut fm_remote_write_options,
    pem_path: *const c_char,
    pem_path_len: usize,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_certificate(pem_path, pem_path_len)
    }
}

/// Presents a client certificate chain and its private key (PEM files)
/// for mutual TLS. Paths are copied; the files are read when the exporter
/// is created.
#[no_mangle]
pub extern "C" fn fm_remote_write_options_set_client_certificate(
    options: *mut fm_remote_write_options,
    cert_path: *const c_char,
    cert_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_client_certificate(cert_path, cert_path_len, key_path, key_path_len)
    }
}

/// Creates a Remote-Write exporter behind the export pipeline: each export
/// encodes the snapshot into snappy-compressed requests and queues them
/// without waiting for the network; a worker thread sends them with the
/// retry policy, timeout and batch size of `options`, and the queue, retry
/// time limit, circuit breaker, encoding threads and self-metrics of
/// `pipeline` (NULL: the defaults of `fm_pipeline_options_new`). The
/// exporter asks its reader for cumulative temporality; delta points and
/// exponential histograms are left out (never queued), with a warning.
/// `fm_exporter_pipeline_stats` gives the counters (offered = delivered +
/// dropped by reason + queued). Returns `FM_STATUS_INVALID_ARGUMENT` when
/// `options` is NULL, for a URL that is not `http://` or `https://`, an
/// invalid header, both basic auth and a bearer token, or an unreadable
/// certificate or key file.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release` (a reader it was given to keeps its own
/// reference).
#[no_mangle]
pub extern "C" fn fm_remote_write_exporter_new(
    options: *const fm_remote_write_options,
    pipeline: *const fm_pipeline_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        // SAFETY: C contract: `options` is NULL or a live options handle.
        let c = unsafe { fm_remote_write_options::get(options) }
            .ok_or_else(|| fail(fm_status::InvalidArgument, "options is NULL"))?
            .clone();
        let batch = c.batch;
        let b = RemoteWriteExporter::new(c).map_err(core_err)?.into_pipeline();
        // The request size of `options` wins over the pipeline's batch size.
        let b = with_pipeline_options(b, pipeline).with_batch_limits(batch);
        give(out, b.build().map_err(core_err)?);
        Ok(())
    }
}
