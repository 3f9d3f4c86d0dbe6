//! Host metric producers (the specification's `MetricProducer`,
//! client_golang's custom `Collector`): code outside the SDK hands the
//! engine ready-made points, with their own timestamps, at each collection.
//!
//! A producer is called once per reader collection (like the
//! specification's `MetricReader.collect`), after the SDK's own
//! instruments were collected; [`ProducerBatch::reader_id`] tells which
//! reader asks, so a host that buffers events can keep one cursor per
//! reader. Everything a producer adds goes through [`ProducerBatch`], which
//! checks it the way client_golang's `Gatherer` does and refuses what would
//! make a broken export:
//!
//! - metric names follow the instrument name rules; units and descriptions
//!   those of instruments;
//! - a point's labels have non-empty, distinct keys (no duplicate label
//!   names);
//! - one name, one shape: every point of a name has the same kind,
//!   temporality, monotonicity and unit (across all producers of the
//!   collection), and a name used by one of the SDK's instruments in the
//!   same collection is refused;
//! - no duplicate series: the same name, labels and timestamp twice;
//! - values make sense: counters are not negative or NaN, histograms have
//!   finite increasing bounds, one more bucket than bounds, and a count
//!   equal to the sum of their buckets; exponential histograms have a scale
//!   in -10..=20 (the OpenTelemetry range), a finite sum, ordered min/max,
//!   a finite non-negative zero threshold, bucket indices within `i32`,
//!   and a count equal to the zero count plus both ranges' totals.
//!
//! A refused point is reported to the caller of `add_*` as an error, counted
//! on its [`ProducerRegistration`], and reported through the diagnostics
//! handler (at most one message per registration per
//! [`RATE_LIMIT`](crate::diagnostics::RATE_LIMIT)); it never reaches an
//! exporter. A producer that returns an error or panics has every point it
//! added in that call dropped.
//!
//! ```
//! use ferrometer::producer::{PointKind, ProducedMetric};
//! use ferrometer::{InstrumentationScope, KeyValue, ManualReader, MeterProvider, Number};
//! let reader = ManualReader::default();
//! let provider = MeterProvider::builder().with_reader(reader.clone()).build();
//! let queue_depth = ProducedMetric::new("host.queue.depth", PointKind::Gauge);
//! let _reg = provider.register_producer(InstrumentationScope::new("host"), move |b: &mut ferrometer::producer::ProducerBatch| {
//!     b.add_number(&queue_depth, &[KeyValue::new("queue", "io")], Number::I64(7), 1_700_000_000_000_000_000, 0)
//! });
//! let snapshot = reader.collect().unwrap();
//! assert_eq!(snapshot.metric("host.queue.depth").unwrap().data.len(), 1);
//! ```

use crate::attributes::{Attr, AttributeSet, KeyValue};
use crate::collect::data::{
    ExponentialBuckets, ExponentialHistogram, ExponentialHistogramPoint, Gauge, Histogram,
    HistogramPoint, Metric, MetricData, Number, NumberPoint, ScopeMetrics, Sum, Temporality,
};
use crate::diagnostics::{diag_warn, RATE_LIMIT};
use crate::error::{Error, Result};
use crate::instruments::InstrumentKind;
use crate::instruments::{validate_description, validate_name, validate_unit};
use crate::resource::InstrumentationScope;
use crate::temporality::TemporalitySelector;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The shape of a produced metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PointKind {
    /// Last values (Prometheus gauge).
    Gauge,
    /// Sums; `monotonic` ones are counters (Prometheus `_total`), the others
    /// up-down sums (Prometheus gauge).
    Sum {
        /// Whether the sum only goes up.
        monotonic: bool,
        /// Cumulative or delta.
        temporality: Temporality,
    },
    /// Explicit-bucket histograms.
    Histogram {
        /// Cumulative or delta.
        temporality: Temporality,
    },
    /// Base2 exponential histograms.
    ExponentialHistogram {
        /// Cumulative or delta.
        temporality: Temporality,
    },
}

