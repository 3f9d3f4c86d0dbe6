//! The export pipeline: a bounded queue and a worker thread between a
//! reader and a transport, so a push exporter never makes a collection
//! wait on the network, bounds its memory during an outage, retries what
//! can be retried, drops only what it must, and says exactly what it
//! dropped.
//!
//! ```text
//!  PeriodicReader ──export(snapshot)──▶ ExportPipeline (a PushExporter)
//!     │ encode into batches (BatchEncoder, buffers reused)
//!     │ cumulative: drop queued older snapshots ("superseded")
//!     ▼
//!  bounded queue (points + bytes; DropNewest / DropOldest; optional
//!     │          bounded wait for room, never past the export deadline)
//!     ▼
//!  worker thread ── gzip (if configured) ── Transport::send (one attempt)
//!     retries: exponential backoff, full jitter, Retry-After, per-batch
//!              attempt and elapsed-time limits
//!     circuit breaker: N consecutive failures → open for a cool-down →
//!              half-open: one probe request
//! ```
//!
//! Every point handed to [`ExportPipeline::export`] ends up in exactly one
//! of: delivered, dropped with a [`DropReason`], or still queued; the
//! counters ([`ExportPipeline::stats`]) obey
//! `points_offered = points_delivered + dropped_total + queued_points`.
//!
//! Temporality-aware recovery: with cumulative temporality a newer
//! snapshot replaces every queued older one (they are dropped as
//! `superseded`, not lost: the newer one carries the same totals), so the
//! first success after an outage carries the full totals. With delta
//! temporality the queued batches are sent in order, oldest first, and
//! what the queue cannot hold is dropped and counted in points.
//!
//! What a flush or shutdown reports ([`FlushReport`], and the error of
//! `force_flush`/`shutdown`) is what the receiver is missing. With delta
//! temporality every lost point is missing. With cumulative temporality a
//! point lost earlier (refused with a 400, rejected in a partial success,
//! dropped) is missing only until a later snapshot is delivered in full:
//! that snapshot carries the same totals, so the loss is then reported as
//! superseded, not undelivered. The counters keep saying what happened to
//! each request (`permanent_error`, `rejected`, ...).
//!
//! A receiver's partial success (OTLP `rejected_data_points`) counts the
//! rejected points as dropped (`rejected`), the rest of the request as
//! delivered.
//!
//! ```no_run
//! use ferrometer::export::otlp::OtlpHttpExporter;
//! use ferrometer::{MeterProvider, PeriodicReader};
//! let pipeline = OtlpHttpExporter::builder() // OTEL_EXPORTER_OTLP_* apply
//!     .build()?
//!     .into_pipeline()
//!     .with_queue_limits(65_536, 8 << 20)
//!     .build()?;
//! let provider = MeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(pipeline.clone()).build())
//!     .build();
//! // ferrometer.exporter.* self-metrics were registered when the provider
//! // attached the reader (PipelineBuilder::with_self_metrics(false): none).
//! // ... record ...
//! provider.shutdown()?; // final export, flush, undelivered points reported
//! println!("{:?}", pipeline.stats());
//! # Ok::<(), ferrometer::Error>(())
//! ```
//!
//! Memory stays bounded by the queue limits plus the encoder's scratch
//! buffers and one request body per encoding thread; a single request
//! larger than the limits (only possible with whole-snapshot encoders,
//! e.g. the Pushgateway's) is accepted when the queue is empty.
//!
//! Defaults ([`PipelineBuilder`]):
//!
//! | setting | default |
//! |---|---|
//! | queue capacity | 262 144 points, 32 MiB |
//! | full-queue policy | [`QueuePolicy::DropNewest`] |
//! | wait for room | 0 (never block the collecting thread) |
//! | batch size | 8192 points, 4 MiB (clamped to half the queue) |
//! | request timeout | 10 s (`OTEL_EXPORTER_OTLP_TIMEOUT` for OTLP) |
//! | retries | 5 attempts, 1 s initial backoff, 5 s max, ×1.5, full jitter |
//! | max elapsed per batch | 60 s |
//! | circuit breaker | opens after 5 consecutive failures, 5 s cool-down |
//! | gzip level | 6 (when the transport asks for gzip) |
//! | encoding threads | 2 for snapshots of at least 2 batches per thread |
//! | self-metrics | on (registered when a provider attaches the periodic reader) |

mod encoder;
pub(crate) mod http_client;
pub(crate) mod https;
mod metrics;
mod retry;
mod stats;
mod transport;
mod worker;

// Compatibility paths: the OTLP encoders live with OTLP (the pipeline is
// protocol-neutral and imports no exporter); these names keep
// `export::pipeline::Otlp*Encoder` working.
pub use crate::export::otlp::{OtlpJsonEncoder, OtlpProtobufEncoder};
pub use encoder::{BatchEncoder, BatchLimits, WholeSnapshotEncoder};
pub(crate) use retry::Jitter;
pub use retry::RetryPolicy;
pub use stats::{CircuitState, DropReason, PipelineStats};
pub(crate) use transport::{is_transient_status, parse_retry_after};
pub use transport::{FailReason, Outcome, Transport};

