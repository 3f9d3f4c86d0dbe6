//! The Remote-Write batch encoder: snapshot points to snappy-compressed
//! `prometheus.WriteRequest` (1.0) or `io.prometheus.write.v2.Request`
//! (2.0) bodies, one valid request per batch, written straight from the
//! snapshot (no intermediate messages; the tests decode every body with
//! the prost declarations of [`super::proto`]).
//!
//! What a point becomes (the pull endpoint's translation, through the
//! public functions of [`crate::export::prometheus::names`]):
//!
//! | point | series |
//! |---|---|
//! | monotonic cumulative sum | `name[_unit]_total` |
//! | gauge, non-monotonic cumulative sum | `name[_unit]` |
//! | cumulative explicit histogram | `name[_unit]_bucket{le=...}` per bound and `+Inf` (cumulative counts), `_sum`, `_count` |
//! | exponential histogram, delta sum or histogram | nothing: left out, counted ([`super::LeftOut`]) and warned once per metric |
//!
//! Labels: the point's attributes (sanitized; keys that sanitize to one
//! name have their values joined with `;` in key order; `le` on
//! histograms and `otel_scope_*` are reserved and dropped), the scope's
//! `otel_scope_name` / `otel_scope_version` / `otel_scope_schema_url` /
//! `otel_scope_<attribute>`, `job` (`service.namespace/service.name`, or
//! `service.name`) and `instance` (`service.instance.id`) from the
//! resource (an attribute of the same name wins), and `__name__`; sorted
//! by name, empty values left out (Prometheus treats them as absent).
//! The resource's other attributes go to one `target_info` series per
//! encoded snapshot part (value 1).
//!
//! Two points that translate to one series at one time (attribute keys
//! equal once sanitized, a dropped or empty attribute, an attribute
//! overriding `job`, two metrics of one translated name) would make the
//! receiver refuse the whole request (duplicate sample): within one
//! encoded snapshot part the first is written, the later ones are left out
//! and counted ([`super::LeftOut`]), as the pull endpoint keeps the first
//! series of a family. Only metrics that can repeat a series pay for this
//! check (a hash per point).
//!
//! Timestamps are the points' times in milliseconds. Order: series are
//! written in snapshot order, a histogram's series bucket by bucket, and
//! batches are queued in that order; each series appears once per
//! snapshot, so per series the samples reach the receiver in time order.
//!
//! 1.0 carries `MetricMetadata` (type, family name, help, unit) once per
//! metric per request; 2.0 carries the same in each series' `Metadata`,
//! plus the start time (`Sample.start_timestamp`) of counters and
//! histograms, with every string in the request's symbol table.
//!
//! Batch limits: at most `max_points` snapshot points per request (a
//! histogram point with its buckets is one point) and about `max_bytes`
//! uncompressed bytes (checked after each point).

use super::proto::MetricType;
use super::{LeftOut, RemoteWriteVersion, Why};
use crate::attributes::{AttributeSet, Value};
use crate::collect::data::{
    HistogramPoint, Metric, MetricData, Number, NumberPoint, ResourceMetrics, Temporality,
};
use crate::export::pipeline::{BatchEncoder, BatchLimits};
use crate::export::prometheus::names::{family_name, sanitize_label_name, PromKind};
use crate::export::{cumulative_bucket_counts, KeyMemo};
use crate::resource::InstrumentationScope;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

// ---------------------------------------------------------------------
// Protobuf wire helpers.

