//! ferrometer vs. peer metrics libraries, measured in the same `cargo bench` run.
//!
//! Run: `cargo bench --bench peers`
//! Results land in `target/criterion/<group>/<function>/new/estimates.json`.
//!
//! Peers: opentelemetry / opentelemetry_sdk 0.33 (with `experimental_metrics_bound_instruments`
//! and `experimental_metrics_custom_reader`), prometheus 0.14, prometheus-client 0.26.
//!
//! Median ns per operation (collect_100k_series: per collect).
//! Toolchain: rustc 1.95.0 stable, `[profile.bench]` lto=true, codegen-units=1.
//! Machine: 2-core shared VM. Date: 2026-11-25.
//!
//! | group                         | ferrometer | opentelemetry_sdk | prometheus | prometheus_client |
//! |-------------------------------|-----------:|------------------:|-----------:|------------------:|
//! | counter_add_3attrs            |     FM_TBD |           82.2 ns |    18.6 ns |           63.6 ns |
//! | counter_add_3attrs_unsorted   |     FM_TBD |           82.6 ns |    20.0 ns |           65.4 ns |
//! | counter_add_bound             |     FM_TBD |            3.3 ns |     2.1 ns |               n/a |
//! | histogram_record_3attrs       |     FM_TBD |          102.6 ns |    36.5 ns |               n/a |
//! | counter_add_3attrs_4readers   |     FM_TBD |          433.0 ns |        n/a |               n/a |
//! | counter_add_3attrs_2threads   |     FM_TBD |          225.1 ns |        n/a |               n/a |
//! | collect_100k_series           |     FM_TBD |          31.48 ms |        n/a |               n/a |
//!
//! Shared-VM numbers move between runs (opentelemetry_sdk 4readers 309-433 ns, collect
//! 31-48 ms across two runs on this VM); compare within one run.
//!
//! Notes on the peers:
//! - opentelemetry_sdk stores a new series under both the caller's attribute order and the
//!   sorted order, so `counter_add_3attrs_unsorted` (one fixed order) is its fast path. A third
//!   order never used at insert sorts and allocates on every call: ~209 ns on this machine.
//! - prometheus `with_label_values` is positional, so its "unsorted" run is the sorted one.
//! - prometheus_client label sets are hashed as given; the unsorted array is just another key.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    Instrument, InstrumentKind, ManualReader as OtelManualReader, Pipeline, SdkMeterProvider,
    Stream, Temporality,
};

const METHOD: &str = "GET";
const ROUTE: &str = "/api/v1/items";
const STATUS: &str = "200";
const SERIES_100K: u64 = 100_000;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

// ---------------------------------------------------------------------------
// ferrometer setup
// ---------------------------------------------------------------------------

fn fm_attrs() -> [ferrometer::KeyValue; 3] {
    [
        ferrometer::KeyValue::new("method", METHOD),
        ferrometer::KeyValue::new("route", ROUTE),
        ferrometer::KeyValue::new("status", STATUS),
    ]
}

fn fm_attrs_unsorted() -> [ferrometer::KeyValue; 3] {
    [
        ferrometer::KeyValue::new("status", STATUS),
        ferrometer::KeyValue::new("method", METHOD),
        ferrometer::KeyValue::new("route", ROUTE),
    ]
}

/// Provider with one reader per entry of `temporalities`; returns the readers so the
/// caller can collect.
fn fm_provider(
    temporalities: &[ferrometer::TemporalityPreference],
    cardinality_limit: Option<usize>,
) -> (ferrometer::MeterProvider, Vec<ferrometer::ManualReader>) {
    let readers: Vec<_> = temporalities
        .iter()
        .map(|t| ferrometer::ManualReader::new(*t))
        .collect();
    let mut builder = ferrometer::MeterProvider::builder();
    for r in &readers {
        builder = builder.with_reader(r.clone());
    }
    if let Some(limit) = cardinality_limit {
        builder = builder.with_cardinality_limit(limit);
    }
    (builder.build(), readers)
}

