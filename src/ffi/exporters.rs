//! Push exporters: the Pushgateway, console, Prometheus text file and host
//! callback exporters behind one opaque `fm_exporter` handle.
//!
//! An exporter is driven by a reader that exports on its own (a periodic
//! reader takes an `fm_exporter`), or by the host with
//! `fm_exporter_export` on a snapshot it collected with a manual reader.

use super::handle::{arg, arg_mut, out_arg, str_arg, timeout_ms_arg, write_out, Handle};
use super::reader::{
    fm_temporality_preference, FM_TEMPORALITY_PREFERENCE_CUMULATIVE,
    FM_TEMPORALITY_PREFERENCE_DELTA, FM_TEMPORALITY_PREFERENCE_LOWMEMORY,
};
use super::snapshot::{fm_snapshot, Snapshot};
use super::status::{core_err, fail, fm_status};
use crate::collect::data::ResourceMetrics;
use crate::error::Error;
use crate::export::console::ConsoleExporter;
use crate::export::host::{BytesExporter, SnapshotExporter, WireFormat};
use crate::export::pipeline::{PipelineBuilder, PipelineConfig, QueuePolicy};
use crate::export::pushgateway::{PushMethod, PushgatewayExporter, PushgatewayExporterBuilder};
use crate::export::textfile::TextFileExporter;
use crate::export::PushExporter;
use crate::export::{check_basic_auth_user, check_header};
use crate::readers::TemporalityPreference;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An exporter. Owned by the caller (release with `fm_exporter_release`);
/// a reader it is given to keeps its own reference, so releasing the
/// handle does not stop that reader's exports.
/// Thread safety: any thread; exports through one reader never overlap.
pub struct fm_exporter {
    _private: [u8; 0],
}

/// Configuration of a Pushgateway exporter. Owned by the caller (release
/// with `fm_pushgateway_options_release`); use it from one thread at a
/// time. Creating an exporter copies it.
pub struct fm_pushgateway_options {
    _private: [u8; 0],
}

/// Encoding handed to a bytes callback (one of `FM_WIRE_FORMAT_*`).
pub type fm_wire_format = u32;
/// Prometheus text format 0.0.4.
pub const FM_WIRE_FORMAT_PROMETHEUS_TEXT: fm_wire_format = 0;
/// OpenMetrics 1.0 text.
pub const FM_WIRE_FORMAT_OPENMETRICS: fm_wire_format = 1;
/// OTLP `ExportMetricsServiceRequest`, protobuf.
pub const FM_WIRE_FORMAT_OTLP_PROTOBUF: fm_wire_format = 2;
/// OTLP `ExportMetricsServiceRequest`, OTLP/JSON.
pub const FM_WIRE_FORMAT_OTLP_JSON: fm_wire_format = 3;

/// Pushgateway HTTP method (one of `FM_PUSH_METHOD_*`).
pub type fm_push_method = u32;
/// PUT: a push replaces every metric of the group.
pub const FM_PUSH_METHOD_PUT: fm_push_method = 0;
/// POST: a push replaces only the metric families it contains.
pub const FM_PUSH_METHOD_POST: fm_push_method = 1;

/// Receives one encoded snapshot: `data[0..len]` (borrowed for the call),
/// its NUL-terminated static `content_type`, and the registered
/// `user_data`. Return true when the bytes were sent, false to report the
/// export as failed. Runs on the exporting thread (a periodic reader's own
/// thread, or a pipeline's worker); must not throw or unwind, nor collect
/// from the same provider. A callback may block: `fm_provider_force_flush`
/// and `fm_provider_shutdown` still return at their deadline
/// (`FM_STATUS_TIMEOUT`, the points counted as not delivered) while it
/// goes on; `user_data` stays valid until it returns (`free_user_data`
/// runs after the last call).
pub type fm_export_bytes_callback = Option<
    unsafe extern "C" fn(
        data: *const u8,
        len: usize,
        content_type: *const c_char,
        user_data: *mut c_void,
    ) -> bool,
>;

