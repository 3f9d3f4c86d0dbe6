//! OTLP protobuf written straight from the snapshot: no message tree, no
//! owned strings, reusable scratch buffers, and splitting of one snapshot
//! into several size-bounded requests.
//!
//! Fields are written in field-number order, as `prost` writes the
//! [`proto`](super::proto) declarations (which carry the opentelemetry-proto
//! field numbers and wire types), default scalar values are omitted as
//! proto3 requires, and every length prefix is a minimal varint, so
//! [`OtlpEncoder::encode`] produces exactly the bytes of
//! `to_request(rm).encode_to_vec()`; the tests check that byte for byte.
//!
//! Each data point is visited once: its exact encoded size is computed from
//! its attributes, then the point (tag, length, body) is written to a
//! scratch buffer that the encoder keeps. The enclosing messages' sizes
//! follow from the points' sizes, so the request is then written header by
//! header, each metric's points copied from the scratch buffer in one
//! block.
//!
//! The points' attribute sets live in separate heap blocks in no useful
//! order, so encoding is bound by memory latency more than by arithmetic:
//! points are visited in chunks, and a short loop that only reads each
//! chunk's attribute arrays runs first, letting the CPU have the whole
//! chunk's cache misses in flight at once; the encoding loop that follows
//! finds them in cache. (A sizing pass and a writing pass that each
//! stalled on every point's attributes were several times slower on the
//! 100k-point benchmark.)
//!
//! Mapping rules are those of [`to_request`](super::to_request): `u64`
//! values above `i64::MAX` are sent as `as_double`; a zero start time (a
//! gauge's) is left unset; histogram `sum` is always set, `min`/`max` when
//! recorded; temporality is `DELTA` (1) or `CUMULATIVE` (2); `is_monotonic`
//! for sums; an exponential histogram's `positive` and `negative` ranges
//! are always written (empty messages when no measurement fell there);
//! exemplars with the same value rule, their all-zero trace or span id
//! (no trace context) left unset; no flags. A point's exemplars are part
//! of its encoded size, so batches are split with them counted.
//!
//! ```text
//! ExportMetricsServiceRequest   1: ResourceMetrics
//! ResourceMetrics               1: Resource  2: ScopeMetrics*  3: schema_url
//! Resource                      1: KeyValue*
//! ScopeMetrics                  1: InstrumentationScope  2: Metric*  3: schema_url
//! InstrumentationScope          1: name  2: version  3: KeyValue*
//! Metric                        1: name  2: description  3: unit
//!                               5: Gauge | 7: Sum | 9: Histogram
//!                               10: ExponentialHistogram
//! Gauge / Sum / Histogram /     1: data points*  2: temporality  3: is_monotonic (Sum)
//!   ExponentialHistogram
//! NumberDataPoint               2: start (fixed64)  3: time (fixed64)
//!                               4: as_double (double) | 6: as_int (sfixed64)
//!                               5: Exemplar*  7: KeyValue*
//! HistogramDataPoint            2: start  3: time  4: count (fixed64)  5: sum
//!                               6: bucket_counts (packed fixed64)
//!                               7: explicit_bounds (packed double)  8: Exemplar*
//!                               9: KeyValue*  11: min  12: max
//! ExponentialHistogramDataPoint 1: KeyValue*  2: start  3: time  4: count
//!                               5: sum  6: scale (sint32)  7: zero_count (fixed64)
//!                               8: positive  9: negative (Buckets)  11: Exemplar*
//!                               12: min  13: max  14: zero_threshold (double)
//! Exemplar                      2: time (fixed64)  3: as_double | 6: as_int (sfixed64)
//!                               4: span_id  5: trace_id (bytes)  7: KeyValue*
//! Buckets                       1: offset (sint32)  2: bucket_counts (packed varint)
//! KeyValue                      1: key  2: AnyValue
//! AnyValue                      1: string | 2: bool | 3: int64 | 4: double
//! ```

use crate::attributes::{AttributeSet, KeyValue, Value};
use crate::collect::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogramPoint, Gauge, HistogramPoint, Metric,
    MetricData, NumberPoint, ResourceMetrics, ScopeMetrics, Sum, Temporality,
};
use crate::export::otlp::{id_bytes, int_or_double};
use crate::resource::InstrumentationScope;
use std::ops::{ControlFlow, Range};

pub use crate::export::pipeline::BatchLimits;

/// The largest request body [`OtlpEncoder::encode_batches`] aims for,
/// whatever [`BatchLimits::max_bytes`] says.
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// One metric's run of points inside a request.
#[derive(Clone, Copy, Debug, Default)]
struct Seg {
    /// Index of the metric in its scope.
    metric: usize,
    /// The request's points of the metric, encoded as `data_points`
    /// fields: `OtlpEncoder::body[from..from + points_len]`.
    from: usize,
    points_len: usize,
    /// Body size of the `Metric` message (filled by `write_request`).
    msg_len: usize,
}

/// One scope inside a request: a run of `segs`.
#[derive(Clone, Debug)]
struct Group {
    scope: usize,
    segs: Range<usize>,
    /// Body size of the `ScopeMetrics` message (filled by `write_request`).
    msg_len: usize,
}

/// A reusable OTLP protobuf encoder (keeps scratch buffers between calls,
/// so a steady export cycle does not allocate per point).
///
/// ```
/// use ferrometer::export::otlp::encode::OtlpEncoder;
/// # let rm = ferrometer::ManualReader::default();
/// # let _p = ferrometer::MeterProvider::builder().with_reader(rm.clone()).build();
/// # let rm = rm.collect().unwrap();
/// let mut enc = OtlpEncoder::new();
/// let mut body = Vec::new();
/// let points = enc.encode(&rm, &mut body);
/// # assert_eq!(points, 0);
/// ```
#[derive(Default)]
pub struct OtlpEncoder {
    /// Data points encoded as `data_points` fields (tag, length, body), in
    /// order: all of the snapshot's for `encode`, about one request's for
    /// `encode_batches`. Scratch space that only grows (to the largest
    /// need seen, at most twice that).
    body: Vec<u8>,
    /// `offs[i]..offs[i + 1]` is point `i` in `body` (for `encode_batches`,
    /// of the current chunk).
    offs: Vec<usize>,
    /// Index in `offs` of each metric's first point, per scope in order.
    bases: Vec<usize>,
    segs: Vec<Seg>,
    groups: Vec<Group>,
}

