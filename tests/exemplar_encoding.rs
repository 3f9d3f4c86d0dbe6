//! Exemplars through every exporter that carries them, read back by
//! independent peers: OTLP protobuf (whole and split into batches) and
//! OTLP/JSON (also through the OTLP file exporter) decoded with the
//! official `opentelemetry-proto` definitions (tests/python/decode_otlp.py,
//! which insists on OTLP/JSON's hex ids), and OpenMetrics parsed by
//! `prometheus_client`'s OpenMetrics parser (which also enforces the
//! 128-character exemplar label limit). The text format 0.0.4 carries none
//! and stays byte-identical; promtool accepts it.
//!
//! The snapshot is built by hand (the data model's exemplars), so these
//! tests do not depend on how the SDK records them.
//!
//! `a_real_collector_keeps_the_exemplars` pushes the snapshot to a real
//! OpenTelemetry Collector over OTLP/HTTP (protobuf, then JSON with hex
//! ids) and decodes what its file exporter wrote with the official
//! definitions: the exemplars must come through unchanged.
//!
//! Needs `python3` with `pip install opentelemetry-proto protobuf
//! prometheus_client`, promtool, and the collector of
//! tests/otel_collector.rs (`FERROMETER_OTELCOL`, or built with Go by
//! scripts/build-otelcol.sh and cached).

mod demo_support;
mod openmetrics_support;
mod otlp_support;
mod promtool_support;

