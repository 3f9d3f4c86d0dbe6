//! Host exporters: the host application plugs its own transport in.
//!
//! - [`BytesExporter`] encodes each snapshot in a chosen [`WireFormat`] and
//!   hands the bytes (and their content type) to a callback, which sends
//!   them however the host likes (its own HTTP stack, a message bus...).
//! - [`SnapshotExporter`] hands the snapshot itself to a callback, which
//!   walks it (from C: the `fm_snapshot_*` API).
//!
//! Both run on the reader's export thread; calls never overlap when driven
//! by one reader. [`BytesExporter::into_pipeline`] moves the callback
//! behind the export pipeline instead: it then runs on the pipeline's
//! worker thread, once per request, with retries and accounting.
//!
//! ```
//! use ferrometer::export::host::{BytesExporter, WireFormat};
//! use ferrometer::export::PushExporter;
//! use ferrometer::{ManualReader, MeterProvider};
//! let reader = ManualReader::default();
//! let provider = MeterProvider::builder().with_reader(reader.clone()).build();
//! provider.meter("m").u64_counter("hits").build().unwrap().add(2, &[]);
//! let exporter = BytesExporter::new(WireFormat::PrometheusText, |bytes: &[u8], content_type: &str| {
//!     assert!(content_type.starts_with("text/plain"));
//!     assert!(std::str::from_utf8(bytes).unwrap().contains("hits_total"));
//!     Ok(())
//! })
//! .unwrap();
//! let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
//! exporter.export(&reader.collect().unwrap(), deadline).unwrap();
//! ```

use super::otlp::OtlpProtobufEncoder;
use super::pipeline::{
    ExportPipeline, FailReason, Outcome, PipelineBuilder, Transport, WholeSnapshotEncoder,
};
use super::prometheus::{encode, EncodeOptions, Format};
use super::push::PushExporter;
use crate::collect::data::ResourceMetrics;
use crate::error::{Error, Result};
use crate::temporality::TemporalityPreference;
use std::time::{Duration, Instant};

/// The encodings a [`BytesExporter`] can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text format.
    OpenMetrics,
    /// OTLP `ExportMetricsServiceRequest`, protobuf.
    OtlpProtobuf,
    /// OTLP `ExportMetricsServiceRequest`, OTLP/JSON.
    OtlpJson,
}

impl WireFormat {
    /// The HTTP `Content-Type` of the encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            WireFormat::PrometheusText => Format::Text.content_type(),
            WireFormat::OpenMetrics => Format::OpenMetrics.content_type(),
            WireFormat::OtlpProtobuf => "application/x-protobuf",
            WireFormat::OtlpJson => "application/json",
        }
    }

    /// True when this build can encode the format.
    pub fn is_available(self) -> bool {
        true
    }

    /// Encodes `rm` into `out` (appending).
    ///
    /// Errors: [`Error::InvalidArgument`] for a format this build cannot
    /// encode (see [`is_available`](Self::is_available)).
    pub fn encode(self, rm: &ResourceMetrics, out: &mut Vec<u8>) -> Result<()> {
        match self {
            WireFormat::PrometheusText => encode(rm, Format::Text, &EncodeOptions::default(), out),
            WireFormat::OpenMetrics => {
                encode(rm, Format::OpenMetrics, &EncodeOptions::default(), out)
            }
            WireFormat::OtlpProtobuf => crate::export::otlp::encode_protobuf(rm, out),
            WireFormat::OtlpJson => {
                let mut s = String::new();
                crate::export::otlp::encode_json(rm, &mut s);
                out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    }
}

type BytesFn = dyn Fn(&[u8], &str) -> Result<()> + Send + Sync;
type SnapshotFn = dyn Fn(&ResourceMetrics) -> Result<()> + Send + Sync;
type ShutdownFn = dyn Fn() + Send + Sync;

/// Encodes snapshots and passes the bytes to a host callback.
pub struct BytesExporter {
    format: WireFormat,
    temporality: TemporalityPreference,
    f: Box<BytesFn>,
    on_shutdown: Option<Box<ShutdownFn>>,
}

impl std::fmt::Debug for BytesExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BytesExporter")
            .field("format", &self.format)
            .field("temporality", &self.temporality)
            .finish()
    }
}

