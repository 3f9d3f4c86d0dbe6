//! Self-metrics: the pipeline's health recorded through the provider it
//! exports for, under `ferrometer.exporter.*`, every series with the
//! attribute `exporter` (the transport's name).
//!
//! | name | instrument | unit | attributes |
//! |---|---|---|---|
//! | `ferrometer.exporter.queue.length` | observable gauge | `{point}` | |
//! | `ferrometer.exporter.queue.capacity` | observable gauge | `{point}` | |
//! | `ferrometer.exporter.queue.bytes` | observable gauge | `By` | |
//! | `ferrometer.exporter.points.exported` | observable counter | `{point}` | (points the receiver accepted; not those it rejected) |
//! | `ferrometer.exporter.requests.exported` | observable counter | `{request}` | |
//! | `ferrometer.exporter.requests.failed` | observable counter | `{request}` | `reason`: 4xx, 5xx, timeout, connection, other |
//! | `ferrometer.exporter.retries` | observable counter | `{request}` | |
//! | `ferrometer.exporter.points.dropped` | observable counter | `{point}` | `reason`: queue_full, permanent_error, retries_exhausted, shutdown, superseded, rejected (OTLP partial success) |
//! | `ferrometer.exporter.export.duration` | histogram | `s` | (one request attempt) |
//! | `ferrometer.exporter.circuit.state` | observable gauge | | 0 closed, 1 open, 2 half-open |

use super::{DropReason, ExportPipeline, FailReason, PipelineStats};
use crate::error::Result;
use crate::{KeyValue, MeterProvider};

/// Boundaries of the duration histogram (seconds).
const DURATION_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A reading of the pipeline's counters.
type Reading = fn(&PipelineStats) -> u64;

/// The observable gauges: name, unit, description, reading.
const GAUGES: [(&str, &str, &str, Reading); 4] = [
    (
        "ferrometer.exporter.queue.length",
        "{point}",
        "Points queued or in flight",
        |st| st.queued_points,
    ),
    (
        "ferrometer.exporter.queue.capacity",
        "{point}",
        "Queue capacity in points",
        |st| st.capacity_points,
    ),
    (
        "ferrometer.exporter.queue.bytes",
        "By",
        "Request bytes queued or in flight",
        |st| st.queued_bytes,
    ),
    (
        "ferrometer.exporter.circuit.state",
        "",
        "Circuit breaker: 0 closed, 1 open, 2 half-open",
        |st| st.circuit.as_u64(),
    ),
];

/// The observable counters without a `reason`: name, unit, description,
/// reading.
const COUNTERS: [(&str, &str, &str, Reading); 3] = [
    (
        "ferrometer.exporter.points.exported",
        "{point}",
        "Points the receiver accepted",
        |st| st.points_delivered,
    ),
    (
        "ferrometer.exporter.requests.exported",
        "{request}",
        "Requests the receiver accepted",
        |st| st.requests_delivered,
    ),
    (
        "ferrometer.exporter.retries",
        "{request}",
        "Request attempts that were retries",
        |st| st.retries,
    ),
];

impl ExportPipeline {
    /// Registers the self-metrics with `provider` (normally the provider
    /// this pipeline exports for). A [`PeriodicReader`](crate::PeriodicReader)
    /// does it when its provider attaches it, so self-metrics are on by
    /// default. Does nothing when self-metrics were turned off
    /// ([`with_self_metrics(false)`](super::PipelineBuilder::with_self_metrics))
    /// or are already registered (only the first provider gets them).
    ///
    /// The instruments are the tables above and the module's: observable
    /// gauges and counters reading [`PipelineStats`] at each collection,
    /// two counters by reason, and the attempt duration histogram the
    /// worker records into.
    pub fn register_metrics(&self, provider: &MeterProvider) -> Result<()> {
        // One function on purpose: past the guard it is the list of the
        // pipeline's instruments, read top to bottom against the table in
        // the module documentation; split, that list would be scattered.
        let s = self.shared().clone();
        if !s.config.self_metrics
            || s.metrics_registered
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(());
        }
        // The scope carries the library's version, as every scope of ours.
        let meter = provider.meter_with_scope(
            crate::resource::InstrumentationScope::new("ferrometer.exporter")
                .with_version(env!("CARGO_PKG_VERSION")),
        );
        let name = s.name;
        let base = move || vec![KeyValue::new("exporter", name)];
        let with = move |k: &'static str, v: &'static str| {
            vec![KeyValue::new("exporter", name), KeyValue::new(k, v)]
        };
        for (n, unit, description, read) in GAUGES {
            let s = s.clone();
            let _ = meter
                .i64_observable_gauge(n)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |g| g.observe(read(&s.stats()) as i64, &base()))
                .build()?;
        }
        for (n, unit, description, read) in COUNTERS {
            let s = s.clone();
            let _ = meter
                .u64_observable_counter(n)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |c| c.observe(read(&s.stats()), &base()))
                .build()?;
        }
        {
            let s = s.clone();
            let _ = meter
                .u64_observable_counter("ferrometer.exporter.requests.failed")
                .with_unit("{request}")
                .with_description("Failed request attempts by reason")
                .with_callback(move |c| {
                    let st = s.stats();
                    for r in FailReason::ALL {
                        c.observe(st.failed(r), &with("reason", r.as_str()));
                    }
                })
                .build()?;
        }
        {
            let s = s.clone();
            let _ = meter
                .u64_observable_counter("ferrometer.exporter.points.dropped")
                .with_unit("{point}")
                .with_description("Points dropped by reason")
                .with_callback(move |c| {
                    let st = s.stats();
                    for r in DropReason::ALL {
                        c.observe(st.dropped(r), &with("reason", r.as_str()));
                    }
                })
                .build()?;
        }
        let h = meter
            .f64_histogram("ferrometer.exporter.export.duration")
            .with_unit("s")
            .with_description("Duration of one request attempt")
            .with_boundaries(DURATION_BOUNDS.to_vec())
            .build()?;
        let _ = s.duration.set(h.bind(&base()));
        Ok(())
    }
}
