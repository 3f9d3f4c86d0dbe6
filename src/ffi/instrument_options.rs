//! The options every instrument constructor takes (`fm_instrument_options`),
//! for meters and global meters alike.

use super::handle::{fm_str, fm_str_arg, slice_arg, str_arg};
use super::status::fm_status;
use std::ffi::c_char;

/// Optional settings of an instrument. Pass NULL for all defaults.
/// Everything is borrowed for the duration of the call (copied).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fm_instrument_options {
    /// Description (any Basic Multilingual Plane text); `{NULL, 0}` for none.
    pub description: fm_str,
    /// Unit (UCUM, ASCII, at most 63 bytes); `{NULL, 0}` for none.
    pub unit: fm_str,
    /// Histograms only: explicit bucket boundaries advice (finite, strictly
    /// increasing, at most `FM_HISTOGRAM_MAX_BOUNDARIES`); NULL for the
    /// default boundaries. Ignored by others.
    pub boundaries: *const f64,
    /// Number of boundaries.
    pub boundaries_len: usize,
}

/// An instrument's name and options, read from C (borrowed for the call).
pub(crate) struct InstrumentOptions<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) boundaries: Option<Vec<f64>>,
}

/// Reads a constructor's name and options (NULL options: all defaults).
pub(crate) fn instrument_options_arg<'a>(
    name: *const c_char,
    name_len: usize,
    options: *const fm_instrument_options,
) -> Result<InstrumentOptions<'a>, fm_status> {
    let name = str_arg(name, name_len, "name")?;
    // SAFETY: C contract: `options` is NULL or points to one readable struct.
    let o = unsafe { options.as_ref() };
    let (description, unit, boundaries) = match o {
        None => ("", "", None),
        Some(o) => {
            let d = fm_str_arg(o.description, "description")?;
            let u = fm_str_arg(o.unit, "unit")?;
            let b = if o.boundaries.is_null() {
                None
            } else {
                Some(slice_arg(o.boundaries, o.boundaries_len, "boundaries")?.to_vec())
            };
            (d, u, b)
        }
    };
    Ok(InstrumentOptions {
        name,
        description,
        unit,
        boundaries,
    })
}
