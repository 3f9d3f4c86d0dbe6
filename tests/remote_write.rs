//! The Remote-Write exporter's requests, decoded with the prost
//! declarations of `ferrometer::export::remote_write::proto` after snappy
//! decompression (the `snap` crate's decoder): names and labels as the
//! pull endpoint translates them, sorted labels, classic histogram
//! series, metadata, batching in snapshot order, the request headers,
//! 2.0's symbol table and start timestamps, and the points left out
//! (delta, exponential histograms).
//!
//! The requests go through the export pipeline to the loopback fault
//! sink (tests/otlp_support/fault_sink.rs), which keeps every body it
//! answered 200.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::FaultSink;
use ferrometer::export::pipeline::{BatchLimits, DropReason, ExportPipeline};
use ferrometer::export::remote_write::proto::{self, v2};
use ferrometer::export::remote_write::{RemoteWriteExporter, RemoteWriteVersion};
use ferrometer::export::PushExporter;
use ferrometer::*;
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

fn unsnap(b: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new()
        .decompress_vec(b)
        .expect("a snappy block")
}

fn decode_v1(b: &[u8]) -> proto::WriteRequest {
    proto::WriteRequest::decode(&unsnap(b)[..]).expect("a prometheus.WriteRequest")
}

fn labels_of(ts: &proto::TimeSeries) -> BTreeMap<String, String> {
    ts.labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// A provider with an empty resource and a cumulative manual reader,
/// diagnostics silenced.
fn bare_provider() -> (MeterProvider, ManualReader) {
    diagnostics::set_silent();
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build();
    (provider, reader)
}

/// A provider with a resource naming job and instance, one scope with a
/// version, a counter, a gauge and a histogram, collected once.
fn snapshot() -> (MeterProvider, ResourceMetrics) {
    diagnostics::set_silent();
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([
            kv("service.name", "svc"),
            kv("service.namespace", "ns"),
            kv("service.instance.id", "i-1"),
            kv("host.name", "h"),
        ]))
        .with_reader(reader.clone())
        .build();
    let m = provider.meter_with_scope(InstrumentationScope::new("game").with_version("1.2"));
    let c = m
        .u64_counter("http.requests")
        .with_description("Requests served")
        .build()
        .unwrap();
    c.add(5, &[kv("method", "GET"), kv("Code", 200i64)]);
    c.add(2, &[kv("method", "POST"), kv("Code", 200i64)]);
    let g = m.i64_gauge("temp").with_unit("Cel").build().unwrap();
    g.record(-3, &[kv("zone", "a"), kv("job", "mine")]);
    let h = m
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .unwrap();
    for v in [0.05, 0.5, 2.0] {
        h.record(v, &[kv("le", "dropped"), kv("route", "/a")]);
    }
    let rm = reader.collect().unwrap();
    (provider, rm)
}

fn pipeline(url: String, version: RemoteWriteVersion, max_points: usize) -> ExportPipeline {
    RemoteWriteExporter::builder(url)
        .with_version(version)
        .with_batch_limits(BatchLimits {
            max_points,
            max_bytes: 4 << 20,
        })
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap()
}

fn send(pipe: &ExportPipeline, rm: &ResourceMetrics) {
    pipe.export(rm, Instant::now() + Duration::from_secs(10))
        .unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
}

