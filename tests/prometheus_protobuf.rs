//! The Prometheus protobuf exposition, negotiated over a real socket and
//! decoded with the OFFICIAL `io.prometheus.client` definitions:
//! client_model's metrics.proto (v0.6.1, fetched at test time from the Go
//! module proxy with `go mod download`) compiled by grpcio-tools into
//! Python classes (tests/python/decode_prom_proto.py). Every metric type
//! is compared with what was recorded, exponential histograms as native
//! histograms whose buckets are recomputed here from the recorded ones;
//! the text formats leave exponential histograms out and count them.
//!
//! Needs Go (`/usr/local/go/bin/go` or `go` on PATH) and `python3` with
//! `pip install protobuf grpcio-tools`.

use ferrometer::export::prometheus::names::{family_name, PromKind};
use ferrometer::export::prometheus::protobuf::CONTENT_TYPE;
use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::producer::{ExponentialHistogramValue, PointKind, ProducedMetric, ProducerBatch};
use ferrometer::{
    diagnostics, InstrumentationScope, KeyValue, MeterProvider, Resource, Temporality,
};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The Accept header Prometheus sends when native histograms are on.
const PROMETHEUS_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.7,text/plain;version=0.0.4;q=0.6,*/*;q=0.5";

/// One exponential histogram series the producer supplies.
struct ExpSeries {
    host: &'static str,
    scale: i32,
    zero_count: u64,
    zero_threshold: f64,
    positive: (i32, Vec<u64>),
    negative: (i32, Vec<u64>),
    sum: f64,
}

impl ExpSeries {
    fn count(&self) -> u64 {
        self.zero_count + self.positive.1.iter().sum::<u64>() + self.negative.1.iter().sum::<u64>()
    }
}

fn series() -> Vec<ExpSeries> {
    vec![
        // Both signs, gaps inside the positive range, a zero bucket.
        ExpSeries {
            host: "eth0",
            scale: 3,
            zero_count: 1,
            zero_threshold: 0.0,
            positive: (-2, vec![1, 0, 0, 4, 2]),
            negative: (5, vec![3]),
            sum: 12.5,
        },
        // Finer than Prometheus allows: downscaled to schema 8 (four steps),
        // across a coarse bucket boundary (4096).
        ExpSeries {
            host: "eth1",
            scale: 12,
            zero_count: 0,
            zero_threshold: 1e-9,
            positive: (4090, vec![1; 10]),
            negative: (-7, vec![2, 0, 5]),
            sum: 9.0,
        },
        // Coarser than Prometheus' schema -4: left out of every exposition.
        ExpSeries {
            host: "eth2",
            scale: -6,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: (0, vec![1]),
            negative: (0, vec![]),
            sum: 1.0,
        },
        // Prometheus' coarsest schema and no bucket at all.
        ExpSeries {
            host: "eth3",
            scale: -4,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: (0, vec![]),
            negative: (0, vec![]),
            sum: 0.0,
        },
    ]
}

/// A provider with every metric type: counters, an up-down counter, a
/// gauge, an explicit histogram, and produced exponential histograms.
fn provider() -> MeterProvider {
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "proto")]))
        .build();
    let m = p.meter_with_scope(InstrumentationScope::new("game").with_version("1.0"));
    let joined = m.u64_counter("players.joined").build().unwrap();
    joined.add(3, &[KeyValue::new("region", "eu")]);
    joined.add(5, &[KeyValue::new("region", "us")]);
    let depth = m.i64_up_down_counter("queue.depth").build().unwrap();
    depth.add(-2, &[]);
    let temp = m.f64_gauge("temperature").with_unit("Cel").build().unwrap();
    temp.record(21.5, &[KeyValue::new("room", "a")]);
    let lat = m
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .unwrap();
    for v in [0.05, 0.5, 0.7, 3.0] {
        lat.record(v, &[]);
    }
    let sizes = ProducedMetric::new(
        "packet.size",
        PointKind::ExponentialHistogram {
            temporality: Temporality::Cumulative,
        },
    )
    .with_unit("By")
    .with_description("Packet sizes.");
    let _reg = p.register_producer(
        InstrumentationScope::new("net"),
        move |b: &mut ProducerBatch| {
            for s in series() {
                let v = ExponentialHistogramValue {
                    scale: s.scale,
                    count: s.count(),
                    sum: s.sum,
                    min_max: None,
                    zero_count: s.zero_count,
                    zero_threshold: s.zero_threshold,
                    positive_offset: s.positive.0,
                    positive_counts: &s.positive.1,
                    negative_offset: s.negative.0,
                    negative_counts: &s.negative.1,
                };
                b.add_exponential_histogram(
                    &sizes,
                    &[KeyValue::new("if", s.host)],
                    &v,
                    0,
                    1_700_000_000_250_000_000,
                )?;
            }
            Ok(())
        },
    );
    p
}

fn request(addr: SocketAddr, accept: Option<&str>) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n".to_owned();
    if let Some(a) = accept {
        req.push_str(&format!("Accept: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ct = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap();
    (ct, raw[split + 4..].to_vec())
}

fn go() -> PathBuf {
    let local = Path::new("/usr/local/go/bin/go");
    if local.exists() {
        local.to_owned()
    } else {
        "go".into()
    }
}

/// client_model v0.6.1's module directory (holds
/// io/prometheus/client/metrics.proto), from the Go module proxy.
fn client_model_dir() -> String {
    let out = Command::new(go())
        .args([
            "mod",
            "download",
            "-json",
            "github.com/prometheus/client_model@v0.6.1",
        ])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run go ({e}): this test needs Go"));
    assert!(
        out.status.success(),
        "go mod download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let dir = v["Dir"].as_str().unwrap().to_owned();
    assert!(Path::new(&dir)
        .join("io/prometheus/client/metrics.proto")
        .exists());
    dir
}

/// Decodes a delimited exposition with the official definitions.
fn decode(body: &[u8]) -> Vec<Json> {
    // One file per call: the tests of this file decode in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!(
        "ferrometer-promproto-{}-{call}.bin",
        std::process::id()
    ));
    std::fs::write(&file, body).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_prom_proto.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(client_model_dir())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e})"));
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "decode_prom_proto.py failed (needs `pip install protobuf grpcio-tools`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let families = v["families"].as_array().unwrap().clone();
    for f in &families {
        assert_eq!(f["unknown_bytes"], 0, "unrecognised bytes in {f}");
    }
    families
}

fn name(n: &str, unit: &str, kind: PromKind) -> String {
    let f = family_name(n, unit, kind, true, true);
    if kind == PromKind::Counter && f.total {
        format!("{}_total", f.base)
    } else {
        f.base
    }
}

fn family<'a>(families: &'a [Json], name: &str) -> &'a Json {
    let found: Vec<&Json> = families.iter().filter(|f| f["name"] == name).collect();
    assert_eq!(found.len(), 1, "family {name} in {families:?}");
    found[0]
}

fn labels(pairs: &[(&str, &str)]) -> Json {
    let m: serde_json::Map<String, Json> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Json::from(*v)))
        .collect();
    Json::Object(m)
}

/// The native buckets a series must show, computed from the recorded
/// OpenTelemetry buckets: schema `min(scale, 8)`, OpenTelemetry index `i`
/// in Prometheus bucket `floor(i / 2^(scale - schema)) + 1`.
fn expected_native(offset: i32, counts: &[u64], scale: i32) -> BTreeMap<i64, u64> {
    let step = 1i64 << (scale - scale.min(8));
    let mut m = BTreeMap::new();
    for (k, &c) in counts.iter().enumerate() {
        if c > 0 {
            let i = i64::from(offset) + k as i64;
            *m.entry(i.div_euclid(step) + 1).or_default() += c;
        }
    }
    m
}

fn as_map(v: &Json) -> BTreeMap<i64, u64> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, c)| (k.parse().unwrap(), c.as_u64().unwrap()))
        .collect()
}

#[test]
fn every_metric_type_decodes_with_the_official_definitions() {
    diagnostics::set_silent();
    let p = provider();
    let server =
        PrometheusServer::start(&p, "127.0.0.1:0", PrometheusServerOptions::default()).unwrap();
    let before = p.rejected().exposition_conflicts;
    let (ct, body) = request(server.local_addr(), Some(PROMETHEUS_ACCEPT));
    let after_proto = p.rejected().exposition_conflicts;
    let (text_ct, text) = request(server.local_addr(), Some("text/plain"));
    let after_text = p.rejected().exposition_conflicts;
    server.stop();
    assert_eq!(ct, CONTENT_TYPE);
    assert!(text_ct.starts_with("text/plain"));
    let text = String::from_utf8(text).unwrap();
    let families = decode(&body);

    let scope = [("otel_scope_name", "game"), ("otel_scope_version", "1.0")];
    let with_scope = |own: &[(&str, &str)]| {
        let mut v = own.to_vec();
        v.extend_from_slice(&scope);
        labels(&v)
    };

    // target_info carries the resource.
    let t = family(&families, "target_info");
    assert_eq!(t["type"], "GAUGE");
    assert_eq!(
        t["metrics"][0]["labels"],
        labels(&[("service_name", "proto")])
    );
    assert_eq!(t["metrics"][0]["gauge"], 1.0);

    // Counters: values and created timestamps.
    let c = family(&families, &name("players.joined", "", PromKind::Counter));
    assert_eq!(c["type"], "COUNTER");
    let ms = c["metrics"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    for (region, v) in [("eu", 3.0), ("us", 5.0)] {
        let m = ms
            .iter()
            .find(|m| m["labels"] == with_scope(&[("region", region)]))
            .unwrap_or_else(|| panic!("{region} in {c}"));
        assert_eq!(m["counter"], v);
        assert!(m["counter_created"][0].as_i64().unwrap() > 1_600_000_000);
    }

    // Gauges: an up-down counter and a gauge (unit suffix from the names
    // rules).
    let d = family(&families, &name("queue.depth", "", PromKind::Gauge));
    assert_eq!(d["type"], "GAUGE");
    assert_eq!(d["metrics"][0]["gauge"], -2.0);
    assert_eq!(d["metrics"][0]["labels"], with_scope(&[]));
    let g = family(&families, &name("temperature", "Cel", PromKind::Gauge));
    assert_eq!(g["metrics"][0]["gauge"], 21.5);
    assert_eq!(g["metrics"][0]["labels"], with_scope(&[("room", "a")]));

    // A classic histogram: cumulative buckets, count, sum, no native part.
    let l = family(&families, &name("latency", "s", PromKind::Histogram));
    assert_eq!(l["type"], "HISTOGRAM");
    let h = &l["metrics"][0]["histogram"];
    assert_eq!(h["native"], false);
    assert_eq!(h["sample_count"], 4);
    assert_eq!(h["sample_sum"], 0.05 + 0.5 + 0.7 + 3.0);
    assert_eq!(h["buckets"], serde_json::json!([[1, 0.1], [3, 1.0]]));
    assert!(h["created"][0].as_i64().unwrap() > 1_600_000_000);

    // The same names and labels as the text exposition.
    for (f, m) in [(c, &ms[0]), (d, &d["metrics"][0]), (g, &g["metrics"][0])] {
        let pairs: Vec<String> = m["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let value = m["counter"].as_f64().or(m["gauge"].as_f64()).unwrap();
        let head = format!("{}{{", f["name"].as_str().unwrap());
        let tail = format!("}} {value}");
        let found = text.lines().any(|l| {
            l.starts_with(&head)
                && l.ends_with(&tail)
                && l[head.len()..l.len() - tail.len()].split(',').count() == pairs.len()
                && pairs.iter().all(|p| l.contains(p.as_str()))
        });
        assert!(found, "{head}{pairs:?}{tail} not in\n{text}");
    }

    // Exponential histograms as native histograms.
    let x = family(&families, &name("packet.size", "By", PromKind::Histogram));
    assert_eq!(x["type"], "HISTOGRAM");
    assert_eq!(x["help"], "Packet sizes.");
    let xs = x["metrics"].as_array().unwrap();
    assert_eq!(xs.len(), 3, "the scale -6 point is left out: {x}");
    for s in series().iter().filter(|s| s.scale >= -4) {
        let m = xs
            .iter()
            .find(|m| m["labels"]["if"] == s.host)
            .unwrap_or_else(|| panic!("{} in {x}", s.host));
        assert_eq!(m["labels"]["otel_scope_name"], "net");
        let h = &m["histogram"];
        assert_eq!(h["native"], true, "{}", s.host);
        assert_eq!(h["schema"], s.scale.min(8));
        assert_eq!(h["zero_count"], s.zero_count);
        assert_eq!(h["zero_threshold"], s.zero_threshold);
        assert_eq!(h["sample_count"], s.count());
        assert_eq!(h["sample_sum"], s.sum);
        assert_eq!(h["buckets"], serde_json::json!([]));
        assert_eq!(
            h["created"],
            serde_json::json!([1_700_000_000, 250_000_000])
        );
        assert_eq!(
            as_map(&h["positive"]),
            expected_native(s.positive.0, &s.positive.1, s.scale),
            "{}",
            s.host
        );
        assert_eq!(
            as_map(&h["negative"]),
            expected_native(s.negative.0, &s.negative.1, s.scale),
            "{}",
            s.host
        );
    }
    // Spans cover runs of non-empty buckets: eth0's -2, +1, +2 at scale 3
    // are Prometheus -1 and 2..=3 (a gap of two).
    let eth0 = xs.iter().find(|m| m["labels"]["if"] == "eth0").unwrap();
    assert_eq!(
        eth0["histogram"]["positive_spans"],
        serde_json::json!([[-1, 1], [2, 2]])
    );

    // Left out and counted: one point in protobuf (scale -6), all four in
    // the text format, which has no native histograms.
    assert_eq!(after_proto - before, 1);
    assert_eq!(after_text - after_proto, 4);
    assert!(!text.contains("packet_size"));
    assert!(text.contains("latency_seconds_bucket{"));
}

#[test]
fn negotiation_over_http() {
    let p = provider();
    let server =
        PrometheusServer::start(&p, "127.0.0.1:0", PrometheusServerOptions::default()).unwrap();
    let addr = server.local_addr();
    assert_eq!(request(addr, Some(PROMETHEUS_ACCEPT)).0, CONTENT_TYPE);
    assert!(request(addr, None).0.starts_with("text/plain"));
    assert!(
        request(addr, Some("application/openmetrics-text;version=1.0.0"))
            .0
            .starts_with("application/openmetrics-text")
    );
    server.stop();
    // Turned off, the protobuf offer is ignored.
    let off = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_protobuf(false),
    )
    .unwrap();
    assert!(request(off.local_addr(), Some(PROMETHEUS_ACCEPT))
        .0
        .starts_with("application/openmetrics-text"));
    off.stop();
}

/// Exemplars in the protobuf exposition (issue 14), from a hand-built
/// snapshot: a counter's latest in `Counter.exemplar`, a classic
/// histogram's per bucket (`upper_bound` inclusive; the `+Inf` bucket
/// written explicitly only to carry one), a native histogram's in
/// `Histogram.exemplars` (those with a time), gauges none; decoded with
/// client_model's own definitions.
#[test]
fn exemplars_decode_with_the_official_definitions() {
    use ferrometer::export::prometheus::{encode, EncodeOptions, Format};
    use ferrometer::{
        AttributeSet, Exemplar, ExponentialBuckets, ExponentialHistogramData,
        ExponentialHistogramPoint, GaugeData, HistogramData, HistogramPoint, Metric, MetricData,
        Number, NumberPoint, ResourceMetrics, ScopeMetrics, SumData,
    };
    use serde_json::json;
    use std::sync::Arc;

    const T0: u64 = 1_700_000_000_000_000_000;
    let trace = |n: u8| -> [u8; 16] { std::array::from_fn(|i| (i as u8 * 16) ^ n) };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let ex = |n: u8, value: Number, time: u64| Exemplar {
        filtered_attributes: AttributeSet::from_key_values(vec![KeyValue::new("user", "u")]),
        time,
        value,
        trace_id: trace(n),
        span_id: [n; 8],
    };
    let np = |value: Number, exemplars: Vec<Exemplar>| NumberPoint {
        attributes: AttributeSet::empty(),
        start_time: T0,
        time: T0 + 1,
        explicit_time: false,
        value,
        exemplars: exemplars.into(),
    };
    let metric = |name: &str, data: MetricData| Metric {
        name: name.into(),
        description: "".into(),
        unit: "".into(),
        data,
    };
    let rm = ResourceMetrics {
        resource: Arc::new(Resource::empty()),
        scope_metrics: vec![ScopeMetrics {
            scope: Arc::new(InstrumentationScope::new("s")),
            metrics: vec![
                metric(
                    "hits",
                    MetricData::Sum(SumData {
                        points: vec![np(
                            Number::U64(9),
                            vec![
                                ex(1, Number::U64(4), T0 + 2_000_000_000),
                                ex(2, Number::U64(5), T0 + 1_000_000_000),
                            ],
                        )],
                        temporality: Temporality::Cumulative,
                        is_monotonic: true,
                    }),
                ),
                metric(
                    "level",
                    MetricData::Gauge(GaugeData {
                        points: vec![np(Number::F64(1.5), vec![ex(3, Number::F64(1.5), T0)])],
                    }),
                ),
                metric(
                    "lat",
                    MetricData::Histogram(HistogramData {
                        points: vec![HistogramPoint {
                            attributes: AttributeSet::empty(),
                            start_time: T0,
                            time: T0 + 1,
                            count: 3,
                            sum: 12.0,
                            min: None,
                            max: None,
                            bounds: vec![1.0, 2.0].into(),
                            bucket_counts: vec![0, 2, 1],
                            exemplars: vec![
                                ex(4, Number::F64(2.0), T0 + 5),
                                ex(5, Number::F64(9.0), T0 + 6),
                            ]
                            .into(),
                        }],
                        temporality: Temporality::Cumulative,
                    }),
                ),
                metric(
                    "size",
                    MetricData::ExponentialHistogram(ExponentialHistogramData {
                        points: vec![ExponentialHistogramPoint {
                            attributes: AttributeSet::empty(),
                            start_time: T0,
                            time: T0 + 1,
                            count: 2,
                            sum: 6.0,
                            min: None,
                            max: None,
                            scale: 0,
                            zero_count: 0,
                            zero_threshold: 0.0,
                            positive: ExponentialBuckets {
                                offset: 1,
                                counts: vec![2],
                            },
                            negative: ExponentialBuckets::default(),
                            exemplars: vec![
                                ex(6, Number::F64(3.0), T0 + 1_250_000_007),
                                ex(7, Number::F64(3.0), 0),
                            ]
                            .into(),
                        }],
                        temporality: Temporality::Cumulative,
                    }),
                ),
            ],
        }],
    };
    let mut body = Vec::new();
    encode(&rm, Format::Protobuf, &EncodeOptions::default(), &mut body);
    let families = decode(&body);
    let want = |n: u8, value: f64, time: u64| {
        json!({
            "labels": {"trace_id": hex(&trace(n)), "span_id": hex(&[n; 8]), "user": "u"},
            "value": value,
            "timestamp": [time / 1_000_000_000, time % 1_000_000_000],
        })
    };
    let hits = &family(&families, "hits_total")["metrics"][0];
    assert_eq!(hits["counter_exemplar"], want(1, 4.0, T0 + 2_000_000_000));
    let level = &family(&families, "level")["metrics"][0];
    assert!(level.get("counter_exemplar").is_none(), "{level}");
    let lat = &family(&families, "lat")["metrics"][0]["histogram"];
    assert_eq!(
        lat["buckets"],
        json!([
            [0, 1.0],
            [2, 2.0, want(4, 2.0, T0 + 5)],
            [3, "inf", want(5, 9.0, T0 + 6)]
        ])
    );
    assert!(lat.get("exemplars").is_none());
    let size = &family(&families, "size")["metrics"][0]["histogram"];
    assert_eq!(size["native"], true);
    assert_eq!(size["exemplars"], json!([want(6, 3.0, T0 + 1_250_000_007)]));
}
