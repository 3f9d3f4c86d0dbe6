//! The Prometheus encoders: golden tables, translation rules, collisions,
//! and property tests whose output must always parse (with a strict parser
//! written here, and with Python `prometheus_client`'s reference parsers).

use ferrometer::export::prometheus::names::{family_name, PromKind};
use ferrometer::export::prometheus::{encode, EncodeOptions, Format};
use ferrometer::{
    AttributeSet, GaugeData, HistogramData, HistogramPoint, InstrumentationScope, KeyValue, Metric,
    MetricData, Number, NumberPoint, Resource, ResourceMetrics, ScopeMetrics, SumData, Temporality,
    Value,
};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const T0: u64 = 1_700_000_000_000_000_000;

fn attrs(kv: &[(&str, &str)]) -> AttributeSet {
    AttributeSet::from_key_values(
        kv.iter()
            .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
            .collect(),
    )
}

fn np(a: AttributeSet, v: Number) -> NumberPoint {
    NumberPoint {
        exemplars: Default::default(),
        attributes: a,
        start_time: T0,
        time: T0 + 5_000_000_000,
        explicit_time: false,
        value: v,
    }
}

fn metric(name: &str, desc: &str, unit: &str, data: MetricData) -> Metric {
    Metric {
        name: name.into(),
        description: desc.into(),
        unit: unit.into(),
        data,
    }
}

fn counter(points: Vec<NumberPoint>) -> MetricData {
    MetricData::Sum(SumData {
        points,
        temporality: Temporality::Cumulative,
        is_monotonic: true,
    })
}

fn updown(points: Vec<NumberPoint>) -> MetricData {
    MetricData::Sum(SumData {
        points,
        temporality: Temporality::Cumulative,
        is_monotonic: false,
    })
}

fn gauge(points: Vec<NumberPoint>) -> MetricData {
    MetricData::Gauge(GaugeData { points })
}

fn hist(a: AttributeSet, bounds: &[f64], counts: &[u64], sum: f64) -> MetricData {
    MetricData::Histogram(HistogramData {
        points: vec![HistogramPoint {
            exemplars: Default::default(),
            attributes: a,
            start_time: T0,
            time: T0 + 5_000_000_000,
            count: counts.iter().sum(),
            sum,
            min: None,
            max: None,
            bounds: bounds.to_vec().into(),
            bucket_counts: counts.to_vec(),
        }],
        temporality: Temporality::Cumulative,
    })
}

fn snapshot(
    resource: Resource,
    scopes: Vec<(InstrumentationScope, Vec<Metric>)>,
) -> ResourceMetrics {
    ResourceMetrics {
        resource: Arc::new(resource),
        scope_metrics: scopes
            .into_iter()
            .map(|(s, m)| ScopeMetrics {
                scope: Arc::new(s),
                metrics: m,
            })
            .collect(),
    }
}

fn render(rm: &ResourceMetrics, f: Format) -> String {
    let mut out = Vec::new();
    encode(rm, f, &EncodeOptions::default(), &mut out);
    String::from_utf8(out).expect("utf-8 output")
}

fn sample_snapshot() -> ResourceMetrics {
    let scope = InstrumentationScope::new("game").with_version("1.2");
    let mut g = np(attrs(&[("room", "a\"b\\c\nd")]), Number::F64(0.25));
    g.explicit_time = true;
    g.time = T0 + 1_234_000_000;
    snapshot(
        Resource::new([KeyValue::new("service.name", "svc")]),
        vec![(
            scope,
            vec![
                metric(
                    "http.requests",
                    "Requests \"served\"\nby route \\",
                    "{request}",
                    counter(vec![np(attrs(&[("http.route", "/play")]), Number::U64(7))]),
                ),
                metric(
                    "queue.depth",
                    "Items",
                    "",
                    updown(vec![np(attrs(&[]), Number::I64(-3))]),
                ),
                metric("cpu.load", "", "1", gauge(vec![g])),
                metric(
                    "latency",
                    "Latency",
                    "s",
                    hist(attrs(&[("op", "get")]), &[0.1, 1.0], &[2, 3, 1], 4.5),
                ),
            ],
        )],
    )
}

