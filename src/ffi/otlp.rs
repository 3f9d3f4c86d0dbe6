//! OTLP exporters: OTLP/HTTP or OTLP/gRPC (`fm_otlp_exporter_new`,
//! configured through `fm_otlp_options`) and the OTLP JSON-lines file exporter
//! (`fm_otlp_file_exporter_new`). Both hand out the generic `fm_exporter`
//! handle: give it to a periodic reader, or export a manual reader's
//! snapshot with `fm_exporter_export`. `fm_otlp_encode` encodes a snapshot
//! without sending it.

use super::exporters::{fm_exporter, fm_pipeline_options, give, give_pipeline, pref_arg};
use super::handle::{arg, arg_mut, buffer_arg, out_arg, str_arg, write_buffer, write_out, Handle};
use super::http_options::HttpPushConfig;
use super::reader::fm_temporality_preference;
use super::snapshot::fm_snapshot;
use super::status::{core_err, fail, fm_status};
use crate::export::otlp::{Compression, OtlpFileExporter, OtlpHttpConfig, Protocol};
use crate::export::PushExporter;
use std::ffi::c_char;
use std::sync::Arc;

/// Configuration of an OTLP/HTTP exporter. Owned by the caller (release
/// with `fm_otlp_options_release`); use it from one thread at a time.
/// Creating an exporter copies it.
pub struct fm_otlp_options {
    _private: [u8; 0],
}

handle_types! {
    fm_otlp_options => OtlpHttpConfig;
}

/// Body compression (one of `FM_OTLP_COMPRESSION_*`).
pub type fm_otlp_compression = u32;
/// No compression.
pub const FM_OTLP_COMPRESSION_NONE: fm_otlp_compression = 0;
/// gzip (`Content-Encoding: gzip`).
pub const FM_OTLP_COMPRESSION_GZIP: fm_otlp_compression = 1;

/// OTLP encoding (one of `FM_OTLP_ENCODING_*`).
pub type fm_otlp_encoding = u32;
/// Protobuf `ExportMetricsServiceRequest` (`http/protobuf`).
pub const FM_OTLP_ENCODING_PROTOBUF: fm_otlp_encoding = 0;
/// OTLP/JSON `ExportMetricsServiceRequest` (`http/json`).
pub const FM_OTLP_ENCODING_JSON: fm_otlp_encoding = 1;

fn options_mut<'a>(o: *mut fm_otlp_options) -> Result<&'a mut OtlpHttpConfig, fm_status> {
    arg_mut(o, "options")
}

/// Creates OTLP/HTTP options: the defaults (endpoint
/// `http://localhost:4318/v1/metrics`, timeout 10 s, no compression,
/// `http/protobuf`, cumulative, system CA roots, 5 attempts with backoff
/// 1 s to 5 s) overridden, when `read_env` is true, by the
/// `OTEL_EXPORTER_OTLP_*` environment variables (`ENDPOINT`, `HEADERS`,
/// `TIMEOUT`, `COMPRESSION`, `PROTOCOL`, `CERTIFICATE`, `CLIENT_KEY`,
/// `CLIENT_CERTIFICATE`, `INSECURE`, their `METRICS_` forms, and
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`), read now. The
/// setters below override both.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_otlp_options_release`.
#[no_mangle]
pub extern "C" fn fm_otlp_options_new(read_env: bool, out: *mut *mut fm_otlp_options) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let c = if read_env { OtlpHttpConfig::from_env() } else { OtlpHttpConfig::default() };
        write_out(out, fm_otlp_options::into_raw(c));
        Ok(())
    }
}

/// Releases options. NULL is fine. Must not be called twice.
#[no_mangle]
pub extern "C" fn fm_otlp_options_release(options: *mut fm_otlp_options) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned options handle released once.
        unsafe { fm_otlp_options::free(options) }
    }
}

/// Sets the full URL requests are posted to, used as is (like
/// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), e.g.
/// `https://collector:4318/v1/metrics`. Copied. Not checked until the
/// exporter is created.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_endpoint(
    options: *mut fm_otlp_options,
    url: *const c_char,
    url_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.endpoint = str_arg(url, url_len, "url")?.trim().to_owned();
        Ok(())
    }
}

/// Sets a base URL to which `/v1/metrics` is appended (like
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), e.g. `http://collector:4318`. Copied.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_base_endpoint(
    options: *mut fm_otlp_options,
    url: *const c_char,
    url_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.endpoint = crate::export::otlp::signal_url(str_arg(url, url_len, "url")?.trim());
        Ok(())
    }
}

/// Adds a request header, replacing one of the same name (ASCII
/// case-insensitive), e.g. one read from `OTEL_EXPORTER_OTLP_HEADERS`.
/// Copied. Returns `FM_STATUS_INVALID_ARGUMENT` for an empty name.
#[no_mangle]
pub extern "C" fn fm_otlp_options_add_header(
    options: *mut fm_otlp_options,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.add_header(name, name_len, value, value_len)
    }
}