/// Receives one snapshot to walk with the `fm_snapshot_*` functions; the
/// snapshot (and everything borrowed from it) is valid for the call only:
/// never release it. Return true on success, false to report the export
/// as failed. Must not throw or unwind. Runs on the periodic reader's
/// thread; if it blocks, flush and shutdown return at their deadline as
/// for `fm_export_bytes_callback`.
pub type fm_export_snapshot_callback =
    Option<unsafe extern "C" fn(snapshot: *const fm_snapshot, user_data: *mut c_void) -> bool>;

/// Frees a callback's `user_data`; called exactly once, when the last
/// reference to the exporter (handle or reader) is gone. May be NULL.
pub type fm_free_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Configuration of the export pipeline (bounded queue, batching,
/// retries' time limit, circuit breaker, self-metrics) of the
/// `*_pipeline_exporter_new` constructors. Owned by the caller (release
/// with `fm_pipeline_options_release`); use it from one thread at a time.
/// Creating an exporter copies it.
pub struct fm_pipeline_options {
    _private: [u8; 0],
}

handle_types! {
    fm_exporter => Arc<dyn PushExporter>;
    fm_pushgateway_options => PushgatewayExporterBuilder;
    fm_pipeline_options => PipelineConfig;
}

/// What a full export queue does (one of `FM_QUEUE_POLICY_*`).
pub type fm_queue_policy = u32;
/// Refuse the new batch (default).
pub const FM_QUEUE_POLICY_DROP_NEWEST: fm_queue_policy = 0;
/// Drop queued batches, oldest first.
pub const FM_QUEUE_POLICY_DROP_OLDEST: fm_queue_policy = 1;

/// Counters of a pipeline exporter (`fm_exporter_pipeline_stats`).
/// Invariant: `points_enqueued + points_rejected = points_delivered +
/// (sum of points_dropped_*) + queued_points` (`points_dropped_rejected`
/// included).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fm_pipeline_stats {
    /// Points accepted into the queue.
    pub points_enqueued: u64,
    /// Points refused at the queue's door (full, or shutting down); also
    /// counted in the matching `points_dropped_*`.
    pub points_rejected: u64,
    /// Points the receiver accepted.
    pub points_delivered: u64,
    /// Requests the receiver accepted.
    pub requests_delivered: u64,
    /// Points dropped because the queue was full.
    pub points_dropped_queue_full: u64,
    /// Points dropped after a non-retryable error.
    pub points_dropped_permanent_error: u64,
    /// Points dropped after the retries ran out.
    pub points_dropped_retries_exhausted: u64,
    /// Points still undelivered at shutdown's deadline.
    pub points_dropped_shutdown: u64,
    /// Cumulative points replaced by a newer snapshot (no counts lost).
    pub points_dropped_superseded: u64,
    /// Failed attempts: HTTP 4xx.
    pub requests_failed_4xx: u64,
    /// Failed attempts: HTTP 5xx.
    pub requests_failed_5xx: u64,
    /// Failed attempts: timeouts.
    pub requests_failed_timeout: u64,
    /// Failed attempts: connection refused, reset or closed.
    pub requests_failed_connection: u64,
    /// Failed attempts: anything else.
    pub requests_failed_other: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Points queued or in flight now.
    pub queued_points: u64,
    /// Bytes queued or in flight now.
    pub queued_bytes: u64,
    /// Queue capacity in points.
    pub capacity_points: u64,
    /// Queue capacity in bytes.
    pub capacity_bytes: u64,
    /// Circuit breaker: 0 closed, 1 open, 2 half-open.
    pub circuit_state: u32,
    /// Times the circuit opened.
    pub circuit_opened: u64,
    /// Points the receiver rejected inside an accepted request (OTLP
    /// partial success); not counted in `points_delivered`.
    pub points_dropped_rejected: u64,
}

fn pipeline_options_mut<'a>(
    o: *mut fm_pipeline_options,
) -> Result<&'a mut PipelineConfig, fm_status> {
    arg_mut(o, "options")
}

/// Applies the pipeline options a C caller set (NULL: the defaults) to a
/// builder whose transport settings are already in place, builds the
/// pipeline and writes it to `out`.
pub(crate) fn give_pipeline(
    out: *mut *mut fm_exporter,
    b: PipelineBuilder,
    o: *const fm_pipeline_options,
) -> Result<(), fm_status> {
    give(out, with_pipeline_options(b, o).build().map_err(core_err)?);
    Ok(())
}

