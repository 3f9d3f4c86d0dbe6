//! Walking a collected snapshot: scopes, metrics, points, attributes,
//! values and histogram buckets. Everything returned here is borrowed from
//! the `fm_snapshot` and valid until it is released; NULL arguments give
//! NULL / 0 / empty results.

use super::attributes::fm_attribute_set;
use super::handle::{fm_str, str_arg, Handle};
use crate::{
    ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number,
    NumberPoint, ResourceMetrics, ScopeMetrics, Temporality,
};
use std::ffi::c_char;

/// What one collection produced. Owned by the caller (release with
/// `fm_snapshot_release`); immutable, so any thread may read it.
pub struct fm_snapshot {
    _private: [u8; 0],
}
/// The metrics of one instrumentation scope (borrowed from a snapshot).
pub struct fm_scope_metrics {
    _private: [u8; 0],
}
/// One metric stream (borrowed from a snapshot).
pub struct fm_metric {
    _private: [u8; 0],
}
/// A sum or gauge point (borrowed from a snapshot).
pub struct fm_number_point {
    _private: [u8; 0],
}
/// A histogram point (borrowed from a snapshot).
pub struct fm_histogram_point {
    _private: [u8; 0],
}
/// A base2 exponential histogram point (borrowed from a snapshot).
pub struct fm_exponential_histogram_point {
    _private: [u8; 0],
}

/// Shape of a metric's points (one of `FM_METRIC_TYPE_*`).
pub type fm_metric_type = u32;
/// Last values (`fm_number_point`).
pub const FM_METRIC_TYPE_GAUGE: fm_metric_type = 0;
/// Sums (`fm_number_point`).
pub const FM_METRIC_TYPE_SUM: fm_metric_type = 1;
/// Explicit-bucket histograms (`fm_histogram_point`).
pub const FM_METRIC_TYPE_HISTOGRAM: fm_metric_type = 2;
/// Base2 exponential histograms (`fm_exponential_histogram_point`).
pub const FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM: fm_metric_type = 3;

/// Temporality of sums and histograms (one of `FM_TEMPORALITY_*`).
pub type fm_temporality = u32;
/// Totals since the series started (also reported for gauges).
pub const FM_TEMPORALITY_CUMULATIVE: fm_temporality = 0;
/// Change since the reader's previous collection.
pub const FM_TEMPORALITY_DELTA: fm_temporality = 1;

/// Number type of a point's value (one of `FM_NUMBER_*`).
pub type fm_number_type = u32;
/// Unsigned 64-bit integer.
pub const FM_NUMBER_U64: fm_number_type = 0;
/// Signed 64-bit integer.
pub const FM_NUMBER_I64: fm_number_type = 1;
/// Double.
pub const FM_NUMBER_F64: fm_number_type = 2;

/// A snapshot and a flat index of its metrics.
pub(crate) struct Snapshot {
    pub(crate) rm: ResourceMetrics,
    flat: Vec<(usize, usize)>,
}

impl Snapshot {
    pub(crate) fn new(rm: ResourceMetrics) -> Self {
        let flat = rm
            .scope_metrics
            .iter()
            .enumerate()
            .flat_map(|(s, sm)| (0..sm.metrics.len()).map(move |m| (s, m)))
            .collect();
        Snapshot { rm, flat }
    }
    fn metric(&self, i: usize) -> Option<&Metric> {
        let (s, m) = *self.flat.get(i)?;
        Some(&self.rm.scope_metrics[s].metrics[m])
    }
}

handle_types! {
    fm_snapshot => Snapshot;
    fm_scope_metrics => ScopeMetrics;
    fm_metric => Metric;
    fm_number_point => NumberPoint;
    fm_histogram_point => HistogramPoint;
    fm_exponential_histogram_point => ExponentialHistogramPoint;
}

fn get<'a, H: Handle>(p: *const H) -> Option<&'a H::Rust> {
    // SAFETY: C contract of this module: NULL or a live handle (borrowed
    // handles live as long as their snapshot).
    unsafe { H::get(p) }
}

fn borrowed<H: Handle>(v: Option<&H::Rust>) -> *const H {
    v.map_or(std::ptr::null(), H::borrowed)
}

/// Releases a snapshot and everything borrowed from it. NULL is fine; must
/// not be called twice.
#[no_mangle]
pub extern "C" fn fm_snapshot_release(snapshot: *mut fm_snapshot) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned snapshot released once.
        unsafe { fm_snapshot::free(snapshot) }
    }
}

