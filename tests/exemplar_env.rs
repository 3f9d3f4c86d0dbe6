//! `OTEL_METRICS_EXEMPLAR_FILTER` picks the exemplar filter of providers
//! built without one (a file of its own: it sets the environment).

use ferrometer::*;

fn kept(filter_env: Option<&str>, explicit: Option<ExemplarFilter>) -> usize {
    match filter_env {
        Some(v) => std::env::set_var("OTEL_METRICS_EXEMPLAR_FILTER", v),
        None => std::env::remove_var("OTEL_METRICS_EXEMPLAR_FILTER"),
    }
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let mut b = MeterProvider::builder().with_reader(r.clone());
    if let Some(f) = explicit {
        b = b.with_exemplar_filter(f);
    }
    let p = b.build();
    let c = p.meter("m").u64_counter("c").build().unwrap();
    c.add(1, &[]); // no context
    let rm = r.collect().unwrap();
    let MetricData::Sum(s) = &rm.metric("c").unwrap().data else {
        panic!()
    };
    s.points.iter().map(|p| p.exemplars.len()).sum()
}

#[test]
fn the_environment_chooses_the_filter_unless_the_builder_did() {
    diagnostics::set_silent();
    assert_eq!(kept(None, None), 0, "trace_based by default");
    assert_eq!(kept(Some("always_on"), None), 1);
    assert_eq!(kept(Some("ALWAYS_ON "), None), 1);
    assert_eq!(kept(Some("always_off"), None), 0);
    assert_eq!(kept(Some("trace_based"), None), 0);
    assert_eq!(
        kept(Some("bogus"), None),
        0,
        "unknown: the default, with a warning"
    );
    assert_eq!(kept(Some("always_on"), Some(ExemplarFilter::AlwaysOff)), 0);
    std::env::remove_var("OTEL_METRICS_EXEMPLAR_FILTER");
}
