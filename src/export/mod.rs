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

pub(crate) fn gzip_into(raw: &[u8], level: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(level.min(9)));
    // Writing to a Vec cannot fail.
    let _ = e.write_all(raw);
    let _ = e.try_finish();
}
