//! Push exporters, one concept per file, all behind one opaque
//! `fm_exporter` handle (OTLP and Remote-Write have files of their own in
//! `ffi/`).
//!
//! An exporter is driven by a reader that exports on its own (a periodic
//! reader takes an `fm_exporter`), or by the host with
//! `fm_exporter_export` on a snapshot it collected with a manual reader.

// In the order the header lists them (cbindgen keeps the order it reads).
mod attach;
mod console_textfile;
mod exporter;
mod host;
mod pipeline_options;
mod pushgateway;

pub(crate) use exporter::{fm_exporter, give, pref_arg};
pub(crate) use pipeline_options::{
    fm_pipeline_options, give_pipeline, positive_limits, with_pipeline_options,
};
