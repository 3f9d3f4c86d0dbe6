//! Name translation from OpenTelemetry to Prometheus, as the
//! OpenTelemetry "Prometheus and OpenMetrics compatibility" specification
//! describes it:
//!
//! - metric names keep `[a-zA-Z0-9_:]`, every other character becomes `_`,
//!   runs of `_` collapse into one, and a leading digit gets a `_` prefix;
//! - label names follow the same rule without `:`;
//! - the UCUM unit becomes a suffix (`s` → `_seconds`, `ms` →
//!   `_milliseconds`, `By` → `_bytes`, `By/s` → `_bytes_per_second`;
//!   annotations in braces such as `{packet}` are dropped) unless the name
//!   already ends with it; the dimensionless unit `1` becomes `_ratio` on
//!   gauges only (a counter or histogram of unit `1` gets no unit suffix);
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

/// Translates an OpenTelemetry metric name and unit with the default
/// strategy ([`TranslationStrategy::UnderscoreEscapingWithSuffixes`]):
/// `units` adds the unit suffix, `total` the counter's `_total`.
pub fn family_name(name: &str, unit: &str, kind: PromKind, units: bool, total: bool) -> FamilyName {
    translate_family_name(
        name,
        unit,
        kind,
        TranslationStrategy::UnderscoreEscapingWithSuffixes,
        units,
        total,
    )
}

/// Translates an OpenTelemetry metric name and unit under `strategy`.
///
/// The escaping strategies sanitize the name to the legacy character set
/// (see [`sanitize_metric_name`]); the others keep it as it is (UTF-8,
/// escaped later for the scraper that cannot take it, see
/// [`escape_metric_name`]). The suffix strategies add the unit suffix
/// (when `units`) and the counter's `_total` (when `total`); the others add
/// neither, whatever `units` and `total` say. The unit `1` gives `_ratio`
/// to gauges only.
pub fn translate_family_name(
    name: &str,
    unit: &str,
    kind: PromKind,
    strategy: TranslationStrategy,
    units: bool,
    total: bool,
) -> FamilyName {
    let mut base = if strategy.escapes() {
        sanitize_metric_name(name)
    } else if name.is_empty() {
        "_".to_owned()
    } else {
        name.to_owned()
    };
    let suffixes = strategy.adds_suffixes();
    let total = suffixes && total && kind == PromKind::Counter;
    if total {
        if let Some(stripped) = base.strip_suffix("_total") {
            if !stripped.is_empty() {
                base.truncate(stripped.len());
            }
        }
    }
    let mut unit_out = None;
    if suffixes && units {
        let dimensionless = strip_annotations(unit).trim() == "1";
        let suffix = if dimensionless && kind != PromKind::Gauge {
            None
        } else {
            unit_suffix(unit)
        };
        if let Some(u) = suffix {
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

/// How OpenTelemetry names become Prometheus names, as the OpenTelemetry
/// Prometheus exporter specification names the strategies (the
/// `translation_strategy` option of its exporters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TranslationStrategy {
    /// Names and label names sanitized to the legacy character set
    /// (`http.server.duration` → `http_server_duration`), unit and
    /// `_total` suffixes added. What Prometheus 2 needs; the default.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Sanitized like the default, without unit or `_total` suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names and label names kept in UTF-8 (`http.server.duration_seconds`),
    /// unit and `_total` suffixes added. A scraper that does not ask for
    /// `escaping=allow-utf-8` still gets them escaped.
    NoUTF8EscapingWithSuffixes,
    /// Names and label names exactly as recorded, no suffixes. Two
    /// instruments that differ only by type or unit then collide (the
    /// later one is dropped, see the encoder's collision rules).
    NoTranslation,
}

impl TranslationStrategy {
    /// Whether names are sanitized to the legacy character set.
    pub fn escapes(self) -> bool {
        matches!(
            self,
            TranslationStrategy::UnderscoreEscapingWithSuffixes
                | TranslationStrategy::UnderscoreEscapingWithoutSuffixes
        )
    }

    /// Whether unit and type suffixes are added.
    pub fn adds_suffixes(self) -> bool {
        matches!(
            self,
            TranslationStrategy::UnderscoreEscapingWithSuffixes
                | TranslationStrategy::NoUTF8EscapingWithSuffixes
        )
    }

    /// The specification's name of the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            TranslationStrategy::UnderscoreEscapingWithSuffixes => "UnderscoreEscapingWithSuffixes",
            TranslationStrategy::UnderscoreEscapingWithoutSuffixes => {
                "UnderscoreEscapingWithoutSuffixes"
            }
            TranslationStrategy::NoUTF8EscapingWithSuffixes => "NoUTF8EscapingWithSuffixes",
            TranslationStrategy::NoTranslation => "NoTranslation",
        }
    }

    /// Parses the specification's name (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<TranslationStrategy> {
        [
            TranslationStrategy::UnderscoreEscapingWithSuffixes,
            TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
            TranslationStrategy::NoUTF8EscapingWithSuffixes,
            TranslationStrategy::NoTranslation,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The label name of an attribute key: sanitized (see
    /// [`sanitize_label_name`]) by the escaping strategies, kept otherwise.
    pub fn label_name(self, key: &str) -> std::borrow::Cow<'_, str> {
        if !self.escapes() || is_clean(key, false) {
            std::borrow::Cow::Borrowed(key)
        } else {
            std::borrow::Cow::Owned(sanitize_label_name(key))
        }
    }
}

/// How names outside the legacy character set reach a scraper: the
/// `escaping` parameter of Prometheus content negotiation (text format
/// 1.0.0 and OpenMetrics 1.0.0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EscapingScheme {
    /// `allow-utf-8`: names are sent as they are; in the text formats a
    /// name outside the legacy set is quoted (`{"http.server.duration"}`).
    AllowUtf8,
    /// `underscores`: every character outside the legacy set becomes `_`
    /// (a leading digit too). The default when the scraper names none.
    #[default]
    Underscores,
    /// `dots`: `.` becomes `_dot_`, `_` becomes `__`, any other character
    /// outside the legacy set `__` (applies to every name, legacy or not).
    Dots,
    /// `values`: a name outside the legacy set becomes `U__` followed by
    /// the name with `_` doubled and every other character outside the
    /// set written as its code point in lowercase hex between underscores
    /// (`a.b` → `U__a_2e_b`); legacy names stay as they are.
    Values,
}

