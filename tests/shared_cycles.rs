//! One walk for many readers: the collection window (a reader collecting
//! shortly after a cycle it shared is served from that cycle's reading)
//! and the periodic readers of one interval driven by one timer, collected
//! in one cycle.

use ferrometer::export::PushExporter;
use ferrometer::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The value and time of the only point of counter `c`, if any.
fn point(rm: &ResourceMetrics) -> Option<(u64, u64)> {
    match rm.metric("c").map(|m| &m.data) {
        Some(MetricData::Sum(s)) => {
            assert!(s.points.len() <= 1);
            s.points.first().map(|p| match p.value {
                Number::U64(v) => (v, p.time),
                other => panic!("{other:?}"),
            })
        }
        None => None,
        other => panic!("{other:?}"),
    }
}

/// A cumulative and a delta reader, an observable gauge counting its
/// callbacks, and the counter `c`.
struct Setup {
    p: MeterProvider,
    cum: ManualReader,
    delta: ManualReader,
    c: Counter<u64>,
    callbacks: Arc<AtomicU64>,
    _gauge: ObservableGauge<i64>,
}

/// An observable gauge on `m` whose callback counts its runs.
fn counted_gauge(m: &Meter) -> (ObservableGauge<i64>, Arc<AtomicU64>) {
    let callbacks = Arc::new(AtomicU64::new(0));
    let n = callbacks.clone();
    let gauge = m
        .i64_observable_gauge("g")
        .with_callback(move |g| {
            n.fetch_add(1, Ordering::SeqCst);
            g.observe(1, &[]);
        })
        .build()
        .unwrap();
    (gauge, callbacks)
}

fn setup(window: Duration) -> Setup {
    diagnostics::set_silent();
    let cum = ManualReader::new(TemporalityPreference::Cumulative);
    let delta = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_reader(cum.clone())
        .with_reader(delta.clone())
        .with_collection_window(window)
        .build();
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let (gauge, callbacks) = counted_gauge(&m);
    Setup {
        p,
        cum,
        delta,
        c,
        callbacks,
        _gauge: gauge,
    }
}

#[test]
fn a_reader_within_the_window_is_served_from_the_cycle_it_shared() {
    let s = setup(Duration::from_secs(60));
    s.c.add(5, &[]);
    let (v, t1) = point(&s.cum.collect().unwrap()).unwrap();
    assert_eq!((v, s.callbacks.load(Ordering::SeqCst)), (5, 1));
    s.c.add(3, &[]);
    // Served from the cumulative reader's cycle: its reading and time,
    // no callbacks, no walk.
    let served = point(&s.delta.collect().unwrap()).unwrap();
    assert_eq!(served, (5, t1));
    assert_eq!(s.callbacks.load(Ordering::SeqCst), 1);
    // (Cycles 2 ms apart: a reader's times are at least 1 ms apart.)
    std::thread::sleep(Duration::from_millis(2));
    // The delta reader emitted that cycle: it walks anew and gets the rest.
    let (v, t2) = point(&s.delta.collect().unwrap()).unwrap();
    assert_eq!((v, s.callbacks.load(Ordering::SeqCst)), (3, 2));
    assert!(t2 > t1);
    // The cumulative reader is served from the delta reader's cycle.
    assert_eq!(point(&s.cum.collect().unwrap()).unwrap(), (8, t2));
    assert_eq!(s.callbacks.load(Ordering::SeqCst), 2);
    // And walks anew after it.
    s.c.add(1, &[]);
    assert_eq!(point(&s.cum.collect().unwrap()).unwrap().0, 9);
    assert_eq!(s.callbacks.load(Ordering::SeqCst), 3);
    s.p.shutdown().unwrap();
}

#[test]
fn the_default_window_serves_for_100_ms() {
    assert_eq!(DEFAULT_COLLECTION_WINDOW, Duration::from_millis(100));
    diagnostics::set_silent();
    let (a, b) = (ManualReader::default(), ManualReader::default());
    let p = MeterProvider::builder()
        .with_reader(a.clone())
        .with_reader(b.clone())
        .build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[]);
    let t = Instant::now();
    a.collect().unwrap();
    c.add(1, &[]);
    let served = point(&b.collect().unwrap()).unwrap().0;
    if t.elapsed() < DEFAULT_COLLECTION_WINDOW {
        assert_eq!(served, 1, "served from the first reader's cycle");
    }
    // Past the window, every reader reads anew: the second one does not
    // get the first one's reading (2).
    a.collect().unwrap();
    c.add(1, &[]);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(point(&b.collect().unwrap()).unwrap().0, 3);
    p.shutdown().unwrap();
}

#[test]
fn a_zero_window_reads_anew_for_every_reader() {
    let s = setup(Duration::ZERO);
    s.c.add(5, &[]);
    let (_, t1) = point(&s.cum.collect().unwrap()).unwrap();
    s.c.add(3, &[]);
    let (v, t2) = point(&s.delta.collect().unwrap()).unwrap();
    assert_eq!(v, 8);
    assert!(t2 > t1);
    assert_eq!(s.callbacks.load(Ordering::SeqCst), 2);
    s.p.shutdown().unwrap();
}

