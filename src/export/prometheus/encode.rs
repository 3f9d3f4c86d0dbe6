//! The Prometheus text (0.0.4) and OpenMetrics (1.0) encoders: pure
//! functions from a snapshot to a byte buffer.
//!
//! Families are built first (translated name → family), then written one
//! after the other, so a family is never interleaved with another one and
//! carries exactly one `# HELP` / `# TYPE` (/ `# UNIT`).
//!
//! Name collisions (documented behaviour):
//! - two metrics (from the same or different scopes) whose translated names
//!   are equal and whose Prometheus types agree are **merged** into one
//!   family; the first non-empty description is the HELP;
//! - if the types differ, or the new family's sample names (`x`, `x_total`,
//!   `x_created`, `x_bucket`, `x_count`, `x_sum`) clash with another
//!   family's, the **later metric is dropped** with a warning through the
//!   diagnostics handler (once per name per process);
//! - a series whose labels equal an already written series of the same
//!   family is dropped with a warning: the output never contains duplicate
//!   series (client_golang's rule: one sample per series per exposition,
//!   the first one wins). This happens after merging (two instruments of
//!   one name, say with different bucket advice: the first registered
//!   wins), after label sanitizing, or with a host producer's metric that
//!   has a series at two timestamps (the first added wins).
//!
//! Every sample left out that way is counted: [`encode_parts`] returns the
//! count, and the provider's Prometheus endpoint adds it to the provider's
//! `exposition_conflicts` rejection counter.
//!
//! Attributes whose translated key is reserved by the encoder (`le` on
//! histograms, `otel_scope_*` while scope labels are on, and `__name__`,
//! which only the strategies that keep keys as they are can produce) are
//! dropped.
//!
//! Names follow the translation strategy of [`EncodeOptions::translation`]
//! and are then escaped as [`EncodeOptions::escaping`] says; with
//! `allow-utf-8`, a name outside the legacy character set is quoted
//! (`{"a.b",k="v"}`, `"k.x"="v"`, `# TYPE "a.b" gauge`). The sample loop's
//! fast path (keys written as they are) applies to keys that are their own
//! label name under both.
//! Delta sums and delta histograms are dropped (the specification allows
//! this; the pull endpoint always collects cumulatively).
//!
//! Exponential histograms have no representation in the text formats
//! (Prometheus reads native histograms only from the protobuf exposition,
//! [`super::protobuf`]): the text encoders leave them out, warn once per
//! metric, and count every point left out in the returned count, like the
//! samples of a conflict. The family rules, the label rules and the
//! duplicate rule above are shared with the protobuf encoder
//! ([`families`], [`label_pairs`], [`scope_label_pairs`]).
//!
//! Exemplars (OpenMetrics only; text 0.0.4 has no syntax for them): a
//! counter's `_total` line carries its point's latest exemplar (by time),
//! each `_bucket` line the latest exemplar whose value falls in that
//! bucket (`le` is the inclusive upper bound), as
//! ` # {trace_id="<32 hex>",span_id="<16 hex>",...} <value> <seconds>`.
//! Gauges, up-down counters and exponential histograms carry none. The
//! labels are built by [`exemplar_label_pairs`], shared with the protobuf
//! exposition: the ids (left out when all zero: no trace context), then
//! the filtered attributes in label-name order, each only if the label
//! set stays within OpenMetrics' 128 characters.
//!
//! Cost: a scrape of a large family is bounded by memory latency, not by
//! formatting: every series' attribute set is its own heap allocation, met
//! in hash order. The sample loop therefore prefetches the attribute sets
//! a few points ahead (and, closer, their owned strings), writes each line
//! straight into the output (no per-series buffer or allocation), checks
//! each distinct label key once per metric, and remembers label sets (for
//! duplicate detection) only for families that can repeat one: merged
//! metrics, or keys that need sanitizing. Repeated labels (OpenMetrics
//! `_created`, histogram lines) are copied from the line already written.

use super::names::{
    escape_label_name, escape_metric_name, is_clean, is_legacy_label_name, is_legacy_metric_name,
    translate_family_name, EscapingScheme, FamilyName, PromKind, TranslationStrategy,
};
use super::{EncodeOptions, Format};
use crate::attributes::{AttributeSet, Value};
use crate::collect::data::Temporality;
use crate::collect::data::{
    Exemplar, Gauge, HistogramPoint, Metric, MetricData, Number, NumberPoint, ScopeMetrics, Sum,
};
use crate::export::{cumulative_bucket_counts, KeyMemo};
use crate::hint::prefetch;
use crate::resource::InstrumentationScope;
use crate::trace::hex;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

/// Emits a warning once per key per process (scrapes repeat every few
/// seconds; one line per problem is enough).
pub(super) fn warn_once(key: String, msg: std::fmt::Arguments<'_>) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    let mut g = seen.lock().unwrap_or_else(|e| e.into_inner());
    if g.len() < 4096 && g.insert(key) {
        drop(g);
        crate::diagnostics::diag_warn!("prometheus: {msg}");
    }
}

/// The name rules of one exposition: the configured translation strategy
/// and the escaping the scraper negotiated.
#[derive(Clone, Copy, Debug)]
pub(super) struct Naming {
    pub(super) strategy: TranslationStrategy,
    pub(super) escaping: EscapingScheme,
}

impl Naming {
    pub(super) fn of(opts: &EncodeOptions) -> Naming {
        Naming {
            strategy: opts.translation,
            escaping: opts.escaping,
        }
    }

    /// Whether names outside the legacy set are written quoted (they are
    /// escaped into the legacy set otherwise).
    pub(super) fn quotes(self) -> bool {
        self.escaping == EscapingScheme::AllowUtf8
    }

    /// Whether an attribute key is its own label name and needs no quotes.
    #[inline]
    fn verbatim_label(self, key: &str) -> bool {
        let legacy = if self.strategy.escapes() {
            is_clean(key, false)
        } else {
            is_legacy_label_name(key) && key != "__name__"
        };
        legacy && !(self.escaping == EscapingScheme::Dots && key.contains('_'))
    }

    /// The label name of an attribute key, or None when the encoder
    /// reserves it (checked before and after escaping), or when it is
    /// empty or `__name__` (possible only with the strategies that keep
    /// keys as they are).
    pub(super) fn label(self, key: &str, reserved: Reserved) -> Option<String> {
        let t = self.strategy.label_name(key);
        if reserved.is_reserved(&t) {
            return None;
        }
        let f = escape_label_name(&t, self.escaping);
        let unusable = f.is_empty() || f == "__name__" || reserved.is_reserved(&f);
        (!unusable).then(|| f.into_owned())
    }

