//! The OTLP/HTTP exporter against a scripted sink on 127.0.0.1: payloads
//! decode with the official definitions (Python `opentelemetry-proto`,
//! see tests/python/decode_otlp.py) to the recorded values, for every
//! instrument kind and both temporalities; gzip; headers; retries on
//! 503 + Retry-After, 429, connection failures; no retry on 400/500;
//! partial success reported through diagnostics.
//!
//! Needs `python3` with `pip install opentelemetry-proto protobuf`.
//! Without them the decoding tests FAIL with a clear message.

mod otlp_support;

use ferrometer::export::otlp::{proto, Compression, OtlpHttpExporter, Protocol, RetryPolicy};
use ferrometer::export::PushExporter;
use ferrometer::{Error, TemporalityPreference};
use otlp_support::*;
use prost::Message;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        multiplier: 2.0,
    }
}

fn exporter(sink: &Sink) -> ferrometer::export::otlp::OtlpHttpExporterBuilder {
    OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(sink.url())
        .with_retry(fast_retry(5))
}

fn deadline(secs: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(secs)
}

#[test]
fn cumulative_values_decode_with_the_official_definitions() {
    let sink = Sink::start(vec![]);
    let exp = exporter(&sink).build().unwrap();
    assert_eq!(exp.temporality(), TemporalityPreference::Cumulative);
    let s = Scenario::new(exp.temporality());
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    s.record_round2();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();

    let got = sink.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/metrics");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), None);
        assert!(r.header("user-agent").unwrap().starts_with("ferrometer/"));
    }
    let reqs = decode_bodies(&got.iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    check_round1(&reqs[0], false);
    check_round2(&reqs[1], false);
    // Cumulative points keep their start time.
    let start = |i: usize| {
        point(
            metric(&reqs[i], "requests"),
            serde_json::json!({"route": "/a"}),
        )["start"]
            .clone()
    };
    assert_eq!(start(0), start(1));
}

#[test]
fn delta_values_decode_with_the_official_definitions() {
    let sink = Sink::start(vec![]);
    let exp = exporter(&sink)
        .with_temporality(TemporalityPreference::Delta)
        .build()
        .unwrap();
    assert_eq!(exp.temporality(), TemporalityPreference::Delta);
    let s = Scenario::new(exp.temporality());
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    s.record_round2();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    let reqs = decode_bodies(&got.iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    check_round1(&reqs[0], true);
    check_round2(&reqs[1], true);
    // Delta intervals are adjacent: the second starts where the first ended.
    let p = |i: usize| {
        point(
            metric(&reqs[i], "requests"),
            serde_json::json!({"route": "/a"}),
        )
        .clone()
    };
    assert_eq!(p(1)["start"], p(0)["time"]);
}

#[test]
fn temporality_preference_from_the_environment() {
    let exp = OtlpHttpExporter::builder()
        .with_env_lookup(|k| {
            (k == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").then(|| "lowmemory".into())
        })
        .build()
        .unwrap();
    assert_eq!(exp.temporality(), TemporalityPreference::LowMemory);
}

#[test]
fn gzip_body_and_custom_headers() {
    let sink = Sink::start(vec![]);
    let exp = OtlpHttpExporter::builder()
        .with_env_lookup({
            let url = format!("http://{}", sink.addr);
            move |k| match k {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(url.clone()),
                "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=s%20e%3Dcret,x-tenant=eu".into()),
                "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
                _ => None,
            }
        })
        .with_header("x-tenant", "us")
        .build()
        .unwrap();
    assert_eq!(exp.config().compression, Compression::Gzip);
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.path, "/v1/metrics");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("api-key"), Some("s e=cret"));
    assert_eq!(
        r.header("x-tenant"),
        Some("us"),
        "code wins over the environment"
    );
    assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip magic");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut raw)
        .expect("gzip body decodes");
    let req = proto::ExportMetricsServiceRequest::decode(&raw[..]).unwrap();
    assert!(!req.resource_metrics[0].scope_metrics.is_empty());
    // The official definitions agree (the decoder gunzips by magic).
    check_round1(&decode_bodies(std::slice::from_ref(&r.body))[0], false);
}

