//! The Prometheus pull endpoint and the exposition encoder.

use super::attributes::fm_attribute_set;
use super::handle::{
    arg, arg_mut, buffer_arg, out_arg, slice_arg, str_arg, timeout_ms_arg, write_buffer, write_out,
    Handle,
};
use super::http_options::cert_key_args;
use super::provider::fm_provider;
use super::snapshot::{
    fm_scope_metrics, fm_snapshot, fm_snapshot_resource, fm_snapshot_scope, fm_snapshot_scope_count,
};
use super::status::{core_err, fail, fm_status};
use crate::export::prometheus::{
    Format, PrometheusServer, PrometheusServerOptions, PrometheusTls, TranslationStrategy,
};
use crate::{AttributeSet, ScopeMetrics};
use std::ffi::c_char;

/// Exposition format (one of `FM_PROMETHEUS_FORMAT_*`).
pub type fm_prometheus_format = u32;
/// Prometheus text format 0.0.4.
pub const FM_PROMETHEUS_FORMAT_TEXT: fm_prometheus_format = 0;
/// OpenMetrics 1.0 text format (ends with `# EOF`).
pub const FM_PROMETHEUS_FORMAT_OPENMETRICS: fm_prometheus_format = 1;
/// The protobuf exposition: varint-length-delimited
/// `io.prometheus.client.MetricFamily` messages, the only format with
/// native histograms (exponential histograms).
pub const FM_PROMETHEUS_FORMAT_PROTOBUF: fm_prometheus_format = 2;

/// How metric and label names are translated (one of
/// `FM_PROMETHEUS_TRANSLATION_*`, the OpenTelemetry Prometheus exporter
/// specification's translation strategies).
pub type fm_prometheus_translation = u32;
/// Names sanitized to `[a-zA-Z0-9_:]` (`http.server.duration` →
/// `http_server_duration`), unit and `_total` suffixes added. The default.
pub const FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITH_SUFFIXES: fm_prometheus_translation =
    0;
/// Names sanitized as by default, without unit or `_total` suffixes.
pub const FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES:
    fm_prometheus_translation = 1;
/// Names kept in UTF-8 (`http.server.duration_seconds`), suffixes added; a
/// scraper that does not negotiate `escaping=allow-utf-8` (Prometheus 2)
/// still gets them escaped.
pub const FM_PROMETHEUS_TRANSLATION_NO_UTF8_ESCAPING_WITH_SUFFIXES: fm_prometheus_translation = 2;
/// Names exactly as recorded, no suffixes.
pub const FM_PROMETHEUS_TRANSLATION_NO_TRANSLATION: fm_prometheus_translation = 3;

/// Configuration of a Prometheus endpoint. Owned by the caller (release
/// with `fm_prometheus_options_release`); not thread-safe: use it from one
/// thread at a time. Starting a server copies it.
pub struct fm_prometheus_options {
    _private: [u8; 0],
}

/// A running Prometheus pull endpoint (`GET /metrics`). Owned by the
/// caller (release with `fm_prometheus_server_release`, which stops it).
/// Thread safety: every function taking a server may be called from any
/// thread concurrently.
pub struct fm_prometheus_server {
    _private: [u8; 0],
}

handle_types! {
    fm_prometheus_options => PrometheusServerOptions;
    fm_prometheus_server => PrometheusServer;
}

fn options_mut<'a>(
    o: *mut fm_prometheus_options,
) -> Result<&'a mut PrometheusServerOptions, fm_status> {
    arg_mut(o, "options")
}

/// Creates endpoint options with the defaults: path `/metrics`, scrape
/// timeout 10 s, header timeout 5 s, 64 connections, 16 KiB request heads,
/// no authentication, gzip and OpenMetrics negotiation on, self metrics
/// on, scope labels and `target_info` on.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_prometheus_options_release`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_new(out: *mut *mut fm_prometheus_options) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        write_out(out, fm_prometheus_options::into_raw(PrometheusServerOptions::default()));
        Ok(())
    }
}

/// Releases options. NULL is fine. Must not be called twice.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_release(options: *mut fm_prometheus_options) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned options handle released once.
        unsafe { fm_prometheus_options::free(options) }
    }
}

/// Sets the metrics path (copied; must start with `/`; default `/metrics`).
/// Returns `FM_STATUS_INVALID_ARGUMENT` for a path not starting with `/`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_path(
    options: *mut fm_prometheus_options,
    path: *const c_char,
    path_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let p = str_arg(path, path_len, "path")?;
        if !p.starts_with('/') {
            return Err(fail(fm_status::InvalidArgument, format_args!("path {p:?} must start with '/'")));
        }
        o.path = p.to_owned();
        Ok(())
    }
}

