//! The OTLP file exporter: every line parses with Python's
//! `google.protobuf.json_format.Parse` into `ExportMetricsServiceRequest`
//! (official definitions, strict about unknown fields) and carries the
//! recorded values; rotation by size keeps whole lines and a bounded
//! number of backups.
//!
//! Needs `python3` with `pip install opentelemetry-proto protobuf`.

mod otlp_support;

use ferrometer::export::otlp::OtlpFileExporter;
use ferrometer::export::PushExporter;
use ferrometer::{Error, TemporalityPreference};
use otlp_support::*;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[test]
fn every_line_parses_and_values_match() {
    for (pref, delta) in [
        (TemporalityPreference::Cumulative, false),
        (TemporalityPreference::Delta, true),
    ] {
        let dir = temp_dir("otlp-file");
        let path = dir.join("metrics.jsonl");
        let exp = OtlpFileExporter::builder()
            .with_path(&path)
            .with_temporality(pref)
            .build()
            .unwrap();
        assert_eq!(exp.temporality(), pref);
        let s = Scenario::new(exp.temporality());
        s.record_round1();
        exp.export(&s.reader.collect().unwrap(), soon()).unwrap();
        s.record_round2();
        exp.export(&s.reader.collect().unwrap(), soon()).unwrap();
        exp.shutdown(Duration::from_secs(1)).unwrap();
        assert_eq!(
            exp.export(&s.reader.collect().unwrap(), soon()),
            Err(Error::Shutdown)
        );

        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with('\n'));
        let v = python_decode("jsonl", &[&path]);
        let reqs = v["requests"].as_array().unwrap();
        assert_eq!(reqs.len(), 2);
        check_round1(&reqs[0], delta);
        check_round2(&reqs[1], delta);
        // The encoding the spec asks for: camelCase, 64-bit ints as strings,
        // enums as integers.
        let first = text.lines().next().unwrap();
        assert!(first.starts_with(r#"{"resourceMetrics":[{"resource":{"attributes":["#));
        assert!(first.contains(r#""timeUnixNano":"1700000000123456789""#));
        assert!(first.contains(&format!(
            r#""aggregationTemporality":{}"#,
            if delta { 1 } else { 2 }
        )));
        assert!(first.contains(r#""asInt":"-7""#));
        assert!(first.contains(r#""bucketCounts":["1","2","1","1"]"#));
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn appends_to_an_existing_file() {
    let dir = temp_dir("otlp-file-append");
    let path = dir.join("m.jsonl");
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    for _ in 0..2 {
        let exp = OtlpFileExporter::builder()
            .with_path(&path)
            .build()
            .unwrap();
        exp.export(&s.reader.collect().unwrap(), soon()).unwrap();
    }
    let v = python_decode("jsonl", &[&path]);
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rotation_by_size_keeps_whole_lines_and_bounded_backups() {
    let dir = temp_dir("otlp-file-rotate");
    let path = dir.join("m.jsonl");
    let s = Scenario::new(TemporalityPreference::Cumulative);
    s.record_round1();
    let line_len = {
        let mut l = String::new();
        ferrometer::export::otlp::encode_json(&s.reader.collect().unwrap(), &mut l);
        l.len() as u64 + 1
    };
    // Room for two lines per file; keep two backups.
    let exp = OtlpFileExporter::builder()
        .with_path(&path)
        .with_rotation(line_len * 2 + line_len / 2, 2)
        .build()
        .unwrap();
    for _ in 0..7 {
        exp.export(&s.reader.collect().unwrap(), soon()).unwrap();
    }
    exp.force_flush(Duration::from_secs(1)).unwrap();
    let count = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    let b1 = dir.join("m.jsonl.1");
    let b2 = dir.join("m.jsonl.2");
    assert_eq!(count(&path), 1);
    assert_eq!(count(&b1), 2);
    assert_eq!(count(&b2), 2);
    assert!(!dir.join("m.jsonl.3").exists(), "at most 2 backups");
    for p in [&path, &b1, &b2] {
        let v = python_decode("jsonl", &[p]);
        for r in v["requests"].as_array().unwrap() {
            check_round1(r, false);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unwritable_path_fails_at_build() {
    let err = OtlpFileExporter::builder()
        .with_path("/nonexistent-dir/x/metrics.jsonl")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
