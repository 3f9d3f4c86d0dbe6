//! Meters: one per instrumentation scope; they create instruments.

use crate::aggregation::{
    validate_boundaries, Aggregation, ExpoConfig, ExpoHistogramCell, HistConfig, HistogramCell,
    LastValue, SumFloat, SumInt, SumU64, DEFAULT_BOUNDARIES,
};
use crate::collect::stream::StreamCollect;
use crate::diagnostics::diag_warn;
use crate::error::Result;
use crate::instruments::{
    register, validate_description, validate_name, validate_unit, Counter, Gauge, Histogram,
    Instrument, InstrumentCore, InstrumentKind, NumberKind, ObservableCounter, ObservableGauge,
    ObservableUpDownCounter, StreamHandle, UpDownCounter,
};
use crate::kinds::{Shape, StreamDesc};
use crate::provider::ProviderInner;
use crate::resource::InstrumentationScope;
use crate::storage::stream::{AttrFilter, Stream};
use crate::sync::{lock, Mutex};
use std::sync::Arc;

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
    pub(crate) provider: Arc<ProviderInner>,
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
            self.meter.provider.add_callback(Arc::new(move || cb(&i)));
        }
        Ok(inst)
    }
}

/// A registered multi-instrument callback. Dropping it keeps the callback;
/// call [`unregister`](Self::unregister) to remove it.
#[derive(Debug)]
pub struct CallbackRegistration {
    provider: std::sync::Weak<ProviderInner>,
    id: u64,
}