#[test]
fn a_snapshot_becomes_sorted_translated_series_with_metadata() {
    let (_p, rm) = snapshot();
    let sink = FaultSink::start();
    let pipe = pipeline(sink.url(), RemoteWriteVersion::V1, 2000);
    send(&pipe, &rm);
    let bodies = sink.delivered();
    assert_eq!(bodies.len(), 1);
    let req = decode_v1(&bodies[0]);
    let time_ms = {
        let Some(Metric {
            data: MetricData::Sum(s),
            ..
        }) = rm.metric("http.requests")
        else {
            panic!()
        };
        (s.points[0].time / 1_000_000) as i64
    };

    let mut series: BTreeMap<Vec<(String, String)>, f64> = BTreeMap::new();
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "labels must be sorted and unique: {ts:?}");
        assert!(ts.labels.iter().all(|l| !l.value.is_empty()));
        assert_eq!(ts.samples.len(), 1, "{ts:?}");
        assert_eq!(ts.samples[0].timestamp, time_ms);
        series.insert(
            ts.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            ts.samples[0].value,
        );
    }
    let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .chain(
                [
                    ("otel_scope_name", "game"),
                    ("otel_scope_version", "1.2"),
                    ("instance", "i-1"),
                ]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string())),
            )
            .collect();
        if !pairs.iter().any(|(k, _)| *k == "job") {
            v.push(("job".into(), "ns/svc".into()));
        }
        v.sort();
        v
    };
    let mut want: BTreeMap<Vec<(String, String)>, f64> = BTreeMap::new();
    for (method, n) in [("GET", 5.0), ("POST", 2.0)] {
        want.insert(
            l(&[
                ("__name__", "http_requests_total"),
                ("Code", "200"),
                ("method", method),
            ]),
            n,
        );
    }
    // An attribute named like a resource-derived label wins.
    want.insert(
        l(&[("__name__", "temp_celsius"), ("zone", "a"), ("job", "mine")]),
        -3.0,
    );
    // The reserved `le` attribute is dropped; buckets are cumulative.
    for (le, n) in [("0.1", 1.0), ("1", 2.0), ("+Inf", 3.0)] {
        want.insert(
            l(&[
                ("__name__", "latency_seconds_bucket"),
                ("le", le),
                ("route", "/a"),
            ]),
            n,
        );
    }
    want.insert(
        l(&[("__name__", "latency_seconds_sum"), ("route", "/a")]),
        2.55,
    );
    want.insert(
        l(&[("__name__", "latency_seconds_count"), ("route", "/a")]),
        3.0,
    );
    // The resource's other attributes: target_info.
    let mut ti: Vec<(String, String)> = [
        ("__name__", "target_info"),
        ("host_name", "h"),
        ("instance", "i-1"),
        ("job", "ns/svc"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    ti.sort();
    want.insert(ti, 1.0);
    assert_eq!(series, want);

    let meta: BTreeMap<String, (i32, String, String)> = req
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.clone(),
                (m.r#type, m.help.clone(), m.unit.clone()),
            )
        })
        .collect();
    assert_eq!(
        meta.get("http_requests_total"),
        Some(&(1, "Requests served".into(), String::new()))
    );
    assert_eq!(
        meta.get("temp_celsius"),
        Some(&(2, String::new(), "celsius".into()))
    );
    assert_eq!(
        meta.get("latency_seconds"),
        Some(&(3, String::new(), "seconds".into()))
    );
    let st = pipe.stats();
    assert_eq!(st.points_delivered, 4, "{st:?}");
    assert_eq!(st.points_offered(), 4);
}

