//! Input that used to be accepted but recorded or exported wrongly
//! (issue 12, section 4), through the Rust API. The C ABI's side is in
//! `cpp_tests/bad_input_test.cpp`.

use ferrometer::aggregation::MAX_BOUNDARIES;
use ferrometer::export::prometheus::{Format, PrometheusServer};
use ferrometer::export::pushgateway::PushgatewayExporter;
use ferrometer::producer::{PointKind, ProducedMetric, ProducerBatch};
use ferrometer::*;

mod promtool_support;

use promtool_support::promtool_check;

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

fn setup() -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder().with_reader(r.clone()).build();
    (p, r)
}

fn hist_points(rm: &ResourceMetrics, name: &str) -> Vec<HistogramPoint> {
    match &rm.metric(name).unwrap_or_else(|| panic!("no {name}")).data {
        MetricData::Histogram(h) => h.points.clone(),
        other => panic!("{name}: not a histogram: {other:?}"),
    }
}

fn sum_points(rm: &ResourceMetrics, name: &str) -> Vec<NumberPoint> {
    match &rm.metric(name).unwrap_or_else(|| panic!("no {name}")).data {
        MetricData::Sum(s) => s.points.clone(),
        other => panic!("{name}: not a sum: {other:?}"),
    }
}

fn u64_total(points: &[NumberPoint]) -> u64 {
    points
        .iter()
        .map(|p| match p.value {
            Number::U64(v) => v,
            other => panic!("{other:?}"),
        })
        .sum()
}

// ---- 1. u64 histogram values of 2^63 and more ----

/// Checks that one histogram point holds exactly the values `vals`, as
/// f64, in the right buckets, with the right sum, min and max.
fn assert_holds(p: &HistogramPoint, vals: &[u64]) {
    let fl: Vec<f64> = vals.iter().map(|v| *v as f64).collect();
    assert_eq!(p.count, vals.len() as u64);
    assert_eq!(p.sum, fl.iter().sum::<f64>());
    let min = fl.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = fl.iter().cloned().fold(0.0, f64::max);
    assert_eq!(p.min, Some(min), "min");
    assert_eq!(p.max, Some(max), "max");
    assert!(p.min <= p.max);
    let mut expected = vec![0u64; p.bounds.len() + 1];
    for v in &fl {
        expected[p.bounds.iter().filter(|b| **b < *v).count()] += 1;
    }
    assert_eq!(p.bucket_counts, expected);
}

#[test]
fn u64_histogram_values_past_i64_max_are_recorded_as_their_value() {
    let (p, r) = setup();
    let m = p.meter("m");
    let h = m
        .u64_histogram("big")
        .with_boundaries(vec![0.0, 1e18, 1e19])
        .build()
        .unwrap();
    let vals = [1u64 << 63, u64::MAX, 5];
    for v in vals {
        h.record(v, &[kv("path", "plain")]);
    }
    let bound = h.bind(&[kv("path", "bound")]);
    for v in vals {
        bound.record(v);
    }
    let rm = r.collect().unwrap();
    let pts = hist_points(&rm, "big");
    assert_eq!(pts.len(), 2);
    for p in &pts {
        assert_holds(p, &vals);
        // Not in the le=0 bucket (the symptom): 5, 2^63 (about 9.2e18)
        // and u64::MAX (about 1.8e19) each in their own bucket.
        assert_eq!(p.bucket_counts, vec![0, 1, 1, 1]);
    }
    assert_eq!(p.rejected(), RejectedCounts::default());
}

#[test]
fn u64_counter_made_a_histogram_by_a_view_records_big_values_as_their_value() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("bytes")
                .aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![10.0],
                    record_min_max: true,
                })
                .build()
                .unwrap(),
        )
        .build();
    let c = p.meter("m").u64_counter("bytes").build().unwrap();
    let v = (1u64 << 63) + 4096;
    c.add(v, &[kv("path", "plain")]);
    c.bind(&[kv("path", "bound")]).add(v);
    let pts = hist_points(&r.collect().unwrap(), "bytes");
    assert_eq!(pts.len(), 2);
    for p in &pts {
        assert_holds(p, &[v]);
    }
}

// ---- 2. empty attribute keys ----

