//! The meter provider and its builder.

use super::attributes::{attrs_arg, fm_attribute};
use super::handle::{arg, arg_mut, out_arg, str_arg, write_out, Handle};
use super::reader::fm_manual_reader;
use super::status::{core_err, fm_status};
use super::views::fm_view;
use crate::{KeyValue, ManualReader, MeterProvider, Resource, View};
use std::ffi::c_char;
use std::time::Duration;

/// Configures a provider before it is built. Owned by the caller (release
/// with `fm_provider_builder_release`); not thread-safe: use it from one
/// thread at a time.
pub struct fm_provider_builder {
    _private: [u8; 0],
}

/// The SDK entry point: owns meters, readers and configuration.
/// Owned by the caller (release with `fm_provider_release`).
/// Thread safety: every function taking a provider may be called from any
/// thread concurrently.
pub struct fm_provider {
    _private: [u8; 0],
}

/// Builder state (kept reusable: building does not consume it).
#[derive(Default)]
pub(crate) struct Builder {
    readers: Vec<ManualReader>,
    views: Vec<View>,
    resource: Vec<KeyValue>,
    empty_resource: bool,
    cardinality_limit: Option<usize>,
    evict_after: Option<u32>,
    default_histogram: Option<crate::aggregation::Aggregation>,
    collection_window: Option<Duration>,
    exemplar_filter: Option<crate::trace::ExemplarFilter>,
}

handle_types! {
    fm_provider_builder => Builder;
    fm_provider => MeterProvider;
}

/// Counts of measurements rejected (or redirected to the overflow series)
/// by a provider since it was built.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fm_rejected_counts {
    /// NaN values dropped.
    pub nan: u64,
    /// Infinite values dropped.
    pub infinite: u64,
    /// Negative values dropped from counters and histograms.
    pub negative: u64,
    /// Measurements after shutdown.
    pub after_shutdown: u64,
    /// Measurements that went to the overflow series (kept, not dropped).
    pub overflow: u64,
    /// Measurements with invalid attributes (NULL or empty key, bad UTF-8...).
    pub invalid_attributes: u64,
    /// Observable callbacks that panicked.
    pub callback_panics: u64,
    /// Points of evicted series owed to a delta reader that collects
    /// rarely, folded into that reader's `otel.metric.overflow=true` point
    /// because it was already owed as many points as the cardinality limit
    /// (kept in aggregate, not dropped; other readers are unaffected).
    pub lagging_reader: u64,
    /// Samples left out of the Prometheus endpoint's expositions: one
    /// sample per series per exposition (a later sample with the name and
    /// labels of an earlier one, such as a producer's series at two
    /// timestamps or the second of two instruments sharing a name, is
    /// dropped), metrics whose name a family of another type took, and
    /// exponential histogram points in the text formats (which cannot
    /// carry them; the protobuf exposition does).
    pub exposition_conflicts: u64,
    /// Increments dropped because the sum could not hold them: a u64
    /// counter's total that would pass its limit (at least 2^63 - 1; it
    /// never wraps), a double counter's total or a histogram's sum that
    /// would become infinite.
    pub sum_overflow: u64,
}

/// Creates a provider builder.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_provider_builder_release`. Returns `FM_STATUS_INVALID_ARGUMENT` when
/// `out` is NULL.
#[no_mangle]
pub extern "C" fn fm_provider_builder_new(out: *mut *mut fm_provider_builder) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        write_out(out, fm_provider_builder::into_raw(Builder::default()));
        Ok(())
    }
}

/// Releases a builder. NULL is fine. Must not be called twice.
#[no_mangle]
pub extern "C" fn fm_provider_builder_release(builder: *mut fm_provider_builder) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned builder released once.
        unsafe { fm_provider_builder::free(builder) }
    }
}

fn builder_mut<'a>(b: *mut fm_provider_builder) -> Result<&'a mut Builder, fm_status> {
    arg_mut(b, "builder")
}

/// Attaches a manual reader. The reader stays owned by the caller (the
/// provider keeps its own reference); collect through the caller's handle.
/// A reader can be attached to one provider only (building twice with the
/// same reader makes the second provider's build report nothing for it).
#[no_mangle]
pub extern "C" fn fm_provider_builder_add_reader(
    builder: *mut fm_provider_builder,
    reader: *const fm_manual_reader,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        let r = arg(reader, "reader")?;
        b.readers.push(r.clone());
        Ok(())
    }
}

/// Adds a view (copied: the caller keeps ownership of `view`).
#[no_mangle]
pub extern "C" fn fm_provider_builder_add_view(
    builder: *mut fm_provider_builder,
    view: *const fm_view,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        let v = arg(view, "view")?;
        b.views.push(v.clone());
        Ok(())
    }
}

