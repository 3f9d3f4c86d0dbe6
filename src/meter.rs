//! Meters: one per instrumentation scope; they create instruments.

use crate::aggregation::validate_boundaries;
use crate::collect::cycle::Callback;
use crate::collect::stream::StreamCollect;
use crate::diagnostics::{diag_warn, Diag};
use crate::error::Result;
use crate::instruments::{
    validate_description, validate_name, validate_unit, Counter, Gauge, Histogram, Instrument,
    InstrumentCore, InstrumentKind, NumberKind, ObservableCounter, ObservableGauge,
    ObservableUpDownCounter, StreamHandle, UpDownCounter,
};
use crate::resource::InstrumentationScope;
use crate::sync::{lock, Mutex};
use crate::views::{InstrumentSpec, StreamResolver};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// The part of a provider its meters see: the stream configuration
/// (views and defaults), the rejection counters, the callback registry,
/// and whether shutdown started. The provider owns it; meters hold it,
/// never the provider itself.
pub(crate) struct MeterContext {
    pub(crate) streams: StreamResolver,
    pub(crate) diag: Arc<Diag>,
    pub(crate) callbacks: CallbackRegistry,
    stopping: AtomicBool,
}

impl MeterContext {
    pub(crate) fn new(streams: StreamResolver, diag: Arc<Diag>) -> Self {
        MeterContext {
            streams,
            diag,
            callbacks: CallbackRegistry::default(),
            stopping: AtomicBool::new(false),
        }
    }

    /// True once the provider's shutdown started.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Marks shutdown as started; false if it already was.
    pub(crate) fn start_shutdown(&self) -> bool {
        !self.stopping.swap(true, Ordering::AcqRel)
    }
}

/// The observable callbacks of a provider, by registration id: each runs
/// once per collection cycle.
#[derive(Default)]
pub(crate) struct CallbackRegistry {
    list: Mutex<Vec<(u64, Callback)>>,
    next_id: AtomicU64,
}

impl CallbackRegistry {
    /// Registers `f`; returns its id.
    pub(crate) fn add(&self, f: Callback) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.list).push((id, f));
        id
    }

    /// Removes callback `id`; false if it was not registered.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut cbs = lock(&self.list);
        let before = cbs.len();
        cbs.retain(|(i, _)| *i != id);
        cbs.len() != before
    }

    /// The callbacks now registered.
    pub(crate) fn all(&self) -> Vec<Callback> {
        lock(&self.list).iter().map(|c| c.1.clone()).collect()
    }

    /// Drops every callback (shutdown releases the host's closures).
    pub(crate) fn clear(&self) {
        let callbacks = std::mem::take(&mut *lock(&self.list));
        drop(callbacks);
    }
}

pub(crate) struct MeterInner {
    pub(crate) scope: Arc<InstrumentationScope>,
    instruments: Mutex<Vec<Registered>>,
    pub(crate) streams: Mutex<Vec<Arc<dyn StreamCollect>>>,
}

struct Registered {
    name_lower: String,
    kind: InstrumentKind,
    number: NumberKind,
    unit: String,
    description: String,
    boundaries: Option<Vec<f64>>,
    core: Arc<InstrumentCore>,
}

impl Registered {
    /// What of a new registration differs from this one (empty: the same
    /// instrument).
    fn differences(
        &self,
        kind: InstrumentKind,
        number: NumberKind,
        unit: &str,
        description: &str,
        boundaries: &Option<Vec<f64>>,
    ) -> Vec<&'static str> {
        let mut differs = Vec::new();
        if self.kind != kind {
            differs.push("kind");
        }
        if self.number != number {
            differs.push("number type");
        }
        if self.unit != unit {
            differs.push("unit");
        }
        if self.description != description {
            differs.push("description");
        }
        if self.boundaries != *boundaries {
            differs.push("bucket boundaries advice");
        }
        differs
    }
}

