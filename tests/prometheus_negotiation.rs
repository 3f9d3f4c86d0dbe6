//! Text format 1.0.0 / OpenMetrics 1.0.0 negotiation with `escaping=`, the
//! OpenTelemetry translation strategies, and the fixes that came with
//! them (`_ratio` for gauges only, promhttp self metrics at 0 from the
//! first scrape, a version on every scope of the SDK's own).
//!
//! The expected names are written out by hand from the rules of the
//! Prometheus escaping-schemes document and the OpenTelemetry Prometheus
//! exporter specification, not computed by the code under test.

use ferrometer::export::otlp::OtlpHttpExporter;
use ferrometer::export::prometheus::{
    encode, encode_escaped, EncodeOptions, EscapingScheme, Format, PrometheusServer,
    PrometheusServerOptions, TranslationStrategy,
};
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use std::net::SocketAddr;

mod http_support;
use http_support::{request, Resp};

/// One GET of `/metrics`, with `Accept: {accept}` if given.
fn get(addr: SocketAddr, accept: Option<&str>) -> Resp {
    let accept: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
    request(addr, "GET", "/metrics", &accept)
}

/// A provider with an empty resource and a cumulative manual reader.
fn bare_provider() -> (MeterProvider, ManualReader) {
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let p = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build();
    (p, reader)
}

/// A provider with UTF-8 names: a counter `http.server.requests` with
/// attribute `http.method`, a histogram `db.latency` in seconds.
fn utf8_provider() -> (MeterProvider, ManualReader) {
    let (p, reader) = bare_provider();
    let m = p.meter("t");
    let c = m
        .u64_counter("http.server.requests")
        .with_description("Requests.")
        .build()
        .unwrap();
    c.add(3, &[KeyValue::new("http.method", "GET")]);
    let h = m
        .f64_histogram("db.latency")
        .with_unit("s")
        .with_boundaries(vec![1.0])
        .build()
        .unwrap();
    h.record(0.5, &[]);
    (p, reader)
}

