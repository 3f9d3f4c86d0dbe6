//! Host metric producers: points with their own timestamps reach every
//! reader and the Prometheus encoder; what client_golang's gather would
//! refuse (duplicate series, duplicate label names, inconsistent types)
//! is refused with a diagnostic and never exported.

use ferrometer::export::prometheus::encode_text;
use ferrometer::producer::{PointKind, ProducedMetric, ProducerBatch};
use ferrometer::{
    Error, InstrumentationScope, KeyValue, ManualReader, MeterProvider, MetricData, Number,
    Resource, Temporality, TemporalityPreference,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const T0: u64 = 1_700_000_000_000_000_000;

/// Serializes the tests that install a (process-wide) diagnostics handler.
static DIAG: Mutex<()> = Mutex::new(());

fn provider(reader: &ManualReader) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build()
}

fn kv(k: &'static str, v: &'static str) -> KeyValue {
    KeyValue::new(k, v)
}

#[test]
fn points_with_own_timestamps_reach_the_snapshot_and_encoder() {
    let reader = ManualReader::default();
    let p = provider(&reader);
    let events = ProducedMetric::new("host.events", PointKind::Gauge).with_description("Events.");
    let bytes = ProducedMetric::new("host.bytes", PointKind::COUNTER).with_unit("By");
    let lat = ProducedMetric::new("host.latency", PointKind::HISTOGRAM).with_unit("s");
    let reg = p.register_producer(
        InstrumentationScope::new("host").with_version("2"),
        move |b: &mut ProducerBatch| {
            // Two events of one series at different times: both kept.
            b.add_number(&events, &[kv("kind", "login")], Number::I64(1), T0, 0)?;
            b.add_number(
                &events,
                &[kv("kind", "login")],
                Number::I64(2),
                T0 + 1_000_000,
                0,
            )?;
            b.add_number(&bytes, &[], Number::U64(4096), 0, T0)?;
            b.add_histogram(&lat, &[], &[0.1, 1.0], &[1, 2, 3], 7.5, None, 0, T0)?;
            Ok(())
        },
    );
    let rm = reader.collect().unwrap();
    let m = rm.metric("host.events").unwrap();
    let MetricData::Gauge(g) = &m.data else {
        panic!("gauge expected")
    };
    assert_eq!(g.points.len(), 2);
    assert!(g.points.iter().all(|p| p.explicit_time));
    assert_eq!(g.points[1].time, T0 + 1_000_000);
    let MetricData::Sum(s) = &rm.metric("host.bytes").unwrap().data else {
        panic!("sum expected")
    };
    assert!(s.is_monotonic && s.temporality == Temporality::Cumulative);
    assert!(!s.points[0].explicit_time && s.points[0].start_time == T0);
    let MetricData::Histogram(h) = &rm.metric("host.latency").unwrap().data else {
        panic!("histogram expected")
    };
    assert_eq!(h.points[0].count, 6);
    let scope = rm
        .scope_metrics
        .iter()
        .find(|s| s.scope.name() == "host")
        .unwrap();
    assert_eq!(scope.scope.version(), Some("2"));

    let mut text = Vec::new();
    encode_text(&rm, &mut text);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("host_events{kind=\"login\",otel_scope_name=\"host\",otel_scope_version=\"2\"} 1 1700000000000\n"),
        "{text}"
    );
    assert!(text.contains("host_bytes_total{"), "{text}");
    assert!(text.contains("host_latency_seconds_count{"), "{text}");
    assert_eq!(reg.refused(), 0);

    // Unregistered: no more points.
    assert!(reg.unregister());
    assert!(reader.collect().unwrap().metric("host.events").is_none());
    assert!(!reg.unregister());
}