#[test]
fn batches_hold_at_most_max_points_and_keep_snapshot_order() {
    let (provider, reader) = bare_provider();
    let c = provider.meter("m").u64_counter("c").build().unwrap();
    for i in 0..25i64 {
        c.add(i as u64 + 1, &[kv("i", i)]);
    }
    let rm = reader.collect().unwrap();
    let snapshot_order: Vec<String> = match &rm.metric("c").unwrap().data {
        MetricData::Sum(s) => s
            .points
            .iter()
            .map(|p| p.attributes.get("i").unwrap().to_string())
            .collect(),
        other => panic!("{other:?}"),
    };
    let sink = FaultSink::start();
    let pipe = pipeline(sink.url(), RemoteWriteVersion::V1, 10);
    send(&pipe, &rm);
    let bodies = sink.delivered();
    let reqs: Vec<proto::WriteRequest> = bodies.iter().map(|b| decode_v1(b)).collect();
    assert_eq!(
        reqs.iter().map(|r| r.timeseries.len()).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    // Every request is self-describing: metadata for its metric.
    assert!(reqs
        .iter()
        .all(|r| r.metadata.len() == 1 && r.metadata[0].metric_family_name == "c_total"));
    let sent: Vec<String> = reqs
        .iter()
        .flat_map(|r| r.timeseries.iter())
        .map(|ts| labels_of(ts)["i"].clone())
        .collect();
    assert_eq!(sent, snapshot_order);
    for ts in reqs.iter().flat_map(|r| r.timeseries.iter()) {
        let i: f64 = labels_of(ts)["i"].parse().unwrap();
        assert_eq!(ts.samples[0].value, i + 1.0);
    }
    assert_eq!(pipe.stats().points_delivered, 25);
}

#[test]
fn delta_points_and_exponential_histograms_are_left_out_and_counted() {
    diagnostics::set_silent();
    let reader = ManualReader::new(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .with_view(
            View::builder()
                .instrument_name("sizes")
                .aggregation(Aggregation::Base2ExponentialHistogram {
                    max_size: 20,
                    max_scale: 20,
                    record_min_max: true,
                })
                .build()
                .unwrap(),
        )
        .build();
    let m = provider.meter("m");
    let c = m.u64_counter("c").build().unwrap();
    c.add(1, &[kv("k", "a")]);
    c.add(1, &[kv("k", "b")]);
    m.f64_histogram("sizes").build().unwrap().record(3.0, &[]);
    m.i64_gauge("g").build().unwrap().record(7, &[]);
    let rm = reader.collect().unwrap();
    assert_eq!(rm.point_count(), 4);
    let sink = FaultSink::start();
    let exporter = RemoteWriteExporter::builder(sink.url())
        .with_target_info(false)
        .build()
        .unwrap();
    let left_out = exporter.left_out();
    let pipe = exporter
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    // The exporter asks its reader for cumulative temporality.
    assert_eq!(pipe.temporality(), TemporalityPreference::Cumulative);
    send(&pipe, &rm);
    // Two delta counter points and one exponential histogram point.
    assert_eq!(left_out.points(), 3);
    let st = pipe.stats();
    assert_eq!((st.points_offered(), st.points_delivered), (1, 1), "{st:?}");
    let req = decode_v1(&sink.delivered()[0]);
    assert_eq!(req.timeseries.len(), 1);
    assert_eq!(labels_of(&req.timeseries[0])["__name__"], "g");
    assert_eq!(req.timeseries[0].samples[0].value, 7.0);
}

/// Reads one request's head and body on `l`, answers `answer`.
fn capture_one(l: TcpListener, answer: &'static str) -> std::thread::JoinHandle<(String, Vec<u8>)> {
    std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.trim_end().is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap();
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        w.write_all(answer.as_bytes()).unwrap();
        (head, body)
    })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn requests_carry_the_remote_write_headers_and_credentials() {
    let (_p, rm) = snapshot();
    for (version, ctype, vh) in [
        (RemoteWriteVersion::V1, "application/x-protobuf", "0.1.0"),
        (
            RemoteWriteVersion::V2,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            "2.0.0",
        ),
    ] {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        let h = capture_one(
            l,
            "HTTP/1.1 204 No Content\r\nX-Prometheus-Remote-Write-Samples-Written: 11\r\n\r\n",
        );
        let pipe = RemoteWriteExporter::builder(url)
            .with_version(version)
            .with_basic_auth("alice", "open sesame")
            .with_header("X-Scope-OrgID", "tenant-1")
            .build()
            .unwrap()
            .into_pipeline()
            .with_self_metrics(false)
            .build()
            .unwrap();
        send(&pipe, &rm);
        let (head, body) = h.join().unwrap();
        assert!(
            head.starts_with("POST /api/v1/write HTTP/1.1\r\n"),
            "{head}"
        );
        assert_eq!(header(&head, "content-type"), Some(ctype));
        assert_eq!(header(&head, "content-encoding"), Some("snappy"));
        assert_eq!(header(&head, "x-prometheus-remote-write-version"), Some(vh));
        // base64("alice:open sesame")
        assert_eq!(
            header(&head, "authorization"),
            Some("Basic YWxpY2U6b3BlbiBzZXNhbWU=")
        );
        assert_eq!(header(&head, "x-scope-orgid"), Some("tenant-1"));
        assert!(!unsnap(&body).is_empty());
        // 2.0: 2 counters + gauge + 5 histogram series + target_info = 9
        // samples, the receiver said 11: delivered.
        let st = pipe.stats();
        assert_eq!((st.points_delivered, st.dropped_total()), (4, 0), "{st:?}");
    }
    let e = RemoteWriteExporter::builder("http://127.0.0.1:1/x")
        .with_bearer_token("t")
        .build()
        .unwrap();
    assert_eq!(e.config().bearer_token.as_deref(), Some("t"));
    assert!(RemoteWriteExporter::builder("http://x/")
        .with_bearer_token("t")
        .with_basic_auth("u", "p")
        .build()
        .is_err());
    // RFC 7617: the user ends at the first ':', so a user with one (or a
    // control character) is refused at build, naming the rule.
    for user in ["a:b", "a\nb"] {
        let err = RemoteWriteExporter::builder("http://x/")
            .with_basic_auth(user, "p")
            .build()
            .expect_err(user);
        assert!(err.to_string().contains("basic-auth user"), "{err}");
    }
    assert!(RemoteWriteExporter::builder("ftp://x/").build().is_err());
    assert!(RemoteWriteExporter::builder("http://x/")
        .with_header("bad name", "v")
        .build()
        .is_err());
}

fn decode_v2(b: &[u8]) -> v2::Request {
    v2::Request::decode(&unsnap(b)[..]).expect("an io.prometheus.write.v2.Request")
}

#[test]
fn v2_requests_use_a_symbol_table_start_timestamps_and_series_metadata() {
    let (_p, rm) = snapshot();
    // The fault sink answers 200 without the Written headers: a receiver
    // that does not speak 2.0, so every point counts as rejected.
    let sink = FaultSink::start();
    let pipe = pipeline(sink.url(), RemoteWriteVersion::V2, 2000);
    send(&pipe, &rm);
    let st = pipe.stats();
    assert_eq!(st.dropped(DropReason::Rejected), 4, "{st:?}");
    assert_eq!(st.points_delivered, 0);
    let req = decode_v2(&sink.delivered()[0]);
    assert_eq!(req.symbols[0], "");
    let mut uniq = req.symbols.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), req.symbols.len(), "symbols are unique");
    let sym = |i: u32| req.symbols[i as usize].as_str();
    let start_ms = match &rm.metric("http.requests").unwrap().data {
        MetricData::Sum(s) => (s.points[0].start_time / 1_000_000) as i64,
        _ => unreachable!(),
    };
    let hist_start_ms = match &rm.metric("latency").unwrap().data {
        MetricData::Histogram(h) => (h.points[0].start_time / 1_000_000) as i64,
        _ => unreachable!(),
    };
    let mut seen = BTreeMap::new();
    for ts in &req.timeseries {
        assert_eq!(ts.labels_refs.len() % 2, 0);
        let labels: Vec<(&str, &str)> = ts
            .labels_refs
            .chunks(2)
            .map(|p| (sym(p[0]), sym(p[1])))
            .collect();
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted);
        let name = labels.iter().find(|l| l.0 == "__name__").unwrap().1;
        let md = ts.metadata.clone().unwrap();
        let s = &ts.samples[0];
        seen.insert(
            name.to_owned(),
            (
                md.r#type,
                sym(md.help_ref).to_owned(),
                sym(md.unit_ref).to_owned(),
                s.start_timestamp,
            ),
        );
    }
    assert_eq!(
        seen["http_requests_total"],
        (1, "Requests served".into(), String::new(), start_ms)
    );
    assert_eq!(
        seen["temp_celsius"],
        (2, String::new(), "celsius".into(), 0)
    );
    assert_eq!(
        seen["latency_seconds_bucket"],
        (3, String::new(), "seconds".into(), hist_start_ms)
    );
    assert_eq!(seen["target_info"].0, 2);
}

