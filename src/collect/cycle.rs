//! The collection cycle: observable callbacks once, then one read of
//! every stream, shared by every reader collecting at the same time
//! (single-flight); then each reader's points from that read.

use super::data::{Metric, ScopeMetrics, Temporality};
use super::stream::{CycleReader, RawBatch, RawIn, StreamCollect};
use crate::diagnostics::{diag_error, Diag, Reason};
use crate::kinds::InstrumentKind;
use crate::resource::InstrumentationScope;
use crate::sync::{lock, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar};

/// An observable callback.
pub(crate) type Callback = Arc<dyn Fn() + Send + Sync>;

/// A meter's streams, with its scope.
pub(crate) type MeterStreams = (Arc<InstrumentationScope>, Vec<Arc<dyn StreamCollect>>);

/// One stream's points in a cycle.
type RawStream = (Arc<dyn StreamCollect>, RawBatch);

/// What one cycle read: every stream, by meter scope.
pub(crate) struct RawCycle {
    pub(crate) time: u64,
    pub(crate) meters: Vec<(Arc<InstrumentationScope>, Vec<RawStream>)>,
}

/// What a cycle walks: the provider's callbacks, readers and streams.
pub(crate) trait Sources {
    fn callbacks(&self) -> Vec<Callback>;
    /// Each reader's id, the oldest cycle it may still emit, and its
    /// temporality by instrument kind.
    fn readers(&self) -> Vec<(u64, u64, TemporalityOf)>;
    fn streams(&self) -> Vec<MeterStreams>;
    fn diag(&self) -> &Diag;
}

/// A reader's temporality by instrument kind.
#[derive(Clone, Copy)]
pub(crate) struct TemporalityOf([Temporality; InstrumentKind::ALL.len()]);

impl TemporalityOf {
    pub(crate) fn new(f: impl Fn(InstrumentKind) -> Temporality) -> Self {
        TemporalityOf(InstrumentKind::ALL.map(f))
    }

    pub(crate) fn of(&self, kind: InstrumentKind) -> Temporality {
        self.0[kind as usize]
    }
}

#[derive(Default)]
struct CycleState {
    running: bool,
    generation: u64,
    /// Collectors waiting for the running cycle.
    waiters: usize,
    /// The last cycle, kept only until every waiter took it, so its raw
    /// points are freed as soon as every reader emitted its output.
    last: Option<Arc<RawCycle>>,
    /// The running cycle started after the host's recording stopped (see
    /// [`Cycles::run`]).
    after_recording_stopped: bool,
}

/// The provider's collection cycles.
#[derive(Default)]
pub(crate) struct Cycles {
    /// Cycles started (the number of the latest one).
    started: AtomicU64,
    state: Mutex<CycleState>,
    done: Condvar,
}

impl Cycles {
    /// The number of the latest cycle started.
    pub(crate) fn latest(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Runs one collection cycle, or joins the one in progress
    /// (single-flight): callbacks and the storage walk happen once for all
    /// readers collecting at the same time.
    ///
    /// Once the host's recording stopped (`recording_stopped`: shutdown), a
    /// collection joins only a cycle that started afterwards: the readers'
    /// final collections must see every measurement recorded before
    /// shutdown and run the callbacks after it began, which a cycle
    /// already walking the streams (a scrape in progress) cannot promise.
    pub(crate) fn run(
        &self,
        src: &impl Sources,
        recording_stopped: impl Fn() -> bool,
    ) -> Arc<RawCycle> {
        let mut st = lock(&self.state);
        let need_fresh = recording_stopped();
        if st.running && (st.after_recording_stopped || !need_fresh) {
            let gen = st.generation;
            st.waiters += 1;
            while st.running && st.generation == gen {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            st.waiters -= 1;
            let last = if st.generation == gen + 1 {
                st.last.clone()
            } else {
                None
            };
            if st.waiters == 0 {
                st.last = None;
            }
            if let Some(last) = last {
                return last;
            }
        }
        while st.running {
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.running = true;
        st.after_recording_stopped = recording_stopped();
        drop(st);
        let raw = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.walk(src)))
            .unwrap_or_else(|_| {
                diag_error!("collection cycle panicked; reporting nothing for this cycle");
                RawCycle {
                    time: crate::time::now_nanos(),
                    meters: Vec::new(),
                }
            });
        let raw = Arc::new(raw);
        let mut st = lock(&self.state);
        st.running = false;
        st.generation += 1;
        st.last = if st.waiters > 0 {
            Some(raw.clone())
        } else {
            None
        };
        drop(st);
        self.done.notify_all();
        raw
    }

    /// The cycle itself: callbacks, then one read of every stream.
    fn walk(&self, src: &impl Sources) -> RawCycle {
        for cb in src.callbacks() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb())).is_err() {
                src.diag()
                    .reject(Reason::CallbackPanic, "observable callback");
            }
        }
        // The cycle's number is taken before the readers' in-flight
        // collections are read (see `ReaderCore::hold`).
        let no = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let readers = src.readers();
        let time = crate::time::now_nanos();
        let meters = src.streams();
        let mut out = Vec::with_capacity(meters.len());
        let mut rs: Vec<CycleReader> = Vec::with_capacity(readers.len());
        for (scope, streams) in meters {
            let mut ms = Vec::with_capacity(streams.len());
            for s in streams {
                rs.clear();
                rs.extend(readers.iter().map(|(id, holding, t)| CycleReader {
                    id: *id,
                    temporality: t.of(s.desc().kind),
                    holding: *holding,
                }));
                let raw = s.cycle(&rs, no, time);
                ms.push((s, raw));
            }
            out.push((scope, ms));
        }
        RawCycle { time, meters: out }
    }
}

/// One reader's metrics from a cycle, stamped `time`. When no other
/// reader shares the cycle, its points are moved into the output instead
/// of cloned (no reference-count traffic on every series' attributes).
pub(crate) fn emit_for(
    cycle: Arc<RawCycle>,
    reader: u64,
    temporality: TemporalityOf,
    time: u64,
) -> Vec<ScopeMetrics> {
    let emit = |s: &Arc<dyn StreamCollect>, raw: RawIn<'_>| {
        let d = s.desc();
        let data = s.emit(raw, reader, temporality.of(d.kind), time);
        (!data.is_empty()).then(|| Metric {
            name: d.name.clone(),
            description: d.description.clone(),
            unit: d.unit.clone(),
            data,
        })
    };
    let mut out = Vec::new();
    let mut push = |scope: Arc<InstrumentationScope>, metrics: Vec<Metric>| {
        if !metrics.is_empty() {
            out.push(ScopeMetrics { scope, metrics });
        }
    };
    match Arc::try_unwrap(cycle) {
        Ok(owned) => {
            for (scope, streams) in owned.meters {
                let metrics = streams
                    .into_iter()
                    .filter_map(|(s, raw)| emit(&s, RawIn::Owned(raw)))
                    .collect();
                push(scope, metrics);
            }
        }
        Err(shared) => {
            for (scope, streams) in &shared.meters {
                let metrics = streams
                    .iter()
                    .filter_map(|(s, raw)| emit(s, RawIn::Shared(raw)))
                    .collect();
                push(scope.clone(), metrics);
            }
        }
    }
    out
}
