//! The meter provider: configuration, meters, readers, observable
//! callbacks and the lifecycle. The collection cycle is `collect::cycle`.

use crate::aggregation::Aggregation;
use crate::collect::cycle::{
    emit_for, Asker, Callback, Cycles, MeterStreams, Sources, TemporalityOf,
};
use crate::collect::data::ResourceMetrics;
use crate::collect::stream::StreamCollect;
use crate::diagnostics::{diag_error, diag_warn, Diag, RejectedCounts};
use crate::error::{Error, Result};
use crate::meter::{Meter, MeterContext, MeterInner};
use crate::producer::{MetricProducer, ProducerRegistration, Producers};
use crate::readers::{Collect, ReaderCore};
use crate::resource::{InstrumentationScope, Resource};
use crate::sync::{lock, Mutex};
use crate::trace::ExemplarFilter;
use crate::views::{StreamResolver, View};
use arc_swap::ArcSwap;
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default cardinality limit per stream (overflow series included).
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;
/// Default number of idle cycles after which delta-only series are evicted.
pub const DEFAULT_EVICT_AFTER_CYCLES: u32 = 10;
/// Default collection window: how long a cycle's reading serves the
/// other readers that collect after it (see
/// [`MeterProviderBuilder::with_collection_window`]). 100 ms: well above
/// the time readers collecting one after another take (a few
/// milliseconds each at 100k series), well below the shortest interval
/// metrics are usually read at (a 1 s scrape sees data at most a tenth of
/// its interval old, stamped with the time it was read).
pub const DEFAULT_COLLECTION_WINDOW: Duration = Duration::from_millis(100);
/// Deadline of the shutdown that [`MeterProvider::shutdown`] and the drop
/// of the last [`MeterProvider`] handle perform (final collection and
/// export included).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct ProviderInner {
    pub(crate) resource: Arc<Resource>,
    /// What its meters see: views and stream defaults, the rejection
    /// counters, the callback registry, whether shutdown started.
    meter_ctx: Arc<MeterContext>,
    meters: Mutex<Vec<RegisteredMeter>>,
    readers: Mutex<Vec<Arc<dyn MetricReader>>>,
    cycles: Cycles,
    /// State readers keep per provider, of types the provider does not
    /// know (the periodic readers' schedules, one per interval).
    reader_state: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    /// The host's synchronous instruments stopped recording (shutdown's
    /// first step is done): from now on a collection takes only cycles
    /// that started afterwards.
    recording_stopped: AtomicBool,
    /// Shutdown finished: collect refuses.
    closed: AtomicBool,
    /// Host metric producers, merged into every reader's output.
    producers: Arc<Producers>,
}

/// A reader the provider can hold: it exposes its [`ReaderCore`] and gets
/// flush and shutdown notifications. Defined here, with the provider,
/// because its hook receives the provider's handle; public as
/// `ferrometer::readers::MetricReader`.
pub trait MetricReader: Send + Sync + 'static {
    /// The shared core.
    fn core(&self) -> &Arc<ReaderCore>;
    /// Collect and export now (push readers); no-op by default.
    fn force_flush(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }
    /// Final export and stop; no-op by default.
    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }
    /// Called once the provider has attached this reader (a periodic
    /// reader registers its exporter's self-metrics); no-op by default.
    /// Meters created through `provider` are the SDK's own: they keep
    /// recording while the provider shuts down, until every reader and
    /// exporter has stopped.
    fn on_attach(&self, _provider: &MeterProvider) -> Result<()> {
        Ok(())
    }
}

