//! Calls one recording path of the Rust API in a loop, for instruction
//! counts per call with callgrind (scripts/instructions-per-call.sh):
//! `record_loop MODE N` with MODE 0 = 3 attributes sorted (the `peers`
//! bench case), 1 = unsorted, 2 = bound, 3 = no attributes.

use ferrometer::{KeyValue, ManualReader, MeterProvider};
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
    let provider = MeterProvider::builder().with_reader(reader).build();
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
    for _ in 0..n {
        match mode {
            0 => c.add(black_box(1), black_box(&sorted)),
            1 => c.add(black_box(1), black_box(&unsorted)),
            2 => black_box(&bound).add(black_box(1)),
            _ => c.add(black_box(1), black_box(&[])),
        }
    }
    provider.shutdown().ok();
}