/// Timeout of one HTTP request in milliseconds (default 10000; 0 is
/// `FM_STATUS_INVALID_ARGUMENT`). An export's own deadline also cuts
/// requests and retries short.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_timeout_ms(
    options: *mut fm_otlp_options,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_timeout_ms(timeout_ms)
    }
}

/// Body compression (`FM_OTLP_COMPRESSION_*`; default NONE).
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_compression(
    options: *mut fm_otlp_options,
    compression: fm_otlp_compression,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.compression = match compression {
            FM_OTLP_COMPRESSION_NONE => Compression::None,
            FM_OTLP_COMPRESSION_GZIP => Compression::Gzip,
            c => return Err(fail(fm_status::InvalidArgument, format_args!("unknown compression {c}"))),
        };
        Ok(())
    }
}

/// Body encoding (`FM_OTLP_ENCODING_*`; default PROTOBUF, i.e.
/// `http/protobuf`; JSON is `http/json`).
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_encoding(
    options: *mut fm_otlp_options,
    encoding: fm_otlp_encoding,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.protocol = match encoding {
            FM_OTLP_ENCODING_PROTOBUF => Protocol::HttpProtobuf,
            FM_OTLP_ENCODING_JSON => Protocol::HttpJson,
            e => return Err(fail(fm_status::InvalidArgument, format_args!("unknown encoding {e}"))),
        };
        Ok(())
    }
}

/// Temporality the exporter asks its reader for
/// (`FM_TEMPORALITY_PREFERENCE_*`; default CUMULATIVE).
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_temporality(
    options: *mut fm_otlp_options,
    temporality: fm_temporality_preference,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.temporality = pref_arg(temporality)?;
        Ok(())
    }
}

/// Trusts the CA certificates of this PEM file for `https` instead of the
/// system roots (like `OTEL_EXPORTER_OTLP_CERTIFICATE`). The path is
/// copied; the file is read when the exporter is created.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_certificate(
    options: *mut fm_otlp_options,
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
pub extern "C" fn fm_otlp_options_set_client_certificate(
    options: *mut fm_otlp_options,
    cert_path: *const c_char,
    cert_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_client_certificate(cert_path, cert_path_len, key_path, key_path_len)
    }
}

/// Retry policy for HTTP 429/502/503/504, timeouts and connection
/// failures: at most `max_attempts` attempts (the first included; 1
/// disables retries, 0 means until the export deadline), waits drawn
/// uniformly in `[0, min(max_backoff_ms, initial_backoff_ms *
/// multiplier^n)]`, or the server's `Retry-After`. `multiplier` below 1 is
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_retry(
    options: *mut fm_otlp_options,
    max_attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    multiplier: f64,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.set_retry(max_attempts, initial_backoff_ms, max_backoff_ms, multiplier)
    }
}

/// OTLP/gRPC with an endpoint given without a scheme (`collector:4317`,
/// port required): true speaks plain HTTP/2, false (the default, or what
/// `OTEL_EXPORTER_OTLP_INSECURE` / `OTEL_EXPORTER_OTLP_METRICS_INSECURE`
/// said when the options read the environment) TLS with the options' CA
/// and client certificate. Ignored when the endpoint has an `http://` or
/// `https://` scheme (the scheme decides), and by OTLP/HTTP, which always
/// needs a scheme.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_insecure(
    options: *mut fm_otlp_options,
    insecure: bool,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.insecure = insecure;
        Ok(())
    }
}

/// Creates an OTLP/HTTP exporter. `options` may be NULL for the defaults
/// plus the environment (as `fm_otlp_options_new(true, ...)`); it is
/// copied. Returns `FM_STATUS_INVALID_ARGUMENT` for an endpoint that is
/// not an `http://` or `https://` URL, an invalid header, or an unreadable
/// certificate or key file. Options whose protocol is
/// `FM_OTLP_PROTOCOL_GRPC` make an OTLP/gRPC exporter (an endpoint may then
/// also be `host:port`, see `fm_otlp_options_set_insecure`); a library
/// built without `FERROMETER_OTLP_GRPC` returns `FM_STATUS_UNSUPPORTED`
/// for them. Each export encodes the snapshot and sends it on the calling
/// thread (a reader's), retrying within the export's deadline; exports
/// from several threads take turns.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release` (a reader it was given to keeps its own
/// reference).
#[no_mangle]
pub extern "C" fn fm_otlp_exporter_new(
    options: *const fm_otlp_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let e = otlp_exporter(options)?;
        write_out(out, fm_exporter::into_raw(e));
        Ok(())
    }
}