#[test]
fn a_2_0_receiver_that_wrote_fewer_samples_than_sent_rejects_the_request() {
    let (_p, rm) = snapshot();
    // 9 samples are sent (see the header test); the receiver says 5.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
    let h = capture_one(
        l,
        "HTTP/1.1 204 No Content\r\nX-Prometheus-Remote-Write-Samples-Written: 5\r\n\
         X-Prometheus-Remote-Write-Histograms-Written: 0\r\n\r\n",
    );
    let pipe = pipeline(url, RemoteWriteVersion::V2, 2000);
    send(&pipe, &rm);
    let (_, body) = h.join().unwrap();
    let sent: usize = decode_v2(&body)
        .timeseries
        .iter()
        .map(|ts| ts.samples.len())
        .sum();
    assert_eq!(sent, 9);
    let st = pipe.stats();
    assert_eq!(st.dropped(DropReason::Rejected), 4, "{st:?}");
    assert_eq!(st.points_delivered, 0);
    assert_eq!(st.points_offered(), 4);
}

mod properties {
    use super::*;
    use ferrometer::export::pipeline::BatchEncoder;
    use ferrometer::export::remote_write::{LeftOut, RemoteWriteEncoder};
    use proptest::prelude::*;
    use std::ops::ControlFlow;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the attribute keys, every series is a valid 1.0
        /// series: labels sorted by name without repeats, names matching
        /// `[a-zA-Z_][a-zA-Z0-9_]*`, no empty value, one `__name__`; no
        /// series twice; every point sent or left out; the values add up
        /// to what was recorded when none was left out; any batch size
        /// gives the same series.
        #[test]
        fn any_attributes_give_valid_sorted_series(
            series in prop::collection::vec(
                (prop::collection::btree_map("[a-zA-Z0-9._]{1,6}", "[a-z]{0,3}", 0..5), 1u64..1000),
                1..20,
            ),
            max_points in 1usize..8,
        ) {
            let (provider, reader) = bare_provider();
            let c = provider.meter("m").u64_counter("c").build().unwrap();
            let mut total = 0u64;
            for (attrs, v) in &series {
                let kvs: Vec<KeyValue> = attrs
                    .iter()
                    .map(|(k, val)| KeyValue::new(k.clone(), val.clone()))
                    .collect();
                c.add(*v, &kvs);
                total += v;
            }
            let rm = reader.collect().unwrap();
            let mut got = Vec::new();
            let mut left = Vec::new();
            for limit in [max_points, 10_000] {
                let left_out = LeftOut::default();
                let mut enc = RemoteWriteEncoder::new(RemoteWriteVersion::V1, true, left_out.clone());
                let mut reqs = Vec::new();
                let n = enc.encode(
                    &rm,
                    BatchLimits { max_points: limit, max_bytes: 1 << 20 },
                    &mut |b, n| {
                        reqs.push((n, decode_v1(b)));
                        ControlFlow::Continue(())
                    },
                );
                prop_assert_eq!(n as u64 + left_out.points(), rm.point_count() as u64);
                left.push(left_out.points());
                prop_assert!(reqs.iter().all(|(n, _)| *n <= limit));
                let all: Vec<proto::TimeSeries> =
                    reqs.into_iter().flat_map(|(_, r)| r.timeseries).collect();
                got.push(all);
            }
            prop_assert_eq!(&got[0], &got[1]);
            prop_assert_eq!(left[0], left[1]);
            let mut distinct: Vec<&Vec<proto::Label>> = got[0].iter().map(|ts| &ts.labels).collect();
            distinct.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            distinct.dedup();
            prop_assert_eq!(distinct.len(), got[0].len());
            let mut sum = 0.0;
            for ts in &got[0] {
                let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
                prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "{:?}", names);
                prop_assert_eq!(names.iter().filter(|n| **n == "__name__").count(), 1);
                for l in &ts.labels {
                    prop_assert!(!l.value.is_empty());
                    let b = l.name.as_bytes();
                    prop_assert!(!b[0].is_ascii_digit());
                    prop_assert!(b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_'), "{}", l.name);
                }
                sum += ts.samples[0].value;
            }
            if left[0] == 0 {
                prop_assert_eq!(sum, total as f64);
            }
        }
    }
}

