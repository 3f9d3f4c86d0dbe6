//! Self-diagnostics: a settable handler for warnings and errors, and
//! per-provider counters of rejected measurements.
//!
//! Messages that can be triggered from a recording thread are rate-limited
//! per reason (one per [`RATE_LIMIT`]), so a bad value in a hot loop costs a
//! counter increment, not a flood of log lines.

use arc_swap::ArcSwapOption;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Severity of a diagnostic message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    /// Debugging detail.
    Debug = 0,
    /// Informational.
    Info = 1,
    /// Something was refused or adjusted; the SDK keeps working.
    Warn = 2,
    /// Something failed.
    Error = 3,
}

type Handler = dyn Fn(Level, &str) + Send + Sync;

static HANDLER: ArcSwapOption<Box<Handler>> = ArcSwapOption::const_empty();
static HANDLER_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Minimum interval between two hot-path messages of the same reason.
pub const RATE_LIMIT: Duration = Duration::from_secs(10);

/// Installs the process-wide diagnostics handler (replacing any previous
/// one). Without a handler, warnings and errors go to standard error.
pub fn set_handler(f: impl Fn(Level, &str) + Send + Sync + 'static) {
    HANDLER.store(Some(Arc::new(Box::new(f))));
    HANDLER_SET.store(true, Ordering::Release);
}

/// Silences diagnostics completely (no handler, nothing on stderr).
pub fn set_silent() {
    set_handler(|_, _| {});
}

/// Restores the default handler (stderr for warnings and errors).
pub fn reset_handler() {
    HANDLER.store(None);
    HANDLER_SET.store(false, Ordering::Release);
}

/// Emits a message to the handler.
pub(crate) fn emit(level: Level, msg: fmt::Arguments<'_>) {
    let h = HANDLER.load();
    match h.as_ref() {
        Some(h) => {
            let s = msg.to_string();
            // A panicking handler must not take the SDK down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(level, &s)));
        }
        None => {
            if level >= Level::Warn && !HANDLER_SET.load(Ordering::Acquire) {
                eprintln!("ferrometer {level:?}: {msg}");
            }
        }
    }
}

macro_rules! diag_warn {
    ($($t:tt)*) => { $crate::diagnostics::emit($crate::diagnostics::Level::Warn, format_args!($($t)*)) };
}
macro_rules! diag_error {
    ($($t:tt)*) => { $crate::diagnostics::emit($crate::diagnostics::Level::Error, format_args!($($t)*)) };
}
pub(crate) use {diag_error, diag_warn};

/// Why a measurement was rejected or redirected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Reason {
    /// NaN value.
    Nan = 0,
    /// Infinite value where a finite one is required.
    Infinite = 1,
    /// Negative increment on a monotonic instrument or histogram.
    Negative = 2,
    /// Recorded after the provider shut down.
    AfterShutdown = 3,
    /// Redirected to the overflow series (counted, not dropped).
    Overflow = 4,
    /// Attributes could not be read (C ABI: bad UTF-8, NULL key) or broke
    /// the specification (an empty key).
    InvalidAttributes = 5,
    /// An observable callback panicked.
    CallbackPanic = 6,
    /// A point owed to a delta reader that had not collected it, folded
    /// into that reader's overflow point because its store was full
    /// (counted, not dropped).
    LaggingReader = 7,
    /// A sample left out of a Prometheus exposition: its name and labels
    /// were already exposed (one sample per series per exposition, as
    /// client_golang does: a host producer's series at two timestamps,
    /// two instruments of one name), its metric's name was taken by a
    /// family of another type, or the format cannot carry it (exponential
    /// histograms in the text formats).
    ExpositionConflict = 8,
    /// An increment the sum cannot hold: a u64 total past its limit (it
    /// would wrap), a floating-point total or histogram sum that would
    /// become infinite. The total is left as it was.
    SumOverflow = 9,
}

const REASONS: usize = 10;