use crate::collect::data::ResourceMetrics;
use crate::diagnostics::{diag_error, diag_warn};
use crate::error::{Error, Result};
use crate::export::PushExporter;
use crate::sync::{lock, Mutex, MutexGuard};
use crate::temporality::TemporalityPreference;
use stats::Counters;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the queue does with a batch that does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// Refuse the new batch (its points are counted as `queue_full`).
    #[default]
    DropNewest,
    /// Drop queued batches, oldest first, until the new one fits.
    DropOldest,
}

/// Called with every dropped batch: the reason, the request body (gzipped
/// when `compressed`), and its point count. Runs on the thread that
/// dropped it, outside the queue lock; keep it short. Not called for
/// points the receiver rejected inside a request it accepted
/// ([`DropReason::Rejected`]): the body holds delivered points too.
pub type DropHook = dyn Fn(DropReason, &[u8], usize, bool) + Send + Sync;

/// The resolved configuration of a pipeline.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Most points queued or in flight.
    pub max_queue_points: usize,
    /// Most request-body bytes queued or in flight.
    pub max_queue_bytes: usize,
    /// What happens to a batch that does not fit.
    pub policy: QueuePolicy,
    /// How long `export` may wait for room before applying the policy
    /// (never past the export's deadline). Zero: never wait.
    pub max_block: Duration,
    /// Largest request (clamped to half the queue capacity).
    pub batch: BatchLimits,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Backoff and attempts per batch.
    pub retry: RetryPolicy,
    /// A batch is dropped (`retries_exhausted`) once its next attempt
    /// would start later than this after its first.
    pub max_elapsed: Duration,
    /// Consecutive failed requests that open the circuit (0: never).
    pub breaker_threshold: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_cooldown: Duration,
    /// gzip every request body at this level (1-9) on the worker thread;
    /// `None`: send as encoded. The transport must announce it
    /// (`Content-Encoding`).
    pub gzip_level: Option<u32>,
    /// Temporality asked of the reader; `Cumulative` enables supersession.
    pub temporality: TemporalityPreference,
    /// Whether [`ExportPipeline::register_metrics`] registers anything.
    pub self_metrics: bool,
    /// Threads that encode one large snapshot (one with at least two
    /// batches' worth of points per thread) when the reader hands over
    /// its snapshot ([`PushExporter::export_owned`]): the exporting
    /// thread plus scoped helpers. 1: encode on the exporting thread only.
    pub encode_threads: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            max_queue_points: 262_144,
            max_queue_bytes: 32 << 20,
            policy: QueuePolicy::DropNewest,
            max_block: Duration::ZERO,
            batch: BatchLimits::default(),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_elapsed: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(5),
            gzip_level: None,
            temporality: TemporalityPreference::Cumulative,
            self_metrics: true,
            encode_threads: 2,
        }
    }
}

/// Builds an [`ExportPipeline`] around a transport.
#[must_use]
pub struct PipelineBuilder {
    transport: Box<dyn Transport>,
    encoder: Box<dyn BatchEncoder>,
    config: PipelineConfig,
    on_drop: Option<Box<DropHook>>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("transport", &self.transport.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// The encoder (default: OTLP protobuf).
    pub fn with_encoder(mut self, e: impl BatchEncoder) -> Self {
        self.encoder = Box::new(e);
        self
    }
    /// Queue capacity in points and in bytes.
    pub fn with_queue_limits(mut self, points: usize, bytes: usize) -> Self {
        self.config.max_queue_points = points.max(1);
        self.config.max_queue_bytes = bytes.max(1);
        self
    }
    /// Full-queue policy.
    pub fn with_policy(mut self, p: QueuePolicy) -> Self {
        self.config.policy = p;
        self
    }
    /// Let `export` wait up to `d` for room (never past its deadline).
    pub fn with_max_block(mut self, d: Duration) -> Self {
        self.config.max_block = d;
        self
    }
    /// Request size limits.
    pub fn with_batch_limits(mut self, l: BatchLimits) -> Self {
        self.config.batch = l;
        self
    }
    /// Timeout of one request.
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }
    /// Retry policy.
    pub fn with_retry(mut self, r: RetryPolicy) -> Self {
        self.config.retry = r;
        self
    }
    /// Most time between a batch's first attempt and its last.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.config.max_elapsed = d;
        self
    }
    /// Circuit breaker: open after `threshold` consecutive failures (0
    /// disables it) for `cooldown`.
    pub fn with_circuit_breaker(mut self, threshold: u32, cooldown: Duration) -> Self {
        self.config.breaker_threshold = threshold;
        self.config.breaker_cooldown = cooldown;
        self
    }
    /// gzip request bodies at `level` (1-9), `None` for no compression.
    pub fn with_gzip(mut self, level: Option<u32>) -> Self {
        self.config.gzip_level = level.map(|l| l.clamp(1, 9));
        self
    }
    /// Temporality asked of the reader.
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.config.temporality = t;
        self
    }
    /// Self-metrics on (default) or off.
    pub fn with_self_metrics(mut self, on: bool) -> Self {
        self.config.self_metrics = on;
        self
    }
    /// Threads encoding one large snapshot (default 2; 1 disables).
    pub fn with_encode_threads(mut self, n: usize) -> Self {
        self.config.encode_threads = n.max(1);
        self
    }
    /// Calls `f` with every dropped batch (a dead-letter hook; tests use
    /// it to decode what was dropped).
    pub fn on_drop(
        mut self,
        f: impl Fn(DropReason, &[u8], usize, bool) + Send + Sync + 'static,
    ) -> Self {
        self.on_drop = Some(Box::new(f));
        self
    }
    /// The configuration so far.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Starts the worker thread.
    pub fn build(self) -> Result<ExportPipeline> {
        let mut config = self.config;
        if config.request_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "export pipeline: the request timeout must be positive".into(),
            ));
        }
        config.batch.max_points = config
            .batch
            .max_points
            .clamp(1, (config.max_queue_points / 2).max(1));
        config.batch.max_bytes = config
            .batch
            .max_bytes
            .clamp(1, (config.max_queue_bytes / 2).max(1));
        let shared = Arc::new(Shared {
            name: self.transport.name(),
            transport: self.transport,
            encoder: Mutex::new(self.encoder),
            spare: Mutex::new(Vec::new()),
            q: Mutex::new(Queue::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            counters: Counters::default(),
            on_drop: self.on_drop,
            duration: OnceLock::new(),
            seq: AtomicU64::new(0),
            closing: std::sync::atomic::AtomicBool::new(false),
            metrics_registered: std::sync::atomic::AtomicBool::new(false),
            config,
            worker: Mutex::new(None),
        });
        let s = shared.clone();
        let h = std::thread::Builder::new()
            .name("ferrometer-export".into())
            .spawn(move || worker::worker(s))
            .map_err(|e| Error::Failed(format!("export pipeline: cannot start its thread: {e}")))?;
        *lock(&shared.worker) = Some(h);
        Ok(ExportPipeline {
            handle: Arc::new(Handle { shared }),
        })
    }
}