    /// A metric name as written (escaped; quoting is the writer's part).
    pub(super) fn metric(self, name: &str) -> String {
        escape_metric_name(name, self.escaping).into_owned()
    }
}

/// One exposition family: the metrics (with their scope's index) that
/// translate to one name and type.
pub(super) struct Family<'a> {
    pub(super) name: FamilyName,
    /// The family name as written (`name.base` escaped as negotiated).
    pub(super) wire: String,
    pub(super) kind: PromKind,
    pub(super) help: &'a str,
    pub(super) sources: Vec<(usize, &'a Metric)>,
}

fn sample_names(base: &str, kind: PromKind) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        PromKind::Counter => &["", "_total", "_created"],
        PromKind::Gauge => &[""],
        PromKind::Histogram => &["", "_bucket", "_count", "_sum", "_created"],
    };
    suffixes.iter().map(|s| format!("{base}{s}")).collect()
}

/// Why a metric gets no family.
enum Skip {
    /// Delta temporality (not counted: the pull endpoint collects
    /// cumulatively, so only a host producer's points can be delta).
    Delta,
    /// An exponential histogram in a text format (counted).
    NoNativeHistograms,
}

fn kind_of(m: &Metric, native: bool) -> Result<PromKind, Skip> {
    let cumulative = |t: Temporality| {
        if t == Temporality::Cumulative {
            Ok(())
        } else {
            Err(Skip::Delta)
        }
    };
    match &m.data {
        MetricData::Gauge(_) => Ok(PromKind::Gauge),
        MetricData::Sum(s) => cumulative(s.temporality).map(|()| {
            if s.is_monotonic {
                PromKind::Counter
            } else {
                PromKind::Gauge
            }
        }),
        MetricData::Histogram(h) => cumulative(h.temporality).map(|()| PromKind::Histogram),
        MetricData::ExponentialHistogram(h) => {
            cumulative(h.temporality)?;
            if native {
                Ok(PromKind::Histogram)
            } else {
                Err(Skip::NoNativeHistograms)
            }
        }
    }
}

/// Whether a metric's points may repeat a series. The SDK's streams hold
/// one point per series, all stamped with the collection time except
/// gauges recorded with their own timestamps; a host producer's metric
/// may hold a series more than once, each time at another timestamp (its
/// batch refuses the same series at one timestamp). So points that all
/// share one time cannot repeat a series.
fn may_repeat_series(m: &Metric) -> bool {
    fn varies<P>(points: &[P], time: impl Fn(&P) -> u64) -> bool {
        let first = points.first().map(&time);
        points.iter().any(|p| Some(time(p)) != first)
    }
    match &m.data {
        MetricData::Gauge(Gauge { points }) | MetricData::Sum(Sum { points, .. }) => {
            varies(points, |p| p.time)
        }
        MetricData::Histogram(h) => varies(&h.points, |p| p.time),
        MetricData::ExponentialHistogram(h) => varies(&h.points, |p| p.time),
    }
}

/// Groups the scopes' metrics into families, in first-appearance order,
/// applying the collision rules of the module documentation. `native`:
/// whether exponential histograms have a representation (the protobuf
/// exposition). Returns the families and the number of points left out.
pub(super) fn families<'a>(
    scopes: &[&'a ScopeMetrics],
    opts: &EncodeOptions,
    target_info: bool,
    native: bool,
) -> (Vec<Family<'a>>, u64) {
    let naming = Naming::of(opts);
    let mut left_out = 0u64;
    let mut families: Vec<Family<'_>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut claimed: HashSet<String> = HashSet::new();
    if target_info {
        claimed.insert("target".into());
        claimed.insert("target_info".into());
    }
    for (si, sm) in scopes.iter().enumerate() {
        for m in &sm.metrics {
            if m.data.is_empty() {
                continue;
            }
            let kind = match kind_of(m, native) {
                Ok(kind) => kind,
                Err(Skip::Delta) => {
                    warn_once(
                        format!("delta:{}", m.name),
                        format_args!(
                            "metric {:?} has delta temporality and is not exported (Prometheus needs cumulative data)",
                            m.name
                        ),
                    );
                    continue;
                }
                Err(Skip::NoNativeHistograms) => {
                    left_out += m.data.len() as u64;
                    warn_once(
                        format!("native:{}", m.name),
                        format_args!(
                            "metric {:?} is an exponential histogram, which the Prometheus text formats cannot carry: left out (scrape the protobuf exposition for native histograms)",
                            m.name
                        ),
                    );
                    continue;
                }
            };
            let name = translate_family_name(
                &m.name,
                &m.unit,
                kind,
                opts.translation,
                opts.unit_suffixes,
                opts.total_suffix,
            );
            let wire = naming.metric(&name.base);
            if let Some(&fi) = index.get(&wire) {
                let f = &mut families[fi];
                if f.kind == kind {
                    if f.help.is_empty() {
                        f.help = &m.description;
                    }
                    f.sources.push((si, m));
                } else {
                    left_out += m.data.len() as u64;
                    warn_once(
                        format!("conflict:{}:{}", wire, m.name),
                        format_args!(
                            "metric {:?} translates to {:?}, already used by a {} family: dropped",
                            m.name,
                            wire,
                            f.kind.type_name()
                        ),
                    );
                }
                continue;
            }
            let names = sample_names(&wire, kind);
            if let Some(n) = names.iter().find(|n| claimed.contains(*n)) {
                left_out += m.data.len() as u64;
                warn_once(
                    format!("clash:{}:{}", wire, m.name),
                    format_args!(
                        "metric {:?} ({} {:?}) would produce samples named {n:?}, which another family already uses: dropped",
                        m.name,
                        kind.type_name(),
                        wire
                    ),
                );
                continue;
            }
            claimed.extend(names);
            index.insert(wire.clone(), families.len());
            families.push(Family {
                name,
                wire,
                kind,
                help: &m.description,
                sources: vec![(si, m)],
            });
        }
    }

    (families, left_out)
}