/// Folds one flush or shutdown result into another (a provider's over its
/// readers): the undelivered points add up, and the deadline counts as
/// passed when it passed for either.
pub(crate) fn merge_results(acc: Result<()>, next: Result<()>) -> Result<()> {
    match (acc, next) {
        (Ok(()), r) | (r, Ok(())) => r,
        (Err(a), Err(b)) => {
            if a.undelivered_points().is_none() && b.undelivered_points().is_none() {
                return Err(b);
            }
            let points = a.undelivered_points().unwrap_or(0) + b.undelivered_points().unwrap_or(0);
            let passed = |e: &Error| {
                matches!(
                    e,
                    Error::Timeout
                        | Error::NotDelivered {
                            deadline_passed: true,
                            ..
                        }
                )
            };
            Err(Error::NotDelivered {
                points,
                deadline_passed: passed(&a) || passed(&b),
                message: format!("{}; {}", a.detail(), b.detail()),
            })
        }
    }
}

/// A meter of the provider, and whether it is the SDK's own (an
/// exporter's self-metrics, registered through the handle a reader's
/// [`MetricReader::on_attach`] receives).
struct RegisteredMeter {
    meter: Arc<MeterInner>,
    self_metrics: bool,
}

/// The entry point of the SDK: owns meters, readers and configuration.
///
/// Cheap to clone; clones are handles to the same provider. Dropping the
/// last handle shuts the provider down as
/// [`shutdown`](Self::shutdown) does (final collection and export
/// included, within [`DEFAULT_SHUTDOWN_TIMEOUT`]), whoever else still
/// holds meters, instruments or readers of it: those keep working as
/// after an explicit shutdown (recordings are counted as after-shutdown,
/// collections return [`Error::Shutdown`]).
#[derive(Clone)]
pub struct MeterProvider {
    owner: Arc<Owner>,
    /// Meters created through this handle are the SDK's own (an exporter's
    /// self-metrics): see [`ProviderInner::shutdown`].
    self_metrics: bool,
}

/// What every [`MeterProvider`] handle shares: when the last one goes, the
/// provider shuts down. Meters hold the provider's `MeterContext`, readers
/// a weak `Collect` reference to the [`ProviderInner`], producer
/// registrations a weak reference to its producer list: none of them
/// keeps it from shutting down.
struct Owner {
    inner: Arc<ProviderInner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if self.inner.is_shutdown() {
            return;
        }
        if let Err(e) = self.inner.shutdown(DEFAULT_SHUTDOWN_TIMEOUT) {
            diag_warn!("shutdown on the release of the last provider handle: {e}");
        }
    }
}

impl std::fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterProvider")
            .field("resource", &self.owner.inner.resource)
            .finish()
    }
}

/// The environment variable that chooses the default histogram
/// aggregation (OpenTelemetry specification, OTLP exporter).
pub const DEFAULT_HISTOGRAM_ENV: &str = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION";

/// The default histogram aggregation an environment value names: `None`
/// for explicit buckets (unset, empty, `explicit_bucket_histogram`, or an
/// unknown value, which is also reported).
fn histogram_aggregation_from_env(v: Option<&str>) -> Option<Aggregation> {
    match v.map(str::trim) {
        None | Some("") => None,
        Some(v) if v.eq_ignore_ascii_case("explicit_bucket_histogram") => None,
        Some(v) if v.eq_ignore_ascii_case("base2_exponential_bucket_histogram") => {
            Some(Aggregation::base2_exponential_histogram())
        }
        Some(v) => {
            diag_warn!("{DEFAULT_HISTOGRAM_ENV}={v:?} is not explicit_bucket_histogram or base2_exponential_bucket_histogram; histograms keep explicit buckets");
            None
        }
    }
}

/// The environment variable choosing the exemplar filter.
pub const EXEMPLAR_FILTER_ENV: &str = "OTEL_METRICS_EXEMPLAR_FILTER";

/// The exemplar filter `OTEL_METRICS_EXEMPLAR_FILTER` asks for: unset or
/// empty, the specification's default (`trace_based`); an unknown value
/// warns and keeps the default.
fn exemplar_filter_from_env(v: Option<&str>) -> ExemplarFilter {
    match v.map(str::trim) {
        None | Some("") => ExemplarFilter::default(),
        Some(v) => ExemplarFilter::parse(v).unwrap_or_else(|| {
            diag_warn!("{EXEMPLAR_FILTER_ENV}={v:?} is not always_on, always_off or trace_based; exemplars stay trace_based");
            ExemplarFilter::default()
        }),
    }
}

