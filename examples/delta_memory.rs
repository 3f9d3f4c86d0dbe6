//! Resident memory that delta readers cost per histogram series (issue
//! 13's table in BENCHMARKS.md):
//! `delta_memory KIND READERS [SERIES]` with KIND `explicit` or
//! `exponential`, READERS delta readers (0: one cumulative reader, the
//! baseline), SERIES histogram series (default 100000), each recording 16
//! values. Prints VmRSS (after `malloc_trim`) after recording and after
//! two collections by every reader: the growth is what the readers keep
//! (their cursors), divided by readers and series in BENCHMARKS.md.

use ferrometer::{Aggregation, KeyValue, ManualReader, MeterProvider, TemporalityPreference, View};

/// Resident memory, after handing freed heap pages back to the system
/// (so that a collection's freed output does not count).
fn rss_kib() -> u64 {
    // SAFETY: glibc's malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(readers)) = (
        args.get(1).map(String::as_str),
        args.get(2).and_then(|a| a.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: delta_memory explicit|exponential READERS [SERIES]");
        std::process::exit(2);
    };
    let series: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let aggregation = match kind {
        "explicit" => Aggregation::default_histogram(),
        "exponential" => Aggregation::base2_exponential_histogram(),
        _ => {
            eprintln!("KIND is explicit or exponential");
            std::process::exit(2);
        }
    };
    let list: Vec<ManualReader> = if readers == 0 {
        vec![ManualReader::new(TemporalityPreference::Cumulative)]
    } else {
        (0..readers)
            .map(|_| ManualReader::new(TemporalityPreference::Delta))
            .collect()
    };
    let mut b = MeterProvider::builder()
        .with_cardinality_limit(series as usize + 1)
        .with_delta_eviction_after(0)
        .with_view(
            View::builder()
                .instrument_name("latency")
                .aggregation(aggregation)
                .build()
                .expect("valid view"),
        );
    for r in &list {
        b = b.with_reader(r.clone());
    }
    let provider = b.build();
    let h = provider
        .meter("memory")
        .f64_histogram("latency")
        .build()
        .expect("valid instrument");
    for i in 0..series {
        let attrs = [
            KeyValue::new("shard", (i % 100) as i64),
            KeyValue::new("player", i as i64),
            KeyValue::new("zone", "eu-west"),
        ];
        for k in 0..16u64 {
            h.record((1 + (i + k * 37) % 5000) as f64, &attrs);
        }
    }
    let recorded = rss_kib();
    for round in 0..2 {
        for r in &list {
            let out = r.collect().expect("collect");
            // The first collection reports every series; a delta reader's
            // second has nothing new.
            if round == 0 {
                assert_eq!(out.point_count() as u64, series);
            }
        }
    }
    let collected = rss_kib();
    println!(
        "{kind} readers={readers} series={series} rss_recorded_kib={recorded} rss_collected_kib={collected} growth_kib={}",
        collected.saturating_sub(recorded)
    );
    provider.shutdown().ok();
}