/// `b` with the pipeline options a C caller set (NULL: `b` as it is).
pub(crate) fn with_pipeline_options(
    b: PipelineBuilder,
    o: *const fm_pipeline_options,
) -> PipelineBuilder {
    // SAFETY: C contract: `o` is NULL or a live options handle.
    match unsafe { fm_pipeline_options::get(o) } {
        None => b,
        Some(c) => b
            .with_queue_limits(c.max_queue_points, c.max_queue_bytes)
            .with_policy(c.policy)
            .with_max_block(c.max_block)
            .with_batch_limits(c.batch)
            .with_max_elapsed(c.max_elapsed)
            .with_circuit_breaker(c.breaker_threshold, c.breaker_cooldown)
            .with_self_metrics(c.self_metrics)
            .with_encode_threads(c.encode_threads),
    }
}

/// Creates pipeline options with the defaults: queue of 262144 points /
/// 32 MiB, DROP_NEWEST, no waiting for room, batches of 8192 points /
/// 4 MiB, 60 s per batch, circuit opening after 5 consecutive failures
/// for 5 s, self-metrics on, 2 encoding threads.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_pipeline_options_release`.
#[no_mangle]
pub extern "C" fn fm_pipeline_options_new(out: *mut *mut fm_pipeline_options) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        write_out(out, fm_pipeline_options::into_raw(PipelineConfig::default()));
        Ok(())
    }
}

/// Releases pipeline options. NULL is fine. Must not be called twice.
#[no_mangle]
pub extern "C" fn fm_pipeline_options_release(options: *mut fm_pipeline_options) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned options handle released once.
        unsafe { fm_pipeline_options::free(options) }
    }
}

/// A (points, bytes) limit pair as sizes; 0 in either is
/// `FM_STATUS_INVALID_ARGUMENT`.
fn positive_limits(points: u64, bytes: u64, what: &str) -> Result<(usize, usize), fm_status> {
    if points == 0 || bytes == 0 {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("{what} must be positive"),
        ));
    }
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok((size(points), size(bytes)))
}

/// Queue capacity: most points and most request bytes queued or in
/// flight (0 is `FM_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_queue_limits(
    options: *mut fm_pipeline_options,
    max_points: u64,
    max_bytes: u64,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        (o.max_queue_points, o.max_queue_bytes) = positive_limits(max_points, max_bytes, "queue limits")?;
        Ok(())
    }
}

/// What a full queue does (`FM_QUEUE_POLICY_*`), and how long an export
/// may wait for room first (`max_block_ms`, never past the export's
/// deadline; 0: never wait, the default).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_queue_policy(
    options: *mut fm_pipeline_options,
    policy: fm_queue_policy,
    max_block_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        o.policy = match policy {
            FM_QUEUE_POLICY_DROP_NEWEST => QueuePolicy::DropNewest,
            FM_QUEUE_POLICY_DROP_OLDEST => QueuePolicy::DropOldest,
            p => return Err(fail(fm_status::InvalidArgument, format_args!("unknown queue policy {p}"))),
        };
        o.max_block = Duration::from_millis(max_block_ms);
        Ok(())
    }
}

/// Most points and bytes in one request (0 is
/// `FM_STATUS_INVALID_ARGUMENT`; both are clamped to half the queue and
/// bytes to 64 MiB).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_batch_limits(
    options: *mut fm_pipeline_options,
    max_points: u64,
    max_bytes: u64,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        (o.batch.max_points, o.batch.max_bytes) = positive_limits(max_points, max_bytes, "batch limits")?;
        Ok(())
    }
}

/// Retry time limit per batch: a batch is dropped (retries exhausted) once
/// its next attempt would start later than `max_elapsed_ms` after its
/// first (default 60000). The attempts and backoff come from the
/// transport's options (`fm_otlp_options_set_retry`).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_max_elapsed_ms(
    options: *mut fm_pipeline_options,
    max_elapsed_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        o.max_elapsed = Duration::from_millis(max_elapsed_ms);
        Ok(())
    }
}

