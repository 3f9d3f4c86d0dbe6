//! The console exporter, for humans debugging a build: one block per
//! metric, one line per point, written to standard output (or any writer).
//!
//! ```text
//! ferrometer export at 2024-01-01T00:00:00.000Z (service.name="game")
//!
//! players.joined  counter, cumulative, unit "{player}"  [scope game 1.0]
//!   Players who joined.
//!   {region="eu"}  3
//!
//! latency  histogram, cumulative, unit "s"  [scope game]
//!   {route="/play"}  count=3 sum=0.42 min=0.1 max=0.2
//!     (-inf, 0.1]: 1  (0.1, 0.25]: 2  (0.25, +inf): 0
//!
//! packet.size  exponential histogram, cumulative, unit "By"  [scope net]
//!   {}  count=4 sum=3060 min=0 max=1500 scale=2 zero_count=1
//!     (53.82, 64]: 1  (1448, 1722]: 2
//! ```
//!
//! A point's exemplars follow it, one line each: value, time, trace and
//! span id (hex; left out when the measurement had no trace context) and
//! the filtered attributes:
//!
//! ```text
//!   {route="/play"}  count=3 sum=0.42 min=0.1 max=0.2
//!     (-inf, 0.1]: 1  (0.1, 0.25]: 2  (0.25, +inf): 0
//!     exemplar 0.2 at 2024-01-01T00:00:00.000Z trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 {user="u1"}
//! ```
//!
//! An exponential histogram lists its non-empty buckets only, negative
//! ranges first (from the most negative), each with its bounds
//! `base^index` (`base = 2^(2^-scale)`) rounded to four significant
//! digits.

use super::push::PushExporter;
use crate::attributes::{AttributeSet, Value};
use crate::collect::data::{
    Exemplar, ExponentialHistogramPoint, MetricData, Number, NumberPoint, ResourceMetrics,
    Temporality,
};
use crate::error::{Error, Result};
use crate::temporality::TemporalityPreference;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prints snapshots in a readable form.
pub struct ConsoleExporter {
    out: Mutex<Box<dyn Write + Send>>,
    temporality: TemporalityPreference,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("temporality", &self.temporality)
            .finish()
    }
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        ConsoleExporter::stdout()
    }
}

impl ConsoleExporter {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        ConsoleExporter::to_writer(std::io::stdout())
    }

    /// Writes to any writer (a file, a buffer in tests).
    pub fn to_writer(w: impl Write + Send + 'static) -> Self {
        ConsoleExporter {
            out: Mutex::new(Box::new(w)),
            temporality: TemporalityPreference::Cumulative,
        }
    }

    /// Asks the reader for this temporality (default cumulative).
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.temporality = t;
        self
    }
}

/// Renders a snapshot as the console exporter prints it.
pub fn render(rm: &ResourceMetrics) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "ferrometer export at {}",
        rfc3339(crate::time::now_nanos())
    );
    if !rm.resource.attributes().is_empty() {
        let _ = write!(s, " ({})", attrs(rm.resource.attributes(), ", "));
    }
    s.push('\n');
    for sm in &rm.scope_metrics {
        let mut scope = sm.scope.name().to_string();
        if let Some(v) = sm.scope.version() {
            scope.push(' ');
            scope.push_str(v);
        }
        for m in &sm.metrics {
            let shape = match &m.data {
                MetricData::Gauge(_) => "gauge".to_string(),
                MetricData::Sum(x) => format!(
                    "{}, {}",
                    if x.is_monotonic {
                        "counter"
                    } else {
                        "up-down counter"
                    },
                    temporality(x.temporality)
                ),
                MetricData::Histogram(h) => format!("histogram, {}", temporality(h.temporality)),
                MetricData::ExponentialHistogram(h) => {
                    format!("exponential histogram, {}", temporality(h.temporality))
                }
            };
            let _ = write!(s, "\n{}  {shape}", m.name);
            if !m.unit.is_empty() {
                let _ = write!(s, ", unit {:?}", &*m.unit);
            }
            let _ = writeln!(s, "  [scope {scope}]");
            if !m.description.is_empty() {
                let _ = writeln!(s, "  {}", m.description);
            }
            match &m.data {
                MetricData::Gauge(g) => g.points.iter().for_each(|p| number(&mut s, p)),
                MetricData::Sum(x) => x.points.iter().for_each(|p| number(&mut s, p)),
                MetricData::Histogram(h) => {
                    for p in &h.points {
                        let _ = write!(
                            s,
                            "  {{{}}}  count={} sum={}",
                            attrs(&p.attributes, ","),
                            p.count,
                            p.sum
                        );
                        if let (Some(lo), Some(hi)) = (p.min, p.max) {
                            let _ = write!(s, " min={lo} max={hi}");
                        }
                        s.push_str("\n    ");
                        let mut lo = "-inf".to_string();
                        for (i, c) in p.bucket_counts.iter().enumerate() {
                            let (hi, close) = match p.bounds.get(i) {
                                Some(b) => (b.to_string(), ']'),
                                None => ("+inf".to_string(), ')'),
                            };
                            let _ = write!(
                                s,
                                "{}({lo}, {hi}{close}: {c}",
                                if i > 0 { "  " } else { "" }
                            );
                            lo = hi;
                        }
                        s.push('\n');
                        exemplars(&mut s, &p.exemplars);
                    }
                }
                MetricData::ExponentialHistogram(h) => {
                    h.points.iter().for_each(|p| exponential(&mut s, p))
                }
            }
        }
    }
    s
}