#[test]
fn golden_text() {
    let got = render(&sample_snapshot(), Format::Text);
    let want = r#"# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="svc"} 1
# HELP http_requests_total Requests "served"\nby route \\
# TYPE http_requests_total counter
http_requests_total{http_route="/play",otel_scope_name="game",otel_scope_version="1.2"} 7
# HELP queue_depth Items
# TYPE queue_depth gauge
queue_depth{otel_scope_name="game",otel_scope_version="1.2"} -3
# TYPE cpu_load_ratio gauge
cpu_load_ratio{room="a\"b\\c\nd",otel_scope_name="game",otel_scope_version="1.2"} 0.25 1700000001234
# HELP latency_seconds Latency
# TYPE latency_seconds histogram
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="0.1"} 2
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="1"} 5
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="+Inf"} 6
latency_seconds_count{op="get",otel_scope_name="game",otel_scope_version="1.2"} 6
latency_seconds_sum{op="get",otel_scope_name="game",otel_scope_version="1.2"} 4.5
"#;
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn golden_openmetrics() {
    let got = render(&sample_snapshot(), Format::OpenMetrics);
    let want = r#"# TYPE target info
# HELP target Target metadata
target_info{service_name="svc"} 1
# HELP http_requests Requests \"served\"\nby route \\
# TYPE http_requests counter
http_requests_total{http_route="/play",otel_scope_name="game",otel_scope_version="1.2"} 7
http_requests_created{http_route="/play",otel_scope_name="game",otel_scope_version="1.2"} 1700000000.000
# HELP queue_depth Items
# TYPE queue_depth gauge
queue_depth{otel_scope_name="game",otel_scope_version="1.2"} -3
# TYPE cpu_load_ratio gauge
# UNIT cpu_load_ratio ratio
cpu_load_ratio{room="a\"b\\c\nd",otel_scope_name="game",otel_scope_version="1.2"} 0.25 1700000001.234
# HELP latency_seconds Latency
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="0.1"} 2
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="1.0"} 5
latency_seconds_bucket{op="get",otel_scope_name="game",otel_scope_version="1.2",le="+Inf"} 6
latency_seconds_count{op="get",otel_scope_name="game",otel_scope_version="1.2"} 6
latency_seconds_sum{op="get",otel_scope_name="game",otel_scope_version="1.2"} 4.5
latency_seconds_created{op="get",otel_scope_name="game",otel_scope_version="1.2"} 1700000000.000
# EOF
"#;
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn names_units_and_suffixes_table() {
    // (instrument name, unit, data kind) -> family line expected in text.
    let cases: &[(&str, &str, u8, &str)] = &[
        (
            "http.server.duration",
            "ms",
            2,
            "# TYPE http_server_duration_milliseconds histogram",
        ),
        ("io", "By", 0, "# TYPE io_bytes_total counter"),
        ("io_bytes_total", "By", 0, "# TYPE io_bytes_total counter"),
        ("rx", "By/s", 1, "# TYPE rx_bytes_per_second gauge"),
        ("pkts", "{packet}", 0, "# TYPE pkts_total counter"),
        ("rate", "{packet}/s", 1, "# TYPE rate_per_second gauge"),
        ("mem.used", "1", 1, "# TYPE mem_used_ratio gauge"),
        ("a-b/c..d", "", 1, "# TYPE a_b_c_d gauge"),
        ("conns", "{connection}", 3, "# TYPE conns gauge"),
        ("temp", "Cel", 1, "# TYPE temp_celsius gauge"),
        (
            "uptime_seconds",
            "s",
            0,
            "# TYPE uptime_seconds_total counter",
        ),
    ];
    for &(name, unit, kind, want) in cases {
        let p = || vec![np(attrs(&[]), Number::U64(1))];
        let data = match kind {
            0 => counter(p()),
            1 => gauge(p()),
            2 => hist(attrs(&[]), &[1.0], &[1, 0], 0.5),
            _ => updown(p()),
        };
        let rm = snapshot(
            Resource::empty(),
            vec![(
                InstrumentationScope::new("s"),
                vec![metric(name, "", unit, data)],
            )],
        );
        let t = render(&rm, Format::Text);
        assert!(
            t.lines().any(|l| l == want),
            "{name} {unit}: want {want:?} in\n{t}"
        );
        validate(&t, Format::Text).unwrap();
        validate(&render(&rm, Format::OpenMetrics), Format::OpenMetrics).unwrap();
    }
}