/// Encodes a resource's attributes and scopes (the parts of a snapshot).
/// Returns the number of samples left out (see the module documentation:
/// a series already written, a metric whose name another type took).
pub(crate) fn encode_parts(
    resource: &AttributeSet,
    scopes: &[&ScopeMetrics],
    format: Format,
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) -> u64 {
    let om = format == Format::OpenMetrics;
    let naming = Naming::of(opts);
    let target_info = opts.target_info && !resource.is_empty();
    let (families, mut left_out) = families(scopes, opts, target_info, false);
    let scope_labels = scope_label_sets(scopes, opts.scope_labels, naming);

    out.reserve(
        families
            .iter()
            .map(|f| f.sources.iter().map(|s| s.1.data.len()).sum::<usize>())
            .sum::<usize>()
            * 96,
    );
    if target_info {
        write_target_info(out, resource, naming, om);
    }
    let mut le = LeCache::default();
    for f in &families {
        let (type_name, quoted) = write_family_metadata(out, f, naming, om);
        // Everything a sample line needs that does not depend on the series.
        let value_suffix = if f.kind == PromKind::Counter && om {
            "_total"
        } else {
            ""
        };
        let names = SampleNames::new(&type_name, value_suffix, quoted);
        let fam = FamilyCtx {
            names: &names,
            base: f.wire.as_str(),
            kind: f.kind,
            om,
            quoted,
            timestamps: opts.timestamps,
            naming,
        };
        let keys = KeyCache::new(Reserved::of(f.kind, opts.scope_labels), naming);
        left_out += write_family_samples(out, f, &fam, keys, &scope_labels, &mut le);
    }
    if om {
        out.extend_from_slice(b"# EOF\n");
    }
    left_out
}

/// The scope labels of each scope, rendered once (empty when `enabled`
/// is false).
fn scope_label_sets(scopes: &[&ScopeMetrics], enabled: bool, naming: Naming) -> Vec<Vec<u8>> {
    scopes
        .iter()
        .map(|s| {
            let mut b = Vec::new();
            if enabled {
                render_scope_labels(&s.scope, &mut b, naming);
            }
            b
        })
        .collect()
}

/// The `target_info` family: the resource's attributes as the labels of
/// one gauge sample of value 1.
fn write_target_info(out: &mut Vec<u8>, resource: &AttributeSet, naming: Naming, om: bool) {
    let mut labels = Vec::new();
    write_attrs(&mut labels, resource, Reserved::None, naming);
    if om {
        out.extend_from_slice(b"# TYPE target info\n# HELP target Target metadata\n");
    } else {
        out.extend_from_slice(b"# HELP target_info Target metadata\n# TYPE target_info gauge\n");
    }
    write_sample(out, "target_info", "", &labels, b"1", None, om);
}

/// A family's `# HELP`, `# TYPE` and (OpenMetrics) `# UNIT` lines.
/// Returns the name they carry and whether it is quoted.
fn write_family_metadata(
    out: &mut Vec<u8>,
    f: &Family<'_>,
    naming: Naming,
    om: bool,
) -> (String, bool) {
    // The name of `# TYPE`: the text format's counters carry `_total`
    // in it, OpenMetrics counters only in their samples.
    let type_name = if f.kind == PromKind::Counter && !om && f.name.total {
        naming.metric(&format!("{}_total", f.name.base))
    } else {
        f.wire.clone()
    };
    let quoted = naming.quotes() && !is_legacy_metric_name(&type_name);
    if !f.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        write_name(out, &type_name, quoted);
        out.push(b' ');
        escape_help(out, f.help, om);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    write_name(out, &type_name, quoted);
    out.push(b' ');
    out.extend_from_slice(f.kind.type_name().as_bytes());
    out.push(b'\n');
    if om {
        if let Some(u) = &f.name.unit {
            out.extend_from_slice(b"# UNIT ");
            write_name(out, &type_name, quoted);
            out.push(b' ');
            out.extend_from_slice(u.as_bytes());
            out.push(b'\n');
        }
    }
    (type_name, quoted)
}

/// A family's samples, from all its sources. Returns the samples left
/// out because they repeat a series already written.
///
/// One source whose keys are all clean label names and whose points
/// cannot repeat a series is written in one pass without remembering
/// label sets. A key that needs sanitizing (rare) restarts the family
/// with duplicate detection.
fn write_family_samples(
    out: &mut Vec<u8>,
    f: &Family<'_>,
    fam: &FamilyCtx<'_>,
    mut keys: KeyCache,
    scope_labels: &[Vec<u8>],
    le: &mut LeCache,
) -> u64 {
    let mark = out.len();
    if f.sources.len() == 1 && !may_repeat_series(f.sources[0].1) {
        let (si, m) = f.sources[0];
        let mut mode = Mode::Fast(&mut keys);
        if write_metric(out, fam, &scope_labels[si], m, &mut mode, le) {
            return 0;
        }
        out.truncate(mark);
    }
    let mut seen = Seen::default();
    for &(si, m) in &f.sources {
        let mut mode = Mode::Dedup(&mut keys, &mut seen);
        write_metric(out, fam, &scope_labels[si], m, &mut mode, le);
    }
    seen.repeated
}

/// Sample names of a family, rendered once: `name`, or `{"name"` when the
/// name is quoted (a UTF-8 name inside the braces).
struct SampleNames {
    /// `base` plus the OpenMetrics counter suffix where it applies.
    value: Vec<u8>,
    created: Vec<u8>,
    bucket: Vec<u8>,
    count: Vec<u8>,
    sum: Vec<u8>,
}

impl SampleNames {
    fn new(base: &str, value_suffix: &str, quoted: bool) -> Self {
        let with = |s: &str| {
            let mut v = Vec::with_capacity(base.len() + s.len() + 3);
            if quoted {
                v.extend_from_slice(b"{\"");
                escape_label(&mut v, base);
                v.extend_from_slice(s.as_bytes());
                v.push(b'"');
            } else {
                v.extend_from_slice(base.as_bytes());
                v.extend_from_slice(s.as_bytes());
            }
            v
        };
        SampleNames {
            value: with(value_suffix),
            created: with("_created"),
            bucket: with("_bucket"),
            count: with("_count"),
            sum: with("_sum"),
        }
    }
}

/// Per-family constants of the sample loop.
struct FamilyCtx<'a> {
    names: &'a SampleNames,
    base: &'a str,
    kind: PromKind,
    om: bool,
    /// The name is quoted inside the braces: labels follow it after `,`.
    quoted: bool,
    timestamps: bool,
    naming: Naming,
}

