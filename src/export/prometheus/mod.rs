//! Prometheus exposition: the OpenTelemetry → Prometheus translation
//! ([`names`]), the text 0.0.4 and OpenMetrics 1.0 encoders, the protobuf
//! exposition ([`protobuf`], delimited `io.prometheus.client.MetricFamily`
//! messages, the only one with native histograms). The pull endpoint
//! that serves them ([`PrometheusServer`]) is a reader, in
//! `src/readers/prometheus.rs`.
//!
//! Name collisions: metrics whose translated names are equal are merged
//! into one family when their Prometheus types agree (first non-empty
//! description is the HELP); otherwise the later metric is dropped, as is
//! a metric whose sample names (`x_total`, `x_bucket`...) clash with
//! another family's; a series whose labels repeat an earlier series of the
//! same family is dropped. Each drop is reported once through the
//! diagnostics handler. Delta sums and histograms are not exported.
//!
//! Exponential histograms are exposed as native histograms by the protobuf
//! exposition only (schema = scale capped at 8 by downscaling; points of a
//! scale below -4 are left out). The text formats have no native
//! histograms and leave exponential histograms out entirely (no classic
//! bucket approximation); every point left out is counted with the
//! conflicts (the provider's `exposition_conflicts` rejection counter,
//! through the endpoint) and warned about once per metric.
//!
//! Exemplars go out in OpenMetrics (on counters' `_total` and histograms'
//! `_bucket` lines) and in the protobuf exposition (counters, classic
//! buckets, native histograms), never in text 0.0.4; the rules are in the
//! encoder's and [`protobuf`]'s documentation.
//!
//! ```
//! use ferrometer::export::prometheus::{encode_text, encode_openmetrics};
//! use ferrometer::{ManualReader, MeterProvider, Resource, TemporalityPreference};
//! let reader = ManualReader::new(TemporalityPreference::Cumulative);
//! let provider = MeterProvider::builder()
//!     .with_resource(Resource::empty())
//!     .with_reader(reader.clone())
//!     .build();
//! let c = provider.meter("game").u64_counter("players.joined").build().unwrap();
//! c.add(3, &[]);
//! let snapshot = reader.collect().unwrap();
//! let mut text = Vec::new();
//! encode_text(&snapshot, &mut text);
//! let text = String::from_utf8(text).unwrap();
//! assert!(text.contains("players_joined_total{otel_scope_name=\"game\"} 3\n"));
//! let mut om = Vec::new();
//! encode_openmetrics(&snapshot, &mut om);
//! assert!(om.ends_with(b"# EOF\n"));
//! ```

mod encode;
pub mod names;
pub mod protobuf;
mod tls;

// Compatibility path: the pull endpoint is a reader (readers/prometheus.rs).
pub use crate::readers::{PrometheusAuth, PrometheusServer, PrometheusServerOptions};
pub use names::{EscapingScheme, TranslationStrategy};
pub use tls::PrometheusTls;

use crate::collect::data::{ResourceMetrics, ScopeMetrics};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics 1.0 text format.
    OpenMetrics,
    /// The protobuf exposition: varint-length-delimited
    /// `io.prometheus.client.MetricFamily` messages (see [`protobuf`]).
    Protobuf,
}

impl Format {
    /// The HTTP `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => protobuf::CONTENT_TYPE,
        }
    }
}

/// Translation options (all on by default, as the specification asks).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// How metric and label names are translated (default
    /// [`TranslationStrategy::UnderscoreEscapingWithSuffixes`]). The
    /// strategies without suffixes ignore
    /// [`unit_suffixes`](Self::unit_suffixes) and
    /// [`total_suffix`](Self::total_suffix).
    pub translation: TranslationStrategy,
    /// How names outside the legacy character set are written (default
    /// [`EscapingScheme::Underscores`]). [`EscapingScheme::AllowUtf8`]
    /// quotes them, which only text format 1.0.0 and OpenMetrics 1.0.0
    /// readers that asked for `escaping=allow-utf-8` understand. The pull
    /// endpoint ignores this field and uses what each scrape negotiates.
    pub escaping: EscapingScheme,
    /// Add `otel_scope_name` / `otel_scope_version` (and schema URL and
    /// scope attributes as `otel_scope_*`) labels to every series.
    pub scope_labels: bool,
    /// Expose the resource as `target_info` (when it is not empty).
    pub target_info: bool,
    /// Append the unit suffix (`_seconds`, `_bytes`...) to names; off is
    /// the exporter specification's `without_units`.
    pub unit_suffixes: bool,
    /// Append `_total` to counters in the text format (OpenMetrics always
    /// has it); off is the exporter specification's `without_type_suffix`.
    pub total_suffix: bool,
    /// Write measurement timestamps (points that carry an explicit
    /// timestamp) as sample timestamps. Off for the Pushgateway, which
    /// rejects timestamps.
    pub timestamps: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            translation: TranslationStrategy::default(),
            escaping: EscapingScheme::default(),
            scope_labels: true,
            target_info: true,
            unit_suffixes: true,
            total_suffix: true,
            timestamps: true,
        }
    }
}