#[test]
fn label_sanitizing_and_collisions() {
    let a = AttributeSet::from_key_values(vec![
        KeyValue::new("a.b", "1"),
        KeyValue::new("a_b", "2"),
        KeyValue::new("9x", "3"),
        KeyValue::new("ok", true),
        KeyValue::new("n", 5i64),
        KeyValue::new("le", "reserved"),
        KeyValue::new("otel.scope.name", "reserved too"),
    ]);
    let rm = snapshot(
        Resource::empty(),
        vec![(
            InstrumentationScope::new("s"),
            vec![metric("h", "", "", hist(a, &[1.0], &[1, 0], 0.5))],
        )],
    );
    let t = render(&rm, Format::Text);
    let line = t.lines().find(|l| l.starts_with("h_count")).unwrap();
    assert_eq!(
        line,
        r#"h_count{_9x="3",a_b="1;2",n="5",ok="true",otel_scope_name="s"} 1"#
    );
    validate(&t, Format::Text).unwrap();
}

#[test]
fn same_name_merges_when_types_agree_and_drops_otherwise() {
    let one = |v| vec![np(attrs(&[]), Number::U64(v))];
    let rm = snapshot(
        Resource::empty(),
        vec![
            (
                InstrumentationScope::new("a"),
                vec![
                    metric("jobs", "Jobs", "", counter(one(1))),
                    // Same translated name and type: merged (another scope label).
                    metric("jobs_total", "", "", counter(one(5))),
                    // Same translated name, other type: dropped.
                    metric("jobs", "", "", gauge(one(2))),
                    // Would produce `jobs_total` samples in a gauge: dropped.
                    metric("jobs.total.x", "", "", gauge(one(3))),
                ],
            ),
            (
                InstrumentationScope::new("b"),
                vec![metric("jobs", "Other help", "", counter(one(4)))],
            ),
        ],
    );
    for f in [Format::Text, Format::OpenMetrics] {
        let t = render(&rm, f);
        validate(&t, f).unwrap();
        assert_eq!(t.matches("# TYPE").count(), 2, "{t}");
        assert_eq!(t.matches("# HELP jobs").count(), 1, "{t}");
        assert!(t.contains("jobs_total{otel_scope_name=\"a\"} 1\n"), "{t}");
        assert!(t.contains("jobs_total{otel_scope_name=\"b\"} 4\n"), "{t}");
        // jobs_total from scope a collides with jobs from scope a: dropped.
        assert!(!t.contains(" 5\n"), "{t}");
        assert!(!t.contains(" 2\n"), "{t}");
    }
}

#[test]
fn a_gauge_refused_for_a_name_clash_with_a_histogram() {
    // Found by output_always_parses: both translate to
    // `__bytes_per_second`; the histogram came first, so the gauge is
    // refused (with a warning) and none of its labels appear.
    let rm = snapshot(
        Resource::empty(),
        vec![(
            InstrumentationScope::new(""),
            vec![
                metric(
                    "",
                    "",
                    "By/s",
                    hist(attrs(&[]), &[0.5, 1.0, 1e300], &[0, 0, 0, 0], 0.0),
                ),
                metric(
                    "",
                    "",
                    "By/s",
                    gauge(vec![np(attrs(&[("", "g")]), Number::F64(f64::NAN))]),
                ),
            ],
        )],
    );
    for f in [Format::Text, Format::OpenMetrics] {
        let t = render(&rm, f);
        validate(&t, f).unwrap();
        assert!(t.contains("# TYPE __bytes_per_second histogram"), "{t}");
        assert!(!t.contains("\"g\""), "{t}");
        assert!(!t.contains("gauge"), "{t}");
    }
}

#[test]
fn delta_data_is_dropped_and_options_apply() {
    let d = MetricData::Sum(SumData {
        points: vec![np(attrs(&[]), Number::U64(1))],
        temporality: Temporality::Delta,
        is_monotonic: true,
    });
    let rm = snapshot(
        Resource::new([KeyValue::new("k", "v")]),
        vec![(
            InstrumentationScope::new("s"),
            vec![
                metric("d", "", "", d),
                metric("t", "", "s", counter(vec![np(attrs(&[]), Number::U64(2))])),
            ],
        )],
    );
    let t = render(&rm, Format::Text);
    assert!(!t.contains("\nd"), "{t}");
    let mut out = Vec::new();
    let o = EncodeOptions::default()
        .with_scope_labels(false)
        .with_target_info(false)
        .with_unit_suffixes(false)
        .with_total_suffix(false);
    encode(&rm, Format::Text, &o, &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "# TYPE t counter\nt 2\n");
}

