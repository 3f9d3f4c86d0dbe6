//! What every reader shares with the provider it is attached to: its
//! [`ReaderCore`] (id, temporality, in-flight collections, the time of its
//! latest collection) and the one entry point through which it collects,
//! [`Collect`], which the provider implements. Readers see nothing else
//! of the provider.

use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use crate::sync::{lock, Mutex};
use crate::temporality::{TemporalityPreference, TemporalitySelector};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// The one way a reader collects: through the provider it is attached to.
pub(crate) trait Collect: Send + Sync {
    /// Collects for `readers` in one cycle (the periodic readers of one
    /// schedule share it), in their order; `reuse`: a recent cycle's
    /// reading may serve them (the provider's collection window).
    fn collect(&self, readers: &[&ReaderCore], reuse: bool) -> Result<Vec<ResourceMetrics>>;

    /// Forgets reader `id`: it is no longer collected for, its cursors go.
    fn detach(&self, id: u64);
}

static NEXT_READER: AtomicU64 = AtomicU64::new(1);

/// A collection in progress (see [`ReaderCore::hold`]).
pub(crate) struct Holding<'a> {
    core: &'a ReaderCore,
    token: u64,
}

impl Holding<'_> {
    /// Names this collection to [`ReaderCore::advance`].
    pub(crate) fn token(&self) -> u64 {
        self.token
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        lock(&self.core.in_flight)
            .held
            .retain(|(t, _)| *t != self.token);
    }
}

/// A reader's collections in progress: per collection, its token and the
/// oldest cycle whose points it may emit.
#[derive(Debug, Default)]
struct InFlight {
    next_token: u64,
    held: Vec<(u64, u64)>,
}
/// The least time between two collections of one reader, in nanoseconds:
/// one millisecond, the precision Prometheus keeps (its OTLP receiver
/// refuses a second value at the same millisecond). A reader collecting
/// more often than once per millisecond gets times running ahead of the
/// clock by the difference.
pub(crate) const COLLECTION_TIME_STEP: u64 = 1_000_000;

/// State every reader shares with the provider it is attached to.
#[derive(Debug)]
pub struct ReaderCore {
    id: u64,
    selector: TemporalitySelector,
    provider: Mutex<Option<Weak<dyn Collect>>>,
    /// Collections of this reader in progress, each with the oldest cycle
    /// number it may emit (see [`ReaderCore::holding`]).
    in_flight: Mutex<InFlight>,
    /// Time of this reader's latest collection (ns since the epoch).
    last_time: AtomicU64,
}

impl ReaderCore {
    /// A reader core with this temporality preference.
    pub fn new(pref: TemporalityPreference) -> Arc<Self> {
        Arc::new(ReaderCore {
            id: NEXT_READER.fetch_add(1, Ordering::Relaxed),
            selector: TemporalitySelector::new(pref),
            provider: Mutex::new(None),
            in_flight: Mutex::new(InFlight::default()),
            last_time: AtomicU64::new(0),
        })
    }

    /// Marks a collection of this reader as in progress until the guard
    /// drops: `cycle` is the provider's cycle count read before the
    /// collection asks for its cycle, so the points it emits come from that
    /// cycle or a later one.
    pub(crate) fn hold(&self, cycle: impl FnOnce() -> u64) -> Holding<'_> {
        let mut g = lock(&self.in_flight);
        let c = cycle();
        g.next_token += 1;
        let token = g.next_token;
        g.held.push((token, c));
        Holding { core: self, token }
    }

    /// Records that the collection `token` (see [`Holding::token`]) emits
    /// the points of cycle `cycle`, which it walks itself: no earlier
    /// cycle's. Series that cycle evicts are then settled with the reader
    /// in that very cycle, so the collection reports them instead of
    /// leaving them to the reader's next one.
    pub(crate) fn advance(&self, token: u64, cycle: u64) {
        if let Some((_, oldest)) = lock(&self.in_flight)
            .held
            .iter_mut()
            .find(|(t, _)| *t == token)
        {
            *oldest = (*oldest).max(cycle);
        }
    }

    /// The oldest cycle whose points a collection in progress may still
    /// emit; `NOT_HOLDING` when none is in progress.
    pub(crate) fn holding(&self) -> u64 {
        lock(&self.in_flight)
            .held
            .iter()
            .map(|(_, c)| *c)
            .min()
            .unwrap_or(crate::collect::stream::NOT_HOLDING)
    }

    /// Unique id of the reader.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The reader's temporality selector.
    pub fn selector(&self) -> TemporalitySelector {
        self.selector
    }

    /// Attaches the reader to the provider `p` (which it does not keep
    /// alive); refused while it is attached to a live provider.
    pub(crate) fn attach(&self, p: Weak<dyn Collect>) -> Result<()> {
        let mut g = lock(&self.provider);
        if let Some(w) = g.as_ref() {
            if w.strong_count() > 0 {
                return Err(Error::ReaderAlreadyRegistered);
            }
        }
        *g = Some(p);
        Ok(())
    }

    /// The provider the reader is attached to.
    pub(crate) fn provider(&self) -> Result<Arc<dyn Collect>> {
        let g = lock(&self.provider);
        match g.as_ref() {
            None => Err(Error::ReaderNotRegistered),
            Some(w) => w.upgrade().ok_or(Error::Shutdown),
        }
    }

    /// Collects a snapshot for this reader (one collection cycle, shared
    /// with readers collecting concurrently, or the reading of a cycle it
    /// shared within the provider's collection window).
    pub fn collect(&self) -> Result<ResourceMetrics> {
        self.collect_once(true)
    }

    /// Collects a snapshot that sees everything recorded before the call
    /// (a flush's, the final one): never served from an earlier cycle.
    pub(crate) fn collect_fresh(&self) -> Result<ResourceMetrics> {
        self.collect_once(false)
    }

    fn collect_once(&self, reuse: bool) -> Result<ResourceMetrics> {
        let mut out = self.provider()?.collect(&[self], reuse)?;
        out.pop().ok_or(Error::ReaderNotRegistered)
    }

    /// The earliest time this reader's next collection may stamp its
    /// points with: strictly later than its previous collection's.
    pub(crate) fn earliest_time(&self) -> u64 {
        self.last_time
            .load(Ordering::Relaxed)
            .saturating_add(COLLECTION_TIME_STEP)
    }

    /// The time this reader's collection stamps its points with: the
    /// cycle's time `t`, or the next moment after this reader's previous
    /// collection when that is not earlier (the clock stepped back, or
    /// two collections share a clock reading). A consumer never sees two
    /// collections of one reader at the same time.
    pub(crate) fn stamp(&self, t: u64) -> u64 {
        let mut last = self.last_time.load(Ordering::Relaxed);
        loop {
            let next = t.max(last.saturating_add(COLLECTION_TIME_STEP));
            match self.last_time.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Detaches the reader from its provider and drops its cursors.
    pub fn detach(&self) {
        if let Ok(p) = self.provider() {
            p.detach(self.id);
        }
        *lock(&self.provider) = None;
    }
}
