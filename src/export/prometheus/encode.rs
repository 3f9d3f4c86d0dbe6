//! The Prometheus text (0.0.4) and OpenMetrics (1.0) encoders: pure
//! functions from a snapshot to a byte buffer.
//!
//! Families are built first (translated name → family), then written one
//! after the other, so a family is never interleaved with another one and
//! carries exactly one `# HELP` / `# TYPE` (/ `# UNIT`).
//!
//! Name collisions (documented behaviour):
//! - two metrics (from the same or different scopes) whose translated names
//!   are equal and whose Prometheus types agree are **merged** into one
//!   family; the first non-empty description is the HELP;
//! - if the types differ, or the new family's sample names (`x`, `x_total`,
//!   `x_created`, `x_bucket`, `x_count`, `x_sum`) clash with another
//!   family's, the **later metric is dropped** with a warning through the
//!   diagnostics handler (once per name per process);
//! - a series whose labels equal an already written series of the same
//!   family (possible only after merging or label sanitizing) is dropped
//!   with a warning: the output never contains duplicate series.
//!
//! Attributes whose sanitized key is reserved by the encoder (`le` on
//! histograms, `otel_scope_*` while scope labels are on) are dropped.
//! Delta sums and delta histograms are dropped (the specification allows
//! this; the pull endpoint always collects cumulatively).

use super::names::{family_name, is_clean, sanitize_label_name, FamilyName, PromKind};
use super::{EncodeOptions, Format};
use crate::attributes::{AttributeSet, Value};
use crate::collect::data::Temporality;
use crate::collect::data::{HistogramPoint, Metric, MetricData, Number, NumberPoint, ScopeMetrics};
use crate::resource::InstrumentationScope;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// Emits a warning once per key per process (scrapes repeat every few
/// seconds; one line per problem is enough).
fn warn_once(key: String, msg: std::fmt::Arguments<'_>) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    let mut g = seen.lock().unwrap_or_else(|e| e.into_inner());
    if g.len() < 4096 && g.insert(key) {
        drop(g);
        crate::diagnostics::diag_warn!("prometheus: {msg}");
    }
}

struct Family<'a> {
    name: FamilyName,
    kind: PromKind,
    help: &'a str,
    sources: Vec<(usize, &'a Metric)>,
}

