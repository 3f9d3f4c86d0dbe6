//! Views: select instruments and change the streams they produce.

use super::handle::{
    arg, arg_mut, fm_str, fm_str_arg, out_arg, slice_arg, str_arg, write_out, Handle,
};
use super::status::{core_err, fail, fm_status};
use crate::{Aggregation, InstrumentKind, View};
use std::ffi::c_char;

/// An instrument kind (one of `FM_INSTRUMENT_KIND_*`).
pub type fm_instrument_kind = u32;
/// Counter.
pub const FM_INSTRUMENT_KIND_COUNTER: fm_instrument_kind = 0;
/// Up-down counter.
pub const FM_INSTRUMENT_KIND_UPDOWN_COUNTER: fm_instrument_kind = 1;
/// Histogram.
pub const FM_INSTRUMENT_KIND_HISTOGRAM: fm_instrument_kind = 2;
/// Gauge.
pub const FM_INSTRUMENT_KIND_GAUGE: fm_instrument_kind = 3;
/// Observable counter.
pub const FM_INSTRUMENT_KIND_OBSERVABLE_COUNTER: fm_instrument_kind = 4;
/// Observable up-down counter.
pub const FM_INSTRUMENT_KIND_OBSERVABLE_UPDOWN_COUNTER: fm_instrument_kind = 5;
/// Observable gauge.
pub const FM_INSTRUMENT_KIND_OBSERVABLE_GAUGE: fm_instrument_kind = 6;

/// An aggregation without parameters (one of `FM_AGGREGATION_*`); explicit
/// bucket histograms are set with `fm_view_builder_set_histogram`.
pub type fm_aggregation = u32;
/// The instrument kind's default.
pub const FM_AGGREGATION_DEFAULT: fm_aggregation = 0;
/// Discard every measurement.
pub const FM_AGGREGATION_DROP: fm_aggregation = 1;
/// Arithmetic sum.
pub const FM_AGGREGATION_SUM: fm_aggregation = 2;
/// The last value.
pub const FM_AGGREGATION_LAST_VALUE: fm_aggregation = 3;

/// Defines a view step by step. Owned by the caller (release with
/// `fm_view_builder_release`); use from one thread at a time.
pub struct fm_view_builder {
    _private: [u8; 0],
}

/// A checked view, added to providers with `fm_provider_builder_add_view`
/// or, once built, `fm_provider_add_view` (copied there). Owned by the
/// caller (release with `fm_view_release`); immutable, any thread.
pub struct fm_view {
    _private: [u8; 0],
}

/// The view definition, kept as plain data so the builder is reusable.
#[derive(Default)]
pub(crate) struct ViewDef {
    name: Option<String>,
    kind: Option<InstrumentKind>,
    unit: Option<String>,
    meter_name: Option<String>,
    meter_version: Option<String>,
    meter_schema_url: Option<String>,
    stream_name: Option<String>,
    stream_description: Option<String>,
    allowed: Option<Vec<String>>,
    denied: Option<Vec<String>>,
    aggregation: Option<Aggregation>,
    cardinality_limit: Option<usize>,
    exemplar_reservoir_size: Option<usize>,
}

handle_types! {
    fm_view_builder => ViewDef;
    fm_view => View;
}

fn def<'a>(b: *mut fm_view_builder) -> Result<&'a mut ViewDef, fm_status> {
    arg_mut(b, "builder")
}

/// The body of the text setters: `value[0..value_len]`, copied into the
/// field `field` picks (`what` names it in errors).
fn set_text(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
    what: &str,
    field: fn(&mut ViewDef) -> &mut Option<String>,
) -> Result<(), fm_status> {
    let d = def(builder)?;
    *field(d) = Some(str_arg(value, value_len, what)?.to_owned());
    Ok(())
}

/// Creates an empty view builder. Ownership: `*out` is owned by the caller;
/// release with `fm_view_builder_release`.
#[no_mangle]
pub extern "C" fn fm_view_builder_new(out: *mut *mut fm_view_builder) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        write_out(out, fm_view_builder::into_raw(ViewDef::default()));
        Ok(())
    }
}

