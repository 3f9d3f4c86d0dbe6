//! Host metric producers: a C callback that, at each collection, adds
//! ready-made points (with their own timestamps) through an
//! `fm_producer_batch`. Every point is validated as it is added (duplicate
//! label names, duplicate series, one shape per name, value sanity) and
//! refused with a status and a diagnostic when it fails.

use super::attributes::{attrs_arg, fm_attribute};
use super::handle::{arg, fm_str, fm_str_arg, out_arg, slice_arg, str_arg, write_out, Handle};
use super::provider::fm_provider;
use super::snapshot::{fm_number_type, FM_NUMBER_F64, FM_NUMBER_I64, FM_NUMBER_U64};
use super::status::{core_err, fail, fm_status};
use crate::collect::data::{Number, Temporality};
use crate::producer::{
    ExponentialHistogramValue, PointKind, ProducedMetric, ProducerBatch, ProducerRegistration,
};
use crate::InstrumentationScope;
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Shape of a produced metric (one of `FM_PRODUCED_*`).
pub type fm_produced_kind = u32;
/// Gauge: last values.
pub const FM_PRODUCED_GAUGE: fm_produced_kind = 0;
/// Counter: a monotonic sum (values must be >= 0).
pub const FM_PRODUCED_COUNTER: fm_produced_kind = 1;
/// Up-down counter: a non-monotonic sum.
pub const FM_PRODUCED_UP_DOWN_COUNTER: fm_produced_kind = 2;
/// Explicit-bucket histogram.
pub const FM_PRODUCED_HISTOGRAM: fm_produced_kind = 3;
/// Base2 exponential histogram (`fm_producer_batch_add_exponential_histogram`).
pub const FM_PRODUCED_EXPONENTIAL_HISTOGRAM: fm_produced_kind = 4;

/// The values of one exponential histogram point, borrowed for
/// `fm_producer_batch_add_exponential_histogram`. Bucket `offset + k` of a
/// range counts the measurements whose magnitude lies in
/// `(base^(offset + k), base^(offset + k + 1)]`, `base = 2^(2^-scale)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fm_exponential_histogram_value {
    /// Resolution, -10..=20.
    pub scale: i32,
    /// Number of measurements: exactly `zero_count` plus the counts of
    /// both ranges.
    pub count: u64,
    /// Sum of the measurements (finite).
    pub sum: f64,
    /// Smallest measurement (NaN together with `max` when unknown).
    pub min: f64,
    /// Largest measurement (NaN together with `min` when unknown).
    pub max: f64,
    /// Measurements whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Upper bound of the zero bucket's magnitudes (finite, >= 0; 0 when
    /// only exact zeros go there).
    pub zero_threshold: f64,
    /// Index of the first positive bucket.
    pub positive_offset: i32,
    /// `positive_len` per-bucket counts (not cumulative); NULL when the
    /// length is 0.
    pub positive_counts: *const u64,
    /// Number of positive buckets.
    pub positive_len: usize,
    /// Index of the first negative bucket (by magnitude).
    pub negative_offset: i32,
    /// `negative_len` per-bucket counts of negative measurements, by
    /// magnitude; NULL when the length is 0.
    pub negative_counts: *const u64,
    /// Number of negative buckets.
    pub negative_len: usize,
}

/// Describes a produced metric; everything is borrowed for the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fm_produced_metric {
    /// Name (instrument name rules: ASCII letter, then `A-Za-z0-9_.-/`).
    pub name: fm_str,
    /// Description (HELP); may be empty.
    pub description: fm_str,
    /// Unit (UCUM, ASCII); may be empty.
    pub unit: fm_str,
    /// `FM_PRODUCED_*`.
    pub kind: fm_produced_kind,
    /// `FM_TEMPORALITY_*` for sums and histograms (ignored for gauges).
    pub temporality: u32,
}

/// A numeric value; which member is valid is given by an `fm_number_type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union fm_number_value {
    /// `FM_NUMBER_U64`.
    pub u64: u64,
    /// `FM_NUMBER_I64`.
    pub i64: i64,
    /// `FM_NUMBER_F64`.
    pub f64: f64,
}

/// The points of one collection, handed to a producer callback; valid
/// for the callback's duration only, on the calling thread.
pub struct fm_producer_batch {
    _private: [u8; 0],
}

/// A registered producer. Owned by the caller: releasing it with
/// `fm_producer_registration_release` unregisters the producer.
pub struct fm_producer_registration {
    _private: [u8; 0],
}