fn sample_names(base: &str, kind: PromKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        PromKind::Counter => &["", "_total", "_created"],
        PromKind::Gauge => &[""],
        PromKind::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

fn kind_of(m: &Metric) -> Option<PromKind> {
    match &m.data {
        MetricData::Gauge(_) => Some(PromKind::Gauge),
        MetricData::Sum(s) if s.temporality == Temporality::Cumulative => Some(if s.is_monotonic {
            PromKind::Counter
        } else {
            PromKind::Gauge
        }),
        MetricData::Histogram(h) if h.temporality == Temporality::Cumulative => {
            Some(PromKind::Histogram)
        }
        _ => None,
    }
}

/// Encodes a resource's attributes and scopes (the parts of a snapshot).
pub(crate) fn encode_parts(
    resource: &AttributeSet,
    scopes: &[&ScopeMetrics],
    format: Format,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) {
    let om = format == Format::OpenMetrics;
    let target_info = opts.target_info && !resource.is_empty();

    // 1. Families, in first-appearance order.
    let mut families: Vec<Family<'_>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut claimed: HashSet<String> = HashSet::new();
    if target_info {
        claimed.insert("target".into());
        claimed.insert("target_info".into());
    }
    for (si, sm) in scopes.iter().enumerate() {
        for m in &sm.metrics {
            if m.data.is_empty() {
                continue;
            }
            let Some(kind) = kind_of(m) else {
                warn_once(
                    format!("delta:{}", m.name),
                    format_args!(
                        "metric {:?} has delta temporality and is not exported (Prometheus needs cumulative data)",
                        m.name
                    ),
                );
                continue;
            };
            let name = family_name(
                &m.name,
                &m.unit,
                kind,
                opts.unit_suffixes,
                opts.total_suffix,
            );
            if let Some(&fi) = index.get(&name.base) {
                let f = &mut families[fi];
                if f.kind == kind {
                    if f.help.is_empty() {
                        f.help = &m.description;
                    }
                    f.sources.push((si, m));
                } else {
                    warn_once(
                        format!("conflict:{}:{}", name.base, m.name),
                        format_args!(
                            "metric {:?} translates to {:?}, already used by a {} family: dropped",
                            m.name,
                            name.base,
                            f.kind.type_name()
                        ),
                    );
                }
                continue;
            }
            let names = sample_names(&name.base, kind);
            if let Some(n) = names.iter().find(|n| claimed.contains(*n)) {
                warn_once(
                    format!("clash:{}:{}", name.base, m.name),
                    format_args!(
                        "metric {:?} ({} {:?}) would produce samples named {n:?}, which another family already uses: dropped",
                        m.name,
                        kind.type_name(),
                        name.base
                    ),
                );
                continue;
            }
            claimed.extend(names);
            index.insert(name.base.clone(), families.len());
            families.push(Family {
                name,
                kind,
                help: &m.description,
                sources: vec![(si, m)],
            });
        }
    }

    // 2. Scope labels, rendered once per scope.
    let scope_labels: Vec<Vec<u8>> = scopes
        .iter()
        .map(|s| {
            let mut b = Vec::new();
            if opts.scope_labels {
                render_scope_labels(&s.scope, &mut b);
            }
            b
        })
        .collect();

    // 3. Output.
    out.reserve(
        families
            .iter()
            .map(|f| f.sources.iter().map(|s| s.1.data.len()).sum::<usize>())
            .sum::<usize>()
            * 96,
    );
    if target_info {
        let mut labels = Vec::new();
        write_attrs(&mut labels, resource, Reserved::None);
        if om {
            out.extend_from_slice(b"# TYPE target info\n# HELP target Target metadata\n");
        } else {
            out.extend_from_slice(
                b"# HELP target_info Target metadata\n# TYPE target_info gauge\n",
            );
        }
        write_sample(out, "target_info", "", &labels, b"1", None, om);
    }
    let mut labels = Vec::with_capacity(256);
    let mut value = Vec::with_capacity(32);
    for f in &families {
        let base = f.name.base.as_str();
        let counter_suffix = if f.kind == PromKind::Counter && (om || f.name.total) {
            "_total"
        } else {
            ""
        };
        let meta_name_suffix = if om { "" } else { counter_suffix };
        if !f.help.is_empty() {
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(base.as_bytes());
            out.extend_from_slice(meta_name_suffix.as_bytes());
            out.push(b' ');
            escape_help(out, f.help, om);
            out.push(b'\n');
        }
        out.extend_from_slice(b"# TYPE ");
        out.extend_from_slice(base.as_bytes());
        out.extend_from_slice(meta_name_suffix.as_bytes());
        out.push(b' ');
        out.extend_from_slice(f.kind.type_name().as_bytes());
        out.push(b'\n');
        if om {
            if let Some(u) = &f.name.unit {
                out.extend_from_slice(b"# UNIT ");
                out.extend_from_slice(base.as_bytes());
                out.push(b' ');
                out.extend_from_slice(u.as_bytes());
                out.push(b'\n');
            }
        }
        let reserved = match (f.kind, opts.scope_labels) {
            (PromKind::Histogram, true) => Reserved::LeAndScope,
            (PromKind::Histogram, false) => Reserved::Le,
            (_, true) => Reserved::Scope,
            (_, false) => Reserved::None,
        };
        let clean: Vec<bool> = f
            .sources
            .iter()
            .map(|(_, m)| keys_clean(m, reserved))
            .collect();
        let dedup = f.sources.len() > 1 || clean.iter().any(|c| !c);
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for (&(si, m), &keys_ok) in f.sources.iter().zip(&clean) {
            let scope = &scope_labels[si];
            let mut series = |labels: &mut Vec<u8>, attrs: &AttributeSet| -> bool {
                labels.clear();
                if keys_ok {
                    write_attrs_checked(labels, attrs, reserved, true);
                } else {
                    write_attrs(labels, attrs, reserved);
                }
                if !scope.is_empty() {
                    if !labels.is_empty() {
                        labels.push(b',');
                    }
                    labels.extend_from_slice(scope);
                }
                if dedup && !seen.insert(labels.clone()) {
                    warn_once(
                        format!("dup:{base}"),
                        format_args!(
                            "family {base:?}: two series with the same labels (after merging metrics or sanitizing label names); the later one is dropped"
                        ),
                    );
                    return false;
                }
                true
            };
            match &m.data {
                MetricData::Gauge(g) => {
                    for p in &g.points {
                        if series(&mut labels, &p.attributes) {
                            number_point(
                                out,
                                &mut value,
                                base,
                                counter_suffix,
                                f.kind,
                                &labels,
                                p,
                                om,
                                opts,
                            );
                        }
                    }
                }
                MetricData::Sum(s) => {
                    for p in &s.points {
                        if series(&mut labels, &p.attributes) {
                            number_point(
                                out,
                                &mut value,
                                base,
                                counter_suffix,
                                f.kind,
                                &labels,
                                p,
                                om,
                                opts,
                            );
                        }
                    }
                }
                MetricData::Histogram(h) => {
                    for p in &h.points {
                        if series(&mut labels, &p.attributes) {
                            histogram_point(out, &mut value, base, &mut labels, p, om);
                        }
                    }
                }
            }
        }
    }
    if om {
        out.extend_from_slice(b"# EOF\n");
    }
}

#[allow(clippy::too_many_arguments)]
fn number_point(
    out: &mut Vec<u8>,
    value: &mut Vec<u8>,
    base: &str,
    counter_suffix: &str,
    kind: PromKind,
    labels: &[u8],
    p: &NumberPoint,
    om: bool,
    opts: &EncodeOptions,
) {
    let ts = (p.explicit_time && opts.timestamps).then_some(p.time);
    value.clear();
    match p.value {
        Number::U64(v) => write_u64(value, v),
        Number::I64(v) => write_i64(value, v),
        Number::F64(v) => write_f64(value, v, om),
    }
    if kind == PromKind::Counter {
        write_sample(out, base, counter_suffix, labels, value, ts, om);
        if om && p.start_time > 0 {
            value.clear();
            write_unix_seconds(value, p.start_time);
            write_sample(out, base, "_created", labels, value, ts, om);
        }
    } else {
        write_sample(out, base, "", labels, value, ts, om);
    }
}

fn histogram_point(
    out: &mut Vec<u8>,
    value: &mut Vec<u8>,
    base: &str,
    labels: &mut Vec<u8>,
    p: &HistogramPoint,
    om: bool,
) {
    let n = labels.len();
    let mut cum = 0u64;
    for (i, b) in p.bounds.iter().enumerate() {
        cum = cum
            .saturating_add(p.bucket_counts.get(i).copied().unwrap_or(0))
            .min(p.count);
        labels.truncate(n);
        if n > 0 {
            labels.push(b',');
        }
        labels.extend_from_slice(b"le=\"");
        write_f64(labels, *b, om);
        labels.push(b'"');
        value.clear();
        write_u64(value, cum);
        write_sample(out, base, "_bucket", labels, value, None, om);
    }
    labels.truncate(n);
    if n > 0 {
        labels.push(b',');
    }
    labels.extend_from_slice(b"le=\"+Inf\"");
    value.clear();
    write_u64(value, p.count);
    write_sample(out, base, "_bucket", labels, value, None, om);
    labels.truncate(n);
    write_sample(out, base, "_count", labels, value, None, om);
    value.clear();
    write_f64(value, p.sum, om);
    write_sample(out, base, "_sum", labels, value, None, om);
    if om && p.start_time > 0 {
        value.clear();
        write_unix_seconds(value, p.start_time);
        write_sample(out, base, "_created", labels, value, None, om);
    }
}

fn write_sample(
    out: &mut Vec<u8>,
    base: &str,
    suffix: &str,
    labels: &[u8],
    value: &[u8],
    ts: Option<u64>,
    om: bool,
) {
    out.extend_from_slice(base.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(labels);
        out.push(b'}');
    }
    out.push(b' ');
    out.extend_from_slice(value);
    if let Some(t) = ts {
        out.push(b' ');
        if om {
            write_unix_seconds(out, t);
        } else {
            write_u64(out, t / 1_000_000);
        }
    }
    out.push(b'\n');
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reserved {
    None,
    Scope,
    Le,
    LeAndScope,
    /// The labels the encoder itself derives from the scope.
    ScopeFixed,
}

impl Reserved {
    fn is_reserved(self, key: &str) -> bool {
        let le = matches!(self, Reserved::Le | Reserved::LeAndScope) && key == "le";
        let scope = matches!(self, Reserved::Scope | Reserved::LeAndScope)
            && key.starts_with("otel_scope_");
        let fixed = self == Reserved::ScopeFixed
            && matches!(
                key,
                "otel_scope_name" | "otel_scope_version" | "otel_scope_schema_url"
            );
        le || scope || fixed
    }
}

/// True when every attribute key of every point is a clean, unreserved
/// label name (then no two series of this metric can collide).
fn keys_clean(m: &Metric, reserved: Reserved) -> bool {
    // Points of one metric nearly always share their key strings (the same
    // literals, or shared owned strings): check each distinct pointer once.
    let mut checked: Vec<(*const u8, usize)> = Vec::new();
    let mut ok_key = |k: &str| {
        let id = (k.as_ptr(), k.len());
        if checked.contains(&id) {
            return true;
        }
        let ok = is_clean(k, false) && !reserved.is_reserved(k);
        if ok && checked.len() < 64 {
            checked.push(id);
        }
        ok
    };
    let mut ok = |a: &AttributeSet| a.iter().all(|kv| ok_key(kv.key()));
    match &m.data {
        MetricData::Gauge(g) => g.points.iter().all(|p| ok(&p.attributes)),
        MetricData::Sum(s) => s.points.iter().all(|p| ok(&p.attributes)),
        MetricData::Histogram(h) => h.points.iter().all(|p| ok(&p.attributes)),
    }
}

/// Writes `k="v",k2="v2"` (no braces) for an attribute set.
fn write_attrs(out: &mut Vec<u8>, attrs: &AttributeSet, reserved: Reserved) {
    let fast = attrs
        .iter()
        .all(|kv| is_clean(kv.key(), false) && !reserved.is_reserved(kv.key()));
    write_attrs_checked(out, attrs, reserved, fast)
}

/// [`write_attrs`] when the caller already knows whether every key is a
/// clean, unreserved label name.
fn write_attrs_checked(out: &mut Vec<u8>, attrs: &AttributeSet, reserved: Reserved, fast: bool) {
    if fast {
        for (i, kv) in attrs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(kv.key().as_bytes());
            out.extend_from_slice(b"=\"");
            write_value(out, kv.value());
            out.push(b'"');
        }
        return;
    }
    write_attrs_slow(out, attrs, reserved, "");
}

/// Sanitizes keys (with a prefix), drops reserved keys, and joins the
/// values of keys that sanitize to the same label with `;`, ordered by
/// original key (the set's order), as the specification asks.
fn write_attrs_slow(out: &mut Vec<u8>, attrs: &AttributeSet, reserved: Reserved, prefix: &str) {
    let mut v: Vec<(String, Vec<u8>)> = Vec::with_capacity(attrs.len());
    for kv in attrs.iter() {
        let k = if prefix.is_empty() {
            sanitize_label_name(kv.key())
        } else {
            sanitize_label_name(&format!("{prefix}{}", kv.key()))
        };
        if reserved.is_reserved(&k) {
            continue;
        }
        let mut val = Vec::new();
        write_value(&mut val, kv.value());
        v.push((k, val));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0)); // stable: keeps original-key order
    let mut i = 0;
    while i < v.len() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(v[i].0.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(&v[i].1);
        let mut j = i + 1;
        while j < v.len() && v[j].0 == v[i].0 {
            out.push(b';');
            out.extend_from_slice(&v[j].1);
            j += 1;
        }
        out.push(b'"');
        i = j;
    }
}