/// Circuit breaker: after `threshold` consecutive failed requests nothing
/// is sent for `cooldown_ms`, then one probe request; `threshold` 0
/// disables it (default 5 and 5000).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_circuit_breaker(
    options: *mut fm_pipeline_options,
    threshold: u32,
    cooldown_ms: u64,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        o.breaker_threshold = threshold;
        o.breaker_cooldown = Duration::from_millis(cooldown_ms);
        Ok(())
    }
}

/// Self-metrics (`ferrometer.exporter.*`, registered with the provider of
/// the periodic reader the exporter is given to) on (default) or off.
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_self_metrics(
    options: *mut fm_pipeline_options,
    enabled: bool,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        o.self_metrics = enabled;
        Ok(())
    }
}

/// Threads encoding one large snapshot (default 2; 0 or 1: one).
#[no_mangle]
pub extern "C" fn fm_pipeline_options_set_encode_threads(
    options: *mut fm_pipeline_options,
    threads: u32,
) -> fm_status {
    ffi_status! {
        let o = pipeline_options_mut(options)?;
        o.encode_threads = (threads as usize).max(1);
        Ok(())
    }
}

/// Writes the counters of a pipeline exporter (made by a
/// `*_pipeline_exporter_new` function) to `*out`. Returns
/// `FM_STATUS_INVALID_ARGUMENT` for another kind of exporter.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_exporter_pipeline_stats(
    exporter: *const fm_exporter,
    out: *mut fm_pipeline_stats,
) -> fm_status {
    ffi_status! {
        let e = arg(exporter, "exporter")?;
        out_arg(out, "out")?;
        let s = e
            .pipeline_stats()
            .ok_or_else(|| fail(fm_status::InvalidArgument, "the exporter has no pipeline"))?;
        use crate::export::pipeline::{DropReason as D, FailReason as F};
        write_out(out, fm_pipeline_stats {
            points_enqueued: s.points_enqueued,
            points_rejected: s.rejected_at_enqueue,
            points_delivered: s.points_delivered,
            requests_delivered: s.requests_delivered,
            points_dropped_queue_full: s.dropped(D::QueueFull),
            points_dropped_permanent_error: s.dropped(D::PermanentError),
            points_dropped_retries_exhausted: s.dropped(D::RetriesExhausted),
            points_dropped_shutdown: s.dropped(D::Shutdown),
            points_dropped_superseded: s.dropped(D::Superseded),
            requests_failed_4xx: s.failed(F::Status4xx),
            requests_failed_5xx: s.failed(F::Status5xx),
            requests_failed_timeout: s.failed(F::Timeout),
            requests_failed_connection: s.failed(F::Connection),
            requests_failed_other: s.failed(F::Other),
            retries: s.retries,
            queued_points: s.queued_points,
            queued_bytes: s.queued_bytes,
            capacity_points: s.capacity_points,
            capacity_bytes: s.capacity_bytes,
            circuit_state: s.circuit.as_u64() as u32,
            circuit_opened: s.circuit_opened,
            points_dropped_rejected: s.dropped(D::Rejected),
        });
        Ok(())
    }
}

pub(crate) fn pref_arg(
    t: fm_temporality_preference,
) -> std::result::Result<TemporalityPreference, fm_status> {
    match t {
        FM_TEMPORALITY_PREFERENCE_CUMULATIVE => Ok(TemporalityPreference::Cumulative),
        FM_TEMPORALITY_PREFERENCE_DELTA => Ok(TemporalityPreference::Delta),
        FM_TEMPORALITY_PREFERENCE_LOWMEMORY => Ok(TemporalityPreference::LowMemory),
        t => Err(fail(
            fm_status::InvalidArgument,
            format_args!("unknown temporality preference {t}"),
        )),
    }
}

pub(crate) fn give(out: *mut *mut fm_exporter, e: impl PushExporter) {
    let e: Arc<dyn PushExporter> = Arc::new(e);
    write_out(out, fm_exporter::into_raw(e));
}

/// A host callback with its user data, freed with it.
struct HostFn<F: Copy> {
    f: F,
    user_data: usize,
    free: fm_free_callback,
}

impl<F: Copy> HostFn<F> {
    fn user_data(&self) -> *mut c_void {
        self.user_data as *mut c_void
    }
}

