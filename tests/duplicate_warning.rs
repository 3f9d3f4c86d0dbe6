//! Duplicate-registration warnings go through the diagnostics handler. In
//! its own test binary because the handler is process-wide.

use ferrometer::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn sum_points(rm: &ResourceMetrics, name: &str) -> Vec<NumberPoint> {
    match &rm.metric(name).unwrap().data {
        MetricData::Sum(s) => s.points.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_registration_shares_or_warns() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let w2 = warnings.clone();
    let r = ManualReader::default();
    let p = MeterProvider::builder().with_reader(r.clone()).build();
    diagnostics::set_handler(move |lvl, msg| {
        if lvl == Level::Warn && msg.contains("duplicate instrument") {
            w2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let m = p.meter("dup-test");
    let a = m.u64_counter("Requests").with_unit("1").build().unwrap();
    let b = m.u64_counter("requests").with_unit("1").build().unwrap();
    a.add(1, &[]);
    b.add(2, &[]);
    let rm = r.collect().unwrap();
    assert_eq!(
        sum_points(&rm, "Requests")[0].value,
        Number::U64(3),
        "identical registrations share storage"
    );
    assert_eq!(warnings.load(Ordering::SeqCst), 0);
    let c = m.u64_counter("requests").with_unit("ms").build().unwrap();
    c.add(7, &[]);
    assert_eq!(warnings.load(Ordering::SeqCst), 1);
    let rm = r.collect().unwrap();
    let all: Vec<_> = rm.scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(
        all.len(),
        2,
        "both conflicting instruments are exported: {all:?}"
    );
    diagnostics::set_silent();
}
