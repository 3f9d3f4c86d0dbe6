//! The provider's lifecycle at its edges: the release of the last handle
//! shuts it down (final export included) whoever else holds meters or
//! instruments; the SDK's own self-metrics stop only after the exporters
//! that record them; every collection of a reader is stamped strictly
//! later than its previous one.

use ferrometer::export::pipeline::{ExportPipeline, Outcome, Transport};
use ferrometer::export::PushExporter;
use ferrometer::{
    Error, KeyValue, ManualReader, MeterProvider, MetricData, Number, PeriodicReader,
    ResourceMetrics, TemporalityPreference,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Keeps the value of the counter `c` each export carried.
#[derive(Clone, Default)]
struct Capture {
    exports: Arc<Mutex<Vec<u64>>>,
    shutdowns: Arc<AtomicUsize>,
}

impl PushExporter for Capture {
    fn export(&self, rm: &ResourceMetrics, _deadline: Instant) -> ferrometer::Result<()> {
        let v = match rm.metric("c").map(|m| &m.data) {
            Some(MetricData::Sum(s)) => s
                .points
                .iter()
                .map(|p| match p.value {
                    Number::U64(v) => v,
                    _ => 0,
                })
                .sum(),
            _ => 0,
        };
        self.exports.lock().unwrap().push(v);
        Ok(())
    }
    fn shutdown(&self, _timeout: Duration) -> ferrometer::Result<()> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn name(&self) -> &'static str {
        "capture"
    }
}

fn hour_reader(cap: &Capture) -> PeriodicReader {
    PeriodicReader::builder(cap.clone())
        .with_interval(Duration::from_secs(3600))
        .build()
}

#[test]
fn dropping_the_last_handle_exports_the_final_interval() {
    ferrometer::diagnostics::set_silent();
    let cap = Capture::default();
    let p = MeterProvider::builder()
        .with_reader(hour_reader(&cap))
        .build();
    let clone = p.clone();
    let meter = p.meter("m");
    let c = meter.u64_counter("c").build().unwrap();
    c.add(5, &[KeyValue::new("k", "a")]);
    c.add(7, &[KeyValue::new("k", "b")]);
    drop(p);
    assert!(
        cap.exports.lock().unwrap().is_empty(),
        "another handle is alive: no shutdown yet"
    );
    let started = Instant::now();
    // The meter and the instrument outlive the last provider handle.
    drop(clone);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        *cap.exports.lock().unwrap(),
        vec![12],
        "the release of the last handle does the final export"
    );
    assert_eq!(cap.shutdowns.load(Ordering::SeqCst), 1);
    // The instrument still works as after an explicit shutdown.
    c.add(1, &[KeyValue::new("k", "a")]);
    assert!(meter.u64_counter("c2").build().is_ok());
    assert_eq!(cap.exports.lock().unwrap().len(), 1);
}

#[test]
fn dropping_the_last_handle_and_every_meter_exports_too() {
    ferrometer::diagnostics::set_silent();
    let cap = Capture::default();
    let p = MeterProvider::builder()
        .with_reader(hour_reader(&cap))
        .build();
    p.meter("m").u64_counter("c").build().unwrap().add(3, &[]);
    drop(p);
    assert_eq!(*cap.exports.lock().unwrap(), vec![3]);
    assert_eq!(cap.shutdowns.load(Ordering::SeqCst), 1);
}

#[test]
fn meters_and_observables_do_not_keep_a_released_provider_alive() {
    ferrometer::diagnostics::set_silent();
    let reader = ManualReader::default();
    let p = MeterProvider::builder().with_reader(reader.clone()).build();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let meter = p.meter("m");
    let gauge = meter
        .i64_observable_gauge("g")
        .with_callback(move |g| {
            seen.fetch_add(1, Ordering::SeqCst);
            g.observe(1, &[]);
        })
        .build()
        .unwrap();
    reader.collect().unwrap();
    drop(p);
    // The meter and the gauge (an observable instrument) are still alive.
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(reader.collect().unwrap_err(), Error::Shutdown);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "no callback after shutdown"
    );
    drop(gauge);
    drop(meter);
}

/// A transport whose first request waits at a gate the test opens.
#[derive(Clone, Default)]
struct Gate {
    state: Arc<(Mutex<(bool, bool)>, Condvar)>, // (first request waiting, gate open)
}

impl Gate {
    fn wait_first_request(&self) {
        let (m, cv) = &*self.state;
        let mut g = m.lock().unwrap();
        while !g.0 {
            g = cv.wait(g).unwrap();
        }
    }
    fn open(&self) {
        let (m, cv) = &*self.state;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }
}

impl Transport for Gate {
    fn send(&self, _body: &[u8], _timeout: Duration) -> Outcome {
        let (m, cv) = &*self.state;
        let mut g = m.lock().unwrap();
        g.0 = true;
        cv.notify_all();
        while !g.1 {
            g = cv.wait(g).unwrap();
        }
        Outcome::Delivered
    }
    fn name(&self) -> &'static str {
        "gate"
    }
}