impl<F: Copy> Drop for HostFn<F> {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the registrant gave `free` for this `user_data`; it is
            // called once, after the last call of the callback.
            unsafe { free(self.user_data()) };
        }
    }
}

fn failed_callback() -> Error {
    Error::Failed("the host exporter callback returned false".into())
}

/// Releases an exporter handle. NULL is fine; must not be called twice.
/// Readers using the exporter keep it alive.
#[no_mangle]
pub extern "C" fn fm_exporter_release(exporter: *mut fm_exporter) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned exporter released once.
        unsafe { fm_exporter::free(exporter) }
    }
}

/// Exports a snapshot now (from a manual reader whose temporality matches
/// `fm_exporter_temporality`), within `timeout_ms`. Returns
/// `FM_STATUS_TIMEOUT` when the deadline passed, `FM_STATUS_FAILED` when
/// the destination refused or could not be reached (the message says why).
/// Runs on the calling thread: the network exporters keep `timeout_ms`; a
/// host callback or a blocked file write holds the call as long as it
/// blocks (a periodic reader's calls never wait past their deadline).
/// Do not call concurrently with a reader that drives the same exporter.
#[no_mangle]
pub extern "C" fn fm_exporter_export(
    exporter: *const fm_exporter,
    snapshot: *const fm_snapshot,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let e = arg(exporter, "exporter")?;
        let s = arg(snapshot, "snapshot")?;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        e.export(&s.rm, deadline).map_err(core_err)
    }
}

/// Flushes what the exporter buffers, within `timeout_ms`.
#[no_mangle]
pub extern "C" fn fm_exporter_force_flush(
    exporter: *const fm_exporter,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        arg(exporter, "exporter")?
            .force_flush(Duration::from_millis(timeout_ms))
            .map_err(core_err)
    }
}

/// Shuts the exporter down (a Pushgateway exporter configured so deletes
/// its group). For exporters the host drives itself; a reader shuts its
/// exporter down on its own.
#[no_mangle]
pub extern "C" fn fm_exporter_shutdown(exporter: *const fm_exporter, timeout_ms: u64) -> fm_status {
    ffi_status! {
        arg(exporter, "exporter")?
            .shutdown(Duration::from_millis(timeout_ms))
            .map_err(core_err)
    }
}

/// The temporality the exporter wants (`FM_TEMPORALITY_PREFERENCE_*`;
/// CUMULATIVE for NULL).
#[no_mangle]
pub extern "C" fn fm_exporter_temporality(
    exporter: *const fm_exporter,
) -> fm_temporality_preference {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live exporter handle.
        match unsafe { fm_exporter::get(exporter) }.map(|e| e.temporality()) {
            Some(TemporalityPreference::Delta) => FM_TEMPORALITY_PREFERENCE_DELTA,
            Some(TemporalityPreference::LowMemory) => FM_TEMPORALITY_PREFERENCE_LOWMEMORY,
            _ => FM_TEMPORALITY_PREFERENCE_CUMULATIVE,
        }
    }
}

/// An exporter printing each snapshot readably to standard output, one
/// block per metric. Ownership: `*out` is owned by the caller; release
/// with `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_console_exporter_new(
    temporality: fm_temporality_preference,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let t = pref_arg(temporality)?;
        give(out, ConsoleExporter::stdout().with_temporality(t));
        Ok(())
    }
}

/// An exporter writing the Prometheus text format to `path` (copied;
/// conventionally `*.prom` in node_exporter's textfile directory) on each
/// export, atomically: it writes `<path>.<pid>.tmp` and renames it. No
/// timestamps are written. Returns `FM_STATUS_INVALID_ARGUMENT` for an
/// empty path. Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_textfile_exporter_new(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let p = str_arg(path, path_len, "path")?;
        if p.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "path is empty"));
        }
        give(out, TextFileExporter::new(p));
        Ok(())
    }
}