#[inline(always)]
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: key, length, bytes.
#[inline(always)]
fn bytes_field(out: &mut Vec<u8>, key: u8, b: &[u8]) {
    out.push(key);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[inline(always)]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A 1.0 `Label` message (field 1 of `TimeSeries`): name, value.
#[inline(always)]
fn label_v1(ts: &mut Vec<u8>, n: &[u8], v: &[u8]) {
    let len = 4 + n.len() + v.len();
    if len < 128 {
        // Every length fits one varint byte (the common case).
        ts.reserve(len + 2);
        ts.extend_from_slice(&[0x0a, len as u8, 0x0a, n.len() as u8]);
        ts.extend_from_slice(n);
        ts.extend_from_slice(&[0x12, v.len() as u8]);
        ts.extend_from_slice(v);
        return;
    }
    let len = 2 + varint_len(n.len() as u64) + n.len() + varint_len(v.len() as u64) + v.len();
    ts.push(0x0a);
    varint(ts, len as u64);
    bytes_field(ts, 0x0a, n);
    bytes_field(ts, 0x12, v);
}

/// Milliseconds of a nanosecond timestamp.
#[inline(always)]
fn ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

// ---------------------------------------------------------------------
// Label values as text.

/// True when `sanitize_label_name(k) == k` (checked without allocating:
/// `[a-zA-Z_][a-zA-Z0-9_]*` without a `__` run).
#[inline]
fn is_clean_label(k: &str) -> bool {
    let b = k.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut prev_us = false;
    for &c in b {
        let us = c == b'_';
        if !(c.is_ascii_alphanumeric() || us) || (us && prev_us) {
            return false;
        }
        prev_us = us;
    }
    true
}

/// An attribute key that becomes a label as it is: clean, and not one
/// the encoder drops (`otel_scope_*`, `le` on histograms).
fn is_plain_key(k: &str, histogram: bool) -> bool {
    is_clean_label(k) && !k.starts_with("otel_scope_") && !(histogram && k == "le")
}

/// Plain attribute keys met lately, by position and string identity: the
/// points of one metric nearly always share their key strings, so each
/// key is checked once per metric, not once per point.
struct KeyCache {
    histogram: bool,
    known: KeyMemo,
}

impl KeyCache {
    fn new(histogram: bool) -> Self {
        KeyCache {
            histogram,
            known: KeyMemo::new(),
        }
    }

    #[inline(always)]
    fn plain(&mut self, pos: usize, key: &str) -> bool {
        let histogram = self.histogram;
        self.known.check(pos, key, |k| is_plain_key(k, histogram))
    }

    /// Whether a point's labels can be read straight from its attributes
    /// ([`Plan::Direct`]): every key plain, no float value (floats are
    /// formatted on the copying path).
    #[inline]
    fn direct(&mut self, attrs: &AttributeSet) -> bool {
        attrs
            .iter()
            .enumerate()
            .all(|(i, kv)| !matches!(kv.value(), Value::F64(_)) && self.plain(i, kv.key()))
    }
}

/// A float as the Prometheus text format writes it: integral values
/// below 1e15 without a fraction, `+Inf`, `-Inf`, `NaN`, otherwise the
/// shortest form that reads back to the same value.
pub(crate) fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        use std::io::Write;
        let _ = write!(out, "{v:?}");
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => out.extend_from_slice(s.as_str().as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I64(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::F64(f) => {
            use std::io::Write;
            let _ = write!(out, "{f}");
        }
    }
}

// ---------------------------------------------------------------------
// One series' labels, sorted.

#[derive(Clone, Copy)]
struct Pair {
    name: (u32, u32),
    value: (u32, u32),
    /// From the point's attributes (wins over a fixed label of its name).
    attr: bool,
}

/// The labels of one point (without `__name__` and `le`), copied into
/// one scratch buffer and sorted by name.
#[derive(Default)]
struct Labels {
    text: Vec<u8>,
    pairs: Vec<Pair>,
}

impl Labels {
    fn clear(&mut self) {
        self.text.clear();
        self.pairs.clear();
    }

    fn range(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> (u32, u32) {
        let a = self.text.len();
        f(&mut self.text);
        (a as u32, self.text.len() as u32)
    }

    fn push(&mut self, name: &[u8], value: impl FnOnce(&mut Vec<u8>), attr: bool) {
        let name = self.range(|t| t.extend_from_slice(name));
        let value = self.range(value);
        if value.0 == value.1 {
            self.text.truncate(name.0 as usize);
            return;
        }
        self.pairs.push(Pair { name, value, attr });
    }

    #[inline(always)]
    fn get(&self, r: (u32, u32)) -> &[u8] {
        &self.text[r.0 as usize..r.1 as usize]
    }

    /// Sorts by name (stable: attributes, pushed first, stay first among
    /// equals) and resolves equal names: an attribute beats a fixed
    /// label; two attributes join their values with `;`.
    fn finish(&mut self) {
        let text = &self.text;
        let name = |p: &Pair| &text[p.name.0 as usize..p.name.1 as usize];
        // Insertion sort: few labels, nearly always already in order.
        for i in 1..self.pairs.len() {
            let mut j = i;
            while j > 0 && name(&self.pairs[j - 1]) > name(&self.pairs[j]) {
                self.pairs.swap(j - 1, j);
                j -= 1;
            }
        }
        let dup = self
            .pairs
            .windows(2)
            .any(|w| self.get(w[0].name) == self.get(w[1].name));
        if !dup {
            return;
        }
        let pairs = std::mem::take(&mut self.pairs);
        let mut kept: Vec<Pair> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match kept.last_mut() {
                Some(last)
                    if self.text[last.name.0 as usize..last.name.1 as usize]
                        == self.text[p.name.0 as usize..p.name.1 as usize] =>
                {
                    if p.attr && last.attr {
                        let a = self.text.len() as u32;
                        self.text
                            .extend_from_within(last.value.0 as usize..last.value.1 as usize);
                        self.text.push(b';');
                        self.text
                            .extend_from_within(p.value.0 as usize..p.value.1 as usize);
                        last.value = (a, self.text.len() as u32);
                    }
                }
                _ => kept.push(p),
            }
        }
        self.pairs = kept;
    }

    /// The sorted labels merged with `extra` (sorted, names not among
    /// the pairs): `f(name, value)` in name order.
    #[inline(always)]
    fn each(&self, extra: &[(&[u8], &[u8])], mut f: impl FnMut(&[u8], &[u8])) {
        let mut e = 0;
        for p in &self.pairs {
            let n = self.get(p.name);
            while e < extra.len() && extra[e].0 < n {
                f(extra[e].0, extra[e].1);
                e += 1;
            }
            f(n, self.get(p.value));
        }
        for &(n, v) in &extra[e..] {
            f(n, v);
        }
    }
}

/// Where a point's labels (all but `__name__` and `le`) come from.
#[derive(Clone, Copy)]
enum Plan<'a> {
    /// Its attributes (sorted by key; every key plain, no float value),
    /// merged on the fly with the scope's fixed labels (sorted); an
    /// attribute wins over a fixed label of its name.
    Direct(&'a AttributeSet, &'a [(Vec<u8>, Vec<u8>)]),
    /// Sanitized, joined and sorted into the encoder's [`Labels`].
    Copied,
}