#[test]
fn gather_checks_refuse_broken_points() {
    let _diag = DIAG.lock().unwrap_or_else(|p| p.into_inner());
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = messages.clone();
    ferrometer::diagnostics::set_handler(move |_, m| sink.lock().unwrap().push(m.to_string()));
    let reader = ManualReader::default();
    let p = provider(&reader);
    // An SDK instrument owns its name.
    p.meter("sdk")
        .u64_counter("sdk.requests")
        .build()
        .unwrap()
        .add(1, &[]);
    let errors = Arc::new(Mutex::new(Vec::<Error>::new()));
    let errs = errors.clone();
    let reg = p.register_producer(
        InstrumentationScope::new("host"),
        move |b: &mut ProducerBatch| {
            let g = ProducedMetric::new("q.depth", PointKind::Gauge);
            let mut e = Vec::new();
            b.add_number(&g, &[kv("q", "a")], Number::I64(1), T0, 0)?;
            // Duplicate series: same name, labels and timestamp.
            e.extend(
                b.add_number(&g, &[kv("q", "a")], Number::I64(2), T0, 0)
                    .err(),
            );
            // Duplicate label names.
            e.extend(
                b.add_number(&g, &[kv("q", "b"), kv("q", "c")], Number::I64(3), T0, 0)
                    .err(),
            );
            // Same name, another type.
            let as_counter = ProducedMetric::new("q.depth", PointKind::COUNTER);
            e.extend(
                b.add_number(&as_counter, &[kv("q", "z")], Number::I64(4), T0, 0)
                    .err(),
            );
            // Same name, another unit.
            let other_unit = ProducedMetric::new("q.depth", PointKind::Gauge).with_unit("s");
            e.extend(
                b.add_number(&other_unit, &[kv("q", "y")], Number::I64(5), T0, 0)
                    .err(),
            );
            // The name of an SDK instrument.
            let taken = ProducedMetric::new("sdk.requests", PointKind::COUNTER);
            e.extend(b.add_number(&taken, &[], Number::U64(9), 0, 0).err());
            // Bad values and names.
            let c = ProducedMetric::new("c", PointKind::COUNTER);
            e.extend(b.add_number(&c, &[], Number::F64(-1.0), 0, 0).err());
            e.extend(b.add_number(&c, &[], Number::F64(f64::NAN), 0, 0).err());
            let bad = ProducedMetric::new("9bad", PointKind::Gauge);
            e.extend(b.add_number(&bad, &[], Number::I64(1), 0, 0).err());
            let h = ProducedMetric::new("h", PointKind::HISTOGRAM);
            e.extend(
                b.add_histogram(&h, &[], &[1.0], &[1], 0.0, None, 0, 0)
                    .err(),
            );
            e.extend(
                b.add_histogram(&h, &[], &[2.0, 1.0], &[1, 1, 1], 0.0, None, 0, 0)
                    .err(),
            );
            e.extend(b.add_number(&h, &[], Number::I64(1), 0, 0).err());
            // Still fine after all that.
            b.add_number(&g, &[kv("q", "b")], Number::I64(6), T0, 0)?;
            errs.lock().unwrap().extend(e);
            Ok(())
        },
    );
    let rm = reader.collect().unwrap();
    ferrometer::diagnostics::reset_handler();
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 11, "{errors:?}");
    assert_eq!(reg.refused(), 11);
    let all = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "duplicate series",
        "same name \"q\"",
        "earlier point of that name is a gauge",
        "has unit \"s\"",
        "used by an instrument of the SDK",
        "must be a number >= 0",
        "one more count than bounds",
        "strictly increasing",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    // A diagnostic went out (rate-limited to one per registration).
    let msgs = messages.lock().unwrap();
    assert!(
        msgs.iter()
            .any(|m| m.contains("metric producer \"host\"") && m.contains("refused")),
        "{msgs:?}"
    );
    // Only the valid points were exported.
    let MetricData::Gauge(g) = &rm.metric("q.depth").unwrap().data else {
        panic!()
    };
    assert_eq!(g.points.len(), 2);
    assert!(rm.metric("c").is_none() && rm.metric("h").is_none());
    let sdk = rm
        .scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter())
        .filter(|m| &*m.name == "sdk.requests")
        .count();
    assert_eq!(sdk, 1);
}

