//! The contract between push readers and exporters.

use crate::collect::data::ResourceMetrics;
use crate::error::Result;
use crate::temporality::TemporalityPreference;
use std::time::{Duration, Instant};

/// An exporter that sends snapshots somewhere (OTLP/HTTP, Pushgateway, a
/// file, stdout, a host callback). A [`PeriodicReader`](crate::readers::PeriodicReader)
/// calls it from its own thread; calls never overlap.
pub trait PushExporter: Send + Sync + 'static {
    /// Sends one snapshot, giving up at `deadline`.
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()>;

    /// [`export`](Self::export) of a snapshot the caller no longer needs
    /// (the periodic reader's): an exporter may take it apart, e.g. to
    /// encode parts of it on several threads. Defaults to `export`.
    fn export_owned(&self, metrics: ResourceMetrics, deadline: Instant) -> Result<()> {
        self.export(&metrics, deadline)
    }

    /// Temporality the reader should collect with (default cumulative).
    fn temporality(&self) -> TemporalityPreference {
        TemporalityPreference::Cumulative
    }

    /// Flushes anything buffered, within `timeout`.
    fn force_flush(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }

    /// Releases resources (connections, files); called once, after the
    /// reader's final export.
    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }

    /// Called from another thread when a reader's shutdown deadline
    /// passed while this exporter's export (or flush, or shutdown) is
    /// still running: stop it early if possible (no further retries). The
    /// running call still returns on its own; later exports may fail at
    /// once. Does nothing by default.
    fn abort(&self) {}

    /// A short name for diagnostics ("otlp", "pushgateway", ...).
    fn name(&self) -> &'static str;

    /// The counters of an exporter running behind an
    /// [`ExportPipeline`](crate::export::pipeline::ExportPipeline)
    /// (`None` for others).
    fn pipeline_stats(&self) -> Option<crate::export::pipeline::PipelineStats> {
        None
    }

    /// Registers the exporter's self-metrics with the provider it exports
    /// for (a pipeline's `ferrometer.exporter.*`); nothing by default.
    fn register_self_metrics(&self, _provider: &crate::MeterProvider) -> Result<()> {
        Ok(())
    }
}

/// A shared exporter is an exporter (a reader can take an `Arc` the host
/// also keeps, as the C API's exporter handles do).
impl<T: PushExporter + ?Sized> PushExporter for std::sync::Arc<T> {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        (**self).export(metrics, deadline)
    }
    fn export_owned(&self, metrics: ResourceMetrics, deadline: Instant) -> Result<()> {
        (**self).export_owned(metrics, deadline)
    }
    fn temporality(&self) -> TemporalityPreference {
        (**self).temporality()
    }
    fn force_flush(&self, timeout: Duration) -> Result<()> {
        (**self).force_flush(timeout)
    }
    fn shutdown(&self, timeout: Duration) -> Result<()> {
        (**self).shutdown(timeout)
    }
    fn abort(&self) {
        (**self).abort()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn pipeline_stats(&self) -> Option<crate::export::pipeline::PipelineStats> {
        (**self).pipeline_stats()
    }
    fn register_self_metrics(&self, provider: &crate::MeterProvider) -> Result<()> {
        (**self).register_self_metrics(provider)
    }
}
