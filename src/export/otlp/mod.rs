//! OTLP export: the snapshot model converted to the OTLP metrics messages
//! ([`proto`]), encoded as protobuf (written straight from the snapshot by
//! [`encode`], byte-identical to prost's encoding of those messages) or as
//! OTLP/JSON ([`json`]), and
//! moved by two transports: [`OtlpHttpExporter`] (OTLP/HTTP, `POST
//! {endpoint}/v1/metrics`) and [`OtlpFileExporter`] (JSON lines to a file
//! or standard output), plus OTLP/gRPC (`OtlpGrpcExporter`, only with the
//! cargo feature `otlp-grpc`; [`otlp_pipeline`] and, without the
//! pipeline, [`otlp_exporter`] pick HTTP or gRPC by the configured
//! protocol).
//!
//! The encoders are pure functions from a [`ResourceMetrics`] snapshot to
//! bytes; the transports know bytes, not metrics.

mod batch;
mod config;
pub mod encode;
mod file;
#[cfg(feature = "otlp-grpc")]
mod grpc;
#[cfg(feature = "otlp-grpc")]
mod grpc_status;
pub(crate) mod http;
pub mod json;
pub mod proto;
mod protocol;

pub use crate::export::pipeline::RetryPolicy;
pub use batch::{OtlpJsonEncoder, OtlpProtobufEncoder};
pub use config::{
    parse_headers, signal_url, Compression, OtlpHttpConfig, Protocol, DEFAULT_ENDPOINT,
    DEFAULT_TIMEOUT,
};
pub use file::{OtlpFileExporter, OtlpFileExporterBuilder};
#[cfg(feature = "otlp-grpc")]
pub use grpc::{OtlpGrpcExporter, DEFAULT_GRPC_ENDPOINT, EXPORT_METHOD};
pub use http::{OtlpHttpExporter, OtlpHttpExporterBuilder};
pub(crate) use protocol::grpc_not_built;
pub use protocol::{otlp_exporter, otlp_pipeline, GRPC_AVAILABLE};

use crate::attributes::{AttributeSet, Value};
use crate::collect::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData,
    Number, NumberPoint, ResourceMetrics, Temporality,
};

/// Converts a snapshot to the OTLP request message.
///
/// Mapping notes: `u64` values above `i64::MAX` (which `as_int`, an
/// `sfixed64`, cannot hold) are sent as `as_double`; a gauge's zero start
/// time is left unset; histogram `sum` is always set (explicit histograms
/// refuse negative measurements; an exponential histogram's sum is sent
/// whatever its sign), `min`/`max` when recorded; an exponential
/// histogram's `positive` and `negative` bucket ranges are always present
/// (empty when no measurement fell there). Exemplars keep their point's
/// value rule (`u64` above `i64::MAX` as `as_double`); a trace or span id
/// of all zero bytes (no valid trace context: an `AlwaysOn` filter
/// outside any span) is left unset.
pub fn to_request(rm: &ResourceMetrics) -> proto::ExportMetricsServiceRequest {
    let resource = proto::Resource {
        attributes: attributes(rm.resource.attributes()),
        dropped_attributes_count: 0,
    };
    let scope_metrics = rm
        .scope_metrics
        .iter()
        .map(|sm| proto::ScopeMetrics {
            scope: Some(proto::InstrumentationScope {
                name: sm.scope.name().to_owned(),
                version: sm.scope.version().unwrap_or_default().to_owned(),
                attributes: attributes(sm.scope.attributes()),
                dropped_attributes_count: 0,
            }),
            metrics: sm.metrics.iter().map(metric).collect(),
            schema_url: sm.scope.schema_url().unwrap_or_default().to_owned(),
        })
        .collect();
    proto::ExportMetricsServiceRequest {
        resource_metrics: vec![proto::ResourceMetrics {
            resource: Some(resource),
            scope_metrics,
            schema_url: rm.resource.schema_url().unwrap_or_default().to_owned(),
        }],
    }
}

/// Encodes a snapshot as a protobuf `ExportMetricsServiceRequest`,
/// appending to `out`: the bytes of `to_request(rm)` encoded by prost,
/// written directly by [`encode::OtlpEncoder`]. Exporters that encode
/// every cycle should keep an [`encode::OtlpEncoder`] and reuse it.
pub fn encode_protobuf(rm: &ResourceMetrics, out: &mut Vec<u8>) {
    encode::OtlpEncoder::new().encode_append(rm, out);
}

/// Encodes a snapshot in the OTLP/JSON encoding (one JSON object, no
/// trailing newline), appending to `out`.
pub fn encode_json(rm: &ResourceMetrics, out: &mut String) {
    json::write_request(&to_request(rm), out);
}

fn attributes(set: &AttributeSet) -> Vec<proto::KeyValue> {
    set.iter()
        .map(|kv| proto::KeyValue {
            key: kv.key().to_owned(),
            value: Some(any_value(kv.value())),
        })
        .collect()
}

fn any_value(v: &Value) -> proto::AnyValue {
    use proto::any_value::Value as V;
    let value = match v {
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(f) => V::DoubleValue(*f),
        Value::Str(s) => V::StringValue(s.as_str().to_owned()),
    };
    proto::AnyValue { value: Some(value) }
}

fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Cumulative => proto::AggregationTemporality::Cumulative as i32,
        Temporality::Delta => proto::AggregationTemporality::Delta as i32,
    }
}