#[test]
fn series_that_translate_equal_are_sent_once() {
    let (provider, reader) = bare_provider();
    let m = provider.meter("m");
    let c = m.u64_counter("req").build().unwrap();
    c.add(1, &[kv("a_b", "x")]);
    c.add(2, &[kv("a.b", "x")]); // same series once sanitized
    c.add(3, &[kv("a.b", "y")]);
    c.add(4, &[kv("k", "")]); // the empty value is left out: {}
    c.add(5, &[]);
    // `req_total` translates to `req_total` too.
    m.u64_counter("req_total")
        .build()
        .unwrap()
        .add(6, &[kv("a_b", "y")]);
    let rm = reader.collect().unwrap();
    assert_eq!(rm.point_count(), 6);
    let sink = FaultSink::start();
    let exporter = RemoteWriteExporter::builder(sink.url()).build().unwrap();
    let left_out = exporter.left_out();
    let pipe = exporter
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    send(&pipe, &rm);
    let req = decode_v1(&sink.delivered()[0]);
    let mut got: Vec<(Option<String>, f64)> = req
        .timeseries
        .iter()
        .map(|ts| (labels_of(ts).get("a_b").cloned(), ts.samples[0].value))
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // The first of each translated series wins (snapshot order: the
    // series map's order within a metric, metrics in registration order).
    let firsts = |a: &str| -> f64 {
        match &rm.metric("req").unwrap().data {
            MetricData::Sum(s) => s
                .points
                .iter()
                .find(|p| {
                    p.attributes
                        .iter()
                        .any(|kv| kv.key() != "k" && kv.value().to_string() == a)
                })
                .map(|p| match p.value {
                    Number::U64(v) => v as f64,
                    _ => unreachable!(),
                })
                .unwrap(),
            _ => unreachable!(),
        }
    };
    let empty = match &rm.metric("req").unwrap().data {
        MetricData::Sum(s) => s
            .points
            .iter()
            .find(|p| p.attributes.get("a_b").is_none() && p.attributes.get("a.b").is_none())
            .map(|p| match p.value {
                Number::U64(v) => v as f64,
                _ => unreachable!(),
            })
            .unwrap(),
        _ => unreachable!(),
    };
    let mut want = vec![
        (None, empty),
        (Some("x".to_owned()), firsts("x")),
        (Some("y".to_owned()), 3.0),
    ];
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want);
    assert_eq!(left_out.points(), 3);
    let st = pipe.stats();
    assert_eq!((st.points_offered(), st.points_delivered), (3, 3));
}
