//! Which OTLP transport a configuration asks for: OTLP/HTTP (always
//! built) or OTLP/gRPC (only with the cargo feature `otlp-grpc`, CMake
//! option `FERROMETER_OTLP_GRPC`), behind the pipeline ([`otlp_pipeline`])
//! or standalone ([`otlp_exporter`]). Without the feature, asking for gRPC
//! (in code, or `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`) fails with
//! [`Error::Unsupported`] naming the build option, instead of silently
//! sending OTLP/HTTP to a gRPC port.

use super::config::{OtlpHttpConfig, Protocol};
use super::http::OtlpHttpExporter;
use crate::error::{Error, Result};
use crate::export::pipeline::PipelineBuilder;
use crate::export::PushExporter;
use std::sync::Arc;

/// Whether this build has the OTLP/gRPC transport.
pub const GRPC_AVAILABLE: bool = cfg!(feature = "otlp-grpc");

/// The error for a gRPC request in a build without it.
pub(crate) fn grpc_not_built() -> Error {
    Error::Unsupported(
        "OTLP protocol grpc: this ferrometer was built without OTLP/gRPC (cargo feature \
         `otlp-grpc`, CMake option -DFERROMETER_OTLP_GRPC=ON)"
            .into(),
    )
}

/// What [`OtlpHttpExporter::new`] says to a gRPC configuration.
pub(crate) fn grpc_refused_by_http() -> Error {
    if GRPC_AVAILABLE {
        Error::InvalidArgument(
            "OTLP protocol grpc is served by OtlpGrpcExporter (or otlp_pipeline), not by the \
             OTLP/HTTP exporter"
                .into(),
        )
    } else {
        grpc_not_built()
    }
}

/// The export pipeline for `config`: OTLP/gRPC when its protocol is
/// [`Protocol::Grpc`], OTLP/HTTP otherwise. Errors: those of the exporter,
/// and [`Error::Unsupported`] for gRPC in a build without it.
pub fn otlp_pipeline(config: OtlpHttpConfig) -> Result<PipelineBuilder> {
    match config.protocol {
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => Ok(super::grpc::OtlpGrpcExporter::new(config)?.into_pipeline()),
        #[cfg(not(feature = "otlp-grpc"))]
        Protocol::Grpc => Err(grpc_not_built()),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            Ok(OtlpHttpExporter::new(config)?.into_pipeline())
        }
    }
}

/// The standalone exporter (no pipeline: each export sends on the
/// caller's thread, with retries within its deadline) for `config`:
/// OTLP/gRPC when its protocol is [`Protocol::Grpc`], OTLP/HTTP
/// otherwise. Errors: those of the exporter, and [`Error::Unsupported`]
/// for gRPC in a build without it.
pub fn otlp_exporter(config: OtlpHttpConfig) -> Result<Arc<dyn PushExporter>> {
    match config.protocol {
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => Ok(Arc::new(super::grpc::OtlpGrpcExporter::new(config)?)),
        #[cfg(not(feature = "otlp-grpc"))]
        Protocol::Grpc => Err(grpc_not_built()),
        Protocol::HttpProtobuf | Protocol::HttpJson => Ok(Arc::new(OtlpHttpExporter::new(config)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_is_built_or_refused_by_name() {
        let c = OtlpHttpConfig {
            protocol: Protocol::Grpc,
            ..Default::default()
        };
        let built = otlp_pipeline(c);
        assert_eq!(built.is_ok(), cfg!(feature = "otlp-grpc"));
        match built {
            Ok(b) => assert!(format!("{b:?}").contains("otlp_grpc"), "{b:?}"),
            Err(e) => {
                assert!(matches!(e, Error::Unsupported(_)));
                assert!(e.to_string().contains("FERROMETER_OTLP_GRPC"), "{e}");
            }
        }
        // OTLP/HTTP itself refuses the gRPC protocol with the same error
        // when gRPC is not built.
        let c = OtlpHttpConfig {
            protocol: Protocol::Grpc,
            ..Default::default()
        };
        let e = OtlpHttpExporter::new(c).unwrap_err();
        assert!(e.to_string().contains("grpc"), "{e}");
    }

    #[test]
    fn the_standalone_exporter_is_grpc_or_refused_by_name() {
        let c = OtlpHttpConfig {
            protocol: Protocol::Grpc,
            ..Default::default()
        };
        let built = otlp_exporter(c);
        assert_eq!(built.is_ok(), GRPC_AVAILABLE);
        match built {
            Ok(e) => assert_eq!(e.name(), "otlp_grpc"),
            Err(e) => {
                assert!(matches!(e, Error::Unsupported(_)));
                assert!(e.to_string().contains("FERROMETER_OTLP_GRPC"), "{e}");
            }
        }
        let e = otlp_exporter(OtlpHttpConfig::default()).unwrap();
        assert_eq!(e.name(), "otlp");
    }
}
