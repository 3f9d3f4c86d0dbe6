//! The exporters that write where the process runs: the console exporter
//! (standard output) and the Prometheus text-file exporter.

use super::exporter::{fm_exporter, give, pref_arg};
use crate::export::console::ConsoleExporter;
use crate::export::textfile::TextFileExporter;
use crate::ffi::handle::{out_arg, str_arg};
use crate::ffi::reader::fm_temporality_preference;
use crate::ffi::status::{fail, fm_status};
use std::ffi::c_char;

/// An exporter printing each snapshot readably to standard output, one
/// block per metric. Ownership: `*out` is owned by the caller; release
/// with `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_console_exporter_new(
    temporality: fm_temporality_preference,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let t = pref_arg(temporality)?;
        give(out, ConsoleExporter::stdout().with_temporality(t));
        Ok(())
    }
}

/// An exporter writing the Prometheus text format to `path` (copied;
/// conventionally `*.prom` in node_exporter's textfile directory) on each
/// export, atomically: it writes `<path>.<pid>.tmp` and renames it. No
/// timestamps are written. Returns `FM_STATUS_INVALID_ARGUMENT` for an
/// empty path. Ownership: `*out` is owned by the caller; release with
/// `fm_exporter_release`.
#[no_mangle]
pub extern "C" fn fm_textfile_exporter_new(
    path: *const c_char,
    path_len: usize,
    out: *mut *mut fm_exporter,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let p = str_arg(path, path_len, "path")?;
        if p.is_empty() {
            return Err(fail(fm_status::InvalidArgument, "path is empty"));
        }
        give(out, TextFileExporter::new(p));
        Ok(())
    }
}