/// Whether a point's labels can make a series of `name`: no empty label
/// name, no name twice.
fn check_labels<A: Attr>(name: &str, labels: &[A]) -> Result<()> {
    for (i, a) in labels.iter().enumerate() {
        let k = a.key();
        if k.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "metric {name:?}: label {i} has an empty name"
            )));
        }
        if labels[..i].iter().any(|b| b.key() == k) {
            return Err(Error::InvalidArgument(format!(
                "metric {name:?}: two or more labels with the same name {k:?}"
            )));
        }
    }
    Ok(())
}

impl PointKind {
    /// Metric data of this kind with no points yet.
    fn empty_data(self) -> MetricData {
        match self {
            PointKind::Gauge => MetricData::Gauge(Gauge { points: Vec::new() }),
            PointKind::Sum {
                monotonic,
                temporality,
            } => MetricData::Sum(Sum {
                points: Vec::new(),
                temporality,
                is_monotonic: monotonic,
            }),
            PointKind::Histogram { temporality } => MetricData::Histogram(Histogram {
                points: Vec::new(),
                temporality,
            }),
            PointKind::ExponentialHistogram { temporality } => {
                MetricData::ExponentialHistogram(ExponentialHistogram {
                    points: Vec::new(),
                    temporality,
                })
            }
        }
    }

    /// A cumulative monotonic sum.
    pub const COUNTER: PointKind = PointKind::Sum {
        monotonic: true,
        temporality: Temporality::Cumulative,
    };
    /// A cumulative non-monotonic sum.
    pub const UP_DOWN_COUNTER: PointKind = PointKind::Sum {
        monotonic: false,
        temporality: Temporality::Cumulative,
    };
    /// A cumulative histogram.
    pub const HISTOGRAM: PointKind = PointKind::Histogram {
        temporality: Temporality::Cumulative,
    };

    fn describe(self) -> String {
        match self {
            PointKind::Gauge => "gauge".into(),
            PointKind::Sum {
                monotonic,
                temporality,
            } => format!(
                "{} {:?} sum",
                if monotonic {
                    "monotonic"
                } else {
                    "non-monotonic"
                },
                temporality
            ),
            PointKind::Histogram { temporality } => format!("{temporality:?} histogram"),
            PointKind::ExponentialHistogram { temporality } => {
                format!("{temporality:?} exponential histogram")
            }
        }
    }
}

/// The lowest scale an exponential histogram point may have (each bucket
/// spans a factor 2^1024: the whole `f64` range in two buckets per sign).
pub const MIN_EXPONENTIAL_SCALE: i32 = -10;
/// The highest scale (the OpenTelemetry SDK's `MaxScale` limit).
pub const MAX_EXPONENTIAL_SCALE: i32 = 20;

/// The values of one exponential histogram point, borrowed for
/// [`ProducerBatch::add_exponential_histogram`]. Bucket `offset + k` of a
/// range counts the magnitudes in `(base^(offset + k), base^(offset + k + 1)]`
/// with `base = 2^(2^-scale)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExponentialHistogramValue<'a> {
    /// Resolution, [`MIN_EXPONENTIAL_SCALE`]..=[`MAX_EXPONENTIAL_SCALE`].
    pub scale: i32,
    /// Number of measurements: `zero_count` plus both ranges' totals.
    pub count: u64,
    /// Sum of the measurements (finite).
    pub sum: f64,
    /// Smallest and largest measurement, when known.
    pub min_max: Option<(f64, f64)>,
    /// Measurements whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Upper bound of the zero bucket's magnitudes (finite, >= 0).
    pub zero_threshold: f64,
    /// Index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive buckets' counts (not cumulative).
    pub positive_counts: &'a [u64],
    /// Index of the first negative bucket (by magnitude).
    pub negative_offset: i32,
    /// Negative buckets' counts (not cumulative), by magnitude.
    pub negative_counts: &'a [u64],
}