/// The pipeline records each request's duration in its self-metric
/// histogram. A request that ends while the provider shuts down (here: the
/// one in flight ends during the final collection) used to be rejected as
/// "measurement after shutdown": the provider stopped every synchronous
/// stream, its own self-metrics included, before the exporters stopped.
#[test]
fn self_metrics_record_until_the_exporters_stopped() {
    ferrometer::diagnostics::set_silent();
    let gate = Gate::default();
    let pipe = ExportPipeline::builder(gate.clone())
        .with_temporality(TemporalityPreference::Cumulative)
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(pipe.clone())
        .with_interval(Duration::from_millis(20))
        .build();
    let p = MeterProvider::builder().with_reader(reader).build();
    let shutting = Arc::new(AtomicBool::new(false));
    let (s, g, watch) = (shutting.clone(), gate.clone(), pipe.clone());
    let _probe = p
        .meter("m")
        .i64_observable_gauge("probe")
        .with_callback(move |o| {
            o.observe(1, &[]);
            if s.load(Ordering::SeqCst) {
                // The final collection: let the request in flight finish
                // and wait until the worker accounted for it (it records
                // the request's duration first).
                g.open();
                let until = Instant::now() + Duration::from_secs(10);
                while watch.stats().points_delivered == 0 && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
        .build()
        .unwrap();
    p.meter("m").u64_counter("c").build().unwrap().add(1, &[]);
    gate.wait_first_request();
    shutting.store(true, Ordering::SeqCst);
    p.shutdown_with_timeout(Duration::from_secs(10)).unwrap();
    assert!(pipe.stats().points_delivered > 0);
    assert_eq!(
        p.rejected().after_shutdown,
        0,
        "the pipeline's export duration was rejected as after-shutdown"
    );
}

/// Every time stamp of a snapshot's number points.
fn times(rm: &ResourceMetrics) -> Vec<u64> {
    rm.scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .flat_map(|m| match &m.data {
            MetricData::Sum(s) => s.points.iter().map(|p| p.time).collect::<Vec<_>>(),
            MetricData::Gauge(g) => g.points.iter().map(|p| p.time).collect(),
            MetricData::Histogram(h) => h.points.iter().map(|p| p.time).collect(),
            MetricData::ExponentialHistogram(h) => h.points.iter().map(|p| p.time).collect(),
        })
        .collect()
}

/// Prometheus keeps milliseconds and refuses a second value for a series
/// at one millisecond: two collections of a reader must differ there.
#[test]
fn each_collection_of_a_reader_is_stamped_a_millisecond_after_its_previous() {
    let a = ManualReader::default();
    let b = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(a.clone())
        .with_reader(b.clone())
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[]);
    let other = std::thread::spawn(move || {
        let mut last = 0;
        for i in 0..200 {
            c.add(1, &[]);
            // A delta collection that joined a cycle started before the
            // add reports nothing (the add comes in the next one).
            let t = times(&b.collect().unwrap());
            assert!(t.iter().all(|&t| t >= last + 1_000_000), "{i}");
            if let Some(&t) = t.first() {
                last = t;
            }
        }
    });
    let mut last = 0;
    for i in 0..200 {
        let t = times(&a.collect().unwrap());
        assert!(!t.is_empty());
        assert!(t.iter().all(|&x| x == t[0]), "one time per collection");
        assert!(
            t[0] / 1_000_000 > last / 1_000_000,
            "collection {i}: {} ms, previous {} ms",
            t[0] / 1_000_000,
            last / 1_000_000
        );
        last = t[0];
    }
    other.join().unwrap();
}

/// Keeps the last value of the gauge `g` each export carried.
#[derive(Clone, Default)]
struct GaugeCapture(Arc<Mutex<Vec<i64>>>);

impl PushExporter for GaugeCapture {
    fn export(&self, rm: &ResourceMetrics, _deadline: Instant) -> ferrometer::Result<()> {
        if let Some(MetricData::Gauge(g)) = rm.metric("g").map(|m| &m.data) {
            if let Number::I64(v) = g.points[0].value {
                self.0.lock().unwrap().push(v);
            }
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "gauge-capture"
    }
}

/// A scrape in progress when shutdown begins started its cycle (ran the
/// callbacks, began walking the streams) before recording stopped: the
/// final collection must not reuse it, or the last export carries
/// observations older than the shutdown.
#[test]
fn the_final_collection_does_not_join_a_cycle_started_before_shutdown() {
    ferrometer::diagnostics::set_silent();
    let cap = GaugeCapture::default();
    let scraper = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(scraper.clone())
        .with_reader(
            PeriodicReader::builder(cap.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    // The first call (the scrape's) waits at a gate; each call observes
    // how many calls there were.
    let gate = Arc::new((Mutex::new((false, false)), Condvar::new())); // (in callback, open)
    let calls = Arc::new(AtomicUsize::new(0));
    let (g2, c2) = (gate.clone(), calls.clone());
    let _g = p
        .meter("m")
        .i64_observable_gauge("g")
        .with_callback(move |o| {
            let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                let (m, cv) = &*g2;
                let mut st = m.lock().unwrap();
                st.0 = true;
                cv.notify_all();
                while !st.1 {
                    st = cv.wait(st).unwrap();
                }
            }
            o.observe(n as i64, &[]);
        })
        .build()
        .unwrap();
    let scrape = std::thread::spawn(move || scraper.collect().map(|_| ()));
    {
        let (m, cv) = &*gate;
        let mut st = m.lock().unwrap();
        while !st.0 {
            st = cv.wait(st).unwrap();
        }
    }
    let p2 = p.clone();
    let shut = std::thread::spawn(move || p2.shutdown_with_timeout(Duration::from_secs(10)));
    // Let the shutdown reach its final collection, then finish the scrape.
    let until = Instant::now() + Duration::from_secs(10);
    while !p.is_shutdown() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    {
        let (m, cv) = &*gate;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }
    scrape.join().unwrap().unwrap();
    shut.join().unwrap().unwrap();
    assert_eq!(
        *cap.0.lock().unwrap(),
        vec![2],
        "the final export observed after shutdown began (its own cycle)"
    );
}