/// Calls `f(name, value)` for a point's labels merged with `extra`
/// (sorted; names no label has), in name order, empty values left out.
#[inline(always)]
fn each_label(
    labels: &Labels,
    plan: Plan<'_>,
    extra: &[(&[u8], &[u8])],
    mut f: impl FnMut(&[u8], &[u8]),
) {
    let (attrs, fixed) = match plan {
        Plan::Copied => return labels.each(extra, f),
        Plan::Direct(a, b) => (a.as_slice(), b),
    };
    let mut e = 0;
    let mut emit = |n: &[u8], v: &[u8]| {
        while e < extra.len() && extra[e].0 < n {
            f(extra[e].0, extra[e].1);
            e += 1;
        }
        f(n, v);
    };
    let mut num = itoa::Buffer::new();
    let (mut i, mut j) = (0, 0);
    while i < attrs.len() || j < fixed.len() {
        let a = attrs.get(i).map(|kv| kv.key().as_bytes());
        let b = fixed.get(j).map(|(n, _)| &n[..]);
        match (a, b) {
            (Some(an), Some(bn)) if bn < an => {
                emit(bn, &fixed[j].1);
                j += 1;
            }
            (Some(an), b) => {
                if b == Some(an) {
                    j += 1; // the attribute wins
                }
                let v: &[u8] = match attrs[i].value() {
                    Value::Str(s) => s.as_str().as_bytes(),
                    Value::Bool(true) => b"true",
                    Value::Bool(false) => b"false",
                    Value::I64(x) => num.format(*x).as_bytes(),
                    // `KeyCache::direct` sends floats to the copying path.
                    Value::F64(_) => b"",
                };
                if !v.is_empty() {
                    emit(an, v);
                }
                i += 1;
            }
            (None, Some(bn)) => {
                emit(bn, &fixed[j].1);
                j += 1;
            }
            (None, None) => break,
        }
    }
    for &(n, v) in &extra[e..] {
        f(n, v);
    }
}

// ---------------------------------------------------------------------
// The 2.0 symbol table.

#[derive(Default)]
struct Symbols {
    index: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    list: Vec<Box<[u8]>>,
}

impl Symbols {
    fn clear(&mut self) {
        self.index.clear();
        self.list.clear();
        self.intern(b"");
    }

    fn intern(&mut self, s: &[u8]) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s.into());
        self.index.insert(s.into(), i);
        i
    }

    /// `symbols` (field 4) entries.
    fn write(&self, out: &mut Vec<u8>) {
        for s in &self.list {
            bytes_field(out, 0x22, s);
        }
    }
}

// ---------------------------------------------------------------------
// Per metric.

/// What the encoder needs of a metric, computed once per metric.
struct MetricInfo {
    kind: PromKind,
    /// The sample name of counters and gauges (`x_total`, `x`), or the
    /// histogram base.
    name: Vec<u8>,
    bucket: Vec<u8>,
    sum: Vec<u8>,
    count: Vec<u8>,
    /// The metadata family name (`x_total` for counters).
    family: Vec<u8>,
    unit: Vec<u8>,
}