fn render_scope_labels(scope: &InstrumentationScope, out: &mut Vec<u8>) {
    out.extend_from_slice(b"otel_scope_name=\"");
    escape_label(out, scope.name());
    out.push(b'"');
    if let Some(v) = scope.version() {
        out.extend_from_slice(b",otel_scope_version=\"");
        escape_label(out, v);
        out.push(b'"');
    }
    if let Some(v) = scope.schema_url() {
        out.extend_from_slice(b",otel_scope_schema_url=\"");
        escape_label(out, v);
        out.push(b'"');
    }
    if !scope.attributes().is_empty() {
        let mut attrs = Vec::new();
        write_attrs_slow(
            &mut attrs,
            scope.attributes(),
            Reserved::ScopeFixed,
            "otel_scope_",
        );
        if !attrs.is_empty() {
            out.push(b',');
            out.extend_from_slice(&attrs);
        }
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => escape_label(out, s.as_str()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I64(i) => write_i64(out, *i),
        Value::F64(f) => {
            use std::io::Write;
            let _ = write!(out, "{f}");
        }
    }
}

/// Label value escaping (both formats): `\` `"` and newline.
fn escape_label(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'\\' || c == b'"' || c == b'\n') {
        out.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
}

/// HELP escaping: `\` and newline; OpenMetrics also escapes `"`.
fn escape_help(out: &mut Vec<u8>, s: &str, om: bool) {
    for &c in s.as_bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if om => out.extend_from_slice(b"\\\""),
            _ => out.push(c),
        }
    }
}

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Floats: `NaN`, `+Inf`, `-Inf`; integral values below 1e15 as integers
/// (`1` in text, `1.0` in OpenMetrics); anything else in Rust's shortest
/// round-trip form (`0.25`, `1e-7`, `1.5e300`), which Go's and Python's
/// parsers read back exactly.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64, om: bool) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write_i64(out, v as i64);
        if om {
            out.extend_from_slice(b".0");
        }
    } else {
        use std::io::Write;
        let _ = write!(out, "{v:?}");
    }
}

