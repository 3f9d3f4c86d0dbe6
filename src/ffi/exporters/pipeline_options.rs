//! The export pipeline's options (`fm_pipeline_options`: bounded queue,
//! batching, retries' time limit, circuit breaker, self-metrics) taken by
//! every `*_pipeline_exporter_new` constructor, and a pipeline exporter's
//! counters (`fm_exporter_pipeline_stats`).

use super::exporter::{fm_exporter, give};
use crate::export::pipeline::{PipelineBuilder, PipelineConfig, QueuePolicy};
use crate::ffi::handle::{arg, arg_mut, out_arg, write_out, Handle};
use crate::ffi::status::{core_err, fail, fm_status};
use std::time::Duration;

/// Configuration of the export pipeline (bounded queue, batching,
/// retries' time limit, circuit breaker, self-metrics) of the
/// `*_pipeline_exporter_new` constructors. Owned by the caller (release
/// with `fm_pipeline_options_release`); use it from one thread at a time.
/// Creating an exporter copies it.
pub struct fm_pipeline_options {
    _private: [u8; 0],
}

handle_types! {
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
pub(crate) fn positive_limits(
    points: u64,
    bytes: u64,
    what: &str,
) -> Result<(usize, usize), fm_status> {
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
