//! Base2 exponential histogram cells (the OpenTelemetry SDK's "Base2
//! Exponential Bucket Histogram Aggregation").
//!
//! # Buckets
//!
//! At scale `s` the base is `2^(2^-s)` and bucket `i` holds the magnitudes
//! in `(base^i, base^(i+1)]` (upper-inclusive). [`bucket_index`] splits
//! the value into its binary exponent and mantissa (subnormals included)
//! and is exact for every power of two and the floats next to it. At
//! scales up to 10 it maps the float just below the value into
//! lower-inclusive buckets at scale 10, with one table built at compile
//! time (16 KiB: the top 11 mantissa bits pick an entry holding a
//! candidate sub-bucket and the next boundary, one comparison corrects the
//! candidate), and shifts that index right by `10 - scale` (scale `s`'s
//! boundaries are every `2^(10 - s)`-th of scale 10's, negative scales
//! included). Finer scales use the exponent and `log2` of the mantissa,
//! clamped to the octave. The boundaries other than powers of two,
//! `2^(j / 2^scale)`, are irrational: both methods place them within an
//! ulp or so of the true value (the tests check 1e-12 either side), which
//! the specification allows ("defining an exact mapping function is out of
//! scope").
//!
//! Positive and negative values have one range each (by magnitude), exact
//! zeros go to the zero bucket (threshold 0). Each range starts at
//! `max_scale` and lowers its scale just enough when a value's index does
//! not fit in `max_size` buckets together with the indices it already
//! holds; a read brings both ranges to the lower of the two scales, which
//! is exactly the scale the specification's shared downscaling would reach
//! (fitting is monotone in the scale, so the shared scale is the minimum
//! of the scales each range needs alone).
//!
//! # Concurrency: how a downscale loses nothing without a lock
//!
//! The cell has three arrays of `max_size` bucket slots: one per range
//! and a spare. Each range has one *window word* (an `AtomicU64`) packing
//! the scale, the used index range `[lo, lo + span]`, which array holds it,
//! a *generation tag*, a *frozen* flag and the downscale step `k`. Index
//! `i` lives at position `(i + BIAS) mod max_size` of the array (a ring:
//! `max_size` consecutive indices never share a slot). Every slot carries
//! the tag of the generation it belongs to and its own frozen bit in its
//! top seven bits, and the count in the other 57. Tags come from one
//! counter per cell, so they only grow and are never reused: a range
//! downscales at most 31 times in its life (scales only go down, from at
//! most 20 to at least [`MIN_SCALE`]), the cell at most 62 times, and 6
//! tag bits never wrap.
//!
//! - Recording (the fast path, inlined): load the window word, compute the
//!   index at its scale, and if it lies in the window, one
//!   compare-exchange adds 1 to the slot *provided the slot is still tagged
//!   live for that generation*. That is a load plus one CAS on the common
//!   path, no wait on anyone. The window's frozen flag is not consulted
//!   there: the slot's own frozen bit decides (an add that lands before
//!   the slot's freeze is in its frozen count, one after fails). Anything
//!   else (zeros, a first value, an index outside the window, subnormals,
//!   the `log2` scales, a failed CAS) goes out of line. (A `fetch_add`
//!   cannot replace the CAS: an add that lands on a frozen slot, or on a
//!   slot a later generation took over, could only be taken back after a
//!   reader or the downscale's merge may have seen it, a bucket shrinking
//!   between reads or a value counted twice.)
//! - Growing the window (the index fits within `max_size` of the used
//!   range): a CAS on the window word, then the slot CAS.
//! - Downscaling (cold): the recorder whose value does not fit sets the
//!   frozen flag and `k` with one CAS on the window word (so the window is
//!   final and everyone agrees on the target). From then on *any* thread
//!   that meets the frozen word helps finish the downscale, so nobody waits
//!   for the initiator's progress (lock-free). It takes the spare with one
//!   CAS on the cell's *spare word* (which array is free, the last tag
//!   handed out, and while taken: which range, generation and old array);
//!   a thread that finds the spare taken by the other range first finishes
//!   that range's downscale the same way and frees the spare. The
//!   downscale itself: freeze every slot of the range's array (CAS live ->
//!   frozen: a late recorder's CAS now fails and it retries in the next
//!   generation; a recorder that got in before the freeze is in the frozen
//!   count), write each slot of the spare with the merged frozen counts
//!   (`i -> i >> k`) under the next tag, by CAS from whatever older content
//!   it had (so a helper that wakes up late can never overwrite live
//!   counts: tags only grow), publish the new window (new array, tag,
//!   scale) with one CAS, and free the spare word with the range's old
//!   array as the new spare. Merged counts are a pure function of the
//!   frozen array, so every helper writes the same values; the spare word
//!   and window words never repeat a value, so a late helper's CAS fails.
//! - Reading (the collector): load the window word, read the slots of its
//!   window, load the word again; the read stands when the window, scale
//!   and generation did not change and every slot still carried that
//!   generation (frozen or not: frozen counts are final and counts are
//!   never moved out of an array, only copied into the next one), else it
//!   retries. Every retry follows a change of the window word, of which a
//!   range has at most `max_size` per generation, so reads are lock-free
//!   too and never block a recorder. The count is derived from the
//!   buckets, so `count == zero_count + positive + negative` holds in every
//!   read, and each bucket only grows between reads (brought to the later
//!   scale), which is what delta readers subtract.
//!
//! A recording thread therefore never blocks: on a downscale of its own
//! series it may do the downscale's work (about `3 * max_size` atomic
//! operations, twice if it finishes the other range's first), at most 62
//! times in the series' life.
//!
//! # Memory
//!
//! Per series at the default configuration (`max_size` 160): three arrays
//! of 160 eight-byte slots (3840 bytes, one allocation) plus the cell
//! itself (104 bytes: window words, spare word, zero count, sum, four
//! extremes, the ring's constants, the boxed slice): 3944 bytes, allocated
//! once with the series. The spare array is the price of never waiting: it
//! is what a downscale writes while recorders and readers still use the
//! range's array. A read ([`ExpoRead`], what a delta reader keeps per
//! series) is 160 bytes plus 8 per used bucket, trimmed: at most
//! `2 * max_size` counts.
//!
//! Counts are limited to 2^57 per bucket (a billion records a second for
//! four and a half years).

use super::{extreme, take_extreme, Aggregator, Cursors, Emit, RawPoint};
use crate::collect::data::{
    ExponentialBuckets, ExponentialHistogram, ExponentialHistogramPoint, MetricData, Temporality,
};
use crate::error::Error;
use crate::kinds::{AggregationCell, Measure};
use crate::sync::{AtomicU64, Ordering};
use std::borrow::Cow;

/// The lowest scale a range can reach. The specification's configurable
/// range ends at -10, where every finite double fits in three buckets; one
/// step lower every double fits in two, the smallest `max_size` allowed.
pub(crate) const MIN_SCALE: i32 = -11;
/// The highest scale the specification allows (and the default).
pub(crate) const MAX_SCALE: i32 = super::EXPONENTIAL_MAX_SCALE;
/// Largest `max_size` accepted (the span field of the window word is 14
/// bits; this many buckets cost 384 KiB per series).
pub(crate) const MAX_MAX_SIZE: u32 = super::EXPONENTIAL_MAX_MAX_SIZE;

/// Exponential histogram configuration shared by all series of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExpoConfig {
    /// Buckets per range (positive, negative), not counting the zero bucket.
    pub max_size: u32,
    /// The scale a series starts at.
    pub max_scale: i32,
    /// Whether to record min and max.
    pub record_min_max: bool,
}

impl Default for ExpoConfig {
    fn default() -> Self {
        ExpoConfig {
            max_size: 160,
            max_scale: MAX_SCALE,
            record_min_max: true,
        }
    }
}

impl ExpoConfig {
    /// Refuses a `max_size` below 2 or above [`MAX_MAX_SIZE`], and a
    /// `max_scale` outside -10..=20.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_size < 2 || self.max_size > MAX_MAX_SIZE {
            return Err(Error::InvalidArgument(format!(
                "exponential histogram max_size {} is outside 2..={MAX_MAX_SIZE}",
                self.max_size
            )));
        }
        if !(super::EXPONENTIAL_MIN_SCALE..=MAX_SCALE).contains(&self.max_scale) {
            return Err(Error::InvalidArgument(format!(
                "exponential histogram max_scale {} is outside {}..={MAX_SCALE}",
                self.max_scale,
                super::EXPONENTIAL_MIN_SCALE
            )));
        }
        Ok(())
    }

    /// `max_size` and `max_scale` brought into range (a cell never panics
    /// on an unvalidated configuration).
    fn clamped(&self) -> (u32, i32) {
        (
            self.max_size.clamp(2, MAX_MAX_SIZE),
            self.max_scale.clamp(-10, MAX_SCALE),
        )
    }
}

// ---------------------------------------------------------------------------
// Mapping values to bucket indices
// ---------------------------------------------------------------------------

const MANT_BITS: u32 = 52;
const MANT_MASK: u64 = (1 << MANT_BITS) - 1;

/// Binary exponent `e` and mantissa fraction bits `f` of a positive finite
/// `v = 2^e * (1 + f / 2^52)`, subnormals normalized.
#[inline(always)]
fn exponent_and_fraction(v: f64) -> (i32, u64) {
    let bits = v.to_bits();
    let biased = ((bits >> MANT_BITS) & 0x7ff) as i32;
    let frac = bits & MANT_MASK;
    if biased != 0 {
        return (biased - 1023, frac);
    }
    // Subnormal: v = frac * 2^-1074; its top set bit is the leading 1.
    let top = 63 - frac.leading_zeros() as i32; // 0..=51
    let frac = (frac << (MANT_BITS as i32 - top)) & MANT_MASK;
    (top - 1074, frac)
}