/// Adds resource attributes (copied), on top of the SDK defaults and the
/// `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_SERVICE_NAME` environment.
/// Returns `FM_STATUS_INVALID_ATTRIBUTES` for unreadable attributes.
#[no_mangle]
pub extern "C" fn fm_provider_builder_add_resource_attributes(
    builder: *mut fm_provider_builder,
    attrs: *const fm_attribute,
    len: usize,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        let a = attrs_arg(attrs, len)?;
        b.resource.extend(super::attributes::to_set(a).iter().cloned());
        Ok(())
    }
}

/// Sets `service.name` (copied). Returns `FM_STATUS_INVALID_UTF8` for bad
/// UTF-8.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_service_name(
    builder: *mut fm_provider_builder,
    name: *const c_char,
    name_len: usize,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        let n = str_arg(name, name_len, "name")?;
        b.resource.push(KeyValue::new("service.name", n.to_owned()));
        Ok(())
    }
}

/// Uses a resource with only the attributes given with
/// `fm_provider_builder_add_resource_attributes` (no SDK defaults, no
/// environment). Useful for reproducible output in tests.
#[no_mangle]
pub extern "C" fn fm_provider_builder_use_empty_resource(
    builder: *mut fm_provider_builder,
) -> fm_status {
    ffi_status! {
        builder_mut(builder)?.empty_resource = true;
        Ok(())
    }
}

/// Sets the default cardinality limit of every stream (views may override
/// it): the most points a stream reports per collection, the
/// `otel.metric.overflow=true` series included, so `limit - 1` attribute
/// sets get their own series (a limit of 1 sends every measurement to the
/// overflow series). Default 2000. 0 is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_cardinality_limit(
    builder: *mut fm_provider_builder,
    limit: usize,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        if limit == 0 {
            return Err(super::status::fail(fm_status::InvalidArgument, "cardinality limit must be at least 1"));
        }
        b.cardinality_limit = Some(limit);
        Ok(())
    }
}

/// Evicts series unchanged for `cycles` collections when every reader is
/// delta (0 disables eviction; default 10). Nothing is lost: a bound
/// series is never evicted, and a measurement that races the eviction is
/// delivered. A delta reader that has not collected an evicted series'
/// last change gets it at its next collection; it is owed at most the
/// cardinality limit's number of points per stream, further ones folded
/// into its `otel.metric.overflow=true` point and counted in
/// `fm_rejected_counts.lagging_reader`.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_delta_eviction_after(
    builder: *mut fm_provider_builder,
    cycles: u32,
) -> fm_status {
    ffi_status! {
        builder_mut(builder)?.evict_after = Some(cycles);
        Ok(())
    }
}

/// Sets the collection window in milliseconds (default 100; 0 disables
/// it). A reader that collects within the window after a collection cycle
/// that included it, and has not collected from that cycle yet, is served
/// from that cycle's reading: no walk of the series, no observable
/// callbacks (a scrape right after the periodic push costs its encoding
/// only). Its points carry that cycle's time, still strictly later than
/// its own previous collection's (a reader for which they would not be
/// walks anew). Flushes and the final collection at shutdown always read
/// anew. Why 100 ms: well above the time readers collecting one after
/// another take (milliseconds at 100k series), well below the intervals
/// metrics are read at (a 1 s scrape sees data at most a tenth of its
/// interval old, stamped with the time it was read). Memory: the reading
/// is kept only while a reader that shared the cycle has not collected
/// from it and the window has not passed (dropped by the last such
/// reader's collection, a newer cycle, or the first collection after the
/// window); at most one cycle's reading is kept.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_collection_window(
    builder: *mut fm_provider_builder,
    window_ms: u64,
) -> fm_status {
    ffi_status! {
        builder_mut(builder)?.collection_window = Some(Duration::from_millis(window_ms));
        Ok(())
    }
}

/// Histograms that no view configures use explicit buckets (the
/// default). See `fm_provider_builder_set_default_histogram_aggregation`.
pub const FM_HISTOGRAM_AGGREGATION_EXPLICIT: u32 = 0;
/// Histograms that no view configures use base2 exponential buckets with
/// the specification's defaults (160 buckets per sign, scale at most 20).
pub const FM_HISTOGRAM_AGGREGATION_BASE2_EXPONENTIAL: u32 = 1;

/// Chooses the aggregation of every histogram that no view configures
/// (`FM_HISTOGRAM_AGGREGATION_*`). Unset, the environment variable
/// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` decides
/// (`explicit_bucket_histogram` or `base2_exponential_bucket_histogram`).
/// An unknown value is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_default_histogram_aggregation(
    builder: *mut fm_provider_builder,
    aggregation: u32,
) -> fm_status {
    ffi_status! {
        let b = builder_mut(builder)?;
        b.default_histogram = Some(match aggregation {
            FM_HISTOGRAM_AGGREGATION_EXPLICIT => crate::aggregation::Aggregation::default_histogram(),
            FM_HISTOGRAM_AGGREGATION_BASE2_EXPONENTIAL => {
                crate::aggregation::Aggregation::base2_exponential_histogram()
            }
            a => {
                return Err(super::status::fail(
                    fm_status::InvalidArgument,
                    format_args!("unknown histogram aggregation {a}"),
                ))
            }
        });
        Ok(())
    }
}