/// Builds a [`MeterProvider`].
#[must_use]
pub struct MeterProviderBuilder {
    resource: Option<Resource>,
    readers: Vec<Arc<dyn MetricReader>>,
    views: Vec<View>,
    cardinality_limit: usize,
    evict_after: u32,
    default_histogram: Option<Aggregation>,
    collection_window: Duration,
    exemplar_filter: Option<ExemplarFilter>,
}

impl MeterProviderBuilder {
    /// Sets the resource (default: [`Resource::default`], which reads the
    /// `OTEL_*` environment).
    pub fn with_resource(mut self, r: Resource) -> Self {
        self.resource = Some(r);
        self
    }
    /// Attaches a reader.
    pub fn with_reader(mut self, r: impl MetricReader) -> Self {
        self.readers.push(Arc::new(r));
        self
    }
    /// Adds a view.
    pub fn with_view(mut self, v: View) -> Self {
        self.views.push(v);
        self
    }
    /// Default cardinality limit of every stream (views may override it):
    /// the most points a stream reports per collection, the overflow series
    /// included, so `n - 1` attribute sets get their own series (1 sends
    /// every measurement to the overflow series; 0 is taken as 1).
    pub fn with_cardinality_limit(mut self, n: usize) -> Self {
        self.cardinality_limit = n.max(1);
        self
    }
    /// Evict series unchanged for `n` cycles when every reader is delta
    /// (0 disables eviction; at most 65,535 cycles).
    pub fn with_delta_eviction_after(mut self, n: u32) -> Self {
        self.evict_after = n.min(u32::from(u16::MAX));
        self
    }

    /// The collection window (default [`DEFAULT_COLLECTION_WINDOW`],
    /// 100 ms; zero disables it). A reader that collects within the window
    /// after a collection cycle that included it, and has not collected
    /// from that cycle yet, is served from that cycle's reading: no walk
    /// of the series, no observable callbacks. Its points carry that
    /// cycle's time (still strictly later than its own previous
    /// collection's; a reader for which they would not be walks anew).
    /// Flushes and the final collection at shutdown always read anew.
    ///
    /// Memory: the reading is kept only while a reader that shared the
    /// cycle has not collected from it, and only for the window; it is
    /// dropped when the last such reader collects, when a newer cycle
    /// replaces it, or by the first collection after the window. At most
    /// one cycle's reading is kept.
    pub fn with_collection_window(mut self, window: Duration) -> Self {
        self.collection_window = window;
        self
    }