impl EncodeOptions {
    /// Sets [`translation`](Self::translation).
    pub fn with_translation_strategy(mut self, t: TranslationStrategy) -> Self {
        self.translation = t;
        self
    }
    /// Sets [`escaping`](Self::escaping).
    pub fn with_escaping(mut self, e: EscapingScheme) -> Self {
        self.escaping = e;
        self
    }
    /// Leaves unit suffixes out (`unit_suffixes = !on`), the exporter
    /// specification's `without_units`.
    pub fn without_units(mut self, on: bool) -> Self {
        self.unit_suffixes = !on;
        self
    }
    /// Leaves the counter suffix `_total` out of the text format
    /// (`total_suffix = !on`), the exporter specification's
    /// `without_type_suffix`.
    pub fn without_type_suffix(mut self, on: bool) -> Self {
        self.total_suffix = !on;
        self
    }
    /// Sets [`scope_labels`](Self::scope_labels).
    pub fn with_scope_labels(mut self, on: bool) -> Self {
        self.scope_labels = on;
        self
    }
    /// Sets [`target_info`](Self::target_info).
    pub fn with_target_info(mut self, on: bool) -> Self {
        self.target_info = on;
        self
    }
    /// Sets [`unit_suffixes`](Self::unit_suffixes).
    pub fn with_unit_suffixes(mut self, on: bool) -> Self {
        self.unit_suffixes = on;
        self
    }
    /// Sets [`total_suffix`](Self::total_suffix).
    pub fn with_total_suffix(mut self, on: bool) -> Self {
        self.total_suffix = on;
        self
    }
    /// Sets [`timestamps`](Self::timestamps).
    pub fn with_timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }
}

/// Appends the exposition of a snapshot to `out`.
///
/// Delta sums and histograms are skipped (Prometheus needs cumulative
/// data); exponential histograms appear only in [`Format::Protobuf`], as
/// native histograms (see the module documentation); name collisions are merged or dropped as the module
/// documentation of the encoder describes, with a warning through the
/// diagnostics handler. The output never holds two families with the same
/// name, a family split in two, or two series with the same labels (one
/// sample per series per exposition: the first wins).
pub fn encode(rm: &ResourceMetrics, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>) {
    encode_counting(rm, format, opts, out);
}

/// [`encode`], returning the number of samples left out (a series already
/// written, a metric whose name a family of another type took, an
/// exponential histogram point the format cannot carry).
pub(crate) fn encode_counting(
    rm: &ResourceMetrics,
    format: Format,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> u64 {
    let scopes: Vec<&ScopeMetrics> = rm.scope_metrics.iter().collect();
    encode_parts(rm.resource.attributes(), &scopes, format, opts, out)
}

/// [`encode`] with the names escaped as `escaping` says (overriding
/// [`EncodeOptions::escaping`]): [`EscapingScheme::AllowUtf8`] with
/// [`Format::Text`] gives text format 1.0.0 (UTF-8 names quoted), with
/// [`Format::OpenMetrics`] OpenMetrics 1.0.0 with UTF-8 names.
pub fn encode_escaped(
    rm: &ResourceMetrics,
    format: Format,
    escaping: EscapingScheme,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) {
    let opts = opts.clone().with_escaping(escaping);
    encode_counting(rm, format, &opts, out);
}

/// [`encode`] in the text format 0.0.4 with default options.
pub fn encode_text(rm: &ResourceMetrics, out: &mut Vec<u8>) {
    encode(rm, Format::Text, &EncodeOptions::default(), out)
}

/// [`encode`] in OpenMetrics 1.0 with default options.
pub fn encode_openmetrics(rm: &ResourceMetrics, out: &mut Vec<u8>) {
    encode(rm, Format::OpenMetrics, &EncodeOptions::default(), out)
}

/// Encodes a resource's attributes and scopes (the parts of a snapshot)
/// in `format`; returns the number of samples left out.
pub(crate) fn encode_parts(
    resource: &crate::attributes::AttributeSet,
    scopes: &[&ScopeMetrics],
    format: Format,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> u64 {
    match format {
        Format::Protobuf => protobuf::encode_parts(resource, scopes, opts, out),
        _ => encode::encode_parts(resource, scopes, format, opts, out),
    }
}
