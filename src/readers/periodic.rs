//! The periodic reader: collects on its own thread at a fixed interval and
//! hands each snapshot to a push exporter.

use super::{MetricReader, ReaderCore};
use crate::diagnostics::diag_error;
use crate::error::{Error, Result};
use crate::export::PushExporter;
use crate::sync::{lock, Mutex};
use std::sync::{Arc, Condvar};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// Default interval between exports (the specification's 60 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default deadline of one export (the specification's 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Collects every `interval` on a background thread and exports with a
/// deadline of `timeout`. Exports never overlap: a `force_flush` waits for
/// a running export. Cheap to clone; clones are the same reader.
#[derive(Clone)]
pub struct PeriodicReader {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PeriodicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicReader")
            .field("exporter", &self.inner.exporter.name())
            .field("interval", &self.inner.interval)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

struct Inner {
    core: Arc<ReaderCore>,
    exporter: Box<dyn PushExporter>,
    interval: Duration,
    timeout: Duration,
    /// Serializes exports.
    export_lock: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<(JoinHandle<()>, ThreadId)>>,
}

/// Builds a [`PeriodicReader`].
#[must_use]
pub struct PeriodicReaderBuilder {
    exporter: Box<dyn PushExporter>,
    interval: Option<Duration>,
    timeout: Option<Duration>,
}

impl PeriodicReaderBuilder {
    /// Interval between collections (default: `OTEL_METRIC_EXPORT_INTERVAL`
    /// in milliseconds, else 60 s).
    pub fn with_interval(mut self, d: Duration) -> Self {
        self.interval = Some(d);
        self
    }

    /// Deadline of one export (default: `OTEL_METRIC_EXPORT_TIMEOUT` in
    /// milliseconds, else 30 s).
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Builds the reader and starts its thread; it exports once attached to
    /// a provider.
    pub fn build(self) -> PeriodicReader {
        self.build_with_env(|k| std::env::var(k).ok())
    }