// ---------------------------------------------------------------------------
// A strict parser for both formats.

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            if let Some(after) = r.strip_prefix('}') {
                r = after;
                break;
            }
            let eq = r.find('=').ok_or("label without =")?;
            let ln = &r[..eq];
            if !is_label_name(ln) {
                return Err(format!("bad label name {ln:?}"));
            }
            r = r[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut val = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                let (i, c) = chars.next().ok_or("unterminated label value")?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        'n' => val.push('\n'),
                        o => return Err(format!("bad escape \\{o}")),
                    },
                    '\n' => return Err("raw newline in label value".into()),
                    c => val.push(c),
                }
            };
            if labels.iter().any(|(k, _): &(String, String)| k == ln) {
                return Err(format!("duplicate label {ln}"));
            }
            labels.push((ln.to_owned(), val));
            r = &r[end + 1..];
            if let Some(after) = r.strip_prefix(',') {
                r = after;
            } else if !r.starts_with('}') {
                return Err("expected , or }".into());
            }
        }
        rest = r;
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().ok_or("no value")?)?;
    if let Some(ts) = parts.next() {
        ts.parse::<f64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Checks the exposition; returns every sample.
fn validate(text: &str, f: Format) -> Result<Vec<Sample>, String> {
    let om = f == Format::OpenMetrics;
    let body = if om {
        text.strip_suffix("# EOF\n").ok_or("missing # EOF")?
    } else {
        text
    };
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut families_done: HashSet<String> = HashSet::new();
    let mut cur: Option<(String, String)> = None; // (family, type)
    let mut meta_seen: HashSet<(String, String)> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let suffixes = |ty: &str| -> &'static [&'static str] {
        match (ty, om) {
            ("counter", true) => &["_total", "_created"],
            ("counter", false) => &[""],
            ("histogram", _) => &["_bucket", "_count", "_sum", "_created"],
            ("info", _) => &["_info"],
            _ => &[""],
        }
    };
    for line in body.lines() {
        if line.is_empty() {
            return Err("blank line".into());
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut it = meta.splitn(3, ' ');
            let kind = it.next().unwrap_or("");
            let name = it.next().ok_or("metadata without name")?.to_owned();
            if !is_metric_name(&name) {
                return Err(format!("bad family name {name:?}"));
            }
            if !matches!(kind, "HELP" | "TYPE" | "UNIT") {
                return Err(format!("unknown metadata {line:?}"));
            }
            let arg = it.next().unwrap_or("");
            if !meta_seen.insert((name.clone(), kind.to_owned())) {
                return Err(format!("second {kind} for {name}"));
            }
            if cur.as_ref().map(|c| &c.0) != Some(&name) {
                if let Some((prev, _)) = cur.take() {
                    families_done.insert(prev);
                }
                if families_done.contains(&name) {
                    return Err(format!("family {name} interleaved"));
                }
                cur = Some((name.clone(), "unknown".into()));
            }
            if kind == "TYPE" {
                let ok = if om {
                    ["counter", "gauge", "histogram", "info"].contains(&arg)
                } else {
                    ["counter", "gauge", "histogram"].contains(&arg)
                };
                if !ok {
                    return Err(format!("bad type {arg:?}"));
                }
                cur.as_mut().unwrap().1 = arg.to_owned();
            }
            if kind == "UNIT" && !name.ends_with(&format!("_{arg}")) {
                return Err(format!("unit {arg} is not a suffix of {name}"));
            }
            if kind == "HELP" {
                // Escapes in HELP: \\ and \n (and \" in OpenMetrics) only.
                let mut chars = arg.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        match chars.next() {
                            Some('\\') | Some('n') => {}
                            Some('"') if om => {}
                            o => return Err(format!("bad HELP escape {o:?}")),
                        }
                    }
                }
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(format!("bad comment {line:?}"));
        }
        let s = parse_sample(line).map_err(|e| format!("{e} in {line:?}"))?;
        let (fam, ty) = cur
            .clone()
            .ok_or(format!("sample without TYPE: {line:?}"))?;
        if !suffixes(&ty)
            .iter()
            .any(|suf| s.name == format!("{fam}{suf}"))
        {
            return Err(format!("sample {} outside family {fam} ({ty})", s.name));
        }
        let mut key = s.name.clone();
        let mut ls = s.labels.clone();
        ls.sort();
        for (k, v) in &ls {
            key.push_str(&format!("|{k}={v:?}"));
        }
        if !series.insert(key.clone()) {
            return Err(format!("duplicate series {key}"));
        }
        samples.push(s);
    }
    // Histogram invariants.
    let mut buckets: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    let mut counts: HashMap<String, f64> = HashMap::new();
    let strip = |s: &Sample, drop_le: bool| {
        let mut ls: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| !(drop_le && k == "le"))
            .cloned()
            .collect();
        ls.sort();
        format!("{:?}", ls)
    };
    for s in &samples {
        if let Some(base) = s.name.strip_suffix("_bucket") {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or("bucket without le")?;
            buckets
                .entry(format!("{base}{}", strip(s, true)))
                .or_default()
                .push((parse_value(&le.1)?, s.value));
        } else if let Some(base) = s.name.strip_suffix("_count") {
            counts.insert(format!("{base}{}", strip(s, false)), s.value);
        }
    }
    for (k, b) in &buckets {
        let last = b.last().unwrap();
        if last.0 != f64::INFINITY {
            return Err(format!("{k}: last bucket is not +Inf"));
        }
        if counts.get(k) != Some(&last.1) {
            return Err(format!("{k}: +Inf bucket != _count"));
        }
        if b.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
            return Err(format!("{k}: buckets not increasing"));
        }
    }
    Ok(samples)
}