impl EscapingScheme {
    /// The parameter value (`allow-utf-8`, `underscores`, `dots`, `values`).
    pub fn as_str(self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }

    /// Parses a parameter value (ASCII case-insensitive; `allow-utf8`, the
    /// spelling of an older document, is accepted too).
    pub fn parse(s: &str) -> Option<EscapingScheme> {
        let s = s.trim();
        let eq = |v: &str| s.eq_ignore_ascii_case(v);
        if eq("allow-utf-8") || eq("allow-utf8") {
            Some(EscapingScheme::AllowUtf8)
        } else if eq("underscores") {
            Some(EscapingScheme::Underscores)
        } else if eq("dots") {
            Some(EscapingScheme::Dots)
        } else if eq("values") {
            Some(EscapingScheme::Values)
        } else {
            None
        }
    }
}

fn is_legacy(s: &str, colon: bool) -> bool {
    !s.is_empty()
        && s.chars()
            .enumerate()
            .all(|(i, c)| valid_char(c, colon, i == 0))
}

/// True for a metric name of the legacy character set,
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_legacy_metric_name(s: &str) -> bool {
    is_legacy(s, true)
}

/// True for a label name of the legacy character set,
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(s: &str) -> bool {
    is_legacy(s, false)
}

fn escape(name: &str, scheme: EscapingScheme, colon: bool) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    use std::fmt::Write as _;
    let legacy = is_legacy(name, colon);
    let unchanged = match scheme {
        EscapingScheme::AllowUtf8 => true,
        EscapingScheme::Underscores | EscapingScheme::Values => legacy,
        EscapingScheme::Dots => legacy && !name.contains('_'),
    };
    if unchanged || name.is_empty() {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    match scheme {
        EscapingScheme::AllowUtf8 => unreachable!("returned above"),
        EscapingScheme::Underscores => {
            for (i, c) in name.chars().enumerate() {
                out.push(if valid_char(c, colon, i == 0) { c } else { '_' });
            }
        }
        EscapingScheme::Dots => {
            for (i, c) in name.chars().enumerate() {
                match c {
                    '_' => out.push_str("__"),
                    '.' => out.push_str("_dot_"),
                    c if valid_char(c, colon, i == 0) => out.push(c),
                    _ => out.push_str("__"),
                }
            }
        }
        EscapingScheme::Values => {
            out.push_str("U__");
            for (i, c) in name.chars().enumerate() {
                match c {
                    '_' => out.push_str("__"),
                    c if valid_char(c, colon, i == 0) => out.push(c),
                    c => {
                        let _ = write!(out, "_{:x}_", u32::from(c));
                    }
                }
            }
        }
    }
    Cow::Owned(out)
}

