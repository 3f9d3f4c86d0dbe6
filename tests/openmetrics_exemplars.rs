//! OpenMetrics exemplars from recorded data, read by an independent
//! parser: threads record counters and histograms in sampled (and some
//! unsampled) trace contexts, the real `PrometheusServer` serves them on
//! 127.0.0.1, the test scrapes with `Accept: application/openmetrics-text`
//! and `prometheus_client`'s OpenMetrics parser
//! (`text_string_to_metric_families`) reads the body. Every exemplar must
//! be one that was recorded on its series (trace id, span id and value
//! together), sit on the bucket whose bound covers its value, and come from
//! a sampled context (the default `TraceBased` filter); every sample value
//! must equal the recorded total.
//!
//! tests/exemplar_encoding.rs checks the encoder on hand-built points;
//! this file checks the whole path from the recording calls.
//!
//! Needs `python3` with `pip install prometheus_client`.

mod http_support;
mod openmetrics_support;

use ferrometer::export::prometheus::PrometheusServer;
use ferrometer::{ExemplarFilter, KeyValue, MeterProvider, TraceContext};
use openmetrics_support::om_parse;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const THREADS: u8 = 3;
const ROUNDS: u64 = 400;

/// How a measurement was recorded: the span id's second byte.
const CURRENT: u8 = 1;
const EXPLICIT: u8 = 2;
const UNSAMPLED: u8 = 3;
const RARE: u8 = 4;

/// Thread `t`'s context for way `way`: the trace id names the thread
/// (with a zero byte and a high byte, so a hex slip shows), the span id
/// the thread and the way.
fn ctx(t: u8, way: u8) -> TraceContext {
    let mut trace = [t; 16];
    trace[0] = 0xe0;
    trace[7] = 0;
    let span = [t, way, 0x5a, 0xa5, 0, 0xff, t, way];
    TraceContext::new(trace, span, u8::from(way != UNSAMPLED))
}

/// (trace id, span id, value) as the exposition shows them.
type Id = (String, String, f64);

fn id(c: &TraceContext, v: f64) -> Id {
    (hex(&c.trace_id), hex(&c.span_id), v)
}

/// Counter values (they name the thread and the way).
fn counter_value(t: u8, way: u8) -> u64 {
    u64::from(t) * 10 + u64::from(way)
}

/// Histogram values, exact in binary so sums are exact in any order:
/// sampled ones in the buckets (0, 0.1], (0.1, 1] and (5, +Inf), unsampled
/// ones only in (1, 5].
fn hist_value(t: u8, way: u8, i: u64) -> f64 {
    if way == UNSAMPLED {
        return 2.0 + f64::from(t) * 0.25;
    }
    let base = [0.0625, 0.5, 8.0][(i % 3) as usize];
    base + f64::from(way) / 1024.0 + f64::from(t) / 256.0
}

/// What the threads recorded: per worker, the exemplars each series may
/// show and its totals.
#[derive(Default)]
struct Recorded {
    plain_ids: HashMap<String, HashSet<String>>,
    plain_total: HashMap<String, u64>,
    plain_exemplars: HashMap<String, Vec<Id>>,
    hist_exemplars: HashMap<String, Vec<Id>>,
    hist_values: HashMap<String, Vec<f64>>,
}