/// The provider's resource attributes (borrowed from the snapshot).
#[no_mangle]
pub extern "C" fn fm_snapshot_resource(snapshot: *const fm_snapshot) -> *const fm_attribute_set {
    ffi_boundary! { borrowed(get(snapshot).map(|s| s.rm.resource.attributes())) }
}

/// Number of metrics in all scopes.
#[no_mangle]
pub extern "C" fn fm_snapshot_metric_count(snapshot: *const fm_snapshot) -> usize {
    ffi_boundary! { get(snapshot).map_or(0, |s| s.flat.len()) }
}

/// The metric at `index` across all scopes (NULL when out of range).
#[no_mangle]
pub extern "C" fn fm_snapshot_metric(
    snapshot: *const fm_snapshot,
    index: usize,
) -> *const fm_metric {
    ffi_boundary! { borrowed(get(snapshot).and_then(|s| s.metric(index))) }
}

/// The first metric named `name[0..name_len]` in any scope, or NULL.
#[no_mangle]
pub extern "C" fn fm_snapshot_find_metric(
    snapshot: *const fm_snapshot,
    name: *const c_char,
    name_len: usize,
) -> *const fm_metric {
    ffi_boundary! {
        let Ok(n) = str_arg(name, name_len, "name") else { return std::ptr::null() };
        borrowed(get(snapshot).and_then(|s| s.rm.metric(n)))
    }
}

/// Number of scopes that produced metrics.
#[no_mangle]
pub extern "C" fn fm_snapshot_scope_count(snapshot: *const fm_snapshot) -> usize {
    ffi_boundary! { get(snapshot).map_or(0, |s| s.rm.scope_metrics.len()) }
}

/// The scope at `index` (NULL when out of range).
#[no_mangle]
pub extern "C" fn fm_snapshot_scope(
    snapshot: *const fm_snapshot,
    index: usize,
) -> *const fm_scope_metrics {
    ffi_boundary! { borrowed(get(snapshot).and_then(|s| s.rm.scope_metrics.get(index))) }
}

/// The scope's name.
#[no_mangle]
pub extern "C" fn fm_scope_metrics_name(scope: *const fm_scope_metrics) -> fm_str {
    ffi_boundary! { get(scope).map_or(fm_str::EMPTY, |s| fm_str::from_str(s.scope.name())) }
}

/// The scope's version ("" when none).
#[no_mangle]
pub extern "C" fn fm_scope_metrics_version(scope: *const fm_scope_metrics) -> fm_str {
    ffi_boundary! { get(scope).and_then(|s| s.scope.version()).map_or(fm_str::EMPTY, fm_str::from_str) }
}

/// The scope's schema URL ("" when none).
#[no_mangle]
pub extern "C" fn fm_scope_metrics_schema_url(scope: *const fm_scope_metrics) -> fm_str {
    ffi_boundary! { get(scope).and_then(|s| s.scope.schema_url()).map_or(fm_str::EMPTY, fm_str::from_str) }
}

/// Number of metrics of the scope.
#[no_mangle]
pub extern "C" fn fm_scope_metrics_metric_count(scope: *const fm_scope_metrics) -> usize {
    ffi_boundary! { get(scope).map_or(0, |s| s.metrics.len()) }
}

/// The scope's metric at `index` (NULL when out of range).
#[no_mangle]
pub extern "C" fn fm_scope_metrics_metric(
    scope: *const fm_scope_metrics,
    index: usize,
) -> *const fm_metric {
    ffi_boundary! { borrowed(get(scope).and_then(|s| s.metrics.get(index))) }
}

/// The metric's (stream) name.
#[no_mangle]
pub extern "C" fn fm_metric_name(metric: *const fm_metric) -> fm_str {
    ffi_boundary! { get(metric).map_or(fm_str::EMPTY, |m| fm_str::from_str(&m.name)) }
}

/// The metric's description.
#[no_mangle]
pub extern "C" fn fm_metric_description(metric: *const fm_metric) -> fm_str {
    ffi_boundary! { get(metric).map_or(fm_str::EMPTY, |m| fm_str::from_str(&m.description)) }
}

/// The metric's unit.
#[no_mangle]
pub extern "C" fn fm_metric_unit(metric: *const fm_metric) -> fm_str {
    ffi_boundary! { get(metric).map_or(fm_str::EMPTY, |m| fm_str::from_str(&m.unit)) }
}