/// Longest time a scrape waits for its collection, in milliseconds
/// (default 10000; 0 is `FM_STATUS_INVALID_ARGUMENT`). A scrape past it
/// gets HTTP 503; a shorter `X-Prometheus-Scrape-Timeout-Seconds` wins.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_scrape_timeout_ms(
    options: *mut fm_prometheus_options,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.scrape_timeout = timeout_ms_arg(timeout_ms, "scrape timeout")?;
        Ok(())
    }
}

/// Deadline for a client to send a whole request head, and idle timeout of
/// keep-alive connections, in milliseconds (default 5000; 0 is
/// `FM_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_header_timeout_ms(
    options: *mut fm_prometheus_options,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.header_timeout = timeout_ms_arg(timeout_ms, "header timeout")?;
        Ok(())
    }
}

/// Most simultaneous connections (default 64; more get HTTP 503 at once).
/// 0 is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_max_connections(
    options: *mut fm_prometheus_options,
    max_connections: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        if max_connections == 0 {
            return Err(fail(fm_status::InvalidArgument, "max_connections must be at least 1"));
        }
        o.max_connections = max_connections;
        Ok(())
    }
}

/// Requires `Authorization: Bearer <token>` on the metrics path (copied;
/// an empty token is `FM_STATUS_INVALID_ARGUMENT`). Replaces basic auth.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_bearer_token(
    options: *mut fm_prometheus_options,
    token: *const c_char,
    token_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let t = str_arg(token, token_len, "token")?;
        if t.trim().is_empty() {
            return Err(fail(fm_status::InvalidArgument, "bearer token is empty"));
        }
        *o = std::mem::take(o).with_bearer_token(t);
        Ok(())
    }
}

/// Requires HTTP basic authentication on the metrics path (copied; a user
/// containing `:` is `FM_STATUS_INVALID_ARGUMENT`). Replaces a bearer token.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_basic_auth(
    options: *mut fm_prometheus_options,
    user: *const c_char,
    user_len: usize,
    password: *const c_char,
    password_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let u = str_arg(user, user_len, "user")?;
        let p = str_arg(password, password_len, "password")?;
        if u.contains(':') {
            return Err(fail(fm_status::InvalidArgument, "basic-auth user must not contain ':'"));
        }
        *o = std::mem::take(o).with_basic_auth(u, p);
        Ok(())
    }
}

/// Turns gzip compression (when the client accepts it) on or off
/// (default on).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_gzip(
    options: *mut fm_prometheus_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.gzip = enabled;
        Ok(())
    }
}

/// Turns OpenMetrics content negotiation on or off (default on; off always
/// serves the text format 0.0.4).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_openmetrics(
    options: *mut fm_prometheus_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.openmetrics = enabled;
        Ok(())
    }
}

/// Turns the endpoint's own metrics on or off (default on):
/// `promhttp_metric_handler_requests_total{code}`,
/// `promhttp_metric_handler_requests_in_flight`,
/// `promhttp_metric_handler_request_duration_seconds`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_self_metrics(
    options: *mut fm_prometheus_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        options_mut(options)?.self_metrics = enabled;
        Ok(())
    }
}

/// Turns the `otel_scope_name` / `otel_scope_version` labels on or off
/// (default on).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_scope_labels(
    options: *mut fm_prometheus_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.encode = o.encode.clone().with_scope_labels(enabled);
        Ok(())
    }
}

/// Turns the `target_info` family (the resource) on or off (default on).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_target_info(
    options: *mut fm_prometheus_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.encode = o.encode.clone().with_target_info(enabled);
        Ok(())
    }
}

/// Sets the name translation strategy (one of `FM_PROMETHEUS_TRANSLATION_*`;
/// default `FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITH_SUFFIXES`).
/// Another value is `FM_STATUS_INVALID_ARGUMENT`. Whatever the strategy,
/// each scrape gets the names escaped as its `Accept` header negotiates
/// (`escaping=allow-utf-8`, `underscores`, `dots`, `values`; underscores
/// when it names none).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_translation_strategy(
    options: *mut fm_prometheus_options,
    strategy: fm_prometheus_translation,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let t = match strategy {
            FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITH_SUFFIXES => {
                TranslationStrategy::UnderscoreEscapingWithSuffixes
            }
            FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES => {
                TranslationStrategy::UnderscoreEscapingWithoutSuffixes
            }
            FM_PROMETHEUS_TRANSLATION_NO_UTF8_ESCAPING_WITH_SUFFIXES => {
                TranslationStrategy::NoUTF8EscapingWithSuffixes
            }
            FM_PROMETHEUS_TRANSLATION_NO_TRANSLATION => TranslationStrategy::NoTranslation,
            t => return Err(fail(fm_status::InvalidArgument, format_args!("unknown translation strategy {t}"))),
        };
        o.encode = o.encode.clone().with_translation_strategy(t);
        Ok(())
    }
}

