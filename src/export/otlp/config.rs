//! OTLP/HTTP exporter configuration: defaults, the `OTEL_EXPORTER_OTLP_*`
//! environment variables, and the precedence between them.
//!
//! Precedence, highest first: values set in code, the metrics-specific
//! variable (`OTEL_EXPORTER_OTLP_METRICS_*`), the generic one
//! (`OTEL_EXPORTER_OTLP_*`), the default. Invalid values are ignored with a
//! warning through the diagnostics handler, as the specification asks.

use crate::diagnostics::diag_warn;
use crate::export::pipeline::RetryPolicy;
use crate::temporality::TemporalityPreference;
use std::path::PathBuf;
use std::time::Duration;

/// Default endpoint (OTLP/HTTP on the local collector).
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/metrics";
/// Default per-request timeout (the specification's 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Body compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip`).
    Gzip,
}

impl Compression {
    /// Parses `gzip` or `none` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" | "" => Some(Compression::None),
            _ => None,
        }
    }
}

/// Wire encoding of the request body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: `Content-Type: application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: `Content-Type: application/json` (OTLP/JSON encoding).
    HttpJson,
    /// `grpc`: OTLP/gRPC, `MetricsService/Export` (only in builds with the
    /// cargo feature `otlp-grpc`, CMake option `FERROMETER_OTLP_GRPC`;
    /// other builds refuse it with `Error::Unsupported`).
    Grpc,
}

impl Protocol {
    /// Parses `http/protobuf`, `http/json` or `grpc`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }

    /// The request's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
            Protocol::Grpc => "application/grpc",
        }
    }
}

/// The resolved configuration of an [`OtlpHttpExporter`](super::OtlpHttpExporter).
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpHttpConfig {
    /// Full URL requests are posted to (`.../v1/metrics`).
    pub endpoint: String,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Timeout of one HTTP request (also bounded by the export deadline).
    pub timeout: Duration,
    /// Body compression.
    pub compression: Compression,
    /// Body encoding.
    pub protocol: Protocol,
    /// Temporality the exporter asks its reader for.
    pub temporality: TemporalityPreference,
    /// PEM file of trusted CA certificates for `https` (instead of the
    /// system roots).
    pub certificate: Option<PathBuf>,
    /// PEM client certificate chain for mTLS (with `client_key`).
    pub client_certificate: Option<PathBuf>,
    /// PEM client private key for mTLS (with `client_certificate`).
    pub client_key: Option<PathBuf>,
    /// Retries.
    pub retry: RetryPolicy,
    /// OTLP/gRPC only, and only for an endpoint without a scheme
    /// (`collector:4317`): `true` speaks plain HTTP/2 (h2c), `false` (the
    /// default) TLS. An `http://` or `https://` endpoint decides by its
    /// scheme and this is ignored; OTLP/HTTP always uses the scheme.
    /// `OTEL_EXPORTER_OTLP_INSECURE` / `OTEL_EXPORTER_OTLP_METRICS_INSECURE`.
    pub insecure: bool,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            compression: Compression::None,
            protocol: Protocol::HttpProtobuf,
            temporality: TemporalityPreference::Cumulative,
            certificate: None,
            client_certificate: None,
            client_key: None,
            retry: RetryPolicy::default(),
            insecure: false,
        }
    }
}

impl OtlpHttpConfig {
    /// Defaults overridden by the process environment.
    pub fn from_env() -> Self {
        Self::from_env_lookup(|k| std::env::var(k).ok())
    }

    /// Defaults overridden by the variables `lookup` returns (so tests need
    /// not touch the process environment).
    pub fn from_env_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut c = OtlpHttpConfig::default();
        c.apply_env(&lookup);
        c
    }

    /// Overrides fields with the variables `lookup` returns.
    pub(crate) fn apply_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        // An empty variable counts as unset, as in the other SDKs.
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let pick = |suffix: &str| -> Option<(String, String)> {
            let specific = format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}");
            if let Some(v) = get(&specific) {
                return Some((specific, v));
            }
            let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
            get(&generic).map(|v| (generic, v))
        };

        if let Some(v) = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            self.endpoint = v.trim().to_owned();
        } else if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.endpoint = signal_url(v.trim());
        }
        if let Some((var, v)) = pick("HEADERS") {
            match parse_headers(&v) {
                Ok(h) => self.headers = h,
                Err(e) => diag_warn!("{var}: {e}; ignored"),
            }
        }
        if let Some((var, v)) = pick("TIMEOUT") {
            match v.trim().parse::<u64>() {
                Ok(ms) => self.timeout = Duration::from_millis(ms),
                Err(_) => diag_warn!("{var}={v:?} is not a number of milliseconds; ignored"),
            }
        }
        if let Some((var, v)) = pick("COMPRESSION") {
            match Compression::parse(&v) {
                Some(c) => self.compression = c,
                None => diag_warn!("{var}={v:?}: expected gzip or none; ignored"),
            }
        }
        if let Some((var, v)) = pick("PROTOCOL") {
            match Protocol::parse(&v) {
                Some(p) => self.protocol = p,
                None => diag_warn!(
                    "{var}={v:?}: expected http/protobuf, http/json or grpc; using {}",
                    match self.protocol {
                        Protocol::HttpProtobuf => "http/protobuf",
                        Protocol::HttpJson => "http/json",
                        Protocol::Grpc => "grpc",
                    }
                ),
            }
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
            match TemporalityPreference::parse(&v) {
                Some(t) => self.temporality = t,
                None => diag_warn!(
                    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE={v:?}: expected \
                     cumulative, delta or lowmemory; ignored"
                ),
            }
        }
        if let Some((_, v)) = pick("CERTIFICATE") {
            self.certificate = Some(PathBuf::from(v.trim()));
        }
        if let Some((_, v)) = pick("CLIENT_CERTIFICATE") {
            self.client_certificate = Some(PathBuf::from(v.trim()));
        }
        if let Some((_, v)) = pick("CLIENT_KEY") {
            self.client_key = Some(PathBuf::from(v.trim()));
        }
        if let Some((var, v)) = pick("INSECURE") {
            // The specification's booleans: `true` (any case) is true,
            // anything else false, with a warning unless it is `false`.
            self.insecure = match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    diag_warn!("{var}={v:?}: expected true or false; using false");
                    false
                }
            };
        }
    }
}

