//! Exporters: encoders from the snapshot data model to bytes, and the
//! transports that move those bytes. Encoders know the data model, not the
//! storage; transports know bytes, not metrics.

pub(crate) mod http_server;
pub mod prometheus;
pub mod push;

pub use push::PushExporter;