fn exponential(s: &mut String, p: &ExponentialHistogramPoint) {
    let _ = write!(
        s,
        "  {{{}}}  count={} sum={}",
        attrs(&p.attributes, ","),
        p.count,
        p.sum
    );
    if let (Some(lo), Some(hi)) = (p.min, p.max) {
        let _ = write!(s, " min={lo} max={hi}");
    }
    let _ = write!(s, " scale={} zero_count={}", p.scale, p.zero_count);
    if p.zero_threshold != 0.0 {
        let _ = write!(s, " zero_threshold={}", p.zero_threshold);
    }
    s.push_str("\n    ");
    // Bucket `i` holds magnitudes in (base^i, base^(i + 1)].
    let bound = |i: i64| short(((i as f64) * (-f64::from(p.scale)).exp2()).exp2());
    let mut first = true;
    let mut sep = |s: &mut String| {
        if !first {
            s.push_str("  ");
        }
        first = false;
    };
    let neg = &p.negative;
    for (k, c) in neg.counts.iter().enumerate().rev() {
        if *c > 0 {
            let i = i64::from(neg.offset) + k as i64;
            sep(s);
            let _ = write!(s, "[-{}, -{}): {c}", bound(i + 1), bound(i));
        }
    }
    let pos = &p.positive;
    for (k, c) in pos.counts.iter().enumerate() {
        if *c > 0 {
            let i = i64::from(pos.offset) + k as i64;
            sep(s);
            let _ = write!(s, "({}, {}]: {c}", bound(i), bound(i + 1));
        }
    }
    s.push('\n');
    exemplars(s, &p.exemplars);
}

/// One line per exemplar, under its point.
fn exemplars(s: &mut String, v: &[Exemplar]) {
    for e in v {
        let _ = write!(
            s,
            "    exemplar {} at {}",
            number_text(e.value),
            rfc3339(e.time)
        );
        if e.trace_id.iter().any(|&b| b != 0) {
            s.push_str(" trace=");
            s.push_str(&crate::trace::hex(&e.trace_id));
        }
        if e.span_id.iter().any(|&b| b != 0) {
            s.push_str(" span=");
            s.push_str(&crate::trace::hex(&e.span_id));
        }
        if !e.filtered_attributes.is_empty() {
            let _ = write!(s, " {{{}}}", attrs(&e.filtered_attributes, ","));
        }
        s.push('\n');
    }
}

fn number_text(n: Number) -> String {
    match n {
        Number::U64(v) => v.to_string(),
        Number::I64(v) => v.to_string(),
        Number::F64(v) => v.to_string(),
    }
}

/// Four significant digits (`76.11`, `1.5e-7`).
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let digits = v.abs().log10().floor() as i32;
    if (-4..6).contains(&digits) {
        let decimals = (3 - digits).max(0) as usize;
        let t = format!("{v:.decimals$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    } else {
        format!("{v:.3e}")
    }
}

fn number(s: &mut String, p: &NumberPoint) {
    let v = number_text(p.value);
    let _ = write!(s, "  {{{}}}  {v}", attrs(&p.attributes, ","));
    if p.explicit_time {
        let _ = write!(s, "  @ {}", rfc3339(p.time));
    }
    s.push('\n');
    exemplars(s, &p.exemplars);
}