impl MetricInfo {
    /// The name of the metric's first series (`x_total`, `x`,
    /// `x_bucket`): metrics whose first series share a name may repeat a
    /// series.
    fn primary(&self) -> &[u8] {
        if self.kind == PromKind::Histogram {
            &self.bucket
        } else {
            &self.name
        }
    }
}

fn metric_info(m: &Metric, kind: PromKind) -> MetricInfo {
    let f = family_name(&m.name, &m.unit, kind, true, true);
    let base = f.base.into_bytes();
    let with = |s: &str| [&base[..], s.as_bytes()].concat();
    let name = if kind == PromKind::Counter && f.total {
        with("_total")
    } else {
        base.clone()
    };
    MetricInfo {
        kind,
        family: name.clone(),
        bucket: with("_bucket"),
        sum: with("_sum"),
        count: with("_count"),
        name,
        unit: f.unit.map(String::into_bytes).unwrap_or_default(),
    }
}

/// The Prometheus kind of a metric, or None when remote write cannot
/// carry it (delta temporality, exponential histogram).
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

fn metric_type(k: PromKind) -> MetricType {
    match k {
        PromKind::Counter => MetricType::Counter,
        PromKind::Gauge => MetricType::Gauge,
        PromKind::Histogram => MetricType::Histogram,
    }
}

/// Label pairs (unsorted, raw) from the resource: `job`, `instance`.
fn resource_labels(resource: &AttributeSet) -> Vec<(Vec<u8>, Vec<u8>)> {
    let text = |k: &str| {
        resource.get(k).map(|v| {
            let mut b = Vec::new();
            write_value(&mut b, v);
            b
        })
    };
    let mut v = Vec::new();
    if let Some(name) = text("service.name") {
        let job = match text("service.namespace") {
            Some(ns) if !ns.is_empty() => [&ns[..], b"/", &name[..]].concat(),
            _ => name,
        };
        v.push((b"job".to_vec(), job));
    }
    if let Some(id) = text("service.instance.id") {
        v.push((b"instance".to_vec(), id));
    }
    v
}

/// The scope's labels, as the pull endpoint writes them.
fn scope_labels(scope: &InstrumentationScope) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = vec![(
        b"otel_scope_name".to_vec(),
        scope.name().as_bytes().to_vec(),
    )];
    if let Some(ver) = scope.version() {
        v.push((b"otel_scope_version".to_vec(), ver.as_bytes().to_vec()));
    }
    if let Some(url) = scope.schema_url() {
        v.push((b"otel_scope_schema_url".to_vec(), url.as_bytes().to_vec()));
    }
    for kv in scope.attributes().iter() {
        let k = sanitize_label_name(&format!("otel_scope_{}", kv.key()));
        if matches!(
            k.as_str(),
            "otel_scope_name" | "otel_scope_version" | "otel_scope_schema_url"
        ) {
            continue;
        }
        let mut b = Vec::new();
        write_value(&mut b, kv.value());
        v.push((k.into_bytes(), b));
    }
    v
}

// ---------------------------------------------------------------------
// The encoder.

/// Encodes snapshots into Remote-Write requests for the export pipeline
/// (see the module documentation). Cheap to fork: forks share the
/// left-out counter.
pub struct RemoteWriteEncoder {
    version: RemoteWriteVersion,
    target_info: bool,
    left_out: LeftOut,
    snappy: snap::raw::Encoder,
    /// The request's fields in progress (1.0: series; 2.0: series).
    raw: Vec<u8>,
    /// 1.0: the metadata of this request.
    meta: Vec<u8>,
    /// One series' message.
    ts: Vec<u8>,
    /// 2.0: one series' label references.
    refs: Vec<u8>,
    labels: Labels,
    syms: Symbols,
    /// The uncompressed request (2.0: symbols then series).
    req: Vec<u8>,
    /// The compressed body handed to the pipeline.
    body: Vec<u8>,
    scratch: Vec<u8>,
    /// A histogram bucket's `le` value.
    le: Vec<u8>,
    /// Series hashes of this encoding, for metrics that may repeat one.
    seen: HashSet<u64, foldhash::fast::RandomState>,
}