impl FamilyCtx<'_> {
    /// What follows a sample name before its labels.
    #[inline(always)]
    fn open(&self) -> u8 {
        if self.quoted {
            b','
        } else {
            b'{'
        }
    }
}

/// A metric name in `# HELP` / `# TYPE` / `# UNIT`, quoted when it is not
/// of the legacy character set and the scraper takes UTF-8.
fn write_name(out: &mut Vec<u8>, name: &str, quoted: bool) {
    if quoted {
        out.push(b'"');
        escape_label(out, name);
        out.push(b'"');
    } else {
        out.extend_from_slice(name.as_bytes());
    }
}

/// How a series' labels are written.
enum Mode<'a> {
    /// Keys are expected to be clean label names; no duplicate detection.
    /// A key that is not clean aborts the metric (the caller restarts the
    /// family in [`Mode::Dedup`]).
    Fast(&'a mut KeyCache),
    /// Keys are sanitized where needed and series whose labels repeat an
    /// earlier series of the family are dropped.
    Dedup(&'a mut KeyCache, &'a mut Seen),
}

/// Remembers which attribute keys are clean, unreserved label names, by
/// key position and string identity: the points of one metric nearly
/// always share their key strings (the same literals or shared owned
/// strings), so each key is checked once per metric, not once per series.
struct KeyCache {
    reserved: Reserved,
    naming: Naming,
    known: KeyMemo,
}

impl KeyCache {
    fn new(reserved: Reserved, naming: Naming) -> Self {
        KeyCache {
            reserved,
            naming,
            known: KeyMemo::new(),
        }
    }

    #[inline(always)]
    fn clean(&mut self, pos: usize, key: &str) -> bool {
        let (naming, reserved) = (&self.naming, &self.reserved);
        self.known.check(pos, key, |k| {
            naming.verbatim_label(k) && !reserved.is_reserved(k)
        })
    }

    #[inline(always)]
    fn all_clean(&mut self, attrs: &AttributeSet) -> bool {
        for (i, kv) in attrs.iter().enumerate() {
            if !self.clean(i, kv.key()) {
                return false;
            }
        }
        true
    }
}

/// Label sets already written in a family, as byte ranges of the output
/// (no copies).
#[derive(Default)]
struct Seen {
    first: HashMap<u64, (usize, usize), foldhash::fast::RandomState>,
    /// Further ranges whose hash is already in `first` (practically never).
    more: Vec<(u64, usize, usize)>,
    /// Series left out because their labels were already written.
    repeated: u64,
}

impl Seen {
    /// Records `out[r]`; false when an equal label set was recorded before.
    fn insert(&mut self, out: &[u8], r: (usize, usize)) -> bool {
        use std::collections::hash_map::Entry;
        use std::hash::BuildHasher;
        let bytes = &out[r.0..r.1];
        let h = self.first.hasher().hash_one(bytes);
        match self.first.entry(h) {
            Entry::Vacant(v) => {
                v.insert(r);
                true
            }
            Entry::Occupied(o) => {
                let same = |q: (usize, usize)| &out[q.0..q.1] == bytes;
                if same(*o.get()) || self.more.iter().any(|&(mh, a, b)| mh == h && same((a, b))) {
                    return false;
                }
                self.more.push((h, r.0, r.1));
                true
            }
        }
    }
}

/// Writes the label content of a series (`k="v",...` then the scope
/// labels, no braces) at the end of `out`. Returns its byte range, or
/// None when the series must not be written: a repeated label set
/// (Dedup; warned) or a key that is not clean (Fast; the caller restarts).
#[inline(always)]
fn series_labels(
    out: &mut Vec<u8>,
    attrs: &AttributeSet,
    scope: &[u8],
    mode: &mut Mode<'_>,
    base: &str,
) -> Option<(usize, usize)> {
    let start = out.len();
    match mode {
        Mode::Fast(keys) => {
            for (i, kv) in attrs.iter().enumerate() {
                if !keys.clean(i, kv.key()) {
                    return None;
                }
                if i > 0 {
                    out.push(b',');
                }
                write_label(out, kv.key(), kv.value());
            }
        }
        Mode::Dedup(keys, _) => {
            if keys.all_clean(attrs) {
                write_attrs_checked(out, attrs, keys.reserved, true, keys.naming);
            } else {
                write_attrs_slow(out, attrs, keys.reserved, "", keys.naming);
            }
        }
    }
    if !scope.is_empty() {
        if out.len() > start {
            out.push(b',');
        }
        out.extend_from_slice(scope);
    }
    let r = (start, out.len());
    if let Mode::Dedup(_, seen) = mode {
        if !seen.insert(out, r) {
            seen.repeated += 1;
            warn_once(
                format!("dup:{base}"),
                format_args!(
                    "family {base:?}: two samples with the same labels (two metrics of one name, label names equal once sanitized, or a producer's series at two timestamps); one sample per series per exposition: the later one is dropped and counted as an exposition conflict"
                ),
            );
            return None;
        }
    }
    Some(r)
}

/// Points ahead of the one being written whose attribute sets are
/// prefetched (the sets are scattered over the heap; without this, every
/// series costs a cache miss), and, half as far ahead, whose owned strings
/// are prefetched.
const AHEAD: usize = 16;

/// A point with an attribute set.
trait Point {
    fn attrs(&self) -> &AttributeSet;
}

impl Point for NumberPoint {
    #[inline(always)]
    fn attrs(&self) -> &AttributeSet {
        &self.attributes
    }
}

impl Point for HistogramPoint {
    #[inline(always)]
    fn attrs(&self) -> &AttributeSet {
        &self.attributes
    }
}

#[inline(always)]
fn prefetch_ahead<P: Point>(points: &[P], i: usize) {
    if let Some(p) = points.get(i + AHEAD) {
        prefetch_set(p.attrs());
    }
    if let Some(p) = points.get(i + AHEAD / 2) {
        prefetch_strings(p.attrs());
    }
}