// ---------------------------------------------------------------------------
// Property tests.

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        any::<f64>(),
        -1e6..1e6f64,
    ]
}

fn label_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n a-zA-Z]{0,8}",
        Just(String::new()),
        Just("\\\"\n".to_owned()),
    ]
}

fn name_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z][a-zA-Z0-9_.\\-/]{0,12}", any::<String>()]
}

/// Attributes, value, histogram count, explicit timestamp.
type GenPoint = (Vec<(String, String)>, f64, u64, bool);

#[derive(Debug, Clone)]
struct GenMetric {
    name: String,
    unit: String,
    desc: String,
    kind: u8,
    points: Vec<GenPoint>,
}

fn gen_metric() -> impl Strategy<Value = GenMetric> {
    (
        name_text(),
        prop_oneof![
            Just(String::new()),
            Just("s".into()),
            Just("By/s".into()),
            Just("{x}".into()),
            Just("1".into()),
            "[ -~]{0,6}"
        ],
        label_text(),
        0u8..4,
        prop::collection::vec(
            (
                prop::collection::vec((label_text(), label_text()), 0..3),
                any_f64(),
                0u64..1000,
                any::<bool>(),
            ),
            1..4,
        ),
    )
        .prop_map(|(name, unit, desc, kind, mut points)| {
            // The SDK never reports two points with the same attribute set.
            let mut seen = HashSet::new();
            points.retain(|p| {
                let set = AttributeSet::from_key_values(
                    p.0.iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                        .collect(),
                );
                seen.insert(format!("{:?}", set.iter().collect::<Vec<_>>()))
            });
            GenMetric {
                name,
                unit,
                desc,
                kind,
                points,
            }
        })
}

fn build(res: Vec<(String, String)>, scope: (String, String), ms: &[GenMetric]) -> ResourceMetrics {
    let kvs = |v: &[(String, String)]| {
        AttributeSet::from_key_values(
            v.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        )
    };
    let metrics = ms
        .iter()
        .map(|g| {
            let pts = || {
                g.points
                    .iter()
                    .map(|(a, v, _, ts)| {
                        let mut p = np(kvs(a), Number::F64(*v));
                        p.explicit_time = *ts;
                        p
                    })
                    .collect::<Vec<_>>()
            };
            let data = match g.kind {
                0 => {
                    // Counters: finite, non-negative (what the SDK produces).
                    let mut p = pts();
                    for x in &mut p {
                        let v = x.value.as_f64();
                        x.value = Number::F64(if v.is_finite() { v.abs() } else { 1.0 });
                    }
                    counter(p)
                }
                1 => gauge(pts()),
                2 => updown(pts()),
                _ => MetricData::Histogram(HistogramData {
                    points: g
                        .points
                        .iter()
                        .map(|(a, _, c, _)| HistogramPoint {
                            exemplars: Default::default(),
                            attributes: kvs(a),
                            start_time: T0,
                            time: T0,
                            count: c * 3,
                            sum: *c as f64 * 1.5,
                            min: None,
                            max: None,
                            bounds: vec![0.5, 1.0, 1e300].into(),
                            bucket_counts: vec![*c, 0, *c, *c],
                        })
                        .collect(),
                    temporality: Temporality::Cumulative,
                }),
            };
            metric(&g.name, &g.desc, &g.unit, data)
        })
        .collect();
    let scope = InstrumentationScope::new(scope.0).with_version(scope.1);
    snapshot(
        Resource::new(res.into_iter().map(|(k, v)| KeyValue::new(k, v))),
        vec![(scope, metrics)],
    )
}