    pub(crate) fn build_with_env(self, env: impl Fn(&str) -> Option<String>) -> PeriodicReader {
        let ms = |k: &str| {
            env(k).and_then(|v| match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(Duration::from_millis(n)),
                _ => {
                    crate::diagnostics::diag_warn!(
                        "{k}={v:?} is not a positive number of milliseconds; using the default"
                    );
                    None
                }
            })
        };
        let interval = self
            .interval
            .or_else(|| ms("OTEL_METRIC_EXPORT_INTERVAL"))
            .unwrap_or(DEFAULT_INTERVAL)
            .max(Duration::from_millis(1));
        let timeout = self
            .timeout
            .or_else(|| ms("OTEL_METRIC_EXPORT_TIMEOUT"))
            .unwrap_or(DEFAULT_TIMEOUT);
        let inner = Arc::new(Inner {
            core: ReaderCore::new(self.exporter.temporality()),
            exporter: self.exporter,
            interval,
            timeout,
            export_lock: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new()
            .name("ferrometer-periodic".into())
            .spawn(move || run(weak));
        match spawned {
            Ok(h) => {
                let id = h.thread().id();
                *lock(&inner.thread) = Some((h, id));
            }
            Err(e) => diag_error!("periodic reader: cannot start its thread: {e}"),
        }
        PeriodicReader { inner }
    }
}

fn run(weak: std::sync::Weak<Inner>) {
    let mut next = Instant::now();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        next += inner.interval;
        {
            let mut stop = lock(&inner.stop);
            loop {
                if *stop {
                    return;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                stop = inner
                    .wake
                    .wait_timeout(stop, next - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        // A late tick (a slow export) does not cause a burst of catch-up
        // exports: the schedule restarts from now.
        if Instant::now() > next + inner.interval {
            next = Instant::now();
        }
        match inner.collect_and_export(Instant::now() + inner.timeout) {
            Ok(()) | Err(Error::ReaderNotRegistered) => {}
            Err(Error::Shutdown) => return,
            Err(e) => diag_error!("{} export failed: {e}", inner.exporter.name()),
        }
    }
}

impl Inner {
    fn collect_and_export(&self, deadline: Instant) -> Result<()> {
        let _g = lock(&self.export_lock);
        let rm = self.core.collect()?;
        let points = rm.point_count() as u64;
        let res = if Instant::now() >= deadline {
            Err(Error::Timeout)
        } else {
            self.exporter.export_owned(rm, deadline)
        };
        res.map_err(|e| undelivered(self.exporter.name(), points, e))
    }
}

/// A failed export's error, counting the snapshot's points as not
/// delivered unless the exporter counted them itself.
fn undelivered(name: &str, points: u64, e: Error) -> Error {
    match e {
        e @ (Error::NotDelivered { .. } | Error::Shutdown) => e,
        e => Error::NotDelivered {
            points,
            deadline_passed: e == Error::Timeout,
            message: format!(
                "{name} export failed, {points} point(s) not delivered: {}",
                e.detail()
            ),
        },
    }
}

impl PeriodicReader {
    /// A reader for `exporter`; configure it with the builder.
    pub fn builder(exporter: impl PushExporter) -> PeriodicReaderBuilder {
        PeriodicReaderBuilder {
            exporter: Box::new(exporter),
            interval: None,
            timeout: None,
        }
    }

    /// The interval between exports.
    pub fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// The deadline of one export.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }
}

impl MetricReader for PeriodicReader {
    fn core(&self) -> &Arc<ReaderCore> {
        &self.inner.core
    }

    /// Registers the exporter's self-metrics (an export pipeline's
    /// `ferrometer.exporter.*`) with the provider.
    fn on_attach(&self, provider: &crate::MeterProvider) -> Result<()> {
        self.inner.exporter.register_self_metrics(provider)
    }

    /// Collects and exports now (waits for an export in progress first).
    fn force_flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout.min(self.inner.timeout);
        self.inner.collect_and_export(deadline)?;
        self.inner
            .exporter
            .force_flush(deadline.saturating_duration_since(Instant::now()))
    }

    /// Stops the thread, does a last export within `timeout`, then shuts
    /// the exporter down. Idempotent.
    fn shutdown(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        {
            let mut stop = lock(&self.inner.stop);
            if *stop {
                return Ok(());
            }
            *stop = true;
        }
        self.inner.wake.notify_all();
        let mut own_thread = false;
        if let Some((h, id)) = lock(&self.inner.thread).take() {
            // The provider can be shut down from our own thread (its last
            // handle released by the exporter during an export): never
            // join ourselves.
            own_thread = id == std::thread::current().id();
            if !own_thread {
                let _ = h.join();
            }
        }
        let res = if own_thread {
            // The export in progress on this thread is the last one (it
            // holds the export lock a final export would wait for).
            crate::diagnostics::diag_warn!(
                "{}: provider shut down from inside its own export; that export is the last",
                self.inner.exporter.name()
            );
            Ok(())
        } else {
            match self.inner.collect_and_export(deadline) {
                Ok(()) | Err(Error::ReaderNotRegistered) => Ok(()),
                Err(e) => Err(e),
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let shut = self.inner.exporter.shutdown(left);
        super::merge_results(res, shut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::data::ResourceMetrics;
    use crate::{KeyValue, MeterProvider, MetricData, Number, TemporalityPreference};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Default)]
    struct Capture {
        exports: Arc<Mutex<Vec<u64>>>,
        in_export: Arc<AtomicUsize>,
        overlaps: Arc<AtomicUsize>,
        shutdowns: Arc<AtomicUsize>,
        slow: Duration,
        pref: Option<TemporalityPreference>,
    }

    impl PushExporter for Capture {
        fn export(&self, rm: &ResourceMetrics, _deadline: Instant) -> Result<()> {
            if self.in_export.fetch_add(1, Ordering::SeqCst) > 0 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(self.slow);
            let v = match rm.metric("c").map(|m| &m.data) {
                Some(MetricData::Sum(s)) => match s.points[0].value {
                    Number::U64(v) => v,
                    _ => 0,
                },
                _ => 0,
            };
            lock(&self.exports).push(v);
            self.in_export.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
        fn temporality(&self) -> TemporalityPreference {
            self.pref.unwrap_or_default()
        }
        fn shutdown(&self, _t: Duration) -> Result<()> {
            self.shutdowns.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn name(&self) -> &'static str {
            "capture"
        }
    }

    #[test]
    fn exports_on_interval_flush_and_shutdown() {
        crate::diagnostics::set_silent();
        let cap = Capture::default();
        let r = PeriodicReader::builder(cap.clone())
            .with_interval(Duration::from_millis(30))
            .build();
        let p = MeterProvider::builder().with_reader(r.clone()).build();
        let c = p.meter("m").u64_counter("c").build().unwrap();
        c.add(5, &[KeyValue::new("k", "v")]);
        std::thread::sleep(Duration::from_millis(200));
        let n = lock(&cap.exports).len();
        assert!(n >= 2, "only {n} periodic exports in 200 ms at 30 ms");
        c.add(1, &[KeyValue::new("k", "v")]);
        p.force_flush(Duration::from_secs(1)).unwrap();
        assert_eq!(*lock(&cap.exports).last().unwrap(), 6);
        c.add(4, &[KeyValue::new("k", "v")]);
        p.shutdown_with_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            *lock(&cap.exports).last().unwrap(),
            10,
            "shutdown does a last export"
        );
        assert_eq!(cap.shutdowns.load(Ordering::SeqCst), 1);
        let after = lock(&cap.exports).len();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(lock(&cap.exports).len(), after, "no export after shutdown");
        assert!(p.shutdown().is_ok());
        assert_eq!(cap.shutdowns.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn exports_never_overlap() {
        crate::diagnostics::set_silent();
        let cap = Capture {
            slow: Duration::from_millis(20),
            ..Default::default()
        };
        let r = PeriodicReader::builder(cap.clone())
            .with_interval(Duration::from_millis(5))
            .build();
        let p = MeterProvider::builder().with_reader(r.clone()).build();
        p.meter("m").u64_counter("c").build().unwrap().add(1, &[]);
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || p.force_flush(Duration::from_secs(2)))
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
        std::thread::sleep(Duration::from_millis(60));
        p.shutdown().unwrap();
        assert_eq!(cap.overlaps.load(Ordering::SeqCst), 0);
        assert!(lock(&cap.exports).len() >= 4);
    }

    #[test]
    fn delta_exporter_gets_deltas() {
        crate::diagnostics::set_silent();
        let cap = Capture {
            pref: Some(TemporalityPreference::Delta),
            ..Default::default()
        };
        let r = PeriodicReader::builder(cap.clone())
            .with_interval(Duration::from_secs(3600))
            .build();
        let p = MeterProvider::builder().with_reader(r).build();
        let c = p.meter("m").u64_counter("c").build().unwrap();
        c.add(3, &[]);
        p.force_flush(Duration::from_secs(1)).unwrap();
        c.add(4, &[]);
        p.force_flush(Duration::from_secs(1)).unwrap();
        assert_eq!(*lock(&cap.exports), vec![3, 4]);
    }

    #[test]
    fn final_export_includes_observables() {
        crate::diagnostics::set_silent();
        let seen = Arc::new(Mutex::new(Vec::new()));
        struct Names(Arc<Mutex<Vec<String>>>);
        impl PushExporter for Names {
            fn export(&self, rm: &ResourceMetrics, _d: Instant) -> Result<()> {
                let names = rm
                    .scope_metrics
                    .iter()
                    .flat_map(|s| s.metrics.iter().map(|m| m.name.to_string()))
                    .collect::<Vec<_>>()
                    .join(",");
                lock(&self.0).push(names);
                Ok(())
            }
            fn name(&self) -> &'static str {
                "names"
            }
        }
        let r = PeriodicReader::builder(Names(seen.clone()))
            .with_interval(Duration::from_secs(3600))
            .build();
        let p = MeterProvider::builder().with_reader(r).build();
        let m = p.meter("m");
        m.u64_counter("c").build().unwrap().add(1, &[]);
        let _g = m
            .i64_observable_gauge("load")
            .with_callback(|g| g.observe(7, &[]))
            .build()
            .unwrap();
        p.shutdown().unwrap();
        let last = lock(&seen).last().cloned().unwrap();
        assert!(
            last.contains("load") && last.contains('c'),
            "final export: {last}"
        );
    }

    #[test]
    fn env_defaults() {
        let r = PeriodicReader::builder(Capture::default()).build_with_env(|k| match k {
            "OTEL_METRIC_EXPORT_INTERVAL" => Some("1500".into()),
            "OTEL_METRIC_EXPORT_TIMEOUT" => Some("nonsense".into()),
            _ => None,
        });
        assert_eq!(r.interval(), Duration::from_millis(1500));
        assert_eq!(r.timeout(), DEFAULT_TIMEOUT);
        let r = PeriodicReader::builder(Capture::default())
            .with_interval(Duration::from_secs(2))
            .build_with_env(|_| Some("10".into()));
        assert_eq!(r.interval(), Duration::from_secs(2));
        assert_eq!(r.timeout(), Duration::from_millis(10));
    }
}