/// Leaves unit suffixes (`_seconds`, `_bytes`, `_ratio`...) and OpenMetrics
/// `# UNIT` out of the names (default false: they are added).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_without_units(
    options: *mut fm_prometheus_options,
    without_units: bool,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.encode = o.encode.clone().without_units(without_units);
        Ok(())
    }
}

/// Leaves the counter suffix `_total` out of the text format (default
/// false: it is added; OpenMetrics requires it and always has it).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_without_type_suffix(
    options: *mut fm_prometheus_options,
    without_type_suffix: bool,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        o.encode = o.encode.clone().without_type_suffix(without_type_suffix);
        Ok(())
    }
}

/// Serves `https://` with the certificate chain (leaf first) and private
/// key (PKCS#8, PKCS#1 or SEC1) of these PEM files (paths copied; the
/// files are read by `fm_prometheus_server_start`, which returns
/// `FM_STATUS_INVALID_ARGUMENT` when they cannot be read or do not fit
/// together). Replaces earlier TLS settings, a client CA included. An
/// empty path is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_tls_files(
    options: *mut fm_prometheus_options,
    cert_path: *const c_char,
    cert_path_len: usize,
    key_path: *const c_char,
    key_path_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let (c, k) = cert_key_args(cert_path, cert_path_len, key_path, key_path_len)?;
        if c.is_empty() || k.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "TLS certificate and key paths must not be empty"));
        }
        o.tls = Some(PrometheusTls::from_files(c, k));
        Ok(())
    }
}

/// Serves `https://` with a certificate chain and private key given as PEM
/// text in memory (`cert_pem[0..cert_pem_len]`, `key_pem[0..key_pem_len]`,
/// both copied; the caller may wipe its copy after the call). The PEM is
/// parsed by `fm_prometheus_server_start` (see `fm_prometheus_options_set_tls_files`).
/// Replaces earlier TLS settings. Empty text is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_tls_pem(
    options: *mut fm_prometheus_options,
    cert_pem: *const c_char,
    cert_pem_len: usize,
    key_pem: *const c_char,
    key_pem_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let c = slice_arg(cert_pem.cast::<u8>(), cert_pem_len, "cert_pem")?;
        let k = slice_arg(key_pem.cast::<u8>(), key_pem_len, "key_pem")?;
        if c.is_empty() || k.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "TLS certificate and key PEM must not be empty"));
        }
        o.tls = Some(PrometheusTls::from_pem(c, k));
        Ok(())
    }
}

fn tls_mut(o: &mut PrometheusServerOptions) -> Result<&mut PrometheusTls, fm_status> {
    o.tls.as_mut().ok_or_else(|| {
        fail(
            fm_status::InvalidArgument,
            "set the TLS certificate (fm_prometheus_options_set_tls_files or _tls_pem) before the client CA",
        )
    })
}

/// Requires clients to present a certificate signed by a CA of this PEM
/// file (mutual TLS; path copied, read at start). Call after
/// `fm_prometheus_options_set_tls_files` or `_tls_pem`, else
/// `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_tls_client_ca_file(
    options: *mut fm_prometheus_options,
    ca_path: *const c_char,
    ca_path_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let p = str_arg(ca_path, ca_path_len, "ca_path")?;
        if p.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "client CA path must not be empty"));
        }
        let t = tls_mut(o)?;
        *t = t.clone().with_client_ca_file(p);
        Ok(())
    }
}

/// `fm_prometheus_options_set_tls_client_ca_file` with the CA certificates
/// as PEM text in memory (copied).
#[no_mangle]
pub extern "C" fn fm_prometheus_options_set_tls_client_ca_pem(
    options: *mut fm_prometheus_options,
    ca_pem: *const c_char,
    ca_pem_len: usize,
) -> fm_status {
    ffi_status! {
        let o = options_mut(options)?;
        let pem = slice_arg(ca_pem.cast::<u8>(), ca_pem_len, "ca_pem")?;
        if pem.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "client CA PEM must not be empty"));
        }
        let t = tls_mut(o)?;
        *t = t.clone().with_client_ca_pem(pem);
        Ok(())
    }
}

