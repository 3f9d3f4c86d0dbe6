//! The OTLP encoders of the export pipeline: a snapshot in, OTLP request
//! bodies out, through the pipeline's [`BatchEncoder`] trait; and the
//! pipeline's default encoding, OTLP protobuf ([`ExportPipeline::builder`]).

use crate::collect::data::ResourceMetrics;
use crate::export::otlp::encode::OtlpEncoder;
use crate::export::pipeline::{
    BatchEncoder, BatchLimits, ExportPipeline, PipelineBuilder, Transport, WholeSnapshotEncoder,
};
use std::ops::ControlFlow;

/// OTLP protobuf (`ExportMetricsServiceRequest`) through the reusable
/// [`OtlpEncoder`]: one valid request per batch.
#[derive(Default)]
pub struct OtlpProtobufEncoder {
    enc: OtlpEncoder,
    buf: Vec<u8>,
}

impl OtlpProtobufEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }
}

impl BatchEncoder for OtlpProtobufEncoder {
    fn encode(
        &mut self,
        metrics: &ResourceMetrics,
        limits: BatchLimits,
        emit: &mut dyn FnMut(&mut Vec<u8>, usize) -> ControlFlow<()>,
    ) -> usize {
        self.enc
            .encode_batches(metrics, limits, &mut self.buf, &mut |b, n| emit(b, n))
    }

    fn fork(&self) -> Option<Box<dyn BatchEncoder>> {
        Some(Box::new(OtlpProtobufEncoder::new()))
    }
}

/// OTLP/JSON: the whole snapshot as one request (the JSON encoding is for
/// debugging peers; it is not split).
pub type OtlpJsonEncoder = WholeSnapshotEncoder<fn(&ResourceMetrics, &mut Vec<u8>)>;

impl Default for OtlpJsonEncoder {
    fn default() -> Self {
        WholeSnapshotEncoder::new(otlp_json_body)
    }
}

/// The OTLP/JSON body of a snapshot, written into the (cleared) buffer,
/// whose allocation it reuses.
fn otlp_json_body(metrics: &ResourceMetrics, buf: &mut Vec<u8>) {
    let mut s = String::from_utf8(std::mem::take(buf)).unwrap_or_default();
    super::encode_json(metrics, &mut s);
    *buf = s.into_bytes();
}

impl ExportPipeline {
    /// A builder around `transport`, encoding OTLP protobuf by default
    /// ([`PipelineBuilder::with_encoder`] sets another encoding).
    pub fn builder(transport: impl Transport) -> PipelineBuilder {
        ExportPipeline::builder_with_encoder(transport, OtlpProtobufEncoder::new())
    }
}