impl OtlpEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes the whole snapshot as one ExportMetricsServiceRequest into
    /// `out` (cleared first). Returns the number of data points written.
    ///
    /// Every scope and metric of the snapshot is written, also those
    /// without points, so the result equals `to_request(metrics)`.
    pub fn encode(&mut self, metrics: &ResourceMetrics, out: &mut Vec<u8>) -> usize {
        out.clear();
        self.encode_append(metrics, out)
    }

    /// [`encode`](Self::encode), appending to `out` instead of clearing it.
    pub(crate) fn encode_append(&mut self, metrics: &ResourceMetrics, out: &mut Vec<u8>) -> usize {
        self.encode_points(metrics);
        self.segs.clear();
        self.groups.clear();
        let mut mi = 0;
        let mut points = 0;
        for (si, sm) in metrics.scope_metrics.iter().enumerate() {
            let first = self.segs.len();
            for (j, m) in sm.metrics.iter().enumerate() {
                let base = self.bases[mi];
                mi += 1;
                let n = m.data.len();
                let from = self.offs[base];
                points += n;
                self.segs.push(Seg {
                    metric: j,
                    points_len: self.offs[base + n] - from,
                    from,
                    msg_len: 0,
                });
            }
            self.groups.push(Group {
                scope: si,
                segs: first..self.segs.len(),
                msg_len: 0,
            });
        }
        self.write_request(metrics, out);
        points
    }

    /// Splits the snapshot into requests of at most `limits.max_points`
    /// points and (approximately, never above) `limits.max_bytes` bytes
    /// each. Each request is a complete, valid ExportMetricsServiceRequest
    /// carrying the resource, the scope and the metric metadata of the
    /// points it holds (a metric whose points span two requests appears in
    /// both, with its points split). Calls `sink(body, points)` once per
    /// request, in order, with `out` as the body: `sink` may take it by
    /// swapping another buffer in (so a queue keeps bodies without copying
    /// them; `out` is cleared before each request). Stops early if `sink`
    /// returns `ControlFlow::Break(())`. Returns the total points handed to
    /// `sink`.
    ///
    /// Byte sizes are estimated from above (every length prefix of a
    /// request, scope or metric counted at its largest possible width), so
    /// a request can be a few bytes per metric smaller than the limit
    /// allows, never larger. A single point that does not fit into
    /// `max_bytes` even alone (with its resource, scope and metric) is sent
    /// alone in its own request, which is then larger than `max_bytes`.
    /// Metrics and scopes without points are left out, and a snapshot
    /// without points produces no request.
    pub fn encode_batches(
        &mut self,
        metrics: &ResourceMetrics,
        limits: BatchLimits,
        out: &mut Vec<u8>,
        sink: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> usize {
        // One walk on purpose: the request being filled (its byte estimate,
        // point count, and whether its current scope and metric are open)
        // is carried across the scope, metric, chunk and point loops, and
        // the cut between two requests resets it in the middle of them.
        // The named pieces are around it (encode_chunk, send, keep_unsent,
        // open_group, open_segment); splitting the loops too would move
        // that state into a struct passed through every level.
        let max_points = limits.max_points.max(1);
        let max_bytes = limits.max_bytes.min(MAX_BATCH_BYTES);
        // Upper bound of a length prefix of anything up to the limit.
        let lp = varint_len(max_bytes as u64).max(1);
        self.segs.clear();
        self.groups.clear();

        // Points are encoded chunk by chunk as the walk reaches them; after
        // each request the not yet sent points of the current chunk move to
        // the front of `body`, so the scratch space stays about one request
        // large whatever the snapshot's size.
        let mut used = 0;
        let rm_fixed = 1 + lp + resource_field_len(metrics) + str_field_len(schema(metrics));
        let mut bytes = rm_fixed;
        let mut npoints = 0usize;
        let mut total = 0usize;
        for (si, sm) in metrics.scope_metrics.iter().enumerate() {
            let scope_cost =
                1 + lp + field_len(scope_len(&sm.scope)) + str_field_len(scope_schema(sm));
            let mut scope_open = false;
            for (j, m) in sm.metrics.iter().enumerate() {
                let n = m.data.len();
                let metric_cost = 1 + lp + metric_meta_len(m) + 1 + lp + data_extra_len(m);
                let mut metric_open = false;
                let mut p = 0;
                while p < n {
                    let to = n.min(p + CHUNK);
                    self.offs.clear();
                    self.offs.push(used);
                    used = encode_chunk(&mut self.body, used, &m.data, p..to, &mut self.offs);
                    for k in 0..to - p {
                        let cost = self.offs[k + 1] - self.offs[k];
                        let mut add = cost;
                        if !scope_open {
                            add += scope_cost;
                        }
                        if !metric_open {
                            add += metric_cost;
                        }
                        if npoints > 0 && (npoints >= max_points || bytes + add > max_bytes) {
                            total += npoints;
                            if self.send(metrics, npoints, out, sink).is_break() {
                                return total;
                            }
                            self.segs.clear();
                            self.groups.clear();
                            bytes = rm_fixed;
                            npoints = 0;
                            scope_open = false;
                            metric_open = false;
                            add = cost + scope_cost + metric_cost;
                            used = self.keep_unsent(k, used);
                        }
                        if !scope_open {
                            scope_open = true;
                            self.open_group(si);
                        }
                        if !metric_open {
                            metric_open = true;
                            self.open_segment(j, self.offs[k]);
                        }
                        if let Some(s) = self.segs.last_mut() {
                            s.points_len += cost;
                        }
                        bytes += add;
                        npoints += 1;
                    }
                    p = to;
                }
            }
        }
        if npoints > 0 {
            total += npoints;
            let _ = self.send(metrics, npoints, out, sink);
        }
        total
    }

    /// Writes the request that `groups`/`segs` describe into `out` (cleared
    /// first) and hands it to `sink` with its `npoints` points.
    fn send(
        &mut self,
        metrics: &ResourceMetrics,
        npoints: usize,
        out: &mut Vec<u8>,
        sink: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        out.clear();
        self.write_request(metrics, out);
        sink(out, npoints)
    }

    /// After a request was sent from the middle of a chunk: moves the
    /// chunk's points from its `k`th on (not yet sent) to the front of
    /// `body`, whose first `used` bytes hold the chunk. Returns the bytes
    /// still in use.
    fn keep_unsent(&mut self, k: usize, used: usize) -> usize {
        let keep = self.offs[k];
        self.body.copy_within(keep..used, 0);
        for o in &mut self.offs[k..] {
            *o -= keep;
        }
        used - keep
    }

    /// Starts the request's group of scope `si`, without segments yet.
    fn open_group(&mut self, si: usize) {
        let at = self.segs.len();
        self.groups.push(Group {
            scope: si,
            segs: at..at,
            msg_len: 0,
        });
    }

    /// Starts a segment of metric `j` in the current group, its points
    /// from `from` in `body`.
    fn open_segment(&mut self, j: usize, from: usize) {
        self.segs.push(Seg {
            metric: j,
            points_len: 0,
            from,
            msg_len: 0,
        });
        if let Some(g) = self.groups.last_mut() {
            g.segs.end += 1;
        }
    }

    /// The one pass over the points of the whole snapshot, written to
    /// `body` chunk by chunk.
    fn encode_points(&mut self, rm: &ResourceMetrics) {
        self.offs.clear();
        self.bases.clear();
        self.offs.push(0);
        let mut used = 0;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                self.bases.push(self.offs.len() - 1);
                let n = m.data.len();
                let mut p = 0;
                while p < n {
                    let to = n.min(p + CHUNK);
                    used = encode_chunk(&mut self.body, used, &m.data, p..to, &mut self.offs);
                    p = to;
                }
            }
        }
    }

    /// Sizes the messages of the request that `groups`/`segs` describe and
    /// appends it to `out`.
    fn write_request(&mut self, rm: &ResourceMetrics, out: &mut Vec<u8>) {
        let start = out.len();
        let scopes = &rm.scope_metrics;
        let mut rm_len = resource_field_len(rm) + str_field_len(schema(rm));
        for g in &mut self.groups {
            let sm = &scopes[g.scope];
            let mut len = field_len(scope_len(&sm.scope)) + str_field_len(scope_schema(sm));
            for seg in &mut self.segs[g.segs.clone()] {
                let m = &sm.metrics[seg.metric];
                seg.msg_len = metric_meta_len(m) + field_len(seg.points_len + data_extra_len(m));
                len += field_len(seg.msg_len);
            }
            g.msg_len = len;
            rm_len += field_len(len);
        }
        let total = field_len(rm_len);
        out.reserve(total);

        put_tag_len(out, 0x0a, rm_len); // request.resource_metrics
        put_tag_len(out, 0x0a, attrs_len(rm.resource.attributes())); // resource
        put_attrs(out, 0x0a, rm.resource.attributes());
        for g in &self.groups {
            let sm = &scopes[g.scope];
            put_tag_len(out, 0x12, g.msg_len); // resource_metrics.scope_metrics
            put_scope(out, &sm.scope);
            for seg in &self.segs[g.segs.clone()] {
                put_metric(out, &sm.metrics[seg.metric], seg, &self.body);
            }
            put_str_field(out, 0x1a, scope_schema(sm));
        }
        put_str_field(out, 0x1a, schema(rm));
        debug_assert_eq!(out.len() - start, total);
    }
}

// ---- sizes ---------------------------------------------------------------

/// Encodes points `range` of `data` as `data_points` fields into `body`
/// from `used` on, pushing each point's end offset to `offs`; returns the
/// new end of the used part. First touches the chunk's attribute arrays
/// (see [`touch`]), then sizes every point, then writes them.
fn encode_chunk(
    body: &mut Vec<u8>,
    used: usize,
    data: &MetricData,
    range: Range<usize>,
    offs: &mut Vec<usize>,
) -> usize {
    match data {
        MetricData::Gauge(Gauge { points }) | MetricData::Sum(Sum { points, .. }) => {
            let chunk = &points[range];
            touch(chunk.iter().map(|p| &p.attributes));
            encode_points(body, used, chunk, offs, number_point_len, |w, p, n| {
                put_number_point(w, p, n)
            })
        }
        MetricData::Histogram(h) => {
            let chunk = &h.points[range];
            touch(chunk.iter().map(|p| &p.attributes));
            encode_points(body, used, chunk, offs, histogram_point_len, |w, p, n| {
                put_histogram_point(w, p, n)
            })
        }
        MetricData::ExponentialHistogram(h) => {
            let chunk = &h.points[range];
            touch(chunk.iter().map(|p| &p.attributes));
            encode_points(body, used, chunk, offs, exponential_point_len, |w, p, n| {
                put_exponential_point(w, p, n)
            })
        }
    }
}

