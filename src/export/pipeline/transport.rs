//! The byte-moving half of the pipeline: one attempt, bytes in, outcome
//! out. Retries, backoff, the circuit breaker and accounting live in the
//! worker; a transport only says what happened to one request.

use std::time::{Duration, SystemTime};

/// `Retry-After`: delay seconds, or an HTTP-date (a date in the past is no
/// delay).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The OTLP specification's transient statuses (retry them; every other
/// non-2xx status is permanent). The Pushgateway follows the same split.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Why a request failed, as the self-metrics classify it
/// (`ferrometer.exporter.requests.failed{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// The server answered with a 4xx status.
    Status4xx,
    /// The server answered with a 5xx status.
    Status5xx,
    /// The request did not complete within its timeout.
    Timeout,
    /// The connection could not be made or broke (refused, reset, closed
    /// mid-request, DNS).
    Connection,
    /// Anything else (TLS, a malformed response, a host callback's error).
    Other,
}

impl FailReason {
    /// Every reason, in index order.
    pub const ALL: [FailReason; 5] = [
        FailReason::Status4xx,
        FailReason::Status5xx,
        FailReason::Timeout,
        FailReason::Connection,
        FailReason::Other,
    ];

    /// The attribute value used in self-metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Status4xx => "4xx",
            FailReason::Status5xx => "5xx",
            FailReason::Timeout => "timeout",
            FailReason::Connection => "connection",
            FailReason::Other => "other",
        }
    }

    /// The reason for an HTTP status that is not a success.
    pub fn of_status(status: u16) -> Self {
        match status {
            400..=499 => FailReason::Status4xx,
            500..=599 => FailReason::Status5xx,
            _ => FailReason::Other,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What one attempt to send a request body produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted the request.
    Delivered,
    /// The receiver accepted the request but rejected `rejected` of its
    /// points (OTLP partial success): the others are delivered, these are
    /// dropped and counted as `rejected`; the request is not retried.
    PartiallyRejected {
        /// Points the receiver rejected (at most the request's points
        /// are counted).
        rejected: u64,
        /// The receiver's explanation.
        message: String,
    },
    /// A transient failure (OTLP: 429, 502, 503, 504, timeouts, connection
    /// failures): the same body may be sent again, after `retry_after` if
    /// the server said so.
    Retryable {
        /// Classification for the self-metrics.
        reason: FailReason,
        /// Human-readable detail for diagnostics.
        message: String,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A failure retrying cannot fix (other 4xx, 500, TLS): the batch is
    /// dropped and counted as `permanent_error`.
    Permanent {
        /// Classification for the self-metrics.
        reason: FailReason,
        /// Human-readable detail for diagnostics.
        message: String,
    },
}

impl Outcome {
    /// What a failed ureq request means: TLS failures (unknown CA, bad
    /// certificate; they come as `InvalidData`) and errors in the request
    /// itself are permanent, timeouts and connection failures transient.
    /// `message` describes the failure.
    pub(crate) fn of_ureq_error(e: &ureq::Error, message: String) -> Outcome {
        use std::io::ErrorKind;
        let reason = match e {
            ureq::Error::Io(io) if io.kind() == ErrorKind::InvalidData => None,
            ureq::Error::Io(io)
                if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) =>
            {
                Some(FailReason::Timeout)
            }
            ureq::Error::Timeout(_) => Some(FailReason::Timeout),
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_) => Some(FailReason::Connection),
            _ => None,
        };
        match reason {
            Some(reason) => Outcome::Retryable {
                reason,
                message,
                retry_after: None,
            },
            None => Outcome::Permanent {
                reason: FailReason::Other,
                message,
            },
        }
    }
}

/// Sends one encoded request body. Implementations: the OTLP/HTTP
/// exporter, the Pushgateway exporter, the host byte callback.
pub trait Transport: Send + Sync + 'static {
    /// One attempt, giving up after `timeout`. Must not retry by itself.
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome;

    /// A short name for diagnostics and the `exporter` attribute of the
    /// self-metrics ("otlp", "pushgateway", "host").
    fn name(&self) -> &'static str;

    /// Called once when the pipeline shut down and its worker stopped.
    fn shutdown(&self) {}

    /// Called from another thread when shutdown's deadline passed while a
    /// request may be in flight: cut it short if possible (later sends
    /// may fail at once). The default does nothing; the attempt then
    /// ends at its own timeout, which the worker caps at the deadline
    /// only for attempts started after shutdown began.
    fn abort(&self) {}
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        (**self).send(body, timeout)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn shutdown(&self) {
        (**self).shutdown()
    }
    fn abort(&self) {
        (**self).abort()
    }
}