#[test]
fn http_json_protocol() {
    let sink = Sink::start(vec![]);
    let exp = exporter(&sink)
        .with_protocol(Protocol::HttpJson)
        .build()
        .unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let dir = temp_dir("otlp-http-json");
    let f = dir.join("body.jsonl");
    let mut body = got[0].body.clone();
    body.push(b'\n');
    std::fs::write(&f, body).unwrap();
    let v = python_decode("jsonl", &[&f]);
    check_round1(&v["requests"][0], false);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn retry_after_503_is_honoured_with_exactly_one_retry() {
    let sink = Sink::start(vec![Reply::status(503).header("Retry-After", "1")]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 2, "one retry, then success");
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After"
    );
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
    assert_eq!(got[0].body, got[1].body, "the same payload is resent");
}

#[test]
fn retry_after_as_http_date() {
    let when = std::time::SystemTime::now() + Duration::from_secs(2);
    let sink = Sink::start(vec![
        Reply::status(502).header("Retry-After", &httpdate::fmt_http_date(when))
    ]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 2);
    // HTTP dates have whole seconds: the wait is between 1 and 2 s.
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
}

#[test]
fn retry_after_past_the_deadline_gives_up_at_once() {
    let sink = Sink::start(vec![Reply::status(503).header("Retry-After", "30")]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let t = Instant::now();
    let err = exp
        .export(&s.reader.collect().unwrap(), deadline(2.0))
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn status_400_is_not_retried() {
    let status = proto::Status {
        code: 3,
        message: "bad metric name".into(),
    };
    let sink = Sink::start(vec![
        Reply::status(400).body("application/x-protobuf", status.encode_to_vec())
    ]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let err = exp
        .export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap_err();
    assert!(matches!(err, Error::Failed(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("400") && msg.contains("bad metric name"),
        "{msg}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received().len(), 1, "no retry on 400");
}

#[test]
fn status_500_is_not_retried() {
    let sink = Sink::start(vec![Reply::status(500).body("text/plain", b"boom".to_vec())]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let err = exp
        .export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap_err();
    assert!(
        err.to_string().contains("500") && err.to_string().contains("boom"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received().len(), 1);
}

#[test]
fn status_429_without_retry_after_backs_off_and_retries() {
    let sink = Sink::start(vec![Reply::status(429), Reply::status(429)]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 3, "two retries, then success");
    // Full jitter: each wait is within [0, ceiling] (50 ms, then 100 ms),
    // plus scheduling slack.
    assert!(got[1].at - got[0].at < Duration::from_millis(600));
    assert!(got[2].at - got[1].at < Duration::from_millis(700));
}

#[test]
fn retries_stop_after_max_attempts() {
    let sink = Sink::start(vec![Reply::status(504); 10]);
    let exp = exporter(&sink).with_retry(fast_retry(3)).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let err = exp
        .export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap_err();
    assert!(err.to_string().contains("3 attempts"), "{err}");
    assert_eq!(sink.received().len(), 3);
}

#[test]
fn connection_refused_retries_until_the_deadline() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exp = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(format!("http://127.0.0.1:{port}/v1/metrics"))
        .with_retry(fast_retry(0))
        .build()
        .unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let t = Instant::now();
    let err = exp
        .export(&s.reader.collect().unwrap(), deadline(1.5))
        .unwrap_err();
    let took = t.elapsed();
    // It kept retrying (waits of at most 200 ms) until the next wait would
    // pass the deadline, and did not overrun it.
    assert!(
        took >= Duration::from_millis(1000),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "overran: {took:?}");
    assert!(matches!(err, Error::Failed(_) | Error::Timeout), "{err:?}");
}

#[test]
fn partial_success_is_reported_through_diagnostics() {
    let resp = proto::ExportMetricsServiceResponse {
        partial_success: Some(proto::ExportMetricsPartialSuccess {
            rejected_data_points: 3,
            error_message: "3 points had no value".into(),
        }),
    };
    let sink = Sink::start(vec![
        Reply::status(200).body("application/x-protobuf", resp.encode_to_vec())
    ]);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    ferrometer::diagnostics::set_handler(move |_, m| {
        if m.contains("partial success") {
            s2.lock().unwrap().push(m.to_owned());
        }
    });
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    exp.export(&s.reader.collect().unwrap(), deadline(10.0))
        .unwrap();
    ferrometer::diagnostics::reset_handler();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains('3') && seen[0].contains("3 points had no value"));
}

#[test]
fn empty_snapshots_are_not_sent_and_shutdown_refuses_exports() {
    let sink = Sink::start(vec![]);
    let exp = exporter(&sink).build().unwrap();
    let s = Scenario::new(TemporalityPreference::Cumulative);
    // Only observables with values... drop to a provider without metrics.
    let empty = ferrometer::ManualReader::new(TemporalityPreference::Cumulative);
    let p = ferrometer::MeterProvider::builder()
        .with_reader(empty.clone())
        .build();
    exp.export(&empty.collect().unwrap(), deadline(5.0))
        .unwrap();
    assert_eq!(sink.received().len(), 0);
    exp.shutdown(Duration::from_secs(1)).unwrap();
    s.record_round1();
    assert_eq!(
        exp.export(&s.reader.collect().unwrap(), deadline(5.0)),
        Err(Error::Shutdown)
    );
    drop(p);
}

#[test]
fn periodic_reader_pushes_delta_through_the_exporter() {
    use ferrometer::{KeyValue, MeterProvider, PeriodicReader};
    let sink = Sink::start(vec![]);
    let exp = exporter(&sink)
        .with_temporality(TemporalityPreference::Delta)
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(exp)
        .with_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(5))
        .build();
    let provider = MeterProvider::builder().with_reader(reader).build();
    let c = provider
        .meter("periodic")
        .u64_counter("pushed")
        .build()
        .unwrap();
    c.add(5, &[KeyValue::new("k", "v")]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    c.add(2, &[KeyValue::new("k", "v")]);
    provider.shutdown().unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 2, "force_flush and the final export at shutdown");
    let reqs = decode_bodies(&got.iter().map(|r| r.body.clone()).collect::<Vec<_>>());
    for (req, want) in reqs.iter().zip([5, 2]) {
        let m = metric(req, "pushed");
        assert_eq!(m["temporality"], 1);
        assert_eq!(point(m, serde_json::json!({"k": "v"}))["as_int"], want);
    }
}

/// `OtlpEncoder::encode_batches`: every request of a split snapshot decodes
/// with the official definitions (no unknown bytes), carries the resource,
/// and together they hold the points of the whole request.
#[test]
fn encoder_batches_decode_with_the_official_definitions() {
    use ferrometer::export::otlp::encode::{BatchLimits, OtlpEncoder};
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let rm = s.reader.collect().unwrap();
    let mut enc = OtlpEncoder::new();
    let mut whole = Vec::new();
    assert_eq!(enc.encode(&rm, &mut whole), rm.point_count());
    let mut bodies = Vec::new();
    let mut out = Vec::new();
    let limits = BatchLimits {
        max_points: 2,
        max_bytes: 1 << 20,
    };
    let total = enc.encode_batches(&rm, limits, &mut out, &mut |body, points| {
        assert!(points <= 2);
        bodies.push(body.to_vec());
        std::ops::ControlFlow::Continue(())
    });
    assert_eq!(total, rm.point_count());
    assert!(bodies.len() >= rm.point_count() / 2);
    let whole = &decode_bodies(&[whole])[0];
    check_round1(whole, false);
    let points = |r: &serde_json::Value| -> usize {
        r["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["points"].as_array().unwrap().len())
            .sum()
    };
    let reqs = decode_bodies(&bodies);
    for r in &reqs {
        assert_eq!(r["resource"], whole["resource"]);
        assert!((1..=2).contains(&points(r)), "{r}");
    }
    assert_eq!(reqs.iter().map(points).sum::<usize>(), points(whole));
}
