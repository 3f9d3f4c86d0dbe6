//! The OTLP/JSON encoding of [`proto`](super::proto) messages, as the OTLP
//! specification defines it (protobuf's canonical JSON mapping with OTLP's
//! exceptions): lowerCamelCase field names; 64-bit integers (`int64`,
//! `fixed64`, `sfixed64`) as decimal strings; enums as integers; `bytes` as
//! base64, except an exemplar's `traceId` and `spanId`, which OTLP/JSON
//! writes as lowercase hex strings (32 and 16 digits); non-finite doubles as `"NaN"`, `"Infinity"`, `"-Infinity"`. Fields with
//! default values are omitted, except oneof members and `optional` fields
//! that are set.

use super::proto::{
    self, any_value, exemplar, exponential_histogram_data_point, metric, number_data_point,
};
use crate::trace::hex;
use std::fmt::Write;

/// Appends one `ExportMetricsServiceRequest` as a JSON object to `out`.
pub fn write_request(req: &proto::ExportMetricsServiceRequest, out: &mut String) {
    let mut w = Obj::new(out);
    w.array("resourceMetrics", &req.resource_metrics, resource_metrics);
    w.end();
}

/// Returns one `ExportMetricsServiceRequest` as JSON.
pub fn request_to_string(req: &proto::ExportMetricsServiceRequest) -> String {
    let mut s = String::new();
    write_request(req, &mut s);
    s
}

/// Writer of one JSON object: tracks the comma between members.
struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
        self.out
    }
    fn str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            let o = self.key(k);
            string(o, v);
        }
    }
    fn str_always(&mut self, k: &str, v: &str) {
        let o = self.key(k);
        string(o, v);
    }
    fn u32(&mut self, k: &str, v: u32) {
        if v != 0 {
            let o = self.key(k);
            let _ = write!(o, "{v}");
        }
    }
    fn i32(&mut self, k: &str, v: i32) {
        if v != 0 {
            let o = self.key(k);
            let _ = write!(o, "{v}");
        }
    }
    fn bool(&mut self, k: &str, v: bool) {
        if v {
            self.key(k).push_str("true");
        }
    }
    /// A 64-bit integer: always a string.
    fn int64(&mut self, k: &str, v: impl std::fmt::Display, is_default: bool) {
        if !is_default {
            let o = self.key(k);
            let _ = write!(o, "\"{v}\"");
        }
    }
    fn f64(&mut self, k: &str, v: f64) {
        let o = self.key(k);
        double(o, v);
    }
    fn array<T>(&mut self, k: &str, items: &[T], f: impl Fn(&T, &mut String)) {
        if items.is_empty() {
            return;
        }
        let o = self.key(k);
        o.push('[');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            f(it, o);
        }
        o.push(']');
    }
    fn object(&mut self, k: &str, f: impl FnOnce(&mut String)) {
        let o = self.key(k);
        f(o);
    }
    fn end(self) {
        self.out.push('}');
    }
}

/// A JSON string with the escapes JSON requires.
fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A double: shortest round-trip representation; non-finite as strings.
fn double(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        // `Debug` prints the shortest representation that round-trips,
        // with an exponent for very large or small magnitudes ("1e300"),
        // which is valid JSON.
        let _ = write!(out, "{v:?}");
    }
}

/// Standard base64 with padding (protobuf's JSON mapping of `bytes`).
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn exemplar(e: &proto::Exemplar, out: &mut String) {
    let mut w = Obj::new(out);
    w.array("filteredAttributes", &e.filtered_attributes, key_value);
    w.int64("timeUnixNano", e.time_unix_nano, e.time_unix_nano == 0);
    match e.value {
        None => {}
        Some(exemplar::Value::AsDouble(d)) => w.f64("asDouble", d),
        Some(exemplar::Value::AsInt(i)) => w.int64("asInt", i, false),
    }
    if !e.span_id.is_empty() {
        w.str_always("spanId", &hex(&e.span_id));
    }
    if !e.trace_id.is_empty() {
        w.str_always("traceId", &hex(&e.trace_id));
    }
    w.end();
}

fn resource_metrics(rm: &proto::ResourceMetrics, out: &mut String) {
    let mut w = Obj::new(out);
    if let Some(r) = &rm.resource {
        w.object("resource", |o| {
            let mut w = Obj::new(o);
            w.array("attributes", &r.attributes, key_value);
            w.u32("droppedAttributesCount", r.dropped_attributes_count);
            w.end();
        });
    }
    w.array("scopeMetrics", &rm.scope_metrics, scope_metrics);
    w.str("schemaUrl", &rm.schema_url);
    w.end();
}