/// Writes one metric's points. False when the Fast mode met a key that
/// is not clean (the output then holds a partial metric that the caller
/// truncates).
fn write_metric(
    out: &mut Vec<u8>,
    fam: &FamilyCtx<'_>,
    scope: &[u8],
    m: &Metric,
    mode: &mut Mode<'_>,
    le: &mut LeCache,
) -> bool {
    let per_series = fam.names.value.len() + scope.len() + 48;
    match &m.data {
        MetricData::Gauge(Gauge { points }) | MetricData::Sum(Sum { points, .. }) => {
            out.reserve(points.len() * per_series);
            for (i, p) in points.iter().enumerate() {
                prefetch_ahead(points, i);
                let line = out.len();
                out.extend_from_slice(&fam.names.value);
                out.push(fam.open());
                match series_labels(out, &p.attributes, scope, mode, fam.base) {
                    Some(r) => number_point(out, fam, r, p),
                    None if matches!(mode, Mode::Fast(_)) => return false,
                    None => out.truncate(line),
                }
            }
        }
        MetricData::Histogram(h) => {
            for (i, p) in h.points.iter().enumerate() {
                prefetch_ahead(&h.points, i);
                let line = out.len();
                out.extend_from_slice(&fam.names.bucket);
                out.push(fam.open());
                match series_labels(out, &p.attributes, scope, mode, fam.base) {
                    Some(r) => histogram_point(out, fam, r, p, le),
                    None if matches!(mode, Mode::Fast(_)) => return false,
                    None => out.truncate(line),
                }
            }
        }
        // The text formats have no native histograms: `kind_of` gives
        // these no family.
        MetricData::ExponentialHistogram(_) => {}
    }
    true
}

/// Ends a number point's first line (after `name{labels`) and writes its
/// `_created` line when there is one.
#[inline(always)]
fn number_point(out: &mut Vec<u8>, fam: &FamilyCtx<'_>, r: (usize, usize), p: &NumberPoint) {
    if r.0 == r.1 {
        out.pop(); // the `{` (or the `,` after a quoted name)
        if fam.quoted {
            out.push(b'}');
        }
    } else {
        out.push(b'}');
    }
    out.push(b' ');
    match p.value {
        Number::U64(v) => write_u64(out, v),
        Number::I64(v) => write_i64(out, v),
        Number::F64(v) => write_f64(out, v, fam.om),
    }
    let ts = (p.explicit_time && fam.timestamps).then_some(p.time);
    if let Some(t) = ts {
        write_timestamp(out, t, fam.om);
    }
    if fam.om && fam.kind == PromKind::Counter && !p.exemplars.is_empty() {
        if let Some(e) = latest(p.exemplars.iter()) {
            write_exemplar(out, e, fam.naming);
        }
    }
    out.push(b'\n');
    if fam.kind == PromKind::Counter && fam.om && p.start_time > 0 {
        out.extend_from_slice(&fam.names.created);
        copy_labels(out, r, fam.quoted);
        out.push(b' ');
        write_unix_seconds(out, p.start_time);
        if let Some(t) = ts {
            write_timestamp(out, t, fam.om);
        }
        out.push(b'\n');
    }
}

/// `{labels}` copied from an earlier line (nothing when there are none);
/// after a quoted name (`{"name"`), `,labels}` or `}`.
#[inline(always)]
fn copy_labels(out: &mut Vec<u8>, r: (usize, usize), quoted: bool) {
    if r.0 != r.1 {
        out.push(if quoted { b',' } else { b'{' });
        out.extend_from_within(r.0..r.1);
        out.push(b'}');
    } else if quoted {
        out.push(b'}');
    }
}

/// The rendered `le="..."` labels of the last bounds seen (histograms of
/// one metric share their bounds).
#[derive(Default)]
struct LeCache {
    bounds: Option<(Arc<[f64]>, bool)>,
    /// `le="b"}` per bound, then `le="+Inf"}`, back to back.
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl LeCache {
    fn get(&mut self, bounds: &Arc<[f64]>, om: bool) -> (&[u8], &[usize]) {
        let hit = matches!(&self.bounds, Some((b, o)) if Arc::ptr_eq(b, bounds) && *o == om);
        if !hit {
            self.text.clear();
            self.ends.clear();
            for b in bounds.iter() {
                self.text.extend_from_slice(b"le=\"");
                write_f64(&mut self.text, *b, om);
                self.text.extend_from_slice(b"\"}");
                self.ends.push(self.text.len());
            }
            self.text.extend_from_slice(b"le=\"+Inf\"}");
            self.ends.push(self.text.len());
            self.bounds = Some((bounds.clone(), om));
        }
        (&self.text, &self.ends)
    }
}

/// Ends a histogram's first bucket line (after `name_bucket{labels`) and
/// writes the other lines.
fn histogram_point(
    out: &mut Vec<u8>,
    fam: &FamilyCtx<'_>,
    r: (usize, usize),
    p: &HistogramPoint,
    le: &mut LeCache,
) {
    let (le_text, le_ends) = le.get(&p.bounds, fam.om);
    let labelled = r.0 != r.1;
    let picks = if fam.om && !p.exemplars.is_empty() {
        bucket_exemplars(p)
    } else {
        Vec::new()
    };
    let mut from = 0;
    for (i, (&to, v)) in le_ends.iter().zip(cumulative_bucket_counts(p)).enumerate() {
        if i > 0 {
            out.extend_from_slice(&fam.names.bucket);
            out.push(fam.open());
            out.extend_from_within(r.0..r.1);
        }
        if labelled {
            out.push(b',');
        }
        out.extend_from_slice(&le_text[from..to]);
        from = to;
        out.push(b' ');
        write_u64(out, v);
        if let Some(Some(e)) = picks.get(i) {
            write_exemplar(out, e, fam.naming);
        }
        out.push(b'\n');
    }
    out.extend_from_slice(&fam.names.count);
    copy_labels(out, r, fam.quoted);
    out.push(b' ');
    write_u64(out, p.count);
    out.push(b'\n');
    out.extend_from_slice(&fam.names.sum);
    copy_labels(out, r, fam.quoted);
    out.push(b' ');
    write_f64(out, p.sum, fam.om);
    out.push(b'\n');
    if fam.om && p.start_time > 0 {
        out.extend_from_slice(&fam.names.created);
        copy_labels(out, r, fam.quoted);
        out.push(b' ');
        write_unix_seconds(out, p.start_time);
        out.push(b'\n');
    }
}

/// The exemplar with the latest time (the last of equal times).
pub(super) fn latest<'a>(v: impl Iterator<Item = &'a Exemplar>) -> Option<&'a Exemplar> {
    v.fold(None, |best: Option<&Exemplar>, e| match best {
        Some(b) if b.time > e.time => Some(b),
        _ => Some(e),
    })
}

