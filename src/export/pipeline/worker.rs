//! The worker thread: takes the head batch when it, the circuit breaker
//! and the server's `Retry-After` allow, gzips it once if configured,
//! makes one attempt through the transport, and delivers, re-queues (with
//! backoff and full jitter) or drops it with its reason.

use super::retry::Jitter;
use super::stats::Counters;
use super::{
    lock, recycle, wait_on, Batch, CircuitState, DropReason, Dropped, FailReason, Outcome, Shared,
    TemporalityPreference,
};
use crate::diagnostics::diag_warn;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The circuit breaker (worker-private; its state is published).
struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    state: CircuitState,
    open_until: Option<Instant>,
}

impl Breaker {
    fn set(&mut self, c: &Counters, s: CircuitState) {
        if s == CircuitState::Open && self.state != CircuitState::Open {
            Counters::add(&c.circuit_opened, 1);
        }
        self.state = s;
        c.circuit.store(s.as_u64(), Ordering::Relaxed);
    }
    fn success(&mut self, c: &Counters) {
        self.failures = 0;
        self.open_until = None;
        self.set(c, CircuitState::Closed);
    }
    fn failure(&mut self, c: &Counters, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.threshold != 0 && self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
            self.set(c, CircuitState::Open);
        }
    }
    /// Called before an attempt: an expired open state becomes half-open
    /// (this attempt is the probe).
    fn before_attempt(&mut self, c: &Counters, now: Instant) {
        if self.state == CircuitState::Open && self.open_until.is_some_and(|t| t <= now) {
            self.set(c, CircuitState::HalfOpen);
        }
    }
}

/// The worker thread's loop: take the head batch when allowed, make one
/// attempt, settle the outcome; until the pipeline stops.
pub(super) fn worker(s: Arc<Shared>) {
    let mut w = Worker::new(s);
    while let Some((mut batch, deadline)) = w.take() {
        let (outcome, end) = w.attempt(&mut batch, deadline);
        let dropped = w.settle(batch, outcome, end);
        w.s.after_drop(dropped);
    }
}

/// The worker's own state between attempts.
struct Worker {
    s: Arc<Shared>,
    jitter: Jitter,
    breaker: Breaker,
    /// The gzip buffer, swapped with each body it compresses.
    gz: Vec<u8>,
    /// The server's Retry-After holds every request, not only the batch
    /// that got it (a newer cumulative snapshot must wait too).
    server_hold: Option<Instant>,
}

impl Worker {
    fn new(s: Arc<Shared>) -> Self {
        let breaker = Breaker {
            threshold: s.config.breaker_threshold,
            cooldown: s.config.breaker_cooldown,
            failures: 0,
            state: CircuitState::Closed,
            open_until: None,
        };
        Worker {
            s,
            jitter: Jitter::new(),
            breaker,
            gz: Vec::new(),
            server_hold: None,
        }
    }

    /// Waits for the head batch and takes it once its backoff, the
    /// circuit and the server's Retry-After allow, with the shutdown
    /// deadline (if any); `None` once the pipeline stops (what is still
    /// queued is dropped, the transport shut down).
    fn take(&self) -> Option<(Batch, Option<Instant>)> {
        let s = &self.s;
        let mut q = lock(&s.q);
        loop {
            if q.stop {
                s.drop_all(q, DropReason::Shutdown);
                s.transport.shutdown();
                lock(&s.q).worker_done = true;
                s.progress.notify_all();
                return None;
            }
            let now = Instant::now();
            let Some(head) = q.batches.front() else {
                q = wait_on(&s.work, q, None);
                continue;
            };
            let ready = [head.not_before, self.breaker.open_until, self.server_hold]
                .into_iter()
                .flatten()
                .max();
            if let Some(t) = ready.filter(|t| *t > now) {
                q = wait_on(&s.work, q, Some(t - now));
                continue;
            }
            if q.deadline.is_some_and(|d| d <= now) {
                // Shutdown's deadline passed: wait for `stop`.
                q = wait_on(&s.work, q, Some(Duration::from_millis(5)));
                continue;
            }
            let Some(b) = q.batches.pop_front() else {
                continue;
            };
            q.in_flight = Some((b.id, b.points));
            return Some((b, q.deadline));
        }
    }