/// A producer: adds this collection's points to `batch` with the
/// `fm_producer_batch_add_*` functions. Return true to keep the points
/// added in this call, false to drop them all. Called once per reader
/// collection, on the collecting thread; must not throw or unwind, nor
/// collect from the same provider.
pub type fm_producer_callback =
    Option<unsafe extern "C" fn(batch: *mut fm_producer_batch, user_data: *mut c_void) -> bool>;

type CFn = unsafe extern "C" fn(*mut fm_producer_batch, *mut c_void) -> bool;

struct State {
    /// Read-locked while the callback runs: releasing waits for it.
    f: RwLock<Option<(CFn, usize)>>,
    disabled: AtomicBool,
}

thread_local! {
    static IN_PRODUCER: Cell<usize> = const { Cell::new(0) };
}

/// Owns one registered C producer.
pub(crate) struct Registration {
    reg: ProducerRegistration,
    state: Arc<State>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.reg.unregister();
        self.state.disabled.store(true, Ordering::Release);
        if IN_PRODUCER.with(|d| d.get()) == 0 {
            // Waits for a call in progress on another thread; after this
            // the pointer is forgotten and user_data may be freed.
            *self.state.f.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

handle_types! {
    fm_producer_batch => ProducerBatch;
    fm_producer_registration => Registration;
}

fn batch_mut<'a>(b: *mut fm_producer_batch) -> Result<&'a mut ProducerBatch, fm_status> {
    // SAFETY: C contract: `b` is NULL or the batch handed to the running
    // callback on this thread, which holds no other reference meanwhile.
    unsafe { b.cast::<ProducerBatch>().as_mut() }
        .ok_or_else(|| fail(fm_status::InvalidArgument, "batch is NULL"))
}

fn metric_arg(m: *const fm_produced_metric) -> Result<ProducedMetric, fm_status> {
    // SAFETY: C contract: NULL or a readable `fm_produced_metric`.
    let m =
        unsafe { m.as_ref() }.ok_or_else(|| fail(fm_status::InvalidArgument, "metric is NULL"))?;
    let temporality = match m.temporality {
        0 => Temporality::Cumulative,
        1 => Temporality::Delta,
        t => {
            return Err(fail(
                fm_status::InvalidArgument,
                format_args!("unknown temporality {t}"),
            ))
        }
    };
    let kind = match m.kind {
        FM_PRODUCED_GAUGE => PointKind::Gauge,
        FM_PRODUCED_COUNTER => PointKind::Sum {
            monotonic: true,
            temporality,
        },
        FM_PRODUCED_UP_DOWN_COUNTER => PointKind::Sum {
            monotonic: false,
            temporality,
        },
        FM_PRODUCED_HISTOGRAM => PointKind::Histogram { temporality },
        FM_PRODUCED_EXPONENTIAL_HISTOGRAM => PointKind::ExponentialHistogram { temporality },
        k => {
            return Err(fail(
                fm_status::InvalidArgument,
                format_args!("unknown produced metric kind {k}"),
            ))
        }
    };
    Ok(ProducedMetric {
        name: fm_str_arg(m.name, "metric name")?.into(),
        description: fm_str_arg(m.description, "metric description")?.into(),
        unit: fm_str_arg(m.unit, "metric unit")?.into(),
        kind,
    })
}

/// Registers a producer on `provider`; its points are reported under the
/// instrumentation scope `scope_name` / `scope_version` (copied; version
/// may be empty). `user_data` is passed to every call. Returns
/// `FM_STATUS_INVALID_ARGUMENT` for NULL arguments, `FM_STATUS_SHUTDOWN`
/// after shutdown. Ownership: `*out` is owned by the caller; releasing it
/// unregisters the producer (free `user_data` after that).
#[no_mangle]
pub extern "C" fn fm_provider_register_producer(
    provider: *const fm_provider,
    scope_name: *const c_char,
    scope_name_len: usize,
    scope_version: *const c_char,
    scope_version_len: usize,
    callback: fm_producer_callback,
    user_data: *mut c_void,
    out: *mut *mut fm_producer_registration,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        out_arg(out, "out")?;
        let f = callback.ok_or_else(|| fail(fm_status::InvalidArgument, "callback is NULL"))?;
        let name = str_arg(scope_name, scope_name_len, "scope_name")?;
        let version = str_arg(scope_version, scope_version_len, "scope_version")?;
        if p.is_shutdown() {
            return Err(core_err(crate::Error::Shutdown));
        }
        let mut scope = InstrumentationScope::new(name);
        if !version.is_empty() {
            scope = scope.with_version(version);
        }
        let state = Arc::new(State {
            f: RwLock::new(Some((f, user_data as usize))),
            disabled: AtomicBool::new(false),
        });
        let s = state.clone();
        let reg = p.register_producer(scope, move |batch: &mut ProducerBatch| {
            let g = s.f.read().unwrap_or_else(|p| p.into_inner());
            if s.disabled.load(Ordering::Acquire) {
                return Ok(());
            }
            let Some((f, ud)) = *g else { return Ok(()) };
            IN_PRODUCER.with(|d| d.set(d.get() + 1));
            let b: *mut fm_producer_batch = (batch as *mut ProducerBatch).cast();
            // SAFETY: the registrant promised `f` is callable with its
            // `user_data` until the registration is released, which waits
            // for this read lock; `b` is valid for the call.
            let keep = unsafe { f(b, ud as *mut c_void) };
            IN_PRODUCER.with(|d| d.set(d.get() - 1));
            if keep {
                Ok(())
            } else {
                Err(crate::Error::Failed("the producer callback returned false".into()))
            }
        });
        write_out(out, fm_producer_registration::into_raw(Registration { reg, state }));
        Ok(())
    }
}

/// Unregisters and frees a producer registration. NULL is fine; must not
/// be called twice. Outside the callback, it waits for a call in progress;
/// the callback is never called again once it returns.
#[no_mangle]
pub extern "C" fn fm_producer_registration_release(registration: *mut fm_producer_registration) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned registration released once.
        unsafe { fm_producer_registration::free(registration) }
    }
}