impl MeterInner {
    pub(crate) fn new(scope: InstrumentationScope) -> Self {
        MeterInner {
            scope: Arc::new(scope),
            instruments: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
        }
    }
}

/// Creates instruments for one instrumentation scope. Cheap to clone.
#[derive(Clone)]
pub struct Meter {
    pub(crate) inner: Arc<MeterInner>,
    /// What the meter sees of its provider.
    pub(crate) provider: Arc<MeterContext>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("scope", &self.inner.scope)
            .finish()
    }
}

type InstrumentCallback<I> = Box<dyn Fn(&I) + Send + Sync>;

/// Configures an instrument before it is created.
#[must_use]
pub struct InstrumentBuilder<'a, I: Instrument> {
    meter: &'a Meter,
    name: String,
    description: String,
    unit: String,
    boundaries: Option<Vec<f64>>,
    callbacks: Vec<InstrumentCallback<I>>,
}

impl<I: Instrument> InstrumentBuilder<'_, I> {
    /// Sets the description (any BMP text).
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Sets the unit (UCUM, ASCII, at most 63 characters).
    pub fn with_unit(mut self, u: impl Into<String>) -> Self {
        self.unit = u.into();
        self
    }
    /// Histogram bucket boundaries advice (used when no view overrides it):
    /// finite, strictly increasing, at most
    /// [`MAX_BOUNDARIES`](crate::aggregation::MAX_BOUNDARIES); `build`
    /// refuses others with [`Error::InvalidBoundaries`](crate::Error::InvalidBoundaries).
    pub fn with_boundaries(mut self, b: Vec<f64>) -> Self {
        self.boundaries = Some(b);
        self
    }
    /// Adds a callback for an observable instrument, called once per
    /// collection cycle with the instrument to observe.
    pub fn with_callback(mut self, f: impl Fn(&I) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Box::new(f));
        self
    }

    /// Creates (or finds) the instrument.
    ///
    /// Errors: invalid name, unit, description or boundaries. Registering
    /// the same name twice returns an instrument sharing storage with the
    /// first when everything matches; otherwise a warning is emitted and an
    /// independent instrument is returned (both are exported).
    pub fn build(self) -> Result<I> {
        let core = self.meter.register(
            &self.name,
            &self.description,
            &self.unit,
            I::KIND,
            I::NUMBER,
            self.boundaries,
        )?;
        let inst = I::from_core(core);
        for cb in self.callbacks {
            let i = inst.clone();
            self.meter.provider.callbacks.add(Arc::new(move || cb(&i)));
        }
        Ok(inst)
    }
}

/// A registered multi-instrument callback. Dropping it keeps the callback;
/// call [`unregister`](Self::unregister) to remove it.
#[derive(Debug)]
pub struct CallbackRegistration {
    provider: Weak<MeterContext>,
    id: u64,
}

impl CallbackRegistration {
    /// Removes the callback. Returns false if it was already removed.
    pub fn unregister(&self) -> bool {
        match self.provider.upgrade() {
            Some(p) => p.callbacks.remove(self.id),
            None => false,
        }
    }
}