#[test]
fn empty_attribute_keys_are_rejected_and_counted_on_every_rust_path() {
    let (p, r) = setup();
    let m = p.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    let h = m.f64_histogram("h").build().unwrap();
    let g = m.i64_gauge("g").build().unwrap();
    // A valid series first: its hot path keeps working.
    c.add(1, &[kv("k", "v")]);
    c.add(1, &[kv("", "v")]);
    c.add(1, &[kv("k", "v"), KeyValue::new(String::new(), 1i64)]);
    c.add_attrs(
        1,
        &[AttrRef {
            key: "",
            value: ValueRef::Bool(true),
        }],
    );
    h.record(1.0, &[kv("", 1i64)]);
    g.record(1, &[kv("", 1i64)]);
    // A set prepared in Rust with an empty key is refused as well.
    let set = AttributeSet::from_attrs(&[kv("", "x")]);
    c.add(1, set.as_slice());
    // A handle bound to an empty key records nothing and counts each
    // measurement.
    let b = c.bind(&[kv("", "v")]);
    b.add(1);
    b.add(1);
    c.add(1, &[kv("k", "v")]);
    let rm = r.collect().unwrap();
    let pts = sum_points(&rm, "c");
    assert_eq!(pts.len(), 1, "only the valid series: {pts:?}");
    assert_eq!(u64_total(&pts), 2);
    assert!(rm.metric("h").is_none());
    assert!(rm.metric("g").is_none());
    assert_eq!(p.rejected().invalid_attributes, 8);
    for pt in &pts {
        assert!(pt.attributes.iter().all(|kv| !kv.key().is_empty()));
    }
}

#[test]
fn empty_attribute_keys_are_rejected_through_views_with_filters_and_observables() {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let p = MeterProvider::builder()
        .with_reader(r.clone())
        .with_view(
            View::builder()
                .instrument_name("allowed")
                .allowed_attribute_keys(["k"])
                .build()
                .unwrap(),
        )
        .with_view(
            View::builder()
                .instrument_name("denied")
                .denied_attribute_keys(["x"])
                .build()
                .unwrap(),
        )
        .build();
    let m = p.meter("m");
    let a = m.u64_counter("allowed").build().unwrap();
    let d = m.u64_counter("denied").build().unwrap();
    a.add(
        1,
        &[kv("k", "v"), kv("", "dropped by the filter, still invalid")],
    );
    d.add(1, &[kv("k", "v"), kv("", "kept by the filter")]);
    a.add(1, &[kv("k", "v")]);
    d.add(1, &[kv("k", "v")]);
    let _o = m
        .u64_observable_counter("obs")
        .with_callback(|o| {
            o.observe(1, &[kv("", "v")]);
            o.observe(2, &[kv("k", "v")]);
        })
        .build()
        .unwrap();
    let rm = r.collect().unwrap();
    for name in ["allowed", "denied", "obs"] {
        let pts = sum_points(&rm, name);
        assert_eq!(pts.len(), 1, "{name}: {pts:?}");
        assert!(pts[0].attributes.iter().all(|kv| !kv.key().is_empty()));
    }
    assert_eq!(u64_total(&sum_points(&rm, "allowed")), 1);
    assert_eq!(u64_total(&sum_points(&rm, "denied")), 1);
    assert_eq!(u64_total(&sum_points(&rm, "obs")), 2);
    assert_eq!(p.rejected().invalid_attributes, 3);
}

// ---- 3. histogram boundaries cap ----

#[test]
fn histogram_boundaries_past_the_cap_are_refused() {
    let (p, _r) = setup();
    let bounds = |n: usize| (0..n).map(|i| i as f64).collect::<Vec<f64>>();
    let view = |n: usize| {
        View::builder()
            .instrument_name("h")
            .aggregation(Aggregation::ExplicitBucketHistogram {
                boundaries: bounds(n),
                record_min_max: true,
            })
            .build()
    };
    assert!(view(MAX_BOUNDARIES).is_ok());
    for n in [MAX_BOUNDARIES + 1, 1_000_000] {
        match view(n) {
            Err(Error::InvalidBoundaries(msg)) => {
                assert!(msg.contains(&MAX_BOUNDARIES.to_string()), "{msg}")
            }
            other => panic!("{n} boundaries: {other:?}"),
        }
    }
    let m = p.meter("m");
    assert!(m
        .f64_histogram("at_cap")
        .with_boundaries(bounds(MAX_BOUNDARIES))
        .build()
        .is_ok());
    for n in [MAX_BOUNDARIES + 1, 1_000_000] {
        match m
            .u64_histogram("past_cap")
            .with_boundaries(bounds(n))
            .build()
        {
            Err(Error::InvalidBoundaries(msg)) => {
                assert!(msg.contains(&MAX_BOUNDARIES.to_string()), "{msg}")
            }
            other => panic!("{n} boundaries: {other:?}"),
        }
    }
}