/// Index of the bucket of a histogram with upper bounds `bounds` that
/// holds `v` (bucket `i` is `(bounds[i-1], bounds[i]]`, the last one
/// `(last bound, +Inf)`); None for NaN, which no bucket holds.
pub(super) fn bucket_of(bounds: &[f64], v: f64) -> Option<usize> {
    (!v.is_nan()).then(|| bounds.partition_point(|&b| b < v))
}

/// Per bucket of a histogram point (the `+Inf` bucket last), the latest
/// exemplar whose value falls in it.
pub(super) fn bucket_exemplars(p: &HistogramPoint) -> Vec<Option<&Exemplar>> {
    let mut picks: Vec<Option<&Exemplar>> = vec![None; p.bounds.len() + 1];
    for e in &p.exemplars {
        if let Some(i) = bucket_of(&p.bounds, e.value.as_f64()) {
            picks[i] = latest(picks[i].into_iter().chain([e]));
        }
    }
    picks
}

/// The most characters (code points) an OpenMetrics exemplar's label
/// names and values may hold together.
pub(super) const EXEMPLAR_LABELS_MAX: usize = 128;

/// The labels of an exemplar, values unescaped: `trace_id` and `span_id`
/// (lowercase hex; each left out when all zero, the measurement had no
/// trace context), then the filtered attributes as labels (translated like
/// series labels, in label-name order), each added only when the names
/// and values together stay within [`EXEMPLAR_LABELS_MAX`] characters; an
/// attribute that would pass it is left out and the next ones are still
/// tried. The ids (63 characters) always fit.
pub(super) fn exemplar_label_pairs(e: &Exemplar, naming: Naming) -> Vec<(String, String)> {
    let fixed = |k: &str| escape_label_name(k, naming.escaping).into_owned();
    let mut v = Vec::with_capacity(2 + e.filtered_attributes.len());
    if e.trace_id.iter().any(|&b| b != 0) {
        v.push((fixed("trace_id"), hex(&e.trace_id)));
    }
    if e.span_id.iter().any(|&b| b != 0) {
        v.push((fixed("span_id"), hex(&e.span_id)));
    }
    let chars = |k: &str, val: &str| k.chars().count() + val.chars().count();
    let mut used: usize = v.iter().map(|(k, val)| chars(k, val)).sum();
    if e.filtered_attributes.is_empty() {
        return v;
    }
    let ids = v.len();
    for (k, val) in label_pairs(&e.filtered_attributes, Reserved::None, "", naming) {
        if v[..ids].iter().any(|(id, _)| *id == k) {
            continue;
        }
        let n = chars(&k, &val);
        if used + n <= EXEMPLAR_LABELS_MAX {
            used += n;
            v.push((k, val));
        }
    }
    v
}

/// ` # {labels} value [timestamp]` after a sample's value.
#[cold]
fn write_exemplar(out: &mut Vec<u8>, e: &Exemplar, naming: Naming) {
    out.extend_from_slice(b" # {");
    write_pairs(out, &exemplar_label_pairs(e, naming), naming.quotes());
    out.extend_from_slice(b"} ");
    match e.value {
        Number::U64(v) => write_u64(out, v),
        Number::I64(v) => write_i64(out, v),
        Number::F64(v) => write_f64(out, v, true),
    }
    if e.time > 0 {
        out.push(b' ');
        write_unix_seconds(out, e.time);
    }
}

/// ` <timestamp>`: Unix seconds (OpenMetrics) or milliseconds (text).
#[inline]
fn write_timestamp(out: &mut Vec<u8>, t: u64, om: bool) {
    out.push(b' ');
    if om {
        write_unix_seconds(out, t);
    } else {
        write_u64(out, t / 1_000_000);
    }
}

fn write_sample(
    out: &mut Vec<u8>,
    base: &str,
    suffix: &str,
    labels: &[u8],
    value: &[u8],
    ts: Option<u64>,
    om: bool,
) {
    out.extend_from_slice(base.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(labels);
        out.push(b'}');
    }
    out.push(b' ');
    out.extend_from_slice(value);
    if let Some(t) = ts {
        write_timestamp(out, t, om);
    }
    out.push(b'\n');
}

/// Prefetches the key/value array of an attribute set (pointer arithmetic
/// only: nothing is read).
#[inline(always)]
fn prefetch_set(attrs: &AttributeSet) {
    let s = attrs.as_slice();
    let bytes = std::mem::size_of_val(s);
    let p = s.as_ptr() as *const u8;
    let mut off = 0;
    while off < bytes {
        prefetch(p.wrapping_add(off));
        off += 64;
    }
    if bytes > 0 {
        prefetch(p.wrapping_add(bytes - 1));
    }
}

/// Prefetches the bytes of the owned strings of an attribute set (reads
/// the set, which [`prefetch_set`] brought in earlier).
#[inline(always)]
fn prefetch_strings(attrs: &AttributeSet) {
    for kv in attrs.iter() {
        prefetch(kv.key().as_ptr());
        if let Value::Str(s) = kv.value() {
            if !s.is_static() {
                prefetch(s.as_ptr());
            }
        }
    }
}

/// Label names the encoder writes itself, which attributes may not use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserved {
    None,
    Scope,
    Le,
    LeAndScope,
    /// The labels the encoder itself derives from the scope.
    ScopeFixed,
}

impl Reserved {
    /// What a family of `kind` reserves.
    pub(super) fn of(kind: PromKind, scope_labels: bool) -> Reserved {
        match (kind, scope_labels) {
            (PromKind::Histogram, true) => Reserved::LeAndScope,
            (PromKind::Histogram, false) => Reserved::Le,
            (_, true) => Reserved::Scope,
            (_, false) => Reserved::None,
        }
    }

    fn is_reserved(self, key: &str) -> bool {
        let le = matches!(self, Reserved::Le | Reserved::LeAndScope) && key == "le";
        let scope = matches!(self, Reserved::Scope | Reserved::LeAndScope)
            && key.starts_with("otel_scope_");
        let fixed = self == Reserved::ScopeFixed
            && matches!(
                key,
                "otel_scope_name" | "otel_scope_version" | "otel_scope_schema_url"
            );
        le || scope || fixed
    }
}

