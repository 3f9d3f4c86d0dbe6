//! The collection cycle: observable callbacks once, then one read of
//! every stream, shared by every reader collecting at the same time
//! (single-flight); then each reader's points from that read.
//!
//! A reader that collects shortly after a cycle it took no part in (a
//! scrape right after the periodic push) is served from that cycle's
//! reading, without a walk or callbacks, while the cycle is younger than
//! the provider's collection window. The reading is kept only for the
//! readers that shared the cycle and have not collected from it yet, and
//! only for the window: it goes when the last of them took it, when a
//! newer cycle replaces it, or at the first collection after the window
//! (at most one cycle's reading is ever kept).

use super::data::{Metric, ScopeMetrics, Temporality};
use super::stream::{CycleReader, RawBatch, RawIn, StreamCollect};
use crate::diagnostics::{diag_error, Diag, Reason};
use crate::kinds::InstrumentKind;
use crate::resource::InstrumentationScope;
use crate::sync::{lock, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

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
    /// Records that the collection `hold` of reader `reader` emits cycle
    /// number `cycle`, which it walks itself.
    fn advance(&self, reader: u64, hold: u64, cycle: u64);
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

/// A reader asking for a cycle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asker {
    pub(crate) id: u64,
    /// The collection's token in the reader's in-flight collections.
    pub(crate) hold: u64,
    /// The earliest time this reader's next points may carry (strictly
    /// later than its previous collection's).
    pub(crate) earliest: u64,
    /// Whether a recent cycle's reading may serve it (false: the
    /// collection must see everything recorded before it began, as a
    /// flush's does).
    pub(crate) reuse: bool,
}

/// The latest cycle's reading, kept for the readers that shared the
/// cycle and have not collected from it, until the window passes.
struct Recent {
    cycle: Arc<RawCycle>,
    at: Instant,
    after_recording_stopped: bool,
    /// Readers of the cycle that have not emitted its points.
    pending: Vec<u64>,
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
    /// The latest cycle's reading, while the window lets it serve readers.
    recent: Option<Recent>,
}

impl CycleState {
    /// Records that `askers` emit from `cycle`: none of them may be served
    /// from it again, and the reading goes once no reader is left for it.
    fn served(&mut self, cycle: &Arc<RawCycle>, askers: &[Asker]) {
        if self
            .recent
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.cycle, cycle))
        {
            self.unpend(|id| askers.iter().any(|a| a.id == id));
        }
    }

    /// Takes the readers `gone` picks off the recent reading's pending
    /// list; the reading goes with the last of them.
    fn unpend(&mut self, gone: impl Fn(u64) -> bool) {
        if let Some(r) = self.recent.as_mut() {
            r.pending.retain(|id| !gone(*id));
            if r.pending.is_empty() {
                self.recent = None;
            }
        }
    }
}

/// The provider's collection cycles.
#[derive(Default)]
pub(crate) struct Cycles {
    /// Cycles started (the number of the latest one).
    started: AtomicU64,
    state: Mutex<CycleState>,
    done: Condvar,
    /// How long a cycle's reading may serve readers that shared the cycle
    /// and collect after it (zero: never).
    window: Duration,
}

