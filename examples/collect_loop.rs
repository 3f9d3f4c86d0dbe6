//! Instructions per collection cycle (callgrind; load-independent, unlike
//! timings on a shared machine): `collect_loop MODE N` collects N times
//! after recording 100k series. MODE 0: one cumulative reader of a u64
//! counter; 1: one delta reader (the 100k series re-recorded between
//! collections); 2: four readers, two cumulative and two delta; 3: one
//! delta reader of a histogram; 4: the four readers of mode 2, nothing
//! recorded between collections (`collect_100k_series_4readers`). Per
//! cycle = (Ir at N=3 - Ir at N=1) / 2.
use ferrometer::{KeyValue, ManualReader, MeterProvider, TemporalityPreference as T};

fn attrs(i: i64) -> [KeyValue; 3] {
    [
        KeyValue::new("id", i),
        KeyValue::new("route", "/a"),
        KeyValue::new("status", "200"),
    ]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (
        a.get(1).and_then(|v| v.parse::<u32>().ok()),
        a.get(2).and_then(|v| v.parse::<u32>().ok()),
    ) else {
        eprintln!("usage: collect_loop MODE N");
        std::process::exit(2);
    };
    let prefs = match mode {
        0 => vec![T::Cumulative],
        1 | 3 => vec![T::Delta],
        _ => vec![T::Cumulative, T::Cumulative, T::Delta, T::Delta],
    };
    let readers: Vec<ManualReader> = prefs.iter().map(|p| ManualReader::new(*p)).collect();
    let mut b = MeterProvider::builder()
        .with_cardinality_limit(200_000)
        .with_delta_eviction_after(0);
    for r in &readers {
        b = b.with_reader(r.clone());
    }
    if mode == 4 {
        // Callgrind runs ~50x slower than native: keep the default
        // window's effect (the readers after the first served from its
        // cycle) at that pace.
        b = b.with_collection_window(std::time::Duration::from_secs(60));
    }
    let p = b.build();
    let m = p.meter("bench");
    let c = m.u64_counter("requests").build().expect("valid");
    let h = m.f64_histogram("latency").build().expect("valid");
    let record = |v: f64| {
        for i in 0..100_000i64 {
            if mode == 3 {
                h.record(v + (i % 1000) as f64, &attrs(i))
            } else {
                c.add(1, &attrs(i))
            }
        }
    };
    record(0.0);
    for _ in 0..n {
        for r in &readers {
            std::hint::black_box(r.collect().expect("collect"));
        }
        if mode != 0 && mode != 4 {
            record(1.0);
        }
    }
    p.shutdown().ok();
}
