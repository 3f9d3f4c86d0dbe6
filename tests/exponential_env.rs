//! `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` makes every
//! histogram exponential (its own test binary: it sets the process
//! environment before any provider reads it).

use ferrometer::*;

#[test]
fn the_environment_chooses_exponential_histograms() {
    diagnostics::set_silent();
    // SAFETY: the only test in this binary; no other thread reads the
    // environment yet.
    unsafe {
        std::env::set_var(
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            "base2_exponential_bucket_histogram",
        )
    };
    let r = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder().with_reader(r.clone()).build();
    p.meter("m")
        .u64_histogram("h")
        .build()
        .unwrap()
        .record(5, &[]);
    let rm = r.collect().unwrap();
    match &rm.metric("h").unwrap().data {
        MetricData::ExponentialHistogram(e) => assert_eq!(e.points[0].count, 1),
        other => panic!("not exponential: {other:?}"),
    }
    // Code wins over the environment.
    let r2 = ManualReader::new(TemporalityPreference::Cumulative);
    let p2 = MeterProvider::builder()
        .with_reader(r2.clone())
        .with_default_histogram_aggregation(Aggregation::default_histogram())
        .build();
    p2.meter("m")
        .u64_histogram("h")
        .build()
        .unwrap()
        .record(5, &[]);
    assert!(matches!(
        r2.collect().unwrap().metric("h").unwrap().data,
        MetricData::Histogram(_)
    ));
}