impl RemoteWriteEncoder {
    /// An encoder for `version`; `target_info`: send the resource as a
    /// `target_info` series. Points it cannot carry are counted in
    /// `left_out`.
    pub fn new(version: RemoteWriteVersion, target_info: bool, left_out: LeftOut) -> Self {
        let mut syms = Symbols::default();
        syms.clear();
        RemoteWriteEncoder {
            version,
            target_info,
            left_out,
            snappy: snap::raw::Encoder::new(),
            raw: Vec::new(),
            meta: Vec::new(),
            ts: Vec::new(),
            refs: Vec::new(),
            labels: Labels::default(),
            syms,
            req: Vec::new(),
            body: Vec::new(),
            scratch: Vec::new(),
            le: Vec::new(),
            seen: HashSet::default(),
        }
    }

    fn v2(&self) -> bool {
        self.version == RemoteWriteVersion::V2
    }

    /// Compresses the request and hands it over; resets the batch.
    fn flush(
        &mut self,
        points: &mut usize,
        emit: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.raw.is_empty() && *points == 0 {
            return ControlFlow::Continue(());
        }
        // 1.0: the metadata follows the series in the request being built
        // (protobuf fields may come in any order). 2.0: the symbols come
        // first, for receivers that read the table before the series.
        let req = if self.v2() {
            self.req.clear();
            self.syms.write(&mut self.req);
            self.req.extend_from_slice(&self.raw);
            self.syms.clear();
            &self.req
        } else {
            self.raw.extend_from_slice(&self.meta);
            &self.raw
        };
        self.body.clear();
        self.body
            .resize(snap::raw::max_compress_len(req.len()).max(1), 0);
        match self.snappy.compress(req, &mut self.body) {
            Ok(n) => self.body.truncate(n),
            // Only for requests of 4 GiB or more, which the batch limits
            // prevent unless configured that large: the receiver refuses
            // the uncompressed body (a permanent error, counted).
            Err(_) => {
                self.body.clear();
                self.body.extend_from_slice(req);
            }
        }
        self.raw.clear();
        self.meta.clear();
        let n = std::mem::take(points);
        emit(&mut self.body, n)
    }

    /// 1.0 metadata of a metric, once per request.
    fn metadata_v1(&mut self, info: &MetricInfo, help: &str) {
        let s = &mut self.scratch;
        s.clear();
        s.push(0x08);
        varint(s, metric_type(info.kind) as u64);
        bytes_field(s, 0x12, &info.family);
        if !help.is_empty() {
            bytes_field(s, 0x22, help.as_bytes());
        }
        if !info.unit.is_empty() {
            bytes_field(s, 0x2a, &info.unit);
        }
        bytes_field(&mut self.meta, 0x1a, s);
    }

    /// True the first time this encoding meets the labels of `plan`
    /// with `name` at `time` (a 64-bit hash of them is remembered).
    fn first_sighting(&mut self, plan: Plan<'_>, name: &[u8], time: u64) -> bool {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.seen.hasher().build_hasher();
        each_label(&self.labels, plan, &[(b"__name__", name)], |n, v| {
            h.write(n);
            h.write_u8(0xff);
            h.write(v);
            h.write_u8(0xfe);
        });
        h.write_u64(time);
        self.seen.insert(h.finish())
    }

    /// Writes one series (labels + `extra`, one sample) into the request.
    #[allow(clippy::too_many_arguments)]
    fn series(
        &mut self,
        plan: Plan<'_>,
        extra: &[(&[u8], &[u8])],
        value: f64,
        time_ms: i64,
        start_ms: i64,
        meta: Option<(MetricType, &[u8], &[u8])>,
    ) {
        self.ts.clear();
        if self.v2() {
            self.refs.clear();
            let (labels, syms, refs) = (&self.labels, &mut self.syms, &mut self.refs);
            each_label(labels, plan, extra, |n, v| {
                varint(refs, syms.intern(n) as u64);
                varint(refs, syms.intern(v) as u64);
            });
            bytes_field(&mut self.ts, 0x0a, &self.refs);
            // Sample: value, timestamp, start timestamp.
            let len = 9
                + 1
                + varint_len(time_ms as u64)
                + if start_ms > 0 {
                    1 + varint_len(start_ms as u64)
                } else {
                    0
                };
            self.ts.push(0x12);
            varint(&mut self.ts, len as u64);
            self.ts.push(0x09);
            self.ts.extend_from_slice(&value.to_le_bytes());
            self.ts.push(0x10);
            varint(&mut self.ts, time_ms as u64);
            if start_ms > 0 {
                self.ts.push(0x18);
                varint(&mut self.ts, start_ms as u64);
            }
            if let Some((t, help, unit)) = meta {
                let h = self.syms.intern(help) as u64;
                let u = self.syms.intern(unit) as u64;
                let s = &mut self.scratch;
                s.clear();
                s.push(0x08);
                varint(s, t as u64);
                s.push(0x18);
                varint(s, h);
                s.push(0x20);
                varint(s, u);
                bytes_field(&mut self.ts, 0x2a, s);
            }
            bytes_field(&mut self.raw, 0x2a, &self.ts);
        } else {
            let ts = &mut self.ts;
            each_label(&self.labels, plan, extra, |n, v| label_v1(ts, n, v));
            ts.push(0x12);
            varint(ts, (9 + 1 + varint_len(time_ms as u64)) as u64);
            ts.push(0x09);
            ts.extend_from_slice(&value.to_le_bytes());
            ts.push(0x10);
            varint(ts, time_ms as u64);
            bytes_field(&mut self.raw, 0x0a, &self.ts);
        }
    }