/// Number of points of this producer refused so far (invalid, duplicate,
/// conflicting, or dropped because the callback returned false); 0 for NULL.
#[no_mangle]
pub extern "C" fn fm_producer_registration_refused(
    registration: *const fm_producer_registration,
) -> u64 {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live registration.
        unsafe { fm_producer_registration::get(registration) }.map_or(0, |r| r.reg.refused())
    }
}

/// The collecting reader's id (to keep one cursor per reader); 0 for NULL.
#[no_mangle]
pub extern "C" fn fm_producer_batch_reader_id(batch: *const fm_producer_batch) -> u64 {
    ffi_boundary! {
        // SAFETY: C contract: NULL or the live batch of the running callback.
        unsafe { fm_producer_batch::get(batch) }.map_or(0, |b| b.reader_id())
    }
}

/// This collection's time (ns since the Unix epoch), used for points added
/// with time 0; 0 for NULL.
#[no_mangle]
pub extern "C" fn fm_producer_batch_collection_time(batch: *const fm_producer_batch) -> u64 {
    ffi_boundary! {
        // SAFETY: C contract: NULL or the live batch of the running callback.
        unsafe { fm_producer_batch::get(batch) }.map_or(0, |b| b.collection_time())
    }
}

/// Adds a gauge or sum point: `value` read as `value_type`
/// (`FM_NUMBER_*`), at `time_unix_nano` (the point's own time; 0 = the
/// collection time), with `start_time_unix_nano` for sums (0 = unknown).
/// Attributes are copied. Refused (with a diagnostic, nothing added):
/// `FM_STATUS_INVALID_NAME` / `_UNIT` / `_DESCRIPTION` for a bad metric
/// description, `FM_STATUS_INVALID_ATTRIBUTES` for unreadable attributes,
/// `FM_STATUS_INVALID_ARGUMENT` for duplicate label names, a duplicate
/// series (same name, labels and time), a name whose earlier points have
/// another shape or unit, a name used by an SDK instrument, a histogram
/// metric, or a negative / NaN counter value.
#[no_mangle]
pub extern "C" fn fm_producer_batch_add_number(
    batch: *mut fm_producer_batch,
    metric: *const fm_produced_metric,
    attrs: *const fm_attribute,
    attrs_len: usize,
    value_type: fm_number_type,
    value: fm_number_value,
    time_unix_nano: u64,
    start_time_unix_nano: u64,
) -> fm_status {
    ffi_status! {
        let b = batch_mut(batch)?;
        let m = metric_arg(metric)?;
        let a = attrs_arg(attrs, attrs_len)?;
        // SAFETY: the tag says which member the caller set; every member
        // is a plain 8-byte number, so any bit pattern is valid.
        let v = unsafe {
            match value_type {
                FM_NUMBER_U64 => Number::U64(value.u64),
                FM_NUMBER_I64 => Number::I64(value.i64),
                FM_NUMBER_F64 => Number::F64(value.f64),
                t => return Err(fail(fm_status::InvalidArgument, format_args!("unknown number type {t}"))),
            }
        };
        b.add_number_attrs(&m, a, v, time_unix_nano, start_time_unix_nano).map_err(core_err)
    }
}

