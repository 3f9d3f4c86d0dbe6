//! Exposition and encoding throughput, with peers in the same run.
//!
//! - `prometheus_text_100k_series`: one scrape's worth of work for a
//!   counter with 100,000 series: ferrometer collects and encodes the text
//!   format; prometheus-client encodes its registry (it reads live metrics,
//!   so collection is part of its encode too).
//! - `otlp_encode_100k_points`: encoding an already collected snapshot of
//!   100,000 counter points as an OTLP protobuf request (throughput in
//!   points and, in the report, bytes).
//!
//! Run: `cargo bench --bench exporters`. Results: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrometer::{KeyValue, ManualReader, MeterProvider};
use prometheus_client::encoding::text::encode as pc_encode;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::hint::black_box;
use std::time::Duration;

const N: i64 = 100_000;

fn ferrometer_provider() -> (MeterProvider, ManualReader) {
    ferrometer::diagnostics::set_silent();
    let reader = ManualReader::default();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_cardinality_limit(200_000)
        .build();
    let c = provider
        .meter("bench")
        .u64_counter("requests")
        .build()
        .unwrap();
    for i in 0..N {
        c.add(
            1,
            &[
                KeyValue::new("id", i),
                KeyValue::new("method", "GET"),
                KeyValue::new("route", "/api/v1/items"),
            ],
        );
    }
    (provider, reader)
}

fn prometheus_text(c: &mut Criterion) {
    let mut g = c.benchmark_group("prometheus_text_100k_series");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(N as u64));

    let (_provider, reader) = ferrometer_provider();
    let mut buf = Vec::with_capacity(16 << 20);
    g.bench_function("ferrometer", |b| {
        b.iter(|| {
            buf.clear();
            let rm = reader.collect().unwrap();
            ferrometer::export::prometheus::encode_text(&rm, &mut buf);
            black_box(buf.len())
        })
    });

    let mut registry = Registry::default();
    let family = Family::<Vec<(String, String)>, PcCounter>::default();
    registry.register("requests", "Requests", family.clone());
    for i in 0..N {
        family
            .get_or_create(&vec![
                ("id".to_string(), i.to_string()),
                ("method".to_string(), "GET".to_string()),
                ("route".to_string(), "/api/v1/items".to_string()),
            ])
            .inc();
    }
    let mut s = String::with_capacity(16 << 20);
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            s.clear();
            pc_encode(&mut s, &registry).unwrap();
            black_box(s.len())
        })
    });
    g.finish();
}

fn otlp_encode(c: &mut Criterion) {
    let (_provider, reader) = ferrometer_provider();
    let rm = reader.collect().unwrap();
    assert_eq!(rm.point_count(), N as usize);
    let mut buf = Vec::with_capacity(16 << 20);
    ferrometer::export::otlp::encode_protobuf(&rm, &mut buf);
    println!(
        "otlp_encode_100k_points: request size {} bytes ({:.1} bytes/point)",
        buf.len(),
        buf.len() as f64 / N as f64
    );
    let mut g = c.benchmark_group("otlp_encode_100k_points");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(N as u64));
    // A reused encoder and buffer, as an exporter keeps them between cycles.
    let mut encoder = ferrometer::export::otlp::encode::OtlpEncoder::new();
    g.bench_function("ferrometer", |b| {
        b.iter(|| {
            let points = encoder.encode(&rm, &mut buf);
            black_box((points, buf.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, prometheus_text, otlp_encode);
criterion_main!(benches);