/// Releases a view builder. NULL is fine; must not be called twice.
#[no_mangle]
pub extern "C" fn fm_view_builder_release(builder: *mut fm_view_builder) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned builder released once.
        unsafe { fm_view_builder::free(builder) }
    }
}

/// Selects instruments by name (copied); `*` matches any run of characters,
/// `?` one character; case-insensitive.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_instrument_name(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "instrument name", |d| &mut d.name)
    }
}

/// Selects instruments with exactly this unit (copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_instrument_unit(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "unit", |d| &mut d.unit)
    }
}

/// Selects instruments of meters with this name (copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_meter_name(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "meter name", |d| &mut d.meter_name)
    }
}

/// Selects instruments of meters with this version (copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_meter_version(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "meter version", |d| &mut d.meter_version)
    }
}

/// Selects instruments of meters with exactly this schema URL (copied); an
/// empty URL (NULL with length 0, or `""`) selects the meters created
/// without one.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_meter_schema_url(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "meter schema URL", |d| &mut d.meter_schema_url)
    }
}

/// Renames the stream (copied; needs a name criterion without wildcards).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_stream_name(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "stream name", |d| &mut d.stream_name)
    }
}

/// Sets the stream's description (copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_stream_description(
    builder: *mut fm_view_builder,
    value: *const c_char,
    value_len: usize,
) -> fm_status {
    ffi_status! {
        set_text(builder, value, value_len, "stream description", |d| &mut d.stream_description)
    }
}

/// Selects instruments of one kind (`FM_INSTRUMENT_KIND_*`); other values
/// are `FM_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_instrument_kind(
    builder: *mut fm_view_builder,
    kind: fm_instrument_kind,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        use InstrumentKind as K;
        d.kind = Some(match kind {
            FM_INSTRUMENT_KIND_COUNTER => K::Counter,
            FM_INSTRUMENT_KIND_UPDOWN_COUNTER => K::UpDownCounter,
            FM_INSTRUMENT_KIND_HISTOGRAM => K::Histogram,
            FM_INSTRUMENT_KIND_GAUGE => K::Gauge,
            FM_INSTRUMENT_KIND_OBSERVABLE_COUNTER => K::ObservableCounter,
            FM_INSTRUMENT_KIND_OBSERVABLE_UPDOWN_COUNTER => K::ObservableUpDownCounter,
            FM_INSTRUMENT_KIND_OBSERVABLE_GAUGE => K::ObservableGauge,
            k => return Err(fail(fm_status::InvalidArgument, format_args!("unknown instrument kind {k}"))),
        });
        Ok(())
    }
}

fn keys(keys: *const fm_str, len: usize) -> Result<Vec<String>, fm_status> {
    slice_arg(keys, len, "keys")?
        .iter()
        .map(|k| fm_str_arg(*k, "key").map(str::to_owned))
        .collect()
}

/// Keeps only these attribute keys (`keys[0..len]`, copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_allowed_attribute_keys(
    builder: *mut fm_view_builder,
    keys_ptr: *const fm_str,
    len: usize,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        d.allowed = Some(keys(keys_ptr, len)?);
        Ok(())
    }
}

/// Removes these attribute keys (`keys[0..len]`, copied).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_denied_attribute_keys(
    builder: *mut fm_view_builder,
    keys_ptr: *const fm_str,
    len: usize,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        d.denied = Some(keys(keys_ptr, len)?);
        Ok(())
    }
}

/// Sets a parameterless aggregation (`FM_AGGREGATION_*`).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_aggregation(
    builder: *mut fm_view_builder,
    aggregation: fm_aggregation,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        d.aggregation = Some(match aggregation {
            FM_AGGREGATION_DEFAULT => Aggregation::Default,
            FM_AGGREGATION_DROP => Aggregation::Drop,
            FM_AGGREGATION_SUM => Aggregation::Sum,
            FM_AGGREGATION_LAST_VALUE => Aggregation::LastValue,
            a => return Err(fail(fm_status::InvalidArgument, format_args!("unknown aggregation {a}"))),
        });
        Ok(())
    }
}