/// Describes a produced metric: name, description, unit, shape. Build it
/// once and pass it with every point.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducedMetric {
    /// Name (instrument name rules).
    pub name: Arc<str>,
    /// Description (HELP).
    pub description: Arc<str>,
    /// Unit (UCUM).
    pub unit: Arc<str>,
    /// Shape.
    pub kind: PointKind,
}

impl ProducedMetric {
    /// A metric with no description and no unit.
    pub fn new(name: impl Into<Arc<str>>, kind: PointKind) -> Self {
        ProducedMetric {
            name: name.into(),
            description: "".into(),
            unit: "".into(),
            kind,
        }
    }
    /// Sets the description.
    pub fn with_description(mut self, d: impl Into<Arc<str>>) -> Self {
        self.description = d.into();
        self
    }
    /// Sets the unit.
    pub fn with_unit(mut self, u: impl Into<Arc<str>>) -> Self {
        self.unit = u.into();
        self
    }
}

/// A host metric producer. Called on the collecting thread; it must not
/// collect from the same provider.
pub trait MetricProducer: Send + Sync + 'static {
    /// Adds this collection's points to `batch`. Returning an error drops
    /// every point added in this call.
    fn produce(&self, batch: &mut ProducerBatch) -> Result<()>;
}

impl<F> MetricProducer for F
where
    F: Fn(&mut ProducerBatch) -> Result<()> + Send + Sync + 'static,
{
    fn produce(&self, batch: &mut ProducerBatch) -> Result<()> {
        self(batch)
    }
}

/// What one registered producer shares with its registration.
pub(crate) struct ProducerEntry {
    id: u64,
    scope: Arc<InstrumentationScope>,
    producer: Box<dyn MetricProducer>,
    refused: AtomicU64,
    last_msg: AtomicU64,
}

impl ProducerEntry {
    fn refuse(&self, e: &Error) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = crate::time::now_nanos();
        let last = self.last_msg.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= RATE_LIMIT.as_nanos() as u64)
            && self
                .last_msg
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            diag_warn!(
                "metric producer {:?}: {e} (refused, not exported; further refusals of this producer are counted and reported at most every {}s)",
                self.scope.name(),
                RATE_LIMIT.as_secs()
            );
        }
    }
}

/// The provider's producer list.
#[derive(Default)]
pub(crate) struct Producers {
    list: Mutex<Vec<Arc<ProducerEntry>>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Producers {
    /// Adds `producer`; the registration removes it (and only it).
    pub(crate) fn register(
        this: &Arc<Producers>,
        scope: InstrumentationScope,
        producer: Box<dyn MetricProducer>,
    ) -> ProducerRegistration {
        let entry = Arc::new(ProducerEntry {
            id: this.next_id.fetch_add(1, Ordering::Relaxed),
            scope: Arc::new(scope),
            producer,
            refused: AtomicU64::new(0),
            last_msg: AtomicU64::new(0),
        });
        lock(&this.list).push(entry.clone());
        ProducerRegistration {
            producers: Arc::downgrade(this),
            entry,
        }
    }

    fn remove(&self, id: u64) -> bool {
        let mut l = lock(&self.list);
        let before = l.len();
        l.retain(|e| e.id != id);
        l.len() != before
    }

    /// Calls every producer for one reader's collection and appends the
    /// accepted points to `out` (the SDK's own metrics of that collection).
    pub(crate) fn produce_into(
        &self,
        reader_id: u64,
        selector: TemporalitySelector,
        out: &mut Vec<ScopeMetrics>,
    ) {
        let list = lock(&self.list).clone();
        if list.is_empty() {
            return;
        }
        let reserved: HashSet<Arc<str>> = out
            .iter()
            .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
            .collect();
        let mut batch = ProducerBatch {
            reader_id,
            selector,
            time: crate::time::now_nanos(),
            reserved,
            families: HashMap::new(),
            series: HashSet::new(),
            scopes: Vec::new(),
            current: None,
            log: CallLog::default(),
        };
        for entry in list {
            batch.begin(entry.clone());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                entry.producer.produce(&mut batch)
            }));
            let failure = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("returned an error: {e}")),
                Err(_) => Some("panicked".to_string()),
            };
            match failure {
                None => batch.commit(),
                Some(why) => {
                    let n = batch.rollback();
                    entry.refused.fetch_add(n as u64, Ordering::Relaxed);
                    diag_warn!(
                        "metric producer {:?} {why}; the {n} point(s) it added in this collection are dropped",
                        entry.scope.name()
                    );
                }
            }
        }
        for (scope, metrics) in batch.scopes {
            let metrics: Vec<Metric> = metrics.into_iter().filter(|m| !m.data.is_empty()).collect();
            if !metrics.is_empty() {
                out.push(ScopeMetrics { scope, metrics });
            }
        }
    }
}