/// The `requests` counter of meter `bench`, as every ferrometer case uses.
fn fm_requests(provider: &ferrometer::MeterProvider) -> ferrometer::Counter<u64> {
    provider
        .meter("bench")
        .u64_counter("requests")
        .build()
        .unwrap()
}

fn fm_one_reader() -> (ferrometer::MeterProvider, Vec<ferrometer::ManualReader>) {
    fm_provider(&[ferrometer::TemporalityPreference::Cumulative], None)
}

// ---------------------------------------------------------------------------
// opentelemetry_sdk setup
// ---------------------------------------------------------------------------

/// `opentelemetry_sdk::metrics::ManualReader` is not `Clone` and
/// `SdkMeterProvider::builder().with_reader` takes it by value, so share it through an
/// `Arc` and forward the `MetricReader` trait (public with `experimental_metrics_custom_reader`).
#[derive(Debug, Clone)]
struct SharedOtelReader(Arc<OtelManualReader>);

impl MetricReader for SharedOtelReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

fn otel_attrs() -> [opentelemetry::KeyValue; 3] {
    [
        opentelemetry::KeyValue::new("method", METHOD),
        opentelemetry::KeyValue::new("route", ROUTE),
        opentelemetry::KeyValue::new("status", STATUS),
    ]
}

fn otel_attrs_unsorted() -> [opentelemetry::KeyValue; 3] {
    [
        opentelemetry::KeyValue::new("status", STATUS),
        opentelemetry::KeyValue::new("method", METHOD),
        opentelemetry::KeyValue::new("route", ROUTE),
    ]
}

fn otel_provider(
    temporalities: &[Temporality],
    cardinality_limit: Option<usize>,
) -> (SdkMeterProvider, Vec<SharedOtelReader>) {
    let readers: Vec<_> = temporalities
        .iter()
        .map(|t| {
            SharedOtelReader(Arc::new(
                OtelManualReader::builder().with_temporality(*t).build(),
            ))
        })
        .collect();
    let mut builder = SdkMeterProvider::builder();
    for r in &readers {
        builder = builder.with_reader(r.clone());
    }
    if let Some(limit) = cardinality_limit {
        // The SDK's per-stream default is 2000; a view raises it for every instrument.
        builder = builder.with_view(move |_: &Instrument| {
            Stream::builder().with_cardinality_limit(limit).build().ok()
        });
    }
    (builder.build(), readers)
}

fn otel_one_reader() -> (SdkMeterProvider, Vec<SharedOtelReader>) {
    otel_provider(&[Temporality::Cumulative], None)
}

fn otel_sum_points(rm: &ResourceMetrics) -> usize {
    rm.scope_metrics()
        .flat_map(|sm| sm.metrics())
        .map(|m| match m.data() {
            AggregatedMetrics::U64(MetricData::Sum(s)) => s.data_points().count(),
            _ => 0,
        })
        .sum()
}

// ---------------------------------------------------------------------------
// prometheus / prometheus-client setup
// ---------------------------------------------------------------------------

const PROM_LABELS: [&str; 3] = ["method", "route", "status"];
/// prometheus' `with_label_values` is positional in declared order, so the "unsorted"
/// variant necessarily passes the same values as the sorted one.
const PROM_VALUES: [&str; 3] = [METHOD, ROUTE, STATUS];

fn prom_counter_vec() -> prometheus::IntCounterVec {
    let vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "requests"),
        &PROM_LABELS,
    )
    .unwrap();
    let registry = prometheus::Registry::new();
    registry.register(Box::new(vec.clone())).unwrap();
    vec
}

type PcLabels = [(&'static str, &'static str); 3];
type PcFamily = prometheus_client::metrics::family::Family<
    PcLabels,
    prometheus_client::metrics::counter::Counter,
>;

const PC_LABELS: PcLabels = [("method", METHOD), ("route", ROUTE), ("status", STATUS)];
const PC_LABELS_UNSORTED: PcLabels = [("status", STATUS), ("method", METHOD), ("route", ROUTE)];