/// [`encode_chunk`] for one point type: sizes every point of `chunk`
/// (at most [`CHUNK`]), makes room once, then writes them.
#[inline(always)]
fn encode_points<P>(
    body: &mut Vec<u8>,
    used: usize,
    chunk: &[P],
    offs: &mut Vec<usize>,
    len: impl Fn(&P) -> usize,
    put: impl Fn(&mut Cursor<'_>, &P, usize),
) -> usize {
    let mut sizes = [0usize; CHUNK];
    let sizes = &mut sizes[..chunk.len()];
    let mut end = used;
    for (p, size) in chunk.iter().zip(sizes.iter_mut()) {
        *size = len(p);
        end += field_len(*size);
    }
    let mut w = Cursor {
        buf: room(body, used, end),
        pos: 0,
    };
    for (p, &size) in chunk.iter().zip(sizes.iter()) {
        put(&mut w, p, size);
        offs.push(used + w.pos);
    }
    debug_assert_eq!(used + w.pos, end);
    end
}

/// Points per chunk of the point pass (see the module documentation).
const CHUNK: usize = 64;

/// Reads the attribute arrays of a chunk of points (every pair's key and
/// value, so every cache line the encoding reads) in a loop short enough
/// for the CPU to have all of the chunk's cache misses in flight at once,
/// so that the encoding loop that follows finds them in cache.
#[inline(always)]
fn touch<'a>(sets: impl Iterator<Item = &'a AttributeSet>) {
    let mut t = 0usize;
    for set in sets {
        for kv in set.iter() {
            t ^= kv.key().len() ^ matches!(kv.value(), Value::Str(_)) as usize;
        }
    }
    std::hint::black_box(t);
}

/// Bytes of a varint.
#[inline(always)]
fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits (prost's formula).
    ((((v | 1).leading_zeros() ^ 63) * 9 + 73) / 64) as usize
}

/// Bytes of a length-delimited field with a one-byte tag and a body of
/// `len` bytes.
#[inline(always)]
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Bytes of a string field (omitted when empty).
#[inline(always)]
fn str_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

fn schema(rm: &ResourceMetrics) -> &str {
    rm.resource.schema_url().unwrap_or_default()
}

fn scope_schema(sm: &ScopeMetrics) -> &str {
    sm.scope.schema_url().unwrap_or_default()
}

#[inline(always)]
fn any_len(v: &Value) -> usize {
    match v {
        Value::Str(s) => field_len(s.len()),
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + varint_len(*i as u64),
        Value::F64(_) => 9,
    }
}

#[inline(always)]
fn kv_len(kv: &KeyValue) -> usize {
    str_field_len(kv.key()) + field_len(any_len(kv.value()))
}

/// Bytes of the repeated KeyValue fields of a set (one-byte tags).
#[inline(always)]
fn attrs_len(set: &AttributeSet) -> usize {
    set.iter().map(|kv| field_len(kv_len(kv))).sum()
}

fn resource_field_len(rm: &ResourceMetrics) -> usize {
    field_len(attrs_len(rm.resource.attributes()))
}

fn scope_len(s: &InstrumentationScope) -> usize {
    str_field_len(s.name())
        + str_field_len(s.version().unwrap_or_default())
        + attrs_len(s.attributes())
}

#[inline(always)]
fn opt_fixed_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        9
    }
}

fn number_point_len(p: &NumberPoint) -> usize {
    attrs_len(&p.attributes)
        + opt_fixed_len(p.start_time)
        + opt_fixed_len(p.time)
        + 9
        + exemplars_len(&p.exemplars)
}

/// Bytes of a trace or span id field (left out when the id is all zero).
#[inline(always)]
fn id_field_len(id: &[u8]) -> usize {
    let n = id_bytes(id).len();
    if n == 0 {
        0
    } else {
        2 + n
    }
}

/// Body size of an `Exemplar` message.
fn exemplar_len(e: &Exemplar) -> usize {
    opt_fixed_len(e.time)
        + 9
        + id_field_len(&e.span_id)
        + id_field_len(&e.trace_id)
        + attrs_len(&e.filtered_attributes)
}

/// Bytes of a point's `exemplars` fields (one-byte tags): nothing to add
/// for the usual point without any, the rest out of the hot loop.
#[inline(always)]
fn exemplars_len(v: &[Exemplar]) -> usize {
    if v.is_empty() {
        0
    } else {
        exemplar_fields_len(v)
    }
}

#[cold]
#[inline(never)]
fn exemplar_fields_len(v: &[Exemplar]) -> usize {
    v.iter().map(|e| field_len(exemplar_len(e))).sum()
}

#[inline(always)]
fn packed_fixed_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        field_len(8 * n)
    }
}

fn histogram_point_len(p: &HistogramPoint) -> usize {
    attrs_len(&p.attributes)
        + opt_fixed_len(p.start_time)
        + opt_fixed_len(p.time)
        + opt_fixed_len(p.count)
        + 9
        + packed_fixed_len(p.bucket_counts.len())
        + packed_fixed_len(p.bounds.len())
        + exemplars_len(&p.exemplars)
        + if p.min.is_some() { 9 } else { 0 }
        + if p.max.is_some() { 9 } else { 0 }
}

/// Zigzag encoding of a `sint32`.
#[inline(always)]
fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// Body size of a `Buckets` message.
fn buckets_len(b: &ExponentialBuckets) -> usize {
    let offset = if b.offset == 0 {
        0
    } else {
        1 + varint_len(zigzag32(b.offset))
    };
    let counts: usize = b.counts.iter().map(|&c| varint_len(c)).sum();
    offset
        + if b.counts.is_empty() {
            0
        } else {
            field_len(counts)
        }
}

fn exponential_point_len(p: &ExponentialHistogramPoint) -> usize {
    attrs_len(&p.attributes)
        + opt_fixed_len(p.start_time)
        + opt_fixed_len(p.time)
        + opt_fixed_len(p.count)
        + 9
        + if p.scale == 0 {
            0
        } else {
            1 + varint_len(zigzag32(p.scale))
        }
        + opt_fixed_len(p.zero_count)
        + field_len(buckets_len(&p.positive))
        + field_len(buckets_len(&p.negative))
        + exemplars_len(&p.exemplars)
        + if p.min.is_some() { 9 } else { 0 }
        + if p.max.is_some() { 9 } else { 0 }
        + if p.zero_threshold != 0.0 { 9 } else { 0 }
}

/// Name, description and unit fields of a metric.
fn metric_meta_len(m: &Metric) -> usize {
    str_field_len(&m.name) + str_field_len(&m.description) + str_field_len(&m.unit)
}

/// Bytes of the Gauge/Sum/Histogram message besides its data points.
fn data_extra_len(m: &Metric) -> usize {
    match &m.data {
        MetricData::Gauge(_) => 0,
        MetricData::Sum(s) => 2 + if s.is_monotonic { 2 } else { 0 },
        MetricData::Histogram(_) | MetricData::ExponentialHistogram(_) => 2,
    }
}

// ---- writing -------------------------------------------------------------

/// Where the writers put bytes: the output `Vec` (request headers, and the
/// points copied in blocks) or a [`Cursor`] over exactly sized scratch
/// space (the points).
trait Out {
    /// Any number of bytes.
    fn bytes(&mut self, b: &[u8]);
    /// A few bytes whose count is known at compile time.
    fn arr<const N: usize>(&mut self, a: [u8; N]);
}

impl Out for Vec<u8> {
    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    #[inline(always)]
    fn arr<const N: usize>(&mut self, a: [u8; N]) {
        self.extend_from_slice(&a);
    }
}

/// Writes into a slice sized in advance from the exact encoded sizes, so
/// no write checks capacity, and short strings (keys and most values) are
/// copied with two overlapping word moves instead of a `memcpy` call.
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out for Cursor<'_> {
    #[inline(always)]
    fn bytes(&mut self, s: &[u8]) {
        let n = s.len();
        let d = &mut self.buf[self.pos..self.pos + n];
        if (8..=16).contains(&n) {
            d[..8].copy_from_slice(&s[..8]);
            d[n - 8..].copy_from_slice(&s[n - 8..]);
        } else if (4..8).contains(&n) {
            d[..4].copy_from_slice(&s[..4]);
            d[n - 4..].copy_from_slice(&s[n - 4..]);
        } else if n < 4 {
            if n > 0 {
                d[0] = s[0];
                d[n / 2] = s[n / 2];
                d[n - 1] = s[n - 1];
            }
        } else {
            d.copy_from_slice(s);
        }
        self.pos += n;
    }
    #[inline(always)]
    fn arr<const N: usize>(&mut self, a: [u8; N]) {
        self.buf[self.pos..self.pos + N].copy_from_slice(&a);
        self.pos += N;
    }
}