impl Recorded {
    /// Computed from the recording plan, not from the SDK.
    fn plan() -> Recorded {
        let mut r = Recorded::default();
        for t in 1..=THREADS {
            let w = t.to_string();
            let (cur, exp, uns) = (ctx(t, CURRENT), ctx(t, EXPLICIT), ctx(t, UNSAMPLED));
            let mut total = 0;
            for _ in 0..ROUNDS {
                // Plain add and bound add in the current context, explicit,
                // and unsampled explicit.
                total += 2 * counter_value(t, CURRENT)
                    + counter_value(t, EXPLICIT)
                    + counter_value(t, UNSAMPLED);
            }
            r.plain_total.insert(w.clone(), total);
            r.plain_exemplars.insert(
                w.clone(),
                vec![
                    id(&cur, counter_value(t, CURRENT) as f64),
                    id(&exp, counter_value(t, EXPLICIT) as f64),
                ],
            );
            r.plain_ids
                .insert(w.clone(), [hex(&cur.span_id), hex(&exp.span_id)].into());
            let mut ex = Vec::new();
            let mut values = Vec::new();
            for i in 0..ROUNDS {
                for (c, way) in [(&cur, CURRENT), (&exp, EXPLICIT), (&uns, UNSAMPLED)] {
                    let v = hist_value(t, way, i);
                    values.push(v);
                    if way != UNSAMPLED {
                        ex.push(id(c, v));
                    }
                }
                // The bound handle in the current context.
                values.push(hist_value(t, CURRENT, i));
            }
            r.hist_exemplars.insert(w.clone(), ex);
            r.hist_values.insert(w, values);
        }
        r
    }
}