fn wire_format(f: fm_wire_format) -> std::result::Result<WireFormat, fm_status> {
    let w = match f {
        FM_WIRE_FORMAT_PROMETHEUS_TEXT => WireFormat::PrometheusText,
        FM_WIRE_FORMAT_OPENMETRICS => WireFormat::OpenMetrics,
        FM_WIRE_FORMAT_OTLP_PROTOBUF => WireFormat::OtlpProtobuf,
        FM_WIRE_FORMAT_OTLP_JSON => WireFormat::OtlpJson,
        f => {
            return Err(fail(
                fm_status::InvalidArgument,
                format_args!("unknown wire format {f}"),
            ))
        }
    };
    Ok(w)
}

fn content_type_c(w: WireFormat) -> &'static CStr {
    match w {
        WireFormat::PrometheusText => c"text/plain; version=0.0.4; charset=utf-8",
        WireFormat::OpenMetrics => c"application/openmetrics-text; version=1.0.0; charset=utf-8",
        WireFormat::OtlpProtobuf => c"application/x-protobuf",
        _ => c"application/json",
    }
}

type BytesCFn = unsafe extern "C" fn(*const u8, usize, *const c_char, *mut c_void) -> bool;
type SnapshotCFn = unsafe extern "C" fn(*const fm_snapshot, *mut c_void) -> bool;

/// The host-bytes exporter of `fm_bytes_exporter_new` and
/// `fm_bytes_pipeline_exporter_new`: checks the arguments and wraps the
/// callback.
fn bytes_exporter(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
) -> Result<BytesExporter, fm_status> {
    let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
    let t = pref_arg(temporality)?;
    let w = wire_format(format)?;
    if !w.is_available() {
        return Err(fail(
            fm_status::InvalidArgument,
            format_args!("wire format {w:?} is not available in this build"),
        ));
    }
    let host: HostFn<BytesCFn> = HostFn {
        f,
        user_data: user_data as usize,
        free: free_user_data,
    };
    let ct = content_type_c(w);
    Ok(BytesExporter::new(w, move |bytes: &[u8], _ct: &str| {
        // SAFETY: the registrant promised `f` is callable with its
        // `user_data` until `free_user_data` runs (after the last call);
        // `bytes` and `ct` outlive the call.
        let ok = unsafe { (host.f)(bytes.as_ptr(), bytes.len(), ct.as_ptr(), host.user_data()) };
        if ok {
            Ok(())
        } else {
            Err(failed_callback())
        }
    })
    .map_err(core_err)?
    .with_temporality(t))
}

/// An exporter that encodes each snapshot in `format` and calls
/// `callback(data, len, content_type, user_data)`, for hosts with their own
/// transport. `free_user_data` (may be NULL) is called once when the
/// exporter is gone. Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL
/// callback, an unknown format or temporality, or a format this build
/// cannot encode (then `free_user_data` is not called).
/// Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_bytes_exporter_new(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let e = bytes_exporter(format, temporality, callback, user_data, free_user_data)?;
        give(out, e);
        Ok(())
    }
}

/// An exporter that calls `callback(snapshot, user_data)` with each
/// snapshot, to walk with the `fm_snapshot_*` functions (borrowed for the
/// call only). `free_user_data` (may be NULL) is called once when the
/// exporter is gone. Returns `FM_STATUS_INVALID_ARGUMENT` for a NULL
/// callback or an unknown temporality. Ownership: `*out` is owned by the
/// caller; release with `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_snapshot_exporter_new(
    temporality: fm_temporality_preference,
    callback: fm_export_snapshot_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
        let t = pref_arg(temporality)?;
        let host: HostFn<SnapshotCFn> = HostFn { f, user_data: user_data as usize, free: free_user_data };
        let e = SnapshotExporter::new(move |rm: &ResourceMetrics| {
            let snap = Snapshot::new(rm.clone());
            // SAFETY: as for the bytes callback; `snap` outlives the call.
            let ok = unsafe { (host.f)(fm_snapshot::borrowed(&snap), host.user_data()) };
            if ok { Ok(()) } else { Err(failed_callback()) }
        })
        .with_temporality(t);
        give(out, e);
        Ok(())
    }
}

fn pg_mut<'a>(
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
        let o = pg_mut(options)?;
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
        let o = pg_mut(options)?;
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
        let o = pg_mut(options)?;
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
        let o = pg_mut(options)?;
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
        let o = pg_mut(options)?;
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
        let o = pg_mut(options)?;
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

