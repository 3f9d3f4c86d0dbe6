//! Exporters: encoders from the snapshot data model to bytes, and the
//! transports that move those bytes. Encoders know the data model, not the
//! storage; transports know bytes, not metrics.

pub mod console;
pub mod env;
pub mod host;
pub(crate) mod http_server;
pub mod otlp;
pub mod pipeline;
pub mod prometheus;
pub mod push;
pub mod pushgateway;
pub mod textfile;

pub use push::PushExporter;