/// The metric's shape (`FM_METRIC_TYPE_*`; GAUGE for NULL).
#[no_mangle]
pub extern "C" fn fm_metric_type_of(metric: *const fm_metric) -> fm_metric_type {
    ffi_boundary! {
        match get(metric).map(|m| &m.data) {
            Some(MetricData::Sum(_)) => FM_METRIC_TYPE_SUM,
            Some(MetricData::Histogram(_)) => FM_METRIC_TYPE_HISTOGRAM,
            Some(MetricData::ExponentialHistogram(_)) => FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM,
            _ => FM_METRIC_TYPE_GAUGE,
        }
    }
}

/// The metric's temporality (`FM_TEMPORALITY_*`; CUMULATIVE for gauges).
#[no_mangle]
pub extern "C" fn fm_metric_temporality(metric: *const fm_metric) -> fm_temporality {
    ffi_boundary! {
        let t = match get(metric).map(|m| &m.data) {
            Some(MetricData::Sum(s)) => s.temporality,
            Some(MetricData::Histogram(h)) => h.temporality,
            Some(MetricData::ExponentialHistogram(h)) => h.temporality,
            _ => Temporality::Cumulative,
        };
        match t {
            Temporality::Delta => FM_TEMPORALITY_DELTA,
            _ => FM_TEMPORALITY_CUMULATIVE,
        }
    }
}

/// Whether a sum only goes up (false for other shapes).
#[no_mangle]
pub extern "C" fn fm_metric_is_monotonic(metric: *const fm_metric) -> bool {
    ffi_boundary! { matches!(get(metric).map(|m| &m.data), Some(MetricData::Sum(s)) if s.is_monotonic) }
}

/// Number of points (series) of the metric.
#[no_mangle]
pub extern "C" fn fm_metric_point_count(metric: *const fm_metric) -> usize {
    ffi_boundary! { get(metric).map_or(0, |m| m.data.len()) }
}

/// The sum or gauge point at `index`; NULL for histograms or out of range.
#[no_mangle]
pub extern "C" fn fm_metric_number_point(
    metric: *const fm_metric,
    index: usize,
) -> *const fm_number_point {
    ffi_boundary! {
        borrowed(match get(metric).map(|m| &m.data) {
            Some(MetricData::Sum(s)) => s.points.get(index),
            Some(MetricData::Gauge(g)) => g.points.get(index),
            _ => None,
        })
    }
}

/// The histogram point at `index`; NULL for other shapes or out of range.
#[no_mangle]
pub extern "C" fn fm_metric_histogram_point(
    metric: *const fm_metric,
    index: usize,
) -> *const fm_histogram_point {
    ffi_boundary! {
        borrowed(match get(metric).map(|m| &m.data) {
            Some(MetricData::Histogram(h)) => h.points.get(index),
            _ => None,
        })
    }
}

/// The exponential histogram point at `index`; NULL for other shapes or
/// out of range.
#[no_mangle]
pub extern "C" fn fm_metric_exponential_histogram_point(
    metric: *const fm_metric,
    index: usize,
) -> *const fm_exponential_histogram_point {
    ffi_boundary! {
        borrowed(match get(metric).map(|m| &m.data) {
            Some(MetricData::ExponentialHistogram(h)) => h.points.get(index),
            _ => None,
        })
    }
}

/// The point's attributes (borrowed from the snapshot).
#[no_mangle]
pub extern "C" fn fm_number_point_attributes(
    point: *const fm_number_point,
) -> *const fm_attribute_set {
    ffi_boundary! { borrowed(get(point).map(|p| &p.attributes)) }
}

/// The value's number type (`FM_NUMBER_*`).
#[no_mangle]
pub extern "C" fn fm_number_point_value_type(point: *const fm_number_point) -> fm_number_type {
    ffi_boundary! {
        match get(point).map(|p| p.value) {
            Some(Number::I64(_)) => FM_NUMBER_I64,
            Some(Number::F64(_)) => FM_NUMBER_F64,
            _ => FM_NUMBER_U64,
        }
    }
}

/// The value as a double (lossy for huge integers; NaN for NULL).
#[no_mangle]
pub extern "C" fn fm_number_point_as_f64(point: *const fm_number_point) -> f64 {
    ffi_boundary! { get(point).map_or(f64::NAN, |p| p.value.as_f64()) }
}

