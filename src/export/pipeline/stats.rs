//! Accounting: every point handed to the pipeline ends up delivered or
//! dropped with exactly one reason, and the counters say which.

use super::transport::FailReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why points were dropped (`ferrometer.exporter.points.dropped{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue was full (policy DropNewest: the new batch; DropOldest:
    /// the oldest queued batch).
    QueueFull,
    /// The receiver refused the batch with a non-retryable error.
    PermanentError,
    /// Retries ran out (attempts or the per-batch elapsed-time limit).
    RetriesExhausted,
    /// Still undelivered when shutdown's deadline passed.
    Shutdown,
    /// A cumulative batch replaced by a newer cumulative snapshot (which
    /// carries the same totals): resolution lost, no counts lost.
    Superseded,
    /// The receiver accepted the request but rejected these points in it
    /// (OTLP `partial_success.rejected_data_points`).
    Rejected,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 6] = [
        DropReason::QueueFull,
        DropReason::PermanentError,
        DropReason::RetriesExhausted,
        DropReason::Shutdown,
        DropReason::Superseded,
        DropReason::Rejected,
    ];

    /// The attribute value used in self-metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::PermanentError => "permanent_error",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::Shutdown => "shutdown",
            DropReason::Superseded => "superseded",
            DropReason::Rejected => "rejected",
        }
    }

    /// True when the counts of the dropped points are lost (everything
    /// but `Superseded`).
    pub fn loses_data(self) -> bool {
        self != DropReason::Superseded
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// State of the circuit breaker (`ferrometer.exporter.circuit.state`:
/// 0 closed, 1 open, 2 half-open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CircuitState {
    /// Requests flow.
    #[default]
    Closed,
    /// Too many consecutive failures: nothing is sent until the cool-down
    /// ends.
    Open,
    /// The cool-down ended: one probe request is in flight.
    HalfOpen,
}

impl CircuitState {
    pub(crate) fn from_u64(v: u64) -> Self {
        match v {
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }
    /// 0 closed, 1 open, 2 half-open.
    pub fn as_u64(self) -> u64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }
}

/// A consistent-enough copy of a pipeline's counters (each counter is
/// exact; they are read one after another).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Points accepted into the queue.
    pub points_enqueued: u64,
    /// Points refused at the door (queue full under DropNewest, or the
    /// pipeline closing); also counted in `points_dropped`.
    pub rejected_at_enqueue: u64,
    /// Batches (requests) accepted into the queue.
    pub batches_enqueued: u64,
    /// Points the receiver accepted (those it rejected in an accepted
    /// request are dropped as `rejected`, not counted here).
    pub points_delivered: u64,
    /// Requests the receiver accepted.
    pub requests_delivered: u64,
    /// Points dropped, by [`DropReason`] index (see
    /// [`dropped`](Self::dropped)). Points dropped before they were
    /// queued (queue full, DropNewest) are counted here but not in
    /// `points_enqueued`.
    pub points_dropped: [u64; 6],
    /// Failed attempts, by [`FailReason`] index (see
    /// [`failed`](Self::failed)).
    pub requests_failed: [u64; 5],
    /// Attempts that were retries (not a batch's first attempt).
    pub retries: u64,
    /// Points queued or in flight now.
    pub queued_points: u64,
    /// Bytes queued or in flight now.
    pub queued_bytes: u64,
    /// Queue capacity in points.
    pub capacity_points: u64,
    /// Queue capacity in bytes.
    pub capacity_bytes: u64,
    /// Circuit breaker state now.
    pub circuit: CircuitState,
    /// Times the circuit opened.
    pub circuit_opened: u64,
}

impl PipelineStats {
    /// Points dropped for one reason.
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.points_dropped[r.index()]
    }
    /// Failed attempts for one reason.
    pub fn failed(&self, r: FailReason) -> u64 {
        self.requests_failed[r.index()]
    }
    /// Points dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.points_dropped.iter().sum()
    }
    /// Points dropped with their counts lost (all but superseded).
    pub fn lost(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| r.loses_data())
            .map(|r| self.dropped(*r))
            .sum()
    }
    /// Points offered to the pipeline: enqueued, plus those refused at the
    /// door because the queue was full.
    pub fn points_offered(&self) -> u64 {
        self.points_enqueued + self.rejected_at_enqueue
    }
    /// Failed attempts for any reason.
    pub fn failed_total(&self) -> u64 {
        self.requests_failed.iter().sum()
    }
}

/// The live counters (atomics, updated by the exporting thread and the
/// worker).
#[derive(Default)]
pub(crate) struct Counters {
    pub points_enqueued: AtomicU64,
    pub batches_enqueued: AtomicU64,
    pub points_delivered: AtomicU64,
    pub requests_delivered: AtomicU64,
    pub points_dropped: [AtomicU64; 6],
    pub rejected_at_enqueue: AtomicU64,
    pub requests_failed: [AtomicU64; 5],
    pub retries: AtomicU64,
    pub queued_points: AtomicU64,
    pub queued_bytes: AtomicU64,
    pub circuit: AtomicU64,
    pub circuit_opened: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