impl Cycles {
    /// Cycles whose readings serve later collections for `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Cycles {
            window,
            ..Cycles::default()
        }
    }

    /// The recent cycle, when it may serve every one of `askers`: it is
    /// within the window, each asker shared it and has not emitted it,
    /// its time is not earlier than what each asker may carry, and when
    /// the host's recording stopped, it started afterwards. An expired
    /// reading is dropped here.
    fn reusable(
        &self,
        st: &mut CycleState,
        need_fresh: bool,
        askers: &[Asker],
    ) -> Option<Arc<RawCycle>> {
        let r = st.recent.as_ref()?;
        if r.at.elapsed() >= self.window {
            st.recent = None;
            return None;
        }
        let fits = (r.after_recording_stopped || !need_fresh)
            && askers
                .iter()
                .all(|a| a.reuse && r.pending.contains(&a.id) && r.cycle.time >= a.earliest);
        if !fits {
            return None;
        }
        let cycle = r.cycle.clone();
        st.served(&cycle, askers);
        Some(cycle)
    }

    /// Forgets a reader that went away: no reading is kept for it.
    pub(crate) fn forget_reader(&self, reader: u64) {
        lock(&self.state).unpend(|id| id == reader);
    }

    /// The number of the latest cycle started.
    pub(crate) fn latest(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Runs one collection cycle for `askers`, joins the one in progress
    /// (single-flight: callbacks and the storage walk happen once for all
    /// readers collecting at the same time), or serves them from the
    /// recent cycle (see [`Cycles::reusable`]).
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
        askers: &[Asker],
    ) -> Arc<RawCycle> {
        let mut st = lock(&self.state);
        let need_fresh = recording_stopped();
        if !st.running {
            if let Some(cycle) = self.reusable(&mut st, need_fresh, askers) {
                return cycle;
            }
        }
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
                st.served(&last, askers);
                return last;
            }
        }
        while st.running {
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.running = true;
        st.after_recording_stopped = recording_stopped();
        let after_recording_stopped = st.after_recording_stopped;
        drop(st);
        // The window runs from the reading's start: a served reading is
        // never older than the window.
        let started_at = Instant::now();
        let (raw, readers) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.walk(src, askers)))
                .unwrap_or_else(|_| {
                    diag_error!("collection cycle panicked; reporting nothing for this cycle");
                    let empty = RawCycle {
                        time: crate::time::now_nanos(),
                        meters: Vec::new(),
                    };
                    (empty, Vec::new())
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
        // Kept for the cycle's other readers, unless nobody is left to
        // take it (a lone reader's points are then moved, not cloned).
        let pending: Vec<u64> = readers
            .into_iter()
            .filter(|id| askers.iter().all(|a| a.id != *id))
            .collect();
        st.recent = (!self.window.is_zero() && !pending.is_empty()).then(|| Recent {
            cycle: raw.clone(),
            at: started_at,
            after_recording_stopped,
            pending,
        });
        drop(st);
        self.done.notify_all();
        raw
    }

    /// The cycle itself: callbacks, then one read of every stream. Returns
    /// the reading and the readers it was made for.
    fn walk(&self, src: &impl Sources, askers: &[Asker]) -> (RawCycle, Vec<u64>) {
        for cb in src.callbacks() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb())).is_err() {
                src.diag()
                    .reject(Reason::CallbackPanic, "observable callback");
            }
        }
        // The cycle's number is taken before the readers' in-flight
        // collections are read (see `ReaderCore::hold`).
        let no = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        // The askers emit this cycle's points and no earlier ones: what it
        // evicts is settled with them now, and their collections report
        // it (instead of their next ones).
        for a in askers {
            src.advance(a.id, a.hold, no);
        }
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
        let ids = readers.iter().map(|r| r.0).collect();
        (RawCycle { time, meters: out }, ids)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::stream::NOT_HOLDING;

    /// A provider with no streams: readers `readers`, one callback
    /// counting the cycles' walks.
    struct Fake {
        readers: Vec<u64>,
        walks: Arc<AtomicU64>,
        diag: Diag,
    }

    impl Fake {
        fn new(readers: &[u64]) -> Self {
            Fake {
                readers: readers.to_vec(),
                walks: Arc::default(),
                diag: Diag::default(),
            }
        }
        fn walks(&self) -> u64 {
            self.walks.load(Ordering::SeqCst)
        }
    }

    impl Sources for Fake {
        fn callbacks(&self) -> Vec<Callback> {
            let n = self.walks.clone();
            vec![Arc::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })]
        }
        fn readers(&self) -> Vec<(u64, u64, TemporalityOf)> {
            self.readers
                .iter()
                .map(|id| {
                    (
                        *id,
                        NOT_HOLDING,
                        TemporalityOf::new(|_| Temporality::Cumulative),
                    )
                })
                .collect()
        }
        fn advance(&self, _: u64, _: u64, _: u64) {}
        fn streams(&self) -> Vec<MeterStreams> {
            Vec::new()
        }
        fn diag(&self) -> &Diag {
            &self.diag
        }
    }

    fn ask(id: u64) -> Asker {
        Asker {
            id,
            hold: 0,
            earliest: 0,
            reuse: true,
        }
    }

    fn kept(c: &Cycles) -> bool {
        lock(&c.state).recent.is_some()
    }

    #[test]
    fn the_reading_is_kept_only_until_every_reader_of_the_cycle_took_it() {
        let cycles = Cycles::new(Duration::from_secs(60));
        let src = Fake::new(&[1, 2, 3]);
        let a = cycles.run(&src, || false, &[ask(1)]);
        assert!(kept(&cycles));
        let b = cycles.run(&src, || false, &[ask(2)]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(kept(&cycles), "reader 3 has not taken it");
        let c = cycles.run(&src, || false, &[ask(3)]);
        assert!(Arc::ptr_eq(&a, &c));
        assert!(!kept(&cycles), "every reader took it");
        assert_eq!(src.walks(), 1);
        assert_eq!(Arc::strong_count(&a), 3, "only the readers hold it");
        // A reader that emitted the cycle walks anew.
        let d = cycles.run(&src, || false, &[ask(1)]);
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(src.walks(), 2);
    }

    #[test]
    fn a_lone_reader_keeps_nothing() {
        let cycles = Cycles::new(Duration::from_secs(60));
        let src = Fake::new(&[1]);
        let a = cycles.run(&src, || false, &[ask(1)]);
        assert!(!kept(&cycles));
        assert_eq!(Arc::strong_count(&a), 1, "its points can be moved");
    }

    #[test]
    fn an_expired_reading_is_dropped_by_the_next_collection() {
        let cycles = Cycles::new(Duration::from_millis(20));
        let src = Fake::new(&[1, 2]);
        let a = cycles.run(&src, || false, &[ask(1)]);
        std::thread::sleep(Duration::from_millis(40));
        let b = cycles.run(&src, || false, &[ask(2)]);
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(src.walks(), 2);
        assert_eq!(Arc::strong_count(&a), 1, "the expired reading went");
    }

    #[test]
    fn a_zero_window_keeps_nothing() {
        let cycles = Cycles::new(Duration::ZERO);
        let src = Fake::new(&[1, 2]);
        cycles.run(&src, || false, &[ask(1)]);
        assert!(!kept(&cycles));
        cycles.run(&src, || false, &[ask(2)]);
        assert_eq!(src.walks(), 2);
    }

    #[test]
    fn a_reader_that_went_away_is_not_waited_for() {
        let cycles = Cycles::new(Duration::from_secs(60));
        let src = Fake::new(&[1, 2]);
        let a = cycles.run(&src, || false, &[ask(1)]);
        cycles.forget_reader(2);
        assert!(!kept(&cycles));
        assert_eq!(Arc::strong_count(&a), 1);
    }

    #[test]
    fn fresh_late_or_post_shutdown_collections_walk_anew() {
        let cycles = Cycles::new(Duration::from_secs(60));
        let src = Fake::new(&[1, 2, 3, 4]);
        let a = cycles.run(&src, || false, &[ask(1)]);
        // A flush.
        let fresh = Asker {
            reuse: false,
            ..ask(2)
        };
        assert!(!Arc::ptr_eq(&a, &cycles.run(&src, || false, &[fresh])));
        // A reader whose points must be later than the cycle's time.
        let b = cycles.run(&src, || false, &[ask(1)]);
        let late = Asker {
            earliest: b.time + 1,
            ..ask(3)
        };
        assert!(!Arc::ptr_eq(&b, &cycles.run(&src, || false, &[late])));
        // Once recording stopped, only a cycle started afterwards serves.
        let c = cycles.run(&src, || false, &[ask(1)]);
        let d = cycles.run(&src, || true, &[ask(4)]);
        assert!(!Arc::ptr_eq(&c, &d));
        let e = cycles.run(&src, || true, &[ask(2)]);
        assert!(Arc::ptr_eq(&d, &e), "a cycle after the stop serves");
        assert_eq!(src.walks(), 4);
    }
}