/// Unix seconds with millisecond precision (`1700000000.123`).
fn write_unix_seconds(out: &mut Vec<u8>, nanos: u64) {
    write_u64(out, nanos / 1_000_000_000);
    out.push(b'.');
    let ms = (nanos / 1_000_000) % 1000;
    out.push(b'0' + (ms / 100) as u8);
    out.push(b'0' + ((ms / 10) % 10) as u8);
    out.push(b'0' + (ms % 10) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64, om: bool) -> String {
        let mut b = Vec::new();
        write_f64(&mut b, v, om);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn floats() {
        assert_eq!(f(1.0, false), "1");
        assert_eq!(f(1.0, true), "1.0");
        assert_eq!(f(-0.0, false), "0");
        assert_eq!(f(0.25, false), "0.25");
        assert_eq!(f(1e-7, false), "1e-7");
        assert_eq!(f(1e300, true), "1e300");
        assert_eq!(f(f64::NAN, true), "NaN");
        assert_eq!(f(f64::INFINITY, false), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY, false), "-Inf");
        let mut b = Vec::new();
        write_unix_seconds(&mut b, 1_700_000_000_123_456_789);
        assert_eq!(b, b"1700000000.123");
        b.clear();
        write_u64(&mut b, u64::MAX);
        assert_eq!(b, u64::MAX.to_string().as_bytes());
        b.clear();
        write_i64(&mut b, i64::MIN);
        assert_eq!(b, i64::MIN.to_string().as_bytes());
    }

    #[test]
    fn escaping() {
        let mut b = Vec::new();
        escape_label(&mut b, "a\\b\"c\nd");
        assert_eq!(b, br#"a\\b\"c\nd"#);
        b.clear();
        escape_help(&mut b, "a\\b\"c\nd", false);
        assert_eq!(b, br#"a\\b"c\nd"#);
        b.clear();
        escape_help(&mut b, "a\"", true);
        assert_eq!(b, br#"a\""#);
    }
}
