//! Calls one recording path of the Rust API in a loop, for instruction
//! counts per call with callgrind (scripts/instructions-per-call.sh):
//! `record_loop MODE N` with MODE 0 = 3 attributes sorted (the `peers`
//! bench case), 1 = unsorted, 2 = bound, 3 = no attributes, 4 = 3
//! borrowed attributes (`AttrRef`) hashed on every call, the work the C ABI
//! does for a caller's attribute array, 5 = an explicit-bucket f64
//! histogram with 3 attributes (the `histogram_record_3attrs` case), 6 =
//! the same as a base2 exponential histogram
//! (`histogram_record_exponential_3attrs`), 7 = a bound exponential
//! histogram, 8 = 3 static literal attributes built on every call
//! (`counter_add_3attrs_static`).

use ferrometer::{Aggregation, AttrRef, KeyValue, ManualReader, MeterProvider, ValueRef, View};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (
        args.get(1).and_then(|a| a.parse::<u32>().ok()),
        args.get(2).and_then(|a| a.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: record_loop MODE N");
        std::process::exit(2);
    };
    let reader = ManualReader::default();
    let provider = MeterProvider::builder()
        .with_reader(reader)
        .with_view(
            View::builder()
                .instrument_name("latency.exp")
                .aggregation(Aggregation::base2_exponential_histogram())
                .build()
                .expect("valid view"),
        )
        .build();
    let c = provider
        .meter("bench")
        .u64_counter("requests")
        .build()
        .expect("valid instrument");
    let sorted = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
        KeyValue::new("status", "200"),
    ];
    let unsorted = [
        KeyValue::new("status", "200"),
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
    ];
    let bound = c.bind(&sorted);
    let meter = provider.meter("bench");
    let explicit = meter.f64_histogram("latency").build().expect("valid");
    let exponential = meter.f64_histogram("latency.exp").build().expect("valid");
    let bound_exp = exponential.bind(&sorted);
    // One loop per mode, so that the loop itself costs the same few
    // instructions in every mode.
    match mode {
        0 => (0..n).for_each(|_| c.add(black_box(1), black_box(&sorted))),
        1 => (0..n).for_each(|_| c.add(black_box(1), black_box(&unsorted))),
        2 => (0..n).for_each(|_| black_box(&bound).add(black_box(1))),
        4 => (0..n).for_each(|_| {
            let s = |v: &'static str| ValueRef::Str(black_box(v));
            let borrowed = [
                AttrRef {
                    key: "method",
                    value: s("GET"),
                },
                AttrRef {
                    key: "route",
                    value: s("/api/v1/items"),
                },
                AttrRef {
                    key: "status",
                    value: s("200"),
                },
            ];
            c.add_attrs(black_box(1), &borrowed)
        }),
        5 => (0..n).for_each(|i| explicit.record(black_box((i % 1000) as f64), black_box(&sorted))),
        6 => (0..n)
            .for_each(|i| exponential.record(black_box((i % 1000) as f64), black_box(&sorted))),
        7 => (0..n).for_each(|i| black_box(&bound_exp).record(black_box((i % 1000) as f64))),
        8 => (0..n).for_each(|_| {
            c.add(
                black_box(1),
                &[
                    KeyValue::new("method", "GET"),
                    KeyValue::new("route", "/api/v1/items"),
                    KeyValue::new("status", "200"),
                ],
            )
        }),
        _ => (0..n).for_each(|_| c.add(black_box(1), black_box(&[]))),
    }
    provider.shutdown().ok();
}
