//! ferrometer: an OpenTelemetry-model metrics SDK with a lock-free
//! recording path and a multi-reader collection engine.
//!
//! ```
//! use ferrometer::{KeyValue, ManualReader, MeterProvider, TemporalityPreference};
//! let reader = ManualReader::new(TemporalityPreference::Cumulative);
//! let provider = MeterProvider::builder().with_reader(reader.clone()).build();
//! let meter = provider.meter("game");
//! let players = meter.u64_counter("players.joined").build().unwrap();
//! players.add(1, &[KeyValue::new("region", "eu")]);
//! let snapshot = reader.collect().unwrap();
//! assert_eq!(snapshot.point_count(), 1);
//! ```
#![warn(missing_docs)]
// `unsafe` only where a module below says why it needs it: the C ABI and
// the lock-free recording path. Everything else is safe Rust, enforced.
#![deny(unsafe_code)]

pub mod aggregation;
pub mod attributes;
pub mod collect;
// Thread slots: membarrier syscalls, a TLS slot read with inline asm.
#[allow(unsafe_code)]
mod context;
pub mod diagnostics;
pub mod env;
mod error;
pub mod export;
// The C ABI: `extern "C"` exports and raw pointers from C callers.
#[allow(unsafe_code)]
mod ffi;
// The global provider: a published pointer into boxes kept alive.
#[allow(unsafe_code)]
mod global;
// The prefetch intrinsic.
#[allow(unsafe_code)]
mod hint;
pub mod instruments;
mod kinds;
mod meter;
pub mod producer;
mod provider;
pub mod readers;
mod resource;
mod storage;
mod sync;
mod temporality;
// Per-thread sums: blocks handed between threads by raw pointer.
#[allow(unsafe_code)]
mod thread_sums;
pub mod time;
pub mod trace;
mod views;

pub use aggregation::Aggregation;
pub use attributes::{Attr, AttrRef, AttributeSet, Key, KeyValue, Probe, Value, ValueRef};
pub use collect::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogram as ExponentialHistogramData,
    ExponentialHistogramPoint, Gauge as GaugeData, Histogram as HistogramData, HistogramPoint,
    Metric, MetricData, Number, NumberPoint, PointExemplars, ResourceMetrics, ScopeMetrics,
    Sum as SumData, Temporality,
};
pub use diagnostics::{Level, RejectedCounts};
pub use error::{Error, Result};
pub use instruments::{
    BoundCounter, BoundGauge, BoundHistogram, BoundUpDownCounter, Counter, Gauge, Histogram,
    InstrumentKind, NumberKind, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
    UpDownCounter,
};
pub use meter::{CallbackRegistration, InstrumentBuilder, Meter};
pub use provider::{
    MeterProvider, MeterProviderBuilder, DEFAULT_CARDINALITY_LIMIT, DEFAULT_COLLECTION_WINDOW,
    DEFAULT_EVICT_AFTER_CYCLES, DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use readers::{ManualReader, MetricReader, PeriodicReader, TemporalityPreference};
pub use resource::{InstrumentationScope, Resource, ResourceBuilder};
pub use trace::{ExemplarFilter, TraceContext};
pub use views::{View, ViewBuilder, MAX_EXEMPLAR_RESERVOIR};
