//! The retry policy of the export pipeline: which waits separate the
//! attempts of one batch, and the jitter that spreads clients out. Shared
//! by every push exporter behind the pipeline (OTLP, Remote-Write,
//! Pushgateway, host callbacks), so it lives here, below them.

use std::time::Duration;

/// Retries of retryable failures (HTTP 429, 502, 503, 504, timeouts and
/// connection failures): exponential backoff with full jitter (each wait
/// is uniform in `[0, min(max_backoff, initial_backoff * multiplier^n)]`),
/// replaced by the server's `Retry-After` when it sends one. Never past
/// the export's deadline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Most attempts per export, the first included (1 disables retries;
    /// 0 means no limit other than the deadline).
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Growth of the ceiling per retry.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    /// opentelemetry-cpp's defaults: 5 attempts, 1 s initial backoff, 5 s
    /// maximum, multiplier 1.5.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            multiplier: 1.5,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        }
    }

    /// The backoff ceiling before retry number `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let f = self.multiplier.max(1.0).powi(retry.min(64) as i32);
        let secs = self.initial_backoff.as_secs_f64() * f;
        let max = self.max_backoff.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }
}

/// The full-jitter source of retry backoff (xorshift64*, seeded per
/// instance): only spreading clients out matters, not statistical quality.
#[derive(Debug)]
pub(crate) struct Jitter(std::sync::atomic::AtomicU64);

impl Jitter {
    pub(crate) fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        Jitter(std::sync::atomic::AtomicU64::new(h.finish() | 1))
    }

    /// Uniform in `[0, ceiling]`.
    pub(crate) fn full(&self, ceiling: Duration) -> Duration {
        use std::sync::atomic::Ordering::Relaxed;
        let mut x = self.0.load(Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.store(x, Relaxed);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11; // 53 bits
        ceiling.mul_f64(r as f64 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_ceiling_grows_and_caps() {
        let p = RetryPolicy {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            multiplier: 2.0,
        };
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(1), Duration::from_millis(200));
        assert_eq!(p.ceiling(2), Duration::from_millis(350));
        assert_eq!(p.ceiling(1000), Duration::from_millis(350));
    }
}