/// Starts a Prometheus endpoint for `provider` on `addr[0..addr_len]`
/// (`host:port`; empty is `127.0.0.1:9464`, `:9464` is loopback port 9464,
/// `0.0.0.0:9464` listens on every interface, port 0 picks a free port:
/// see `fm_prometheus_server_port`). `options` may be NULL for the
/// defaults; it is copied.
///
/// The endpoint attaches its own cumulative reader to the provider and
/// serves `GET /metrics` from two background threads plus one per open
/// connection. It does not keep the provider alive: after the provider is
/// released or shut down, scrapes get HTTP 503.
///
/// Returns `FM_STATUS_INVALID_ARGUMENT` for an unusable address or TLS
/// material that cannot be read or does not fit together,
/// `FM_STATUS_INVALID_UTF8`, `FM_STATUS_SHUTDOWN` after provider shutdown,
/// `FM_STATUS_FAILED` when the address cannot be bound (in use, no
/// permission). Ownership: `*out` is owned by the caller; release with
/// `fm_prometheus_server_release`.
#[no_mangle]
pub extern "C" fn fm_prometheus_server_start(
    provider: *const fm_provider,
    addr: *const c_char,
    addr_len: usize,
    options: *const fm_prometheus_options,
    out: *mut *mut fm_prometheus_server,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let a = str_arg(addr, addr_len, "addr")?;
        out_arg(out, "out")?;
        // SAFETY: C contract: `options` is NULL or a live options handle.
        let o = unsafe { fm_prometheus_options::get(options) }.cloned().unwrap_or_default();
        let s = PrometheusServer::start(p, a, o).map_err(core_err)?;
        write_out(out, fm_prometheus_server::into_raw(s));
        Ok(())
    }
}

/// The TCP port the endpoint listens on (0 for NULL).
#[no_mangle]
pub extern "C" fn fm_prometheus_server_port(server: *const fm_prometheus_server) -> u32 {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live server.
        unsafe { fm_prometheus_server::get(server) }.map_or(0, |s| u32::from(s.local_addr().port()))
    }
}

/// Stops the endpoint: closes the socket and every connection, joins its
/// threads (waiting for a collection in progress, if any) and detaches its
/// reader. Idempotent. The handle stays valid until released.
/// Must not be called from an observable callback.
#[no_mangle]
pub extern "C" fn fm_prometheus_server_stop(server: *const fm_prometheus_server) -> fm_status {
    ffi_status! {
        arg(server, "server")?.stop();
        Ok(())
    }
}

/// Stops the endpoint (as `fm_prometheus_server_stop`) and frees the
/// handle. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_prometheus_server_release(server: *mut fm_prometheus_server) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned server released once.
        unsafe { fm_prometheus_server::free(server) }
    }
}

/// Encodes a snapshot (from `fm_manual_reader_collect`; use a cumulative
/// reader: delta sums and histograms are skipped) in a Prometheus format
/// into `buf[0..buf_len]`, for tests and node_exporter's textfile
/// collector. The output is not NUL-terminated.
///
/// Size query: with `buf` NULL and `buf_len` 0, writes the needed size to
/// `*out_len` and returns OK. When `buf_len` is too small, returns
/// `FM_STATUS_INVALID_ARGUMENT` (the message tells the needed size) and
/// writes nothing: the snapshot is unchanged, so call again with a larger
/// buffer. On success writes the bytes and their count to `*out_len`.
/// Thread safety: any thread (the snapshot is immutable).
#[no_mangle]
pub extern "C" fn fm_prometheus_encode(
    snapshot: *const fm_snapshot,
    format: fm_prometheus_format,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> fm_status {
    ffi_status! {
        arg(snapshot, "snapshot")?;
        out_arg(out_len, "out_len")?;
        let format = match format {
            FM_PROMETHEUS_FORMAT_TEXT => Format::Text,
            FM_PROMETHEUS_FORMAT_OPENMETRICS => Format::OpenMetrics,
            FM_PROMETHEUS_FORMAT_PROTOBUF => Format::Protobuf,
            f => return Err(fail(fm_status::InvalidArgument, format_args!("unknown format {f}"))),
        };
        buffer_arg(buf, buf_len)?;
        // SAFETY (both gets): the handles come from the live snapshot and
        // are borrowed from it for the duration of this call.
        let resource = unsafe { fm_attribute_set::get(fm_snapshot_resource(snapshot)) };
        let empty = AttributeSet::empty();
        let resource = resource.unwrap_or(&empty);
        let scopes: Vec<&ScopeMetrics> = (0..fm_snapshot_scope_count(snapshot))
            // SAFETY: see above.
            .filter_map(|i| unsafe { fm_scope_metrics::get(fm_snapshot_scope(snapshot, i)) })
            .collect();
        let mut bytes = Vec::new();
        crate::export::prometheus::encode_parts(resource, &scopes, format, &Default::default(), &mut bytes);
        write_buffer(&bytes, buf, buf_len, out_len)
    }
}