/// The most bucket boundaries a histogram may have (a view's aggregation
/// or an instrument's advice): more is `FM_STATUS_INVALID_BOUNDARIES`.
/// A series holds one 8-byte count per bucket, so a histogram at the cap
/// costs 32 KiB per series.
pub const FM_HISTOGRAM_MAX_BOUNDARIES: usize = 4096;
const _: () = assert!(FM_HISTOGRAM_MAX_BOUNDARIES == crate::aggregation::MAX_BOUNDARIES);

/// Sets an explicit-bucket histogram aggregation with `boundaries[0..len]`
/// (copied; checked by `fm_view_builder_build`: non-empty, at most
/// `FM_HISTOGRAM_MAX_BOUNDARIES`, finite, strictly increasing).
#[no_mangle]
pub extern "C" fn fm_view_builder_set_histogram(
    builder: *mut fm_view_builder,
    boundaries: *const f64,
    len: usize,
    record_min_max: bool,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        d.aggregation = Some(Aggregation::ExplicitBucketHistogram {
            boundaries: slice_arg(boundaries, len, "boundaries")?.to_vec(),
            record_min_max,
        });
        Ok(())
    }
}

/// The specification's default bucket count per sign of an exponential
/// histogram.
pub const FM_EXPONENTIAL_DEFAULT_MAX_SIZE: u32 = 160;
/// The highest (finest) scale of an exponential histogram, and its
/// default.
pub const FM_EXPONENTIAL_MAX_SCALE: i32 = 20;
const _: () = assert!(
    FM_EXPONENTIAL_DEFAULT_MAX_SIZE == crate::aggregation::EXPONENTIAL_DEFAULT_MAX_SIZE
        && FM_EXPONENTIAL_MAX_SCALE == crate::aggregation::EXPONENTIAL_MAX_SCALE
);

/// Sets a base2 exponential bucket histogram aggregation: at most
/// `max_size` buckets per sign (2 to 16384; the specification's default is
/// `FM_EXPONENTIAL_DEFAULT_MAX_SIZE`), scale at most `max_scale` (-10 to
/// 20; default `FM_EXPONENTIAL_MAX_SCALE`), lowered automatically as the
/// range of recorded values grows. Out-of-range parameters are
/// `FM_STATUS_INVALID_ARGUMENT` here.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_exponential_histogram(
    builder: *mut fm_view_builder,
    max_size: u32,
    max_scale: i32,
    record_min_max: bool,
) -> fm_status {
    ffi_status! {
        let d = def(builder)?;
        crate::aggregation::validate_exponential(max_size, max_scale).map_err(core_err)?;
        d.aggregation = Some(Aggregation::Base2ExponentialHistogram {
            max_size,
            max_scale,
            record_min_max,
        });
        Ok(())
    }
}

/// Sets the stream's cardinality limit: the most points the stream reports
/// per collection, the overflow series included (`limit - 1` attribute sets
/// get their own series; 1 sends every measurement to the overflow series).
/// 0 is rejected by the build.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_cardinality_limit(
    builder: *mut fm_view_builder,
    limit: usize,
) -> fm_status {
    ffi_status! {
        def(builder)?.cardinality_limit = Some(limit);
        Ok(())
    }
}

/// Keeps up to `size` exemplars per series and collection in a fixed-size
/// reservoir (for histograms too, in place of one per bucket); 0 keeps
/// none for the stream. Above `FM_MAX_EXEMPLAR_RESERVOIR` is rejected by
/// the build.
#[no_mangle]
pub extern "C" fn fm_view_builder_set_exemplar_reservoir_size(
    builder: *mut fm_view_builder,
    size: usize,
) -> fm_status {
    ffi_status! {
        def(builder)?.exemplar_reservoir_size = Some(size);
        Ok(())
    }
}

/// The most cells `fm_view_builder_set_exemplar_reservoir_size` accepts.
pub const FM_MAX_EXEMPLAR_RESERVOIR: usize = 256;
const _: () = assert!(FM_MAX_EXEMPLAR_RESERVOIR == crate::views::MAX_EXEMPLAR_RESERVOIR);