/// The metrics URL for a base endpoint: `{base}/v1/metrics`, without a
/// doubled slash.
pub fn signal_url(base: &str) -> String {
    format!("{}/v1/metrics", base.trim_end_matches('/'))
}

/// Parses `k1=v1,k2=v2` (W3C baggage-like, keys and values
/// percent-decoded, surrounding spaces trimmed). An entry without `=` or
/// with an empty key makes the whole value invalid.
pub fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("entry {part:?} has no '='"))?;
        let k = percent_decode(k.trim()).ok_or_else(|| format!("bad percent-encoding in {k:?}"))?;
        let v = percent_decode(v.trim()).ok_or_else(|| format!("bad percent-encoding in {v:?}"))?;
        let k = k.trim().to_owned();
        if k.is_empty() {
            return Err(format!("entry {part:?} has an empty key"));
        }
        out.push((k, v.trim().to_owned()));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = OtlpHttpConfig::from_env_lookup(|_| None);
        assert_eq!(c, OtlpHttpConfig::default());
        assert_eq!(c.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(c.timeout, Duration::from_secs(10));
    }

    #[test]
    fn generic_endpoint_gets_the_signal_path() {
        for (base, want) in [
            ("http://c:4318", "http://c:4318/v1/metrics"),
            ("http://c:4318/", "http://c:4318/v1/metrics"),
            ("https://c/otlp", "https://c/otlp/v1/metrics"),
        ] {
            let c = OtlpHttpConfig::from_env_lookup(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)]));
            assert_eq!(c.endpoint, want);
        }
    }

    #[test]
    fn metrics_specific_wins_and_is_used_as_is() {
        let c = OtlpHttpConfig::from_env_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/m.pem"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "LowMemory",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ]));
        assert_eq!(c.endpoint, "http://m:9/custom");
        assert_eq!(c.headers, vec![("b".to_owned(), "2".to_owned())]);
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.certificate, Some(PathBuf::from("/m.pem")));
        assert_eq!(c.temporality, TemporalityPreference::LowMemory);
        assert_eq!(c.protocol, Protocol::HttpJson);
    }

    #[test]
    fn generic_values_apply_when_no_specific_one() {
        let c = OtlpHttpConfig::from_env_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=se%3Dcret , x=a%2Cb"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "750"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
        ]));
        assert_eq!(
            c.headers,
            vec![
                ("api-key".to_owned(), "se=cret".to_owned()),
                ("x".to_owned(), "a,b".to_owned())
            ]
        );
        assert_eq!(c.timeout, Duration::from_millis(750));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.certificate, Some(PathBuf::from("/ca.pem")));
        assert_eq!(c.temporality, TemporalityPreference::Delta);
    }

    #[test]
    fn invalid_values_are_ignored() {
        let c = OtlpHttpConfig::from_env_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "  "),
        ]));
        assert_eq!(c, OtlpHttpConfig::default());
    }

    #[test]
    fn insecure_is_a_boolean_and_the_specific_variable_wins() {
        for (generic, specific, want) in [
            (Some("true"), None, true),
            (Some(" TRUE "), None, true),
            (Some("false"), None, false),
            (Some("true"), Some("false"), false),
            (Some("false"), Some("True"), true),
            // Not a boolean: false (the default), with a warning.
            (Some("yes"), None, false),
            (Some("1"), None, false),
            (None, Some("true"), true),
            (None, None, false),
        ] {
            let mut pairs = Vec::new();
            if let Some(g) = generic {
                pairs.push(("OTEL_EXPORTER_OTLP_INSECURE", g));
            }
            if let Some(s) = specific {
                pairs.push(("OTEL_EXPORTER_OTLP_METRICS_INSECURE", s));
            }
            let c = OtlpHttpConfig::from_env_lookup(env(&pairs));
            assert_eq!(c.insecure, want, "{pairs:?}");
        }
    }

    #[test]
    fn grpc_protocol_is_parsed() {
        let c = OtlpHttpConfig::from_env_lookup(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", " GRPC ")]));
        assert_eq!(c.protocol, Protocol::Grpc);
        let c = OtlpHttpConfig::from_env_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ]));
        assert_eq!(c.protocol, Protocol::HttpJson);
    }
}