impl BytesExporter {
    /// An exporter calling `f(bytes, content_type)` with each encoded
    /// snapshot (cumulative temporality). An error from `f` fails the
    /// export.
    ///
    /// Errors: [`Error::InvalidArgument`] for a format this build cannot
    /// encode.
    pub fn new(
        format: WireFormat,
        f: impl Fn(&[u8], &str) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        if !format.is_available() {
            return Err(Error::InvalidArgument(format!(
                "wire format {format:?} is not available in this build"
            )));
        }
        Ok(BytesExporter {
            format,
            temporality: TemporalityPreference::Cumulative,
            f: Box::new(f),
            on_shutdown: None,
        })
    }

    /// Asks the reader for this temporality (OTLP formats can carry delta;
    /// the Prometheus formats skip delta data).
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.temporality = t;
        self
    }

    /// Calls `f` once when the exporter shuts down.
    pub fn with_shutdown_hook(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_shutdown = Some(Box::new(f));
        self
    }

    /// The format.
    pub fn format(&self) -> WireFormat {
        self.format
    }
}

impl BytesExporter {
    /// This exporter as the transport of an
    /// [`ExportPipeline`](crate::export::pipeline::ExportPipeline): the
    /// callback runs on the pipeline's worker thread, not the collecting
    /// one; an error from it is retried with the pipeline's policy. OTLP
    /// protobuf is split into size-bounded batches (one callback each);
    /// the other formats pass whole snapshots.
    pub fn into_pipeline(self) -> PipelineBuilder {
        let format = self.format;
        let t = self.temporality;
        let b = ExportPipeline::builder(self).with_temporality(t);
        match format {
            WireFormat::OtlpProtobuf => b.with_encoder(OtlpProtobufEncoder::new()),
            f => b.with_encoder(WholeSnapshotEncoder::new(
                move |rm: &ResourceMetrics, out: &mut Vec<u8>| {
                    // `new` checked that the format is available.
                    let _ = f.encode(rm, out);
                },
            )),
        }
    }
}

/// One callback per request; an error is retryable.
impl Transport for BytesExporter {
    fn send(&self, body: &[u8], _timeout: Duration) -> Outcome {
        match (self.f)(body, self.format.content_type()) {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retryable {
                reason: FailReason::Other,
                message: e.detail(),
                retry_after: None,
            },
        }
    }

    fn name(&self) -> &'static str {
        "host-bytes"
    }

    fn shutdown(&self) {
        if let Some(f) = &self.on_shutdown {
            f();
        }
    }
}

impl PushExporter for BytesExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        let mut buf = Vec::new();
        self.format.encode(metrics, &mut buf)?;
        (self.f)(&buf, self.format.content_type())
    }
    fn temporality(&self) -> TemporalityPreference {
        self.temporality
    }
    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        if let Some(f) = &self.on_shutdown {
            f();
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "host-bytes"
    }
}

/// Passes each snapshot to a host callback.
pub struct SnapshotExporter {
    temporality: TemporalityPreference,
    f: Box<SnapshotFn>,
    on_shutdown: Option<Box<ShutdownFn>>,
}

impl std::fmt::Debug for SnapshotExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotExporter")
            .field("temporality", &self.temporality)
            .finish()
    }
}

impl SnapshotExporter {
    /// An exporter calling `f(snapshot)` (cumulative temporality). An
    /// error from `f` fails the export.
    pub fn new(f: impl Fn(&ResourceMetrics) -> Result<()> + Send + Sync + 'static) -> Self {
        SnapshotExporter {
            temporality: TemporalityPreference::Cumulative,
            f: Box::new(f),
            on_shutdown: None,
        }
    }

    /// Asks the reader for this temporality.
    pub fn with_temporality(mut self, t: TemporalityPreference) -> Self {
        self.temporality = t;
        self
    }

    /// Calls `f` once when the exporter shuts down.
    pub fn with_shutdown_hook(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_shutdown = Some(Box::new(f));
        self
    }
}

impl PushExporter for SnapshotExporter {
    fn export(&self, metrics: &ResourceMetrics, deadline: Instant) -> Result<()> {
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        (self.f)(metrics)
    }
    fn temporality(&self) -> TemporalityPreference {
        self.temporality
    }
    fn shutdown(&self, _timeout: Duration) -> Result<()> {
        if let Some(f) = &self.on_shutdown {
            f();
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "host-snapshot"
    }
}
