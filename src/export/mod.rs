//! Exporters: encoders from the snapshot data model to bytes, and the
//! transports that move those bytes. Encoders know the data model, not the
//! storage; transports know bytes, not metrics.

pub mod console;
// Compatibility path: choosing exporters from `OTEL_METRICS_EXPORTER` is
// top-level wiring (src/env.rs), not an exporter.
pub use crate::env;
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
/// The cumulative count of each bucket of `p` in bound order, `+Inf`
/// last (`p.count`): running sums of the bucket counts, never above
/// `p.count`. Yields `p.bounds.len() + 1` values.
pub(crate) fn cumulative_bucket_counts(
    p: &crate::collect::data::HistogramPoint,
) -> impl Iterator<Item = u64> + '_ {
    let mut cum = 0u64;
    (0..=p.bounds.len()).map(move |i| {
        if i < p.bounds.len() {
            cum = cum
                .saturating_add(p.bucket_counts.get(i).copied().unwrap_or(0))
                .min(p.count);
            cum
        } else {
            p.count
        }
    })
}

/// Attribute keys found good lately, by key position and string identity:
/// the points of one metric nearly always share their key strings (the
/// same literals or shared owned strings), so an encoder checks each key
/// once per metric, not once per point. Only good keys are remembered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyMemo {
    known: [(usize, usize); 8],
}

impl KeyMemo {
    pub(crate) fn new() -> Self {
        KeyMemo {
            known: [(0, usize::MAX); 8],
        }
    }

    /// Whether `key` (at position `pos` of its attributes) is good: as
    /// remembered for this very string at this position, else `good(key)`.
    #[inline(always)]
    pub(crate) fn check(&mut self, pos: usize, key: &str, good: impl FnOnce(&str) -> bool) -> bool {
        let id = (key.as_ptr() as usize, key.len());
        let slot = &mut self.known[pos % 8];
        if *slot == id {
            return true;
        }
        let ok = good(key);
        if ok {
            *slot = id;
        }
        ok
    }
}

/// Whether an HTTP header can carry `name: value`: the name is a non-empty
/// token (RFC 9110 `tchar`s), the value has no control characters other
/// than tab (a CR or LF would end the header, or the request, early).
/// The error says what is wrong. Every HTTP exporter's headers go
/// through this one check.
pub(crate) fn check_header(name: &str, value: &str) -> std::result::Result<(), String> {
    let tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(format!("header name {name:?} is not an HTTP token"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "header {name:?}: value {value:?} contains a control character (CR, LF, NUL...)"
        ));
    }
    Ok(())
}

/// Whether a basic-auth user can be sent: RFC 7617 separates user and
/// password at the first `:`, so a user containing one would be read as
/// another user; control characters are not allowed either.
pub(crate) fn check_basic_auth_user(user: &str) -> std::result::Result<(), String> {
    if user.contains(':') {
        return Err(format!("basic-auth user {user:?} must not contain ':'"));
    }
    if user.chars().any(char::is_control) {
        return Err(format!(
            "basic-auth user {user:?} contains a control character"
        ));
    }
    Ok(())
}

pub(crate) fn gzip_into(raw: &[u8], level: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(level.min(9)));
    // Writing to a Vec cannot fail.
    let _ = e.write_all(raw);
    let _ = e.try_finish();
}