#[test]
fn checks_span_producers_and_failures_drop_everything_a_call_added() {
    let _diag = DIAG.lock().unwrap_or_else(|p| p.into_inner());
    let reader = ManualReader::default();
    let p = provider(&reader);
    let g = ProducedMetric::new("shared", PointKind::Gauge);
    let g1 = g.clone();
    let r1 = p.register_producer(
        InstrumentationScope::new("one"),
        move |b: &mut ProducerBatch| b.add_number(&g1, &[kv("a", "1")], Number::I64(1), T0, 0),
    );
    // A second producer repeating the series is refused; its other points stay.
    let g2 = g.clone();
    let r2 = p.register_producer(
        InstrumentationScope::new("one"),
        move |b: &mut ProducerBatch| {
            assert!(b
                .add_number(&g2, &[kv("a", "1")], Number::I64(2), T0, 0)
                .is_err());
            b.add_number(&g2, &[kv("a", "2")], Number::I64(3), T0, 0)
        },
    );
    // A failing producer: nothing it added survives, and its names are free again.
    let r3 = p.register_producer(
        InstrumentationScope::new("three"),
        |b: &mut ProducerBatch| {
            let x = ProducedMetric::new("failing", PointKind::COUNTER);
            b.add_number(&x, &[], Number::U64(1), 0, 0)?;
            Err(Error::Failed("host source unavailable".into()))
        },
    );
    let r4 = p.register_producer(
        InstrumentationScope::new("four"),
        |b: &mut ProducerBatch| {
            let x = ProducedMetric::new("failing", PointKind::Gauge);
            b.add_number(&x, &[], Number::I64(5), 0, 0)?;
            let y = ProducedMetric::new("panicking", PointKind::Gauge);
            let _ = y;
            Ok(())
        },
    );
    let r5 = p.register_producer(
        InstrumentationScope::new("five"),
        |b: &mut ProducerBatch| {
            let y = ProducedMetric::new("panicking", PointKind::Gauge);
            b.add_number(&y, &[], Number::I64(5), 0, 0)?;
            panic!("producer bug");
        },
    );
    ferrometer::diagnostics::set_silent();
    let rm = reader.collect().unwrap();
    ferrometer::diagnostics::reset_handler();
    let MetricData::Gauge(sg) = &rm.metric("shared").unwrap().data else {
        panic!()
    };
    assert_eq!(sg.points.len(), 2);
    assert_eq!(r1.refused() + r2.refused(), 1);
    assert_eq!(r3.refused(), 1);
    assert!(matches!(
        rm.metric("failing").unwrap().data,
        MetricData::Gauge(_)
    ));
    assert!(rm.metric("panicking").is_none());
    assert_eq!(r4.refused(), 0);
    assert_eq!(r5.refused(), 1);
}

#[test]
fn every_reader_is_asked_with_its_own_id_and_temporality() {
    let cumulative = ManualReader::default();
    let delta = ManualReader::new(TemporalityPreference::Delta);
    let p = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (calls.clone(), seen.clone());
    let _reg = p.register_producer(
        InstrumentationScope::new("host"),
        move |b: &mut ProducerBatch| {
            c.fetch_add(1, Ordering::Relaxed);
            let t = b.temporality(ferrometer::InstrumentKind::Counter);
            s.lock().unwrap().push((b.reader_id(), t));
            let m = ProducedMetric::new(
                "events",
                PointKind::Sum {
                    monotonic: true,
                    temporality: t,
                },
            );
            b.add_number(&m, &[], Number::U64(1), 0, 0)
        },
    );
    let a = cumulative.collect().unwrap();
    let d = delta.collect().unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let seen = seen.lock().unwrap();
    assert_ne!(seen[0].0, seen[1].0);
    assert_eq!(seen[0].1, Temporality::Cumulative);
    assert_eq!(seen[1].1, Temporality::Delta);
    let temp = |rm: &ferrometer::ResourceMetrics| match &rm.metric("events").unwrap().data {
        MetricData::Sum(s) => s.temporality,
        _ => panic!(),
    };
    assert_eq!(temp(&a), Temporality::Cumulative);
    assert_eq!(temp(&d), Temporality::Delta);
}