    /// The aggregation of every histogram that no view configures:
    /// [`Aggregation::base2_exponential_histogram`] (or another
    /// `Base2ExponentialHistogram`), or an `ExplicitBucketHistogram` whose
    /// boundaries apply to histograms without advice. Unset, the
    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`
    /// environment variable decides (`explicit_bucket_histogram`, the
    /// default, or `base2_exponential_bucket_histogram`). Another
    /// aggregation is refused when the provider is built (a warning; the
    /// default stays).
    pub fn with_default_histogram_aggregation(mut self, a: Aggregation) -> Self {
        self.default_histogram = Some(a);
        self
    }

    /// Which measurements may become exemplars (the specification's
    /// exemplar filter). Unset, `OTEL_METRICS_EXEMPLAR_FILTER` decides
    /// (`always_on`, `always_off`, `trace_based`), and without it
    /// [`ExemplarFilter::TraceBased`]: measurements recorded in a sampled
    /// trace context. Under `AlwaysOff` recording never looks at a context.
    pub fn with_exemplar_filter(mut self, f: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(f);
        self
    }

    /// Builds the provider.
    pub fn build(self) -> MeterProvider {
        let default_histogram = match self.default_histogram {
            Some(a) if a.is_histogram() && a.validate().is_ok() => Some(a),
            Some(a) => {
                diag_warn!("default histogram aggregation {a:?} is not a valid histogram aggregation; histograms keep explicit buckets");
                None
            }
            None => {
                histogram_aggregation_from_env(std::env::var(DEFAULT_HISTOGRAM_ENV).ok().as_deref())
            }
        };
        let streams = StreamResolver {
            views: ArcSwap::from_pointee(self.views),
            cardinality_limit: self.cardinality_limit,
            evict_after: self.evict_after,
            default_histogram,
            exemplar_filter: self.exemplar_filter.unwrap_or_else(|| {
                exemplar_filter_from_env(std::env::var(EXEMPLAR_FILTER_ENV).ok().as_deref())
            }),
        };
        let inner = Arc::new(ProviderInner {
            resource: Arc::new(self.resource.unwrap_or_default()),
            meter_ctx: Arc::new(MeterContext::new(streams, Arc::new(Diag::default()))),
            meters: Mutex::new(Vec::new()),
            readers: Mutex::new(Vec::new()),
            cycles: Cycles::new(self.collection_window),
            reader_state: Mutex::new(Vec::new()),
            recording_stopped: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            producers: Default::default(),
        });
        let p = MeterProvider {
            owner: Arc::new(Owner { inner }),
            self_metrics: false,
        };
        p.register_self_metrics();
        for r in self.readers {
            if let Err(e) = p.attach(r) {
                diag_error!("reader not attached: {e}");
            }
        }
        p
    }
}

impl MeterProvider {
    /// The provider's own health, reported only once non-zero (so it
    /// appears in no output until then): points owed to a lagging delta
    /// reader that were folded into its overflow point.
    fn register_self_metrics(&self) {
        let diag = self.inner().diag().clone();
        let built = self
            .sdk_handle()
            .meter_with_scope(
                InstrumentationScope::new("ferrometer.sdk").with_version(env!("CARGO_PKG_VERSION")),
            )
            .u64_observable_counter("ferrometer.reader.points.folded")
            .with_unit("{point}")
            .with_description(
                "Points of evicted series owed to a delta reader that had not collected them, \
                 folded into that reader's otel.metric.overflow point (kept in aggregate)",
            )
            .with_callback(move |c| {
                let n = diag.counts().lagging_reader;
                if n > 0 {
                    c.observe(n, &[]);
                }
            })
            .build();
        if let Err(e) = built {
            diag_error!("self-metric not registered: {e}");
        }
    }

    /// Starts a builder.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder {
            resource: None,
            readers: Vec::new(),
            views: Vec::new(),
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            evict_after: DEFAULT_EVICT_AFTER_CYCLES,
            default_histogram: None,
            collection_window: DEFAULT_COLLECTION_WINDOW,
            exemplar_filter: None,
        }
    }

    /// The meter for a scope with only a name.
    pub fn meter(&self, name: impl Into<String>) -> Meter {
        self.meter_with_scope(InstrumentationScope::new(name))
    }

    /// The meter for a scope; asking twice for an equal scope returns the
    /// same meter (shared instruments).
    pub fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        meter_of(self.inner(), self.self_metrics, scope)
    }

    /// What makes meters of this provider without keeping it from
    /// shutting down: the global provider's reference (`crate::global`).
    pub(crate) fn meter_source(&self) -> MeterSource {
        MeterSource {
            inner: self.inner().clone(),
            self_metrics: self.self_metrics,
        }
    }

    /// Adds a view to the built provider (opentelemetry-cpp's `AddView`),
    /// after the builder's views and those added before it.
    ///
    /// Views apply when an instrument is created, as the specification
    /// says: this one shapes the instruments created after `add_view`
    /// returns; instruments that already exist keep their streams, and
    /// asking a meter again for one of them (same name, kind, unit,
    /// description and advice) returns that existing instrument,
    /// unchanged. An instrument created on another thread while the view
    /// is being added gets it or not, never a part of it. Safe from any
    /// thread; recording never waits for it. Views added after shutdown
    /// are kept but have nothing to shape.
    pub fn add_view(&self, view: View) {
        self.inner().meter_ctx.streams.views.rcu(|views| {
            let mut next = Vec::with_capacity(views.len() + 1);
            next.extend(views.iter().cloned());
            next.push(view.clone());
            next
        });
    }

    /// Attaches a reader after construction (a Prometheus endpoint started
    /// later, for example).
    pub fn add_reader(&self, r: impl MetricReader) -> Result<()> {
        self.attach(Arc::new(r))
    }

    fn attach(&self, r: Arc<dyn MetricReader>) -> Result<()> {
        if self.inner().is_shutdown() {
            return Err(Error::Shutdown);
        }
        let collect: Arc<dyn Collect> = self.inner().clone();
        r.core().attach(Arc::downgrade(&collect))?;
        lock(&self.inner().readers).push(r.clone());
        // Meters the reader creates here are the SDK's own: they stop
        // recording only after the readers shut down.
        if let Err(e) = r.on_attach(&self.sdk_handle()) {
            diag_warn!("reader attached, but its on_attach hook failed: {e}");
        }
        Ok(())
    }

    /// Registers a host metric producer: at each reader's collection it
    /// adds ready-made points, reported under `scope` and validated as
    /// [`producer`](crate::producer) describes.
    pub fn register_producer(
        &self,
        scope: InstrumentationScope,
        producer: impl MetricProducer,
    ) -> ProducerRegistration {
        Producers::register(&self.inner().producers, scope, Box::new(producer))
    }

    /// The provider's resource.
    pub fn resource(&self) -> &Resource {
        &self.inner().resource
    }

    /// Counts of measurements rejected (or redirected to overflow) so far.
    pub fn rejected(&self) -> RejectedCounts {
        self.inner().diag().counts()
    }

    /// A handle whose meters are the SDK's own (an exporter's or
    /// endpoint's health metrics): they keep recording while the provider
    /// shuts down, until every reader and exporter has stopped.
    pub(crate) fn sdk_handle(&self) -> MeterProvider {
        MeterProvider {
            owner: self.owner.clone(),
            self_metrics: true,
        }
    }

    /// The rejection counters, for parts that count on the provider's
    /// behalf without keeping it alive (the Prometheus endpoint).
    pub(crate) fn diag(&self) -> Arc<Diag> {
        self.inner().diag().clone()
    }

    /// Asks every reader to collect and export now, within `timeout`.
    ///
    /// Errors: [`Error::Shutdown`] after shutdown; [`Error::NotDelivered`]
    /// with the number of data points that did not reach their
    /// destinations (summed over the readers; `deadline_passed` when the
    /// deadline passed first); [`Error::Timeout`] when the deadline passed
    /// with nothing known to be lost.
    pub fn force_flush(&self, timeout: Duration) -> Result<()> {
        if self.inner().closed.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let deadline = Instant::now() + timeout;
        let readers = lock(&self.inner().readers).clone();
        let mut res = Ok(());
        for r in readers {
            let left = deadline.saturating_duration_since(Instant::now());
            res = merge_results(res, r.force_flush(left));
        }
        if Instant::now() > deadline && res.is_ok() {
            res = Err(Error::Timeout);
        }
        res
    }

    /// Stops recording, lets every reader do its final collection and
    /// export within `timeout`, shuts the exporters down, then refuses
    /// collections. Idempotent: later calls return `Ok`. Errors as
    /// [`force_flush`](Self::force_flush)'s.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<()> {
        self.inner().shutdown(timeout)
    }

    /// [`shutdown_with_timeout`](Self::shutdown_with_timeout) with
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`] (5 s), the deadline the drop of the
    /// last handle uses too.
    pub fn shutdown(&self) -> Result<()> {
        self.shutdown_with_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    pub(crate) fn inner(&self) -> &Arc<ProviderInner> {
        &self.owner.inner
    }

    /// True once shutdown has started.
    pub fn is_shutdown(&self) -> bool {
        self.inner().is_shutdown()
    }
}