fn temporality(t: Temporality) -> &'static str {
    match t {
        Temporality::Cumulative => "cumulative",
        Temporality::Delta => "delta",
    }
}

fn attrs(a: &AttributeSet, sep: &str) -> String {
    let mut s = String::new();
    for (i, kv) in a.iter().enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        match kv.value() {
            Value::Str(v) => {
                let _ = write!(s, "{}={:?}", kv.key(), v.as_str());
            }
            v => {
                let _ = write!(s, "{}={v}", kv.key());
            }
        }
    }
    s
}

/// `2024-01-01T00:00:00.000Z` from Unix nanoseconds (UTC).
fn rfc3339(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let ms = (nanos / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

impl PushExporter for ConsoleExporter {
    fn export(&self, metrics: &ResourceMetrics, _deadline: Instant) -> Result<()> {
        let text = render(metrics);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Error::Failed(format!("console exporter: {e}")))
    }
    fn temporality(&self) -> TemporalityPreference {
        self.temporality
    }
    fn force_flush(&self, _timeout: Duration) -> Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.flush()
            .map_err(|e| Error::Failed(format!("console exporter: {e}")))
    }
    fn name(&self) -> &'static str {
        "console"
    }
}

#[cfg(test)]
mod tests {
    use crate::attributes::{AttributeSet, KeyValue};
    use crate::collect::data::{ExponentialBuckets, ExponentialHistogramPoint};

    #[test]
    fn exponential_buckets_with_their_bounds() {
        // 0, 60, 1500, 1500 at scale 2 (base 2^(1/4)): 60 lies in bucket
        // 23, (2^5.75, 2^6]; 1500 in bucket 42, (2^10.5, 2^10.75]; -3 in
        // negative bucket 6, magnitudes (2^1.5, 2^1.75].
        let p = ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes: AttributeSet::from_key_values(vec![KeyValue::new("if", "eth0")]),
            start_time: 1,
            time: 2,
            count: 5,
            sum: 3057.0,
            min: Some(-3.0),
            max: Some(1500.0),
            scale: 2,
            zero_count: 1,
            zero_threshold: 0.0,
            positive: ExponentialBuckets {
                offset: 23,
                counts: [vec![1], vec![0; 18], vec![2]].concat(),
            },
            negative: ExponentialBuckets {
                offset: 6,
                counts: vec![1],
            },
        };
        let mut s = String::new();
        super::exponential(&mut s, &p);
        assert_eq!(
            s,
            "  {if=\"eth0\"}  count=5 sum=3057 min=-3 max=1500 scale=2 zero_count=1\n    \
             [-3.364, -2.828): 1  (53.82, 64]: 1  (1448, 1722]: 2\n"
        );
        assert_eq!(super::short(1.5e-7), "1.500e-7");
        assert_eq!(super::short(1024.0), "1024");
    }

    #[test]
    fn exemplars_follow_their_points() {
        use crate::collect::data::{Exemplar, Number, NumberPoint};
        let trace: [u8; 16] = core::array::from_fn(|i| (i as u8) * 17);
        let p = NumberPoint {
            attributes: AttributeSet::from_key_values(vec![KeyValue::new("route", "/play")]),
            start_time: 1,
            time: 2,
            explicit_time: false,
            value: Number::U64(3),
            exemplars: vec![
                Exemplar {
                    filtered_attributes: AttributeSet::from_key_values(vec![KeyValue::new(
                        "user", "u1",
                    )]),
                    time: 1_700_000_000_123_000_000,
                    value: Number::F64(0.5),
                    trace_id: trace,
                    span_id: [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
                },
                Exemplar {
                    filtered_attributes: AttributeSet::empty(),
                    time: 0,
                    value: Number::I64(-2),
                    trace_id: [0; 16],
                    span_id: [0; 8],
                },
            ]
            .into(),
        };
        let mut s = String::new();
        super::number(&mut s, &p);
        assert_eq!(
            s,
            "  {route=\"/play\"}  3\n    exemplar 0.5 at 2023-11-14T22:13:20.123Z \
             trace=00112233445566778899aabbccddeeff span=00f067aa0ba902b7 {user=\"u1\"}\n    \
             exemplar -2 at 1970-01-01T00:00:00.000Z\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            super::rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