/// The value as i64 (doubles truncated, u64 above INT64_MAX saturated;
/// 0 for NULL).
#[no_mangle]
pub extern "C" fn fm_number_point_as_i64(point: *const fm_number_point) -> i64 {
    ffi_boundary! {
        match get(point).map(|p| p.value) {
            Some(Number::U64(v)) => i64::try_from(v).unwrap_or(i64::MAX),
            Some(Number::I64(v)) => v,
            Some(Number::F64(v)) => v as i64,
            None => 0,
        }
    }
}

/// The value as u64 (negative values and NaN give 0; 0 for NULL).
#[no_mangle]
pub extern "C" fn fm_number_point_as_u64(point: *const fm_number_point) -> u64 {
    ffi_boundary! {
        match get(point).map(|p| p.value) {
            Some(Number::U64(v)) => v,
            Some(Number::I64(v)) => u64::try_from(v).unwrap_or(0),
            Some(Number::F64(v)) => v as u64,
            None => 0,
        }
    }
}

/// Start of the aggregation interval, ns since the Unix epoch (0 for gauges).
#[no_mangle]
pub extern "C" fn fm_number_point_start_time(point: *const fm_number_point) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.start_time) }
}

/// Time of the point, ns since the Unix epoch: the collection time, or the
/// measurement's own timestamp (see `fm_number_point_has_explicit_time`).
#[no_mangle]
pub extern "C" fn fm_number_point_time(point: *const fm_number_point) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.time) }
}

/// Whether the point's time is a measurement's explicit timestamp.
#[no_mangle]
pub extern "C" fn fm_number_point_has_explicit_time(point: *const fm_number_point) -> bool {
    ffi_boundary! { get(point).is_some_and(|p| p.explicit_time) }
}

/// The point's attributes (borrowed from the snapshot).
#[no_mangle]
pub extern "C" fn fm_histogram_point_attributes(
    point: *const fm_histogram_point,
) -> *const fm_attribute_set {
    ffi_boundary! { borrowed(get(point).map(|p| &p.attributes)) }
}

/// Number of measurements (always the sum of the bucket counts).
#[no_mangle]
pub extern "C" fn fm_histogram_point_count(point: *const fm_histogram_point) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.count) }
}

/// Sum of the measurements.
#[no_mangle]
pub extern "C" fn fm_histogram_point_sum(point: *const fm_histogram_point) -> f64 {
    ffi_boundary! { get(point).map_or(0.0, |p| p.sum) }
}

/// Writes the smallest measurement to `*out` and returns true when it was
/// recorded; returns false and writes nothing otherwise.
#[no_mangle]
pub extern "C" fn fm_histogram_point_min(point: *const fm_histogram_point, out: *mut f64) -> bool {
    ffi_boundary! {
        match (get(point).and_then(|p| p.min), out.is_null()) {
            (Some(v), false) => { super::handle::write_out(out, v); true }
            _ => false,
        }
    }
}

/// Writes the largest measurement to `*out` and returns true when it was
/// recorded; returns false and writes nothing otherwise.
#[no_mangle]
pub extern "C" fn fm_histogram_point_max(point: *const fm_histogram_point, out: *mut f64) -> bool {
    ffi_boundary! {
        match (get(point).and_then(|p| p.max), out.is_null()) {
            (Some(v), false) => { super::handle::write_out(out, v); true }
            _ => false,
        }
    }
}

/// Start of the aggregation interval (ns since the Unix epoch).
#[no_mangle]
pub extern "C" fn fm_histogram_point_start_time(point: *const fm_histogram_point) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.start_time) }
}

/// Collection time (ns since the Unix epoch).
#[no_mangle]
pub extern "C" fn fm_histogram_point_time(point: *const fm_histogram_point) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.time) }
}

/// The bucket upper bounds (inclusive), `*len` of them; borrowed from the
/// snapshot. There is one more bucket than bounds. NULL (and `*len` = 0)
/// for a NULL point; `len` may be NULL.
#[no_mangle]
pub extern "C" fn fm_histogram_point_bounds(
    point: *const fm_histogram_point,
    len: *mut usize,
) -> *const f64 {
    ffi_boundary! {
        let (p, n) = get(point).map_or((std::ptr::null(), 0), |p| (p.bounds.as_ptr(), p.bounds.len()));
        if !len.is_null() {
            super::handle::write_out(len, n);
        }
        p
    }
}