/// Adds a histogram point: `bounds[0..bounds_len]` (finite, strictly
/// increasing) and per-bucket (not cumulative) `bucket_counts`, exactly
/// `bounds_len + 1` of them (the count is their sum), the `sum`, and `min`
/// / `max` (NaN for both when unknown). Times as in
/// `fm_producer_batch_add_number`. Refused (`FM_STATUS_INVALID_ARGUMENT`
/// and a diagnostic) for a non-histogram metric, bad bounds or counts, a
/// NaN sum, and the checks of `fm_producer_batch_add_number`.
#[no_mangle]
pub extern "C" fn fm_producer_batch_add_histogram(
    batch: *mut fm_producer_batch,
    metric: *const fm_produced_metric,
    attrs: *const fm_attribute,
    attrs_len: usize,
    bounds: *const f64,
    bounds_len: usize,
    bucket_counts: *const u64,
    bucket_counts_len: usize,
    sum: f64,
    min: f64,
    max: f64,
    time_unix_nano: u64,
    start_time_unix_nano: u64,
) -> fm_status {
    ffi_status! {
        let b = batch_mut(batch)?;
        let m = metric_arg(metric)?;
        let a = attrs_arg(attrs, attrs_len)?;
        let bounds = slice_arg(bounds, bounds_len, "bounds")?;
        let counts = slice_arg(bucket_counts, bucket_counts_len, "bucket_counts")?;
        let min_max = if min.is_nan() && max.is_nan() { None } else { Some((min, max)) };
        b.add_histogram_attrs(&m, a, bounds, counts, sum, min_max, time_unix_nano, start_time_unix_nano)
            .map_err(core_err)
    }
}

/// Adds a base2 exponential histogram point whose values `*value` holds
/// (borrowed for the call; the bucket counts are copied). Times as in
/// `fm_producer_batch_add_number`. Refused (`FM_STATUS_INVALID_ARGUMENT`
/// and a diagnostic, nothing added) for a NULL `value`, a NULL counts
/// pointer with a non-zero length, a metric that is not
/// `FM_PRODUCED_EXPONENTIAL_HISTOGRAM`, a scale outside -10..=20, a `count`
/// that is not `zero_count` plus the bucket counts, a sum that is not
/// finite, only one of min/max NaN or min > max, a negative or non-finite
/// zero threshold, bucket indices past INT32_MAX, and the checks of
/// `fm_producer_batch_add_number`.
#[no_mangle]
pub extern "C" fn fm_producer_batch_add_exponential_histogram(
    batch: *mut fm_producer_batch,
    metric: *const fm_produced_metric,
    attrs: *const fm_attribute,
    attrs_len: usize,
    value: *const fm_exponential_histogram_value,
    time_unix_nano: u64,
    start_time_unix_nano: u64,
) -> fm_status {
    ffi_status! {
        let b = batch_mut(batch)?;
        let m = metric_arg(metric)?;
        let a = attrs_arg(attrs, attrs_len)?;
        // SAFETY: C contract: NULL or a readable `fm_exponential_histogram_value`.
        let v = unsafe { value.as_ref() }
            .ok_or_else(|| fail(fm_status::InvalidArgument, "value is NULL"))?;
        let positive = slice_arg(v.positive_counts, v.positive_len, "positive_counts")?;
        let negative = slice_arg(v.negative_counts, v.negative_len, "negative_counts")?;
        let min_max = if v.min.is_nan() && v.max.is_nan() { None } else { Some((v.min, v.max)) };
        let value = ExponentialHistogramValue {
            scale: v.scale,
            count: v.count,
            sum: v.sum,
            min_max,
            zero_count: v.zero_count,
            zero_threshold: v.zero_threshold,
            positive_offset: v.positive_offset,
            positive_counts: positive,
            negative_offset: v.negative_offset,
            negative_counts: negative,
        };
        b.add_exponential_histogram_attrs(&m, a, &value, time_unix_nano, start_time_unix_nano)
            .map_err(core_err)
    }
}