/// The meter of `scope` in a provider (see [`MeterProvider::meter_with_scope`]).
fn meter_of(inner: &Arc<ProviderInner>, self_metrics: bool, scope: InstrumentationScope) -> Meter {
    let mut meters = lock(&inner.meters);
    let found = meters
        .iter()
        .find(|m| *m.meter.scope == scope && m.self_metrics == self_metrics);
    let m = match found {
        Some(m) => m.meter.clone(),
        None => {
            let m = Arc::new(MeterInner::new(scope));
            meters.push(RegisteredMeter {
                meter: m.clone(),
                self_metrics,
            });
            m
        }
    };
    Meter {
        inner: m,
        provider: inner.meter_ctx.clone(),
    }
}

/// Makes meters of a provider without owning it: the provider still shuts
/// down when its last [`MeterProvider`] handle goes (the meters then count
/// their measurements as after-shutdown).
#[derive(Clone)]
pub(crate) struct MeterSource {
    inner: Arc<ProviderInner>,
    self_metrics: bool,
}

impl MeterSource {
    /// The meter of `scope` (see [`MeterProvider::meter_with_scope`]).
    pub(crate) fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        meter_of(&self.inner, self.self_metrics, scope)
    }

    /// True when both make meters of the same provider.
    pub(crate) fn same_provider(&self, other: &MeterSource) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl ProviderInner {
    pub(crate) fn is_shutdown(&self) -> bool {
        self.meter_ctx.is_shutdown()
    }

    /// The rejection counters.
    pub(crate) fn diag(&self) -> &Arc<Diag> {
        &self.meter_ctx.diag
    }

    /// Shuts down, in this order:
    /// 1. the host's synchronous instruments stop recording: what they
    ///    recorded until now is in the final collection, anything later is
    ///    counted as after-shutdown;
    /// 2. every reader does its final collection (observable callbacks
    ///    run one last time) and export, then shuts its exporter down;
    /// 3. the observable streams and the SDK's own self-metrics stop. An
    ///    exporter records its health (export durations) until it has
    ///    shut down, so stopping its streams earlier would reject its last
    ///    recordings as after-shutdown;
    /// 4. collections are refused and the callbacks are dropped.
    fn shutdown(&self, timeout: Duration) -> Result<()> {
        if !self.meter_ctx.start_shutdown() {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        self.set_streams_shutdown(|m, s| !m.self_metrics && !s.desc().kind.is_observable());
        self.recording_stopped.store(true, Ordering::Release);
        let readers = lock(&self.readers).clone();
        let mut res = Ok(());
        for r in readers {
            let left = deadline.saturating_duration_since(Instant::now());
            res = merge_results(res, r.shutdown(left));
        }
        self.set_streams_shutdown(|_, _| true);
        self.closed.store(true, Ordering::Release);
        // Host closures are released now, not when the last meter or
        // instrument handle goes.
        self.meter_ctx.callbacks.clear();
        if Instant::now() > deadline && res.is_ok() {
            res = Err(Error::Timeout);
        }
        res
    }

    fn set_streams_shutdown(
        &self,
        which: impl Fn(&RegisteredMeter, &Arc<dyn StreamCollect>) -> bool,
    ) {
        for m in lock(&self.meters).iter() {
            for s in lock(&m.meter.streams).iter() {
                if which(m, s) {
                    s.set_shutdown();
                }
            }
        }
    }

    /// The state of type `T` readers keep in this provider that `matches`
    /// (made by `make` and kept when there is none): the periodic readers
    /// of one interval share one schedule this way. The provider keeps it
    /// without knowing its type.
    pub(crate) fn reader_state<T: Any + Send + Sync>(
        &self,
        matches: impl Fn(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut all = lock(&self.reader_state);
        let found = all
            .iter()
            .filter_map(|s| s.clone().downcast::<T>().ok())
            .find(|s| matches(s));
        if let Some(s) = found {
            return s;
        }
        let s = Arc::new(make());
        all.push(s.clone());
        s
    }

    pub(crate) fn detach_reader(&self, id: u64) {
        lock(&self.readers).retain(|r| r.core().id() != id);
        self.cycles.forget_reader(id);
        for m in lock(&self.meters).iter() {
            for s in lock(&m.meter.streams).iter() {
                s.forget_reader(id);
            }
        }
    }

    /// Collects for several readers in one cycle (the periodic readers of
    /// one schedule), in their order.
    pub(crate) fn collect_together(
        &self,
        readers: &[&ReaderCore],
        reuse: bool,
    ) -> Result<Vec<ResourceMetrics>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let holding: Vec<_> = readers
            .iter()
            .map(|r| r.hold(|| self.cycles.latest()))
            .collect();
        let askers: Vec<Asker> = readers
            .iter()
            .zip(&holding)
            .map(|(r, h)| Asker {
                id: r.id(),
                hold: h.token(),
                earliest: r.earliest_time(),
                reuse,
            })
            .collect();
        let mut cycle = Some(self.cycles.run(
            self,
            || self.recording_stopped.load(Ordering::Acquire),
            &askers,
        ));
        let mut out = Vec::with_capacity(readers.len());
        for (i, reader) in readers.iter().enumerate() {
            // Shared cycles carry one time; each reader's points get a
            // time strictly later than its previous collection's.
            // The last reader takes the cycle itself: its points are moved
            // when nobody else holds it.
            let cycle = if i + 1 == readers.len() {
                cycle.take()
            } else {
                cycle.clone()
            };
            let Some(cycle) = cycle else { break };
            let time = reader.stamp(cycle.time);
            let sel = reader.selector();
            let id = reader.id();
            let mut scope_metrics =
                emit_for(cycle, id, TemporalityOf::new(|k| sel.temporality(k)), time);
            self.producers.produce_into(id, sel, &mut scope_metrics);
            out.push(ResourceMetrics {
                resource: self.resource.clone(),
                scope_metrics,
            });
        }
        Ok(out)
    }
}

impl Collect for ProviderInner {
    fn collect(&self, readers: &[&ReaderCore], reuse: bool) -> Result<Vec<ResourceMetrics>> {
        self.collect_together(readers, reuse)
    }

    fn detach(&self, id: u64) {
        self.detach_reader(id)
    }
}

impl Sources for ProviderInner {
    fn callbacks(&self) -> Vec<Callback> {
        self.meter_ctx.callbacks.all()
    }

    fn readers(&self) -> Vec<(u64, u64, TemporalityOf)> {
        lock(&self.readers)
            .iter()
            .map(|r| {
                let sel = r.core().selector();
                (
                    r.core().id(),
                    r.core().holding(),
                    TemporalityOf::new(|k| sel.temporality(k)),
                )
            })
            .collect()
    }

    fn advance(&self, reader: u64, hold: u64, cycle: u64) {
        if let Some(r) = lock(&self.readers).iter().find(|r| r.core().id() == reader) {
            r.core().advance(hold, cycle);
        }
    }

    fn streams(&self) -> Vec<MeterStreams> {
        let meters: Vec<Arc<MeterInner>> =
            lock(&self.meters).iter().map(|m| m.meter.clone()).collect();
        meters
            .into_iter()
            .map(|m| (m.scope.clone(), lock(&m.streams).clone()))
            .collect()
    }

    fn diag(&self) -> &Diag {
        &self.meter_ctx.diag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_histogram_aggregation_from_the_environment() {
        assert_eq!(histogram_aggregation_from_env(None), None);
        assert_eq!(histogram_aggregation_from_env(Some("")), None);
        assert_eq!(
            histogram_aggregation_from_env(Some("explicit_bucket_histogram")),
            None
        );
        assert_eq!(
            histogram_aggregation_from_env(Some(" BASE2_exponential_bucket_histogram ")),
            Some(Aggregation::base2_exponential_histogram())
        );
        assert_eq!(histogram_aggregation_from_env(Some("exponential")), None);
    }
}