fn pc_family() -> (prometheus_client::registry::Registry, PcFamily) {
    let mut registry = prometheus_client::registry::Registry::default();
    let family = PcFamily::default();
    registry.register("requests", "requests", family.clone());
    (registry, family)
}

// ---------------------------------------------------------------------------
// two persistent worker threads for the contention group
// ---------------------------------------------------------------------------

/// Two threads parked on a barrier. `run(iters)` releases both, each executes the work
/// closure with `iters`, and the wall time until both are done is returned; dividing by
/// `iters` (criterion does that) gives the per-op cost as seen by each thread, which is
/// directly comparable with the single-threaded groups.
struct TwoThreads {
    go: Arc<Barrier>,
    done: Arc<Barrier>,
    iters: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl TwoThreads {
    fn new<F>(work: F) -> Self
    where
        F: Fn(u64) + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        let go = Arc::new(Barrier::new(3));
        let done = Arc::new(Barrier::new(3));
        let iters = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..2)
            .map(|_| {
                let (work, go, done, iters, stop) = (
                    work.clone(),
                    go.clone(),
                    done.clone(),
                    iters.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || loop {
                    go.wait();
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    work(iters.load(Ordering::Acquire));
                    done.wait();
                })
            })
            .collect();
        TwoThreads {
            go,
            done,
            iters,
            stop,
            handles,
        }
    }

    fn run(&self, iters: u64) -> Duration {
        self.iters.store(iters, Ordering::Release);
        let start = Instant::now();
        self.go.wait();
        self.done.wait();
        start.elapsed()
    }
}

impl Drop for TwoThreads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.go.wait();
        for h in self.handles.drain(..) {
            h.join().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------

fn counter_add_3attrs(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        let attrs = fm_attrs();
        g.bench_function("ferrometer", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    {
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        let attrs = otel_attrs();
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    {
        let vec = prom_counter_vec();
        g.bench_function("prometheus", |b| {
            b.iter(|| {
                vec.with_label_values(black_box(&PROM_VALUES))
                    .inc_by(black_box(1))
            })
        });
    }
    {
        let (_registry, family) = pc_family();
        let labels = PC_LABELS;
        g.bench_function("prometheus_client", |b| {
            b.iter(|| {
                family
                    .get_or_create(black_box(&labels))
                    .inc_by(black_box(1));
            })
        });
    }
    g.finish();
}

fn counter_add_3attrs_unsorted(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_unsorted");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        let attrs = fm_attrs_unsorted();
        g.bench_function("ferrometer", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    {
        // Note: the SDK stores a series under both the caller's order and the sorted order
        // on first insert, so a caller that always uses the same order stays on the fast
        // path. This measures that steady state (fresh provider, only this order used).
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        let attrs = otel_attrs_unsorted();
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    {
        let vec = prom_counter_vec();
        g.bench_function("prometheus", |b| {
            b.iter(|| {
                vec.with_label_values(black_box(&PROM_VALUES))
                    .inc_by(black_box(1))
            })
        });
    }
    {
        let (_registry, family) = pc_family();
        let labels = PC_LABELS_UNSORTED;
        g.bench_function("prometheus_client", |b| {
            b.iter(|| {
                family
                    .get_or_create(black_box(&labels))
                    .inc_by(black_box(1));
            })
        });
    }
    g.finish();
}

fn counter_add_bound(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_bound");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        let bound = counter.bind(&fm_attrs());
        g.bench_function("ferrometer", |b| b.iter(|| bound.add(black_box(1))));
        drop(bound);
        provider.shutdown().ok();
    }
    {
        // opentelemetry 0.33 `experimental_metrics_bound_instruments`:
        // `Counter::bind(&[KeyValue]) -> BoundCounter<T>`, then `BoundCounter::add(value)`.
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        let bound = counter.bind(&otel_attrs());
        g.bench_function("opentelemetry_sdk", |b| b.iter(|| bound.add(black_box(1))));
        drop(bound);
        provider.shutdown().ok();
    }
    {
        let vec = prom_counter_vec();
        let child = vec.with_label_values(&PROM_VALUES);
        g.bench_function("prometheus", |b| b.iter(|| child.inc_by(black_box(1))));
    }
    g.finish();
}

/// An add with no attributes: the series is the instrument's one
/// attribute-less series. prometheus and prometheus_client: a counter
/// without labels.
fn counter_add_0attrs(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_0attrs");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        g.bench_function("ferrometer", |b| b.iter(|| counter.add(black_box(1), &[])));
        provider.shutdown().ok();
    }
    {
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| counter.add(black_box(1), &[]))
        });
        provider.shutdown().ok();
    }
    {
        let counter = prometheus::IntCounter::new("requests_total", "requests").unwrap();
        let registry = prometheus::Registry::new();
        registry.register(Box::new(counter.clone())).unwrap();
        g.bench_function("prometheus", |b| b.iter(|| counter.inc_by(black_box(1))));
    }
    {
        let mut registry = prometheus_client::registry::Registry::default();
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        registry.register("requests", "requests", counter.clone());
        g.bench_function("prometheus_client", |b| {
            b.iter(|| counter.inc_by(black_box(1)))
        });
    }
    g.finish();
}