macro_rules! constructors {
    ($($(#[$m:meta])* $f:ident => $t:ty;)*) => {
        $(
            $(#[$m])*
            pub fn $f(&self, name: impl Into<String>) -> InstrumentBuilder<'_, $t> {
                self.builder(name.into())
            }
        )*
    };
}

impl Meter {
    fn builder<I: Instrument>(&self, name: String) -> InstrumentBuilder<'_, I> {
        InstrumentBuilder {
            meter: self,
            name,
            description: String::new(),
            unit: String::new(),
            boundaries: None,
            callbacks: Vec::new(),
        }
    }

    constructors! {
        /// A u64 counter.
        u64_counter => Counter<u64>;
        /// An f64 counter.
        f64_counter => Counter<f64>;
        /// An i64 up-down counter.
        i64_up_down_counter => UpDownCounter<i64>;
        /// An f64 up-down counter.
        f64_up_down_counter => UpDownCounter<f64>;
        /// A u64 histogram.
        u64_histogram => Histogram<u64>;
        /// An f64 histogram.
        f64_histogram => Histogram<f64>;
        /// An i64 gauge.
        i64_gauge => Gauge<i64>;
        /// An f64 gauge.
        f64_gauge => Gauge<f64>;
        /// A u64 observable counter.
        u64_observable_counter => ObservableCounter<u64>;
        /// An i64 observable counter.
        i64_observable_counter => ObservableCounter<i64>;
        /// An f64 observable counter.
        f64_observable_counter => ObservableCounter<f64>;
        /// An i64 observable up-down counter.
        i64_observable_up_down_counter => ObservableUpDownCounter<i64>;
        /// An f64 observable up-down counter.
        f64_observable_up_down_counter => ObservableUpDownCounter<f64>;
        /// An i64 observable gauge.
        i64_observable_gauge => ObservableGauge<i64>;
        /// An f64 observable gauge.
        f64_observable_gauge => ObservableGauge<f64>;
    }

    /// The meter's scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    /// Registers a callback that may observe several observable instruments
    /// (capture clones of them). It runs once per collection cycle.
    pub fn register_callback(&self, f: impl Fn() + Send + Sync + 'static) -> CallbackRegistration {
        let id = self.provider.callbacks.add(Arc::new(f));
        CallbackRegistration {
            provider: Arc::downgrade(&self.provider),
            id,
        }
    }

    /// Validates an instrument, returns the existing one when this meter
    /// already has it (same name, case-insensitively, and everything else
    /// equal), or registers a new one with the streams its views give it.
    fn register(
        &self,
        name: &str,
        description: &str,
        unit: &str,
        kind: InstrumentKind,
        number: NumberKind,
        boundaries: Option<Vec<f64>>,
    ) -> Result<Arc<InstrumentCore>> {
        validate_name(name)?;
        validate_unit(unit)?;
        validate_description(description)?;
        if let Some(b) = &boundaries {
            validate_boundaries(b)?;
        }
        let ctx = &self.provider;
        if ctx.is_shutdown() {
            diag_warn!("instrument {name:?} created after shutdown: it records nothing");
        }
        let lower = name.to_ascii_lowercase();
        let mut insts = lock(&self.inner.instruments);
        let mut conflict: Option<Vec<&str>> = None;
        for r in insts.iter().filter(|r| r.name_lower == lower) {
            let differs = r.differences(kind, number, unit, description, &boundaries);
            if differs.is_empty() {
                return Ok(r.core.clone());
            }
            conflict.get_or_insert(differs);
        }
        if let Some(differs) = conflict {
            diag_warn!(
                "duplicate instrument registration: {name:?} in meter {:?} already exists with a different {}; both streams are kept and exported (OTLP carries both), but a Prometheus exposition has one sample per series: where their series coincide the first registered instrument wins and the later one's samples are left out, counted as exposition conflicts (a later one of another Prometheus type is left out whole). Use a view to rename one.",
                self.inner.scope.name(),
                differs.join(", ")
            );
        }
        let name_arc: Arc<str> = Arc::from(name);
        let spec = InstrumentSpec {
            name: &name_arc,
            description,
            unit,
            kind,
            number,
            advice: &boundaries,
        };
        let streams = ctx.streams.streams(&spec, &self.inner.scope, &ctx.diag);
        let (streams, collectors): (Vec<StreamHandle>, Vec<Arc<dyn StreamCollect>>) =
            streams.into_iter().unzip();
        if ctx.is_shutdown() {
            for c in &collectors {
                c.set_shutdown();
            }
        }
        lock(&self.inner.streams).extend(collectors);
        let core = Arc::new(InstrumentCore::new(name_arc, streams, ctx.diag.clone()));
        insts.push(Registered {
            name_lower: lower,
            kind,
            number,
            unit: unit.to_owned(),
            description: description.to_owned(),
            boundaries,
            core: core.clone(),
        });
        Ok(core)
    }
}