/// Chooses which measurements may become exemplars
/// (`FM_EXEMPLAR_FILTER_*`). Unset, the environment variable
/// `OTEL_METRICS_EXEMPLAR_FILTER` decides (`always_on`, `always_off`,
/// `trace_based`), and without it `FM_EXEMPLAR_FILTER_TRACE_BASED`. An
/// unknown value is `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_provider_builder_set_exemplar_filter(
    builder: *mut fm_provider_builder,
    filter: u32,
) -> fm_status {
    ffi_status! {
        let f = super::trace::exemplar_filter(filter)?;
        builder_mut(builder)?.exemplar_filter = Some(f);
        Ok(())
    }
}

/// Builds a provider from the builder's configuration. The builder is not
/// consumed (release it separately).
/// Ownership: `*out` is owned by the caller; release with
/// `fm_provider_release`.
#[no_mangle]
pub extern "C" fn fm_provider_builder_build(
    builder: *const fm_provider_builder,
    out: *mut *mut fm_provider,
) -> fm_status {
    ffi_status! {
        let b = arg(builder, "builder")?;
        out_arg(out, "out")?;
        let mut pb = MeterProvider::builder();
        let resource = if b.empty_resource {
            Resource::new(b.resource.clone())
        } else {
            Resource::builder().with_attributes(b.resource.clone()).build()
        };
        pb = pb.with_resource(resource);
        for r in &b.readers {
            pb = pb.with_reader(r.clone());
        }
        for v in &b.views {
            pb = pb.with_view(v.clone());
        }
        if let Some(n) = b.cardinality_limit {
            pb = pb.with_cardinality_limit(n);
        }
        if let Some(n) = b.evict_after {
            pb = pb.with_delta_eviction_after(n);
        }
        if let Some(a) = &b.default_histogram {
            pb = pb.with_default_histogram_aggregation(a.clone());
        }
        if let Some(w) = b.collection_window {
            pb = pb.with_collection_window(w);
        }
        if let Some(f) = b.exemplar_filter {
            pb = pb.with_exemplar_filter(f);
        }
        write_out(out, fm_provider::into_raw(pb.build()));
        Ok(())
    }
}

/// Creates a provider with default configuration and, when `reader` is not
/// NULL, that manual reader attached (the caller keeps owning the reader).
/// Ownership: `*out` is owned by the caller; release with
/// `fm_provider_release`.
#[no_mangle]
pub extern "C" fn fm_provider_new(
    reader: *const fm_manual_reader,
    out: *mut *mut fm_provider,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let mut pb = MeterProvider::builder();
        // SAFETY: C contract: `reader` is NULL or a live reader.
        if let Some(r) = unsafe { fm_manual_reader::get(reader) } {
            pb = pb.with_reader(r.clone());
        }
        write_out(out, fm_provider::into_raw(pb.build()));
        Ok(())
    }
}

/// Attaches a manual reader to a built provider (the caller keeps owning
/// the reader). Returns `FM_STATUS_SHUTDOWN` after shutdown and
/// `FM_STATUS_READER_ALREADY_REGISTERED` when the reader already belongs
/// to a live provider.
#[no_mangle]
pub extern "C" fn fm_provider_add_reader(
    provider: *const fm_provider,
    reader: *const fm_manual_reader,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let r = arg(reader, "reader")?;
        p.add_reader(r.clone()).map_err(core_err)
    }
}

/// Adds a view to a built provider (copied: the caller keeps ownership of
/// `view`), after the builder's views and those added before it.
///
/// Views apply when an instrument is created (the OpenTelemetry
/// specification's rule): this one shapes the instruments created after
/// this call returns. Instruments that already exist keep their streams,
/// and creating one of them again (same name, kind, unit, description and
/// advice) returns a handle to that existing instrument, unchanged. An
/// instrument created on another thread during this call gets the view or
/// not, never a part of it. Thread safety: any thread, concurrently with
/// instrument creation, recording and collection (none of them waits for
/// it). Returns `FM_STATUS_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub extern "C" fn fm_provider_add_view(
    provider: *const fm_provider,
    view: *const fm_view,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let v = arg(view, "view")?;
        p.add_view(v.clone());
        Ok(())
    }
}