#[test]
fn after_the_window_a_reader_reads_anew() {
    let s = setup(Duration::from_millis(30));
    s.c.add(5, &[]);
    s.cum.collect().unwrap();
    s.c.add(3, &[]);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(point(&s.delta.collect().unwrap()).unwrap().0, 8);
    assert_eq!(s.callbacks.load(Ordering::SeqCst), 2);
    s.p.shutdown().unwrap();
}

#[test]
fn a_served_reading_stays_later_than_the_readers_previous_collection() {
    let s = setup(Duration::from_secs(60));
    s.c.add(1, &[]);
    // Collections less than 1 ms apart: the delta reader's times (each at
    // least 1 ms after the previous) run ahead of the clock. Collect until
    // they are 5 ms ahead.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let mut delta_total = 0;
    let mut last = 0;
    for _ in 0..20_000 {
        if let Some((v, _)) = point(&s.delta.collect().unwrap()) {
            delta_total += v;
        }
        // An empty collection carries no point: the gauge's time tells.
        let rm = s.delta.collect().unwrap();
        if let Some(MetricData::Gauge(g)) = rm.metric("g").map(|m| &m.data) {
            last = g.points[0].time;
        }
        if last > now() + 5_000_000 {
            break;
        }
    }
    assert!(last > now(), "collections never ran ahead of the clock");
    assert_eq!(delta_total, 1);
    s.c.add(1, &[]);
    // The cumulative reader shared the delta reader's last cycle: served.
    let n = s.callbacks.load(Ordering::SeqCst);
    assert_eq!(point(&s.cum.collect().unwrap()).unwrap().0, 1);
    assert_eq!(s.callbacks.load(Ordering::SeqCst), n);
    // Then it walks anew; the delta reader shares that cycle but would
    // have to carry a time earlier than its previous one: it walks too.
    let (v, t) = point(&s.cum.collect().unwrap()).unwrap();
    assert_eq!((v, s.callbacks.load(Ordering::SeqCst)), (2, n + 1));
    assert!(t < last, "the cycle's time is behind the delta reader's");
    s.c.add(1, &[]);
    let (v, t2) = point(&s.delta.collect().unwrap()).unwrap();
    assert_eq!((v, s.callbacks.load(Ordering::SeqCst)), (2, n + 2));
    assert!(t2 > last);
    s.p.shutdown().unwrap();
}

/// A push exporter keeping the value and time of `c` in each export.
#[derive(Clone, Default)]
struct Capture {
    exports: Arc<Mutex<Vec<(u64, u64)>>>,
    delta: bool,
}

impl PushExporter for Capture {
    fn export(&self, rm: &ResourceMetrics, _deadline: Instant) -> Result<()> {
        if let Some(p) = point(rm) {
            self.exports.lock().unwrap().push(p);
        }
        Ok(())
    }
    fn temporality(&self) -> TemporalityPreference {
        if self.delta {
            TemporalityPreference::Delta
        } else {
            TemporalityPreference::Cumulative
        }
    }
    fn name(&self) -> &'static str {
        "capture"
    }
}

#[test]
fn periodic_readers_of_one_interval_share_one_timer_and_one_cycle() {
    diagnostics::set_silent();
    let cum = Capture::default();
    let delta = Capture {
        delta: true,
        ..Default::default()
    };
    let every = Duration::from_millis(40);
    // No window: only the shared schedule can make the two readers share
    // their cycles.
    let p = MeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(cum.clone())
                .with_interval(every)
                .build(),
        )
        .with_reader(
            PeriodicReader::builder(delta.clone())
                .with_interval(every)
                .build(),
        )
        .with_collection_window(Duration::ZERO)
        .build();
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let (_g, callbacks) = counted_gauge(&m);
    let t0 = Instant::now();
    let mut total = 0;
    while t0.elapsed() < Duration::from_millis(400) {
        c.add(1, &[]);
        total += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let cycles = callbacks.load(Ordering::SeqCst);
    let times =
        |c: &Capture| -> BTreeSet<u64> { c.exports.lock().unwrap().iter().map(|e| e.1).collect() };
    let (tc, td) = (times(&cum), times(&delta));
    // Each tick: one cycle (callbacks once) whose time both readers carry.
    let common = tc.intersection(&td).count();
    assert!(common >= 4, "shared ticks: {common} ({tc:?} / {td:?})");
    let all = tc.union(&td).count() as u64;
    assert!(
        cycles <= all + 1,
        "{cycles} cycles for {} + {} exports",
        tc.len(),
        td.len()
    );
    p.shutdown().unwrap();
    // Nothing lost or counted twice: the delta exports add up to the
    // cumulative reader's last value, and both to what was recorded.
    let sum: u64 = delta.exports.lock().unwrap().iter().map(|e| e.0).sum();
    let last = cum.exports.lock().unwrap().last().unwrap().0;
    assert_eq!((sum, last), (total, total));
}
