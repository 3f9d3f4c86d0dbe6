//! `OTEL_METRICS_EXPORTER`: exporters chosen by the environment.
//!
//! The variable is a comma-separated list of `otlp` (the specification's
//! default when the variable is unset), `prometheus`, `console` and `none`.
//! `otlp` and `console` attach a [`PeriodicReader`] (interval and timeout from
//! `OTEL_METRIC_EXPORT_INTERVAL` / `OTEL_METRIC_EXPORT_TIMEOUT`; the OTLP
//! exporter reads the `OTEL_EXPORTER_OTLP_*` variables); `prometheus` starts
//! a pull endpoint on `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`
//! (default `localhost:9464`).

use crate::diagnostics::diag_warn;
use crate::error::{Error, Result};
use crate::export::console::ConsoleExporter;
use crate::export::otlp::OtlpHttpExporter;
use crate::provider::MeterProvider;
use crate::readers::{PeriodicReader, PrometheusServer, PrometheusServerOptions};

/// One exporter named by `OTEL_METRICS_EXPORTER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvExporter {
    /// OTLP/HTTP through a periodic reader.
    Otlp,
    /// A Prometheus pull endpoint.
    Prometheus,
    /// The console exporter through a periodic reader.
    Console,
}

/// Parses `OTEL_METRICS_EXPORTER` (unset: `otlp`; `none`: nothing). Unknown
/// names are skipped with a warning; duplicates count once.
pub fn parse_metrics_exporter(value: Option<&str>) -> Vec<EnvExporter> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return vec![EnvExporter::Otlp];
    };
    let mut out = Vec::new();
    for name in v.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        let e = match name.as_str() {
            "otlp" => EnvExporter::Otlp,
            "prometheus" => EnvExporter::Prometheus,
            "console" | "logging" => EnvExporter::Console,
            "none" => continue,
            "" => continue,
            other => {
                diag_warn!("OTEL_METRICS_EXPORTER: unknown exporter {other:?} ignored (known: otlp, prometheus, console, none)");
                continue;
            }
        };
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if v.split(',').any(|s| s.trim().eq_ignore_ascii_case("none")) && !out.is_empty() {
        diag_warn!("OTEL_METRICS_EXPORTER: 'none' combined with other exporters; using the others");
    }
    out
}

/// What [`attach_env_exporters`] started. Keep it alive as long as the
/// exporters should run: dropping it stops the Prometheus endpoint (push
/// readers belong to the provider and stop with it).
#[derive(Debug, Default)]
pub struct EnvExporters {
    /// The exporters attached, in order.
    pub attached: Vec<EnvExporter>,
    /// The Prometheus endpoint, when `prometheus` was asked for.
    pub prometheus: Option<PrometheusServer>,
}

/// Attaches the exporters `OTEL_METRICS_EXPORTER` names to `provider`.
/// With `skip_prometheus`, a `prometheus` entry is ignored (for hosts that
/// run their own endpoint). Errors: an exporter that cannot be built (bad
/// OTLP endpoint, Prometheus port in use) — nothing is attached then.
pub fn attach_env_exporters(
    provider: &MeterProvider,
    skip_prometheus: bool,
) -> Result<EnvExporters> {
    attach_with_env(provider, skip_prometheus, |k| std::env::var(k).ok())
}

