//! The host's trace context, as exemplars need it: the trace and span a
//! measurement was recorded in, and whether the trace is sampled. ferrometer
//! has no tracer: a host's tracing layer sets the current context of a
//! thread once per span ([`TraceContext::set_current`]), or passes one
//! with a single measurement (`Counter::add_in_context` and the like).
//!
//! Reading the current context costs a thread-local access, so the
//! recording path first asks [`any_sampled`]: one load of a process-wide
//! count of threads whose current context is sampled. While no thread has
//! one, a stream under the default `TraceBased` filter pays that load and
//! nothing more.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A trace context: the W3C trace id and parent (span) id, and the trace
/// flags (bit 0: sampled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace id (all zero: none).
    pub trace_id: [u8; 16],
    /// The span id (all zero: none).
    pub span_id: [u8; 8],
    /// W3C trace flags; bit 0 is "sampled".
    pub flags: u8,
}

/// The W3C "sampled" trace flag.
pub const TRACE_FLAG_SAMPLED: u8 = 1;

impl TraceContext {
    /// A context with these ids and flags.
    pub const fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Self {
        TraceContext {
            trace_id,
            span_id,
            flags,
        }
    }

    /// Whether the trace is sampled (flag bit 0) and both ids are valid
    /// (not all zero), as the `TraceBased` exemplar filter requires.
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.flags & TRACE_FLAG_SAMPLED != 0 && self.is_valid()
    }

    /// Whether both ids are valid (not all zero).
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    /// The calling thread's current context (`None` when none is set).
    #[inline]
    pub fn current() -> Option<TraceContext> {
        CURRENT.with(|c| c.get())
    }

    /// Makes `ctx` the calling thread's current context (`None` clears it)
    /// and returns the previous one, so that a span's scope can restore
    /// it. Measurements this thread records afterwards carry it to their
    /// exemplars.
    pub fn set_current(ctx: Option<TraceContext>) -> Option<TraceContext> {
        let sampled = ctx.is_some_and(|c| c.is_sampled());
        let prev = CURRENT.with(|c| c.replace(ctx));
        let was = prev.is_some_and(|c| c.is_sampled());
        if sampled != was {
            SAMPLED_GUARD.with(|g| g.set(sampled));
        }
        prev
    }
}

thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
    /// Counts this thread in [`SAMPLED_THREADS`] while its current context
    /// is sampled, and takes it out when the thread exits.
    static SAMPLED_GUARD: SampledGuard = const { SampledGuard(Cell::new(false)) };
}

/// Threads whose current context is sampled.
static SAMPLED_THREADS: AtomicUsize = AtomicUsize::new(0);

struct SampledGuard(Cell<bool>);