/// Three attributes written as static literals at the call site, the
/// attribute objects built on every call as instrumentation code does.
/// ferrometer and opentelemetry_sdk keep `&'static str`s borrowed;
/// prometheus takes `&str` label values positionally.
fn counter_add_3attrs_static(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_static");
    configure(&mut g);

    {
        use ferrometer::KeyValue;
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        g.bench_function("ferrometer", |b| {
            b.iter(|| {
                counter.add(
                    black_box(1),
                    &[
                        KeyValue::new("method", "GET"),
                        KeyValue::new("route", "/api/v1/items"),
                        KeyValue::new("status", "200"),
                    ],
                )
            })
        });
        provider.shutdown().ok();
    }
    {
        use opentelemetry::KeyValue;
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| {
                counter.add(
                    black_box(1),
                    &[
                        KeyValue::new("method", "GET"),
                        KeyValue::new("route", "/api/v1/items"),
                        KeyValue::new("status", "200"),
                    ],
                )
            })
        });
        provider.shutdown().ok();
    }
    {
        let vec = prom_counter_vec();
        g.bench_function("prometheus", |b| {
            b.iter(|| {
                vec.with_label_values(&["GET", "/api/v1/items", "200"])
                    .inc_by(black_box(1))
            })
        });
    }
    g.finish();
}

fn histogram_record_3attrs(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record_3attrs");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let hist = provider
            .meter("bench")
            .f64_histogram("latency")
            .build()
            .unwrap();
        let attrs = fm_attrs();
        let mut i = 0u64;
        g.bench_function("ferrometer", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                hist.record((i % 1000) as f64, black_box(&attrs))
            })
        });
        provider.shutdown().ok();
    }
    {
        let (provider, _readers) = otel_one_reader();
        let hist = provider.meter("bench").f64_histogram("latency").build();
        let attrs = otel_attrs();
        let mut i = 0u64;
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                hist.record((i % 1000) as f64, black_box(&attrs))
            })
        });
        provider.shutdown().ok();
    }
    {
        let vec = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new("latency", "latency"),
            &PROM_LABELS,
        )
        .unwrap();
        let mut i = 0u64;
        g.bench_function("prometheus", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                vec.with_label_values(black_box(&PROM_VALUES))
                    .observe((i % 1000) as f64)
            })
        });
    }
    g.finish();
}