use ferrometer::export::otlp::encode::{BatchLimits, OtlpEncoder};
use ferrometer::export::otlp::{
    encode_json, encode_protobuf, OtlpFileExporter, OtlpHttpExporter, Protocol,
};
use ferrometer::export::prometheus::{encode, EncodeOptions, Format};
use ferrometer::export::PushExporter;
use ferrometer::{
    AttributeSet, Exemplar, ExponentialBuckets, ExponentialHistogramData,
    ExponentialHistogramPoint, GaugeData, HistogramData, HistogramPoint, InstrumentationScope,
    KeyValue, Metric, MetricData, Number, NumberPoint, Resource, ResourceMetrics, ScopeMetrics,
    SumData, Temporality,
};
use openmetrics_support::om_parse;
use otlp_support::{decode_bodies, python_decode, temp_dir};
use serde_json::{json, Value as Json};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn set(kv: &[(&str, &str)]) -> AttributeSet {
    AttributeSet::from_key_values(
        kv.iter()
            .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Trace id `n`: distinct, with high and zero bytes, so a hex or byte
/// order slip shows.
fn trace(n: u8) -> [u8; 16] {
    let mut t = [0u8; 16];
    for (i, b) in t.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(n) ^ 0xa0;
    }
    t[1] = 0;
    t
}

fn span(n: u8) -> [u8; 8] {
    [0x00, 0xf0, n, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ex(n: u8, value: Number, time: u64, filtered: &[(&str, &str)]) -> Exemplar {
    Exemplar {
        filtered_attributes: set(filtered),
        time,
        value,
        trace_id: trace(n),
        span_id: span(n),
    }
}

fn np(attrs: &[(&str, &str)], value: Number, exemplars: Vec<Exemplar>) -> NumberPoint {
    NumberPoint {
        attributes: set(attrs),
        start_time: T0,
        time: T0 + 10_000 * MS,
        explicit_time: false,
        value,
        exemplars: exemplars.into(),
    }
}

fn metric(name: &str, unit: &str, data: MetricData) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help").into(),
        unit: unit.into(),
        data,
    }
}

/// 70 characters: with the ids (63) it passes the 128 limit.
fn long() -> String {
    "x".repeat(70)
}

fn snapshot() -> ResourceMetrics {
    let long = long();
    let requests = MetricData::Sum(SumData {
        points: vec![
            // Three exemplars: the latest (n = 2) goes on the line.
            np(
                &[("route", "/play")],
                Number::U64(18),
                vec![
                    ex(1, Number::U64(5), T0 + 1000 * MS, &[("user", "u-1")]),
                    ex(
                        2,
                        Number::U64(7),
                        T0 + 3000 * MS,
                        &[("user", "u-2"), ("region", "eu")],
                    ),
                    ex(3, Number::U64(6), T0 + 2000 * MS, &[]),
                ],
            ),
            // Filtered attributes past the limit: `note` is left out,
            // the shorter `a` still fits.
            np(
                &[("route", "/big")],
                Number::U64(u64::MAX),
                vec![ex(
                    4,
                    Number::U64(u64::MAX),
                    T0 + 4000 * MS,
                    &[("a", "b"), ("note", &long)],
                )],
            ),
            // No trace context (AlwaysOn outside a span): no ids.
            np(
                &[("route", "/none")],
                Number::U64(1),
                vec![Exemplar {
                    trace_id: [0; 16],
                    span_id: [0; 8],
                    ..ex(0, Number::U64(1), T0 + 5000 * MS, &[("user", "anon")])
                }],
            ),
            // No exemplar at all.
            np(&[("route", "/quiet")], Number::U64(2), Vec::new()),
        ],
        temporality: Temporality::Cumulative,
        is_monotonic: true,
    });
    let queue = MetricData::Sum(SumData {
        points: vec![np(
            &[],
            Number::I64(-3),
            vec![ex(5, Number::I64(-2), T0 + 1000 * MS, &[])],
        )],
        temporality: Temporality::Cumulative,
        is_monotonic: false,
    });
    let temp = MetricData::Gauge(GaugeData {
        points: vec![np(
            &[],
            Number::F64(21.5),
            vec![ex(6, Number::F64(21.5), T0 + 1000 * MS, &[])],
        )],
    });
    // Bounds 0.1, 1, 5: 0.05 in the first bucket, 1.0 (the bound itself:
    // inclusive) and, later, 0.5 in the second, nothing in the third,
    // 9 in +Inf.
    let latency = MetricData::Histogram(HistogramData {
        points: vec![HistogramPoint {
            attributes: set(&[("op", "get")]),
            start_time: T0,
            time: T0 + 10_000 * MS,
            count: 6,
            sum: 11.6,
            min: Some(0.05),
            max: Some(9.0),
            bounds: vec![0.1, 1.0, 5.0].into(),
            bucket_counts: vec![1, 4, 0, 1],
            exemplars: vec![
                ex(10, Number::F64(0.05), T0 + 1000 * MS, &[("user", "a")]),
                ex(11, Number::F64(1.0), T0 + 2000 * MS, &[]),
                ex(12, Number::F64(0.5), T0 + 6000 * MS, &[("user", "c")]),
                ex(13, Number::F64(9.0), T0 + 3000 * MS, &[]),
            ]
            .into(),
        }],
        temporality: Temporality::Cumulative,
    });
    let sizes = MetricData::ExponentialHistogram(ExponentialHistogramData {
        points: vec![ExponentialHistogramPoint {
            attributes: set(&[("if", "eth0")]),
            start_time: T0,
            time: T0 + 10_000 * MS,
            count: 2,
            sum: 3000.0,
            min: Some(1500.0),
            max: Some(1500.0),
            scale: 2,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: ExponentialBuckets {
                offset: 42,
                counts: vec![2],
            },
            negative: ExponentialBuckets::default(),
            exemplars: vec![ex(20, Number::F64(1500.0), T0 + 7000 * MS, &[])].into(),
        }],
        temporality: Temporality::Cumulative,
    });
    ResourceMetrics {
        resource: Arc::new(Resource::new([KeyValue::new("service.name", "ex")])),
        scope_metrics: vec![ScopeMetrics {
            scope: Arc::new(InstrumentationScope::new("game").with_version("1.0")),
            metrics: vec![
                metric("requests", "{request}", requests),
                metric("queue.depth", "", queue),
                metric("temperature", "Cel", temp),
                metric("latency", "s", latency),
                metric("packet.size", "By", sizes),
            ],
        }],
    }
}

/// The snapshot with every exemplar removed.
fn without_exemplars(mut rm: ResourceMetrics) -> ResourceMetrics {
    for sm in &mut rm.scope_metrics {
        for m in &mut sm.metrics {
            match &mut m.data {
                MetricData::Sum(SumData { points, .. })
                | MetricData::Gauge(GaugeData { points }) => {
                    points.iter_mut().for_each(|p| p.exemplars.clear())
                }
                MetricData::Histogram(h) => h.points.iter_mut().for_each(|p| p.exemplars.clear()),
                MetricData::ExponentialHistogram(h) => {
                    h.points.iter_mut().for_each(|p| p.exemplars.clear())
                }
            }
        }
    }
    rm
}

// ---- OTLP -------------------------------------------------------------------

/// What the official decoder must report for an exemplar (the format of
/// decode_otlp.py), from the data model by the OTLP mapping rules.
fn otlp_expected(e: &Exemplar) -> Json {
    let mut attrs = serde_json::Map::new();
    for kv in e.filtered_attributes.iter() {
        attrs.insert(kv.key().to_owned(), json!(kv.value().to_string()));
    }
    let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
    let mut v = json!({
        "filtered_attributes": attrs,
        "time": e.time,
        "trace_id": if zero(&e.trace_id) { String::new() } else { hex(&e.trace_id) },
        "span_id": if zero(&e.span_id) { String::new() } else { hex(&e.span_id) },
    });
    match e.value {
        Number::U64(u) if u > i64::MAX as u64 => v["as_double"] = json!(u as f64),
        Number::U64(u) => v["as_int"] = json!(u),
        Number::I64(i) => v["as_int"] = json!(i),
        Number::F64(f) => v["as_double"] = json!(f),
    }
    v
}

/// Every point's exemplars in the snapshot, keyed by metric name and
/// point index, as the decoder must report them.
fn otlp_want(rm: &ResourceMetrics) -> Vec<(String, usize, Json)> {
    let mut out = Vec::new();
    for m in &rm.scope_metrics[0].metrics {
        let lists: Vec<&[Exemplar]> = match &m.data {
            MetricData::Sum(SumData { points, .. }) | MetricData::Gauge(GaugeData { points }) => {
                points.iter().map(|p| p.exemplars.as_slice()).collect()
            }
            MetricData::Histogram(h) => h.points.iter().map(|p| p.exemplars.as_slice()).collect(),
            MetricData::ExponentialHistogram(h) => {
                h.points.iter().map(|p| p.exemplars.as_slice()).collect()
            }
        };
        for (i, l) in lists.into_iter().enumerate() {
            let v: Vec<Json> = l.iter().map(otlp_expected).collect();
            out.push((m.name.to_string(), i, Json::Array(v)));
        }
    }
    out
}

/// The exemplars of every decoded point, in the same shape as
/// [`otlp_want`] (points in request order; a metric split over requests
/// continues its point index).
fn otlp_got(reqs: &[Json]) -> Vec<(String, usize, Json)> {
    let mut out = Vec::new();
    let mut next: std::collections::HashMap<String, usize> = Default::default();
    for req in reqs {
        assert_eq!(req["unknown_bytes"], 0, "{req}");
        for m in req["metrics"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap().to_owned();
            for p in m["points"].as_array().unwrap() {
                let i = next.entry(name.clone()).or_default();
                let ex = p.get("exemplars").cloned().unwrap_or(json!([]));
                out.push((name.clone(), *i, ex));
                *i += 1;
            }
        }
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

fn otlp_check(reqs: &[Json]) {
    let mut want = otlp_want(&snapshot());
    want.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let got = otlp_got(reqs);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

#[test]
fn otlp_protobuf_exemplars_decode_with_the_official_definitions() {
    let rm = snapshot();
    let mut body = Vec::new();
    encode_protobuf(&rm, &mut body);
    let reqs = decode_bodies(&[body]);
    otlp_check(&reqs);
    // Spot checks against literal ids: byte order and the value rules.
    let req = &reqs[0];
    let requests = otlp_support::metric(req, "requests");
    let e = &requests["points"][0]["exemplars"][1];
    assert_eq!(e["trace_id"], hex(&trace(2)));
    assert_eq!(e["span_id"], "00f002aa0ba902b7");
    assert_eq!(e["as_int"], 7);
    assert_eq!(
        requests["points"][1]["exemplars"][0]["as_double"],
        json!(u64::MAX as f64)
    );
    assert_eq!(requests["points"][2]["exemplars"][0]["trace_id"], "");
    assert!(requests["points"][3].get("exemplars").is_none());
}

#[test]
fn otlp_batches_keep_each_points_exemplars() {
    let rm = snapshot();
    for limits in [
        BatchLimits {
            max_points: 1,
            max_bytes: 1 << 20,
        },
        BatchLimits {
            max_points: usize::MAX,
            max_bytes: 300,
        },
    ] {
        let mut bodies = Vec::new();
        let mut sizes = Vec::new();
        let n = OtlpEncoder::new().encode_batches(&rm, limits, &mut Vec::new(), &mut |b, n| {
            bodies.push(b.clone());
            sizes.push((b.len(), n));
            ControlFlow::Continue(())
        });
        assert_eq!(n, rm.point_count());
        assert!(bodies.len() > 2);
        for (bytes, points) in sizes {
            // A lone point may pass the byte limit; several never do.
            assert!(bytes <= limits.max_bytes || points == 1, "{bytes} {points}");
        }
        otlp_check(&decode_bodies(&bodies));
    }
}

#[test]
fn otlp_json_and_file_exporter_write_hex_ids() {
    let dir = temp_dir("exemplar-json");
    let path = dir.join("req.jsonl");
    let mut text = String::new();
    encode_json(&snapshot(), &mut text);
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    // decode_otlp.py refuses ids that are not 32/16 lowercase hex digits.
    let v = python_decode("jsonl", &[&path]);
    otlp_check(v["requests"].as_array().unwrap());
    assert!(text.contains(&format!(r#""traceId":"{}""#, hex(&trace(2)))));
    assert!(text.contains(r#""spanId":"00f002aa0ba902b7""#));

    let file = dir.join("metrics.jsonl");
    let exp = OtlpFileExporter::builder()
        .with_path(&file)
        .build()
        .unwrap();
    exp.export(&snapshot(), Instant::now() + Duration::from_secs(5))
        .unwrap();
    exp.shutdown(Duration::from_secs(1)).unwrap();
    let v = python_decode("jsonl", &[&file]);
    otlp_check(v["requests"].as_array().unwrap());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_real_collector_keeps_the_exemplars() {
    use demo_support::{free_port, peer_binary, start_peer, TempDir};
    let bin = peer_binary(
        "FERROMETER_OTELCOL",
        "scripts/build-otelcol.sh",
        "the OpenTelemetry Collector",
        "Install Go with access to the Go module proxy, or set FERROMETER_OTELCOL \
         to a collector binary with the otlp receiver and the file exporter.",
    );
    let dir = TempDir::new("ferrometer-exemplar-otelcol");
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/collector/otelcol-config.yaml"),
    )
    .unwrap();
    let output = |attempt: u32| dir.0.join(format!("metrics-{attempt}.jsonl"));
    let args = |attempt: u32, port: u16| {
        let config = dir.0.join(format!("config-{attempt}.yaml"));
        let text = template
            .replace("@ENDPOINT@", &format!("127.0.0.1:{port}"))
            .replace("@GRPC_ENDPOINT@", &format!("127.0.0.1:{}", free_port()))
            .replace("@OUTPUT@", &output(attempt).to_string_lossy())
            .replace("@EXPORTERS@", "file");
        std::fs::write(&config, text).unwrap();
        vec!["--config".into(), config.into_os_string()]
    };
    let ready = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let peer = start_peer(
        "the collector",
        &bin,
        &dir.0,
        "collector",
        Duration::from_secs(30),
        args,
        ready,
    );
    let out = output(peer.attempt);
    for (protocol, service) in [
        (Protocol::HttpProtobuf, "exemplar-protobuf"),
        (Protocol::HttpJson, "exemplar-json"),
    ] {
        let mut rm = snapshot();
        rm.resource = Arc::new(Resource::new([KeyValue::new("service.name", service)]));
        let exp = OtlpHttpExporter::builder()
            .without_env()
            .with_base_endpoint(format!("http://127.0.0.1:{}", peer.port))
            .with_protocol(protocol)
            .with_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        exp.export(&rm, Instant::now() + Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{service}: {e}\n{}", peer.log_text()));
        // The collector writes one request per line; wait for ours.
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let found = text
                .lines()
                .find(|l| l.ends_with('}') && l.contains(&format!("\"{service}\"")));
            if let Some(l) = found {
                break l.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{service}: nothing from the collector; its log:\n{}",
                peer.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let file = dir.0.join(format!("{service}.jsonl"));
        std::fs::write(&file, format!("{line}\n")).unwrap();
        // The collector's OTLP/JSON has hex ids too; decode_otlp.py
        // insists on it.
        let v = python_decode("jsonl", &[&file]);
        otlp_check(v["requests"].as_array().unwrap());
    }
}

// ---- OpenMetrics and text -----------------------------------------------------

fn render(rm: &ResourceMetrics, f: Format) -> String {
    let mut out = Vec::new();
    encode(rm, f, &EncodeOptions::default(), &mut out);
    String::from_utf8(out).unwrap()
}

/// The one sample named `name` whose labels include `with`.
fn sample<'a>(samples: &'a [Json], name: &str, with: &[(&str, &str)]) -> &'a Json {
    let found: Vec<&Json> = samples
        .iter()
        .filter(|s| s["name"] == name && with.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect();
    assert_eq!(found.len(), 1, "{name} {with:?} in {samples:?}");
    found[0]
}

/// The exemplar the OpenMetrics line must carry for `e`: ids as labels,
/// then the filtered attributes given, value and seconds.
fn om_exemplar(n: u8, value: f64, time: u64, attrs: &[(&str, &str)]) -> Json {
    let mut labels = serde_json::Map::new();
    labels.insert("trace_id".into(), json!(hex(&trace(n))));
    labels.insert("span_id".into(), json!(hex(&span(n))));
    for (k, v) in attrs {
        labels.insert(k.to_string(), json!(v));
    }
    json!({
        "labels": labels,
        "value": value,
        "timestamp": [time / 1_000_000_000, time % 1_000_000_000],
    })
}

#[test]
fn openmetrics_exemplars_parse_on_the_right_samples() {
    let text = render(&snapshot(), Format::OpenMetrics);
    let samples = om_parse(&text);
    let total = |route: &str| &sample(&samples, "requests_total", &[("route", route)])["exemplar"];
    // The latest of three, its filtered attributes as labels.
    assert_eq!(
        total("/play"),
        &om_exemplar(2, 7.0, T0 + 3000 * MS, &[("region", "eu"), ("user", "u-2")])
    );
    // `note` would pass 128 characters: left out; `a` kept.
    assert_eq!(
        total("/big"),
        &om_exemplar(4, u64::MAX as f64, T0 + 4000 * MS, &[("a", "b")])
    );
    // No trace context: no id labels.
    assert_eq!(
        total("/none"),
        &json!({"labels": {"user": "anon"}, "value": 1.0, "timestamp": [1_700_000_005u64, 0]})
    );
    assert_eq!(total("/quiet"), &Json::Null);
    // Buckets: each the latest exemplar whose value it holds.
    let bucket = |le: &str| &sample(&samples, "latency_seconds_bucket", &[("le", le)])["exemplar"];
    assert_eq!(
        bucket("0.1"),
        &om_exemplar(10, 0.05, T0 + 1000 * MS, &[("user", "a")])
    );
    assert_eq!(
        bucket("1.0"),
        &om_exemplar(12, 0.5, T0 + 6000 * MS, &[("user", "c")])
    );
    assert_eq!(bucket("5.0"), &Json::Null);
    assert_eq!(bucket("+Inf"), &om_exemplar(13, 9.0, T0 + 3000 * MS, &[]));
    // Nothing else carries one: gauges, up-down counters, _created,
    // _count, _sum (exponential histograms are not in the text formats).
    let with: Vec<&str> = samples
        .iter()
        .filter(|s| !s["exemplar"].is_null())
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        with,
        [
            "requests_total",
            "requests_total",
            "requests_total",
            "latency_seconds_bucket",
            "latency_seconds_bucket",
            "latency_seconds_bucket"
        ]
    );
    // The exemplar syntax as written.
    assert!(text.contains(&format!(
        "requests_total{{route=\"/play\",otel_scope_name=\"game\",otel_scope_version=\"1.0\"}} 18 # {{trace_id=\"{}\",span_id=\"00f002aa0ba902b7\",region=\"eu\",user=\"u-2\"}} 7 1700000003.000\n",
        hex(&trace(2))
    )), "{text}");
}

#[test]
fn the_label_limit_is_128_characters_inclusive() {
    // Ids: 8 + 32 + 7 + 16 = 63 characters; `k` + 64 more is 128 exactly
    // (kept), one more character is 129 (left out). Multi-byte characters
    // count once.
    for (value, kept) in [
        ("é".repeat(64), true),
        ("é".repeat(65), false),
        ("v".repeat(64), true),
    ] {
        let mut rm = snapshot();
        if let MetricData::Sum(s) = &mut rm.scope_metrics[0].metrics[0].data {
            s.points[0].exemplars = vec![ex(1, Number::U64(1), T0, &[("k", &value)])].into();
        }
        let samples = om_parse(&render(&rm, Format::OpenMetrics));
        let e = &sample(&samples, "requests_total", &[("route", "/play")])["exemplar"];
        assert_eq!(e["labels"]["trace_id"], hex(&trace(1)));
        assert_eq!(e["labels"]["span_id"], hex(&span(1)));
        assert_eq!(
            e["labels"].get("k").is_some(),
            kept,
            "{} chars",
            value.chars().count()
        );
    }
}

/// `text` with every ` # {...} value ts` exemplar suffix cut off.
fn strip_exemplars(text: &str) -> String {
    text.lines()
        .map(|l| match l.find(" # {") {
            Some(i) if !l.starts_with('#') => &l[..i],
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn exemplars_only_append_and_text_0_0_4_carries_none() {
    let rm = snapshot();
    let plain = without_exemplars(snapshot());
    // OpenMetrics: the same lines, some with an exemplar appended.
    let om = render(&rm, Format::OpenMetrics);
    assert_ne!(om, render(&plain, Format::OpenMetrics));
    assert_eq!(strip_exemplars(&om), render(&plain, Format::OpenMetrics));
    // Text 0.0.4: byte-identical with and without exemplars, and valid.
    let text = render(&rm, Format::Text);
    assert_eq!(text, render(&plain, Format::Text));
    assert!(!text.contains(" # {"));
    let (ok, msg) = promtool_support::promtool_check(&text);
    assert!(ok, "promtool: {msg}\n{text}");
    // OTLP: exemplars add bytes; without them the bytes are those of the
    // plain snapshot.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    encode_protobuf(&plain, &mut a);
    encode_protobuf(&without_exemplars(rm), &mut b);
    assert_eq!(a, b);
}
