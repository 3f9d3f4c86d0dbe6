//! Views added to a built provider (`MeterProvider::add_view`) and the
//! meter schema URL selector.

use ferrometer::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn setup() -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(r.clone())
        .build();
    (p, r)
}

fn names(rm: &ResourceMetrics) -> Vec<String> {
    let mut v: Vec<String> = rm
        .scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter().map(|m| m.name.to_string()))
        .filter(|n| !n.starts_with("ferrometer."))
        .collect();
    v.sort();
    v
}

fn single_u64(rm: &ResourceMetrics, name: &str) -> u64 {
    match &rm.metric(name).unwrap_or_else(|| panic!("no {name}")).data {
        MetricData::Sum(s) => {
            assert_eq!(s.points.len(), 1, "{name}");
            match s.points[0].value {
                Number::U64(v) => v,
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{name}: {other:?}"),
    }
}

fn rename(from: &str, to: &str) -> View {
    View::builder()
        .instrument_name(from)
        .stream_name(to)
        .build()
        .unwrap()
}

#[test]
fn a_view_added_later_shapes_only_instruments_created_afterwards() {
    let (p, r) = setup();
    let m = p.meter("m");
    let before = m.u64_counter("before").build().unwrap();
    p.add_view(rename("before", "before.renamed"));
    p.add_view(rename("after", "after.renamed"));
    p.add_view(
        View::builder()
            .instrument_name("filtered")
            .allowed_attribute_keys(["keep"])
            .build()
            .unwrap(),
    );
    let after = m.u64_counter("after").build().unwrap();
    let filtered = m.u64_counter("filtered").build().unwrap();
    // Asking again for the instrument that existed returns it unchanged.
    let before_again = m.u64_counter("before").build().unwrap();
    before.add(2, &[]);
    before_again.add(3, &[]);
    after.add(4, &[]);
    filtered.add(1, &[KeyValue::new("keep", "a"), KeyValue::new("drop", "x")]);
    filtered.add(1, &[KeyValue::new("keep", "a"), KeyValue::new("drop", "y")]);
    let rm = r.collect().unwrap();
    assert_eq!(names(&rm), ["after.renamed", "before", "filtered"]);
    assert_eq!(single_u64(&rm, "before"), 5);
    assert_eq!(single_u64(&rm, "after.renamed"), 4);
    assert_eq!(single_u64(&rm, "filtered"), 2);
}

#[test]
fn views_added_later_come_after_the_builders_views() {
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(r.clone())
        .with_view(rename("x", "from.builder"))
        .build();
    p.add_view(rename("x", "from.add_view"));
    let x = p.meter("m").u64_counter("x").build().unwrap();
    x.add(1, &[]);
    let rm = r.collect().unwrap();
    // Both views match: one stream each, in the order the views were added.
    let scope = rm
        .scope_metrics
        .iter()
        .find(|s| s.scope.name() == "m")
        .unwrap();
    let got: Vec<&str> = scope.metrics.iter().map(|m| &*m.name).collect();
    assert_eq!(got, ["from.builder", "from.add_view"]);
}

/// One thread adds views while another creates the instruments they
/// select: an instrument created after its view was added has the view;
/// one created earlier does not; every instrument has exactly one stream.
#[test]
fn add_view_is_safe_while_instruments_are_created() {
    const N: usize = 300;
    let (p, r) = setup();
    let added = Arc::new(AtomicUsize::new(0));
    let adder = {
        let (p, added) = (p.clone(), added.clone());
        std::thread::spawn(move || {
            for i in 0..N {
                p.add_view(rename(&format!("c{i}"), &format!("v{i}")));
                added.store(i + 1, Ordering::Release);
            }
        })
    };
    let m = p.meter("m");
    // For each instrument: were its view's add_view calls known to have
    // returned before its creation started?
    let mut view_known_added = Vec::with_capacity(N);
    for i in 0..N {
        view_known_added.push(added.load(Ordering::Acquire) > i);
        m.u64_counter(format!("c{i}"))
            .build()
            .unwrap()
            .add(i as u64 + 1, &[]);
    }
    adder.join().unwrap();
    let rm = r.collect().unwrap();
    for (i, known) in view_known_added.iter().enumerate() {
        let (orig, view) = (format!("c{i}"), format!("v{i}"));
        let has_orig = rm.metric(&orig).is_some();
        let has_view = rm.metric(&view).is_some();
        assert!(
            has_orig != has_view,
            "c{i}: one stream, got {has_orig} {has_view}"
        );
        if *known {
            assert!(has_view, "c{i} created after its view was added");
        }
        let stream = if has_view { &view } else { &orig };
        assert_eq!(single_u64(&rm, stream), i as u64 + 1);
    }
    // Later creations see the views: the race is real only in the middle.
    let again = p.meter("m2");
    for i in 0..N {
        again
            .u64_counter(format!("c{i}"))
            .build()
            .unwrap()
            .add(1, &[]);
    }
    let rm = r.collect().unwrap();
    let in_m2 = rm
        .scope_metrics
        .iter()
        .find(|s| s.scope.name() == "m2")
        .unwrap();
    assert_eq!(in_m2.metrics.len(), N);
    assert!(in_m2.metrics.iter().all(|m| m.name.starts_with('v')));
}

#[test]
fn schema_url_selects_meters() {
    let (p, r) = setup();
    let v126 = "https://opentelemetry.io/schemas/1.26.0";
    p.add_view(
        View::builder()
            .meter_schema_url(v126)
            .aggregation(Aggregation::Drop)
            .build()
            .unwrap(),
    );
    let old = p.meter_with_scope(InstrumentationScope::new("lib").with_schema_url(v126));
    let new = p.meter_with_scope(
        InstrumentationScope::new("lib").with_schema_url("https://opentelemetry.io/schemas/1.27.0"),
    );
    let plain = p.meter("lib");
    old.u64_counter("dropped").build().unwrap().add(1, &[]);
    new.u64_counter("kept.new").build().unwrap().add(1, &[]);
    plain.u64_counter("kept.plain").build().unwrap().add(1, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(names(&rm), ["kept.new", "kept.plain"]);
}