// ---- 4. cardinality limit counts the overflow series ----

/// Records `n` distinct series (plus the empty set) and returns the points
/// of one collection and their total.
fn points_at_limit(limit: Option<usize>, via_view: bool, n: u64) -> (usize, u64, u64) {
    diagnostics::set_silent();
    let r = ManualReader::default();
    let mut b = MeterProvider::builder().with_reader(r.clone());
    match (limit, via_view) {
        (Some(l), true) => {
            b = b.with_view(
                View::builder()
                    .instrument_name("c")
                    .cardinality_limit(l)
                    .build()
                    .unwrap(),
            )
        }
        (Some(l), false) => b = b.with_cardinality_limit(l),
        (None, _) => {}
    }
    let p = b.build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[]);
    for i in 0..n {
        c.add(1, &[kv("id", i as i64)]);
        c.bind(&[kv("id", i as i64)]).add(1);
    }
    let pts = sum_points(&r.collect().unwrap(), "c");
    (pts.len(), u64_total(&pts), p.rejected().overflow)
}

#[test]
fn cardinality_limit_is_the_number_of_points_overflow_included() {
    for via_view in [false, true] {
        for limit in [1usize, 2, 3] {
            let (points, total, overflow) = points_at_limit(Some(limit), via_view, 10);
            assert_eq!(points, limit, "limit {limit} (view: {via_view})");
            assert_eq!(total, 21, "nothing dropped at limit {limit}");
            // limit - 1 regular series take the empty set and the first
            // ids; everything else went to the overflow series.
            assert_eq!(overflow, 21 - (2 * (limit as u64 - 1)).saturating_sub(1));
        }
    }
    let (points, total, _) = points_at_limit(None, false, 3000);
    assert_eq!(points, 2000, "the default limit, 2000 points");
    assert_eq!(total, 6001);
}

// ---- 5. Pushgateway options that could not be sent ----

#[test]
fn pushgateway_refuses_unsendable_auth_and_headers() {
    let base = || PushgatewayExporter::builder("http://127.0.0.1:9091", "job");
    assert!(base().with_basic_auth("user", "pa:ss").build().is_ok());
    assert!(base().with_header("X-Token", "a\tb").build().is_ok());
    let bad = [
        base().with_basic_auth("us:er", "pass"),
        base().with_basic_auth("us\ner", "pass"),
        base().with_header("X-Token", "a\r\nInjected: yes"),
        base().with_header("X-Token", "a\nb"),
        base().with_header("X-Token", "a\rb"),
        base().with_header("X Token", "v"),
        base().with_header("", "v"),
    ];
    for b in bad {
        let d = format!("{b:?}");
        match b.build() {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{d}: {other:?}"),
        }
    }
}

// ---- 6. a producer's series at two timestamps ----

#[test]
fn producer_series_at_two_timestamps_is_exposed_once_and_counted() {
    diagnostics::set_silent();
    let p = MeterProvider::builder().build();
    let depth = ProducedMetric::new("host.queue.depth", PointKind::Gauge)
        .with_description("Requests waiting in a host queue.");
    let _reg = p.register_producer(
        InstrumentationScope::new("host"),
        move |b: &mut ProducerBatch| {
            let t = b.collection_time();
            b.add_number(
                &depth,
                &[kv("queue", "io")],
                Number::I64(7),
                t - 2_000_000,
                0,
            )?;
            b.add_number(
                &depth,
                &[kv("queue", "io")],
                Number::I64(9),
                t - 1_000_000,
                0,
            )?;
            b.add_number(
                &depth,
                &[kv("queue", "net")],
                Number::I64(1),
                t - 1_000_000,
                0,
            )
        },
    );
    let server = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    for (scrape, format) in [Format::Text, Format::OpenMetrics].into_iter().enumerate() {
        let text = String::from_utf8(server.render(format).unwrap()).unwrap();
        let io: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("host_queue_depth{") && l.contains("queue=\"io\""))
            .collect();
        assert_eq!(io.len(), 1, "one sample per series: {text}");
        let value = io[0].split_whitespace().nth(1);
        assert_eq!(value, Some("7"), "the first one added wins: {}", io[0]);
        assert!(text.contains("queue=\"net\""), "{text}");
        assert_eq!(p.rejected().exposition_conflicts, scrape as u64 + 1);
        if format == Format::Text {
            let (ok, msg) = promtool_check(&text);
            assert!(ok, "promtool: {msg}\n{text}");
        }
    }
    server.stop();
}