/// A metric name as a scraper that negotiated `scheme` gets it (see
/// [`EscapingScheme`]; `allow-utf-8` leaves every name unchanged).
pub fn escape_metric_name(name: &str, scheme: EscapingScheme) -> std::borrow::Cow<'_, str> {
    escape(name, scheme, true)
}

/// A label name as a scraper that negotiated `scheme` gets it (as
/// [`escape_metric_name`], with `:` outside the legacy set).
pub fn escape_label_name(name: &str, scheme: EscapingScheme) -> std::borrow::Cow<'_, str> {
    escape(name, scheme, false)
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
        // `_ratio` is for gauges only (the specification's special case).
        assert_eq!(f("hits", "1", c).base, "hits");
        assert_eq!(f("hits", "1", c).unit, None);
        assert_eq!(f("frac", "1", PromKind::Histogram).base, "frac");
        assert_eq!(f("frac", "{x}", g).base, "frac");
        assert_eq!(f("pkts", "{packet}", c).base, "pkts");
        assert!(!family_name("x", "s", g, false, true)
            .base
            .ends_with("seconds"));
        assert!(!family_name("x", "", c, true, false).total);
    }

    #[test]
    fn strategies() {
        use TranslationStrategy::*;
        let t = |s, k| translate_family_name("http.server.duration", "s", k, s, true, true);
        let h = PromKind::Histogram;
        let c = PromKind::Counter;
        assert_eq!(
            t(UnderscoreEscapingWithSuffixes, h).base,
            "http_server_duration_seconds"
        );
        assert_eq!(
            t(UnderscoreEscapingWithoutSuffixes, h).base,
            "http_server_duration"
        );
        assert_eq!(
            t(NoUTF8EscapingWithSuffixes, h).base,
            "http.server.duration_seconds"
        );
        assert_eq!(t(NoTranslation, h).base, "http.server.duration");
        assert!(t(NoUTF8EscapingWithSuffixes, c).total);
        assert!(!t(NoTranslation, c).total);
        assert!(!t(UnderscoreEscapingWithoutSuffixes, c).total);
        assert_eq!(t(NoTranslation, c).unit, None);
        for s in [
            UnderscoreEscapingWithSuffixes,
            UnderscoreEscapingWithoutSuffixes,
            NoUTF8EscapingWithSuffixes,
            NoTranslation,
        ] {
            assert_eq!(TranslationStrategy::parse(s.as_str()), Some(s));
        }
        assert_eq!(TranslationStrategy::parse("bogus"), None);
        assert_eq!(UnderscoreEscapingWithSuffixes.label_name("a.b"), "a_b");
        assert_eq!(NoUTF8EscapingWithSuffixes.label_name("a.b"), "a.b");
    }

    #[test]
    fn escaping_schemes() {
        use EscapingScheme::*;
        let m = |n, s| escape_metric_name(n, s).into_owned();
        // Examples of the Prometheus escaping-schemes document.
        assert_eq!(
            m("metric.name/with/slashes", Underscores),
            "metric_name_with_slashes"
        );
        assert_eq!(
            m("metric.name.with.dots", Dots),
            "metric_dot_name_dot_with_dot_dots"
        );
        assert_eq!(m("metric.name", Values), "U__metric_2e_name");
        // Legacy names: unchanged except under `dots`, which doubles `_`.
        assert_eq!(m("a_b:c", Underscores), "a_b:c");
        assert_eq!(m("a_b:c", Values), "a_b:c");
        assert_eq!(m("a_b:c", Dots), "a__b:c");
        assert_eq!(m("a.b", AllowUtf8), "a.b");
        // A leading digit is replaced, not prefixed.
        assert_eq!(m("9lives", Underscores), "_lives");
        assert_eq!(m("caf\u{e9}_x", Values), "U__caf_e9___x");
        assert_eq!(m("\u{1F600}", Values), "U___1f600_");
        // `:` is legal in metric names only.
        assert_eq!(escape_label_name("a:b", Underscores), "a_b");
        assert!(is_legacy_metric_name("a:b") && !is_legacy_label_name("a:b"));
        for s in [AllowUtf8, Underscores, Dots, Values] {
            assert_eq!(EscapingScheme::parse(s.as_str()), Some(s));
        }
        assert_eq!(EscapingScheme::parse("allow-utf8"), Some(AllowUtf8));
        assert_eq!(EscapingScheme::parse("none"), None);
    }
}