fn scope_metrics(sm: &proto::ScopeMetrics, out: &mut String) {
    let mut w = Obj::new(out);
    if let Some(s) = &sm.scope {
        w.object("scope", |o| {
            let mut w = Obj::new(o);
            w.str("name", &s.name);
            w.str("version", &s.version);
            w.array("attributes", &s.attributes, key_value);
            w.u32("droppedAttributesCount", s.dropped_attributes_count);
            w.end();
        });
    }
    w.array("metrics", &sm.metrics, metric);
    w.str("schemaUrl", &sm.schema_url);
    w.end();
}

fn key_value(kv: &proto::KeyValue, out: &mut String) {
    let mut w = Obj::new(out);
    w.str_always("key", &kv.key);
    if let Some(v) = &kv.value {
        w.object("value", |o| any(v, o));
    }
    w.end();
}

fn any(v: &proto::AnyValue, out: &mut String) {
    let mut w = Obj::new(out);
    match &v.value {
        None => {}
        Some(any_value::Value::StringValue(s)) => w.str_always("stringValue", s),
        Some(any_value::Value::BoolValue(b)) => {
            w.key("boolValue")
                .push_str(if *b { "true" } else { "false" })
        }
        Some(any_value::Value::IntValue(i)) => w.int64("intValue", i, false),
        Some(any_value::Value::DoubleValue(d)) => w.f64("doubleValue", *d),
        Some(any_value::Value::ArrayValue(a)) => w.object("arrayValue", |o| {
            let mut w = Obj::new(o);
            w.array("values", &a.values, any);
            w.end();
        }),
        Some(any_value::Value::KvlistValue(l)) => w.object("kvlistValue", |o| {
            let mut w = Obj::new(o);
            w.array("values", &l.values, key_value);
            w.end();
        }),
        Some(any_value::Value::BytesValue(b)) => w.str_always("bytesValue", &base64(b)),
    }
    w.end();
}

fn metric(m: &proto::Metric, out: &mut String) {
    let mut w = Obj::new(out);
    w.str("name", &m.name);
    w.str("description", &m.description);
    w.str("unit", &m.unit);
    match &m.data {
        None => {}
        Some(metric::Data::Gauge(g)) => w.object("gauge", |o| {
            let mut w = Obj::new(o);
            w.array("dataPoints", &g.data_points, number_point);
            w.end();
        }),
        Some(metric::Data::Sum(s)) => w.object("sum", |o| {
            let mut w = Obj::new(o);
            w.array("dataPoints", &s.data_points, number_point);
            w.i32("aggregationTemporality", s.aggregation_temporality);
            w.bool("isMonotonic", s.is_monotonic);
            w.end();
        }),
        Some(metric::Data::Histogram(h)) => w.object("histogram", |o| {
            let mut w = Obj::new(o);
            w.array("dataPoints", &h.data_points, histogram_point);
            w.i32("aggregationTemporality", h.aggregation_temporality);
            w.end();
        }),
        Some(metric::Data::ExponentialHistogram(h)) => w.object("exponentialHistogram", |o| {
            let mut w = Obj::new(o);
            w.array("dataPoints", &h.data_points, exponential_point);
            w.i32("aggregationTemporality", h.aggregation_temporality);
            w.end();
        }),
    }
    w.array("metadata", &m.metadata, key_value);
    w.end();
}

fn number_point(p: &proto::NumberDataPoint, out: &mut String) {
    let mut w = Obj::new(out);
    w.array("attributes", &p.attributes, key_value);
    w.int64(
        "startTimeUnixNano",
        p.start_time_unix_nano,
        p.start_time_unix_nano == 0,
    );
    w.int64("timeUnixNano", p.time_unix_nano, p.time_unix_nano == 0);
    match p.value {
        None => {}
        Some(number_data_point::Value::AsDouble(d)) => w.f64("asDouble", d),
        Some(number_data_point::Value::AsInt(i)) => w.int64("asInt", i, false),
    }
    w.array("exemplars", &p.exemplars, exemplar);
    w.u32("flags", p.flags);
    w.end();
}

fn histogram_point(p: &proto::HistogramDataPoint, out: &mut String) {
    let mut w = Obj::new(out);
    w.array("attributes", &p.attributes, key_value);
    w.int64(
        "startTimeUnixNano",
        p.start_time_unix_nano,
        p.start_time_unix_nano == 0,
    );
    w.int64("timeUnixNano", p.time_unix_nano, p.time_unix_nano == 0);
    w.int64("count", p.count, p.count == 0);
    if let Some(s) = p.sum {
        w.f64("sum", s);
    }
    w.array("bucketCounts", &p.bucket_counts, |c, o| {
        let _ = write!(o, "\"{c}\"");
    });
    w.array("explicitBounds", &p.explicit_bounds, |b, o| double(o, *b));
    w.array("exemplars", &p.exemplars, exemplar);
    w.u32("flags", p.flags);
    if let Some(m) = p.min {
        w.f64("min", m);
    }
    if let Some(m) = p.max {
        w.f64("max", m);
    }
    w.end();
}

