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
pub mod remote_write;
pub mod textfile;

pub use push::PushExporter;

/// gzips `raw` into `out` (cleared first, its capacity reused) at `level`
/// (0-9): the one gzip writer of the OTLP exporter, the export pipeline and
/// the Prometheus endpoint.
pub(crate) fn gzip_into(raw: &[u8], level: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(level.min(9)));
    // Writing to a Vec cannot fail.
    let _ = e.write_all(raw);
    let _ = e.try_finish();
}
