//! Attaching exporters to a provider: a periodic reader around an
//! exporter, or the exporters the `OTEL_*` environment names.

use super::exporter::fm_exporter;
use crate::ffi::handle::{arg, write_out, Handle};
use crate::ffi::prometheus::fm_prometheus_server;
use crate::ffi::provider::fm_provider;
use crate::ffi::status::{core_err, fm_status};
use std::time::Duration;

/// Attaches a periodic reader to `provider`: every `interval_ms`
/// milliseconds a background thread collects (with the exporter's
/// temporality) and exports through `exporter` with a deadline of
/// `timeout_ms`. 0 for either means the default (`OTEL_METRIC_EXPORT_INTERVAL`
/// / `OTEL_METRIC_EXPORT_TIMEOUT`, else 60 s / 30 s). The reader keeps its own
/// reference to the exporter; `fm_provider_force_flush` exports now and
/// `fm_provider_shutdown` does a last export, then shuts the exporter down.
/// Every export runs on the reader's thread: flush and shutdown wait for
/// theirs until their own timeout (plus at most 100 ms), then return
/// `FM_STATUS_TIMEOUT` with the points still being exported counted in the
/// message as not delivered, while that export finishes in the background;
/// `FM_STATUS_FAILED` when points were refused or dropped.
/// A pipeline exporter's self-metrics (unless turned off in its
/// `fm_pipeline_options`) are registered with `provider` here.
/// Errors: INVALID_ARGUMENT for NULL, SHUTDOWN after provider shutdown.
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_provider_add_periodic_reader(
    provider: *const fm_provider,
    exporter: *const fm_exporter,
    interval_ms: u64,
    timeout_ms: u64,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let e = arg(exporter, "exporter")?;
        let mut b = crate::readers::PeriodicReader::builder(e.clone());
        if interval_ms > 0 {
            b = b.with_interval(Duration::from_millis(interval_ms));
        }
        if timeout_ms > 0 {
            b = b.with_timeout(Duration::from_millis(timeout_ms));
        }
        // Attaching registers a pipeline's self-metrics (PeriodicReader::on_attach).
        p.add_reader(b.build()).map_err(core_err)
    }
}

/// Attaches the exporters named by `OTEL_METRICS_EXPORTER` (comma
/// separated: `otlp` — the default when unset —, `prometheus`, `console`,
/// `none`) to `provider`. `otlp` and `console` become periodic readers
/// (`OTEL_METRIC_EXPORT_INTERVAL`/`_TIMEOUT`; the OTLP exporter reads the
/// `OTEL_EXPORTER_OTLP_*` variables). `prometheus` starts an endpoint on
/// `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`
/// (default localhost:9464) whose handle is written to `*out_server`
/// (owned by the caller: `fm_prometheus_server_release`); `*out_server` is
/// set to NULL when no endpoint was started. With `skip_prometheus`, or
/// when `out_server` is NULL, a `prometheus` entry is ignored.
/// Nothing is attached on error (INVALID_ARGUMENT for a bad variable,
/// FAILED when a port is in use). Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_provider_attach_env_exporters(
    provider: *const fm_provider,
    skip_prometheus: bool,
    out_server: *mut *mut fm_prometheus_server,
) -> fm_status {
    ffi_status! {
        let p = arg(provider, "provider")?;
        let skip = skip_prometheus || out_server.is_null();
        let started = crate::export::env::attach_env_exporters(p, skip).map_err(core_err)?;
        if !out_server.is_null() {
            let h = match started.prometheus {
                Some(s) => fm_prometheus_server::into_raw(s),
                None => std::ptr::null_mut(),
            };
            write_out(out_server, h);
        }
        Ok(())
    }
}