/// Writes `k="v",k2="v2"` (no braces) for an attribute set.
fn write_attrs(out: &mut Vec<u8>, attrs: &AttributeSet, reserved: Reserved, naming: Naming) {
    let fast = attrs
        .iter()
        .all(|kv| naming.verbatim_label(kv.key()) && !reserved.is_reserved(kv.key()));
    write_attrs_checked(out, attrs, reserved, fast, naming)
}

/// [`write_attrs`] when the caller already knows whether every key is its
/// own, unreserved label name.
fn write_attrs_checked(
    out: &mut Vec<u8>,
    attrs: &AttributeSet,
    reserved: Reserved,
    fast: bool,
    naming: Naming,
) {
    if fast {
        for (i, kv) in attrs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_label(out, kv.key(), kv.value());
        }
        return;
    }
    write_attrs_slow(out, attrs, reserved, "", naming);
}

/// `key="value"` for a key known to be a clean label name.
#[inline(always)]
fn write_label(out: &mut Vec<u8>, key: &str, value: &Value) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"=\"");
    write_value(out, value);
    out.push(b'"');
}

/// The labels of an attribute set, values unescaped, in label-name order:
/// translates keys (with a prefix) as `naming` says, drops reserved keys,
/// and joins the values of keys that translate to the same label with
/// `;`, ordered by original key (the set's order), as the specification
/// asks.
pub(super) fn label_pairs(
    attrs: &AttributeSet,
    reserved: Reserved,
    prefix: &str,
    naming: Naming,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::with_capacity(attrs.len());
    for kv in attrs.iter() {
        let k = if prefix.is_empty() {
            naming.label(kv.key(), reserved)
        } else {
            naming.label(&format!("{prefix}{}", kv.key()), reserved)
        };
        let Some(k) = k else {
            continue;
        };
        v.push((k, value_text(kv.value())));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0)); // stable: keeps original-key order
    let mut joined: Vec<(String, String)> = Vec::with_capacity(v.len());
    for (k, val) in v {
        match joined.last_mut() {
            Some((lk, lv)) if *lk == k => {
                lv.push(';');
                lv.push_str(&val);
            }
            _ => joined.push((k, val)),
        }
    }
    joined
}

/// Writes `k="v",...` (escaped) for label pairs; with `quotes`, a name
/// outside the legacy set is quoted (`"k.x"="v"`).
fn write_pairs(out: &mut Vec<u8>, pairs: &[(String, String)], quotes: bool) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_name(out, k, quotes && !is_legacy_label_name(k));
        out.extend_from_slice(b"=\"");
        escape_label(out, v);
        out.push(b'"');
    }
}

/// [`label_pairs`] written as text.
fn write_attrs_slow(
    out: &mut Vec<u8>,
    attrs: &AttributeSet,
    reserved: Reserved,
    prefix: &str,
    naming: Naming,
) {
    write_pairs(
        out,
        &label_pairs(attrs, reserved, prefix, naming),
        naming.quotes(),
    );
}

/// The labels derived from a scope (`otel_scope_name`, `_version`,
/// `_schema_url`, then its attributes as `otel_scope_*`), values
/// unescaped.
pub(super) fn scope_label_pairs(
    scope: &InstrumentationScope,
    naming: Naming,
) -> Vec<(String, String)> {
    let fixed = |k: &str| escape_label_name(k, naming.escaping).into_owned();
    let mut v = vec![(fixed("otel_scope_name"), scope.name().to_owned())];
    if let Some(ver) = scope.version() {
        v.push((fixed("otel_scope_version"), ver.to_owned()));
    }
    if let Some(url) = scope.schema_url() {
        v.push((fixed("otel_scope_schema_url"), url.to_owned()));
    }
    v.extend(label_pairs(
        scope.attributes(),
        Reserved::ScopeFixed,
        "otel_scope_",
        naming,
    ));
    v
}

fn render_scope_labels(scope: &InstrumentationScope, out: &mut Vec<u8>, naming: Naming) {
    write_pairs(out, &scope_label_pairs(scope, naming), naming.quotes());
}

/// A label value (escaped for the text formats).
#[inline(always)]
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => escape_label(out, s.as_str()),
        other => write_plain_value(out, other),
    }
}

/// Booleans and numbers as label values (nothing to escape).
fn write_plain_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => out.extend_from_slice(s.as_str().as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I64(i) => write_i64(out, *i),
        Value::F64(f) => {
            use std::io::Write;
            let _ = write!(out, "{f}");
        }
    }
}

/// A label value, unescaped.
pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.as_str().to_owned(),
        other => {
            let mut b = Vec::new();
            write_plain_value(&mut b, other);
            String::from_utf8(b).unwrap_or_default()
        }
    }
}

/// Label value escaping (both formats): `\` `"` and newline.
#[inline(always)]
fn escape_label(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !needs_label_escape(b) {
        out.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
}

/// Whether `b` holds a `\`, `"` or newline: eight bytes per step (a word
/// has a byte equal to `c` when `w ^ c*0x01..01` has a zero byte), then
/// the last, overlapping word.
#[inline(always)]
fn needs_label_escape(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline(always)]
    fn special(w: u64) -> bool {
        let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
        zero(w ^ (LO * b'\\' as u64)) | zero(w ^ (LO * b'"' as u64)) | zero(w ^ (LO * b'\n' as u64))
            != 0
    }
    #[inline(always)]
    fn word(c: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&c[..8]);
        u64::from_le_bytes(w)
    }
    if b.len() < 8 {
        return b.iter().any(|&c| c == b'\\' || c == b'"' || c == b'\n');
    }
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        if special(word(c)) {
            return true;
        }
    }
    !chunks.remainder().is_empty() && special(word(&b[b.len() - 8..]))
}

/// HELP escaping: `\` and newline; OpenMetrics also escapes `"`.
fn escape_help(out: &mut Vec<u8>, s: &str, om: bool) {
    for &c in s.as_bytes() {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if om => out.extend_from_slice(b"\\\""),
            _ => out.push(c),
        }
    }
}

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Floats: `NaN`, `+Inf`, `-Inf`; integral values below 1e15 as integers
/// (`1` in text, `1.0` in OpenMetrics); anything else in Rust's shortest
/// round-trip form (`0.25`, `1e-7`, `1.5e300`), which Go's and Python's
/// parsers read back exactly.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64, om: bool) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write_i64(out, v as i64);
        if om {
            out.extend_from_slice(b".0");
        }
    } else {
        use std::io::Write;
        let _ = write!(out, "{v:?}");
    }
}