/// What a flush or a shutdown left undelivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Points enqueued before the call and still queued or in flight when
    /// it returned.
    pub pending_points: u64,
    /// Points whose counts did not reach the receiver. Delta: the points
    /// lost (every drop reason but `superseded`) since the previous flush
    /// or shutdown report (or the start). Cumulative: the points lost that
    /// no later snapshot delivered in full has superseded yet (a later
    /// snapshot carries the same totals, so only then is nothing missing).
    pub lost_points: u64,
    /// Cumulative: points lost earlier (refused, rejected, dropped) whose
    /// totals a later snapshot delivered in full, since the previous
    /// report: superseded, not undelivered.
    pub superseded_points: u64,
    /// The call finished before its deadline.
    pub completed: bool,
}

impl FlushReport {
    /// Points not delivered: pending plus lost.
    pub fn undelivered(&self) -> u64 {
        self.pending_points + self.lost_points
    }
}

/// A push exporter made of a batch encoder, a bounded queue, a worker
/// thread and a [`Transport`]. Cheap to clone (clones are the same
/// pipeline); give one clone to a [`PeriodicReader`](crate::PeriodicReader)
/// and keep another for [`stats`](Self::stats).
#[derive(Clone)]
pub struct ExportPipeline {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for ExportPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipeline")
            .field("transport", &self.handle.shared.name)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Owner of the worker: the last handle dropped shuts the pipeline down.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shared.shutdown(Duration::from_secs(5));
    }
}

pub(crate) struct Shared {
    name: &'static str,
    transport: Box<dyn Transport>,
    encoder: Mutex<Box<dyn BatchEncoder>>,
    /// Forks of `encoder` for parallel encoding, kept between exports.
    spare: Mutex<Vec<Box<dyn BatchEncoder>>>,
    q: Mutex<Queue>,
    /// Wakes the worker (new batch, supersession, stop).
    work: Condvar,
    /// Wakes flushers and exporters waiting for room.
    progress: Condvar,
    counters: Counters,
    on_drop: Option<Box<DropHook>>,
    duration: OnceLock<crate::BoundHistogram<f64>>,
    seq: AtomicU64,
    /// Mirrors `Queue::closing` for lock-free reads.
    closing: std::sync::atomic::AtomicBool,
    /// Self-metrics were registered (with the first provider asking).
    metrics_registered: std::sync::atomic::AtomicBool,
    config: PipelineConfig,
    worker: Mutex<Option<JoinHandle<()>>>,
}

struct Batch {
    /// Queue order (`u64::MAX` until queued).
    id: u64,
    /// Snapshot sequence number.
    seq: u64,
    points: usize,
    /// Bytes charged to the queue (the encoded size).
    charge: usize,
    body: Vec<u8>,
    compressed: bool,
    attempts: u32,
    first_try: Option<Instant>,
    not_before: Option<Instant>,
}

impl Batch {
    /// A batch not yet queued or tried.
    fn new(seq: u64, points: usize, body: Vec<u8>) -> Self {
        Batch {
            id: u64::MAX,
            seq,
            points,
            charge: body.len(),
            body,
            compressed: false,
            attempts: 0,
            first_try: None,
            not_before: None,
        }
    }
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    /// Points and bytes queued or in flight.
    points: usize,
    bytes: usize,
    /// Id of the batch the worker is sending.
    in_flight: Option<(u64, usize)>,
    next_id: u64,
    /// Newest cumulative snapshot.
    latest_seq: u64,
    /// Request buffers for reuse.
    pool: Vec<Vec<u8>>,
    /// Shutdown started: exports are refused.
    closing: bool,
    /// The worker drops what is left and exits.
    stop: bool,
    /// Attempts never run past this (shutdown's deadline).
    deadline: Option<Instant>,
    worker_done: bool,
    shutdown_report: Option<FlushReport>,
    /// Delta: points lost (every drop reason but `superseded`) not yet
    /// reported by a flush or shutdown.
    unreported_lost: u64,
    /// Cumulative: points lost that no later snapshot delivered in full
    /// has superseded yet.
    unsettled_lost: u64,
    /// Cumulative: lost points superseded since, not yet reported.
    unreported_superseded: u64,
    /// Cumulative: how the newest snapshot's delivery is going.
    newest: NewestSnapshot,
}