    /// One attempt at sending `batch` (gzipped once, if configured), within
    /// the request timeout and the shutdown deadline; the outcome and when
    /// it came.
    fn attempt(&mut self, batch: &mut Batch, deadline: Option<Instant>) -> (Outcome, Instant) {
        let s = &self.s;
        let cfg = &s.config;
        if let (Some(level), false) = (cfg.gzip_level, batch.compressed) {
            crate::export::gzip_into(&batch.body, level, &mut self.gz);
            std::mem::swap(&mut batch.body, &mut self.gz);
            batch.compressed = true;
        }
        let now = Instant::now();
        let mut timeout = cfg.request_timeout;
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(now));
        }
        if batch.attempts > 0 {
            Counters::add(&s.counters.retries, 1);
        }
        batch.attempts += 1;
        batch.first_try.get_or_insert(now);
        self.breaker.before_attempt(&s.counters, now);
        let outcome = if timeout.is_zero() {
            Outcome::Retryable {
                reason: FailReason::Timeout,
                message: "shutdown deadline reached".into(),
                retry_after: None,
            }
        } else {
            s.transport.send(&batch.body, timeout)
        };
        let end = Instant::now();
        // Not during shutdown: the provider stopped recording by then.
        if let Some(h) = s
            .duration
            .get()
            .filter(|_| !s.closing.load(Ordering::Relaxed))
        {
            h.record((end - now).as_secs_f64());
        }
        (outcome, end)
    }

    /// Settles an attempt that ended at `end`: the batch is delivered,
    /// dropped (returned, with its reason, for the drop hook) or queued
    /// again at the head after its backoff.
    fn settle(&mut self, batch: Batch, outcome: Outcome, end: Instant) -> Dropped {
        match outcome {
            Outcome::Delivered => {
                self.delivered(batch, 0);
                Vec::new()
            }
            Outcome::PartiallyRejected { rejected, message } => {
                diag_warn!(
                    "{} export: the receiver rejected {rejected} of {} point(s): {message}",
                    self.s.name,
                    batch.points
                );
                let n = rejected.min(batch.points as u64) as usize;
                self.delivered(batch, n);
                Vec::new()
            }
            Outcome::Permanent { reason, message } => {
                let s = &self.s;
                Counters::add(&s.counters.requests_failed[reason.index()], 1);
                if reason != FailReason::Status4xx {
                    self.breaker.failure(&s.counters, end);
                } else {
                    self.breaker.success(&s.counters);
                }
                diag_warn!("{} export failed (not retryable): {message}", s.name);
                let mut q = lock(&s.q);
                q.in_flight = None;
                s.account_drop(&mut q, &batch, DropReason::PermanentError);
                vec![(batch, DropReason::PermanentError)]
            }
            Outcome::Retryable {
                reason,
                message,
                retry_after,
            } => self.retry_or_drop(batch, reason, &message, retry_after, end),
        }
    }

    /// Accounts a batch the receiver accepted, `rejected` of its points
    /// refused inside the accepted request.
    fn delivered(&mut self, mut batch: Batch, rejected: usize) {
        let s = &self.s;
        self.breaker.success(&s.counters);
        self.server_hold = None;
        // Points rejected inside an accepted request are dropped
        // (`rejected`), the others delivered: offered = delivered +
        // dropped still holds. The drop hook is not called: the body
        // holds the delivered points too.
        let delivered = batch.points - rejected;
        let mut q = lock(&s.q);
        q.in_flight = None;
        q.points -= batch.points;
        q.bytes -= batch.charge;
        Counters::add(&s.counters.points_delivered, delivered as u64);
        Counters::add(&s.counters.requests_delivered, 1);
        if rejected > 0 {
            Counters::add(
                &s.counters.points_dropped[DropReason::Rejected.index()],
                rejected as u64,
            );
            q.note_lost(s.cumulative(), batch.seq, rejected);
        }
        q.note_delivered(batch.seq, delivered);
        s.set_queue_gauges(&q);
        recycle(&mut q, std::mem::take(&mut batch.body));
        drop(q);
        s.progress.notify_all();
    }

    /// After a retryable failure: the batch waits for its backoff (the
    /// server's Retry-After, else full jitter) at the head of the queue,
    /// or is dropped when a newer cumulative snapshot supersedes it or its
    /// attempts or time ran out.
    fn retry_or_drop(
        &mut self,
        mut batch: Batch,
        reason: FailReason,
        message: &str,
        retry_after: Option<Duration>,
        end: Instant,
    ) -> Dropped {
        let s = &self.s;
        let cfg = &s.config;
        Counters::add(&s.counters.requests_failed[reason.index()], 1);
        self.breaker.failure(&s.counters, end);
        self.server_hold = retry_after.map(|d| end + d);
        let wait =
            retry_after.unwrap_or_else(|| self.jitter.full(cfg.retry.ceiling(batch.attempts - 1)));
        let out_of_attempts =
            cfg.retry.max_attempts != 0 && batch.attempts >= cfg.retry.max_attempts;
        let out_of_time = batch
            .first_try
            .is_some_and(|t| end + wait > t + cfg.max_elapsed);
        let mut q = lock(&s.q);
        q.in_flight = None;
        let superseded =
            cfg.temporality == TemporalityPreference::Cumulative && batch.seq < q.latest_seq;
        let drop = if superseded {
            Some(DropReason::Superseded)
        } else if out_of_attempts || out_of_time {
            Some(DropReason::RetriesExhausted)
        } else {
            None
        };
        match drop {
            Some(r) => {
                if r.loses_data() {
                    diag_warn!("{} export failed, giving up: {message}", s.name);
                }
                s.account_drop(&mut q, &batch, r);
                vec![(batch, r)]
            }
            None => {
                batch.not_before = Some(end + wait);
                q.batches.push_front(batch);
                Vec::new()
            }
        }
    }
}