/// A base2 exponential histogram (160 buckets per sign, scale at most
/// 20, the specification's defaults) chosen by a view, recording the same
/// values as `histogram_record_3attrs`: ferrometer against
/// opentelemetry_sdk's `Aggregation::Base2ExponentialHistogram`.
fn histogram_record_exponential_3attrs(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record_exponential_3attrs");
    configure(&mut g);

    {
        let reader = ferrometer::ManualReader::default();
        let view = ferrometer::View::builder()
            .instrument_name("latency")
            .aggregation(ferrometer::Aggregation::base2_exponential_histogram())
            .build()
            .unwrap();
        let provider = ferrometer::MeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(view)
            .build();
        let hist = provider
            .meter("bench")
            .f64_histogram("latency")
            .build()
            .unwrap();
        let attrs = fm_attrs();
        let mut i = 0u64;
        g.bench_function("ferrometer", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                hist.record((i % 1000) as f64, black_box(&attrs))
            })
        });
        provider.shutdown().ok();
    }
    {
        let reader = SharedOtelReader(Arc::new(
            OtelManualReader::builder()
                .with_temporality(Temporality::Cumulative)
                .build(),
        ));
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_view(|i: &Instrument| {
                (i.name() == "latency").then(|| {
                    Stream::builder()
                        .with_aggregation(
                            opentelemetry_sdk::metrics::Aggregation::Base2ExponentialHistogram {
                                max_size: 160,
                                max_scale: 20,
                                record_min_max: true,
                            },
                        )
                        .build()
                        .unwrap()
                })
            })
            .build();
        let hist = provider.meter("bench").f64_histogram("latency").build();
        let attrs = otel_attrs();
        let mut i = 0u64;
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                hist.record((i % 1000) as f64, black_box(&attrs))
            })
        });
        provider.shutdown().ok();
    }
    g.finish();
}

fn counter_add_3attrs_4readers(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_4readers");
    configure(&mut g);

    {
        use ferrometer::TemporalityPreference::{Cumulative, Delta};
        let (provider, _readers) = fm_provider(&[Cumulative, Cumulative, Delta, Delta], None);
        let counter = fm_requests(&provider);
        let attrs = fm_attrs();
        g.bench_function("ferrometer", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    {
        use Temporality::{Cumulative, Delta};
        let (provider, _readers) = otel_provider(&[Cumulative, Cumulative, Delta, Delta], None);
        let counter = provider.meter("bench").u64_counter("requests").build();
        let attrs = otel_attrs();
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
        provider.shutdown().ok();
    }
    g.finish();
}

fn counter_add_3attrs_2threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_2threads");
    configure(&mut g);

    {
        let (provider, _readers) = fm_one_reader();
        let counter = fm_requests(&provider);
        let attrs = fm_attrs();
        counter.add(1, &attrs); // series exists before both threads start
        let workers = TwoThreads::new(move |iters| {
            for _ in 0..iters {
                counter.add(black_box(1), black_box(&attrs));
            }
        });
        g.bench_function("ferrometer", |b| b.iter_custom(|iters| workers.run(iters)));
        drop(workers);
        provider.shutdown().ok();
    }
    {
        let (provider, _readers) = otel_one_reader();
        let counter = provider.meter("bench").u64_counter("requests").build();
        let attrs = otel_attrs();
        counter.add(1, &attrs);
        let workers = TwoThreads::new(move |iters| {
            for _ in 0..iters {
                counter.add(black_box(1), black_box(&attrs));
            }
        });
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter_custom(|iters| workers.run(iters))
        });
        drop(workers);
        provider.shutdown().ok();
    }
    g.finish();
}