/// Per-bucket counts (not cumulative), `*len` of them; the last bucket is
/// (last bound, +inf). Borrowed from the snapshot; `len` may be NULL.
#[no_mangle]
pub extern "C" fn fm_histogram_point_bucket_counts(
    point: *const fm_histogram_point,
    len: *mut usize,
) -> *const u64 {
    ffi_boundary! {
        let (p, n) = get(point).map_or((std::ptr::null(), 0), |p| (p.bucket_counts.as_ptr(), p.bucket_counts.len()));
        if !len.is_null() {
            super::handle::write_out(len, n);
        }
        p
    }
}

/// The point's attributes (borrowed from the snapshot).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_attributes(
    point: *const fm_exponential_histogram_point,
) -> *const fm_attribute_set {
    ffi_boundary! { borrowed(get(point).map(|p| &p.attributes)) }
}

/// Start of the aggregation interval (ns since the Unix epoch).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_start_time(
    point: *const fm_exponential_histogram_point,
) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.start_time) }
}

/// Collection time (ns since the Unix epoch).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_time(
    point: *const fm_exponential_histogram_point,
) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.time) }
}

/// Number of measurements: the zero count plus both ranges' counts.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_count(
    point: *const fm_exponential_histogram_point,
) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.count) }
}

/// Sum of the measurements.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_sum(
    point: *const fm_exponential_histogram_point,
) -> f64 {
    ffi_boundary! { get(point).map_or(0.0, |p| p.sum) }
}

/// Writes the smallest measurement to `*out` and returns true when it was
/// recorded; returns false and writes nothing otherwise.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_min(
    point: *const fm_exponential_histogram_point,
    out: *mut f64,
) -> bool {
    ffi_boundary! {
        match (get(point).and_then(|p| p.min), out.is_null()) {
            (Some(v), false) => { super::handle::write_out(out, v); true }
            _ => false,
        }
    }
}

/// Writes the largest measurement to `*out` and returns true when it was
/// recorded; returns false and writes nothing otherwise.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_max(
    point: *const fm_exponential_histogram_point,
    out: *mut f64,
) -> bool {
    ffi_boundary! {
        match (get(point).and_then(|p| p.max), out.is_null()) {
            (Some(v), false) => { super::handle::write_out(out, v); true }
            _ => false,
        }
    }
}

/// The scale: bucket boundaries are powers of `2^(2^-scale)` (0 for NULL).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_scale(
    point: *const fm_exponential_histogram_point,
) -> i32 {
    ffi_boundary! { get(point).map_or(0, |p| p.scale) }
}

/// Measurements in the zero bucket (magnitude at most the zero threshold).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_zero_count(
    point: *const fm_exponential_histogram_point,
) -> u64 {
    ffi_boundary! { get(point).map_or(0, |p| p.zero_count) }
}

/// Upper bound of the zero bucket's magnitudes (0 when only exact zeros
/// go there).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_zero_threshold(
    point: *const fm_exponential_histogram_point,
) -> f64 {
    ffi_boundary! { get(point).map_or(0.0, |p| p.zero_threshold) }
}

fn exponential_range(
    b: Option<&ExponentialBuckets>,
    offset: *mut i32,
    len: *mut usize,
) -> *const u64 {
    let (p, o, n) = b.map_or((std::ptr::null(), 0, 0), |b| {
        (b.counts.as_ptr(), b.offset, b.counts.len())
    });
    if !offset.is_null() {
        super::handle::write_out(offset, o);
    }
    if !len.is_null() {
        super::handle::write_out(len, n);
    }
    p
}

/// The positive range: per-bucket counts (not cumulative), `*len` of them,
/// the first for bucket index `*offset`; bucket `i` counts the values in
/// `(base^i, base^(i + 1)]`. Borrowed from the snapshot; `offset` and
/// `len` may be NULL; a NULL point gives NULL, offset 0 and length 0.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_positive(
    point: *const fm_exponential_histogram_point,
    offset: *mut i32,
    len: *mut usize,
) -> *const u64 {
    ffi_boundary! { exponential_range(get(point).map(|p| &p.positive), offset, len) }
}

/// The negative range, as `fm_exponential_histogram_point_positive`, by
/// magnitude: bucket `i` counts the values in `[-base^(i + 1), -base^i)`.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_negative(
    point: *const fm_exponential_histogram_point,
    offset: *mut i32,
    len: *mut usize,
) -> *const u64 {
    ffi_boundary! { exponential_range(get(point).map(|p| &p.negative), offset, len) }
}