/// Keeps a producer registered; [`unregister`](Self::unregister) (or
/// dropping the last provider) removes it. Dropping the registration does
/// NOT unregister (as [`CallbackRegistration`](crate::CallbackRegistration)).
pub struct ProducerRegistration {
    /// The provider's producer list (gone with the provider): the
    /// registration can only remove its own entry from it.
    producers: Weak<Producers>,
    entry: Arc<ProducerEntry>,
}

impl std::fmt::Debug for ProducerRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerRegistration")
            .field("scope", &self.entry.scope.name())
            .field("refused", &self.refused())
            .finish()
    }
}

impl ProducerRegistration {
    /// Removes the producer: it is not called by collections that start
    /// after this returns. Returns false if it was already removed.
    pub fn unregister(&self) -> bool {
        match self.producers.upgrade() {
            Some(p) => p.remove(self.entry.id),
            None => false,
        }
    }

    /// Points of this producer refused so far (invalid, duplicate,
    /// conflicting, or dropped because the producer failed).
    pub fn refused(&self) -> u64 {
        self.entry.refused.load(Ordering::Relaxed)
    }

    /// The scope its points are reported under.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.entry.scope
    }
}

/// What the first point of a name fixed.
struct Family {
    kind: PointKind,
    unit: Arc<str>,
    description: Arc<str>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    name: Arc<str>,
    attrs: AttributeSet,
    time: u64,
}

/// What the running producer call added (for rollback).
#[derive(Default)]
struct CallLog {
    families: Vec<Arc<str>>,
    series: Vec<SeriesKey>,
    /// (scope index, metric index, points before the call) per touched metric.
    touched: Vec<(usize, usize, usize)>,
    points: usize,
}

/// Receives a producer's points for one collection and validates each one
/// as it is added (see the [module documentation](self)).
pub struct ProducerBatch {
    reader_id: u64,
    selector: TemporalitySelector,
    time: u64,
    reserved: HashSet<Arc<str>>,
    families: HashMap<Arc<str>, Family>,
    series: HashSet<SeriesKey>,
    scopes: Vec<(Arc<InstrumentationScope>, Vec<Metric>)>,
    current: Option<(Arc<ProducerEntry>, usize)>,
    log: CallLog,
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("reader_id", &self.reader_id)
            .field("time", &self.time)
            .finish()
    }
}

impl ProducerBatch {
    /// The collecting reader's id (stable for the reader's lifetime).
    pub fn reader_id(&self) -> u64 {
        self.reader_id
    }