pub(crate) fn attach_with_env(
    provider: &MeterProvider,
    skip_prometheus: bool,
    env: impl Fn(&str) -> Option<String> + Clone + 'static,
) -> Result<EnvExporters> {
    let wanted = parse_metrics_exporter(env("OTEL_METRICS_EXPORTER").as_deref());
    // Build everything first so that a failure attaches nothing.
    let mut readers = Vec::new();
    let mut prometheus_addr = None;
    let mut attached = Vec::new();
    for e in wanted {
        match e {
            EnvExporter::Otlp => {
                let env2 = env.clone();
                // Behind the export pipeline: bounded queue, retries on its
                // own thread, self-metrics (registered on attach). OTLP/gRPC
                // when OTEL_EXPORTER_OTLP_PROTOCOL=grpc (Unsupported in a
                // build without it).
                let config = OtlpHttpExporter::builder()
                    .with_env_lookup(move |k| env2(k))
                    .config();
                let exp = crate::export::otlp::otlp_pipeline(config)?.build()?;
                readers.push(PeriodicReader::builder(exp).build_with_env(env.clone()));
            }
            EnvExporter::Console => {
                readers.push(
                    PeriodicReader::builder(ConsoleExporter::stdout()).build_with_env(env.clone()),
                );
            }
            EnvExporter::Prometheus if skip_prometheus => continue,
            EnvExporter::Prometheus => {
                let host = env("OTEL_EXPORTER_PROMETHEUS_HOST")
                    .filter(|h| !h.trim().is_empty())
                    .unwrap_or_else(|| "localhost".into());
                let port = match env("OTEL_EXPORTER_PROMETHEUS_PORT") {
                    None => 9464,
                    Some(p) => p.trim().parse::<u16>().map_err(|_| {
                        Error::InvalidArgument(format!(
                            "OTEL_EXPORTER_PROMETHEUS_PORT={p:?} is not a port number"
                        ))
                    })?,
                };
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                prometheus_addr = Some(format!("{host}:{port}"));
            }
        }
        attached.push(e);
    }
    let prometheus = match prometheus_addr {
        Some(addr) => Some(PrometheusServer::start(
            provider,
            &addr,
            PrometheusServerOptions::default(),
        )?),
        None => None,
    };
    for r in readers {
        provider.add_reader(r)?;
    }
    Ok(EnvExporters {
        attached,
        prometheus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualReader;

    #[test]
    fn parsing() {
        use EnvExporter::*;
        crate::diagnostics::set_silent();
        assert_eq!(parse_metrics_exporter(None), vec![Otlp]);
        assert_eq!(parse_metrics_exporter(Some("  ")), vec![Otlp]);
        assert_eq!(parse_metrics_exporter(Some("none")), vec![]);
        assert_eq!(
            parse_metrics_exporter(Some("prometheus, OTLP,console,otlp")),
            vec![Prometheus, Otlp, Console]
        );
        assert_eq!(parse_metrics_exporter(Some("bogus,console")), vec![Console]);
    }

    #[test]
    fn prometheus_from_env_serves_and_skip_works() {
        crate::diagnostics::set_silent();
        let p = MeterProvider::builder()
            .with_reader(ManualReader::default())
            .build();
        p.meter("m")
            .u64_counter("env.c")
            .build()
            .unwrap()
            .add(3, &[]);
        let env = |k: &str| match k {
            "OTEL_METRICS_EXPORTER" => Some("prometheus,none".to_string()),
            "OTEL_EXPORTER_PROMETHEUS_HOST" => Some("127.0.0.1".to_string()),
            "OTEL_EXPORTER_PROMETHEUS_PORT" => Some("0".to_string()),
            _ => None,
        };
        let started = attach_with_env(&p, false, env).unwrap();
        assert_eq!(started.attached, vec![EnvExporter::Prometheus]);
        let server = started.prometheus.as_ref().unwrap();
        let text = String::from_utf8(
            server
                .render(crate::export::prometheus::Format::Text)
                .unwrap(),
        )
        .unwrap();
        assert!(text.contains("env_c_total"), "{text}");
        let skipped = attach_with_env(&p, true, env).unwrap();
        assert!(skipped.prometheus.is_none() && skipped.attached.is_empty());
        let bad = attach_with_env(&p, false, |k: &str| match k {
            "OTEL_METRICS_EXPORTER" => Some("prometheus".to_string()),
            "OTEL_EXPORTER_PROMETHEUS_PORT" => Some("http".to_string()),
            _ => None,
        });
        assert!(matches!(bad, Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn otlp_and_console_attach_periodic_readers() {
        crate::diagnostics::set_silent();
        let p = MeterProvider::builder().build();
        let env = |k: &str| match k {
            "OTEL_METRICS_EXPORTER" => Some("otlp,console".to_string()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:9".to_string()),
            "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".to_string()),
            _ => None,
        };
        let started = attach_with_env(&p, false, env).unwrap();
        assert_eq!(
            started.attached,
            vec![EnvExporter::Otlp, EnvExporter::Console]
        );
        assert!(started.prometheus.is_none());
    }
}