    /// Fills `labels` with a point's labels (attributes sanitized, then
    /// the fixed ones), sorted: the path of [`Plan::Copied`].
    fn copy_labels(&mut self, fixed: &[(Vec<u8>, Vec<u8>)], attrs: &AttributeSet, histogram: bool) {
        let l = &mut self.labels;
        l.clear();
        for kv in attrs.iter() {
            let key = kv.key();
            let owned;
            let clean = if is_clean_label(key) {
                key
            } else {
                owned = sanitize_label_name(key);
                owned.as_str()
            };
            if clean.starts_with("otel_scope_") || (histogram && clean == "le") {
                continue;
            }
            l.push(clean.as_bytes(), |t| write_value(t, kv.value()), true);
        }
        for (k, v) in fixed {
            l.push(k, |t| t.extend_from_slice(v), false);
        }
        l.finish();
    }

    fn number(&mut self, plan: Plan<'_>, info: &MetricInfo, help: &str, p: &NumberPoint) {
        let v = match p.value {
            Number::U64(v) => v as f64,
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        };
        let start = if info.kind == PromKind::Counter {
            ms(p.start_time)
        } else {
            0
        };
        let meta = self
            .v2()
            .then(|| (metric_type(info.kind), help.as_bytes(), &info.unit[..]));
        self.series(
            plan,
            &[(b"__name__", &info.name)],
            v,
            ms(p.time),
            start,
            meta,
        );
    }

    fn histogram(&mut self, plan: Plan<'_>, info: &MetricInfo, help: &str, p: &HistogramPoint) {
        let t = ms(p.time);
        let start = ms(p.start_time);
        let meta = self
            .v2()
            .then(|| (MetricType::Histogram, help.as_bytes(), &info.unit[..]));
        let mut le = std::mem::take(&mut self.le);
        for (i, v) in cumulative_bucket_counts(p).enumerate() {
            le.clear();
            match p.bounds.get(i) {
                Some(b) => write_float(&mut le, *b),
                None => le.extend_from_slice(b"+Inf"),
            }
            self.series(
                plan,
                &[(b"__name__", &info.bucket), (b"le", &le)],
                v as f64,
                t,
                start,
                meta,
            );
        }
        self.le = le;
        self.series(plan, &[(b"__name__", &info.sum)], p.sum, t, start, meta);
        self.series(
            plan,
            &[(b"__name__", &info.count)],
            p.count as f64,
            t,
            start,
            meta,
        );
    }

    /// `target_info{job, instance, resource attributes} 1` at `time`.
    fn target_info(&mut self, resource: &AttributeSet, job: &[(Vec<u8>, Vec<u8>)], time: u64) {
        let identifying = ["service.name", "service.namespace", "service.instance.id"];
        let rest = resource.filter(|k| !identifying.contains(&k));
        if rest.is_empty() {
            return;
        }
        self.copy_labels(job, &rest, false);
        let meta = self
            .v2()
            .then_some((MetricType::Gauge, &b"Target metadata"[..], &b""[..]));
        self.series(
            Plan::Copied,
            &[(b"__name__", b"target_info")],
            1.0,
            ms(time),
            0,
            meta,
        );
        if !self.v2() {
            let s = &mut self.scratch;
            s.clear();
            s.push(0x08);
            varint(s, MetricType::Gauge as u64);
            bytes_field(s, 0x12, b"target_info");
            bytes_field(s, 0x22, b"Target metadata");
            bytes_field(&mut self.meta, 0x1a, s);
        }
    }
}