impl SampledGuard {
    fn set(&self, sampled: bool) {
        if self.0.replace(sampled) != sampled {
            if sampled {
                SAMPLED_THREADS.fetch_add(1, Ordering::Relaxed);
            } else {
                SAMPLED_THREADS.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for SampledGuard {
    fn drop(&mut self) {
        if self.0.get() {
            SAMPLED_THREADS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Lowercase hex digits of an id (trace and span ids as W3C
/// `traceparent`, OTLP/JSON and OpenMetrics write them).
pub(crate) fn hex(id: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * id.len());
    for &x in id {
        s.push(D[usize::from(x >> 4)] as char);
        s.push(D[usize::from(x & 15)] as char);
    }
    s
}

/// Whether some thread's current context is sampled (then a `TraceBased`
/// stream reads the recording thread's own).
#[inline(always)]
pub(crate) fn any_sampled() -> bool {
    SAMPLED_THREADS.load(Ordering::Relaxed) != 0
}

/// Which measurements may become exemplars (the specification's
/// `ExemplarFilter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum ExemplarFilter {
    /// None: no exemplar is kept, and recording never looks at a context.
    AlwaysOff = 0,
    /// Measurements recorded in a sampled trace context (the default).
    #[default]
    TraceBased = 1,
    /// Every measurement (one without a context makes an exemplar without
    /// trace and span ids).
    AlwaysOn = 2,
}

impl ExemplarFilter {
    /// Parses `OTEL_METRICS_EXEMPLAR_FILTER`'s values (`always_on`,
    /// `always_off`, `trace_based`; case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always_on" => Some(ExemplarFilter::AlwaysOn),
            "always_off" => Some(ExemplarFilter::AlwaysOff),
            "trace_based" => Some(ExemplarFilter::TraceBased),
            _ => None,
        }
    }

    /// The context a measurement's exemplar carries, when it may have one:
    /// `explicit` when the call passed one, else the thread's current.
    #[inline]
    pub(crate) fn admit(self, explicit: Option<&TraceContext>) -> Option<TraceContext> {
        match self {
            ExemplarFilter::AlwaysOff => None,
            ExemplarFilter::TraceBased => explicit
                .copied()
                .or_else(TraceContext::current)
                .filter(|c| c.is_sampled()),
            ExemplarFilter::AlwaysOn => Some(
                explicit
                    .copied()
                    .or_else(TraceContext::current)
                    .unwrap_or_default(),
            ),
        }
    }

    /// Whether a measurement recorded without an explicit context may
    /// have an exemplar: the hot path's gate, one load while no thread has
    /// a sampled context.
    #[inline(always)]
    pub(crate) fn may_sample(self) -> bool {
        // AlwaysOff (0) never, TraceBased (1) while some thread's context
        // is sampled, AlwaysOn (2) always: one load, an add and one
        // branch (the caller's), where a match took three.
        self as u8 + u8::from(any_sampled()) >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(flags: u8) -> TraceContext {
        TraceContext::new([1; 16], [2; 8], flags)
    }

    #[test]
    fn the_current_context_is_per_thread_and_set_returns_the_previous() {
        assert_eq!(TraceContext::current(), None);
        assert_eq!(TraceContext::set_current(Some(ctx(1))), None);
        assert_eq!(TraceContext::current(), Some(ctx(1)));
        std::thread::spawn(|| assert_eq!(TraceContext::current(), None))
            .join()
            .unwrap();
        assert_eq!(TraceContext::set_current(Some(ctx(0))), Some(ctx(1)));
        assert_eq!(TraceContext::set_current(None), Some(ctx(0)));
    }

    #[test]
    fn a_thread_with_a_sampled_context_opens_the_gate_until_it_clears_or_exits() {
        // Other tests may hold the gate open meanwhile: count this
        // thread's share only through threads that wait for us.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let before = SAMPLED_THREADS.load(Ordering::SeqCst);
        let t = std::thread::spawn(move || {
            TraceContext::set_current(Some(ctx(1)));
            TraceContext::set_current(Some(ctx(3)));
            rx.recv().unwrap();
        });
        while SAMPLED_THREADS.load(Ordering::SeqCst) == before {
            std::thread::yield_now();
        }
        assert!(any_sampled());
        tx.send(()).unwrap();
        t.join().unwrap();
        // Exited with a sampled context: counted out by its guard (other
        // tests may have changed the count too, but not by this thread).
        let unsampled = std::thread::spawn(|| {
            TraceContext::set_current(Some(ctx(0)));
            SAMPLED_GUARD.with(|g| g.0.get())
        });
        assert!(!unsampled.join().unwrap());
    }

    #[test]
    fn filters_admit_per_the_specification() {
        let sampled = ctx(1);
        let unsampled = ctx(0);
        let invalid = TraceContext::new([0; 16], [2; 8], 1);
        let f = ExemplarFilter::TraceBased;
        assert_eq!(f.admit(Some(&sampled)), Some(sampled));
        assert_eq!(f.admit(Some(&unsampled)), None);
        assert_eq!(f.admit(Some(&invalid)), None);
        assert_eq!(ExemplarFilter::AlwaysOff.admit(Some(&sampled)), None);
        assert_eq!(
            ExemplarFilter::AlwaysOn.admit(Some(&unsampled)),
            Some(unsampled)
        );
        std::thread::spawn(move || {
            assert_eq!(f.admit(None), None);
            assert_eq!(
                ExemplarFilter::AlwaysOn.admit(None),
                Some(TraceContext::default())
            );
            TraceContext::set_current(Some(sampled));
            assert_eq!(f.admit(None), Some(sampled));
            // An explicit context wins over the current one.
            assert_eq!(f.admit(Some(&unsampled)), None);
        })
        .join()
        .unwrap();
        assert_eq!(
            ExemplarFilter::parse(" Always_On"),
            Some(ExemplarFilter::AlwaysOn)
        );
        assert_eq!(
            ExemplarFilter::parse("trace_based"),
            Some(ExemplarFilter::TraceBased)
        );
        assert_eq!(
            ExemplarFilter::parse("always_off"),
            Some(ExemplarFilter::AlwaysOff)
        );
        assert_eq!(ExemplarFilter::parse("sometimes"), None);
    }
}
