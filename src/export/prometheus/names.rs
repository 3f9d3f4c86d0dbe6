//! Name translation from OpenTelemetry to Prometheus, as the
//! OpenTelemetry "Prometheus and OpenMetrics compatibility" specification
//! describes it:
//!
//! - metric names keep `[a-zA-Z0-9_:]`, every other character becomes `_`,
//!   runs of `_` collapse into one, and a leading digit gets a `_` prefix;
//! - label names follow the same rule without `:`;
//! - the UCUM unit becomes a suffix (`s` → `_seconds`, `ms` →
//!   `_milliseconds`, `By` → `_bytes`, `1` → `_ratio`, `By/s` →
//!   `_bytes_per_second`; annotations in braces such as `{packet}` are
//!   dropped) unless the name already ends with it;
//! - monotonic sums (counters) get `_total` after the unit.

/// What a metric becomes in Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PromKind {
    /// A monotonic cumulative sum.
    Counter,
    /// A gauge or a non-monotonic cumulative sum.
    Gauge,
    /// A cumulative explicit-bucket histogram.
    Histogram,
}

impl PromKind {
    /// The `# TYPE` keyword.
    pub fn type_name(self) -> &'static str {
        match self {
            PromKind::Counter => "counter",
            PromKind::Gauge => "gauge",
            PromKind::Histogram => "histogram",
        }
    }
}

#[inline]
fn valid_char(c: char, colon: bool, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
}

/// True when `s` is already a valid, normalized Prometheus name (no
/// character to replace, no `__` run, no leading digit, not empty).
#[inline]
pub(crate) fn is_clean(s: &str, colon: bool) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut prev_us = false;
    for &c in b {
        let ok = c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':');
        if !ok || (c == b'_' && prev_us) {
            return false;
        }
        prev_us = c == b'_';
    }
    true
}

fn sanitize_into(s: &str, colon: bool, out: &mut String) {
    let start = out.len();
    for c in s.chars() {
        let c = if valid_char(c, colon, false) { c } else { '_' };
        if c == '_' && out.len() > start && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.len() == start {
        out.push('_');
    } else if out.as_bytes()[start].is_ascii_digit() {
        out.insert(start, '_');
    }
}

/// Sanitizes a metric name to `[a-zA-Z_:][a-zA-Z0-9_:]*` with runs of `_`
/// collapsed. The empty name becomes `_`.
pub fn sanitize_metric_name(name: &str) -> String {
    if is_clean(name, true) {
        return name.to_owned();
    }
    let mut s = String::with_capacity(name.len() + 1);
    sanitize_into(name, true, &mut s);
    s
}

/// Sanitizes a label name to `[a-zA-Z_][a-zA-Z0-9_]*` with runs of `_`
/// collapsed. The empty name becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    if is_clean(name, false) {
        return name.to_owned();
    }
    let mut s = String::with_capacity(name.len() + 1);
    sanitize_into(name, false, &mut s);
    s
}