/// The primary series names (`MetricInfo::primary`) that more than one
/// metric of the snapshot translates to.
fn repeated_names(rm: &ResourceMetrics) -> HashSet<Vec<u8>> {
    let mut once = HashSet::new();
    let mut twice = HashSet::new();
    for m in rm.scope_metrics.iter().flat_map(|sm| sm.metrics.iter()) {
        if let Some(kind) = kind_of(m) {
            let name = metric_info(m, kind).primary().to_vec();
            if !once.insert(name.clone()) {
                twice.insert(name);
            }
        }
    }
    twice
}

/// Whether two points of `m` may translate to one series: a key that is
/// sanitized or dropped, a key that overrides a resource label, or an
/// empty value (left out).
fn may_collide(m: &Metric, keys: &mut KeyCache) -> bool {
    let odd = |attrs: &AttributeSet, keys: &mut KeyCache| {
        attrs.iter().enumerate().any(|(i, kv)| {
            let k = kv.key();
            !keys.plain(i, k)
                || k == "job"
                || k == "instance"
                || matches!(kv.value(), Value::Str(s) if s.as_str().is_empty())
        })
    };
    match &m.data {
        MetricData::Gauge(g) => g.points.iter().any(|p| odd(&p.attributes, keys)),
        MetricData::Sum(s) => s.points.iter().any(|p| odd(&p.attributes, keys)),
        MetricData::Histogram(h) => h.points.iter().any(|p| odd(&p.attributes, keys)),
        MetricData::ExponentialHistogram(_) => false,
    }
}

/// The first point time of a snapshot (0 when it has none).
fn first_time(rm: &ResourceMetrics) -> u64 {
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            let t = match &m.data {
                MetricData::Gauge(g) => g.points.first().map(|p| p.time),
                MetricData::Sum(s) => s.points.first().map(|p| p.time),
                MetricData::Histogram(h) => h.points.first().map(|p| p.time),
                MetricData::ExponentialHistogram(h) => h.points.first().map(|p| p.time),
            };
            if let Some(t) = t {
                return t;
            }
        }
    }
    0
}