/// The bucket of a positive finite magnitude `v` at `scale`
/// ([`MIN_SCALE`]..=[`MAX_SCALE`]): `i` with `base^i < v <= base^(i+1)`.
///
/// At the table scales (up to [`TABLE_SCALE`], negative ones included) the
/// value is mapped as the float just below it, `v-` (its bits minus one),
/// into lower-inclusive buckets (`base^i <= v- < base^(i+1)`): the same
/// bucket whenever no boundary lies strictly between `v-` and `v`, so
/// always at a power of two (the only representable boundaries), and off
/// by one only for the float right after an irrational boundary, an ulp
/// from it. `v-`'s bucket at scale 10 ([`fine_index`]) holds the bucket at
/// every coarser scale in its top bits: scale `s`'s is it shifted right by
/// `10 - s` (floor), because scale `s`'s boundaries are every
/// `2^(10 - s)`-th boundary of scale 10. Finer scales use `log2`.
#[inline(always)]
pub(crate) fn bucket_index(v: f64, scale: i32) -> i32 {
    if scale > TABLE_SCALE {
        return log_bucket_index(v, scale);
    }
    let below = v.to_bits() - 1;
    let biased = (below >> MANT_BITS) as i32;
    if biased == 0 {
        return subnormal_bucket_index(v, scale); // or the smallest normal
    }
    fine_index(biased - 1023, below & MANT_MASK) >> (TABLE_SCALE - scale)
}

/// [`bucket_index`] of a subnormal `v` or of the smallest normal, whose
/// float below is subnormal: the same, on the normalized mantissa.
#[cold]
#[inline(never)]
fn subnormal_bucket_index(v: f64, scale: i32) -> i32 {
    let (e, frac) = exponent_and_fraction(v);
    let (e, below) = if frac == 0 {
        (e - 1, MANT_MASK)
    } else {
        (e, frac - 1)
    };
    fine_index(e, below) >> (TABLE_SCALE - scale)
}

/// [`bucket_index`] at the scales above the table's, with the logarithm
/// (upper-inclusive directly: the exponent alone for powers of two).
#[inline(never)]
fn log_bucket_index(v: f64, scale: i32) -> i32 {
    let (e, frac) = exponent_and_fraction(v);
    if frac == 0 {
        return (e << scale) - 1;
    }
    (e << scale) + log_sub_bucket(frac, scale)
}

/// Inside the octave (2^e, 2^(e+1)): the sub-bucket j with
/// `j < log2(m) * 2^scale <= j + 1`, m in (1, 2) from the fraction bits
/// (not 0), `scale` > 0. Clamped to the octave, so values next to a power
/// of two never land in the neighbouring octave.
#[inline(never)]
fn log_sub_bucket(frac: u64, scale: i32) -> i32 {
    let m = f64::from_bits(frac | (1023u64 << MANT_BITS));
    let x = m.log2() * f64::from(1u32 << scale);
    (x.ceil() as i32 - 1).clamp(0, (1 << scale) - 1)
}

/// The finest scale mapped with [`TABLE`] instead of `log2`.
const TABLE_SCALE: i32 = 10;

/// Bits of the fraction that pick a [`TABLE`] slice.
const SLICE_BITS: u32 = TABLE_SCALE as u32 + 1;

/// Low bits of a [`TABLE`] entry holding the sub-bucket.
const ENTRY_SUB: u64 = (1 << (64 - MANT_BITS)) - 1;

/// The lower-inclusive bucket at scale 10 of `2^e * (1 + f / 2^52)`:
/// `(e << 10) + j` with `2^(j / 1024) <= 1 + f / 2^52 < 2^((j + 1) / 1024)`
/// (boundaries rounded to the nearest fraction, see [`boundary`]).
///
/// In mantissa space the boundaries are at least `ln 2 / 1024` apart,
/// wider than a `2^-11` slice of the fraction: so the top 11 fraction bits
/// give the sub-bucket at the slice's low end, and one comparison with the
/// next boundary finishes (about 2 ns instead of a `log2`). The entry's
/// address depends on the value only.
#[inline(always)]
fn fine_index(e: i32, f: u64) -> i32 {
    let top = f << (64 - MANT_BITS); // the fraction on top, zeros below
    let entry = TABLE[(top >> (64 - SLICE_BITS)) as usize];
    (e << TABLE_SCALE) + (entry & ENTRY_SUB) as i32 + i32::from(top > entry)
}

/// One entry per slice `c` of the fraction (its top 11 bits):
/// `(next - 1) << 12 | j`, where `j` is the sub-bucket of the slice's
/// lowest fraction and `next` the fraction of boundary `j + 1` (`2^52` for
/// the octave's end, above every fraction). `top > entry` in
/// [`fine_index`] is then `f >= next`. Built at compile time (16 KiB).
static TABLE: [u64; 1 << SLICE_BITS] = build_table();

/// `round(2^(2^b / 1024) * 2^63)` for b in 0..10: the factors of
/// [`boundary`] (the last is the square root of two).
const ROOTS: [u64; 10] = [
    0x8016_302f_1746_7628,
    0x802c_6436_d0e0_4f51,
    0x8058_d7d2_d5e5_f6b1,
    0x80b1_ed4f_d999_ab6c,
    0x8164_d1f3_bc03_0773,
    0x82cd_8698_ac2b_a1d7,
    0x85aa_c367_cc48_7b15,
    0x8b95_c1e3_ea8b_d6e7,
    0x9837_f051_8db8_a96f,
    0xb504_f333_f9de_6484,
];

/// The fraction bits of `2^(k / 1024)` for k in 0..=1024 (`2^52` for
/// 1024): the product of the [`ROOTS`] of k's bits in 64-bit fixed point
/// (rounded at each step: within 2^-59 relative), rounded to 52 bits. The
/// tests check it against `exp2`.
const fn boundary(k: u32) -> u64 {
    if k >= 1 << TABLE_SCALE {
        return 1 << MANT_BITS;
    }
    let mut x: u128 = 1 << 63; // 1.0
    let mut b = 0;
    while b < TABLE_SCALE as usize {
        if k & (1 << b) != 0 {
            x = (x * ROOTS[b] as u128 + (1 << 62)) >> 63;
        }
        b += 1;
    }
    // x < 2^64 (the value is below 2): round off 11 of the 63 fraction bits.
    (((x + (1 << 10)) >> 11) as u64) & MANT_MASK
}

const fn build_table() -> [u64; 1 << SLICE_BITS] {
    let mut table = [0u64; 1 << SLICE_BITS];
    let mut j = 0u32;
    let mut c = 0;
    while c < table.len() {
        // The sub-bucket of the slice's lowest fraction: the number of
        // boundaries at or below it.
        let low = (c as u64) << (MANT_BITS - SLICE_BITS);
        while boundary(j + 1) <= low {
            j += 1;
        }
        table[c] = (boundary(j + 1) - 1) << (64 - MANT_BITS) | j as u64;
        c += 1;
    }
    table
}

// ---------------------------------------------------------------------------
// The window word and the slots
// ---------------------------------------------------------------------------

// Window word: lo (i32, bits 0..32), span (hi - lo, 32..46), frozen (46),
// downscale step k (47..51), array (51..53), generation tag (53..59),
// MAX_SCALE - scale (59..64). An empty range has lo == i32::MIN (no index
// is that low). The scale is on top, as the shift the recording path
// applies to a scale-10 index (see `record_in`): one shift gets it, and
// one comparison of the whole word tells a table scale.
const SPAN_SHIFT: u32 = 32;
const SPAN_MASK: u64 = 0x3fff;
const FROZEN: u64 = 1 << 46;
const K_SHIFT: u32 = 47;
/// The largest step one downscale takes (4 bits); a range that needs more
/// downscales again.
const K_MAX: u32 = 15;
const ARR_SHIFT: u32 = 51;
const GEN_SHIFT: u32 = 53;
const SCALE_SHIFT: u32 = 59;
/// Window words at or above this have a table scale (<= [`TABLE_SCALE`]).
const TABLE_SCALES: u64 = ((MAX_SCALE - TABLE_SCALE) as u64) << SCALE_SHIFT;
/// The bits that identify a window (all but frozen and k).
const WINDOW_BITS: u64 = !(FROZEN | (0xf << K_SHIFT));
const EMPTY_LO: i32 = i32::MIN;

// Slot: count (bits 0..57), frozen (57), generation tag (58..64).
const SLOT_COUNT: u64 = (1 << 57) - 1;
const SLOT_FROZEN: u64 = 1 << 57;
const SLOT_GEN_SHIFT: u32 = 58;
/// A slot shifted right by this is its tag and frozen bit: `tag << 1` when
/// the slot is live (not frozen) in generation `tag`.
const SLOT_LIVE_SHIFT: u32 = SLOT_GEN_SHIFT - 1;

// Spare word (one per cell): the free array (bits 0..2) and the last tag
// handed out (2..8); while a downscale holds the spare (bit 8), also the
// range (9), its frozen tag (10..16) and its current array (16..18).
const SPARE_TAG_SHIFT: u32 = 2;
const CLAIMED: u64 = 1 << 8;
const CLAIM_RANGE_SHIFT: u32 = 9;
const CLAIM_GEN_SHIFT: u32 = 10;
const CLAIM_ARR_SHIFT: u32 = 16;

fn spare_free(arr: usize, last_tag: u64) -> u64 {
    arr as u64 | (last_tag << SPARE_TAG_SHIFT)
}

/// Added to an index before the ring's modulus: every index at any scale
/// is within +-1.13e9, so the sum is a positive u32.
const BIAS: i64 = 1_200_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    lo: i32,
    span: u32,
    scale: i32,
    /// Generation tag: unique per use of an array (tags only grow,
    /// cell-wide).
    gen: u64,
    /// Which of the cell's three arrays holds this generation.
    arr: usize,
    frozen: bool,
    k: u32,
}

impl Window {
    #[inline(always)]
    fn decode(w: u64) -> Window {
        Window {
            lo: w as u32 as i32,
            span: ((w >> SPAN_SHIFT) & SPAN_MASK) as u32,
            scale: MAX_SCALE - (w >> SCALE_SHIFT) as i32,
            gen: (w >> GEN_SHIFT) & 63,
            arr: ((w >> ARR_SHIFT) & 3) as usize,
            frozen: w & FROZEN != 0,
            k: ((w >> K_SHIFT) & 0xf) as u32,
        }
    }

