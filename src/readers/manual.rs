//! The manual reader: the host (or a test) collects on demand.

use super::{MetricReader, ReaderCore, TemporalityPreference};
use crate::collect::data::ResourceMetrics;
use crate::error::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A reader that collects when [`collect`](Self::collect) is called.
/// Cheap to clone; clones are the same reader.
#[derive(Clone, Debug)]
pub struct ManualReader {
    core: Arc<ReaderCore>,
    shut: Arc<AtomicBool>,
}

impl ManualReader {
    /// A manual reader with this temporality preference.
    pub fn new(pref: TemporalityPreference) -> Self {
        ManualReader {
            core: ReaderCore::new(pref),
            shut: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Collects a snapshot now.
    ///
    /// Errors: [`Error::ReaderNotRegistered`](crate::Error::ReaderNotRegistered)
    /// before the reader is attached, [`Error::Shutdown`](crate::Error::Shutdown)
    /// after the provider or the reader shut down.
    pub fn collect(&self) -> Result<ResourceMetrics> {
        if self.shut.load(Ordering::Acquire) {
            return Err(crate::Error::Shutdown);
        }
        self.core.collect()
    }
}

impl Default for ManualReader {
    fn default() -> Self {
        ManualReader::new(TemporalityPreference::Cumulative)
    }
}

impl MetricReader for ManualReader {
    fn core(&self) -> &Arc<ReaderCore> {
        &self.core
    }
    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        self.shut.store(true, Ordering::Release);
        Ok(())
    }
}