fn collect_100k_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("collect_100k_series");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);

    {
        let (provider, readers) = fm_provider(
            &[ferrometer::TemporalityPreference::Cumulative],
            Some(200_000),
        );
        let counter = provider
            .meter("bench")
            .u64_counter("series")
            .build()
            .unwrap();
        for n in 0..SERIES_100K {
            counter.add(
                1,
                &[
                    ferrometer::KeyValue::new("id", n as i64),
                    ferrometer::KeyValue::new("method", METHOD),
                    ferrometer::KeyValue::new("route", ROUTE),
                ],
            );
        }
        let reader = readers[0].clone();
        assert_eq!(
            reader.collect().unwrap().point_count(),
            SERIES_100K as usize,
            "ferrometer series overflowed"
        );
        g.bench_function("ferrometer", |b| {
            b.iter(|| black_box(reader.collect().unwrap()))
        });
        provider.shutdown().ok();
    }
    {
        let (provider, readers) = otel_provider(&[Temporality::Cumulative], Some(200_000));
        let counter = provider.meter("bench").u64_counter("series").build();
        for n in 0..SERIES_100K {
            counter.add(
                1,
                &[
                    opentelemetry::KeyValue::new("id", n as i64),
                    opentelemetry::KeyValue::new("method", METHOD),
                    opentelemetry::KeyValue::new("route", ROUTE),
                ],
            );
        }
        let reader = readers[0].clone();
        // The SDK fills a caller-owned ResourceMetrics; reuse one across iterations as the
        // API intends (a pull exporter would do the same).
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        assert_eq!(
            otel_sum_points(&rm),
            SERIES_100K as usize,
            "otel series overflowed"
        );
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| {
                reader.collect(&mut rm).unwrap();
                black_box(&rm);
            })
        });
        provider.shutdown().ok();
    }
    g.finish();
}

/// `collect_100k_series` with four readers on one provider (two cumulative,
/// two delta, as `counter_add_3attrs_4readers`): each collects once per
/// iteration, one after another, and the time is for all four. ferrometer
/// runs with its default collection window, so the three readers after the
/// first are served from the first one's cycle.
fn collect_100k_series_4readers(c: &mut Criterion) {
    let mut g = c.benchmark_group("collect_100k_series_4readers");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);

    {
        use ferrometer::TemporalityPreference::{Cumulative, Delta};
        let (provider, readers) =
            fm_provider(&[Cumulative, Cumulative, Delta, Delta], Some(200_000));
        let counter = provider
            .meter("bench")
            .u64_counter("series")
            .build()
            .unwrap();
        for n in 0..SERIES_100K {
            counter.add(
                1,
                &[
                    ferrometer::KeyValue::new("id", n as i64),
                    ferrometer::KeyValue::new("method", METHOD),
                    ferrometer::KeyValue::new("route", ROUTE),
                ],
            );
        }
        for r in &readers {
            assert_eq!(
                r.collect().unwrap().point_count(),
                SERIES_100K as usize,
                "ferrometer series overflowed"
            );
        }
        g.bench_function("ferrometer", |b| {
            b.iter(|| {
                for r in &readers {
                    black_box(r.collect().unwrap());
                }
            })
        });
        provider.shutdown().ok();
    }
    {
        use Temporality::{Cumulative, Delta};
        let (provider, readers) =
            otel_provider(&[Cumulative, Cumulative, Delta, Delta], Some(200_000));
        let counter = provider.meter("bench").u64_counter("series").build();
        for n in 0..SERIES_100K {
            counter.add(
                1,
                &[
                    opentelemetry::KeyValue::new("id", n as i64),
                    opentelemetry::KeyValue::new("method", METHOD),
                    opentelemetry::KeyValue::new("route", ROUTE),
                ],
            );
        }
        // One caller-owned ResourceMetrics per reader, reused as in
        // `collect_100k_series`.
        let mut rms: Vec<ResourceMetrics> =
            readers.iter().map(|_| ResourceMetrics::default()).collect();
        for (r, rm) in readers.iter().zip(rms.iter_mut()) {
            r.collect(rm).unwrap();
            assert_eq!(
                otel_sum_points(rm),
                SERIES_100K as usize,
                "otel series overflowed"
            );
        }
        g.bench_function("opentelemetry_sdk", |b| {
            b.iter(|| {
                for (r, rm) in readers.iter().zip(rms.iter_mut()) {
                    r.collect(rm).unwrap();
                    black_box(&*rm);
                }
            })
        });
        provider.shutdown().ok();
    }
    g.finish();
}