    /// The temporality the collecting reader wants for an instrument kind
    /// (a producer may follow it; the engine does not convert).
    pub fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.selector.temporality(kind)
    }

    /// This collection's time (ns since the Unix epoch): the time of points
    /// added with time 0.
    pub fn collection_time(&self) -> u64 {
        self.time
    }

    fn begin(&mut self, entry: Arc<ProducerEntry>) {
        let si = match self
            .scopes
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, &entry.scope) || **s == *entry.scope)
        {
            Some(i) => i,
            None => {
                self.scopes.push((entry.scope.clone(), Vec::new()));
                self.scopes.len() - 1
            }
        };
        self.current = Some((entry, si));
        self.log = CallLog::default();
    }

    fn commit(&mut self) {
        self.current = None;
        self.log = CallLog::default();
    }

    /// Drops what the current call added; returns how many points.
    fn rollback(&mut self) -> usize {
        let log = std::mem::take(&mut self.log);
        for f in &log.families {
            self.families.remove(f);
        }
        for s in &log.series {
            self.series.remove(s);
        }
        for &(si, mi, before) in log.touched.iter().rev() {
            let m = &mut self.scopes[si].1[mi];
            match &mut m.data {
                MetricData::Gauge(g) => g.points.truncate(before),
                MetricData::Sum(s) => s.points.truncate(before),
                MetricData::Histogram(h) => h.points.truncate(before),
                MetricData::ExponentialHistogram(h) => h.points.truncate(before),
            }
        }
        self.current = None;
        log.points
    }

    /// Checks a point's metric and labels and returns the metric's index.
    /// Checks one point of `metric` and reserves its place: the series
    /// (name, labels, time) is recorded and the metric made ready in the
    /// current scope. Returns (scope index, metric index, attributes, time).
    fn admit<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        time: u64,
    ) -> Result<(usize, usize, AttributeSet, u64)> {
        self.check_name(metric)?;
        check_labels(&metric.name, labels)?;
        self.check_family(metric)?;
        let time = if time == 0 { self.time } else { time };
        let key = SeriesKey {
            name: metric.name.clone(),
            attrs: AttributeSet::from_attrs(labels),
            time,
        };
        if self.series.contains(&key) {
            return Err(Error::InvalidArgument(format!(
                "metric {:?}: duplicate series {:?} at time {time} (same name, labels and timestamp)",
                metric.name, key.attrs
            )));
        }
        let Some(si) = self.current.as_ref().map(|(_, si)| *si) else {
            return Err(Error::InvalidArgument(
                "the batch is not accepting points (producer call finished)".into(),
            ));
        };
        let mi = self.metric_in_scope(si, metric);
        self.series.insert(key.clone());
        self.log.series.push(key.clone());
        self.log.points += 1;
        Ok((si, mi, key.attrs, time))
    }

    /// Whether `metric` may be reported: a valid name, unit and
    /// description, and a name no SDK instrument of this collection uses.
    fn check_name(&self, metric: &ProducedMetric) -> Result<()> {
        let name = &metric.name;
        validate_name(name)?;
        validate_unit(&metric.unit)?;
        validate_description(&metric.description)?;
        if self.reserved.contains(name) {
            return Err(Error::InvalidArgument(format!(
                "metric {name:?}: the name is used by an instrument of the SDK in this collection"
            )));
        }
        Ok(())
    }

    /// Whether `metric` has the kind and unit of the earlier points of
    /// its name (its family).
    fn check_family(&self, metric: &ProducedMetric) -> Result<()> {
        let name = &metric.name;
        let fail = |msg: String| Err(Error::InvalidArgument(msg));
        let Some(f) = self.families.get(name) else {
            return Ok(());
        };
        if f.kind != metric.kind {
            return fail(format!(
                "metric {name:?} is a {}, but an earlier point of that name is a {}",
                metric.kind.describe(),
                f.kind.describe()
            ));
        }
        if f.unit != metric.unit {
            return fail(format!(
                "metric {name:?} has unit {:?}, but an earlier point of that name has {:?}",
                metric.unit, f.unit
            ));
        }
        Ok(())
    }

    /// The index of `metric` in scope `si`, added (with its family's unit
    /// and description, the family fixed by its first point) when the
    /// scope has none, or reshaped when a rolled-back call left it empty.
    /// Logged for rollback.
    fn metric_in_scope(&mut self, si: usize, metric: &ProducedMetric) -> usize {
        let name = &metric.name;
        if !self.families.contains_key(name) {
            self.log.families.push(name.clone());
            self.families.insert(
                name.clone(),
                Family {
                    kind: metric.kind,
                    unit: metric.unit.clone(),
                    description: metric.description.clone(),
                },
            );
        }
        let family = &self.families[name];
        let (unit, description) = (family.unit.clone(), family.description.clone());
        let metrics = &mut self.scopes[si].1;
        let mi = match metrics.iter().position(|m| m.name == *name) {
            Some(i) => {
                // Left empty by a rolled-back call: take this call's shape.
                if metrics[i].data.is_empty() {
                    metrics[i].data = metric.kind.empty_data();
                    metrics[i].unit = unit;
                    metrics[i].description = description;
                }
                i
            }
            None => {
                metrics.push(Metric {
                    name: name.clone(),
                    description,
                    unit,
                    data: metric.kind.empty_data(),
                });
                metrics.len() - 1
            }
        };
        let before = metrics[mi].data.len();
        if !self.log.touched.iter().any(|t| t.0 == si && t.1 == mi) {
            self.log.touched.push((si, mi, before));
        }
        mi
    }

    fn refused(&self, e: Error) -> Error {
        if let Some((entry, _)) = &self.current {
            entry.refuse(&e);
        }
        e
    }

    /// Adds a gauge or sum point. `time_unix_nano` is the point's own
    /// timestamp (0: the collection time); `start_time_unix_nano` the start
    /// of a sum's interval (0: unknown). Errors (the point is refused):
    /// [`Error::InvalidName`] and friends for a bad metric description,
    /// [`Error::InvalidArgument`] for a histogram metric, duplicate label
    /// names, a duplicate series, a shape conflict, or a negative / NaN
    /// value of a monotonic sum.
    pub fn add_number(
        &mut self,
        metric: &ProducedMetric,
        labels: &[KeyValue],
        value: Number,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        self.add_number_attrs(metric, labels, value, time_unix_nano, start_time_unix_nano)
    }

    /// [`add_number`](Self::add_number) with any attribute representation.
    pub fn add_number_attrs<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        value: Number,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        let r = self.add_number_inner(metric, labels, value, time_unix_nano, start_time_unix_nano);
        r.map_err(|e| self.refused(e))
    }

    fn add_number_inner<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        value: Number,
        time: u64,
        start_time: u64,
    ) -> Result<()> {
        let name = &metric.name;
        match metric.kind {
            PointKind::Histogram { .. } => {
                return Err(Error::InvalidArgument(format!(
                    "metric {name:?} is a histogram: add its points with add_histogram"
                )))
            }
            PointKind::ExponentialHistogram { .. } => {
                return Err(Error::InvalidArgument(format!(
                    "metric {name:?} is an exponential histogram: add its points with add_exponential_histogram"
                )))
            }
            PointKind::Sum {
                monotonic: true, ..
            } => {
                let v = value.as_f64();
                if v.is_nan() || v < 0.0 {
                    return Err(Error::InvalidArgument(format!(
                        "metric {name:?} is a monotonic sum: value {v} must be a number >= 0"
                    )));
                }
            }
            _ => {}
        }
        let (si, mi, attributes, t) = self.admit(metric, labels, time)?;
        let p = NumberPoint {
            exemplars: Default::default(),
            attributes,
            start_time: if matches!(metric.kind, PointKind::Gauge) {
                0
            } else {
                start_time
            },
            time: t,
            explicit_time: time != 0,
            value,
        };
        match &mut self.scopes[si].1[mi].data {
            MetricData::Gauge(g) => g.points.push(p),
            MetricData::Sum(s) => s.points.push(p),
            MetricData::Histogram(_) | MetricData::ExponentialHistogram(_) => {
                unreachable!("checked above")
            }
        }
        Ok(())
    }

    /// Adds a histogram point: `bounds` (finite, strictly increasing) and
    /// per-bucket (not cumulative) `bucket_counts`, one more than bounds;
    /// the count is their sum. `min`/`max` are optional. Times as in
    /// [`add_number`](Self::add_number). Errors (the point is refused): a
    /// non-histogram metric, bad bounds or counts, a NaN sum, duplicate
    /// label names, a duplicate series or a shape conflict.
    #[allow(clippy::too_many_arguments)]
    pub fn add_histogram(
        &mut self,
        metric: &ProducedMetric,
        labels: &[KeyValue],
        bounds: &[f64],
        bucket_counts: &[u64],
        sum: f64,
        min_max: Option<(f64, f64)>,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        self.add_histogram_attrs(
            metric,
            labels,
            bounds,
            bucket_counts,
            sum,
            min_max,
            time_unix_nano,
            start_time_unix_nano,
        )
    }

    /// [`add_histogram`](Self::add_histogram) with any attribute representation.
    #[allow(clippy::too_many_arguments)]
    pub fn add_histogram_attrs<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        bounds: &[f64],
        bucket_counts: &[u64],
        sum: f64,
        min_max: Option<(f64, f64)>,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        let r = self.add_histogram_inner(
            metric,
            labels,
            bounds,
            bucket_counts,
            sum,
            min_max,
            time_unix_nano,
            start_time_unix_nano,
        );
        r.map_err(|e| self.refused(e))
    }

    #[allow(clippy::too_many_arguments)]
    fn add_histogram_inner<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        bounds: &[f64],
        bucket_counts: &[u64],
        sum: f64,
        min_max: Option<(f64, f64)>,
        time: u64,
        start_time: u64,
    ) -> Result<()> {
        let name = &metric.name;
        let bad = |m: String| Err(Error::InvalidArgument(format!("metric {name:?}: {m}")));
        if !matches!(metric.kind, PointKind::Histogram { .. }) {
            return bad("not an explicit-bucket histogram: add its points with add_number or add_exponential_histogram".into());
        }
        if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return bad("histogram bounds must be finite and strictly increasing".into());
        }
        if bucket_counts.len() != bounds.len() + 1 {
            return bad(format!(
                "{} bucket counts for {} bounds (need one more count than bounds)",
                bucket_counts.len(),
                bounds.len()
            ));
        }
        let count = bucket_counts
            .iter()
            .try_fold(0u64, |a, &c| a.checked_add(c))
            .ok_or_else(|| Error::InvalidArgument(format!("metric {name:?}: count overflows")))?;
        if sum.is_nan() {
            return bad("histogram sum is NaN".into());
        }
        if let Some((lo, hi)) = min_max {
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return bad(format!("histogram min {lo} / max {hi} are not ordered"));
            }
        }
        let (si, mi, attributes, t) = self.admit(metric, labels, time)?;
        let p = HistogramPoint {
            exemplars: Default::default(),
            attributes,
            start_time,
            time: t,
            count,
            sum,
            min: min_max.map(|m| m.0),
            max: min_max.map(|m| m.1),
            bounds: bounds.into(),
            bucket_counts: bucket_counts.to_vec(),
        };
        match &mut self.scopes[si].1[mi].data {
            MetricData::Histogram(h) => h.points.push(p),
            _ => unreachable!("checked above"),
        }
        Ok(())
    }

    /// Adds a base2 exponential histogram point (see
    /// [`ExponentialHistogramValue`] for the fields and their rules). Times
    /// as in [`add_number`](Self::add_number). Errors (the point is
    /// refused): a metric that is not an exponential histogram, a scale
    /// outside -10..=20, a count that is not the zero count plus the bucket
    /// totals (or overflows), a sum that is not finite, min/max NaN or
    /// unordered, a zero threshold that is negative or not finite, bucket
    /// indices past `i32`, duplicate label names, a duplicate series or a
    /// shape conflict.
    pub fn add_exponential_histogram(
        &mut self,
        metric: &ProducedMetric,
        labels: &[KeyValue],
        value: &ExponentialHistogramValue<'_>,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        self.add_exponential_histogram_attrs(
            metric,
            labels,
            value,
            time_unix_nano,
            start_time_unix_nano,
        )
    }

    /// [`add_exponential_histogram`](Self::add_exponential_histogram) with
    /// any attribute representation.
    pub fn add_exponential_histogram_attrs<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        value: &ExponentialHistogramValue<'_>,
        time_unix_nano: u64,
        start_time_unix_nano: u64,
    ) -> Result<()> {
        let r =
            self.add_exponential_inner(metric, labels, value, time_unix_nano, start_time_unix_nano);
        r.map_err(|e| self.refused(e))
    }

    fn add_exponential_inner<A: Attr>(
        &mut self,
        metric: &ProducedMetric,
        labels: &[A],
        v: &ExponentialHistogramValue<'_>,
        time: u64,
        start_time: u64,
    ) -> Result<()> {
        let name = &metric.name;
        let bad = |m: String| Err(Error::InvalidArgument(format!("metric {name:?}: {m}")));
        if !matches!(metric.kind, PointKind::ExponentialHistogram { .. }) {
            return bad("not an exponential histogram".into());
        }
        if !(MIN_EXPONENTIAL_SCALE..=MAX_EXPONENTIAL_SCALE).contains(&v.scale) {
            return bad(format!(
                "scale {} outside {MIN_EXPONENTIAL_SCALE}..={MAX_EXPONENTIAL_SCALE}",
                v.scale
            ));
        }
        for (sign, offset, counts) in [
            ("positive", v.positive_offset, v.positive_counts),
            ("negative", v.negative_offset, v.negative_counts),
        ] {
            if i64::from(offset) + counts.len() as i64 - 1 > i64::from(i32::MAX) {
                return bad(format!(
                    "{sign} buckets from index {offset} ({} of them) pass the largest index",
                    counts.len()
                ));
            }
        }
        let total = [v.positive_counts, v.negative_counts]
            .iter()
            .flat_map(|c| c.iter())
            .try_fold(v.zero_count, |a, &c| a.checked_add(c))
            .ok_or_else(|| Error::InvalidArgument(format!("metric {name:?}: count overflows")))?;
        if total != v.count {
            return bad(format!(
                "count {} is not the zero count plus the bucket counts ({total})",
                v.count
            ));
        }
        if !v.sum.is_finite() {
            return bad(format!("exponential histogram sum {} is not finite", v.sum));
        }
        if let Some((lo, hi)) = v.min_max {
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return bad(format!("histogram min {lo} / max {hi} are not ordered"));
            }
        }
        if !(v.zero_threshold.is_finite() && v.zero_threshold >= 0.0) {
            return bad(format!(
                "zero threshold {} must be finite and >= 0",
                v.zero_threshold
            ));
        }
        let (si, mi, attributes, t) = self.admit(metric, labels, time)?;
        let p = ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes,
            start_time,
            time: t,
            count: v.count,
            sum: v.sum,
            min: v.min_max.map(|m| m.0),
            max: v.min_max.map(|m| m.1),
            scale: v.scale,
            zero_count: v.zero_count,
            zero_threshold: v.zero_threshold,
            positive: ExponentialBuckets {
                offset: v.positive_offset,
                counts: v.positive_counts.to_vec(),
            },
            negative: ExponentialBuckets {
                offset: v.negative_offset,
                counts: v.negative_counts.to_vec(),
            },
        };
        match &mut self.scopes[si].1[mi].data {
            MetricData::ExponentialHistogram(h) => h.points.push(p),
            _ => unreachable!("checked above"),
        }
        Ok(())
    }
}