/// Releases the caller's provider handle. NULL is fine; must not be called
/// twice. Releasing the last handle shuts the provider down as
/// `fm_provider_shutdown` with a 5000 ms deadline does (final collection
/// and export of every periodic reader included), whatever meter,
/// instrument, observable, callback or reader handles are still alive:
/// those stay safe to use, as after an explicit shutdown (measurements are
/// counted as after-shutdown, collections return `FM_STATUS_SHUTDOWN`).
/// Call `fm_provider_shutdown_report` first to choose the deadline and see
/// what was not delivered. Must not be called from an observable callback.
#[no_mangle]
pub extern "C" fn fm_provider_release(provider: *mut fm_provider) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned provider released once.
        unsafe { fm_provider::free(provider) }
    }
}

/// Stops recording, lets every reader do its final collection and export
/// within `timeout_ms` milliseconds, shuts the exporters down, then
/// refuses collections. Idempotent: later calls return OK.
/// Returns `FM_STATUS_FAILED` when an export failed or was refused,
/// `FM_STATUS_TIMEOUT` when the deadline passed first;
/// `fm_provider_shutdown_report` also tells how many data points were not
/// delivered.
/// Thread safety: any thread. Must not be called from an observable callback.
#[no_mangle]
pub extern "C" fn fm_provider_shutdown(provider: *const fm_provider, timeout_ms: u64) -> fm_status {
    fm_provider_shutdown_report(provider, timeout_ms, std::ptr::null_mut())
}

/// `fm_provider_shutdown`, also writing to `*undelivered_points` (when not
/// NULL) how many data points did not reach their destinations, summed
/// over the readers. Unlike other outputs, `*undelivered_points` is
/// written on every return, failures included (0 when nothing is known to
/// be lost): it describes the failure.
#[no_mangle]
pub extern "C" fn fm_provider_shutdown_report(
    provider: *const fm_provider,
    timeout_ms: u64,
    undelivered_points: *mut u64,
) -> fm_status {
    report(undelivered_points, || {
        let p = arg(provider, "provider")?;
        Ok(p.shutdown_with_timeout(Duration::from_millis(timeout_ms)))
    })
}

/// Asks every reader to collect and export now, within `timeout_ms`.
/// Returns `FM_STATUS_SHUTDOWN` after shutdown, `FM_STATUS_FAILED` when an
/// export failed or was refused, `FM_STATUS_TIMEOUT` when the deadline
/// passed first; `fm_provider_force_flush_report` also tells how many data
/// points were not delivered.
#[no_mangle]
pub extern "C" fn fm_provider_force_flush(
    provider: *const fm_provider,
    timeout_ms: u64,
) -> fm_status {
    fm_provider_force_flush_report(provider, timeout_ms, std::ptr::null_mut())
}

/// `fm_provider_force_flush`, also writing to `*undelivered_points` (when
/// not NULL, on every return) how many data points did not reach their
/// destinations, as `fm_provider_shutdown_report` does.
#[no_mangle]
pub extern "C" fn fm_provider_force_flush_report(
    provider: *const fm_provider,
    timeout_ms: u64,
    undelivered_points: *mut u64,
) -> fm_status {
    report(undelivered_points, || {
        let p = arg(provider, "provider")?;
        Ok(p.force_flush(Duration::from_millis(timeout_ms)))
    })
}

/// Runs a flush or shutdown, writing its undelivered count to `out` (when
/// not NULL) whatever the outcome.
fn report(out: *mut u64, f: impl FnOnce() -> Result<crate::Result<()>, fm_status>) -> fm_status {
    let mut points = 0;
    let status = ffi_status! {
        let res = f()?;
        points = res.as_ref().err().and_then(crate::Error::undelivered_points).unwrap_or(0);
        res.map_err(core_err)
    };
    if !out.is_null() {
        // SAFETY: C contract: `out` is NULL or points to a writable u64.
        unsafe { out.write(points) };
    }
    status
}

/// True once shutdown has started (false for NULL).
#[no_mangle]
pub extern "C" fn fm_provider_is_shutdown(provider: *const fm_provider) -> bool {
    ffi_boundary! {
        // SAFETY: C contract: NULL or a live provider.
        unsafe { fm_provider::get(provider) }.is_some_and(|p| p.is_shutdown())
    }
}

/// Writes the provider's rejected-measurement counters to `*out`.
#[no_mangle]
pub extern "C" fn fm_provider_rejected(
    provider: *const fm_provider,
    out: *mut fm_rejected_counts,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        out_arg(out, "out")?;
        let c = p.rejected();
        write_out(out, fm_rejected_counts {
            nan: c.nan,
            infinite: c.infinite,
            negative: c.negative,
            after_shutdown: c.after_shutdown,
            overflow: c.overflow,
            invalid_attributes: c.invalid_attributes,
            callback_panics: c.callback_panics,
            lagging_reader: c.lagging_reader,
            exposition_conflicts: c.exposition_conflicts,
            sum_overflow: c.sum_overflow,
        });
        Ok(())
    }
}
