//! `prometheus_client`'s OpenMetrics parser as the exemplar tests use it
//! (`pip install prometheus_client`).

use serde_json::Value as Json;
use std::io::Write;
use std::process::{Command, Stdio};

/// Reads OpenMetrics text on stdin; prints its samples as JSON (name,
/// labels, value, exemplar with labels, value and [sec, nsec]).
const OM_PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        e = s.exemplar
        x = None
        if e is not None:
            ts = e.timestamp
            if ts is not None and hasattr(ts, "sec"):
                ts = [ts.sec, ts.nsec]
            x = {"labels": e.labels, "value": float(e.value), "timestamp": ts}
        out.append({"name": s.name, "labels": s.labels, "value": float(s.value), "exemplar": x})
print(json.dumps(out))
"#;

/// The samples of `text` as `prometheus_client`'s OpenMetrics parser
/// reads them (it refuses malformed exemplars and labels past 128
/// characters).
pub fn om_parse(text: &str) -> Vec<Json> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(OM_PARSE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client is required");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the body:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Json>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}