fn metric(m: &Metric) -> proto::Metric {
    use proto::metric::Data;
    let data = match &m.data {
        MetricData::Gauge(g) => Data::Gauge(proto::Gauge {
            data_points: g.points.iter().map(number_point).collect(),
        }),
        MetricData::Sum(s) => Data::Sum(proto::Sum {
            data_points: s.points.iter().map(number_point).collect(),
            aggregation_temporality: temporality(s.temporality),
            is_monotonic: s.is_monotonic,
        }),
        MetricData::Histogram(h) => Data::Histogram(proto::Histogram {
            data_points: h.points.iter().map(histogram_point).collect(),
            aggregation_temporality: temporality(h.temporality),
        }),
        MetricData::ExponentialHistogram(h) => {
            Data::ExponentialHistogram(proto::ExponentialHistogram {
                data_points: h.points.iter().map(exponential_point).collect(),
                aggregation_temporality: temporality(h.temporality),
            })
        }
    };
    proto::Metric {
        name: m.name.to_string(),
        description: m.description.to_string(),
        unit: m.unit.to_string(),
        data: Some(data),
        metadata: Vec::new(),
    }
}

/// A number as OTLP's `as_int` (`Ok`) or `as_double` (`Err`): `u64`
/// values above `i64::MAX` do not fit `as_int` (an `sfixed64`).
#[inline(always)]
pub(crate) fn int_or_double(n: Number) -> Result<i64, f64> {
    match n {
        Number::U64(v) => i64::try_from(v).map_err(|_| v as f64),
        Number::I64(v) => Ok(v),
        Number::F64(v) => Err(v),
    }
}

/// A trace or span id as OTLP sends it: its bytes, or nothing when they
/// are all zero (W3C's invalid id: the measurement had no trace context).
#[inline(always)]
pub(crate) fn id_bytes(id: &[u8]) -> &[u8] {
    if id.iter().all(|&b| b == 0) {
        &[]
    } else {
        id
    }
}

fn exemplars(v: &[Exemplar]) -> Vec<proto::Exemplar> {
    use proto::exemplar::Value as V;
    v.iter()
        .map(|e| proto::Exemplar {
            filtered_attributes: attributes(&e.filtered_attributes),
            time_unix_nano: e.time,
            value: Some(match int_or_double(e.value) {
                Ok(i) => V::AsInt(i),
                Err(d) => V::AsDouble(d),
            }),
            span_id: id_bytes(&e.span_id).to_vec(),
            trace_id: id_bytes(&e.trace_id).to_vec(),
        })
        .collect()
}

fn number_point(p: &NumberPoint) -> proto::NumberDataPoint {
    use proto::number_data_point::Value as V;
    let value = match int_or_double(p.value) {
        Ok(i) => V::AsInt(i),
        Err(d) => V::AsDouble(d),
    };
    proto::NumberDataPoint {
        attributes: attributes(&p.attributes),
        start_time_unix_nano: p.start_time,
        time_unix_nano: p.time,
        value: Some(value),
        exemplars: exemplars(&p.exemplars),
        flags: 0,
    }
}

fn histogram_point(p: &HistogramPoint) -> proto::HistogramDataPoint {
    proto::HistogramDataPoint {
        attributes: attributes(&p.attributes),
        start_time_unix_nano: p.start_time,
        time_unix_nano: p.time,
        count: p.count,
        sum: Some(p.sum),
        bucket_counts: p.bucket_counts.clone(),
        explicit_bounds: p.bounds.to_vec(),
        exemplars: exemplars(&p.exemplars),
        flags: 0,
        min: p.min,
        max: p.max,
    }
}

fn buckets(b: &ExponentialBuckets) -> proto::exponential_histogram_data_point::Buckets {
    proto::exponential_histogram_data_point::Buckets {
        offset: b.offset,
        bucket_counts: b.counts.clone(),
    }
}

fn exponential_point(p: &ExponentialHistogramPoint) -> proto::ExponentialHistogramDataPoint {
    proto::ExponentialHistogramDataPoint {
        attributes: attributes(&p.attributes),
        start_time_unix_nano: p.start_time,
        time_unix_nano: p.time,
        count: p.count,
        sum: Some(p.sum),
        scale: p.scale,
        zero_count: p.zero_count,
        positive: Some(buckets(&p.positive)),
        negative: Some(buckets(&p.negative)),
        flags: 0,
        exemplars: exemplars(&p.exemplars),
        min: p.min,
        max: p.max,
        zero_threshold: p.zero_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
    use prost::Message;

    #[test]
    fn protobuf_round_trips_through_prost() {
        let reader = ManualReader::new(TemporalityPreference::Cumulative);
        let provider = MeterProvider::builder()
            .with_resource(Resource::new([KeyValue::new("service.name", "t")]))
            .with_reader(reader.clone())
            .build();
        let m = provider.meter("m");
        // A u64 total past i64::MAX (a counter's adds stop at its limit,
        // an observed total does not).
        let _c = m
            .u64_observable_counter("c")
            .with_callback(|o| o.observe(u64::MAX, &[KeyValue::new("k", "v")]))
            .build()
            .unwrap();
        let g = m.i64_gauge("g").build().unwrap();
        g.record(-5, &[]);
        let rm = reader.collect().unwrap();
        let mut buf = Vec::new();
        encode_protobuf(&rm, &mut buf);
        let back = proto::ExportMetricsServiceRequest::decode(&buf[..]).unwrap();
        assert_eq!(back, to_request(&rm));
        // Appends.
        let mut twice = buf.clone();
        encode_protobuf(&rm, &mut twice);
        assert_eq!(twice, [&buf[..], &buf[..]].concat());
        let metrics = &back.resource_metrics[0].scope_metrics[0].metrics;
        let c = metrics.iter().find(|m| m.name == "c").unwrap();
        match &c.data {
            Some(proto::metric::Data::Sum(s)) => {
                assert_eq!(
                    s.data_points[0].value,
                    Some(proto::number_data_point::Value::AsDouble(u64::MAX as f64))
                );
                assert!(s.is_monotonic);
                assert_eq!(s.aggregation_temporality, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
