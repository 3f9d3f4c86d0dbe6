//! Exponential histogram points through every OTLP encoding ferrometer
//! writes (protobuf whole and split into batches, OTLP/JSON, the OTLP file
//! exporter), decoded with the official definitions (Python
//! `opentelemetry-proto`, tests/python/decode_otlp.py) and compared field
//! by field with the points that went in.
//!
//! Needs `python3` with `pip install opentelemetry-proto protobuf`.

mod otlp_support;

use ferrometer::export::otlp::encode::{BatchLimits, OtlpEncoder};
use ferrometer::export::otlp::{encode_json, encode_protobuf, OtlpFileExporter};
use ferrometer::export::PushExporter;
use ferrometer::{
    AttributeSet, ExponentialBuckets, ExponentialHistogramData, ExponentialHistogramPoint,
    InstrumentationScope, KeyValue, Metric, MetricData, Resource, ResourceMetrics, ScopeMetrics,
    Temporality, Value,
};
use otlp_support::*;
use serde_json::{json, Value as Json};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: u64 = 1_700_000_000_000_000_000;
const T1: u64 = 1_700_000_060_123_456_789;

fn buckets(offset: i32, counts: &[u64]) -> ExponentialBuckets {
    ExponentialBuckets {
        offset,
        counts: counts.to_vec(),
    }
}

/// A point whose count is the zero count plus the buckets' totals.
#[allow(clippy::too_many_arguments)]
fn point(
    host: &str,
    scale: i32,
    zero_count: u64,
    zero_threshold: f64,
    positive: ExponentialBuckets,
    negative: ExponentialBuckets,
    sum: f64,
    min_max: Option<(f64, f64)>,
) -> ExponentialHistogramPoint {
    ExponentialHistogramPoint {
        exemplars: Default::default(),
        attributes: AttributeSet::from_key_values(vec![KeyValue::new("host", host.to_owned())]),
        start_time: T0,
        time: T1,
        count: zero_count + positive.total() + negative.total(),
        sum,
        min: min_max.map(|m| m.0),
        max: min_max.map(|m| m.1),
        scale,
        zero_count,
        zero_threshold,
        positive,
        negative,
    }
}

/// Points covering the encodings' corners: scales of both signs and the
/// extremes of the OpenTelemetry range (-10, 20), negative and positive
/// buckets at negative and positive offsets (sint32), a zero bucket with
/// and without a threshold, no min/max, a count of zero, huge counts
/// (multi-byte varints).
fn points() -> Vec<ExponentialHistogramPoint> {
    vec![
        point(
            "both-signs",
            3,
            2,
            0.0,
            buckets(-5, &[1, 0, 7, 300]),
            buckets(4, &[2, 1]),
            -12.75,
            Some((-7.5, 40.25)),
        ),
        point(
            "negative-scale",
            -2,
            0,
            0.0,
            buckets(3, &[9]),
            buckets(-1, &[1, 1, 1]),
            5e9,
            Some((-0.75, 1.5e10)),
        ),
        point(
            "zero-threshold",
            20,
            5,
            1e-9,
            buckets(1_048_576, &[u64::from(u32::MAX) + 7, 1]),
            ExponentialBuckets::default(),
            1.0,
            None,
        ),
        point(
            "coarsest",
            -10,
            1,
            0.0,
            buckets(-1, &[1 << 40, 0, 1]),
            buckets(0, &[3]),
            f64::MAX,
            Some((-1e300, f64::MAX)),
        ),
        point(
            "empty",
            0,
            0,
            0.0,
            ExponentialBuckets::default(),
            ExponentialBuckets::default(),
            0.0,
            None,
        ),
    ]
}

fn snapshot(temporality: Temporality) -> ResourceMetrics {
    ResourceMetrics {
        resource: Arc::new(Resource::new([KeyValue::new("service.name", "exp")])),
        scope_metrics: vec![ScopeMetrics {
            scope: Arc::new(InstrumentationScope::new("net").with_version("2.0")),
            metrics: vec![Metric {
                name: "packet.size".into(),
                description: "Sizes of the packets seen.".into(),
                unit: "By".into(),
                data: MetricData::ExponentialHistogram(ExponentialHistogramData {
                    points: points(),
                    temporality,
                }),
            }],
        }],
    }
}