    fn encode(&self) -> u64 {
        debug_assert!(u64::from(self.span) <= SPAN_MASK && self.gen < 64);
        debug_assert!(self.k <= K_MAX && self.arr < 3);
        debug_assert!((MIN_SCALE..=MAX_SCALE).contains(&self.scale));
        u64::from(self.lo as u32)
            | (u64::from(self.span) << SPAN_SHIFT)
            | (((MAX_SCALE - self.scale) as u64) << SCALE_SHIFT)
            | (self.gen << GEN_SHIFT)
            | ((self.arr as u64) << ARR_SHIFT)
            | if self.frozen { FROZEN } else { 0 }
            | (u64::from(self.k) << K_SHIFT)
    }

    fn empty(scale: i32, arr: usize) -> Window {
        Window {
            lo: EMPTY_LO,
            span: 0,
            scale,
            gen: 0,
            arr,
            frozen: false,
            k: 0,
        }
    }

    fn hi(&self) -> i32 {
        self.lo + self.span as i32
    }
}

/// The smallest step `k >= 1` such that `[lo, hi]` fits in `n` buckets at
/// `scale - k`, bounded by [`MIN_SCALE`] (where any range fits in 2) and by
/// [`K_MAX`] (a range that needs more takes a second downscale).
fn downscale_step(lo: i32, hi: i32, scale: i32, n: u32) -> u32 {
    let (lo, hi) = (i64::from(lo), i64::from(hi));
    let mut k = 1;
    while (hi >> k) - (lo >> k) >= i64::from(n) && scale - (k as i32) > MIN_SCALE && k < K_MAX {
        k += 1;
    }
    k
}

// ---------------------------------------------------------------------------
// The cell
// ---------------------------------------------------------------------------

/// Extremes are kept as order-preserving integers (negative floats
/// flipped), so min/max of signed values are integer `fetch_min/max`.
const EMPTY_MIN: u64 = u64::MAX;
const EMPTY_MAX: u64 = 0;

#[inline(always)]
fn ordered(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn from_ordered(o: u64) -> f64 {
    if o >> 63 == 1 {
        f64::from_bits(o & !(1 << 63))
    } else {
        f64::from_bits(!o)
    }
}

/// `false`, out of line and opaque to the optimizer: otherwise the
/// refusal and the fast path's `true` share a saved register (a push, a
/// pop, a `setl` and a move on every record).
#[cold]
#[inline(never)]
fn refused() -> bool {
    std::hint::black_box(false)
}

/// A base2 exponential histogram series.
pub(crate) struct ExpoHistogramCell {
    /// Window words of the positive (0) and negative (1) ranges.
    windows: [AtomicU64; 2],
    /// Three arrays of `n` slots: one per range, one spare.
    slots: Box<[AtomicU64]>,
    /// The spare array and the tag counter (see `SPARE_*`).
    spare: AtomicU64,
    zero: AtomicU64,
    sum: AtomicU64,
    /// Interval extremes (ordered integers), reset by every take.
    min: AtomicU64,
    max: AtomicU64,
    /// Cumulative extremes, folded by the collector only.
    cmin: AtomicU64,
    cmax: AtomicU64,
    /// Slots per array.
    n: u32,
    /// `ceil(2^64 / n)`: the ring position is a multiply, not a division.
    ring_m: u64,
}

impl AggregationCell for ExpoHistogramCell {
    type Config = ExpoConfig;
    fn new(cfg: &ExpoConfig) -> Self {
        let (n, scale) = cfg.clamped();
        ExpoHistogramCell {
            windows: [
                AtomicU64::new(Window::empty(scale, 0).encode()),
                AtomicU64::new(Window::empty(scale, 1).encode()),
            ],
            slots: (0..3 * n).map(|_| AtomicU64::new(0)).collect(),
            spare: AtomicU64::new(spare_free(2, 0)),
            zero: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(EMPTY_MIN),
            max: AtomicU64::new(EMPTY_MAX),
            cmin: AtomicU64::new(EMPTY_MIN),
            cmax: AtomicU64::new(EMPTY_MAX),
            n,
            ring_m: (u64::MAX / u64::from(n)).wrapping_add(1),
        }
    }
}

/// One read of an exponential histogram: cumulative buckets at one scale,
/// plus the interval extremes since the previous read and the cumulative
/// extremes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExpoRead {
    pub scale: i32,
    pub zero_count: u64,
    pub positive: ExponentialBuckets,
    pub negative: ExponentialBuckets,
    /// `zero_count + positive.total() + negative.total()`.
    pub count: u64,
    pub sum: f64,
    /// Extremes over the interval since the previous take.
    pub imin: Option<f64>,
    pub imax: Option<f64>,
    /// Extremes since the series started (including this interval).
    pub cmin: Option<f64>,
    pub cmax: Option<f64>,
}

impl ExpoHistogramCell {
    /// The ring position of index `i`.
    #[inline(always)]
    fn position(&self, i: i32) -> usize {
        let a = (i64::from(i) + BIAS) as u32;
        let low = self.ring_m.wrapping_mul(u64::from(a));
        ((u128::from(low) * u128::from(self.n)) >> 64) as usize
    }

    /// Records `v`, which must be finite (checked by the caller). Returns
    /// false, having recorded nothing, when the sum would not be finite (the
    /// sum is updated first, so a refused value is in no bucket and no
    /// extreme).
    ///
    /// The bucket's add comes last and its fast path calls nothing:
    /// everything else (zeros included) is one out-of-line call, so the
    /// fast path keeps few registers, and it is inlined whole into the
    /// stream's update. (Finding the slot before the sum's CAS, so that
    /// only the slot's CAS follows it, measured slower: 19 more
    /// instructions, the slot and its value live across the CAS loop.)
    #[inline(always)]
    pub(crate) fn record(&self, v: f64, cfg: &ExpoConfig) -> bool {
        let v = v + 0.0; // -0.0 -> +0.0: one zero bucket, one ordering
        if !super::add_finite(&self.sum, v) {
            return refused();
        }
        if cfg.record_min_max {
            let o = ordered(v);
            if o < self.min.load(Ordering::Relaxed) {
                self.min.fetch_min(o, Ordering::Relaxed);
            }
            if o > self.max.load(Ordering::Relaxed) {
                self.max.fetch_max(o, Ordering::Relaxed);
            }
        }
        // One copy of the fast path for both signs: the range and the
        // magnitude's bits.
        let bits = v.to_bits();
        let (x, mag) = ((bits >> 63) as usize, bits & !(1 << 63));
        if self.record_in(x, mag) {
            return true;
        }
        self.record_slow(x, mag)
    }

    /// Counts the magnitude with bits `mag` in range `x` when its bucket
    /// is in the window at a table scale and `mag` is a normal number
    /// above the smallest: the fast path. False, having counted nothing,
    /// otherwise (zero too).
    ///
    /// The window's frozen flag is not checked: a frozen window's slots
    /// are being frozen, and the slot's own frozen bit decides (an add
    /// before the freeze is in the frozen count, one after fails).
    #[inline(always)]
    fn record_in(&self, x: usize, mag: u64) -> bool {
        let w = self.windows[x].load(Ordering::Acquire);
        // The float just below (see `bucket_index`); its biased exponent
        // is 0 for a subnormal or the smallest normal, 0xfff for zero.
        let below = mag.wrapping_sub(1);
        let biased = below >> MANT_BITS;
        if biased.wrapping_sub(1) >= 0x7fe || w < TABLE_SCALES {
            return false;
        }
        // The bucket at scale 10 does not wait for the window; the
        // window's scale field is the shift to its scale, applied to the
        // index moved 10 bits up (`MAX_SCALE - scale = 10 + (10 - scale)`).
        let fine = fine_index(biased as i32 - 1023, below & MANT_MASK);
        let i = (fine << TABLE_SCALE) >> (w >> SCALE_SHIFT);
        let lo = w as u32 as i32;
        // Indices at a table scale are within +-2^21, so is lo unless
        // empty (EMPTY_LO: the distance is then above any span).
        let d = i.wrapping_sub(lo) as u32;
        if d > ((w >> SPAN_SHIFT) & SPAN_MASK) as u32 {
            return false;
        }
        let n = self.n as usize;
        let p = self.position(lo) + d as usize;
        let p = if p >= n { p - n } else { p };
        let arr = ((w >> ARR_SHIFT) & 3) as usize;
        let Some(slot) = self.slots.get(arr * n + p) else {
            return false;
        };
        let cur = slot.load(Ordering::Relaxed);
        // Live in the window's generation: tag equal, frozen bit clear.
        cur >> SLOT_LIVE_SHIFT == (w >> (GEN_SHIFT - 1)) & 0x7e
            && slot
                .compare_exchange(cur, cur + 1, Ordering::Release, Ordering::Relaxed)
                .is_ok()
    }