/// An exemplar of a point (borrowed from a snapshot): a measurement kept
/// with the trace context it was recorded in.
pub struct fm_exemplar {
    _private: [u8; 0],
}

handle_types! {
    fm_exemplar => crate::Exemplar;
}

fn exemplar_at(list: Option<&crate::PointExemplars>, i: usize) -> *const fm_exemplar {
    borrowed(list.and_then(|l| l.get(i)))
}

/// Number of exemplars the point carries.
#[no_mangle]
pub extern "C" fn fm_number_point_exemplar_count(point: *const fm_number_point) -> usize {
    ffi_boundary! { get(point).map_or(0, |p| p.exemplars.len()) }
}

/// The point's exemplar `i` (NULL past the end).
#[no_mangle]
pub extern "C" fn fm_number_point_exemplar(
    point: *const fm_number_point,
    i: usize,
) -> *const fm_exemplar {
    ffi_boundary! { exemplar_at(get(point).map(|p| &p.exemplars), i) }
}

/// Number of exemplars the point carries (for an explicit histogram, at
/// most one per bucket by default).
#[no_mangle]
pub extern "C" fn fm_histogram_point_exemplar_count(point: *const fm_histogram_point) -> usize {
    ffi_boundary! { get(point).map_or(0, |p| p.exemplars.len()) }
}

/// The point's exemplar `i` (NULL past the end).
#[no_mangle]
pub extern "C" fn fm_histogram_point_exemplar(
    point: *const fm_histogram_point,
    i: usize,
) -> *const fm_exemplar {
    ffi_boundary! { exemplar_at(get(point).map(|p| &p.exemplars), i) }
}

/// Number of exemplars the point carries.
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_exemplar_count(
    point: *const fm_exponential_histogram_point,
) -> usize {
    ffi_boundary! { get(point).map_or(0, |p| p.exemplars.len()) }
}

/// The point's exemplar `i` (NULL past the end).
#[no_mangle]
pub extern "C" fn fm_exponential_histogram_point_exemplar(
    point: *const fm_exponential_histogram_point,
    i: usize,
) -> *const fm_exemplar {
    ffi_boundary! { exemplar_at(get(point).map(|p| &p.exemplars), i) }
}

/// Writes the exemplar's trace and span ids to `*out` (flags 0; all zero
/// for NULL or an exemplar recorded without a context). Returns whether
/// `out` was written.
#[no_mangle]
pub extern "C" fn fm_exemplar_trace_context(
    exemplar: *const fm_exemplar,
    out: *mut super::trace::fm_trace_context,
) -> bool {
    ffi_boundary! {
        if out.is_null() {
            return false;
        }
        let c = get(exemplar).map_or_else(super::trace::fm_trace_context::default, |e| {
            super::trace::fm_trace_context { trace_id: e.trace_id, span_id: e.span_id, flags: 0 }
        });
        super::handle::write_out(out, c);
        true
    }
}

/// When the measurement was recorded, ns since the Unix epoch (0 for NULL).
#[no_mangle]
pub extern "C" fn fm_exemplar_time(exemplar: *const fm_exemplar) -> u64 {
    ffi_boundary! { get(exemplar).map_or(0, |e| e.time) }
}

/// The measurement's number type (`FM_NUMBER_*`).
#[no_mangle]
pub extern "C" fn fm_exemplar_value_type(exemplar: *const fm_exemplar) -> fm_number_type {
    ffi_boundary! {
        match get(exemplar).map(|e| e.value) {
            Some(Number::I64(_)) => FM_NUMBER_I64,
            Some(Number::F64(_)) => FM_NUMBER_F64,
            _ => FM_NUMBER_U64,
        }
    }
}

/// The measurement as a double (lossy for huge integers; NaN for NULL).
#[no_mangle]
pub extern "C" fn fm_exemplar_as_f64(exemplar: *const fm_exemplar) -> f64 {
    ffi_boundary! { get(exemplar).map_or(f64::NAN, |e| e.value.as_f64()) }
}

/// The measurement's attributes that the stream's attribute filter removed
/// (borrowed from the snapshot; empty when none).
#[no_mangle]
pub extern "C" fn fm_exemplar_filtered_attributes(
    exemplar: *const fm_exemplar,
) -> *const fm_attribute_set {
    ffi_boundary! { borrowed(get(exemplar).map(|e| &e.filtered_attributes)) }
}