/// The standalone OTLP exporter of `options` (NULL: the defaults plus the
/// environment): OTLP/HTTP, or OTLP/gRPC for that protocol.
fn otlp_exporter(options: *const fm_otlp_options) -> Result<Arc<dyn PushExporter>, fm_status> {
    // SAFETY: C contract: `options` is NULL or a live options handle.
    let c = match unsafe { fm_otlp_options::get(options) } {
        Some(c) => c.clone(),
        None => OtlpHttpConfig::from_env(),
    };
    crate::export::otlp::otlp_exporter(c).map_err(core_err)
}

/// Creates an OTLP/HTTP exporter running behind the export pipeline: each
/// export encodes the snapshot into batches and queues them, without
/// waiting for the network; a worker thread sends them with the retry
/// policy of `options` (attempts, backoff, Retry-After), the request
/// timeout, compression and temporality of `options`, and the queue,
/// batching, retry time limit, circuit breaker and self-metrics of
/// `pipeline`. Either may be NULL (`options`: the defaults plus the
/// environment; `pipeline`: the defaults of `fm_pipeline_options_new`).
/// Flush and shutdown report undelivered points (FAILED with a message);
/// with cumulative temporality a point refused earlier is not undelivered
/// once a later snapshot was delivered in full (it carries the same
/// totals). Points the receiver rejects in a partial success are counted
/// in `points_dropped_rejected`, not delivered.
/// `fm_exporter_pipeline_stats` gives the counters. Errors as for
/// `fm_otlp_exporter_new`. Options whose protocol is
/// `FM_OTLP_PROTOCOL_GRPC` (`fm_otlp_options_set_protocol`, or
/// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` read by `fm_otlp_options_new`) make
/// an OTLP/gRPC exporter on the same pipeline; a library built without
/// `FERROMETER_OTLP_GRPC` returns `FM_STATUS_UNSUPPORTED` for them.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_otlp_pipeline_exporter_new(
    options: *const fm_otlp_options,
    pipeline: *const fm_pipeline_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        // OTLP/HTTP, or OTLP/gRPC for FM_OTLP_PROTOCOL_GRPC (see otlp_grpc.rs).
        give_pipeline(out, super::otlp_grpc::otlp_pipeline_builder(options)?, pipeline)
    }
}

/// Creates an OTLP file exporter: one `ExportMetricsServiceRequest` per
/// line in the OTLP/JSON encoding, appended to `path[0..path_len]`
/// (created when missing), or written to standard output when `path_len`
/// is 0. With `max_bytes` > 0 the file is rotated before a line would make
/// it larger (`path` -> `path.1` -> `path.2` ...), keeping at most
/// `max_backups` old files. Returns `FM_STATUS_INVALID_ARGUMENT` when the
/// file cannot be opened or for an unknown temporality.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_otlp_file_exporter_new(
    path: *const c_char,
    path_len: usize,
    max_bytes: u64,
    max_backups: u32,
    temporality: fm_temporality_preference,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        let p = str_arg(path, path_len, "path")?;
        let t = pref_arg(temporality)?;
        out_arg(out, "out")?;
        let mut b = OtlpFileExporter::builder().with_temporality(t);
        if !p.is_empty() {
            b = b.with_path(p);
        }
        if max_bytes > 0 {
            b = b.with_rotation(max_bytes, max_backups as usize);
        }
        give(out, b.build().map_err(core_err)?);
        Ok(())
    }
}

/// Encodes a snapshot (from `fm_manual_reader_collect`) as an OTLP
/// `ExportMetricsServiceRequest` (`FM_OTLP_ENCODING_*`) into
/// `buf[0..buf_len]`, for a transport the host owns. The output is not
/// NUL-terminated.
///
/// Size query: with `buf` NULL and `buf_len` 0, writes the needed size to
/// `*out_len` and returns OK. When `buf_len` is too small, returns
/// `FM_STATUS_INVALID_ARGUMENT` (the message tells the needed size) and
/// writes nothing. On success writes the bytes and their count to
/// `*out_len`. Thread safety: any thread (the snapshot is immutable).
#[no_mangle]
pub extern "C" fn fm_otlp_encode(
    snapshot: *const fm_snapshot,
    encoding: fm_otlp_encoding,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> fm_status {
    ffi_status! {
        let s = arg(snapshot, "snapshot")?;
        out_arg(out_len, "out_len")?;
        buffer_arg(buf, buf_len)?;
        let bytes = match encoding {
            FM_OTLP_ENCODING_PROTOBUF => {
                let mut v = Vec::new();
                crate::export::otlp::encode_protobuf(&s.rm, &mut v);
                v
            }
            FM_OTLP_ENCODING_JSON => {
                let mut v = String::new();
                crate::export::otlp::encode_json(&s.rm, &mut v);
                v.into_bytes()
            }
            e => return Err(fail(fm_status::InvalidArgument, format_args!("unknown encoding {e}"))),
        };
        write_buffer(&bytes, buf, buf_len, out_len)
    }
}