/// `body[from..to]`, growing `body` (zero-filled, at least doubling) when
/// it is too short. Bytes past the used part are stale scratch, never read.
fn room(body: &mut Vec<u8>, from: usize, to: usize) -> &mut [u8] {
    if body.len() < to {
        let n = to.max(body.len() * 2).max(4096);
        body.resize(n, 0);
    }
    &mut body[from..to]
}

#[inline(always)]
fn put_varint(out: &mut impl Out, mut v: u64) {
    while v >= 0x80 {
        out.arr([v as u8 | 0x80]);
        v >>= 7;
    }
    out.arr([v as u8]);
}

/// A one-byte tag and a length prefix.
#[inline(always)]
fn put_tag_len(out: &mut impl Out, tag: u8, len: usize) {
    if len < 0x80 {
        out.arr([tag, len as u8]);
    } else {
        out.arr([tag]);
        put_varint(out, len as u64);
    }
}

#[inline(always)]
fn put_bytes_field(out: &mut impl Out, tag: u8, b: &[u8]) {
    put_tag_len(out, tag, b.len());
    out.bytes(b);
}

#[inline(always)]
fn put_str_field(out: &mut impl Out, tag: u8, s: &str) {
    if !s.is_empty() {
        put_bytes_field(out, tag, s.as_bytes());
    }
}