fn host(p: &ExponentialHistogramPoint) -> String {
    match p.attributes.iter().next().map(|kv| kv.value()) {
        Some(Value::Str(s)) => s.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

/// What the official decoder must report for a point (see the output
/// format in decode_otlp.py), written from the point's fields.
fn expected(p: &ExponentialHistogramPoint) -> Json {
    let num = |v: f64| json!(v);
    let b = |b: &ExponentialBuckets| json!({"offset": b.offset, "bucket_counts": b.counts});
    let mut v = json!({
        "attributes": {"host": host(p)},
        "start": p.start_time,
        "time": p.time,
        "flags": 0,
        "count": p.count,
        "sum": num(p.sum),
        "scale": p.scale,
        "zero_count": p.zero_count,
        "zero_threshold": num(p.zero_threshold),
        "positive": b(&p.positive),
        "negative": b(&p.negative),
    });
    if let (Some(lo), Some(hi)) = (p.min, p.max) {
        v["min"] = num(lo);
        v["max"] = num(hi);
    }
    v
}

/// Every point of the decoded requests, in order, with its metric checked.
fn decoded_points(reqs: &[Json], temporality: i64) -> Vec<Json> {
    let mut out = Vec::new();
    for req in reqs {
        assert_eq!(req["unknown_bytes"], 0, "{req}");
        assert_eq!(req["resource"]["service.name"], "exp");
        let m = metric(req, "packet.size");
        assert_eq!(m["type"], "exponential_histogram");
        assert_eq!(m["unit"], "By");
        assert_eq!(m["description"], "Sizes of the packets seen.");
        assert_eq!(m["scope"], "net");
        assert_eq!(m["scope_version"], "2.0");
        assert_eq!(m["temporality"], temporality);
        out.extend(m["points"].as_array().unwrap().iter().cloned());
    }
    out
}

fn check(reqs: &[Json], temporality: Temporality) {
    let t = match temporality {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    };
    let got = decoded_points(reqs, t);
    let want: Vec<Json> = points().iter().map(expected).collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[test]
fn protobuf_decodes_with_the_official_definitions() {
    for t in [Temporality::Cumulative, Temporality::Delta] {
        let mut body = Vec::new();
        encode_protobuf(&snapshot(t), &mut body);
        check(&decode_bodies(&[body]), t);
    }
}

#[test]
fn protobuf_batches_split_exponential_points() {
    let rm = snapshot(Temporality::Cumulative);
    let mut enc = OtlpEncoder::new();
    let mut out = Vec::new();
    let mut bodies = Vec::new();
    let limits = BatchLimits {
        max_points: 2,
        max_bytes: 4 << 20,
    };
    let n = enc.encode_batches(&rm, limits, &mut out, &mut |b, _| {
        bodies.push(b.clone());
        ControlFlow::Continue(())
    });
    assert_eq!(n, 5);
    assert_eq!(bodies.len(), 3);
    check(&decode_bodies(&bodies), Temporality::Cumulative);
}

#[test]
fn json_parses_strictly_with_the_official_definitions() {
    let dir = temp_dir("otlp-exp-json");
    let path = dir.join("req.jsonl");
    let mut text = String::new();
    for t in [Temporality::Cumulative, Temporality::Delta] {
        encode_json(&snapshot(t), &mut text);
        text.push('\n');
    }
    std::fs::write(&path, &text).unwrap();
    let v = python_decode("jsonl", &[&path]);
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2);
    check(&reqs[..1], Temporality::Cumulative);
    check(&reqs[1..], Temporality::Delta);
    // The OTLP/JSON rules: sint32 as numbers, fixed64/uint64 as strings.
    assert!(text.contains(r#""scale":-10"#));
    assert!(text.contains(r#""negative":{"offset":-1,"bucketCounts":["1","1","1"]}"#));
    assert!(text.contains(r#""zeroCount":"5""#));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn file_exporter_lines_carry_exponential_points() {
    let dir = temp_dir("otlp-exp-file");
    let path = dir.join("metrics.jsonl");
    let exp = OtlpFileExporter::builder()
        .with_path(&path)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    exp.export(&snapshot(Temporality::Cumulative), deadline)
        .unwrap();
    exp.shutdown(Duration::from_secs(1)).unwrap();
    let v = python_decode("jsonl", &[&path]);
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    check(reqs, Temporality::Cumulative);
    let _ = std::fs::remove_dir_all(dir);
}