/// Not one of the groups: the `counter_add_3attrs` case with borrowed
/// attributes (`AttrRef`) whose strings are hashed on every call, as the C ABI
/// must hash a caller's `fm_attribute` array (docs/cpp-benchmarks.md). Shows
/// what the per-call work costs in Rust, apart from the C boundary.
fn counter_add_3attrs_borrowed(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_borrowed");
    configure(&mut g);
    let (provider, _readers) = fm_one_reader();
    let counter = fm_requests(&provider);
    g.bench_function("ferrometer", |b| {
        b.iter(|| {
            let s = |v: &'static str| ferrometer::ValueRef::Str(black_box(v));
            let attrs = [
                ferrometer::AttrRef {
                    key: "method",
                    value: s(METHOD),
                },
                ferrometer::AttrRef {
                    key: "route",
                    value: s(ROUTE),
                },
                ferrometer::AttrRef {
                    key: "status",
                    value: s(STATUS),
                },
            ];
            counter.add_attrs(black_box(1), &attrs)
        })
    });
    provider.shutdown().ok();
}

/// A provider with one cumulative reader whose exemplar filter is
/// `AlwaysOn`, for the exemplar groups.
fn fm_one_reader_exemplars() -> (ferrometer::MeterProvider, ferrometer::ManualReader) {
    let r = ferrometer::ManualReader::new(ferrometer::TemporalityPreference::Cumulative);
    let p = ferrometer::MeterProvider::builder()
        .with_reader(r.clone())
        .with_exemplar_filter(ferrometer::ExemplarFilter::AlwaysOn)
        .build();
    (p, r)
}

/// Runs `f` with a sampled trace context current on the bench thread, and
/// clears it afterwards (a sampled context anywhere opens every
/// `TraceBased` stream's exemplar path, so later groups must not see it).
fn with_sampled_context(f: impl FnOnce()) {
    let ctx = ferrometer::TraceContext::new([0x4b; 16], [0xf9; 8], 1);
    ferrometer::TraceContext::set_current(Some(ctx));
    f();
    ferrometer::TraceContext::set_current(None);
}

/// `counter_add_3attrs` with a sampled context on every call and the
/// `AlwaysOn` filter: each add also offers an exemplar to the series'
/// one-cell reservoir. opentelemetry_sdk 0.33 has no exemplars (its
/// aggregations report none), so ferrometer runs alone.
fn counter_add_3attrs_exemplar(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3attrs_exemplar");
    configure(&mut g);
    let (provider, _reader) = fm_one_reader_exemplars();
    let counter = fm_requests(&provider);
    let attrs = fm_attrs();
    with_sampled_context(|| {
        g.bench_function("ferrometer", |b| {
            b.iter(|| counter.add(black_box(1), black_box(&attrs)))
        });
    });
    provider.shutdown().ok();
    g.finish();
}

/// `histogram_record_3attrs` with a sampled context on every call and the
/// `AlwaysOn` filter (one exemplar cell per bucket).
fn histogram_record_3attrs_exemplar(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record_3attrs_exemplar");
    configure(&mut g);
    let (provider, _reader) = fm_one_reader_exemplars();
    let hist = provider
        .meter("bench")
        .f64_histogram("latency")
        .build()
        .unwrap();
    let attrs = fm_attrs();
    let mut i = 0u64;
    with_sampled_context(|| {
        g.bench_function("ferrometer", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                hist.record((i % 1000) as f64, black_box(&attrs))
            })
        });
    });
    provider.shutdown().ok();
    g.finish();
}

criterion_group!(
    benches,
    counter_add_3attrs,
    counter_add_3attrs_unsorted,
    counter_add_bound,
    counter_add_0attrs,
    counter_add_3attrs_static,
    histogram_record_3attrs,
    histogram_record_exponential_3attrs,
    counter_add_3attrs_4readers,
    counter_add_3attrs_2threads,
    collect_100k_series,
    counter_add_3attrs_borrowed,
    collect_100k_series_4readers,
    counter_add_3attrs_exemplar,
    histogram_record_3attrs_exemplar
);
criterion_main!(benches);