/// Checks the definition and creates a view; the builder stays usable.
/// Returns `FM_STATUS_INVALID_VIEW` (no criterion, rename with wildcards,
/// allow- and deny-list together, limit 0), `FM_STATUS_INVALID_NAME`,
/// `FM_STATUS_INVALID_BOUNDARIES` or `FM_STATUS_INVALID_DESCRIPTION`.
/// Ownership: `*out` is owned by the caller; release with `fm_view_release`.
#[no_mangle]
pub extern "C" fn fm_view_builder_build(
    builder: *const fm_view_builder,
    out: *mut *mut fm_view,
) -> fm_status {
    ffi_status! {
        let d = arg(builder, "builder")?;
        out_arg(out, "out")?;
        let mut b = View::builder();
        if let Some(v) = &d.name { b = b.instrument_name(v.clone()); }
        if let Some(k) = d.kind { b = b.instrument_kind(k); }
        if let Some(v) = &d.unit { b = b.instrument_unit(v.clone()); }
        if let Some(v) = &d.meter_name { b = b.meter_name(v.clone()); }
        if let Some(v) = &d.meter_version { b = b.meter_version(v.clone()); }
        if let Some(v) = &d.meter_schema_url { b = b.meter_schema_url(v.clone()); }
        if let Some(v) = &d.stream_name { b = b.stream_name(v.clone()); }
        if let Some(v) = &d.stream_description { b = b.stream_description(v.clone()); }
        if let Some(v) = &d.allowed { b = b.allowed_attribute_keys(v.clone()); }
        if let Some(v) = &d.denied { b = b.denied_attribute_keys(v.clone()); }
        if let Some(a) = &d.aggregation { b = b.aggregation(a.clone()); }
        if let Some(n) = d.cardinality_limit { b = b.cardinality_limit(n); }
        if let Some(n) = d.exemplar_reservoir_size { b = b.exemplar_reservoir_size(n); }
        let v = b.build().map_err(core_err)?;
        write_out(out, fm_view::into_raw(v));
        Ok(())
    }
}

/// Releases a view. NULL is fine; must not be called twice. Providers
/// built or extended with it keep their copy.
#[no_mangle]
pub extern "C" fn fm_view_release(view: *mut fm_view) {
    ffi_boundary! {
        // SAFETY: C contract: NULL or an owned view released once.
        unsafe { fm_view::free(view) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each text setter fills the field its name promises, and only it.
    #[test]
    fn text_setters_fill_their_own_field() {
        type Setter = extern "C" fn(*mut fm_view_builder, *const c_char, usize) -> fm_status;
        let setters: [(Setter, &str); 7] = [
            (fm_view_builder_set_instrument_name, "name"),
            (fm_view_builder_set_instrument_unit, "unit"),
            (fm_view_builder_set_meter_name, "meter_name"),
            (fm_view_builder_set_meter_version, "meter_version"),
            (fm_view_builder_set_meter_schema_url, "meter_schema_url"),
            (fm_view_builder_set_stream_name, "stream_name"),
            (fm_view_builder_set_stream_description, "stream_description"),
        ];
        for (set, field) in setters {
            let mut b = std::ptr::null_mut();
            assert_eq!(fm_view_builder_new(&mut b), fm_status::Ok);
            let value = format!("{field}-value");
            assert_eq!(set(b, value.as_ptr().cast(), value.len()), fm_status::Ok);
            assert_eq!(set(b, std::ptr::null(), 1), fm_status::InvalidArgument);
            let d = def(b).expect("live builder");
            let filled: Vec<(&str, &str)> = [
                ("name", &d.name),
                ("unit", &d.unit),
                ("meter_name", &d.meter_name),
                ("meter_version", &d.meter_version),
                ("meter_schema_url", &d.meter_schema_url),
                ("stream_name", &d.stream_name),
                ("stream_description", &d.stream_description),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.as_deref().map(|v| (f, v)))
            .collect();
            assert_eq!(filled, [(field, value.as_str())]);
            assert_eq!(
                set(std::ptr::null_mut(), value.as_ptr().cast(), 1),
                fm_status::InvalidArgument
            );
            fm_view_builder_release(b);
        }
    }
}
