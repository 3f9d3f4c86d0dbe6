//! Resident memory per 3-attribute u64 counter series (issue 19's table
//! in BENCHMARKS.md): `series_rss [SERIES]` (default 100000) records one
//! add to each of SERIES distinct series {method, route, status} (the
//! route an owned `String` "/api/v1/items/<n>", method and status
//! literals, as a request handler passes them) on a provider with one
//! cumulative `ManualReader`, then prints VmRSS (after `malloc_trim`)
//! less the VmRSS before recording, divided by SERIES: after recording,
//! after one collection (its output still held) and after dropping that
//! output. cpp_tests/bench/series_rss.cpp is the C++ twin.

use ferrometer::{KeyValue, ManualReader, MeterProvider, TemporalityPreference};

/// Resident memory in bytes, after handing freed heap pages back to the
/// system (so that memory freed by the measured step does not count).
fn rss_bytes() -> u64 {
    // SAFETY: glibc's malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const STATUSES: [&str; 3] = ["200", "404", "500"];

fn main() {
    let series: u64 = match std::env::args().nth(1) {
        None => 100_000,
        Some(a) => match a.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: series_rss [SERIES]");
                std::process::exit(2);
            }
        },
    };
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    // Room for the warm-up series and the overflow series besides SERIES.
    let provider = MeterProvider::builder()
        .with_cardinality_limit(series as usize + 2)
        .with_reader(reader.clone())
        .build();
    let counter = provider
        .meter("memory")
        .u64_counter("requests")
        .build()
        .expect("valid instrument");
    // Warm up the thread's reclamation slot and the collection path, so
    // that the baseline holds what does not grow with the series.
    counter.add(1, &[KeyValue::new("warm", true)]);
    drop(reader.collect().expect("collect"));
    let base = rss_bytes();
    for i in 0..series {
        let attrs = [
            KeyValue::new("method", METHODS[i as usize % METHODS.len()]),
            KeyValue::new("route", format!("/api/v1/items/{i}")),
            KeyValue::new("status", STATUSES[i as usize % STATUSES.len()]),
        ];
        counter.add(1, &attrs);
    }
    let per = |rss: u64| rss.saturating_sub(base) as f64 / series as f64;
    let recorded = rss_bytes();
    let out = reader.collect().expect("collect");
    assert_eq!(out.point_count() as u64, series + 1);
    let collected = rss_bytes();
    drop(out);
    let dropped = rss_bytes();
    println!(
        "rust series={series} base_kib={} bytes_per_series: recorded={:.0} collected={:.0} output_dropped={:.0}",
        base / 1024,
        per(recorded),
        per(collected),
        per(dropped)
    );
    provider.shutdown().ok();
}