impl CallbackRegistration {
    /// Removes the callback. Returns false if it was already removed.
    pub fn unregister(&self) -> bool {
        match self.provider.upgrade() {
            Some(p) => p.remove_callback(self.id),
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
        let id = self.provider.add_callback(Arc::new(f));
        CallbackRegistration {
            provider: Arc::downgrade(&self.provider),
            id,
        }
    }

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
        let p = &self.provider;
        if p.is_shutdown() {
            diag_warn!("instrument {name:?} created after shutdown: it records nothing");
        }
        let lower = name.to_ascii_lowercase();
        let mut insts = lock(&self.inner.instruments);
        let mut conflict: Option<Vec<&str>> = None;
        for r in insts.iter().filter(|r| r.name_lower == lower) {
            let mut differs = Vec::new();
            if r.kind != kind {
                differs.push("kind");
            }
            if r.number != number {
                differs.push("number type");
            }
            if r.unit != unit {
                differs.push("unit");
            }
            if r.description != description {
                differs.push("description");
            }
            if r.boundaries != boundaries {
                differs.push("bucket boundaries advice");
            }
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
        let mut streams = Vec::new();
        // One snapshot of the views for the whole creation (see
        // `MeterProvider::add_view`).
        let views = p.views.load_full();
        let matching: Vec<_> = views
            .iter()
            .filter(|v| v.matches(name, kind, unit, &self.inner.scope))
            .collect();
        if matching.is_empty() {
            if let Some(s) = self.make_stream(
                &name_arc,
                description,
                unit,
                kind,
                number,
                &boundaries,
                None,
                None,
                p.cardinality_limit,
            ) {
                streams.push(s);
            }
        } else {
            for v in matching {
                let sc = &v.stream;
                let sname = sc
                    .name
                    .as_deref()
                    .map(Arc::from)
                    .unwrap_or_else(|| name_arc.clone());
                let desc = sc.description.as_deref().unwrap_or(description);
                let filter = match (&sc.allowed_keys, &sc.denied_keys) {
                    (Some(a), _) => Some(AttrFilter::Allow(a.clone())),
                    (None, Some(d)) => Some(AttrFilter::Deny(d.clone())),
                    _ => None,
                };
                let limit = sc.cardinality_limit.unwrap_or(p.cardinality_limit);
                if let Some(s) = self.make_stream(
                    &sname,
                    desc,
                    unit,
                    kind,
                    number,
                    &boundaries,
                    sc.aggregation.as_ref(),
                    filter,
                    limit,
                ) {
                    streams.push(s);
                }
            }
        }
        let (streams, collectors): (Vec<StreamHandle>, Vec<Arc<dyn StreamCollect>>) =
            streams.into_iter().unzip();
        if p.is_shutdown() {
            for c in &collectors {
                c.set_shutdown();
            }
        }
        lock(&self.inner.streams).extend(collectors);
        let core = Arc::new(InstrumentCore::new(name_arc, streams, p.diag.clone()));
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

    #[allow(clippy::too_many_arguments)]
    fn make_stream(
        &self,
        name: &Arc<str>,
        description: &str,
        unit: &str,
        kind: InstrumentKind,
        number: NumberKind,
        advice: &Option<Vec<f64>>,
        agg: Option<&Aggregation>,
        filter: Option<AttrFilter>,
        limit: usize,
    ) -> Option<(StreamHandle, Arc<dyn StreamCollect>)> {
        use InstrumentKind as K;
        let default = match kind {
            K::Counter | K::UpDownCounter | K::ObservableCounter | K::ObservableUpDownCounter => {
                Aggregation::Sum
            }
            K::Gauge | K::ObservableGauge => Aggregation::LastValue,
            K::Histogram => match &self.provider.default_histogram {
                Some(Aggregation::ExplicitBucketHistogram {
                    boundaries,
                    record_min_max,
                }) => Aggregation::ExplicitBucketHistogram {
                    boundaries: advice.clone().unwrap_or_else(|| boundaries.clone()),
                    record_min_max: *record_min_max,
                },
                Some(exponential) => exponential.clone(),
                None => Aggregation::ExplicitBucketHistogram {
                    boundaries: advice
                        .clone()
                        .unwrap_or_else(|| DEFAULT_BOUNDARIES.to_vec()),
                    record_min_max: true,
                },
            },
        };
        let mut agg = match agg {
            None | Some(Aggregation::Default) => default.clone(),
            Some(a) => a.clone(),
        };
        if kind.is_observable() && agg.is_histogram() {
            diag_warn!("view asks for a histogram of observable instrument {name:?}: not supported, using its default aggregation");
            agg = default;
        }
        let monotonic = matches!(kind, K::Counter | K::ObservableCounter | K::Histogram);
        let p = &self.provider;
        let mk_desc = |shape| StreamDesc {
            name: name.clone(),
            description: Arc::from(description),
            unit: Arc::from(unit),
            kind,
            number,
            shape,
        };
        // One line per aggregation: its shape, its cell, its config.
        let (evict, diag) = (p.evict_after, p.diag.clone());
        macro_rules! stream {
            ($cell:ty, $shape:expr, $cfg:expr) => {
                register::<$cell>(
                    Stream::new(mk_desc($shape), $cfg, limit, filter, diag),
                    evict,
                )
            };
        }
        let sum = Shape::Sum { monotonic };
        Some(match agg {
            Aggregation::Drop => return None,
            Aggregation::Default => unreachable!("resolved above"),
            // Observations are totals: the last one is the sum.
            Aggregation::Sum if kind.is_observable() => stream!(LastValue, sum, ()),
            Aggregation::Sum if number == NumberKind::F64 => stream!(SumFloat, sum, ()),
            // u64 instruments are monotonic (counters, histograms).
            Aggregation::Sum if monotonic && number == NumberKind::U64 => {
                stream!(SumU64, sum, ())
            }
            Aggregation::Sum => stream!(SumInt, sum, ()),
            Aggregation::LastValue => stream!(LastValue, Shape::Gauge, ()),
            Aggregation::ExplicitBucketHistogram {
                boundaries,
                record_min_max,
            } => stream!(
                HistogramCell,
                Shape::Histogram,
                HistConfig {
                    bounds: boundaries.into(),
                    record_min_max,
                }
            ),
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max,
            } => stream!(
                ExpoHistogramCell,
                Shape::Histogram,
                ExpoConfig {
                    max_size,
                    max_scale,
                    record_min_max,
                }
            ),
        })
    }
}