/// Whether a metric of another Prometheus type (counter, histogram) with
/// the same unit has a name that sanitizes like `m`'s or to a prefix of it
/// (or the reverse: `_total`, `_bucket`, `_count`, `_sum` samples), so that
/// their families may collide and one of them be refused.
fn clashes_with_another_type(rm: &ResourceMetrics, m: &Metric) -> bool {
    // The family name as the encoder makes it (sanitized name plus unit
    // suffix), so that names and units that translate alike are seen as one.
    let opts = EncodeOptions::default();
    let kind = |d: &MetricData| match d {
        MetricData::Gauge(_) => PromKind::Gauge,
        MetricData::Sum(s) if !s.is_monotonic => PromKind::Gauge,
        MetricData::Sum(_) => PromKind::Counter,
        MetricData::Histogram(_) | MetricData::ExponentialHistogram(_) => PromKind::Histogram,
    };
    let base =
        |x: &Metric| family_name(&x.name, &x.unit, kind(&x.data), opts.unit_suffixes, true).base;
    let gauge_like = |d: &MetricData| kind(d) == PromKind::Gauge;
    let mine = base(m);
    rm.scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter())
        .any(|o| {
            let other = base(o);
            gauge_like(&o.data) != gauge_like(&m.data)
                && (other.starts_with(&mine) || mine.starts_with(&other))
        })
}

fn gen_snapshot() -> impl Strategy<Value = ResourceMetrics> {
    (
        prop::collection::vec((label_text(), label_text()), 0..3),
        (label_text(), label_text()),
        prop::collection::vec(gen_metric(), 0..6),
    )
        .prop_map(|(r, s, m)| build(r, s, &m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn output_always_parses(rm in gen_snapshot()) {
        for f in [Format::Text, Format::OpenMetrics] {
            let t = render(&rm, f);
            let samples = validate(&t, f).map_err(|e| TestCaseError::fail(format!("{e}\n{t}")))?;
            // Every string attribute value survives escaping: each input
            // value appears unescaped in some sample.
            let values: HashSet<&str> = samples.iter().flat_map(|s| s.labels.iter().map(|l| l.1.as_str())).collect();
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    // A gauge whose family name another type already took is
                    // refused (documented, with a warning): its values are
                    // rightly absent.
                    if clashes_with_another_type(&rm, m) {
                        continue;
                    }
                    if let MetricData::Gauge(g) = &m.data {
                        for p in &g.points {
                            for kv in p.attributes.iter() {
                                if let Value::Str(v) = kv.value() {
                                    // Colliding keys are joined with ';', and a value may
                                    // itself contain ';': look for it as a substring.
                                    let joined = values.iter().any(|x| x.contains(v.as_str()));
                                    prop_assert!(joined || values.is_empty() || !t.contains(&m.name.replace('.', "_")),
                                        "value {:?} lost\n{}", v.as_str(), t);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Python prometheus_client: the reference parsers of both formats.

const PY_CHECK: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text_parse
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
n = 0
for path in sys.argv[1:]:
    data = open(path, encoding="utf-8").read()
    parse = om_parse if path.endswith(".om") else text_parse
    try:
        for fam in parse(data):
            for s in fam.samples:
                n += 1
    except Exception as e:
        print("FAIL", path, repr(e))
        print(data)
        sys.exit(1)
print("OK", n)
"#;

pub fn python_check(files: &[std::path::PathBuf]) {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with prometheus_client is required for this test: `pip install prometheus_client`"
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(PY_CHECK)
        .args(files)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python parser rejected output:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_reference_parsers_accept_random_output() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let dir = std::env::temp_dir().join(format!("fm-prom-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = TestRunner::deterministic();
    let strat = gen_snapshot();
    let mut files = Vec::new();
    for i in 0..150 {
        let rm = strat.new_tree(&mut runner).unwrap().current();
        for (f, ext) in [(Format::Text, "txt"), (Format::OpenMetrics, "om")] {
            let p = dir.join(format!("{i}.{ext}"));
            std::fs::write(&p, render(&rm, f)).unwrap();
            files.push(p);
        }
    }
    for (f, ext) in [(Format::Text, "txt"), (Format::OpenMetrics, "om")] {
        let p = dir.join(format!("golden.{ext}"));
        std::fs::write(&p, render(&sample_snapshot(), f)).unwrap();
        files.push(p);
    }
    python_check(&files);
    let _ = std::fs::remove_dir_all(&dir);
}