/// Counts of rejected (or overflow-redirected) measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectedCounts {
    /// NaN values dropped.
    pub nan: u64,
    /// Infinite values dropped.
    pub infinite: u64,
    /// Negative values dropped from counters and histograms.
    pub negative: u64,
    /// Measurements after shutdown.
    pub after_shutdown: u64,
    /// Measurements that went to the overflow series (kept, not dropped).
    pub overflow: u64,
    /// Measurements with unreadable or invalid attributes (an empty key).
    pub invalid_attributes: u64,
    /// Observable callbacks that panicked.
    pub callback_panics: u64,
    /// Points of evicted series owed to a delta reader that collects
    /// rarely, folded into its `otel.metric.overflow=true` point because it
    /// was owed as many points as the stream's cardinality limit (kept in
    /// aggregate, not dropped; the other readers are not affected).
    pub lagging_reader: u64,
    /// Samples left out of the Prometheus endpoint's expositions because
    /// another sample of the same name and labels, or a family of another
    /// type with the same name, was already exposed (counted per scrape).
    pub exposition_conflicts: u64,
    /// Increments dropped because the sum could not hold them (a u64
    /// total that would wrap, a float total or histogram sum that would
    /// become infinite).
    pub sum_overflow: u64,
}

/// Per-provider counters plus per-reason rate limits.
#[derive(Default)]
pub(crate) struct Diag {
    counts: [AtomicU64; REASONS],
    last_msg: [AtomicU64; REASONS],
}

impl Diag {
    /// Counts one rejected measurement and, rate-limited, reports it.
    #[cold]
    pub(crate) fn reject(&self, reason: Reason, instrument: &str) {
        self.reject_many(reason, 1, instrument)
    }

    /// Counts `n` rejected measurements (or samples) of one kind at once
    /// and, rate-limited, reports them.
    #[cold]
    pub(crate) fn reject_many(&self, reason: Reason, n: u64, instrument: &str) {
        if n == 0 {
            return;
        }
        self.counts[reason as usize].fetch_add(n, Ordering::Relaxed);
        let now = crate::time::now_nanos();
        let last = self.last_msg[reason as usize].load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= RATE_LIMIT.as_nanos() as u64)
            && self.last_msg[reason as usize]
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let what = match reason {
                Reason::Nan => "NaN value dropped",
                Reason::Infinite => "infinite value dropped",
                Reason::Negative => "negative value dropped (counters and histograms take values >= 0)",
                Reason::AfterShutdown => "measurement after shutdown dropped",
                Reason::Overflow => "cardinality limit reached, measurement recorded in the otel.metric.overflow=true series",
                Reason::InvalidAttributes => "measurement with invalid attributes dropped",
                Reason::CallbackPanic => "observable callback panicked",
                Reason::LaggingReader => "a delta reader that has not collected for a long time is owed more evicted series than the cardinality limit; further ones are folded into its otel.metric.overflow=true point",
                Reason::ExpositionConflict => "sample left out of a Prometheus exposition (its name and labels were already exposed, its name belongs to a family of another type, or the format cannot carry it: an exponential histogram in a text format)",
                Reason::SumOverflow => "value dropped: the sum cannot hold it (a u64 total past 2^63 - 1, a float total past the largest finite number)",
            };
            diag_warn!("{instrument}: {what} (further messages of this kind are suppressed for {}s; see the rejected-measurement counters)", RATE_LIMIT.as_secs());
        }
    }

    pub(crate) fn counts(&self) -> RejectedCounts {
        let c = |r: Reason| self.counts[r as usize].load(Ordering::Relaxed);
        RejectedCounts {
            nan: c(Reason::Nan),
            infinite: c(Reason::Infinite),
            negative: c(Reason::Negative),
            after_shutdown: c(Reason::AfterShutdown),
            overflow: c(Reason::Overflow),
            invalid_attributes: c(Reason::InvalidAttributes),
            callback_panics: c(Reason::CallbackPanic),
            lagging_reader: c(Reason::LaggingReader),
            exposition_conflicts: c(Reason::ExpositionConflict),
            sum_overflow: c(Reason::SumOverflow),
        }
    }
}