/// Records `Recorded::plan()` from `THREADS` threads at once.
fn record(p: &MeterProvider) {
    let m = p.meter("exemplars");
    let counter = m.u64_counter("jobs").build().unwrap();
    let hist = m
        .f64_histogram("job.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0, 5.0])
        .build()
        .unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(usize::from(THREADS)));
    let threads: Vec<_> = (1..=THREADS)
        .map(|t| {
            let (counter, hist, start) = (counter.clone(), hist.clone(), start.clone());
            std::thread::spawn(move || {
                let plain = [
                    KeyValue::new("worker", i64::from(t)),
                    KeyValue::new("kind", "plain"),
                ];
                let rare = [
                    KeyValue::new("worker", i64::from(t)),
                    KeyValue::new("kind", "rare"),
                ];
                let bound = counter.bind(&plain);
                let bound_hist = hist.bind(&plain);
                let (exp, uns) = (ctx(t, EXPLICIT), ctx(t, UNSAMPLED));
                let previous = TraceContext::set_current(Some(ctx(t, CURRENT)));
                start.wait();
                for i in 0..ROUNDS {
                    counter.add(counter_value(t, CURRENT), &plain);
                    bound.add(counter_value(t, CURRENT));
                    counter.add_in_context(counter_value(t, EXPLICIT), &plain, &exp);
                    counter.add_in_context(counter_value(t, UNSAMPLED), &plain, &uns);
                    hist.record(hist_value(t, CURRENT, i), &plain);
                    bound_hist.record(hist_value(t, CURRENT, i));
                    hist.record_in_context(hist_value(t, EXPLICIT, i), &plain, &exp);
                    hist.record_in_context(hist_value(t, UNSAMPLED, i), &plain, &uns);
                    // The rare series: unsampled but for one measurement.
                    counter.add_in_context(1, &rare, &uns);
                    if i == ROUNDS / 2 {
                        counter.add_in_context(5, &rare, &ctx(t, RARE));
                    }
                }
                TraceContext::set_current(previous);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The exemplar of `s` as an [`Id`] (None when the sample has none).
fn exemplar_id(s: &Json) -> Option<Id> {
    let e = &s["exemplar"];
    if e.is_null() {
        return None;
    }
    let labels = e["labels"].as_object().unwrap();
    assert_eq!(labels.len(), 2, "only the ids as labels: {e}");
    Some((
        labels["trace_id"].as_str().unwrap().to_owned(),
        labels["span_id"].as_str().unwrap().to_owned(),
        e["value"].as_f64().unwrap(),
    ))
}

fn seconds(e: &Json) -> f64 {
    let ts = &e["exemplar"]["timestamp"];
    ts[0].as_f64().unwrap() + ts[1].as_f64().unwrap() / 1e9
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn scraped_openmetrics_exemplars_are_the_recorded_ones() {
    let p = MeterProvider::builder()
        .with_exemplar_filter(ExemplarFilter::TraceBased)
        .build();
    let server = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let before = now_seconds();
    record(&p);
    let after = now_seconds();
    let plan = Recorded::plan();

    let r = http_support::request(
        server.local_addr(),
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
    );
    assert_eq!(r.status, 200);
    let content_type = r.header("content-type").unwrap_or_default().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let mut text = r.text();
    if r.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        text = http_support::dechunk(&text);
    }
    server.stop();
    p.shutdown().unwrap();
    let samples = om_parse(&text);

    let find = |name: &str, labels: &[(&str, &str)]| -> Vec<&Json> {
        samples
            .iter()
            .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .collect()
    };
    let in_window = |s: &Json| {
        let t = seconds(s);
        assert!(
            t >= before.floor() - 0.001 && t <= after + 0.001,
            "exemplar time {t} outside the recording ({before}..{after}): {s}"
        );
    };

    for t in 1..=THREADS {
        let w = t.to_string();
        // The counter series every way recorded on.
        let plain = find("jobs_total", &[("worker", &w), ("kind", "plain")]);
        assert_eq!(plain.len(), 1, "{w}: {plain:?}");
        assert_eq!(plain[0]["value"], plan.plain_total[&w] as f64);
        let got = exemplar_id(plain[0]).unwrap_or_else(|| panic!("no exemplar: {}", plain[0]));
        assert!(
            plan.plain_exemplars[&w].contains(&got),
            "worker {w}: exemplar {got:?} was not recorded sampled on this series"
        );
        assert!(plan.plain_ids[&w].contains(&got.1));
        in_window(plain[0]);

        // The rare series: one sampled measurement among unsampled ones,
        // so exactly its exemplar.
        let rare = find("jobs_total", &[("worker", &w), ("kind", "rare")]);
        assert_eq!(rare.len(), 1);
        assert_eq!(rare[0]["value"], (ROUNDS + 5) as f64);
        assert_eq!(exemplar_id(rare[0]), Some(id(&ctx(t, RARE), 5.0)));
        in_window(rare[0]);

        // The histogram: cumulative bucket counts, count and sum as
        // recorded; each exemplar a recorded sampled one, on the bucket
        // whose bound covers its value; (1, 5] saw only unsampled
        // measurements: no exemplar.
        let values = &plan.hist_values[&w];
        let buckets = find("job_duration_seconds_bucket", &[("worker", &w)]);
        let les: Vec<f64> = buckets
            .iter()
            .map(|s| s["labels"]["le"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(les, [0.1, 1.0, 5.0, f64::INFINITY]);
        let mut lower = f64::NEG_INFINITY;
        for (s, le) in buckets.iter().zip(&les) {
            let want = values.iter().filter(|v| **v <= *le).count();
            assert_eq!(s["value"], want as f64, "worker {w} le {le}");
            match exemplar_id(s) {
                Some(got) => {
                    assert!(
                        plan.hist_exemplars[&w].contains(&got),
                        "worker {w} le {le}: exemplar {got:?} was not recorded sampled"
                    );
                    assert!(
                        got.2 > lower && got.2 <= *le,
                        "worker {w}: exemplar {} on bucket ({lower}, {le}]",
                        got.2
                    );
                    in_window(s);
                }
                None => assert_eq!(*le, 5.0, "worker {w}: no exemplar on le {le}"),
            }
            if *le == 5.0 {
                assert!(s["exemplar"].is_null(), "unsampled exemplar: {s}");
            }
            lower = *le;
        }
        let count = find("job_duration_seconds_count", &[("worker", &w)]);
        assert_eq!(count[0]["value"], values.len() as f64);
        let sum = find("job_duration_seconds_sum", &[("worker", &w)]);
        assert_eq!(sum[0]["value"], values.iter().sum::<f64>());
    }
    // Nothing else carries an exemplar (_count, _sum, _created, target_info).
    for s in &samples {
        let name = s["name"].as_str().unwrap();
        if !s["exemplar"].is_null() {
            assert!(
                name == "jobs_total" || name == "job_duration_seconds_bucket",
                "{s}"
            );
        }
    }
}