/// `fm_bytes_exporter_new` behind the export pipeline (`pipeline` may be
/// NULL for its defaults): the callback runs on the pipeline's worker
/// thread, once per request (OTLP protobuf is split into size-bounded
/// batches; other formats pass whole snapshots); a callback returning
/// false is retried (5 attempts, backoff 1 s to 5 s) and, when retries
/// run out, the batch is dropped and counted. Errors and ownership as for
/// `fm_bytes_exporter_new`.
#[no_mangle]
pub extern "C" fn fm_bytes_pipeline_exporter_new(
    format: fm_wire_format,
    temporality: fm_temporality_preference,
    callback: fm_export_bytes_callback,
    user_data: *mut c_void,
    free_user_data: fm_free_callback,
    pipeline: *const fm_pipeline_options,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let e = bytes_exporter(format, temporality, callback, user_data, free_user_data)?;
        give_pipeline(out, e.into_pipeline(), pipeline)
    }
}

/// Attaches a periodic reader to `provider`: every `interval_ms`
/// milliseconds a background thread collects (with the exporter's
/// temporality) and exports through `exporter` with a deadline of
/// `timeout_ms`. 0 for either means the default (`OTEL_METRIC_EXPORT_INTERVAL`
/// / `OTEL_METRIC_EXPORT_TIMEOUT`, else 60 s / 30 s). The reader keeps its own
/// reference to the exporter; `fm_provider_force_flush` exports now and
/// `fm_provider_shutdown` does a last export, then shuts the exporter down.
/// Every export runs on the reader's thread: flush and shutdown wait for
/// theirs until their own timeout (plus at most 100 ms), then return
/// `FM_STATUS_TIMEOUT` with the points still being exported counted in the
/// message as not delivered, while that export finishes in the background;
/// `FM_STATUS_FAILED` when points were refused or dropped.
/// A pipeline exporter's self-metrics (unless turned off in its
/// `fm_pipeline_options`) are registered with `provider` here.
/// Errors: INVALID_ARGUMENT for NULL, SHUTDOWN after provider shutdown.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_provider_add_periodic_reader(
    provider: *const super::provider::fm_provider,
    exporter: *const fm_exporter,
    interval_ms: u64,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let e = arg(exporter, "exporter")?;
        let mut b = crate::readers::PeriodicReader::builder(e.clone());
        if interval_ms > 0 {
            b = b.with_interval(Duration::from_millis(interval_ms));
        }
        if timeout_ms > 0 {
            b = b.with_timeout(Duration::from_millis(timeout_ms));
        }
        // Attaching registers a pipeline's self-metrics (PeriodicReader::on_attach).
        p.add_reader(b.build()).map_err(core_err)
    }
}

/// Attaches the exporters named by `OTEL_METRICS_EXPORTER` (comma
/// separated: `otlp` — the default when unset —, `prometheus`, `console`,
/// `none`) to `provider`. `otlp` and `console` become periodic readers
/// (`OTEL_METRIC_EXPORT_INTERVAL`/`_TIMEOUT`; the OTLP exporter reads the
/// `OTEL_EXPORTER_OTLP_*` variables). `prometheus` starts an endpoint on
/// `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`
/// (default localhost:9464) whose handle is written to `*out_server`
/// (owned by the caller: `fm_prometheus_server_release`); `*out_server` is
/// set to NULL when no endpoint was started. With `skip_prometheus`, or
/// when `out_server` is NULL, a `prometheus` entry is ignored.
/// Nothing is attached on error (INVALID_ARGUMENT for a bad variable,
/// FAILED when a port is in use). Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_provider_attach_env_exporters(
    provider: *const super::provider::fm_provider,
    skip_prometheus: bool,
    out_server: *mut *mut super::prometheus::fm_prometheus_server,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let skip = skip_prometheus || out_server.is_null();
        let started = crate::export::env::attach_env_exporters(p, skip).map_err(core_err)?;
        if !out_server.is_null() {
            let h = match started.prometheus {
                Some(s) => super::prometheus::fm_prometheus_server::into_raw(s),
                None => std::ptr::null_mut(),
            };
            write_out(out_server, h);
        }
        Ok(())
    }
}