/// Delivery of the newest cumulative snapshot: once every point of it is
/// delivered, every earlier loss is superseded (it carries their totals).
#[derive(Default)]
struct NewestSnapshot {
    seq: u64,
    /// Points offered to the queue so far.
    offered: usize,
    delivered: usize,
    /// Encoding finished: `offered` is final.
    sealed: bool,
    /// A point of it was lost.
    failed: bool,
}

impl Queue {
    /// Counts `points` of snapshot `seq` as lost.
    fn note_lost(&mut self, cumulative: bool, seq: u64, points: usize) {
        if cumulative {
            self.unsettled_lost += points as u64;
            if self.newest.seq == seq {
                self.newest.failed = true;
            }
        } else {
            self.unreported_lost += points as u64;
        }
    }

    /// Counts `points` of snapshot `seq` as delivered; settles earlier
    /// losses when that completes the newest snapshot.
    fn note_delivered(&mut self, seq: u64, points: usize) {
        if self.newest.seq == seq {
            self.newest.delivered += points;
            self.settle();
        }
    }

    fn settle(&mut self) {
        let n = &self.newest;
        if n.sealed && !n.failed && n.offered > 0 && n.delivered == n.offered {
            self.unreported_superseded += std::mem::take(&mut self.unsettled_lost);
        }
    }

    /// The losses a report states (delta: taken; cumulative: what is still
    /// missing) and the supersessions since the last report.
    fn report_losses(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.unreported_lost) + self.unsettled_lost,
            std::mem::take(&mut self.unreported_superseded),
        )
    }
}

/// Most buffers kept for reuse.
const POOL_MAX: usize = 64;

type Dropped = Vec<(Batch, DropReason)>;

impl Shared {
    fn set_queue_gauges(&self, q: &Queue) {
        self.counters
            .queued_points
            .store(q.points as u64, Ordering::Relaxed);
        self.counters
            .queued_bytes
            .store(q.bytes as u64, Ordering::Relaxed);
    }

    /// Takes a batch out of the queue's totals and counts it as dropped.
    fn account_drop(&self, q: &mut Queue, b: &Batch, reason: DropReason) {
        q.points -= b.points;
        q.bytes -= b.charge;
        if reason.loses_data() {
            q.note_lost(self.cumulative(), b.seq, b.points);
        }
        Counters::add(
            &self.counters.points_dropped[reason.index()],
            b.points as u64,
        );
        self.set_queue_gauges(q);
    }

    /// Drops every queued batch for `reason`, accounting under the lock
    /// `q` holds, then releases it and runs [`after_drop`](Self::after_drop).
    fn drop_all(&self, mut q: MutexGuard<'_, Queue>, reason: DropReason) {
        let queued: Vec<Batch> = q.batches.drain(..).collect();
        let mut dropped = Vec::with_capacity(queued.len());
        for b in queued {
            self.account_drop(&mut q, &b, reason);
            dropped.push((b, reason));
        }
        drop(q);
        self.after_drop(dropped);
    }

    /// Runs the drop hook, reports, and recycles the buffers (outside the
    /// queue lock).
    fn after_drop(&self, dropped: Dropped) {
        if dropped.is_empty() {
            return;
        }
        let mut lost = 0usize;
        let mut why = None;
        for (b, r) in &dropped {
            if let Some(h) = &self.on_drop {
                h(*r, &b.body, b.points, b.compressed);
            }
            if r.loses_data() {
                lost += b.points;
                why = Some(*r);
            }
        }
        if let Some(r) = why {
            diag_warn!(
                "{} export pipeline dropped {lost} point(s) ({})",
                self.name,
                r.as_str()
            );
        }
        let mut q = lock(&self.q);
        for (b, _) in dropped {
            recycle(&mut q, b.body);
        }
        drop(q);
        self.progress.notify_all();
    }

    fn fits(&self, q: &Queue, points: usize, bytes: usize) -> bool {
        q.points == 0
            || (q.points + points <= self.config.max_queue_points
                && q.bytes + bytes <= self.config.max_queue_bytes)
    }

    /// Puts one encoded batch into the queue (or drops it per the policy).
    /// Returns `Break` when the pipeline is closing, and the points this
    /// call dropped (the new batch or older ones).
    fn enqueue(
        &self,
        body: &mut Vec<u8>,
        points: usize,
        seq: u64,
        wait_until: Instant,
    ) -> (ControlFlow<()>, usize) {
        // Take the encoder's buffer and give it a pooled one back: the
        // body is not copied.
        let mut buf = lock(&self.q).pool.pop().unwrap_or_default();
        buf.clear();
        std::mem::swap(&mut buf, body);
        let batch = Batch::new(seq, points, buf);
        let mut dropped: Dropped = Vec::new();
        let (mut q, room) = self.wait_for_room(
            lock(&self.q),
            points,
            batch.charge,
            wait_until,
            &mut dropped,
        );
        let closing = q.closing;
        if room {
            self.push(q, batch);
        } else {
            let reason = self.refuse(&mut q, &batch);
            drop(q);
            dropped.push((batch, reason));
        }
        let n: usize = dropped.iter().map(|(b, _)| b.points).sum();
        self.after_drop(dropped);
        // Even when closing, the rest of the snapshot is still offered
        // (and dropped as `shutdown`) so every point is accounted for.
        let flow = if closing {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        };
        (flow, n)
    }