impl BatchEncoder for RemoteWriteEncoder {
    fn encode(
        &mut self,
        metrics: &ResourceMetrics,
        limits: BatchLimits,
        emit: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> usize {
        self.raw.clear();
        self.meta.clear();
        self.syms.clear();
        let max_points = limits.max_points.max(1);
        let resource = resource_labels(metrics.resource.attributes());
        let mut points = 0usize;
        let mut total = 0usize;
        if self.target_info {
            self.target_info(
                metrics.resource.attributes(),
                &resource,
                first_time(metrics),
            );
        }
        let repeated = repeated_names(metrics);
        self.seen.clear();
        for sm in &metrics.scope_metrics {
            let mut fixed = resource.clone();
            fixed.extend(scope_labels(&sm.scope));
            fixed.sort();
            for m in &sm.metrics {
                if m.data.is_empty() {
                    continue;
                }
                let Some(kind) = kind_of(m) else {
                    self.left_out
                        .add(m, m.data.len() as u64, Why::NotCumulative);
                    continue;
                };
                let info = metric_info(m, kind);
                let mut keys = KeyCache::new(kind == PromKind::Histogram);
                let dedup = repeated.contains(info.primary()) || may_collide(m, &mut keys);
                let mut meta_written = false;
                let n = m.data.len();
                for i in 0..n {
                    let (attrs, time) = match &m.data {
                        MetricData::Gauge(g) => (&g.points[i].attributes, g.points[i].time),
                        MetricData::Sum(s) => (&s.points[i].attributes, s.points[i].time),
                        MetricData::Histogram(h) => (&h.points[i].attributes, h.points[i].time),
                        MetricData::ExponentialHistogram(_) => continue,
                    };
                    let plan = if keys.direct(attrs) {
                        Plan::Direct(attrs, &fixed)
                    } else {
                        self.copy_labels(&fixed, attrs, kind == PromKind::Histogram);
                        Plan::Copied
                    };
                    if dedup && !self.first_sighting(plan, info.primary(), time) {
                        self.left_out.add(m, 1, Why::Duplicate);
                        continue;
                    }
                    if !meta_written && !self.v2() {
                        self.metadata_v1(&info, &m.description);
                        meta_written = true;
                    }
                    match &m.data {
                        MetricData::Gauge(g) => {
                            self.number(plan, &info, &m.description, &g.points[i])
                        }
                        MetricData::Sum(s) => {
                            self.number(plan, &info, &m.description, &s.points[i])
                        }
                        MetricData::Histogram(h) => {
                            self.histogram(plan, &info, &m.description, &h.points[i])
                        }
                        MetricData::ExponentialHistogram(_) => {}
                    }
                    points += 1;
                    total += 1;
                    if points >= max_points || self.raw.len() >= limits.max_bytes {
                        if self.flush(&mut points, emit).is_break() {
                            return total;
                        }
                        meta_written = false;
                    }
                }
            }
        }
        let _ = self.flush(&mut points, emit);
        total
    }

    fn fork(&self) -> Option<Box<dyn BatchEncoder>> {
        Some(Box::new(RemoteWriteEncoder::new(
            self.version,
            self.target_info,
            self.left_out.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::KeyValue;
    use crate::collect::data::{Gauge, ScopeMetrics};
    use crate::export::remote_write::proto;
    use crate::resource::Resource;
    use prost::Message;
    use std::sync::Arc;

    fn gauge(attrs: Vec<KeyValue>, scope: InstrumentationScope) -> ResourceMetrics {
        ResourceMetrics {
            resource: Arc::new(Resource::empty()),
            scope_metrics: vec![ScopeMetrics {
                scope: Arc::new(scope),
                metrics: vec![Metric {
                    name: "g".into(),
                    description: "".into(),
                    unit: "".into(),
                    data: MetricData::Gauge(Gauge {
                        points: vec![NumberPoint {
                            exemplars: Default::default(),
                            attributes: AttributeSet::from_key_values(attrs),
                            start_time: 0,
                            time: 5_000_000_123,
                            explicit_time: false,
                            value: Number::F64(1.5),
                        }],
                    }),
                }],
            }],
        }
    }

    fn encode_v1(rm: &ResourceMetrics) -> proto::WriteRequest {
        let mut e = RemoteWriteEncoder::new(RemoteWriteVersion::V1, true, LeftOut::default());
        let mut bodies = Vec::new();
        let n = e.encode(rm, BatchLimits::default(), &mut |b, n| {
            bodies.push((b.clone(), n));
            ControlFlow::Continue(())
        });
        assert_eq!(n, rm.point_count());
        assert_eq!(bodies.len(), 1);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&bodies[0].0)
            .unwrap();
        proto::WriteRequest::decode(&raw[..]).unwrap()
    }

    #[test]
    fn labels_are_sanitized_joined_sorted_and_never_empty() {
        let rm = gauge(
            vec![
                KeyValue::new("a.b", "x"),
                KeyValue::new("a_b", "y"),
                KeyValue::new("1st", true),
                KeyValue::new("empty", ""),
                KeyValue::new("otel_scope_name", "spoof"),
                KeyValue::new("ratio", 0.25),
                KeyValue::new("n", -7i64),
                KeyValue::new("Zed", "upper"),
            ],
            InstrumentationScope::new("s").with_attributes([KeyValue::new("team.name", "core")]),
        );
        let req = encode_v1(&rm);
        assert_eq!(req.timeseries.len(), 1);
        let ts = &req.timeseries[0];
        let got: Vec<(&str, &str)> = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        // Byte order: upper case sorts before `_`, which sorts before
        // lower case (and digits before `_`: `_1st` < `__name__`); `a.b`
        // < `a_b`, so "x;y".
        assert_eq!(
            got,
            vec![
                ("Zed", "upper"),
                ("_1st", "true"),
                ("__name__", "g"),
                ("a_b", "x;y"),
                ("n", "-7"),
                ("otel_scope_name", "s"),
                ("otel_scope_team_name", "core"),
                ("ratio", "0.25"),
            ]
        );
        assert_eq!(
            ts.samples,
            vec![proto::Sample {
                value: 1.5,
                timestamp: 5000
            }]
        );
        assert_eq!(
            req.metadata,
            vec![proto::MetricMetadata {
                r#type: 2,
                metric_family_name: "g".into(),
                help: String::new(),
                unit: String::new(),
            }]
        );
    }

    #[test]
    fn long_labels_take_multi_byte_lengths() {
        for n in [123, 124, 200, 20_000] {
            let v = "v".repeat(n);
            let req = encode_v1(&gauge(
                vec![KeyValue::new("long", v.clone())],
                InstrumentationScope::new("s"),
            ));
            let l = &req.timeseries[0].labels;
            assert_eq!(l[1].name, "long");
            assert_eq!(l[1].value, v, "{n}");
        }
    }

    #[test]
    fn floats_as_the_text_format_writes_them() {
        for (v, s) in [
            (1.0, "1"),
            (0.005, "0.005"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
            (1e-7, "1e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            let mut b = Vec::new();
            write_float(&mut b, v);
            assert_eq!(String::from_utf8(b).unwrap(), s, "{v}");
        }
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(prost::encoding::decode_varint(&mut &b[..]).unwrap(), v);
        }
    }
}