/// Unix seconds with millisecond precision (`1700000000.123`).
fn write_unix_seconds(out: &mut Vec<u8>, nanos: u64) {
    write_u64(out, nanos / 1_000_000_000);
    out.push(b'.');
    let ms = (nanos / 1_000_000) % 1000;
    out.push(b'0' + (ms / 100) as u8);
    out.push(b'0' + ((ms / 10) % 10) as u8);
    out.push(b'0' + (ms % 10) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64, om: bool) -> String {
        let mut b = Vec::new();
        write_f64(&mut b, v, om);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn floats() {
        assert_eq!(f(1.0, false), "1");
        assert_eq!(f(1.0, true), "1.0");
        assert_eq!(f(-0.0, false), "0");
        assert_eq!(f(0.25, false), "0.25");
        assert_eq!(f(1e-7, false), "1e-7");
        assert_eq!(f(1e300, true), "1e300");
        assert_eq!(f(f64::NAN, true), "NaN");
        assert_eq!(f(f64::INFINITY, false), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY, false), "-Inf");
        let mut b = Vec::new();
        write_unix_seconds(&mut b, 1_700_000_000_123_456_789);
        assert_eq!(b, b"1700000000.123");
        b.clear();
        write_u64(&mut b, u64::MAX);
        assert_eq!(b, u64::MAX.to_string().as_bytes());
        b.clear();
        write_i64(&mut b, i64::MIN);
        assert_eq!(b, i64::MIN.to_string().as_bytes());
    }

    #[test]
    fn escape_scan_matches_naive() {
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(!needs_label_escape(&clean), "{len}");
            for pos in 0..len {
                for c in [b'\\', b'"', b'\n'] {
                    let mut v = clean.clone();
                    v[pos] = c;
                    assert!(needs_label_escape(&v), "{len} {pos} {c}");
                }
                // Bytes next to the special ones (borrow/carry cases).
                for c in [b'[', b']', b'!', b'#', 0x0b, 0x09, 0x80, 0xdc, 0x00, 0xff] {
                    let mut v = clean.clone();
                    v[pos] = c;
                    assert!(!needs_label_escape(&v), "{len} {pos} {c}");
                }
            }
        }
    }

    #[test]
    fn seen_ranges() {
        let out = b"a=\"1\"|a=\"2\"|a=\"1\"".to_vec();
        let mut s = Seen::default();
        assert!(s.insert(&out, (0, 5)));
        assert!(s.insert(&out, (6, 11)));
        assert!(!s.insert(&out, (12, 17)));
        assert!(s.insert(&out, (0, 0)));
        assert!(!s.insert(&out, (3, 3)));
    }

    fn ex(time: u64, value: Number, attrs: &[(&str, &str)]) -> Exemplar {
        Exemplar {
            filtered_attributes: AttributeSet::from_key_values(
                attrs
                    .iter()
                    .map(|(k, v)| crate::attributes::KeyValue::new(k.to_string(), v.to_string()))
                    .collect(),
            ),
            time,
            value,
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
        }
    }

    fn naming() -> Naming {
        Naming {
            strategy: TranslationStrategy::default(),
            escaping: EscapingScheme::default(),
        }
    }

    #[test]
    fn exemplar_labels_ids_first_then_attributes_within_128_characters() {
        let b = "b".repeat(63); // 1 + 63: would make 129
        let e = ex(
            1,
            Number::U64(1),
            &[
                ("trace_id", "spoof"),
                ("a", "1"),
                ("b", &b),
                ("c", "2"),
                ("d.x", "3"),
            ],
        );
        let got = exemplar_label_pairs(&e, naming());
        let want: Vec<(String, String)> = [
            ("trace_id", "ab".repeat(16)),
            ("span_id", "01".repeat(8)),
            ("a", "1".into()),
            ("c", "2".into()),
            ("d_x", "3".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(got, want);
        let chars: usize = got.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert_eq!(chars, 63 + 2 + 2 + 4);
        // Without a trace context only the attributes remain, and the
        // whole budget is theirs.
        let mut e = ex(1, Number::U64(1), &[("b", &b)]);
        e.trace_id = [0; 16];
        e.span_id = [0; 8];
        assert_eq!(
            exemplar_label_pairs(&e, naming()),
            vec![("b".to_string(), b.clone())]
        );
        // Written with escapes.
        let mut out = Vec::new();
        let e = ex(1_500_000_000, Number::F64(0.5), &[("q", "a\"b")]);
        write_exemplar(&mut out, &e, naming());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                " # {{trace_id=\"{}\",span_id=\"{}\",q=\"a\\\"b\"}} 0.5 1.500",
                "ab".repeat(16),
                "01".repeat(8)
            )
        );
    }

    #[test]
    fn buckets_hold_values_up_to_their_inclusive_bound() {
        let bounds = [0.1, 1.0, 5.0];
        for (v, want) in [
            (f64::NEG_INFINITY, Some(0)),
            (-3.0, Some(0)),
            (0.1, Some(0)),
            (0.100001, Some(1)),
            (1.0, Some(1)),
            (5.0, Some(2)),
            (5.000001, Some(3)),
            (f64::INFINITY, Some(3)),
            (f64::NAN, None),
        ] {
            assert_eq!(bucket_of(&bounds, v), want, "{v}");
        }
        assert_eq!(bucket_of(&[], 7.0), Some(0));
        // The latest wins; of equal times the later in the list.
        let v = [
            ex(5, Number::U64(1), &[]),
            ex(9, Number::U64(2), &[]),
            ex(9, Number::U64(3), &[]),
            ex(2, Number::U64(4), &[]),
        ];
        assert_eq!(latest(v.iter()).map(|e| e.value), Some(Number::U64(3)));
        assert!(latest([].iter()).is_none());
    }

    #[test]
    fn escaping() {
        let mut b = Vec::new();
        escape_label(&mut b, "a\\b\"c\nd");
        assert_eq!(b, br#"a\\b\"c\nd"#);
        b.clear();
        escape_help(&mut b, "a\\b\"c\nd", false);
        assert_eq!(b, br#"a\\b"c\nd"#);
        b.clear();
        escape_help(&mut b, "a\"", true);
        assert_eq!(b, br#"a\""#);
    }
}