fn main_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        // Time
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        // Bytes
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        // SI
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        // Misc
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "ratio",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Removes `{...}` annotations (UCUM curly-brace comments).
fn strip_annotations(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    let mut depth = 0usize;
    for c in u.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Alphanumeric runs joined by single `_` ("" when none).
fn unit_word(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    for c in u.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The Prometheus unit word for a UCUM unit (`s` → `seconds`, `By/s` →
/// `bytes_per_second`, `{packet}` → none), or None when nothing remains.
pub fn unit_suffix(unit: &str) -> Option<String> {
    let u = strip_annotations(unit);
    let u = u.trim();
    if u.is_empty() {
        return None;
    }
    let (num, den) = match u.split_once('/') {
        Some((n, d)) => (n.trim(), Some(d.trim())),
        None => (u, None),
    };
    let num = main_unit(num).map_or_else(|| unit_word(num), str::to_owned);
    let den = den
        .map(|d| per_unit(d).map_or_else(|| unit_word(d), str::to_owned))
        .unwrap_or_default();
    let s = match (num.is_empty(), den.is_empty()) {
        (true, true) => return None,
        (false, true) => num,
        (true, false) => format!("per_{den}"),
        (false, false) => format!("{num}_per_{den}"),
    };
    Some(s)
}

/// A translated metric family name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyName {
    /// The OpenMetrics family name: sanitized name plus unit suffix, without
    /// `_total` (also the key under which families merge).
    pub base: String,
    /// The unit word when the name ends with it (OpenMetrics `# UNIT`).
    pub unit: Option<String>,
    /// Whether counter samples carry `_total`.
    pub total: bool,
}

/// Translates an OpenTelemetry metric name and unit.
pub fn family_name(name: &str, unit: &str, kind: PromKind, units: bool, total: bool) -> FamilyName {
    let mut base = sanitize_metric_name(name);
    let total = total && kind == PromKind::Counter;
    if total {
        if let Some(stripped) = base.strip_suffix("_total") {
            if !stripped.is_empty() {
                base.truncate(stripped.len());
            }
        }
    }
    let mut unit_out = None;
    if units {
        if let Some(u) = unit_suffix(unit) {
            let already = base.len() > u.len()
                && base.ends_with(u.as_str())
                && base.as_bytes()[base.len() - u.len() - 1] == b'_';
            if !already {
                base.push('_');
                base.push_str(&u);
            }
            unit_out = Some(u);
        }
    }
    FamilyName {
        base,
        unit: unit_out,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for (i, o) in [
            ("http.server.duration", "http_server_duration"),
            ("a..b--c", "a_b_c"),
            ("a__b", "a_b"),
            ("9lives", "_9lives"),
            ("ok:sub", "ok:sub"),
            ("caf\u{e9}", "caf_"),
            ("", "_"),
            ("_x", "_x"),
        ] {
            assert_eq!(sanitize_metric_name(i), o, "{i:?}");
        }
        assert_eq!(sanitize_label_name("ok:sub"), "ok_sub");
        assert_eq!(sanitize_label_name("__name"), "_name");
        assert_eq!(sanitize_label_name("1a"), "_1a");
        assert_eq!(sanitize_label_name("_1a"), "_1a");
    }

    #[test]
    fn units() {
        for (i, o) in [
            ("s", Some("seconds")),
            ("ms", Some("milliseconds")),
            ("By", Some("bytes")),
            ("1", Some("ratio")),
            ("{packet}", None),
            ("{packet}/s", Some("per_second")),
            ("By/s", Some("bytes_per_second")),
            ("m/s", Some("meters_per_second")),
            ("", None),
            ("widgets", Some("widgets")),
            ("kWh/{car}", Some("kWh")),
            ("{a}{b}", None),
        ] {
            assert_eq!(unit_suffix(i).as_deref(), o, "{i:?}");
        }
    }

    #[test]
    fn family_names() {
        let f = |n, u, k| family_name(n, u, k, true, true);
        let c = PromKind::Counter;
        let g = PromKind::Gauge;
        assert_eq!(f("http.requests", "", c).base, "http_requests");
        assert_eq!(f("requests_total", "", c).base, "requests");
        assert_eq!(f("io", "By", c).base, "io_bytes");
        assert_eq!(f("io_bytes_total", "By", c).base, "io_bytes");
        assert_eq!(f("latency", "s", g).unit.as_deref(), Some("seconds"));
        assert_eq!(f("latency_seconds", "s", g).base, "latency_seconds");
        assert_eq!(f("seconds", "s", g).base, "seconds_seconds");
        assert_eq!(f("load", "1", g).base, "load_ratio");
        assert_eq!(f("pkts", "{packet}", c).base, "pkts");
        assert!(!family_name("x", "s", g, false, true)
            .base
            .ends_with("seconds"));
        assert!(!family_name("x", "", c, true, false).total);
    }
}