    /// Everything but the in-window add: zeros, the first value, growing
    /// the window, starting or helping a downscale, subnormals, the
    /// `log2` scales, and retries after a lost race. Always counts the
    /// magnitude with bits `mag` and returns true: returning `record`'s
    /// result lets `record` end in a tail call.
    #[cold]
    #[inline(never)]
    fn record_slow(&self, x: usize, mag: u64) -> bool {
        if mag == 0 {
            self.zero.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let m = f64::from_bits(mag);
        let n = self.n;
        let window = &self.windows[x];
        let mut retry = false;
        loop {
            // A retry reads the window with a read-modify-write, which sees
            // the latest value (a plain load may lag behind the change that
            // sent us round again).
            let w = if retry {
                window.fetch_or(0, Ordering::AcqRel)
            } else {
                window.load(Ordering::Acquire)
            };
            retry = true;
            let mut win = Window::decode(w);

            if win.frozen {
                self.help_downscale(x, w);
                continue;
            }
            let i = bucket_index(m, win.scale);
            if win.lo == EMPTY_LO || i < win.lo || i > win.hi() {
                let (lo, hi) = if win.lo == EMPTY_LO {
                    (i, i)
                } else {
                    (win.lo.min(i), win.hi().max(i))
                };
                let mut next = win;
                if i64::from(hi) - i64::from(lo) < i64::from(n) {
                    next.lo = lo;
                    next.span = (hi - lo) as u32;
                } else {
                    next.frozen = true;
                    next.k = downscale_step(lo, hi, win.scale, n);
                }
                if window
                    .compare_exchange(w, next.encode(), Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                    || next.frozen
                {
                    continue;
                }
                win = next;
            }
            let at = win.arr * n as usize + self.position(i);
            let slot = &self.slots[at];
            let mut cur = slot.load(Ordering::Relaxed);
            while cur >> SLOT_GEN_SHIFT == win.gen && cur & SLOT_FROZEN == 0 {
                match slot.compare_exchange_weak(cur, cur + 1, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => return true,
                    Err(a) => cur = a,
                }
            }
            // The slot was frozen: a downscale started; go round again.
        }
    }

    /// Sees the downscale announced by range `x`'s frozen window word `w`
    /// through: takes the spare array for it (after finishing and
    /// releasing any other range's downscale that holds the spare), runs
    /// it, and gives the range's old array back as the spare. Any number of
    /// threads may run this at once, or late: each step is a CAS on a word
    /// whose values never repeat.
    #[cold]
    #[inline(never)]
    fn help_downscale(&self, x: usize, w: u64) {
        let mut retry = false;
        loop {
            let sp = if retry {
                self.spare.fetch_or(0, Ordering::AcqRel) // the latest
            } else {
                self.spare.load(Ordering::Acquire)
            };
            retry = true;
            let last_tag = (sp >> SPARE_TAG_SHIFT) & 63;
            let target = (sp & 3) as usize;
            if sp & CLAIMED != 0 {
                // Some downscale holds the spare: finish it, then free the
                // spare (its range's old array becomes the spare).
                let y = ((sp >> CLAIM_RANGE_SHIFT) & 1) as usize;
                let g = (sp >> CLAIM_GEN_SHIFT) & 63;
                let old = ((sp >> CLAIM_ARR_SHIFT) & 3) as usize;
                let wy = self.windows[y].load(Ordering::Acquire);
                let win = Window::decode(wy);
                if win.frozen && win.gen == g {
                    self.downscale(y, wy, target, last_tag + 1);
                }
                let _ = self.spare.compare_exchange(
                    sp,
                    spare_free(old, last_tag + 1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                continue;
            }
            if self.windows[x].load(Ordering::Acquire) != w {
                return; // done (by whoever held the spare for it)
            }
            let win = Window::decode(w);
            let claim = sp
                | CLAIMED
                | ((x as u64) << CLAIM_RANGE_SHIFT)
                | (win.gen << CLAIM_GEN_SHIFT)
                | ((win.arr as u64) << CLAIM_ARR_SHIFT);
            if self
                .spare
                .compare_exchange(sp, claim, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.downscale(x, w, target, last_tag + 1);
                let _ = self.spare.compare_exchange(
                    claim,
                    spare_free(win.arr, last_tag + 1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                return;
            }
        }
    }

    /// Moves range `x` from its frozen window `w` to array `target` under
    /// generation tag `tag`: freezes the old slots, writes the merged
    /// counts, publishes. Returns once `w` is no longer the window.
    fn downscale(&self, x: usize, w: u64, target: usize, tag: u64) {
        let n = self.n as usize;
        let window = &self.windows[x];
        let win = Window::decode(w);
        let g = win.gen;
        let old = &self.slots[win.arr * n..(win.arr + 1) * n];
        let new = &self.slots[target * n..(target + 1) * n];
        // 1. Freeze generation g's slots: their counts become final.
        for slot in old {
            let mut cur = slot.load(Ordering::Acquire);
            while cur >> SLOT_GEN_SHIFT == g && cur & SLOT_FROZEN == 0 {
                match slot.compare_exchange_weak(
                    cur,
                    cur | SLOT_FROZEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(a) => cur = a,
                }
            }
        }
        if window.load(Ordering::Acquire) != w {
            return; // someone else published already
        }
        // 2. Write the new generation's slots: the ring of n indices from
        // the new low end; those up to the new high end get the merged
        // counts.
        let k = win.k;
        let (lo, hi) = (i64::from(win.lo), i64::from(win.hi()));
        let (tlo, thi) = (lo >> k, hi >> k);
        let start = self.position(tlo as i32);
        for j in 0..n as i64 {
            let ti = tlo + j;
            let mut merged = 0u64;
            if ti <= thi {
                let first = lo.max(ti << k);
                let last = hi.min(((ti + 1) << k) - 1);
                for i in first..=last {
                    let v = old[self.position(i as i32)].load(Ordering::Acquire);
                    merged += v & SLOT_COUNT;
                }
            }
            let slot = &new[(start + j as usize) % n];
            // Until the slot carries the new tag (or a later one): a CAS
            // that fails on stale content (a late freeze of an earlier
            // generation) retries, so no slot is left unwritten at publish.
            let mut cur = slot.load(Ordering::Acquire);
            while cur >> SLOT_GEN_SHIFT < tag {
                match slot.compare_exchange(
                    cur,
                    (tag << SLOT_GEN_SHIFT) | merged,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(a) => cur = a,
                }
            }
        }
        // 3. Publish (one helper wins; the rest fail).
        let next = Window {
            lo: tlo as i32,
            span: (thi - tlo) as u32,
            scale: win.scale - k as i32,
            gen: tag,
            arr: target,
            frozen: false,
            k: 0,
        };
        let _ = window.compare_exchange(w, next.encode(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// A consistent read of one range: its scale and trimmed buckets.
    fn read_range(&self, x: usize) -> (i32, ExponentialBuckets) {
        let n = self.n as usize;
        let window = &self.windows[x];
        let mut counts = Vec::new();
        let mut retry = false;
        loop {
            let w1 = if retry {
                window.fetch_or(0, Ordering::AcqRel) // the latest, as above
            } else {
                window.load(Ordering::Acquire)
            };
            retry = true;
            let win = Window::decode(w1);
            if win.lo == EMPTY_LO {
                return (win.scale, ExponentialBuckets::default());
            }
            let base = win.arr * n;
            counts.clear();
            let mut same_gen = true;
            for j in 0..=win.span as i32 {
                let v = self.slots[base + self.position(win.lo + j)].load(Ordering::Acquire);
                if v >> SLOT_GEN_SHIFT != win.gen {
                    same_gen = false;
                    break;
                }
                counts.push(v & SLOT_COUNT);
            }
            let w2 = window.load(Ordering::Acquire);
            if same_gen && w1 & WINDOW_BITS == w2 & WINDOW_BITS {
                return (win.scale, trimmed(win.lo, counts));
            }
        }
    }

    /// Reads the buckets, sum and count, and takes (resets) the interval
    /// extremes, folding them into the cumulative ones. One collector at a
    /// time (the engine's collection is single-flight).
    pub(crate) fn take(&self) -> ExpoRead {
        let (ps, positive) = self.read_range(0);
        let (ns, negative) = self.read_range(1);
        let scale = ps.min(ns);
        let positive = positive.downscaled((ps - scale) as u32);
        let negative = negative.downscaled((ns - scale) as u32);
        let zero_count = self.zero.load(Ordering::Relaxed);
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed));
        let min = self.min.swap(EMPTY_MIN, Ordering::Relaxed);
        let max = self.max.swap(EMPTY_MAX, Ordering::Relaxed);
        // A concurrent record may have landed only one of its extremes;
        // the other lands in the next interval. Report what is known and
        // keep min <= max: every value reported was recorded.
        let (imin, imax) = match (min != EMPTY_MIN, max != EMPTY_MAX) {
            (false, false) => (None, None),
            (true, false) => (Some(min), Some(min)),
            (false, true) => (Some(max), Some(max)),
            (true, true) => (Some(min.min(max)), Some(max.max(min))),
        };
        if let (Some(lo), Some(hi)) = (imin, imax) {
            self.cmin.fetch_min(lo, Ordering::Relaxed);
            self.cmax.fetch_max(hi, Ordering::Relaxed);
        }
        let cmin = self.cmin.load(Ordering::Relaxed);
        let cmax = self.cmax.load(Ordering::Relaxed);
        let known = |o: u64, empty: u64| (o != empty).then(|| from_ordered(o));
        ExpoRead {
            scale,
            zero_count,
            count: zero_count + positive.total() + negative.total(),
            positive,
            negative,
            sum,
            imin: imin.map(from_ordered),
            imax: imax.map(from_ordered),
            cmin: known(cmin, EMPTY_MIN),
            cmax: known(cmax, EMPTY_MAX),
        }
    }
}

/// Buckets from `offset` with leading and trailing empty ones removed.
fn trimmed(offset: i32, mut counts: Vec<u64>) -> ExponentialBuckets {
    let Some(first) = counts.iter().position(|c| *c != 0) else {
        return ExponentialBuckets::default();
    };
    let last = counts.iter().rposition(|c| *c != 0).unwrap_or(first);
    counts.truncate(last + 1);
    counts.drain(..first);
    ExponentialBuckets {
        offset: offset + first as i32,
        counts,
    }
}

/// `cur - prev` per bucket (same scale; `prev` only ever has less).
fn subtract(cur: &ExponentialBuckets, prev: &ExponentialBuckets) -> ExponentialBuckets {
    let mut counts = cur.counts.clone();
    for (k, c) in prev.counts.iter().enumerate() {
        let at = i64::from(prev.offset) + k as i64 - i64::from(cur.offset);
        if let Some(slot) = usize::try_from(at).ok().and_then(|a| counts.get_mut(a)) {
            *slot = slot.saturating_sub(*c);
        }
    }
    trimmed(cur.offset, counts)
}

impl ExpoRead {
    /// What was recorded between `prev` (an earlier read of the same
    /// series) and this read: both at the lower scale (scales only go
    /// down), bucket by bucket. Extremes are this read's (the interval
    /// ones cover exactly the time since the previous take).
    pub(crate) fn delta_since(&self, prev: &ExpoRead) -> ExpoRead {
        let scale = self.scale.min(prev.scale);
        let at = |b: &ExponentialBuckets, s: i32| b.downscaled((s - scale) as u32);
        let positive = subtract(
            &at(&self.positive, self.scale),
            &at(&prev.positive, prev.scale),
        );
        let negative = subtract(
            &at(&self.negative, self.scale),
            &at(&prev.negative, prev.scale),
        );
        let zero_count = self.zero_count.saturating_sub(prev.zero_count);
        ExpoRead {
            scale,
            zero_count,
            count: zero_count + positive.total() + negative.total(),
            positive,
            negative,
            sum: self.sum - prev.sum,
            imin: self.imin,
            imax: self.imax,
            cmin: self.cmin,
            cmax: self.cmax,
        }
    }
}

/// What a delta reader keeps of one series between reports: 40 bytes
/// with the cursor's id word, plus the last report packed by [`pack_with`].
#[derive(Debug)]
pub(crate) struct ExpoPrev {
    /// The read last reported (`None`: never), packed.
    last: Option<Box<[u8]>>,
    /// Extremes of the intervals since the last report (NaN: none).
    min: f64,
    max: f64,
}

impl Default for ExpoPrev {
    fn default() -> Self {
        ExpoPrev {
            last: None,
            min: f64::NAN,
            max: f64::NAN,
        }
    }
}

/// Bytes of [`pack_with`]'s fixed header: scale, both offsets, the number of
/// positive buckets (4 bytes each) and the sum (8).
const PACK_HEADER: usize = 24;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at `*at`, moving `*at` past it (`None` when malformed).
fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// [`pack_with`] with a buffer of its own.
#[cfg(all(test, not(loom)))]
fn pack(r: &ExpoRead) -> Box<[u8]> {
    pack_with(r, &mut Vec::new())
}

/// A read's scale, sum, zero count and trimmed buckets in one boxed
/// slice: the fixed header, the zero count as a varint, then the
/// positive and negative counts as varint tokens: `count << 1` for a
/// non-zero count, `run << 1 | 1` for a run of empty buckets (most of a
/// sparse histogram's). A count of 2^63 or more (never reached: one
/// measurement per nanosecond takes 292 years) would lose its top bit.
///
/// Encoded in `out` (a scratch buffer, cleared first) so that the box is
/// allocated at its exact size: a box shrunk from a larger allocation
/// leaves the rest as a gap the next one may not fit.
fn pack_with(r: &ExpoRead, out: &mut Vec<u8>) -> Box<[u8]> {
    let (pos, neg) = (&r.positive.counts, &r.negative.counts);
    out.clear();
    out.extend_from_slice(&r.scale.to_le_bytes());
    out.extend_from_slice(&r.positive.offset.to_le_bytes());
    out.extend_from_slice(&r.negative.offset.to_le_bytes());
    out.extend_from_slice(&(pos.len() as u32).to_le_bytes());
    out.extend_from_slice(&r.sum.to_bits().to_le_bytes());
    put_varint(out, r.zero_count);
    let mut run = 0u64;
    for c in pos.iter().chain(neg) {
        if *c == 0 {
            run += 1;
            continue;
        }
        if run > 0 {
            put_varint(out, run << 1 | 1);
            run = 0;
        }
        put_varint(out, c << 1);
    }
    if run > 0 {
        put_varint(out, run << 1 | 1);
    }
    Box::from(&out[..])
}

/// The read [`pack_with`] packed (its extremes are not kept: `None`).
fn unpack(b: &[u8]) -> ExpoRead {
    let word = |at: usize| {
        let mut w = [0u8; 4];
        if let Some(src) = b.get(at..at + 4) {
            w.copy_from_slice(src);
        }
        u32::from_le_bytes(w)
    };
    let scale = word(0) as i32;
    let pos_offset = word(4) as i32;
    let neg_offset = word(8) as i32;
    let pos_len = word(12) as usize;
    let sum = f64::from_bits(u64::from(word(16)) | u64::from(word(20)) << 32);
    let mut at = PACK_HEADER;
    let zero_count = get_varint(b, &mut at).unwrap_or(0);
    // Both ranges hold at most `max_size` buckets each: more is not a
    // packed report (never read past it).
    let most = 2 * super::EXPONENTIAL_MAX_MAX_SIZE as usize;
    let mut counts = Vec::with_capacity(pos_len.min(most));
    while let Some(t) = get_varint(b, &mut at) {
        let run = if t & 1 == 0 {
            1
        } else {
            usize::try_from(t >> 1).unwrap_or(usize::MAX)
        };
        if counts.len().saturating_add(run) > most {
            break;
        }
        if t & 1 == 0 {
            counts.push(t >> 1);
        } else {
            counts.resize(counts.len() + run, 0);
        }
    }
    let negative = ExponentialBuckets {
        offset: neg_offset,
        counts: counts.split_off(pos_len.min(counts.len())),
    };
    let positive = ExponentialBuckets {
        offset: pos_offset,
        counts,
    };
    ExpoRead {
        scale,
        zero_count,
        count: zero_count + positive.total() + negative.total(),
        positive,
        negative,
        sum,
        imin: None,
        imax: None,
        cmin: None,
        cmax: None,
    }
}

#[cfg(all(test, not(loom)))]
mod prev_tests {
    use super::*;

    fn read(scale: i32, zero: u64, pos: (i32, Vec<u64>), neg: (i32, Vec<u64>)) -> ExpoRead {
        let positive = ExponentialBuckets {
            offset: pos.0,
            counts: pos.1,
        };
        let negative = ExponentialBuckets {
            offset: neg.0,
            counts: neg.1,
        };
        ExpoRead {
            scale,
            zero_count: zero,
            count: zero + positive.total() + negative.total(),
            positive,
            negative,
            sum: -12.25,
            imin: None,
            imax: None,
            cmin: None,
            cmax: None,
        }
    }

    /// A packed report unpacks to the same read (large and small counts,
    /// runs of empty buckets, negative scales and offsets, empty ranges);
    /// its size is the header, then one varint per count and per run of
    /// empty buckets.
    #[test]
    fn packed_report_round_trips() {
        let cases = [
            // zero count 1 byte; 1 -> 1 byte, run of 3 -> 1, 255 -> 2.
            (read(20, 0, (-5, vec![1, 0, 0, 0, 255]), (0, vec![])), 1 + 4),
            // zero count 1; 256 -> 2, a run of 200 -> 2, 1 -> 1.
            (read(-3, 7, (0, vec![]), (-100, runs(256, 200, 1))), 1 + 5),
            // zero count 2^40 -> 6 bytes; 70000 -> 3; 9 -> 1.
            (
                read(0, 1 << 40, (i32::MIN, vec![70_000]), (3, vec![9])),
                6 + 4,
            ),
            // 2^40 -> 6, run of 1 -> 1, 1 -> 1; 2 -> 1.
            (
                read(5, 2, (i32::MAX - 2, vec![1 << 40, 0, 1]), (-1, vec![2])),
                1 + 9,
            ),
            (read(3, 0, (0, vec![]), (0, vec![])), 1),
        ];
        for (r, body) in cases {
            let packed = pack(&r);
            assert_eq!(packed.len(), PACK_HEADER + body, "{r:?}");
            assert_eq!(unpack(&packed), r);
        }
    }

    /// `a`, `zeros` empty buckets, then `b`.
    fn runs(a: u64, zeros: usize, b: u64) -> Vec<u64> {
        let mut v = vec![a];
        v.resize(zeros + 1, 0);
        v.push(b);
        v
    }

    /// Malformed bytes decode to something without panicking.
    #[test]
    fn unpack_never_panics() {
        let good = pack(&read(1, 3, (2, vec![5, 0, 7]), (0, vec![1])));
        for cut in 0..good.len() {
            let _ = unpack(&good[..cut]);
        }
        let _ = unpack(&[0xff; 40]);
    }

    /// A delta against a packed report is the delta against the read.
    #[test]
    fn delta_against_packed_report() {
        let before = read(2, 1, (4, vec![3, 0, 2]), (-2, vec![1]));
        let after = read(1, 4, (1, vec![1, 6, 2]), (-1, vec![5]));
        assert_eq!(
            after.delta_since(&unpack(&pack(&before))),
            after.delta_since(&before)
        );
    }
}

impl Aggregator for ExpoHistogramCell {
    type Read = ExpoRead;
    type Prev = ExpoPrev;

    #[inline(always)]
    fn record(&self, m: Measure, cfg: &ExpoConfig, _: u64) -> bool {
        ExpoHistogramCell::record(self, m.as_f64(), cfg)
    }

    /// The specification's default: a fixed-size reservoir of
    /// min(20, max_size) cells.
    fn reservoir(cfg: &ExpoConfig) -> super::Reservoir {
        super::Reservoir::FixedSize(cfg.max_size.min(20) as usize)
    }

    fn read(&self) -> Option<ExpoRead> {
        Some(self.take())
    }

    fn version(r: &ExpoRead) -> u64 {
        r.count
    }

    // Every read takes (resets) the interval extremes: each delta reader
    // accumulates them until it reports.
    const FOLDS: bool = true;
    fn has_fold(r: &ExpoRead) -> bool {
        r.imin.is_some()
    }
    fn fold(prev: &mut ExpoPrev, r: &ExpoRead) {
        prev.min = prev.min.min(extreme(r.imin));
        prev.max = prev.max.max(extreme(r.imax));
    }

    fn cumulative(
        e: &Emit<'_, Self>,
        raw: Cow<'_, [RawPoint<ExpoRead>]>,
        _: &mut Cursors<ExpoPrev>,
    ) -> MetricData {
        let points = raw
            .iter()
            .map(|p| point(p, p.start, e.now, &p.value, p.value.cmin, p.value.cmax))
            .collect();
        MetricData::ExponentialHistogram(ExponentialHistogram {
            temporality: Temporality::Cumulative,
            points,
        })
    }

    fn delta(
        e: &Emit<'_, Self>,
        raw: &[RawPoint<ExpoRead>],
        cursors: &mut Cursors<ExpoPrev>,
    ) -> MetricData {
        let mut points = Vec::new();
        let mut reported = Vec::new();
        let last = cursors.last_time;
        for (i, p) in raw.iter().enumerate() {
            let mut c = cursors.get(p.slot, p.id);
            let change = match &c.prev.last {
                Some(prev) => Cow::Owned(p.value.delta_since(&unpack(prev))),
                None => Cow::Borrowed(&p.value),
            };
            if change.count == 0 {
                continue;
            }
            let start = if c.reported() { last } else { p.start };
            let (min, max) = (take_extreme(&mut c.prev.min), take_extreme(&mut c.prev.max));
            points.push(point(p, start, e.now, &change, min, max));
            c.report();
            reported.push(i);
        }
        // Packed once the points are built: the reports kept until the
        // next collection are allocated together, not between this
        // collection's short-lived buffers (whose freed gaps they would
        // keep resident).
        let mut scratch = Vec::new();
        for p in reported.into_iter().filter_map(|i| raw.get(i)) {
            cursors.get(p.slot, p.id).prev.last = Some(pack_with(&p.value, &mut scratch));
        }
        MetricData::ExponentialHistogram(ExponentialHistogram {
            temporality: Temporality::Delta,
            points,
        })
    }
}

/// The point of a series for the interval from `start` to `now`.
fn point(
    p: &RawPoint<ExpoRead>,
    start: u64,
    now: u64,
    r: &ExpoRead,
    min: Option<f64>,
    max: Option<f64>,
) -> ExponentialHistogramPoint {
    ExponentialHistogramPoint {
        exemplars: Default::default(),
        attributes: p.attrs.clone(),
        start_time: start,
        time: now,
        count: r.count,
        sum: r.sum,
        min,
        max,
        scale: r.scale,
        zero_count: r.zero_count,
        zero_threshold: 0.0,
        positive: r.positive.clone(),
        negative: r.negative.clone(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::collect::data::ExponentialHistogramPoint;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn cfg(max_size: u32, max_scale: i32) -> ExpoConfig {
        ExpoConfig {
            max_size,
            max_scale,
            record_min_max: true,
        }
    }

    /// 2^e from its bits (normal or subnormal).
    fn pow2(e: i32) -> f64 {
        if e >= -1022 {
            f64::from_bits(((e + 1023) as u64) << 52)
        } else {
            f64::from_bits(1u64 << (e + 1074))
        }
    }

    fn next_up(v: f64) -> f64 {
        f64::from_bits(v.to_bits() + 1)
    }

    fn next_down(v: f64) -> f64 {
        f64::from_bits(v.to_bits() - 1)
    }

    /// The bucket of 2^e at `scale`, by integer arithmetic on the
    /// definition: 2^e = base^(e * 2^scale), the upper bound of the bucket
    /// below it.
    fn power_of_two_index(e: i32, scale: i32) -> i64 {
        if scale >= 0 {
            i64::from(e) * (1i64 << scale) - 1
        } else {
            let w = 1i64 << -scale; // scale-0 buckets per bucket
            (i64::from(e) + w - 1).div_euclid(w) - 1
        }
    }

    /// Offline histogram: magnitudes by bucket at `scale` (via the mapping
    /// under test, whose boundaries the index tests check).
    fn offline(values: &[f64], scale: i32) -> (u64, ExponentialBuckets, ExponentialBuckets) {
        let mut pos = BTreeMap::new();
        let mut neg = BTreeMap::new();
        let mut zero = 0;
        for v in values {
            if *v == 0.0 {
                zero += 1;
            } else {
                let map = if *v > 0.0 { &mut pos } else { &mut neg };
                *map.entry(bucket_index(v.abs(), scale)).or_insert(0u64) += 1;
            }
        }
        let dense = |m: BTreeMap<i32, u64>| {
            let Some((&first, _)) = m.iter().next() else {
                return ExponentialBuckets::default();
            };
            let last = *m.keys().last().unwrap();
            ExponentialBuckets {
                offset: first,
                counts: (first..=last).map(|i| *m.get(&i).unwrap_or(&0)).collect(),
            }
        };
        (zero, dense(pos), dense(neg))
    }

    /// The scale the specification's rule gives for magnitudes in
    /// `[lo, hi]` with `n` buckets: the largest scale <= `max_scale` at
    /// which `ceil(log2(v) * 2^scale) - 1` spans fewer than `n` indices,
    /// computed with the plain logarithm (values here are far from bucket
    /// boundaries).
    fn spec_scale(lo: f64, hi: f64, n: u32, max_scale: i32) -> i32 {
        let idx = |v: f64, s: i32| ((v.log2() * 2f64.powi(s)).ceil() as i64) - 1;
        (MIN_SCALE..=max_scale)
            .rev()
            .find(|s| idx(hi, *s) - idx(lo, *s) < i64::from(n))
            .unwrap()
    }

    fn assert_consistent(r: &ExpoRead) {
        assert_eq!(
            r.count,
            r.zero_count + r.positive.total() + r.negative.total(),
            "{r:?}"
        );
        for b in [&r.positive, &r.negative] {
            if !b.counts.is_empty() {
                assert_ne!(b.counts[0], 0, "untrimmed {r:?}");
                assert_ne!(*b.counts.last().unwrap(), 0, "untrimmed {r:?}");
            }
        }
    }

    #[test]
    fn index_is_exact_at_powers_of_two_and_their_neighbours() {
        let exps = [
            -1074, -1073, -1050, -1023, -1022, -1021, -100, -1, 0, 1, 2, 7, 100, 1023,
        ];
        for scale in [-11, -10, -4, -3, -1, 0, 1, 2, 3, 8, 14, 20] {
            for e in exps {
                let v = pow2(e);
                let at = power_of_two_index(e, scale);
                assert_eq!(i64::from(bucket_index(v, scale)), at, "2^{e} at {scale}");
                // For normal powers, the float just below is in the same
                // bucket (upper bounds are inclusive) and the one just
                // above starts the next. (Subnormal neighbours are whole
                // multiples of 2^-1074 away: a bucket or more.)
                if e >= -1022 {
                    let below = bucket_index(next_down(v), scale);
                    assert_eq!(i64::from(below), at, "2^{e}- at {scale}");
                }
                if (-1022..1023).contains(&e) {
                    let above = bucket_index(next_up(v), scale);
                    let want = if scale >= 0 {
                        at + 1
                    } else {
                        i64::from(e).div_euclid(1 << -scale)
                    };
                    assert_eq!(i64::from(above), want, "2^{e}+ at {scale}");
                }
            }
            // f64::MAX is in the bucket ending at 2^1024.
            assert_eq!(
                i64::from(bucket_index(f64::MAX, scale)),
                power_of_two_index(1024, scale),
                "MAX at {scale}"
            );
            // A subnormal that is not a power of two: 3 * 2^-1074 =
            // 1.5 * 2^-1073, in (2^-1073, 2^-1072].
            let want = if scale >= 0 {
                -1073 * (1i64 << scale) + (1.5f64.log2() * 2f64.powi(scale)).ceil() as i64 - 1
            } else {
                (-1073i64).div_euclid(1 << -scale)
            };
            let v = 3.0 * f64::from_bits(1);
            assert_eq!(
                i64::from(bucket_index(v, scale)),
                want,
                "3 * 2^-1074 at {scale}"
            );
        }
    }

    /// Away from powers of two the boundaries are irrational: values a
    /// relative 1e-12 either side of `2^(j / 2^scale)` (computed with
    /// `exp2`, not with the logarithm the mapping uses) land in buckets j
    /// and j - 1.
    #[test]
    fn index_matches_exp2_boundaries_at_positive_scales() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for scale in [1, 2, 3, 5, 8, 12, 16, 20] {
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let span = 200i64 << scale;
                let j = (x % (2 * span as u64)) as i64 - span;
                let b = (j as f64 / 2f64.powi(scale)).exp2();
                let got_above = bucket_index(b * (1.0 + 1e-12), scale);
                let got_below = bucket_index(b * (1.0 - 1e-12), scale);
                assert_eq!(i64::from(got_above), j, "above 2^({j}/2^{scale})");
                assert_eq!(i64::from(got_below), j - 1, "below 2^({j}/2^{scale})");
                // The logarithm alone (what scales above the tables use)
                // agrees.
                let log = |v: f64| {
                    let (e, frac) = exponent_and_fraction(v);
                    let sub = if frac == 0 {
                        -1
                    } else {
                        log_sub_bucket(frac, scale)
                    };
                    (i64::from(e) << scale) + i64::from(sub)
                };
                assert_eq!(log(b * (1.0 + 1e-12)), j, "log above 2^({j}/2^{scale})");
                assert_eq!(log(b * (1.0 - 1e-12)), j - 1, "log below 2^({j}/2^{scale})");
            }
        }
    }

    /// The table's boundaries are `exp2`'s, give or take an ulp (each is
    /// a rounding of an irrational number), and rise.
    #[test]
    fn table_boundaries_are_exp2() {
        let mut prev = 0;
        for k in 1..1024u32 {
            let want = (f64::from(k) / 1024.0).exp2().to_bits() & MANT_MASK;
            let got = boundary(k);
            assert!(got.abs_diff(want) <= 1, "2^({k}/1024): {got:x} vs {want:x}");
            assert!(got > prev);
            prev = got;
        }
        assert_eq!(boundary(0), 0);
        assert_eq!(boundary(1024), 1 << MANT_BITS);
        // 2^(512/1024) is the square root of two.
        assert_eq!(boundary(512), 2f64.sqrt().to_bits() & MANT_MASK);
    }

    /// The table and the logarithm give the same sub-bucket for every
    /// fraction at every table scale, except within 1e-9 of a boundary
    /// (irrational, so either side is a rounding call).
    #[test]
    fn table_and_logarithm_agree() {
        // The table's upper-inclusive sub-bucket of `frac` (not 0) at
        // `scale`, as `bucket_index` takes it: the fraction below, at
        // scale 10, shifted.
        let table = |frac: u64, scale: i32| fine_index(0, frac - 1) >> (TABLE_SCALE - scale);
        let mut x = 0x0123_4567_89ab_cdefu64;
        for scale in 1..=TABLE_SCALE {
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let frac = (x & MANT_MASK).max(1);
                let (a, b) = (table(frac, scale), log_sub_bucket(frac, scale));
                if a != b {
                    let m = f64::from_bits(frac | (1023u64 << MANT_BITS));
                    let y = m.log2() * f64::from(1u32 << scale);
                    assert!(
                        (y - y.round()).abs() < 1e-9,
                        "{frac:x} at {scale}: {a} vs {b}"
                    );
                }
            }
            // Both ends of the octave.
            for frac in [1, MANT_MASK] {
                assert_eq!(table(frac, scale), log_sub_bucket(frac, scale));
            }
        }
    }

    #[test]
    fn ring_position_is_index_mod_size() {
        for n in [2u32, 3, 7, 160, 1000, MAX_MAX_SIZE] {
            let c = ExpoHistogramCell::new(&cfg(n, 20));
            for i in [
                -1_130_000_000,
                -1_000_001,
                -5,
                -1,
                0,
                1,
                159,
                160,
                1_130_000_000,
            ] {
                let want = (i64::from(i) + BIAS).rem_euclid(i64::from(n)) as usize;
                assert_eq!(c.position(i), want, "{i} mod {n}");
                assert_eq!(
                    c.position(i + 1),
                    (want + 1) % n as usize,
                    "consecutive indices take consecutive slots"
                );
            }
        }
    }

    #[test]
    fn config_validation() {
        assert!(ExpoConfig::default().validate().is_ok());
        assert_eq!(ExpoConfig::default().max_size, 160);
        assert_eq!(ExpoConfig::default().max_scale, 20);
        for (size, scale, ok) in [
            (2, 20, true),
            (1, 20, false),
            (0, 0, false),
            (MAX_MAX_SIZE, -10, true),
            (MAX_MAX_SIZE + 1, 0, false),
            (160, -11, false),
            (160, 21, false),
        ] {
            let r = cfg(size, scale).validate();
            assert_eq!(r.is_ok(), ok, "{size} {scale}: {r:?}");
            if let Err(e) = r {
                assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
            }
        }
    }

    #[test]
    fn one_value_stays_at_max_scale() {
        for max_scale in [20, 5, 0, -3] {
            let c = cfg(160, max_scale);
            let h = ExpoHistogramCell::new(&c);
            assert!(h.record(3.7, &c));
            let r = h.take();
            assert_eq!(r.scale, max_scale);
            let (_, pos, _) = offline(&[3.7], max_scale);
            assert_eq!(r.positive, pos);
            assert_eq!(r.count, 1);
        }
    }

    /// A range that needs scale s ends at exactly s, whatever the order
    /// the values arrive in, and the buckets are the offline ones there.
    #[test]
    fn scale_selection_matches_the_spec_formula() {
        let cases: [(f64, f64, u32); 6] = [
            (1.5, 1.5 * 1.01, 160),
            (1.3, 1000.3, 160),
            (0.001_7, 9.0e6, 160),
            (3.3, 5.1, 4),
            (1.1e-300, 3.1e300, 20),
            (1.1e-300, 3.1e300, 2),
        ];
        for (lo, hi, n) in cases {
            let want = spec_scale(lo, hi, n, 20);
            let mid = (lo * hi).sqrt();
            for order in [[lo, hi, mid], [hi, lo, mid], [mid, hi, lo]] {
                let c = cfg(n, 20);
                let h = ExpoHistogramCell::new(&c);
                for v in order {
                    h.record(v, &c);
                }
                let r = h.take();
                assert_eq!(
                    r.scale, want,
                    "[{lo}, {hi}] in {n} buckets, order {order:?}"
                );
                assert_eq!(r.positive, offline(&order, want).1);
                assert_consistent(&r);
            }
        }
    }

    /// Each value that widens the range lowers the scale to what the
    /// spec's formula gives for everything so far; no count is lost in the
    /// merges.
    #[test]
    fn downscales_as_the_range_grows() {
        let c = cfg(16, 20);
        let h = ExpoHistogramCell::new(&c);
        let mut seen = Vec::new();
        let mut last_scale = 20;
        for v in [
            1.0001, 1.01, 1.1, 2.5, 10.0, 1e3, 1e6, 1e12, 1e100, 1e300, 1e-300,
        ] {
            for _ in 0..3 {
                h.record(v, &c);
                seen.push(v);
            }
            let lo = seen.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = seen.iter().cloned().fold(0.0, f64::max);
            let r = h.take();
            assert_eq!(r.scale, spec_scale(lo, hi, 16, 20), "after {v}");
            assert!(r.scale <= last_scale);
            last_scale = r.scale;
            assert_eq!(r.positive, offline(&seen, r.scale).1, "after {v}");
            assert_eq!(r.count, seen.len() as u64);
        }
        assert!(last_scale < 0);
    }

    #[test]
    fn negative_values_share_the_scale() {
        let c = cfg(8, 20);
        let h = ExpoHistogramCell::new(&c);
        // Negatives span a wide range, positives a narrow one: the read
        // reports both at the negatives' (lower) scale.
        let values = [-1.0e-3, -7.0, -3.0e4, 2.0, 2.1, 2.2, -0.5];
        for v in values {
            h.record(v, &c);
        }
        let r = h.take();
        let mags: Vec<f64> = values.iter().filter(|v| **v < 0.0).map(|v| -v).collect();
        let want = spec_scale(0.5e-3 * 2.0, 3.0e4, 8, 20);
        assert_eq!(r.scale, want);
        let (zero, pos, neg) = offline(&values, want);
        assert_eq!((r.zero_count, &r.positive, &r.negative), (zero, &pos, &neg));
        assert_eq!(r.negative.total(), mags.len() as u64);
        assert_eq!(r.positive.total(), 3);
        assert_eq!((r.imin, r.imax), (Some(-3.0e4), Some(2.2)));
        assert_consistent(&r);
    }

    #[test]
    fn zeros_go_to_the_zero_bucket() {
        let c = cfg(160, 20);
        let h = ExpoHistogramCell::new(&c);
        for v in [0.0, -0.0, 0.0, 5e-324, -5e-324] {
            h.record(v, &c);
        }
        let r = h.take();
        assert_eq!(r.zero_count, 3);
        assert_eq!(r.count, 5);
        // The smallest subnormal is 2^-1074: its own bucket on each side.
        let at = power_of_two_index(-1074, r.scale) as i32;
        assert_eq!(
            r.positive,
            ExponentialBuckets {
                offset: at,
                counts: vec![1]
            }
        );
        assert_eq!(r.negative, r.positive);
        assert_eq!((r.imin, r.imax), (Some(-5e-324), Some(5e-324)));
        assert_eq!(r.sum, 0.0);
        // Only zeros: extremes are zero, and positive zero.
        let h = ExpoHistogramCell::new(&c);
        h.record(-0.0, &c);
        let r = h.take();
        assert_eq!((r.imin, r.imax, r.zero_count), (Some(0.0), Some(0.0), 1));
        assert!(r.imin.unwrap().is_sign_positive());
    }

    #[test]
    fn min_max_interval_resets_and_cumulative_stays() {
        let c = cfg(160, 20);
        let h = ExpoHistogramCell::new(&c);
        for v in [4.0, -2.0, 9.5] {
            h.record(v, &c);
        }
        let r = h.take();
        assert_eq!((r.imin, r.imax), (Some(-2.0), Some(9.5)));
        assert_eq!((r.cmin, r.cmax), (Some(-2.0), Some(9.5)));
        let r = h.take();
        assert_eq!((r.imin, r.imax), (None, None), "interval extremes reset");
        assert_eq!((r.cmin, r.cmax), (Some(-2.0), Some(9.5)));
        h.record(3.0, &c);
        let r = h.take();
        assert_eq!((r.imin, r.imax), (Some(3.0), Some(3.0)));
        assert_eq!((r.cmin, r.cmax), (Some(-2.0), Some(9.5)));
        // Without RecordMinMax nothing is kept.
        let off = ExpoConfig {
            record_min_max: false,
            ..c
        };
        let h = ExpoHistogramCell::new(&off);
        h.record(1.0, &off);
        let r = h.take();
        assert_eq!((r.imin, r.imax, r.cmin, r.cmax), (None, None, None, None));
        assert_eq!(r.count, 1);
    }

    #[test]
    fn a_value_that_would_make_the_sum_infinite_is_refused_whole() {
        let c = cfg(160, 20);
        let h = ExpoHistogramCell::new(&c);
        assert!(h.record(f64::MAX, &c));
        assert!(!h.record(f64::MAX, &c));
        assert!(h.record(-f64::MAX, &c));
        let r = h.take();
        assert_eq!(r.count, 2);
        assert_eq!(r.sum, 0.0);
        assert_eq!(r.positive.total(), 1);
        assert_eq!(r.negative.total(), 1);
    }

    /// A delta across a downscale is exactly what was recorded in between,
    /// at the later scale; added back to the earlier read it gives the
    /// later one.
    #[test]
    fn delta_since_across_a_downscale() {
        let c = cfg(20, 20);
        let h = ExpoHistogramCell::new(&c);
        let first = [1.5, 1.6, -1.7, 0.0];
        let second = [1.55, 400.0, -0.01, 0.0, 0.0, 2.0];
        for v in first {
            h.record(v, &c);
        }
        let r1 = h.take();
        for v in second {
            h.record(v, &c);
        }
        let r2 = h.take();
        assert!(
            r2.scale < r1.scale,
            "the second batch must force a downscale"
        );
        let d = r2.delta_since(&r1);
        assert_eq!(d.scale, r2.scale);
        let (zero, pos, neg) = offline(&second, r2.scale);
        assert_eq!((d.zero_count, &d.positive, &d.negative), (zero, &pos, &neg));
        assert_eq!(d.count, second.len() as u64);
        assert!((d.sum - second.iter().sum::<f64>()).abs() < 1e-9);
        assert_eq!((d.imin, d.imax), (Some(-0.01), Some(400.0)));
        assert_consistent(&d);
        // prev + delta == current, through the data model's own merge.
        let point = |r: &ExpoRead| ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes: Default::default(),
            start_time: 0,
            time: 0,
            count: r.count,
            sum: 0.0,
            min: None,
            max: None,
            scale: r.scale,
            zero_count: r.zero_count,
            zero_threshold: 0.0,
            positive: r.positive.clone(),
            negative: r.negative.clone(),
        };
        let mut merged = point(&r1);
        merged.merge(&point(&d));
        assert_eq!(merged, point(&r2));
        // Nothing new: an empty delta.
        let r3 = h.take();
        let d = r3.delta_since(&r2);
        assert_eq!((d.count, d.positive.counts.len(), d.sum), (0, 0, 0.0));
    }

    /// Four threads record 200k values each while a fifth keeps reading,
    /// in 100 rounds on fresh cells (a series downscales at most 31 times
    /// per sign, all early in its life: fresh cells make the downscales
    /// race with recording and reading over and over). Every value's range
    /// widens as a round goes on, over both signs, with zeros. Every read
    /// is consistent and no bucket ever shrinks between reads (at the later
    /// scale); each round's final read equals the offline histogram of all
    /// its values at its scale.
    #[test]
    fn concurrent_records_downscales_and_reads_lose_nothing() {
        use std::sync::atomic::{AtomicBool, Ordering as O};
        use std::sync::Barrier;
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 100;
        const PER_ROUND: usize = 2_000; // per thread: 200k per thread in all
        let c = cfg(40, 20);
        let values = |round: u64, t: u64| -> Vec<f64> {
            let mut x = 0x2545_f491_4f6c_dd1du64 ^ (round * 8 + t + 1).wrapping_mul(0x9e37_79b9);
            (0..PER_ROUND)
                .map(|k| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // log2 of the magnitude within +-width, width growing.
                    let width = 0.01 + 60.0 * k as f64 / PER_ROUND as f64;
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                    let m = ((u * 2.0 - 1.0) * width).exp2();
                    match x % 16 {
                        0 => 0.0,
                        1..=5 => -m,
                        _ => m,
                    }
                })
                .collect()
        };
        for round in 0..ROUNDS {
            let h = Arc::new(ExpoHistogramCell::new(&c));
            let start = Arc::new(Barrier::new(THREADS as usize + 1));
            let done = Arc::new(AtomicBool::new(false));
            let reader = {
                let (h, done, start) = (h.clone(), done.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut prev: Option<ExpoRead> = None;
                    start.wait();
                    while !done.load(O::Acquire) {
                        let r = h.take();
                        assert_consistent(&r);
                        if let Some(p) = &prev {
                            assert!(r.scale <= p.scale);
                            // Every bucket of the earlier read is still
                            // there: earlier + delta == now.
                            let mut back = point_of(p);
                            back.merge(&point_of(&r.delta_since(p)));
                            let now = point_of(&r);
                            assert_eq!(back.positive, now.positive, "a bucket shrank");
                            assert_eq!(back.negative, now.negative, "a bucket shrank");
                            assert!(r.zero_count >= p.zero_count);
                        }
                        prev = Some(r);
                    }
                })
            };
            let writers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (h, vals, start) = (h.clone(), values(round, t), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        for v in vals {
                            assert!(h.record(v, &c));
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, O::Release);
            reader.join().unwrap();
            let r = h.take();
            let all: Vec<f64> = (0..THREADS).flat_map(|t| values(round, t)).collect();
            assert_eq!(r.count, all.len() as u64);
            let (zero, pos, neg) = offline(&all, r.scale);
            assert_eq!(r.zero_count, zero);
            assert_eq!(r.positive, pos, "round {round}");
            assert_eq!(r.negative, neg, "round {round}");
            let sum: f64 = all.iter().sum();
            assert!((r.sum - sum).abs() <= 1e-9 * all.iter().map(|v| v.abs()).sum::<f64>());
            assert!(r.scale < 3, "the range must have forced downscales");
        }
    }

    fn point_of(r: &ExpoRead) -> ExponentialHistogramPoint {
        ExponentialHistogramPoint {
            exemplars: Default::default(),
            attributes: Default::default(),
            start_time: 0,
            time: 0,
            count: r.count,
            sum: 0.0,
            min: None,
            max: None,
            scale: r.scale,
            zero_count: r.zero_count,
            zero_threshold: 0.0,
            positive: r.positive.clone(),
            negative: r.negative.clone(),
        }
    }
}

/// Loom models: a downscale racing an in-window record and a read, and two
/// downscales racing each other (helping). Run with
/// `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --lib --release loom_expo`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::thread;
    use std::sync::Arc;

    use crate::sync::loom_model as model;

    /// Two buckets per sign, starting at scale 0, without extremes (fewer
    /// atomics to interleave).
    fn small() -> ExpoConfig {
        ExpoConfig {
            max_size: 2,
            max_scale: 0,
            record_min_max: false,
        }
    }

    fn check(r: &ExpoRead) {
        assert_eq!(
            r.count,
            r.zero_count + r.positive.total() + r.negative.total()
        );
    }

    /// `later` holds everything `earlier` did (at the later scale).
    fn holds(later: &ExpoRead, earlier: &ExpoRead) {
        let d = later.delta_since(earlier);
        let s = later.scale;
        let mut back = earlier.positive.downscaled((earlier.scale - s) as u32);
        back.add(&d.positive);
        assert_eq!(
            back, later.positive,
            "a bucket shrank: {earlier:?} -> {later:?}"
        );
    }

    /// Records `before` into a fresh cell (with the small config), then
    /// `a` and `b` on two threads while this thread reads. Checks that
    /// the read in between is consistent and holds the first read, and
    /// that the last read holds it. Returns (first, mid, last).
    fn race_two_records(before: &[f64], a: f64, b: f64) -> (ExpoRead, ExpoRead, ExpoRead) {
        let c = small();
        let h = Arc::new(ExpoHistogramCell::new(&c));
        for &v in before {
            h.record(v, &c);
        }
        let first = h.take();
        let spawn = |v: f64| {
            let h = h.clone();
            thread::spawn(move || assert!(h.record(v, &small())))
        };
        let (t1, t2) = (spawn(a), spawn(b));
        let mid = h.take();
        check(&mid);
        holds(&mid, &first);
        t1.join().unwrap();
        t2.join().unwrap();
        let last = h.take();
        holds(&last, &mid);
        (first, mid, last)
    }

    /// 1.5 is recorded first (window [0, 0] at scale 0). One thread then
    /// records 1.25 (index 0: in the window) while another records 8.0
    /// (index 2: [0, 2] needs three buckets, so the range downscales to
    /// scale -1), and the main thread reads. Whatever the interleaving:
    /// the read is consistent and between the first and last state, and
    /// the last read holds exactly the three values at scale -1.
    #[test]
    fn loom_expo_downscale_races_record_and_read() {
        model(|| {
            let (_, mid, last) = race_two_records(&[1.5], 1.25, 8.0);
            assert!((1..=3).contains(&mid.count), "{mid:?}");
            assert_eq!(last.scale, -1);
            assert_eq!(
                last.positive,
                ExponentialBuckets {
                    offset: 0,
                    counts: vec![2, 1]
                }
            );
            assert_eq!(last.count, 3);
        });
    }

    /// Two values that each need a downscale, by different steps, race
    /// with a reader: 8.0 (index 2 with [0, 0] at scale 0: one step) and
    /// 0.25 (index -3: [-3, 0] needs two). Either recorder may finish the
    /// other's downscale or find its own done. Each read is consistent,
    /// holds the read before and is held by the read after, and the scale
    /// ends where the spec puts all three values.
    #[test]
    fn loom_expo_read_races_two_downscales() {
        model(|| {
            let (_, _, last) = race_two_records(&[1.5], 8.0, 0.25);
            // [-3, 2] at scale 0 is [-1, 0] at scale -2: two buckets.
            assert_eq!(last.scale, -2);
            assert_eq!(
                last.positive,
                ExponentialBuckets {
                    offset: -1,
                    counts: vec![1, 2]
                }
            );
        });
    }

    /// A recorder whose window goes stale while the array under it is
    /// handed to a later generation. 1.5 is recorded first (array 0,
    /// generation 0, scale 0). One thread records 1.25 (in the window: the
    /// fast path, which does not look at the window's frozen flag) while
    /// another records 8.0 (a downscale into the spare, array 2, which
    /// frees array 0) and then 0.25 (a second downscale, into array 0 under
    /// a new tag). The first thread's slot CAS may come at any point of
    /// that: before the freeze (counted in generation 0, carried through
    /// both merges), on the frozen slot, or on array 0 reused; only the
    /// slot's tag and frozen bit stop it, and its retry must land once.
    /// Reads in between are consistent and never lose a bucket; the last
    /// holds exactly the four values at scale -2.
    #[test]
    fn loom_expo_stale_record_across_two_downscales_reusing_its_array() {
        model(|| {
            let c = small();
            let h = Arc::new(ExpoHistogramCell::new(&c));
            h.record(1.5, &c);
            let first = h.take();
            let stale = {
                let h = h.clone();
                thread::spawn(move || assert!(h.record(1.25, &small())))
            };
            let downscales = {
                let h = h.clone();
                thread::spawn(move || {
                    assert!(h.record(8.0, &small()));
                    assert!(h.record(0.25, &small()));
                })
            };
            let mid = h.take();
            check(&mid);
            holds(&mid, &first);
            stale.join().unwrap();
            downscales.join().unwrap();
            let last = h.take();
            holds(&last, &mid);
            // (1/16, 1] and (1, 16] at scale -2 (base 16).
            assert_eq!(last.scale, -2);
            assert_eq!(
                last.positive,
                ExponentialBuckets {
                    offset: -1,
                    counts: vec![1, 3]
                }
            );
            assert_eq!(last.count, 4);
        });
    }

    /// The positive and the negative range each need a downscale at once
    /// and compete for the one spare array: one takes it, the other helps
    /// finish that downscale, frees the spare and runs its own. Both end
    /// at scale -1 with nothing lost or swapped, and a read in between is
    /// consistent.
    #[test]
    fn loom_expo_both_ranges_downscale_through_one_spare() {
        model(|| {
            // Different counts per range, so that buckets landing in the
            // wrong range show.
            let (_, _, last) = race_two_records(&[1.5, -1.5, -1.25], 8.0, -8.0);
            let buckets = |counts: Vec<u64>| ExponentialBuckets { offset: 0, counts };
            assert_eq!(last.scale, -1);
            assert_eq!(last.positive, buckets(vec![1, 1]));
            assert_eq!(last.negative, buckets(vec![2, 1]));
        });
    }
}
