//! The OTLP protocol choice at the C boundary: `fm_otlp_options_set_protocol`
//! (OTLP/HTTP protobuf or JSON, or OTLP/gRPC in builds with
//! `FERROMETER_OTLP_GRPC`) and `fm_otlp_grpc_available`.

use super::handle::{arg_mut, Handle};
use super::otlp::fm_otlp_options;
use super::status::{core_err, fail, fm_status};
use crate::export::otlp::{
    grpc_not_built, otlp_pipeline, OtlpHttpConfig, Protocol, GRPC_AVAILABLE,
};
use crate::export::pipeline::PipelineBuilder;

/// OTLP protocol (one of `FM_OTLP_PROTOCOL_*`).
pub type fm_otlp_protocol = u32;
/// `http/protobuf`: OTLP/HTTP with a protobuf body (the default).
pub const FM_OTLP_PROTOCOL_HTTP_PROTOBUF: fm_otlp_protocol = 0;
/// `http/json`: OTLP/HTTP with an OTLP/JSON body.
pub const FM_OTLP_PROTOCOL_HTTP_JSON: fm_otlp_protocol = 1;
/// `grpc`: OTLP/gRPC (`MetricsService/Export`), only in a library built
/// with `-DFERROMETER_OTLP_GRPC=ON` (cargo feature `otlp-grpc`).
pub const FM_OTLP_PROTOCOL_GRPC: fm_otlp_protocol = 2;

/// Whether this library was built with OTLP/gRPC
/// (`-DFERROMETER_OTLP_GRPC=ON`, cargo feature `otlp-grpc`).
/// Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_otlp_grpc_available() -> bool {
    GRPC_AVAILABLE
}

/// Sets the protocol (`FM_OTLP_PROTOCOL_*`; default HTTP_PROTOBUF, or
/// what `OTEL_EXPORTER_OTLP_PROTOCOL` said when the options read the
/// environment). With GRPC, `fm_otlp_pipeline_exporter_new` and
/// `fm_otlp_exporter_new` make an OTLP/gRPC exporter: the endpoint's
/// scheme and authority are used (`http://` plain HTTP/2, `https://` TLS
/// with the CA and client certificate of the options; `host:port` without
/// a scheme: TLS unless `fm_otlp_options_set_insecure`; a path is ignored;
/// the OTLP/HTTP default endpoint becomes `http://localhost:4317`),
/// headers are sent as
/// metadata, the timeout as `grpc-timeout`, gzip as `grpc-encoding`;
/// retries follow the OTLP specification for gRPC (UNAVAILABLE,
/// DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE, DATA_LOSS, and
/// RESOURCE_EXHAUSTED only with RetryInfo; the server's RetryInfo delay
/// replaces the backoff). Returns `FM_STATUS_UNSUPPORTED` for GRPC in a
/// library built without `FERROMETER_OTLP_GRPC` (the message names the
/// option), `FM_STATUS_INVALID_ARGUMENT` for an unknown value.
#[no_mangle]
pub extern "C" fn fm_otlp_options_set_protocol(
    options: *mut fm_otlp_options,
    protocol: fm_otlp_protocol,
) -> fm_status {
    ffi_status! {
        let o: &mut OtlpHttpConfig = arg_mut(options, "options")?;
        o.protocol = match protocol {
            FM_OTLP_PROTOCOL_HTTP_PROTOBUF => Protocol::HttpProtobuf,
            FM_OTLP_PROTOCOL_HTTP_JSON => Protocol::HttpJson,
            FM_OTLP_PROTOCOL_GRPC if GRPC_AVAILABLE => Protocol::Grpc,
            FM_OTLP_PROTOCOL_GRPC => return Err(core_err(grpc_not_built())),
            p => return Err(fail(fm_status::InvalidArgument, format_args!("unknown protocol {p}"))),
        };
        Ok(())
    }
}

/// The pipeline builder of `options` (NULL: the defaults plus the
/// environment): OTLP/HTTP or OTLP/gRPC by its protocol.
pub(super) fn otlp_pipeline_builder(
    options: *const fm_otlp_options,
) -> Result<PipelineBuilder, fm_status> {
    // SAFETY: C contract: `options` is NULL or a live options handle.
    let c = match unsafe { fm_otlp_options::get(options) } {
        Some(c) => c.clone(),
        None => OtlpHttpConfig::from_env(),
    };
    otlp_pipeline(c).map_err(core_err)
}