fn text(reader: &ManualReader, format: Format, esc: EscapingScheme, o: &EncodeOptions) -> String {
    let rm = reader.collect().unwrap();
    let mut out = Vec::new();
    encode_escaped(&rm, format, esc, o, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn translation_strategies_name_the_series_as_the_specification_says() {
    use TranslationStrategy::*;
    let (_p, reader) = utf8_provider();
    let o = |t| {
        EncodeOptions::default()
            .with_translation_strategy(t)
            .with_scope_labels(false)
    };
    let u = EscapingScheme::Underscores;
    let a = EscapingScheme::AllowUtf8;
    // (strategy, escaping, lines that must appear)
    let cases: &[(TranslationStrategy, EscapingScheme, &[&str])] = &[
        (
            UnderscoreEscapingWithSuffixes,
            u,
            &[
                "# TYPE http_server_requests_total counter",
                "http_server_requests_total{http_method=\"GET\"} 3",
                "db_latency_seconds_count 1",
            ],
        ),
        (
            UnderscoreEscapingWithSuffixes,
            a,
            &["http_server_requests_total{http_method=\"GET\"} 3"],
        ),
        (
            UnderscoreEscapingWithoutSuffixes,
            u,
            &[
                "# TYPE http_server_requests counter",
                "http_server_requests{http_method=\"GET\"} 3",
                "db_latency_count 1",
            ],
        ),
        (
            NoUTF8EscapingWithSuffixes,
            a,
            &[
                "# HELP \"http.server.requests_total\" Requests.",
                "# TYPE \"http.server.requests_total\" counter",
                "{\"http.server.requests_total\",\"http.method\"=\"GET\"} 3",
                "# TYPE \"db.latency_seconds\" histogram",
                "{\"db.latency_seconds_bucket\",le=\"1\"} 1",
                "{\"db.latency_seconds_count\"} 1",
                "{\"db.latency_seconds_sum\"} 0.5",
            ],
        ),
        // A scraper that did not ask for UTF-8 gets the names escaped.
        (
            NoUTF8EscapingWithSuffixes,
            u,
            &[
                "http_server_requests_total{http_method=\"GET\"} 3",
                "db_latency_seconds_bucket{le=\"1\"} 1",
            ],
        ),
        (
            NoTranslation,
            a,
            &[
                "# TYPE \"http.server.requests\" counter",
                "{\"http.server.requests\",\"http.method\"=\"GET\"} 3",
                "{\"db.latency_count\"} 1",
            ],
        ),
        (
            NoUTF8EscapingWithSuffixes,
            EscapingScheme::Dots,
            &[
                "# TYPE http_dot_server_dot_requests__total counter",
                "http_dot_server_dot_requests__total{http_dot_method=\"GET\"} 3",
                "db_dot_latency__seconds_count 1",
            ],
        ),
        (
            NoUTF8EscapingWithSuffixes,
            EscapingScheme::Values,
            &[
                "U__http_2e_server_2e_requests__total{U__http_2e_method=\"GET\"} 3",
                "U__db_2e_latency__seconds_bucket{le=\"1\"} 1",
            ],
        ),
    ];
    for (t, esc, want) in cases {
        let got = text(&reader, Format::Text, *esc, &o(*t));
        for line in *want {
            assert!(
                got.lines().any(|l| l == *line),
                "{t:?} / {esc:?}: no line {line:?} in\n{got}"
            );
        }
    }
    // OpenMetrics with UTF-8: `_total` on the sample only, quoted names
    // in the metadata, `# UNIT` after the quoted name.
    let om = text(
        &reader,
        Format::OpenMetrics,
        a,
        &o(NoUTF8EscapingWithSuffixes),
    );
    for line in [
        "# TYPE \"http.server.requests\" counter",
        "{\"http.server.requests_total\",\"http.method\"=\"GET\"} 3",
        "# UNIT \"db.latency_seconds\" seconds",
        "# EOF",
    ] {
        assert!(om.lines().any(|l| l == line), "no line {line:?} in\n{om}");
    }
}

#[test]
fn raw_keys_never_name_the_metric() {
    let (p, reader) = bare_provider();
    p.meter("t").u64_counter("jobs").build().unwrap().add(
        1,
        &[KeyValue::new("__name__", "evil"), KeyValue::new("ok", "1")],
    );
    let o = EncodeOptions::default()
        .with_translation_strategy(TranslationStrategy::NoTranslation)
        .with_scope_labels(false);
    for esc in [EscapingScheme::AllowUtf8, EscapingScheme::Underscores] {
        let got = text(&reader, Format::Text, esc, &o);
        assert!(
            got.lines().any(|l| l == "jobs{ok=\"1\"} 1"),
            "{esc:?}: {got}"
        );
        assert!(!got.contains("evil"), "{esc:?}: {got}");
    }
}

#[test]
fn without_units_and_without_type_suffix() {
    let (_p, reader) = utf8_provider();
    let o = EncodeOptions::default()
        .with_scope_labels(false)
        .without_units(true)
        .without_type_suffix(true);
    let got = text(&reader, Format::Text, EscapingScheme::Underscores, &o);
    assert!(
        got.contains("\nhttp_server_requests{http_method=\"GET\"} 3\n"),
        "{got}"
    );
    assert!(got.contains("\ndb_latency_count 1\n"), "{got}");
    assert!(
        !got.contains("_total") && !got.contains("_seconds"),
        "{got}"
    );
}

#[test]
fn unit_one_gives_ratio_to_gauges_only() {
    let (p, reader) = bare_provider();
    let m = p.meter("t");
    m.u64_counter("cache.hits")
        .with_unit("1")
        .build()
        .unwrap()
        .add(2, &[]);
    m.f64_gauge("cache.fill")
        .with_unit("1")
        .build()
        .unwrap()
        .record(0.5, &[]);
    let h = m
        .f64_histogram("cache.share")
        .with_unit("1")
        .build()
        .unwrap();
    h.record(0.25, &[]);
    let rm = reader.collect().unwrap();
    let mut out = Vec::new();
    encode(
        &rm,
        Format::OpenMetrics,
        &EncodeOptions::default().with_scope_labels(false),
        &mut out,
    );
    let got = String::from_utf8(out).unwrap();
    assert!(got.contains("\ncache_hits_total 2\n"), "{got}");
    assert!(got.contains("\ncache_fill_ratio 0.5\n"), "{got}");
    assert!(got.contains("# UNIT cache_fill_ratio ratio\n"), "{got}");
    assert!(got.contains("\ncache_share_count 1\n"), "{got}");
    assert!(
        !got.contains("hits_ratio") && !got.contains("share_ratio"),
        "{got}"
    );
}

#[test]
fn the_endpoint_negotiates_and_labels_its_answers() {
    ferrometer::diagnostics::set_silent();
    let (p, _reader) = utf8_provider();
    let s = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default()
            .with_self_metrics(false)
            .with_encode_options(
                EncodeOptions::default()
                    .with_translation_strategy(TranslationStrategy::NoUTF8EscapingWithSuffixes),
            ),
    )
    .unwrap();
    let prom3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    let cases: &[(Option<&str>, &str, &str)] = &[
        (
            None,
            "text/plain; version=0.0.4; charset=utf-8",
            "http_server_requests_total{http_method=\"GET\",otel_scope_name=\"t\"} 3",
        ),
        (
            Some("text/plain;version=1.0.0;escaping=allow-utf-8"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"http.server.requests_total\",\"http.method\"=\"GET\",otel_scope_name=\"t\"} 3",
        ),
        (
            Some(prom3),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"http.server.requests_total\",\"http.method\"=\"GET\",otel_scope_name=\"t\"} 3",
        ),
        (
            Some("text/plain;version=1.0.0;escaping=dots"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=dots",
            "http_dot_server_dot_requests__total{http_dot_method=\"GET\",otel__scope__name=\"t\"} 3",
        ),
        (
            Some("text/plain;version=1.0.0"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
            "http_server_requests_total{http_method=\"GET\",otel_scope_name=\"t\"} 3",
        ),
        (
            Some("application/openmetrics-text;version=0.0.1;escaping=allow-utf-8"),
            "application/openmetrics-text; version=0.0.1; charset=utf-8",
            "http_server_requests_total{http_method=\"GET\",otel_scope_name=\"t\"} 3",
        ),
    ];
    for (accept, ct, line) in cases {
        let r = get(s.local_addr(), *accept);
        let body = r.text();
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(r.header("content-type"), Some(*ct), "{accept:?}");
        assert!(
            body.lines().any(|l| l == *line),
            "{accept:?}: no line {line:?} in\n{body}"
        );
    }
    // Nothing supported asked for: text 0.0.4, labelled as such.
    let r = get(s.local_addr(), Some("image/png"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    s.stop();
}

#[test]
fn self_metrics_exist_at_zero_on_the_first_scrape() {
    let p = MeterProvider::builder()
        .with_resource(Resource::empty())
        .build();
    let s = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let r = get(s.local_addr(), None);
    let body = r.text();
    assert_eq!(r.status, 200);
    let scope = format!(
        "otel_scope_name=\"ferrometer.prometheus\",otel_scope_version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    for line in [
        format!("promhttp_metric_handler_requests_total{{code=\"200\",{scope}}} 0"),
        format!("promhttp_metric_handler_requests_total{{code=\"500\",{scope}}} 0"),
        format!("promhttp_metric_handler_requests_total{{code=\"503\",{scope}}} 0"),
        format!("promhttp_metric_handler_request_duration_seconds_count{{{scope}}} 0"),
        format!("promhttp_metric_handler_request_duration_seconds_bucket{{{scope},le=\"+Inf\"}} 0"),
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "no line {line:?} in\n{body}"
        );
    }
    // The second scrape sees the first one.
    let body = get(s.local_addr(), None).text();
    assert!(
        body.contains(&format!(
            "promhttp_metric_handler_requests_total{{code=\"200\",{scope}}} 1\n"
        )),
        "{body}"
    );
    s.stop();
}

#[test]
fn the_sdk_own_scopes_carry_the_library_version() {
    let (p, reader) = bare_provider();
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint("http://127.0.0.1:9/v1/metrics")
        .build()
        .unwrap()
        .into_pipeline()
        .build()
        .unwrap();
    pipe.register_metrics(&p).unwrap();
    let rm = reader.collect().unwrap();
    let scope = rm
        .scope_metrics
        .iter()
        .find(|s| s.scope.name() == "ferrometer.exporter")
        .expect("the pipeline's self metrics");
    assert_eq!(scope.scope.version(), Some(env!("CARGO_PKG_VERSION")));
    drop(pipe);
}

// ---------------------------------------------------------------------------
// UTF-8 names through the reference parsers: random instrument names (the
// OpenTelemetry name grammar) and random attribute keys (any UTF-8, quotes,
// backslashes and newlines included), served with escaping=allow-utf-8 in
// text 1.0.0 and OpenMetrics 1.0.0, read back by Python prometheus_client;
// every sample must come back with exactly the recorded name and labels.

const PY_DUMP: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families as text_parse
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
out = {}
for path in sys.argv[1:]:
    parse = om_parse if path.endswith(".om") else text_parse
    out[path] = sorted([s.name, sorted(s.labels.items()), s.value]
                       for fam in parse(open(path, encoding="utf-8").read())
                       for s in fam.samples)
print(json.dumps(out))
"#;

type Expected = Vec<(String, Vec<(String, String)>, f64)>;

fn utf8_case(
    runner: &mut proptest::test_runner::TestRunner,
) -> (ManualReader, MeterProvider, Expected) {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let name = "[a-z][a-z0-9_./-]{0,10}";
    let key = prop_oneof![
        "\\PC{1,6}",
        Just("k\"q".to_owned()),
        Just("k\\b".to_owned()),
        Just("k\nl".to_owned()),
        Just("k.x".to_owned()),
    ];
    let strat = (
        name,
        name,
        proptest::collection::btree_map(key, "\\PC{0,4}", 0..4),
        1u64..1000,
    );
    let (c, g, attrs, v) = strat.new_tree(runner).unwrap().current();
    let (c, g) = (format!("c.{c}"), format!("g.{g}"));
    let (p, reader) = bare_provider();
    let m = p.meter("t");
    // Keys start with `k` so none is one the encoder reserves.
    let kvs: Vec<KeyValue> = attrs
        .iter()
        .map(|(k, v)| KeyValue::new(format!("k{k}"), v.clone()))
        .collect();
    m.u64_counter(c.clone()).build().unwrap().add(v, &kvs);
    m.f64_gauge(g.clone())
        .build()
        .unwrap()
        .record(v as f64 / 4.0, &kvs);
    let mut labels: Vec<(String, String)> = kvs
        .iter()
        .map(|kv| (kv.key().to_owned(), kv.value().to_string()))
        .collect();
    labels.push(("otel_scope_name".into(), "t".into()));
    labels.sort();
    let mut want = vec![
        (format!("{c}_total"), labels.clone(), v as f64),
        (g, labels, v as f64 / 4.0),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    (reader, p, want)
}

#[test]
fn utf8_names_round_trip_through_the_reference_parsers() {
    let dir = std::env::temp_dir().join(format!("fm-prom-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let opts = EncodeOptions::default()
        .with_translation_strategy(TranslationStrategy::NoUTF8EscapingWithSuffixes)
        .with_target_info(false);
    let mut expected = std::collections::HashMap::new();
    let mut escaped = Vec::new();
    let mut files = Vec::new();
    for i in 0..120 {
        let (reader, _p, want) = utf8_case(&mut runner);
        for (f, ext) in [(Format::Text, "txt"), (Format::OpenMetrics, "om")] {
            let path = dir.join(format!("{i}.{ext}"));
            std::fs::write(&path, text(&reader, f, EscapingScheme::AllowUtf8, &opts)).unwrap();
            expected.insert(path.display().to_string(), want.clone());
            files.push(path);
            // The same names escaped for a scraper without UTF-8: the
            // output must parse, and hold legacy names only.
            for esc in [
                EscapingScheme::Underscores,
                EscapingScheme::Dots,
                EscapingScheme::Values,
            ] {
                let path = dir.join(format!("{i}-{}.{ext}", esc.as_str()));
                std::fs::write(&path, text(&reader, f, esc, &opts)).unwrap();
                escaped.push(path.display().to_string());
                files.push(path);
            }
        }
    }
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(PY_DUMP)
        .args(&files)
        .output()
        .expect("python3 with prometheus_client (pip install prometheus_client)");
    assert!(
        out.status.success(),
        "the Python parser refused the output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (path, want) in &expected {
        let samples = got[path.as_str()].as_array().unwrap();
        let mut got: Expected = samples
            .iter()
            .map(|s| {
                let labels = s[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| {
                        (
                            kv[0].as_str().unwrap().to_owned(),
                            kv[1].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                (
                    s[0].as_str().unwrap().to_owned(),
                    labels,
                    s[2].as_f64().unwrap(),
                )
            })
            // OpenMetrics adds `_created` samples: not part of this check.
            .filter(|s: &(String, Vec<(String, String)>, f64)| !s.0.ends_with("_created"))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            &got,
            want,
            "{path}:\n{}",
            std::fs::read_to_string(path).unwrap()
        );
    }
    let legacy = |s: &str, colon: bool| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic()
                    || c == '_'
                    || (colon && c == ':')
                    || (i > 0 && c.is_ascii_digit())
            })
    };
    for path in &escaped {
        let samples = got[path.as_str()].as_array().unwrap();
        // A counter and a gauge per case (plus OpenMetrics `_created`).
        assert!(samples.len() >= 2, "{path}");
        for smp in samples {
            let name = smp[0].as_str().unwrap();
            assert!(legacy(name, true), "{path}: metric name {name:?}");
            for kv in smp[1].as_array().unwrap() {
                let k = kv[0].as_str().unwrap();
                assert!(legacy(k, false), "{path}: label name {k:?}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