fn buckets(b: &exponential_histogram_data_point::Buckets, out: &mut String) {
    let mut w = Obj::new(out);
    w.i32("offset", b.offset);
    w.array("bucketCounts", &b.bucket_counts, |c, o| {
        let _ = write!(o, "\"{c}\"");
    });
    w.end();
}

fn exponential_point(p: &proto::ExponentialHistogramDataPoint, out: &mut String) {
    let mut w = Obj::new(out);
    w.array("attributes", &p.attributes, key_value);
    w.int64(
        "startTimeUnixNano",
        p.start_time_unix_nano,
        p.start_time_unix_nano == 0,
    );
    w.int64("timeUnixNano", p.time_unix_nano, p.time_unix_nano == 0);
    w.int64("count", p.count, p.count == 0);
    if let Some(s) = p.sum {
        w.f64("sum", s);
    }
    w.i32("scale", p.scale);
    w.int64("zeroCount", p.zero_count, p.zero_count == 0);
    if let Some(b) = &p.positive {
        w.object("positive", |o| buckets(b, o));
    }
    if let Some(b) = &p.negative {
        w.object("negative", |o| buckets(b, o));
    }
    w.u32("flags", p.flags);
    w.array("exemplars", &p.exemplars, exemplar);
    if let Some(m) = p.min {
        w.f64("min", m);
    }
    if let Some(m) = p.max {
        w.f64("max", m);
    }
    if p.zero_threshold != 0.0 {
        w.f64("zeroThreshold", p.zero_threshold);
    }
    w.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é\u2028""#);
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn doubles() {
        for (v, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e300, "1e300"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ] {
            let mut s = String::new();
            double(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn exemplar_ids_are_lowercase_hex() {
        let e = proto::Exemplar {
            filtered_attributes: vec![proto::KeyValue {
                key: "user".into(),
                value: Some(proto::AnyValue {
                    value: Some(any_value::Value::StringValue("u1".into())),
                }),
            }],
            time_unix_nano: 1_700_000_000_000_000_001,
            value: Some(exemplar::Value::AsInt(-4)),
            span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
            trace_id: (0u8..16).map(|i| i * 17).collect(),
        };
        let mut s = String::new();
        exemplar(&e, &mut s);
        assert_eq!(
            s,
            concat!(
                r#"{"filteredAttributes":[{"key":"user","value":{"stringValue":"u1"}}],"#,
                r#""timeUnixNano":"1700000000000000001","asInt":"-4","#,
                r#""spanId":"00f067aa0ba902b7","traceId":"00112233445566778899aabbccddeeff"}"#
            )
        );
        // No trace context: no ids; a double value.
        let e = proto::Exemplar {
            filtered_attributes: vec![],
            time_unix_nano: 0,
            value: Some(exemplar::Value::AsDouble(0.5)),
            span_id: vec![],
            trace_id: vec![],
        };
        s.clear();
        exemplar(&e, &mut s);
        assert_eq!(s, r#"{"asDouble":0.5}"#);
    }

    #[test]
    fn numbers_as_the_spec_encodes_them() {
        let req = proto::ExportMetricsServiceRequest {
            resource_metrics: vec![proto::ResourceMetrics {
                resource: None,
                scope_metrics: vec![proto::ScopeMetrics {
                    scope: None,
                    metrics: vec![proto::Metric {
                        name: "c".into(),
                        description: String::new(),
                        unit: "1".into(),
                        data: Some(metric::Data::Sum(proto::Sum {
                            data_points: vec![proto::NumberDataPoint {
                                attributes: vec![proto::KeyValue {
                                    key: "k".into(),
                                    value: Some(proto::AnyValue {
                                        value: Some(any_value::Value::IntValue(-3)),
                                    }),
                                }],
                                start_time_unix_nano: 1,
                                time_unix_nano: 18446744073709551615,
                                value: Some(number_data_point::Value::AsInt(0)),
                                exemplars: Default::default(),
                                flags: 0,
                            }],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        metadata: vec![],
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(
            request_to_string(&req),
            concat!(
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","unit":"1","sum":"#,
                r#"{"dataPoints":[{"attributes":[{"key":"k","value":{"intValue":"-3"}}],"#,
                r#""startTimeUnixNano":"1","timeUnixNano":"18446744073709551615","asInt":"0"}],"#,
                r#""aggregationTemporality":2,"isMonotonic":true}}]}]}]}"#
            )
        );
    }
}