/// A fixed64/double field (one-byte tag, wire type 1).
#[inline(always)]
fn put_fixed(out: &mut impl Out, tag: u8, v: u64) {
    let b = v.to_le_bytes();
    out.arr([tag, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
}

#[inline(always)]
fn put_opt_fixed(out: &mut impl Out, tag: u8, v: u64) {
    if v != 0 {
        put_fixed(out, tag, v);
    }
}

#[inline(always)]
fn put_kv(out: &mut impl Out, tag: u8, kv: &KeyValue) {
    let key = kv.key().as_bytes();
    let value = kv.value();
    let any = any_len(value);
    let key_field = if key.is_empty() {
        0
    } else {
        field_len(key.len())
    };
    put_tag_len(out, tag, key_field + field_len(any));
    if !key.is_empty() {
        put_bytes_field(out, 0x0a, key);
    }
    put_tag_len(out, 0x12, any);
    match value {
        Value::Str(s) => put_bytes_field(out, 0x0a, s.as_bytes()),
        Value::Bool(b) => out.arr([0x10, *b as u8]),
        Value::I64(i) => {
            out.arr([0x18]);
            put_varint(out, *i as u64);
        }
        Value::F64(f) => put_fixed(out, 0x21, f.to_bits()),
    }
}

#[inline(always)]
fn put_attrs(out: &mut impl Out, tag: u8, set: &AttributeSet) {
    for kv in set.iter() {
        put_kv(out, tag, kv);
    }
}

fn put_scope(out: &mut Vec<u8>, s: &InstrumentationScope) {
    put_tag_len(out, 0x0a, scope_len(s)); // scope_metrics.scope
    put_str_field(out, 0x0a, s.name());
    put_str_field(out, 0x12, s.version().unwrap_or_default());
    put_attrs(out, 0x1a, s.attributes());
}

fn temporality(t: Temporality) -> u8 {
    match t {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}

fn put_metric(out: &mut Vec<u8>, m: &Metric, seg: &Seg, body: &[u8]) {
    put_tag_len(out, 0x12, seg.msg_len); // scope_metrics.metrics
    put_str_field(out, 0x0a, &m.name);
    put_str_field(out, 0x12, &m.description);
    put_str_field(out, 0x1a, &m.unit);
    let data_len = seg.points_len + data_extra_len(m);
    let points = &body[seg.from..seg.from + seg.points_len];
    match &m.data {
        MetricData::Gauge(_) => {
            put_tag_len(out, 0x2a, data_len);
            out.extend_from_slice(points);
        }
        MetricData::Sum(s) => {
            put_tag_len(out, 0x3a, data_len);
            out.extend_from_slice(points);
            out.extend_from_slice(&[0x10, temporality(s.temporality)]);
            if s.is_monotonic {
                out.extend_from_slice(&[0x18, 1]);
            }
        }
        MetricData::Histogram(h) => {
            put_tag_len(out, 0x4a, data_len);
            out.extend_from_slice(points);
            out.extend_from_slice(&[0x10, temporality(h.temporality)]);
        }
        MetricData::ExponentialHistogram(h) => {
            put_tag_len(out, 0x52, data_len);
            out.extend_from_slice(points);
            out.extend_from_slice(&[0x10, temporality(h.temporality)]);
        }
    }
}

/// A point as a `data_points` field: tag, length (`size`, from
/// [`number_point_len`]), body.
#[inline(always)]
fn put_number_point(out: &mut Cursor<'_>, p: &NumberPoint, size: usize) {
    put_tag_len(out, 0x0a, size);
    put_opt_fixed(out, 0x11, p.start_time);
    put_opt_fixed(out, 0x19, p.time);
    match int_or_double(p.value) {
        Ok(i) => put_fixed(out, 0x31, i as u64),
        Err(d) => put_fixed(out, 0x21, d.to_bits()),
    }
    put_exemplars(out, 0x2a, &p.exemplars);
    put_attrs(out, 0x3a, &p.attributes);
}

/// A point's exemplars as repeated fields `tag` (nothing when it has
/// none, the usual case). The writing is out of line and gets the cursor's
/// position by value: a cursor whose address escaped into a call would
/// have to live in memory for the whole point loop, which cost the
/// points without exemplars about 10% more instructions.
#[inline(always)]
fn put_exemplars(out: &mut Cursor<'_>, tag: u8, v: &[Exemplar]) {
    if !v.is_empty() {
        out.pos = put_exemplar_fields(out.buf, out.pos, tag, v);
    }
}

/// Writes the exemplars into `buf` from `pos` on; returns the new end.
#[cold]
#[inline(never)]
fn put_exemplar_fields(buf: &mut [u8], pos: usize, tag: u8, v: &[Exemplar]) -> usize {
    let out = &mut Cursor { buf, pos };
    for e in v {
        put_tag_len(out, tag, exemplar_len(e));
        put_opt_fixed(out, 0x11, e.time);
        match int_or_double(e.value) {
            Ok(i) => put_fixed(out, 0x31, i as u64),
            Err(d) => put_fixed(out, 0x19, d.to_bits()),
        }
        for (tag, id) in [(0x22, &e.span_id[..]), (0x2a, &e.trace_id[..])] {
            let id = id_bytes(id);
            if !id.is_empty() {
                put_bytes_field(out, tag, id);
            }
        }
        put_attrs(out, 0x3a, &e.filtered_attributes);
    }
    out.pos
}

fn put_packed_fixed(out: &mut impl Out, tag: u8, values: impl ExactSizeIterator<Item = u64>) {
    if values.len() == 0 {
        return;
    }
    put_tag_len(out, tag, 8 * values.len());
    for v in values {
        out.arr(v.to_le_bytes());
    }
}

/// A point as a `data_points` field: tag, length (`size`, from
/// [`histogram_point_len`]), body.
fn put_histogram_point(out: &mut Cursor<'_>, p: &HistogramPoint, size: usize) {
    put_tag_len(out, 0x0a, size);
    put_opt_fixed(out, 0x11, p.start_time);
    put_opt_fixed(out, 0x19, p.time);
    put_opt_fixed(out, 0x21, p.count);
    put_fixed(out, 0x29, p.sum.to_bits());
    put_packed_fixed(out, 0x32, p.bucket_counts.iter().copied());
    put_packed_fixed(out, 0x3a, p.bounds.iter().map(|b| b.to_bits()));
    put_exemplars(out, 0x42, &p.exemplars);
    put_attrs(out, 0x4a, &p.attributes);
    if let Some(min) = p.min {
        put_fixed(out, 0x59, min.to_bits());
    }
    if let Some(max) = p.max {
        put_fixed(out, 0x61, max.to_bits());
    }
}

/// A `Buckets` message as field `tag`.
fn put_buckets(out: &mut impl Out, tag: u8, b: &ExponentialBuckets) {
    put_tag_len(out, tag, buckets_len(b));
    if b.offset != 0 {
        out.arr([0x08]);
        put_varint(out, zigzag32(b.offset));
    }
    if !b.counts.is_empty() {
        let len = b.counts.iter().map(|&c| varint_len(c)).sum();
        put_tag_len(out, 0x12, len);
        for &c in &b.counts {
            put_varint(out, c);
        }
    }
}

/// A point as a `data_points` field: tag, length (`size`, from
/// [`exponential_point_len`]), body.
fn put_exponential_point(out: &mut Cursor<'_>, p: &ExponentialHistogramPoint, size: usize) {
    put_tag_len(out, 0x0a, size);
    put_attrs(out, 0x0a, &p.attributes);
    put_opt_fixed(out, 0x11, p.start_time);
    put_opt_fixed(out, 0x19, p.time);
    put_opt_fixed(out, 0x21, p.count);
    put_fixed(out, 0x29, p.sum.to_bits());
    if p.scale != 0 {
        out.arr([0x30]);
        put_varint(out, zigzag32(p.scale));
    }
    put_opt_fixed(out, 0x39, p.zero_count);
    put_buckets(out, 0x42, &p.positive);
    put_buckets(out, 0x4a, &p.negative);
    put_exemplars(out, 0x5a, &p.exemplars);
    if let Some(min) = p.min {
        put_fixed(out, 0x61, min.to_bits());
    }
    if let Some(max) = p.max {
        put_fixed(out, 0x69, max.to_bits());
    }
    if p.zero_threshold != 0.0 {
        put_fixed(out, 0x71, p.zero_threshold.to_bits());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::Str;
    use crate::collect::data::{ExponentialHistogram, Histogram, Number};
    use crate::export::otlp::{proto, to_request};
    use crate::resource::Resource;
    use proptest::prelude::*;
    use prost::Message;
    use std::sync::Arc;

    fn set(kvs: Vec<KeyValue>) -> AttributeSet {
        AttributeSet::from_key_values(kvs)
    }

    fn np(attributes: AttributeSet, start_time: u64, time: u64, value: Number) -> NumberPoint {
        NumberPoint {
            exemplars: Default::default(),
            attributes,
            start_time,
            time,
            explicit_time: false,
            value,
        }
    }

    fn metric(name: &str, desc: &str, unit: &str, data: MetricData) -> Metric {
        Metric {
            name: name.into(),
            description: desc.into(),
            unit: unit.into(),
            data,
        }
    }

    fn hp(
        attributes: AttributeSet,
        bounds: &[f64],
        counts: Vec<u64>,
        minmax: bool,
    ) -> HistogramPoint {
        HistogramPoint {
            exemplars: Default::default(),
            attributes,
            start_time: 1_700_000_000_000_000_000,
            time: 1_700_000_010_000_000_000,
            count: counts.iter().sum(),
            sum: 12.5,
            min: minmax.then_some(0.25),
            max: minmax.then_some(9.75),
            bounds: bounds.into(),
            bucket_counts: counts,
        }
    }

    /// Every metric kind, every attribute value type, several scopes.
    fn every_kind() -> ResourceMetrics {
        let all_types = set(vec![
            KeyValue::new("b", true),
            KeyValue::new("f", false),
            KeyValue::new("i", -42i64),
            KeyValue::new("x", 1.5f64),
            KeyValue::new("s", "GET"),
            KeyValue::new("empty", ""),
            KeyValue::new("long", "é".repeat(100)),
            KeyValue::new("zero", 0i64),
            KeyValue::new("max", i64::MAX),
        ]);
        let t0 = 1_700_000_000_000_000_000;
        let t1 = 1_700_000_060_000_000_000;
        let scope_a = InstrumentationScope::new("a")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.24.0")
            .with_attributes([KeyValue::new("scope.attr", 7i64)]);
        let metrics_a = vec![
            metric(
                "counter_int",
                "monotonic cumulative int sum",
                "1",
                MetricData::Sum(Sum {
                    points: vec![
                        np(AttributeSet::empty(), t0, t1, Number::U64(3)),
                        np(all_types.clone(), t0, t1, Number::U64(u64::MAX)),
                        np(
                            set(vec![KeyValue::new("k", "v")]),
                            t0,
                            t1,
                            Number::U64(i64::MAX as u64),
                        ),
                        np(set(vec![KeyValue::new("k", "w")]), t0, t1, Number::U64(0)),
                    ],
                    temporality: Temporality::Cumulative,
                    is_monotonic: true,
                }),
            ),
            metric(
                "updown_float",
                "",
                "",
                MetricData::Sum(Sum {
                    points: vec![
                        np(AttributeSet::empty(), t0, t1, Number::F64(-2.5)),
                        np(all_types.clone(), t0, t1, Number::F64(0.0)),
                    ],
                    temporality: Temporality::Delta,
                    is_monotonic: false,
                }),
            ),
            metric(
                "counter_float_delta",
                "d",
                "s",
                MetricData::Sum(Sum {
                    points: vec![np(AttributeSet::empty(), t0, t1, Number::F64(1e300))],
                    temporality: Temporality::Delta,
                    is_monotonic: true,
                }),
            ),
            metric(
                "updown_int_cumulative",
                "",
                "By",
                MetricData::Sum(Sum {
                    points: vec![np(AttributeSet::empty(), t0, t1, Number::I64(i64::MIN))],
                    temporality: Temporality::Cumulative,
                    is_monotonic: false,
                }),
            ),
        ];
        let mut explicit = np(
            set(vec![KeyValue::new("host", "h1")]),
            0,
            t0 + 5,
            Number::I64(-5),
        );
        explicit.explicit_time = true;
        let metrics_b = vec![
            metric(
                "gauge",
                "gauge with collection and explicit times",
                "Cel",
                MetricData::Gauge(Gauge {
                    points: vec![
                        np(AttributeSet::empty(), 0, t1, Number::F64(21.5)),
                        explicit,
                        np(all_types.clone(), 0, t1, Number::U64(7)),
                        np(AttributeSet::empty(), 0, 0, Number::I64(0)),
                    ],
                }),
            ),
            metric(
                "histogram",
                "histogram with and without min/max",
                "ms",
                MetricData::Histogram(Histogram {
                    points: vec![
                        hp(
                            AttributeSet::empty(),
                            &[1.0, 5.0, 10.0],
                            vec![1, 2, 3, 4],
                            true,
                        ),
                        hp(
                            all_types.clone(),
                            &[1.0, 5.0, 10.0],
                            vec![0, 0, 0, 0],
                            false,
                        ),
                        hp(set(vec![KeyValue::new("one", 1i64)]), &[], vec![5], true),
                        HistogramPoint {
                            exemplars: Default::default(),
                            count: 0,
                            sum: 0.0,
                            start_time: 0,
                            time: 0,
                            ..hp(AttributeSet::empty(), &[], Vec::new(), false)
                        },
                    ],
                    temporality: Temporality::Delta,
                }),
            ),
            metric(
                "histogram_cumulative",
                "",
                "",
                MetricData::Histogram(Histogram {
                    points: vec![hp(AttributeSet::empty(), &[0.5], vec![1, 1], true)],
                    temporality: Temporality::Cumulative,
                }),
            ),
            metric(
                "empty_gauge",
                "",
                "",
                MetricData::Gauge(Gauge { points: Vec::new() }),
            ),
            metric(
                "exponential",
                "both signs, zero bucket, scales of both signs",
                "By",
                MetricData::ExponentialHistogram(ExponentialHistogram {
                    points: vec![
                        ExponentialHistogramPoint {
                            exemplars: Default::default(),
                            attributes: all_types.clone(),
                            start_time: t0,
                            time: t1,
                            count: 2 + 10 + 6,
                            sum: -3.5,
                            min: Some(-7.25),
                            max: Some(100.0),
                            scale: 3,
                            zero_count: 2,
                            zero_threshold: 1e-9,
                            positive: ExponentialBuckets {
                                offset: -2,
                                counts: vec![1, 0, 300, 9],
                            },
                            negative: ExponentialBuckets {
                                offset: 5,
                                counts: vec![4, 2],
                            },
                        },
                        ExponentialHistogramPoint {
                            exemplars: Default::default(),
                            attributes: AttributeSet::empty(),
                            start_time: t0,
                            time: t1,
                            count: 1 << 40,
                            sum: 1e300,
                            min: None,
                            max: None,
                            scale: -4,
                            zero_count: 0,
                            zero_threshold: 0.0,
                            positive: ExponentialBuckets {
                                offset: 64,
                                counts: vec![1 << 40],
                            },
                            negative: ExponentialBuckets::default(),
                        },
                        ExponentialHistogramPoint {
                            exemplars: Default::default(),
                            attributes: AttributeSet::empty(),
                            start_time: 0,
                            time: 0,
                            count: 0,
                            sum: 0.0,
                            min: None,
                            max: None,
                            scale: 0,
                            zero_count: 0,
                            zero_threshold: 0.0,
                            positive: ExponentialBuckets::default(),
                            negative: ExponentialBuckets::default(),
                        },
                    ],
                    temporality: Temporality::Cumulative,
                }),
            ),
        ];
        ResourceMetrics {
            resource: Arc::new(
                Resource::builder()
                    .with_service_name("svc")
                    .with_attribute(KeyValue::new("pi", 3.25f64))
                    .with_attribute(KeyValue::new("deploy.count", 3i64))
                    .with_attribute(KeyValue::new("debug", false))
                    .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
                    .build(),
            ),
            scope_metrics: vec![
                ScopeMetrics {
                    scope: Arc::new(scope_a),
                    metrics: metrics_a,
                },
                ScopeMetrics {
                    scope: Arc::new(InstrumentationScope::new("b")),
                    metrics: metrics_b,
                },
                ScopeMetrics {
                    scope: Arc::new(InstrumentationScope::new("")),
                    metrics: Vec::new(),
                },
            ],
        }
    }

    /// `n` counter points per metric in `metrics` metrics over two scopes,
    /// with attributes like the benchmark's.
    fn big(metrics: usize, n: usize) -> ResourceMetrics {
        let mk = |m: usize| {
            let points = (0..n)
                .map(|i| {
                    np(
                        set(vec![
                            KeyValue::new("id", i as i64),
                            KeyValue::new("method", "GET"),
                            KeyValue::new("route", "/api/v1/items"),
                        ]),
                        1,
                        2,
                        Number::U64(i as u64 * 1000),
                    )
                })
                .collect();
            metric(
                &format!("m{m}"),
                "requests",
                "1",
                MetricData::Sum(Sum {
                    points,
                    temporality: Temporality::Cumulative,
                    is_monotonic: true,
                }),
            )
        };
        ResourceMetrics {
            resource: Arc::new(Resource::new([KeyValue::new("service.name", "big")])),
            scope_metrics: vec![
                ScopeMetrics {
                    scope: Arc::new(InstrumentationScope::new("s1").with_version("1")),
                    metrics: (0..metrics / 2).map(mk).collect(),
                },
                ScopeMetrics {
                    scope: Arc::new(InstrumentationScope::new("s2")),
                    metrics: (metrics / 2..metrics).map(mk).collect(),
                },
            ],
        }
    }

    /// The new bytes are exactly prost's encoding of `to_request`, and
    /// decode back to it.
    fn check_whole(rm: &ResourceMetrics, enc: &mut OtlpEncoder, out: &mut Vec<u8>) {
        let n = enc.encode(rm, out);
        assert_eq!(n, rm.point_count());
        let want = to_request(rm);
        let decoded = proto::ExportMetricsServiceRequest::decode(&out[..]).expect("decodes");
        // Re-encoding what prost decoded gives the same bytes (also with
        // NaN values, which `==` on the messages cannot compare).
        same_bytes(&decoded.encode_to_vec(), out);
        same_bytes(out, &want.encode_to_vec());
        if !has_nan(&want) {
            assert_eq!(decoded, want);
        }
    }

    /// Byte equality with a short message (the first difference).
    #[track_caller]
    fn same_bytes(got: &[u8], want: &[u8]) {
        if got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            let at = at.unwrap_or(got.len().min(want.len()));
            let end = |b: &[u8]| b.len().min(at + 16);
            panic!(
                "bytes differ at {at} (lengths {} and {}): {:?} vs {:?}",
                got.len(),
                want.len(),
                &got[at.saturating_sub(8)..end(got)],
                &want[at.saturating_sub(8)..end(want)],
            );
        }
    }

    fn has_nan(req: &proto::ExportMetricsServiceRequest) -> bool {
        format!("{req:?}").contains("NaN")
    }

    /// One entry per data point: its scope, schema URL and metric (with
    /// that single point).
    fn flatten(
        req: &proto::ExportMetricsServiceRequest,
    ) -> Vec<(Option<proto::InstrumentationScope>, String, proto::Metric)> {
        use proto::metric::Data;
        let mut v = Vec::new();
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let one = |data: Data| proto::Metric {
                        name: m.name.clone(),
                        description: m.description.clone(),
                        unit: m.unit.clone(),
                        data: Some(data),
                        metadata: m.metadata.clone(),
                    };
                    let points: Vec<proto::Metric> = match &m.data {
                        Some(Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| {
                                one(Data::Gauge(proto::Gauge {
                                    data_points: vec![p.clone()],
                                }))
                            })
                            .collect(),
                        Some(Data::Sum(s)) => s
                            .data_points
                            .iter()
                            .map(|p| {
                                one(Data::Sum(proto::Sum {
                                    data_points: vec![p.clone()],
                                    aggregation_temporality: s.aggregation_temporality,
                                    is_monotonic: s.is_monotonic,
                                }))
                            })
                            .collect(),
                        Some(Data::Histogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| {
                                one(Data::Histogram(proto::Histogram {
                                    data_points: vec![p.clone()],
                                    aggregation_temporality: h.aggregation_temporality,
                                }))
                            })
                            .collect(),
                        Some(Data::ExponentialHistogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| {
                                one(Data::ExponentialHistogram(proto::ExponentialHistogram {
                                    data_points: vec![p.clone()],
                                    aggregation_temporality: h.aggregation_temporality,
                                }))
                            })
                            .collect(),
                        None => Vec::new(),
                    };
                    for p in points {
                        v.push((sm.scope.clone(), sm.schema_url.clone(), p));
                    }
                }
            }
        }
        v
    }

    /// Splits `rm` with `limits` and checks the batches: each decodes, has
    /// the resource, respects the limits (a lone oversized point excepted)
    /// and together they hold exactly the snapshot's points in order.
    /// Returns the batch sizes (points, bytes).
    fn check_batches(rm: &ResourceMetrics, limits: BatchLimits) -> Vec<(usize, usize)> {
        let mut enc = OtlpEncoder::new();
        let mut out = Vec::new();
        let mut bodies = Vec::new();
        let total = enc.encode_batches(rm, limits, &mut out, &mut |b, n| {
            bodies.push((b.to_vec(), n));
            ControlFlow::Continue(())
        });
        assert_eq!(total, rm.point_count());
        let whole = to_request(rm);
        let want = flatten(&whole);
        let mut got = Vec::new();
        let mut shape = Vec::new();
        for (body, n) in &bodies {
            let req = proto::ExportMetricsServiceRequest::decode(&body[..]).expect("decodes");
            same_bytes(&req.encode_to_vec(), body);
            assert_eq!(req.resource_metrics.len(), 1);
            let (r, w) = (&req.resource_metrics[0], &whole.resource_metrics[0]);
            assert_eq!(format!("{:?}", r.resource), format!("{:?}", w.resource));
            assert_eq!(r.schema_url, w.schema_url);
            for sm in &r.scope_metrics {
                assert!(!sm.metrics.is_empty(), "no empty scopes in batches");
            }
            let points = flatten(&req);
            assert_eq!(points.len(), *n);
            assert!(*n >= 1 && *n <= limits.max_points.max(1), "{n} points");
            assert!(
                body.len() <= limits.max_bytes || *n == 1,
                "{} bytes, {n} points",
                body.len()
            );
            shape.push((*n, body.len()));
            got.extend(points);
        }
        // Debug text compares NaN values too (`==` on them is false).
        assert!(
            got == want || format!("{got:?}") == format!("{want:?}"),
            "batches do not add up to the snapshot"
        );
        shape
    }

    #[test]
    fn every_kind_matches_prost_byte_for_byte() {
        let rm = every_kind();
        let mut enc = OtlpEncoder::new();
        let mut out = vec![0xff; 3]; // cleared first
        check_whole(&rm, &mut enc, &mut out);
        // The mapping rules, read back.
        let req = proto::ExportMetricsServiceRequest::decode(&out[..]).unwrap();
        let rm0 = &req.resource_metrics[0];
        assert_eq!(rm0.schema_url, "https://opentelemetry.io/schemas/1.26.0");
        assert_eq!(rm0.scope_metrics.len(), 3);
        let scope = rm0.scope_metrics[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("a", "1.2.3")
        );
        use proto::metric::Data;
        use proto::number_data_point::Value as V;
        match &rm0.scope_metrics[0].metrics[0].data {
            Some(Data::Sum(s)) => {
                assert!(s.is_monotonic);
                assert_eq!(s.aggregation_temporality, 2);
                assert_eq!(s.data_points[1].value, Some(V::AsDouble(u64::MAX as f64)));
                assert_eq!(s.data_points[2].value, Some(V::AsInt(i64::MAX)));
                assert_eq!(s.data_points[3].value, Some(V::AsInt(0)));
            }
            other => panic!("{other:?}"),
        }
        match &rm0.scope_metrics[1].metrics[0].data {
            Some(Data::Gauge(g)) => {
                assert_eq!(g.data_points[0].start_time_unix_nano, 0);
                assert_eq!(g.data_points[1].time_unix_nano, 1_700_000_000_000_000_005);
            }
            other => panic!("{other:?}"),
        }
        // Reusing the encoder and buffer gives the same bytes.
        let first = out.clone();
        enc.encode(&big(4, 50), &mut out);
        check_whole(&rm, &mut enc, &mut out);
        same_bytes(&out, &first);
    }

    #[test]
    fn empty_snapshots() {
        let mut enc = OtlpEncoder::new();
        let mut out = Vec::new();
        let rm = ResourceMetrics {
            resource: Arc::new(Resource::empty()),
            scope_metrics: Vec::new(),
        };
        check_whole(&rm, &mut enc, &mut out);
        assert_eq!(out, [0x0a, 0x02, 0x0a, 0x00]);
        let calls = enc.encode_batches(&rm, BatchLimits::default(), &mut out, &mut |_, _| {
            panic!("no request for no points")
        });
        assert_eq!(calls, 0);
    }

    #[test]
    fn long_messages_use_multibyte_lengths() {
        // 3000 points: metric and request lengths above 2^14 and 2^21.
        let rm = big(2, 30_000);
        let mut out = Vec::new();
        check_whole(&rm, &mut OtlpEncoder::new(), &mut out);
        assert!(out.len() > 1 << 21);
    }

    #[test]
    fn from_a_real_collection() {
        use crate::{ManualReader, MeterProvider, TemporalityPreference};
        for pref in [
            TemporalityPreference::Cumulative,
            TemporalityPreference::Delta,
        ] {
            let reader = ManualReader::new(pref);
            let provider = MeterProvider::builder()
                .with_resource(Resource::new([KeyValue::new("service.name", "t")]))
                .with_reader(reader.clone())
                .build();
            let m = provider.meter("m");
            let c = m.u64_counter("c").build().unwrap();
            c.add(u64::MAX, &[KeyValue::new("k", "v")]);
            c.add(1, &[]);
            let g = m.i64_gauge("g").build().unwrap();
            g.record(-5, &[KeyValue::new("x", 1.5)]);
            let h = m.f64_histogram("h").build().unwrap();
            h.record(3.0, &[KeyValue::new("b", true)]);
            let ud = m.f64_up_down_counter("ud").build().unwrap();
            ud.add(-1.0, &[]);
            let rm = reader.collect().unwrap();
            assert!(rm.point_count() >= 5);
            check_whole(&rm, &mut OtlpEncoder::new(), &mut Vec::new());
            check_batches(
                &rm,
                BatchLimits {
                    max_points: 2,
                    max_bytes: 1 << 20,
                },
            );
        }
    }

    #[test]
    fn batches_respect_point_limits() {
        let rm = big(6, 1000);
        let limits = BatchLimits {
            max_points: 700,
            max_bytes: 64 << 20,
        };
        let shape = check_batches(&rm, limits);
        assert_eq!(shape.len(), 6000usize.div_ceil(700));
        assert!(shape[..shape.len() - 1].iter().all(|&(n, _)| n == 700));
        // Defaults: 8192 points a request.
        let rm = big(2, 10_000);
        let shape = check_batches(&rm, BatchLimits::default());
        assert_eq!(
            shape.iter().map(|s| s.0).collect::<Vec<_>>(),
            [8192, 8192, 3616]
        );
    }

    #[test]
    fn batches_respect_byte_limits_and_fill_up() {
        let rm = big(4, 2000);
        for max_bytes in [300, 1000, 4096, 65_536, 1 << 20] {
            let limits = BatchLimits {
                max_points: usize::MAX,
                max_bytes,
            };
            let shape = check_batches(&rm, limits);
            // Reasonably full: every request but the last holds at least
            // max_bytes minus one point and the per-metric slack.
            for &(n, bytes) in &shape[..shape.len() - 1] {
                assert!(
                    bytes + 200 > max_bytes,
                    "{n} points, {bytes} of {max_bytes} bytes"
                );
            }
        }
    }

    #[test]
    fn oversized_points_go_alone() {
        let rm = every_kind();
        let shape = check_batches(
            &rm,
            BatchLimits {
                max_points: 100,
                max_bytes: 10,
            },
        );
        assert_eq!(shape.len(), rm.point_count());
        assert!(shape.iter().all(|&(n, _)| n == 1));
        let shape = check_batches(
            &rm,
            BatchLimits {
                max_points: 0,
                max_bytes: 0,
            },
        );
        assert_eq!(shape.len(), rm.point_count());
        check_batches(
            &rm,
            BatchLimits {
                max_points: 3,
                max_bytes: 700,
            },
        );
        check_batches(
            &rm,
            BatchLimits {
                max_points: usize::MAX,
                max_bytes: usize::MAX,
            },
        );
    }

    #[test]
    fn batch_scratch_stays_about_one_request_large() {
        let rm = big(2, 30_000); // about 2.5 MB of points
        let mut enc = OtlpEncoder::new();
        let limits = BatchLimits {
            max_points: usize::MAX,
            max_bytes: 64 << 10,
        };
        let mut requests = 0;
        let total = enc.encode_batches(&rm, limits, &mut Vec::new(), &mut |body, _| {
            assert!(body.len() <= 64 << 10);
            requests += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(total, 60_000);
        assert!(requests > 35, "{requests}");
        assert!(enc.body.len() <= 4 * (64 << 10), "{} bytes", enc.body.len());
    }

    #[test]
    fn batches_stop_when_the_sink_breaks() {
        let rm = big(2, 100);
        let mut calls = 0;
        let mut out = Vec::new();
        let limits = BatchLimits {
            max_points: 30,
            max_bytes: 1 << 20,
        };
        let total = OtlpEncoder::new().encode_batches(&rm, limits, &mut out, &mut |_, n| {
            calls += 1;
            assert_eq!(n, 30);
            if calls == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!((calls, total), (2, 60));
    }

    const TRACE: [u8; 16] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36,
    ];
    const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

    fn ex(value: Number, time: u64, filtered: AttributeSet) -> Exemplar {
        Exemplar {
            filtered_attributes: filtered,
            time,
            value,
            trace_id: TRACE,
            span_id: SPAN,
        }
    }

    /// `every_kind` with exemplars on a sum, a gauge, a histogram and an
    /// exponential histogram point.
    fn with_exemplars() -> ResourceMetrics {
        let mut rm = every_kind();
        let t = 1_700_000_030_000_000_001;
        let user = set(vec![
            KeyValue::new("user", "u-17"),
            KeyValue::new("n", 3i64),
        ]);
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                match &mut m.data {
                    MetricData::Sum(Sum { points, .. }) | MetricData::Gauge(Gauge { points }) => {
                        if let Some(p) = points.first_mut() {
                            p.exemplars = vec![
                                ex(Number::U64(u64::MAX), t, user.clone()),
                                ex(Number::I64(-7), 0, AttributeSet::empty()),
                                Exemplar {
                                    trace_id: [0; 16],
                                    span_id: [0; 8],
                                    ..ex(Number::F64(2.5), t + 1, AttributeSet::empty())
                                },
                            ]
                            .into();
                        }
                    }
                    MetricData::Histogram(h) => {
                        h.points[0].exemplars = vec![
                            ex(Number::F64(0.5), t, user.clone()),
                            ex(Number::F64(7.0), t + 2, AttributeSet::empty()),
                        ]
                        .into();
                    }
                    MetricData::ExponentialHistogram(h) => {
                        h.points[0].exemplars = vec![ex(Number::F64(-3.0), t, user.clone())].into();
                    }
                }
            }
        }
        rm
    }

    #[test]
    fn exemplars_match_prost_byte_for_byte_and_read_back() {
        let rm = with_exemplars();
        let mut out = Vec::new();
        check_whole(&rm, &mut OtlpEncoder::new(), &mut out);
        let req = proto::ExportMetricsServiceRequest::decode(&out[..]).unwrap();
        use proto::exemplar::Value as V;
        use proto::metric::Data;
        let sm = &req.resource_metrics[0].scope_metrics;
        let Some(Data::Sum(s)) = &sm[0].metrics[0].data else {
            panic!()
        };
        let e = &s.data_points[0].exemplars;
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].trace_id, TRACE);
        assert_eq!(e[0].span_id, SPAN);
        assert_eq!(e[0].time_unix_nano, 1_700_000_030_000_000_001);
        // u64 above i64::MAX as a double, other integers as ints.
        assert_eq!(e[0].value, Some(V::AsDouble(u64::MAX as f64)));
        assert_eq!(e[1].value, Some(V::AsInt(-7)));
        assert_eq!(e[1].time_unix_nano, 0);
        assert_eq!(e[2].value, Some(V::AsDouble(2.5)));
        // No trace context: no ids.
        assert!(e[2].trace_id.is_empty() && e[2].span_id.is_empty());
        let keys: Vec<_> = e[0]
            .filtered_attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, ["n", "user"]);
        let Some(Data::Histogram(h)) = &sm[1].metrics[1].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].exemplars.len(), 2);
        assert_eq!(h.data_points[0].exemplars[1].value, Some(V::AsDouble(7.0)));
        let Some(Data::ExponentialHistogram(x)) = &sm[1].metrics[4].data else {
            panic!()
        };
        assert_eq!(x.data_points[0].exemplars[0].trace_id, TRACE);
        assert!(x.data_points[1].exemplars.is_empty());
    }

    #[test]
    fn batches_count_exemplars_in_their_points_sizes() {
        // Points whose exemplars are most of their size: byte limits still
        // hold, and every exemplar arrives once, on its point.
        let mut rm = big(2, 300);
        for sm in &mut rm.scope_metrics {
            for m in &mut sm.metrics {
                if let MetricData::Sum(s) = &mut m.data {
                    for (i, p) in s.points.iter_mut().enumerate() {
                        let filtered = set(vec![KeyValue::new("user", "x".repeat(i % 90))]);
                        p.exemplars = (0..i % 4)
                            .map(|k| ex(Number::U64(k as u64), 5, filtered.clone()))
                            .collect();
                    }
                }
            }
        }
        for max_bytes in [200, 1500, 10_000] {
            let shape = check_batches(
                &rm,
                BatchLimits {
                    max_points: usize::MAX,
                    max_bytes,
                },
            );
            assert!(shape.len() > 1, "{max_bytes}");
        }
    }

    // ---- property tests -------------------------------------------------

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            ".{0,8}".prop_map(|s| Value::Str(Str::from_string(s))),
            "[a-z]{120,140}".prop_map(|s| Value::Str(Str::from_string(s))),
        ]
    }

    fn attr_set() -> impl Strategy<Value = AttributeSet> {
        prop::collection::vec(("[a-z._]{0,20}", value()), 0..5)
            .prop_map(|kvs| set(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect()))
    }

    fn time() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), any::<u64>()]
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<u64>().prop_map(Number::U64),
            (i64::MAX as u64..=u64::MAX).prop_map(Number::U64),
            any::<i64>().prop_map(Number::I64),
            any::<f64>().prop_map(Number::F64),
        ]
    }

    /// Ids: random, all zero (no trace context) or with zero bytes.
    fn id<const N: usize>() -> impl Strategy<Value = [u8; N]> {
        prop_oneof![
            Just([0u8; N]),
            any::<[u8; N]>(),
            Just([0u8; N]).prop_map(|mut a| {
                a[N - 1] = 1;
                a
            }),
        ]
    }

    fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
        let one = (attr_set(), time(), number(), id::<16>(), id::<8>()).prop_map(
            |(filtered_attributes, time, value, trace_id, span_id)| Exemplar {
                filtered_attributes,
                time,
                value,
                trace_id,
                span_id,
            },
        );
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(one, 1..4),
        ]
    }

    fn number_point() -> impl Strategy<Value = NumberPoint> {
        (
            attr_set(),
            time(),
            time(),
            number(),
            any::<bool>(),
            exemplars(),
        )
            .prop_map(|(a, s, t, v, e, x)| {
                let mut p = np(a, s, t, v);
                p.explicit_time = e;
                p.exemplars = x.into();
                p
            })
    }

    fn histogram_point() -> impl Strategy<Value = HistogramPoint> {
        (
            attr_set(),
            time(),
            time(),
            prop::collection::vec(any::<f64>(), 0..4),
            prop::collection::vec(0u64..1000, 5),
            any::<f64>(),
            prop::option::of(any::<f64>()),
            (prop::option::of(any::<f64>()), exemplars()),
        )
            .prop_map(|(a, s, t, bounds, counts, sum, min, (max, x))| {
                let counts = counts[..bounds.len() + 1].to_vec();
                HistogramPoint {
                    exemplars: x.into(),
                    attributes: a,
                    start_time: s,
                    time: t,
                    count: counts.iter().sum(),
                    sum,
                    min,
                    max,
                    bounds: bounds.into(),
                    bucket_counts: counts,
                }
            })
    }

    fn exponential_buckets() -> impl Strategy<Value = ExponentialBuckets> {
        (
            any::<i32>(),
            prop::collection::vec(prop_oneof![0u64..300, any::<u64>()], 0..6),
        )
            .prop_map(|(offset, counts)| ExponentialBuckets { offset, counts })
    }

    fn exponential_point() -> impl Strategy<Value = ExponentialHistogramPoint> {
        (
            (attr_set(), time(), time(), any::<u64>(), any::<f64>()),
            (
                -10i32..=20,
                any::<u64>(),
                prop_oneof![Just(0.0), any::<f64>()],
            ),
            (exponential_buckets(), exponential_buckets()),
            (
                prop::option::of(any::<f64>()),
                prop::option::of(any::<f64>()),
                exemplars(),
            ),
        )
            .prop_map(
                |((a, s, t, count, sum), (scale, zc, zt), (pos, neg), (min, max, x))| {
                    ExponentialHistogramPoint {
                        exemplars: x.into(),
                        attributes: a,
                        start_time: s,
                        time: t,
                        count,
                        sum,
                        min,
                        max,
                        scale,
                        zero_count: zc,
                        zero_threshold: zt,
                        positive: pos,
                        negative: neg,
                    }
                },
            )
    }

    fn temporality() -> impl Strategy<Value = Temporality> {
        prop_oneof![Just(Temporality::Cumulative), Just(Temporality::Delta)]
    }

    fn metric_data() -> impl Strategy<Value = MetricData> {
        let points = || prop::collection::vec(number_point(), 0..6);
        prop_oneof![
            points().prop_map(|points| MetricData::Gauge(Gauge { points })),
            (points(), temporality(), any::<bool>()).prop_map(|(points, temporality, m)| {
                MetricData::Sum(Sum {
                    points,
                    temporality,
                    is_monotonic: m,
                })
            }),
            (
                prop::collection::vec(histogram_point(), 0..4),
                temporality()
            )
                .prop_map(|(points, temporality)| MetricData::Histogram(Histogram {
                    points,
                    temporality
                })),
            (
                prop::collection::vec(exponential_point(), 0..3),
                temporality()
            )
                .prop_map(|(points, temporality)| MetricData::ExponentialHistogram(
                    ExponentialHistogram {
                        points,
                        temporality
                    }
                )),
        ]
    }

    fn snapshot() -> impl Strategy<Value = ResourceMetrics> {
        let metric = (
            "[a-z_.]{0,10}",
            ".{0,3}|[a-z ]{130}",
            "[a-zA-Z/]{0,3}",
            metric_data(),
        )
            .prop_map(|(n, d, u, data)| metric(&n, &d, &u, data));
        let scope = (
            ".{0,6}",
            prop::option::of("[0-9.]{0,5}"),
            prop::option::of("[a-z:/.]{0,20}"),
            prop::collection::vec(("[a-z]{1,4}", value()), 0..3),
            prop::collection::vec(metric, 0..4),
        )
            .prop_map(|(name, version, schema, attrs, metrics)| {
                let mut s = InstrumentationScope::new(name)
                    .with_attributes(attrs.into_iter().map(|(k, v)| KeyValue::new(k, v)));
                if let Some(v) = version {
                    s = s.with_version(v);
                }
                if let Some(u) = schema {
                    s = s.with_schema_url(u);
                }
                ScopeMetrics {
                    scope: Arc::new(s),
                    metrics,
                }
            });
        (
            prop::collection::vec(("[a-z.]{1,8}", value()), 0..4),
            prop::option::of("[a-z:/.]{1,20}"),
            prop::collection::vec(scope, 0..4),
        )
            .prop_map(|(attrs, schema, scope_metrics)| {
                let attrs = attrs.into_iter().map(|(k, v)| KeyValue::new(k, v));
                let resource = match schema {
                    Some(u) => Resource::builder()
                        .with_attributes(attrs)
                        .with_schema_url(u)
                        .build(),
                    None => Resource::new(attrs),
                };
                ResourceMetrics {
                    resource: Arc::new(resource),
                    scope_metrics,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_snapshots_match_prost(rm in snapshot()) {
            let mut out = Vec::new();
            check_whole(&rm, &mut OtlpEncoder::new(), &mut out);
        }

        #[test]
        fn random_snapshots_split_into_valid_batches(
            rm in snapshot(),
            max_points in 0usize..8,
            max_bytes in 0usize..3000,
        ) {
            check_batches(&rm, BatchLimits { max_points, max_bytes });
        }
    }
}
