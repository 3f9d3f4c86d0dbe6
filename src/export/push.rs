//! The contract between push readers and exporters.

use crate::collect::data::ResourceMetrics;
use crate::error::Result;
use crate::readers::TemporalityPreference;
use std::time::{Duration, Instant};

/// An exporter that sends snapshots somewhere (OTLP/HTTP, Pushgateway, a
/// file, stdout, a host callback). A [`PeriodicReader`](crate::readers::PeriodicReader)
/// calls it from its own thread; calls never overlap.
pub trait PushExporter: Send + Sync + 'static {
    /// Sends one snapshot, giving up at `deadline`.
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()>;

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

    /// A short name for diagnostics ("otlp", "pushgateway", ...).
    fn name(&self) -> &'static str;
}

/// A shared exporter is an exporter (a reader can take an `Arc` the host
/// also keeps, as the C API's exporter handles do).
impl<T: PushExporter + ?Sized> PushExporter for std::sync::Arc<T> {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        (**self).export(metrics, deadline)
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
    fn name(&self) -> &'static str {
        (**self).name()
    }
}