    /// Waits until a batch of `points` and `bytes` fits, at most until
    /// `wait_until`; then, with [`QueuePolicy::DropOldest`], drops queued
    /// batches (into `dropped`) until it does. False when it does not fit
    /// (or the pipeline is closing).
    fn wait_for_room<'a>(
        &self,
        mut q: MutexGuard<'a, Queue>,
        points: usize,
        bytes: usize,
        wait_until: Instant,
        dropped: &mut Dropped,
    ) -> (MutexGuard<'a, Queue>, bool) {
        loop {
            if q.closing {
                return (q, false);
            }
            if self.fits(&q, points, bytes) {
                return (q, true);
            }
            let now = Instant::now();
            if now < wait_until {
                q = self
                    .progress
                    .wait_timeout(q, wait_until - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                continue;
            }
            match self.config.policy {
                QueuePolicy::DropOldest if !q.batches.is_empty() => {
                    if let Some(old) = q.batches.pop_front() {
                        self.account_drop(&mut q, &old, DropReason::QueueFull);
                        dropped.push((old, DropReason::QueueFull));
                    }
                }
                _ => return (q, false),
            }
        }
    }

    /// Queues a batch that fits and wakes the worker.
    fn push(&self, mut q: MutexGuard<'_, Queue>, mut batch: Batch) {
        batch.id = q.next_id;
        q.next_id += 1;
        q.points += batch.points;
        q.bytes += batch.charge;
        if q.newest.seq == batch.seq {
            q.newest.offered += batch.points;
        }
        Counters::add(&self.counters.points_enqueued, batch.points as u64);
        Counters::add(&self.counters.batches_enqueued, 1);
        q.batches.push_back(batch);
        self.set_queue_gauges(&q);
        drop(q);
        self.work.notify_one();
    }

    /// Accounts a batch refused at the door: dropped as `shutdown` while
    /// closing, else as `queue_full`. Returns the reason.
    fn refuse(&self, q: &mut Queue, batch: &Batch) -> DropReason {
        let reason = if q.closing {
            DropReason::Shutdown
        } else {
            DropReason::QueueFull
        };
        let points = batch.points as u64;
        Counters::add(&self.counters.points_dropped[reason.index()], points);
        Counters::add(&self.counters.rejected_at_enqueue, points);
        q.note_lost(self.cumulative(), batch.seq, batch.points);
        reason
    }

    /// Snapshot bookkeeping before encoding: a sequence number, and with
    /// cumulative temporality the supersession of everything queued.
    fn begin(&self) -> u64 {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if self.config.temporality == TemporalityPreference::Cumulative {
            // Everything queued is older and carries totals this snapshot
            // carries too.
            let mut q = lock(&self.q);
            q.latest_seq = seq;
            q.newest = NewestSnapshot {
                seq,
                ..NewestSnapshot::default()
            };
            self.drop_all(q, DropReason::Superseded);
        }
        seq
    }

    /// Encodes (a part of) a snapshot and enqueues its batches. Returns
    /// false when the pipeline was closing, and the points dropped to make
    /// room or refused.
    fn encode_into_queue(
        &self,
        enc: &mut dyn BatchEncoder,
        metrics: &ResourceMetrics,
        seq: u64,
        wait_until: Instant,
    ) -> (bool, usize) {
        let mut closed = false;
        let mut dropped = 0;
        enc.encode(metrics, self.config.batch, &mut |body, points| {
            let (flow, n) = self.enqueue(body, points, seq, wait_until);
            closed |= flow.is_break();
            dropped += n;
            ControlFlow::Continue(())
        });
        (!closed, dropped)
    }

    /// True with cumulative temporality (losses can be superseded).
    fn cumulative(&self) -> bool {
        self.config.temporality == TemporalityPreference::Cumulative
    }

    /// Every batch of snapshot `seq` is in the queue (or dropped).
    fn seal(&self, seq: u64) {
        let mut q = lock(&self.q);
        if q.newest.seq == seq {
            q.newest.sealed = true;
            q.settle();
        }
    }

    fn finish(&self, (open, lost): (bool, usize)) -> Result<()> {
        if !open {
            return Err(Error::Shutdown);
        }
        if lost > 0 {
            return Err(Error::NotDelivered {
                points: lost as u64,
                deadline_passed: false,
                message: format!(
                    "{} export pipeline: queue full, {lost} point(s) dropped",
                    self.name
                ),
            });
        }
        Ok(())
    }

    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        if lock(&self.q).closing {
            return Err(Error::Shutdown);
        }
        if metrics.point_count() == 0 {
            return Ok(());
        }
        let mut enc = lock(&self.encoder);
        let seq = self.begin();
        let wait_until = (Instant::now() + self.config.max_block).min(deadline);
        let r = self.encode_into_queue(enc.as_mut(), metrics, seq, wait_until);
        drop(enc);
        self.seal(seq);
        self.finish(r)
    }

    /// [`export`](Self::export) of an owned snapshot: a large one is split
    /// and its parts encoded on `encode_threads` threads at once (this one
    /// and scoped helpers).
    fn export_owned(&self, metrics: ResourceMetrics, deadline: Instant) -> Result<()> {
        let n = metrics.point_count();
        let k = self
            .config
            .encode_threads
            .min(n / (2 * self.config.batch.max_points).max(1))
            .max(1);
        if k < 2 {
            return self.export(&metrics, deadline);
        }
        if lock(&self.q).closing {
            return Err(Error::Shutdown);
        }
        let mut enc = lock(&self.encoder);
        let mut helpers = std::mem::take(&mut *lock(&self.spare));
        while helpers.len() < k - 1 {
            match enc.fork() {
                Some(e) => helpers.push(e),
                None => break,
            }
        }
        if helpers.is_empty() {
            drop(enc);
            *lock(&self.spare) = helpers;
            return self.export(&metrics, deadline);
        }
        let seq = self.begin();
        let wait_until = (Instant::now() + self.config.max_block).min(deadline);
        let mut parts = encoder::split(metrics, helpers.len() + 1);
        let first = parts.remove(0);
        let r = std::thread::scope(|sc| {
            let hs: Vec<_> = helpers
                .iter_mut()
                .zip(parts.iter())
                .map(|(e, part)| {
                    sc.spawn(move || self.encode_into_queue(e.as_mut(), part, seq, wait_until))
                })
                .collect();
            let (mut open, mut lost) =
                self.encode_into_queue(enc.as_mut(), &first, seq, wait_until);
            for h in hs {
                let (o, l) = h.join().unwrap_or((false, 0));
                open &= o;
                lost += l;
            }
            (open, lost)
        });
        drop(enc);
        *lock(&self.spare) = helpers;
        drop(parts);
        drop(first);
        self.seal(seq);
        self.finish(r)
    }

    fn stats(&self) -> PipelineStats {
        let c = &self.counters;
        let g = Counters::get;
        PipelineStats {
            points_enqueued: g(&c.points_enqueued),
            rejected_at_enqueue: g(&c.rejected_at_enqueue),
            batches_enqueued: g(&c.batches_enqueued),
            points_delivered: g(&c.points_delivered),
            requests_delivered: g(&c.requests_delivered),
            points_dropped: std::array::from_fn(|i| g(&c.points_dropped[i])),
            requests_failed: std::array::from_fn(|i| g(&c.requests_failed[i])),
            retries: g(&c.retries),
            queued_points: g(&c.queued_points),
            queued_bytes: g(&c.queued_bytes),
            capacity_points: self.config.max_queue_points as u64,
            capacity_bytes: self.config.max_queue_bytes as u64,
            circuit: CircuitState::from_u64(g(&c.circuit)),
            circuit_opened: g(&c.circuit_opened),
        }
    }

    /// Points of batches with an id below `ticket` still queued or in
    /// flight.
    fn pending_before(q: &Queue, ticket: u64) -> u64 {
        let f = q
            .in_flight
            .filter(|(id, _)| *id < ticket)
            .map_or(0, |(_, p)| p as u64);
        f + q
            .batches
            .iter()
            .take_while(|b| b.id < ticket)
            .map(|b| b.points as u64)
            .sum::<u64>()
    }

    fn flush_until(&self, deadline: Instant) -> FlushReport {
        let mut q = lock(&self.q);
        let ticket = q.next_id;
        loop {
            let pending = Self::pending_before(&q, ticket);
            let now = Instant::now();
            if pending == 0 || now >= deadline {
                let (lost_points, superseded_points) = q.report_losses();
                return FlushReport {
                    pending_points: pending,
                    lost_points,
                    superseded_points,
                    completed: pending == 0,
                };
            }
            q = self
                .progress
                .wait_timeout(q, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn shutdown(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        {
            let mut q = lock(&self.q);
            if q.closing {
                // A second call: wait for the first one's outcome.
                while q.shutdown_report.is_none() && Instant::now() < deadline {
                    q = self
                        .progress
                        .wait_timeout(q, deadline.saturating_duration_since(Instant::now()))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                return q.shutdown_report.unwrap_or_default();
            }
            q.closing = true;
            self.closing.store(true, Ordering::Relaxed);
            q.deadline = Some(deadline);
        }
        self.work.notify_all();
        let flushed = self.flush_until(deadline);
        {
            lock(&self.q).stop = true;
        }
        self.work.notify_all();
        if !flushed.completed {
            // The deadline passed: cut a request in flight short.
            self.transport.abort();
        }
        // The worker's attempts are capped at the deadline; give it a few
        // milliseconds past it to notice and drop what is left.
        let grace = deadline + Duration::from_millis(50);
        let mut q = lock(&self.q);
        while !q.worker_done {
            let now = Instant::now();
            if now >= grace {
                break;
            }
            q = self
                .progress
                .wait_timeout(q, grace - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let done = q.worker_done;
        let pending = if done { 0 } else { q.points as u64 };
        let (lost_now, superseded_after) = q.report_losses();
        // Delta: `flushed` took the losses until then, these came after.
        // Cumulative: both say what was missing at the time; now counts.
        let lost_points = if self.cumulative() {
            lost_now
        } else {
            flushed.lost_points + lost_now
        };
        drop(q);
        if done {
            if let Some(h) = lock(&self.worker).take() {
                if h.thread().id() != std::thread::current().id() {
                    let _ = h.join();
                }
            }
        } else {
            diag_error!(
                "{} export pipeline: the worker is still sending after the shutdown deadline; \
                 it stops after this attempt",
                self.name
            );
        }
        let report = FlushReport {
            pending_points: pending,
            lost_points,
            superseded_points: flushed.superseded_points + superseded_after,
            completed: flushed.completed && done,
        };
        lock(&self.q).shutdown_report = Some(report);
        self.progress.notify_all();
        report
    }
}

fn recycle(q: &mut Queue, mut body: Vec<u8>) {
    if q.pool.len() < POOL_MAX && body.capacity() > 0 {
        body.clear();
        q.pool.push(body);
    }
}

fn wait_on<'a>(
    cv: &Condvar,
    g: MutexGuard<'a, Queue>,
    d: Option<Duration>,
) -> MutexGuard<'a, Queue> {
    match d {
        Some(d) => cv
            .wait_timeout(g, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0),
        None => cv.wait(g).unwrap_or_else(|p| p.into_inner()),
    }
}

impl ExportPipeline {
    // `ExportPipeline::builder(transport)`, whose default encoding is OTLP
    // protobuf, is defined with the OTLP encoders (export/otlp/batch.rs):
    // the pipeline itself knows no protocol.

    /// A builder around `transport` encoding with `encoder`.
    pub fn builder_with_encoder(
        transport: impl Transport,
        encoder: impl BatchEncoder,
    ) -> PipelineBuilder {
        PipelineBuilder {
            transport: Box::new(transport),
            encoder: Box::new(encoder),
            config: PipelineConfig::default(),
            on_drop: None,
        }
    }

    /// The counters now.
    pub fn stats(&self) -> PipelineStats {
        self.handle.shared.stats()
    }

    /// The resolved configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.handle.shared.config
    }

    /// Waits until every batch enqueued before the call is delivered or
    /// dropped, or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        self.handle.shared.flush_until(Instant::now() + timeout)
    }

    /// Refuses new exports, flushes within `timeout`, drops what is left
    /// (`shutdown`), stops and joins the worker. Idempotent: a second call
    /// returns the first one's report.
    pub fn shutdown_report(&self, timeout: Duration) -> FlushReport {
        self.handle.shared.shutdown(timeout)
    }

    /// True while the worker thread runs.
    pub fn worker_running(&self) -> bool {
        !lock(&self.handle.shared.q).worker_done
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }
}

fn undelivered_error(name: &str, what: &str, r: FlushReport) -> Result<()> {
    if r.undelivered() == 0 && r.completed {
        Ok(())
    } else if r.undelivered() == 0 {
        Err(Error::Timeout)
    } else {
        Err(Error::NotDelivered {
            points: r.undelivered(),
            deadline_passed: false,
            message: format!(
                "{name} export pipeline {what}: {} point(s) not delivered ({} pending, {} dropped)",
                r.undelivered(),
                r.pending_points,
                r.lost_points
            ),
        })
    }
}

impl PushExporter for ExportPipeline {
    /// Encodes and enqueues; returns without waiting for the network.
    /// Fails (after enqueueing what fits) when points were dropped because
    /// the queue was full.
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        self.handle.shared.export(metrics, deadline)
    }

    /// Like `export`; a large snapshot is split and encoded on
    /// `encode_threads` threads.
    fn export_owned(&self, metrics: ResourceMetrics, deadline: Instant) -> Result<()> {
        self.handle.shared.export_owned(metrics, deadline)
    }

    fn temporality(&self) -> TemporalityPreference {
        self.handle.shared.config.temporality
    }

    fn force_flush(&self, timeout: Duration) -> Result<()> {
        let r = self.flush(timeout);
        undelivered_error(self.handle.shared.name, "flush", r)
    }

    fn shutdown(&self, timeout: Duration) -> Result<()> {
        let r = self.shutdown_report(timeout);
        undelivered_error(self.handle.shared.name, "shutdown", r)
    }

    fn name(&self) -> &'static str {
        self.handle.shared.name
    }

    fn pipeline_stats(&self) -> Option<PipelineStats> {
        Some(self.stats())
    }

    fn register_self_metrics(&self, provider: &crate::MeterProvider) -> Result<()> {
        self.register_metrics(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, ManualReader, MeterProvider};
    use std::sync::atomic::AtomicUsize;

    /// Answers from a script (then Delivered) and records attempt times.
    struct Scripted {
        script: Mutex<VecDeque<Outcome>>,
        times: Arc<Mutex<Vec<Instant>>>,
    }

    impl Transport for Scripted {
        fn send(&self, _body: &[u8], _t: Duration) -> Outcome {
            lock(&self.times).push(Instant::now());
            lock(&self.script).pop_front().unwrap_or(Outcome::Delivered)
        }
        fn name(&self) -> &'static str {
            "scripted"
        }
    }

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retryable {
            reason: FailReason::Status5xx,
            message: "503".into(),
            retry_after: after.map(Duration::from_millis),
        }
    }

    fn snapshot(series: i64) -> (MeterProvider, ResourceMetrics) {
        let r = ManualReader::default();
        let p = MeterProvider::builder().with_reader(r.clone()).build();
        let c = p.meter("m").u64_counter("c").build().unwrap();
        for i in 0..series {
            c.add(1, &[KeyValue::new("i", i)]);
        }
        let rm = r.collect().unwrap();
        (p, rm)
    }

    fn scripted(script: Vec<Outcome>) -> (Scripted, Arc<Mutex<Vec<Instant>>>) {
        let times = Arc::new(Mutex::new(Vec::new()));
        (
            Scripted {
                script: Mutex::new(script.into()),
                times: times.clone(),
            },
            times,
        )
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            multiplier: 2.0,
        }
    }

    #[test]
    fn retry_after_holds_every_request() {
        crate::diagnostics::set_silent();
        let (t, times) = scripted(vec![retry(Some(300))]);
        let pipe = ExportPipeline::builder(t)
            .with_retry(fast())
            .with_temporality(TemporalityPreference::Delta)
            .build()
            .unwrap();
        let (_p, rm) = snapshot(3);
        pipe.export(&rm, Instant::now() + Duration::from_secs(5))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // A second batch while the first waits for Retry-After.
        pipe.export(&rm, Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(pipe.flush(Duration::from_secs(5)).completed);
        let t = lock(&times).clone();
        assert_eq!(t.len(), 3);
        assert!(
            t[1] - t[0] >= Duration::from_millis(300),
            "{:?}",
            t[1] - t[0]
        );
        assert_eq!(pipe.stats().points_delivered, 6);
    }

    #[test]
    fn circuit_opens_then_probes_once() {
        crate::diagnostics::set_silent();
        let (t, times) = scripted(vec![retry(None), retry(None), retry(None), retry(None)]);
        let pipe = ExportPipeline::builder(t)
            .with_retry(fast())
            .with_circuit_breaker(2, Duration::from_millis(200))
            .with_temporality(TemporalityPreference::Delta)
            .build()
            .unwrap();
        let (_p, rm) = snapshot(1);
        pipe.export(&rm, Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(pipe.flush(Duration::from_secs(5)).completed);
        let t = lock(&times).clone();
        // Two failures open the circuit; after 200 ms one probe fails and
        // re-opens it; the next probe 200 ms later... (4 failures, 1 success).
        assert_eq!(t.len(), 5);
        assert!(t[2] - t[1] >= Duration::from_millis(200));
        assert!(t[3] - t[2] >= Duration::from_millis(200));
        assert!(t[4] - t[3] >= Duration::from_millis(200));
        let st = pipe.stats();
        assert_eq!(st.circuit_opened, 3);
        assert_eq!(st.circuit, CircuitState::Closed);
        assert_eq!(st.retries, 4);
    }

    #[test]
    fn drop_oldest_keeps_the_newest() {
        crate::diagnostics::set_silent();
        let gate = Arc::new(AtomicUsize::new(0));
        struct Slow(Arc<AtomicUsize>);
        impl Transport for Slow {
            fn send(&self, _b: &[u8], _t: Duration) -> Outcome {
                while self.0.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Outcome::Delivered
            }
            fn name(&self) -> &'static str {
                "slow"
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let pipe = ExportPipeline::builder(Slow(gate.clone()))
            .with_queue_limits(4, 1 << 20)
            .with_policy(QueuePolicy::DropOldest)
            .with_temporality(TemporalityPreference::Delta)
            .on_drop(move |r, _b, n, _gz| {
                assert_eq!(r, DropReason::QueueFull);
                d.fetch_add(n, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let (_p, rm) = snapshot(1);
        for _ in 0..10 {
            let _ = pipe.export(&rm, Instant::now() + Duration::from_secs(5));
        }
        gate.store(1, Ordering::SeqCst);
        assert!(pipe.flush(Duration::from_secs(5)).completed);
        let st = pipe.stats();
        // One in flight + 3 queued survive; 6 dropped, oldest first.
        assert_eq!(st.points_delivered, 4, "{st:?}");
        assert_eq!(st.dropped(DropReason::QueueFull), 6);
        assert_eq!(dropped.load(Ordering::SeqCst), 6);
        assert_eq!(st.points_offered(), 10);
    }

    #[test]
    fn split_moves_every_point_once() {
        let (_p, rm) = snapshot(1001);
        let parts = encoder::split(rm.clone(), 3);
        assert_eq!(parts.len(), 3);
        let counts: Vec<usize> = parts.iter().map(|p| p.point_count()).collect();
        assert_eq!(counts.iter().sum::<usize>(), 1001);
        assert!(counts.iter().all(|c| *c >= 333 && *c <= 334), "{counts:?}");
        let mut attrs: Vec<String> = parts
            .iter()
            .flat_map(|p| p.scope_metrics.iter())
            .flat_map(|s| s.metrics.iter())
            .flat_map(|m| match &m.data {
                crate::MetricData::Sum(s) => s
                    .points
                    .iter()
                    .map(|p| format!("{:?}", p.attributes))
                    .collect::<Vec<_>>(),
                _ => vec![],
            })
            .collect();
        attrs.sort();
        attrs.dedup();
        assert_eq!(attrs.len(), 1001);
    }
}
