//! Attributes: owned [`KeyValue`]s, borrowed views for lookups, and the
//! canonical [`AttributeSet`] (sorted by key, deduplicated, hashed once).
//!
//! The hash of a set is order independent: it is the wrapping sum of one
//! hash per key/value pair, so a caller's unsorted slice hashes to the same
//! value as the sorted set without sorting or allocating.

mod str;

pub use self::str::Str;
use crate::sync::{AtomicU16, Ordering};
use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::ptr::NonNull;

/// An attribute key.
pub type Key = Str;

/// An attribute value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float. Compared and hashed by bit pattern.
    F64(f64),
    /// A UTF-8 string.
    Str(Str),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}
impl Eq for Value {}

impl Value {
    /// A borrowed view of this value.
    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::I64(i) => ValueRef::I64(*i),
            Value::F64(f) => ValueRef::F64(*f),
            Value::Str(s) => ValueRef::Str(s),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value { #[inline] fn from($v: $t) -> Self { $e } })*
    };
}
value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(v as i64),
    u32 => |v| Value::I64(v as i64),
    f64 => |v| Value::F64(v),
    &'static str => |v| Value::Str(Str::from_static(v)),
    String => |v| Value::Str(Str::from_string(v)),
    Cow<'static, str> => |v| Value::Str(Str::from(v)),
    Str => |v| Value::Str(v),
}

/// A borrowed attribute value, used for lookups without allocation.
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A float, compared by bit pattern.
    F64(f64),
    /// A string.
    Str(&'a str),
}

impl PartialEq for ValueRef<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a == b,
            (ValueRef::I64(a), ValueRef::I64(b)) => a == b,
            (ValueRef::F64(a), ValueRef::F64(b)) => a.to_bits() == b.to_bits(),
            (ValueRef::Str(a), ValueRef::Str(b)) => str_eq(a, b),
            _ => false,
        }
    }
}

impl ValueRef<'_> {
    /// Converts to an owned [`Value`] (allocates for strings).
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::I64(i) => Value::I64(i),
            ValueRef::F64(f) => Value::F64(f),
            ValueRef::Str(s) => Value::Str(Str::from_string(s.to_owned())),
        }
    }
}

/// An owned attribute: key and value, with the pair's hash computed once at
/// construction so that recording with a prepared slice of `KeyValue`s does
/// not rehash the strings on every call.
#[derive(Clone, Debug)]
pub struct KeyValue {
    key: Key,
    value: Value,
    hash: u64,
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.value == other.value
    }
}
impl Eq for KeyValue {}

impl KeyValue {
    /// Builds an attribute. `&'static str` keys and values do not allocate.
    #[inline]
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        let key = key.into();
        let value = value.into();
        let hash = hash_pair(&key, value.as_ref());
        KeyValue { key, value, hash }
    }

    /// The key.
    #[inline]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key as stored (pointer and length words).
    #[inline(always)]
    pub(crate) fn key_str(&self) -> &Str {
        &self.key
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Key and value.
    pub fn into_parts(self) -> (Key, Value) {
        (self.key, self.value)
    }
}

/// String equality with a pointer fast path: keys and values given as the
/// same `&'static str` literal compare without touching their bytes.
#[inline(always)]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    same_or_bytes_eq(a.as_bytes(), b.as_bytes())
}

/// Byte equality that accepts the same memory without reading it (a
/// series keeps the `&'static str`s, or the C ABI's `FM_VALUE_STATIC`
/// strings, it was created with, and their callers pass them again).
#[inline(always)]
pub(crate) fn same_or_bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || bytes_eq(a, b))
}

/// Equality of two byte strings; short ones (nearly every attribute)
/// compare with a few overlapping loads instead of a call to `memcmp`.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let w4 = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]));
    if n >= 8 {
        if n <= 16 {
            return w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8);
        }
        if n <= 32 {
            return w8(a, 0) == w8(b, 0)
                && w8(a, 8) == w8(b, 8)
                && w8(a, n - 16) == w8(b, n - 16)
                && w8(a, n - 8) == w8(b, n - 8);
        }
        return a == b;
    }
    if n >= 4 {
        return w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4);
    }
    // 2 or 3 bytes: two overlapping 2-byte loads; then 1 or 0.
    let w2 = |s: &[u8], i: usize| u16::from_le_bytes(s[i..i + 2].try_into().unwrap_or([0; 2]));
    if n >= 2 {
        return w2(a, 0) == w2(b, 0) && w2(a, n - 2) == w2(b, n - 2);
    }
    n == 0 || a[0] == b[0]
}

/// What a lookup needs from a caller's attribute: the pair hash (see
/// [`hash_attrs`]) and equality with a stored pair. Every [`Attr`] is one;
/// so are the C ABI's attributes before validation, compared as bytes: an
/// attribute whose bytes equal a stored (validated) pair is itself valid,
/// so validation can wait until no series matches.
pub trait Probe {
    /// The hash of this key/value pair. [`KeyValue`] returns the hash it
    /// computed at construction.
    fn pair_hash(&self) -> u64;
    /// Whether this attribute equals a stored one.
    fn eq_stored(&self, m: &KeyValue) -> bool;
    /// The pair hash when it is already known (cached), for cheap rejection.
    #[inline]
    fn cached_hash(&self) -> Option<u64> {
        None
    }
}

/// Anything the recording path can read as an attribute: [`KeyValue`], the
/// borrowed [`AttrRef`], or the C ABI's validated attribute.
pub trait Attr: Probe {
    /// The key.
    fn key(&self) -> &str;
    /// The value.
    fn value(&self) -> ValueRef<'_>;
    /// An owned copy, made once per new series. The default copies the
    /// strings ([`copied_key_value`]); [`KeyValue`] keeps `&'static str`s
    /// borrowed.
    fn to_key_value(&self) -> KeyValue {
        copied_key_value(self)
    }
}

/// Attributes that may be invalid (the C ABI's, before any check): the
/// recording path looks them up as [`Probe`]s and validates them only when
/// no series matches, before creating one.
pub(crate) trait Unchecked: Probe + Sized {
    /// The validated form (same memory).
    type Valid: Attr;
    /// The full check; `None` when any attribute is invalid.
    fn validate(attrs: &[Self]) -> Option<&[Self::Valid]>;
    /// A key for remembering this array's content hash in a [`HashMemo`],
    /// computed from the array's words (pointers, lengths, scalar values)
    /// without reading string bytes; `None` when not worth it.
    #[inline(always)]
    fn memo_key(_attrs: &[Self]) -> Option<u64> {
        None
    }
}

/// Whether every key is valid: the specification requires non-empty
/// attribute keys (Rust attributes are valid UTF-8 by type; the C ABI
/// checks its own in `ffi::attributes`). A length test per attribute.
#[inline(always)]
pub(crate) fn keys_valid<A: Attr>(attrs: &[A]) -> bool {
    attrs.iter().all(|a| !a.key().is_empty())
}

/// [`Probe`] through [`Attr::key`] and [`Attr::value`].
macro_rules! probe_via_attr {
    ($($t:ty),*) => {$(
        impl Probe for $t {
            #[inline]
            fn pair_hash(&self) -> u64 {
                $crate::attributes::attr_pair_hash(self)
            }
            #[inline]
            fn eq_stored(&self, m: &$crate::attributes::KeyValue) -> bool {
                $crate::attributes::attr_eq_stored(self, m)
            }
        }
    )*};
}
pub(crate) use probe_via_attr;

/// An owned copy of an attribute's key and value (both strings copied).
pub(crate) fn copied_key_value<A: Attr + ?Sized>(a: &A) -> KeyValue {
    KeyValue::new(
        Str::from_string(a.key().to_owned()),
        a.value().to_owned_value(),
    )
}

/// [`Probe::pair_hash`] from an attribute's key and value.
#[inline(always)]
pub(crate) fn attr_pair_hash<A: Attr + ?Sized>(a: &A) -> u64 {
    hash_pair(a.key(), a.value())
}

/// [`Probe::eq_stored`] from an attribute's key and value.
#[inline(always)]
pub(crate) fn attr_eq_stored<A: Attr + ?Sized>(a: &A, m: &KeyValue) -> bool {
    str_eq(&m.key, a.key()) && m.value.as_ref() == a.value()
}

impl Attr for KeyValue {
    #[inline]
    fn key(&self) -> &str {
        &self.key
    }
    #[inline]
    fn value(&self) -> ValueRef<'_> {
        self.value.as_ref()
    }
    fn to_key_value(&self) -> KeyValue {
        self.clone()
    }
}

impl Probe for KeyValue {
    #[inline]
    fn pair_hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn cached_hash(&self) -> Option<u64> {
        Some(self.hash)
    }
    #[inline(always)]
    fn eq_stored(&self, m: &KeyValue) -> bool {
        // Cached hashes reject most mismatches. The same representation
        // (the caller passes the literals, or the clones of a prepared
        // set, that the series was created with) accepts with word
        // compares only; anything else compares bytes, out of line.
        if self.hash != m.hash {
            return false;
        }
        let same = self.key.same_repr(&m.key)
            && match (&self.value, &m.value) {
                (Value::Str(a), Value::Str(b)) => a.same_repr(b),
                (Value::I64(a), Value::I64(b)) => a == b,
                _ => false,
            };
        same || self.eq_stored_slow(m)
    }
}

impl KeyValue {
    /// [`Probe::eq_stored`] past the same-representation case.
    #[inline(never)]
    fn eq_stored_slow(&self, m: &KeyValue) -> bool {
        if !self.key.same_or_eq(&m.key) {
            return false;
        }
        match (&self.value, &m.value) {
            (Value::Str(a), Value::Str(b)) => a.same_or_eq(b),
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

/// A borrowed attribute.
#[derive(Clone, Copy, Debug)]
pub struct AttrRef<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: ValueRef<'a>,
}

impl Attr for AttrRef<'_> {
    #[inline]
    fn key(&self) -> &str {
        self.key
    }
    #[inline]
    fn value(&self) -> ValueRef<'_> {
        self.value
    }
}
probe_via_attr!(AttrRef<'_>);

impl<T: Attr + ?Sized> Attr for &T {
    #[inline]
    fn key(&self) -> &str {
        (**self).key()
    }
    #[inline]
    fn value(&self) -> ValueRef<'_> {
        (**self).value()
    }
    fn to_key_value(&self) -> KeyValue {
        (**self).to_key_value()
    }
}

impl<T: Probe + ?Sized> Probe for &T {
    #[inline]
    fn pair_hash(&self) -> u64 {
        (**self).pair_hash()
    }
    #[inline]
    fn eq_stored(&self, m: &KeyValue) -> bool {
        (**self).eq_stored(m)
    }
    #[inline]
    fn cached_hash(&self) -> Option<u64> {
        (**self).cached_hash()
    }
}

const SEED: u64 = 0x5f3c_97a1_d2e4_8b61;
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Hash of a string's bytes. Strings up to 16 bytes (almost every attribute
/// value) take two overlapping word loads and one folded multiply; longer
/// ones go through foldhash.
#[inline(always)]
fn str_hash(s: &[u8]) -> u64 {
    let n = s.len();
    let (a, b) = if n >= 8 {
        if n > 16 {
            return foldhash::fast::FixedState::with_seed(SEED).hash_one(s);
        }
        (
            u64::from_le_bytes(s[..8].try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(s[n - 8..].try_into().unwrap_or([0; 8])),
        )
    } else if n >= 4 {
        (
            u32::from_le_bytes(s[..4].try_into().unwrap_or([0; 4])) as u64,
            u32::from_le_bytes(s[n - 4..].try_into().unwrap_or([0; 4])) as u64,
        )
    } else if n > 0 {
        (
            (s[0] as u64) << 16 | (s[n / 2] as u64) << 8 | s[n - 1] as u64,
            0,
        )
    } else {
        (0, 0)
    };
    fold_mul(a ^ K1, b ^ SEED ^ n as u64)
}

/// Hash of one key/value pair. Only the key's length enters the hash (keys
/// of one instrument are usually the same few literals, and equality is
/// checked in full anyway); the value is hashed with its type.
#[inline(always)]
fn hash_pair(key: &str, value: ValueRef<'_>) -> u64 {
    let v = match value {
        ValueRef::Str(s) => hash_str_value(s.as_bytes()),
        ValueRef::I64(i) => hash_int_value(i as u64, HASH_TAG_I64),
        ValueRef::F64(f) => hash_int_value(f.to_bits(), HASH_TAG_F64),
        ValueRef::Bool(b) => hash_int_value(b as u64, HASH_TAG_BOOL),
    };
    combine_pair(key.len(), v)
}

/// The value part of a pair hash for a string value's bytes.
#[inline(always)]
pub(crate) fn hash_str_value(s: &[u8]) -> u64 {
    str_hash(s)
}

/// The type tags of the scalar values in [`hash_int_value`]: an i64, an f64
/// and a bool with the same bits hash differently.
pub(crate) const HASH_TAG_I64: u64 = 2;
pub(crate) const HASH_TAG_F64: u64 = 3;
pub(crate) const HASH_TAG_BOOL: u64 = 4;

/// The value part of a pair hash for a scalar's bits, `tag` being one of
/// the `HASH_TAG_*`.
#[inline(always)]
pub(crate) fn hash_int_value(bits: u64, tag: u64) -> u64 {
    fold_mul(bits ^ K2, K1 ^ tag)
}

/// A pair hash from its key's length and its value's hash.
#[inline(always)]
pub(crate) fn combine_pair(key_len: usize, value_hash: u64) -> u64 {
    fold_mul(value_hash ^ (key_len as u64).wrapping_mul(K2), K1)
}

#[inline]
fn finish(sum: u64, len: usize) -> u64 {
    // A final avalanche so that the low bits (used for slot indexes) depend on
    // every pair; the length separates sets whose pair hashes sum alike.
    let mut x = sum ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x
}

/// Order-independent hash of a caller's attribute slice. Equal to
/// [`AttributeSet::hash`] of the set built from the slice when the slice has
/// no duplicate keys.
#[inline]
pub fn hash_attrs<A: Probe>(attrs: &[A]) -> u64 {
    let mut sum = 0u64;
    for a in attrs {
        sum = sum.wrapping_add(a.pair_hash());
    }
    finish(sum, attrs.len())
}

/// A canonical, immutable attribute set: sorted by key, one value per key
/// (the last one given wins, as the OpenTelemetry API specifies), hashed once.
/// Cloning is a reference-count increment.
///
/// One word: a thin pointer to a [`SetHeader`] (count, hash, length)
/// followed by the pairs, in one allocation. A series, each of its
/// collected points and a prepared set hold one; a fat `Arc<[KeyValue]>`
/// plus the hash was three words. A series map allocates its series and
/// the series' set together (see [`AttributeSet::with_room`]): one
/// allocation per series. The empty set points at a static header and
/// allocates nothing.
pub struct AttributeSet {
    block: NonNull<SetHeader>,
}

/// The head of an [`AttributeSet`]'s pairs; `len` [`KeyValue`]s follow it
/// (at [`PAIRS_OFFSET`]). `room` bytes before it belong to the same
/// allocation (a series, see [`AttributeSet::with_room`]), whose alignment
/// is `align`.
#[repr(C)]
struct SetHeader {
    /// References: one per `AttributeSet` value.
    refs: std::sync::atomic::AtomicUsize,
    hash: u64,
    len: u32,
    room: u16,
    align: u16,
}

/// Where the pairs start in a set's allocation.
const PAIRS_OFFSET: usize = std::mem::size_of::<SetHeader>();
const _: () = assert!(PAIRS_OFFSET % std::mem::align_of::<KeyValue>() == 0);

/// The header of every empty set: counted like any other, from a start
/// that no number of references brings down to the last, so never freed.
static EMPTY: SetHeader = SetHeader {
    refs: std::sync::atomic::AtomicUsize::new(1 << (usize::BITS - 2)),
    hash: 0, // `finish(0, 0)`, checked by the `empty_set` test
    len: 0,
    room: 0,
    align: 1,
};

// SAFETY: a set is an immutable array of `KeyValue`s (Send + Sync) shared
// through an atomic reference count, as `Arc<[KeyValue]>` is.
unsafe impl Send for AttributeSet {}
// SAFETY: as above.
unsafe impl Sync for AttributeSet {}

/// The layout of a set's allocation holding `n` pairs after `room`, and
/// the header's offset in it.
fn set_layout(room: std::alloc::Layout, n: usize) -> (std::alloc::Layout, usize) {
    let pairs = std::alloc::Layout::array::<KeyValue>(n).unwrap_or_else(|_| layout_overflow());
    let head = std::alloc::Layout::new::<SetHeader>()
        .extend(pairs)
        .unwrap_or_else(|_| layout_overflow())
        .0;
    match room.extend(head) {
        Ok((l, at)) => (l.pad_to_align(), at),
        Err(_) => layout_overflow(),
    }
}

/// No room before the header (a set on its own).
const NO_ROOM: std::alloc::Layout = std::alloc::Layout::new::<()>();

#[cold]
fn layout_overflow() -> ! {
    // Unreachable in practice: it takes more pairs than memory holds.
    std::process::abort()
}

impl Clone for AttributeSet {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed, as `Arc::clone`: a new reference comes from an
        // existing one, which keeps the set alive meanwhile.
        let old = self
            .header()
            .refs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if old > isize::MAX as usize {
            layout_overflow();
        }
        AttributeSet { block: self.block }
    }
}

impl Drop for AttributeSet {
    #[inline]
    fn drop(&mut self) {
        // The static empty header starts far above 1 and every empty set
        // takes a reference: it never reaches the free below.
        if self
            .header()
            .refs
            .fetch_sub(1, std::sync::atomic::Ordering::Release)
            == 1
        {
            // SAFETY: that was the last reference.
            unsafe { self.free() }
        }
    }
}

impl AttributeSet {
    /// The empty set.
    pub fn empty() -> Self {
        let e = AttributeSet {
            block: NonNull::from(&EMPTY),
        };
        std::mem::forget(e.clone());
        e
    }

    /// Drops the pairs and frees the allocation.
    ///
    /// # Safety
    /// The caller dropped the last reference.
    #[cold]
    #[inline(never)]
    unsafe fn free(&mut self) {
        // As `Arc::drop`: every other reference's uses happen before the free.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let h = self.header();
        let (n, room, align) = (h.len as usize, h.room as usize, h.align as usize);
        let p = self.block.as_ptr().cast::<u8>();
        // SAFETY: the last reference: the pairs were written in `build`
        // and nobody else can read them any more (whatever the room holds
        // was dropped by its owner before it dropped its reference); the
        // allocation starts `room` bytes before the header, with the
        // layout `build` computed from the same room size and alignment.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                p.add(PAIRS_OFFSET).cast::<KeyValue>(),
                n,
            ));
            let room_layout = std::alloc::Layout::from_size_align_unchecked(room, align);
            std::alloc::dealloc(p.sub(room), set_layout(room_layout, n).0);
        }
    }

    #[inline(always)]
    fn header(&self) -> &SetHeader {
        // SAFETY: the block lives while any `AttributeSet` points at it.
        unsafe { self.block.as_ref() }
    }

    /// Heap bytes of a set of `n` pairs, not counting the strings its
    /// pairs own (`n` = 0: none, the empty set is static). A series map
    /// allocates each series with its set: `room` bytes more (the series,
    /// of alignment 8 or less), rounded up to the alignment of the pairs.
    pub fn heap_bytes(n: usize, room: usize) -> usize {
        if n == 0 && room == 0 {
            return 0;
        }
        let room = std::alloc::Layout::from_size_align(room, 1).unwrap_or(NO_ROOM);
        set_layout(room, n).0.size()
    }

    /// Builds the canonical set from any attributes (copies keys and values).
    pub fn from_attrs<A: Attr>(attrs: &[A]) -> Self {
        let mut v: Vec<KeyValue> = attrs.iter().map(|a| a.to_key_value()).collect();
        Self::canonicalize(&mut v);
        Self::from_sorted_unique(v)
    }

    /// [`from_attrs`](Self::from_attrs), passing each owned copy through
    /// `share` (which may swap its strings for equal shared ones), in one
    /// allocation with `room` (see [`with_room`](Self::with_room)).
    pub(crate) fn from_attrs_with<A: Attr>(
        attrs: &[A],
        share: impl FnMut(KeyValue) -> KeyValue,
        room: std::alloc::Layout,
    ) -> (Self, NonNull<u8>) {
        let v: Vec<KeyValue> = attrs.iter().map(|a| a.to_key_value()).map(share).collect();
        Self::with_room(v, room)
    }

    /// The canonical set of `v` in one allocation that also holds `room`
    /// (uninitialized) before the set, for the caller's use: a series map
    /// keeps each series there, and the series' own reference to its set
    /// keeps both alive. Returns the set and the room.
    ///
    /// The allocation is freed when the last reference to the set goes:
    /// whoever puts something in the room must drop it in place before
    /// it drops its reference, and never touch the room afterwards.
    pub(crate) fn with_room(mut v: Vec<KeyValue>, room: std::alloc::Layout) -> (Self, NonNull<u8>) {
        Self::canonicalize(&mut v);
        Self::build(v, room)
    }

    /// Builds the canonical set from owned key/values without copying strings.
    pub fn from_key_values(mut v: Vec<KeyValue>) -> Self {
        Self::canonicalize(&mut v);
        Self::from_sorted_unique(v)
    }

    fn canonicalize(v: &mut Vec<KeyValue>) {
        // Stable sort keeps the order of duplicates, so "last wins" is the last
        // element of each run of equal keys.
        v.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out: Vec<KeyValue> = Vec::with_capacity(v.len());
        for kv in v.drain(..) {
            match out.last_mut() {
                Some(last) if last.key == kv.key => *last = kv,
                _ => out.push(kv),
            }
        }
        *v = out;
    }

    fn from_sorted_unique(v: Vec<KeyValue>) -> Self {
        if v.is_empty() {
            return AttributeSet::empty();
        }
        Self::build(v, NO_ROOM).0
    }

    /// Allocates `room`, the header and `v`'s pairs (sorted and unique).
    fn build(v: Vec<KeyValue>, room: std::alloc::Layout) -> (Self, NonNull<u8>) {
        let hash = hash_attrs(&v);
        let n = v.len();
        let (layout, at) = set_layout(room, n);
        let (Ok(len), Ok(at16), Ok(align)) = (
            u32::try_from(n),
            u16::try_from(at),
            u16::try_from(layout.align()),
        ) else {
            layout_overflow()
        };
        // SAFETY: the layout has a non-zero size (a header).
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout)
        }
        // SAFETY: a fresh allocation of `layout`: the room at its start,
        // the header at `at`, room for `n` pairs after it; the pairs are
        // moved out of `v`, whose buffer is then freed without dropping
        // them. `Drop` rebuilds `layout` from the header's `room` (`at`:
        // the room padded to the header's alignment) and `align`.
        let block = unsafe {
            let h = base.add(at).cast::<SetHeader>();
            h.write(SetHeader {
                refs: std::sync::atomic::AtomicUsize::new(1),
                hash,
                len,
                room: at16,
                align,
            });
            let mut v = std::mem::ManuallyDrop::new(v);
            std::ptr::copy_nonoverlapping(
                v.as_ptr(),
                h.cast::<u8>().add(PAIRS_OFFSET).cast::<KeyValue>(),
                n,
            );
            v.set_len(0);
            std::mem::ManuallyDrop::drop(&mut v);
            NonNull::new_unchecked(h)
        };
        // SAFETY: `alloc` returned non-null.
        (AttributeSet { block }, unsafe {
            NonNull::new_unchecked(base)
        })
    }

    /// Keeps the attributes whose key satisfies `keep`.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Self {
        let v: Vec<KeyValue> = self.iter().filter(|kv| keep(&kv.key)).cloned().collect();
        Self::from_sorted_unique(v)
    }

    /// The precomputed hash.
    #[inline(always)]
    pub fn hash_value(&self) -> u64 {
        self.header().hash
    }

    /// Number of attributes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.header().len as usize
    }

    /// True when the set has no attributes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The attributes, sorted by key.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, KeyValue> {
        self.as_slice().iter()
    }

    /// The attributes as a slice, sorted by key.
    #[inline(always)]
    pub fn as_slice(&self) -> &[KeyValue] {
        let n = self.header().len as usize;
        // SAFETY: `n` initialized pairs follow the header (none for the
        // static empty header: a zero-length slice at an aligned address).
        unsafe {
            std::slice::from_raw_parts(
                self.block
                    .as_ptr()
                    .cast::<u8>()
                    .add(PAIRS_OFFSET)
                    .cast::<KeyValue>(),
                n,
            )
        }
    }

    /// Looks a key up.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let attrs = self.as_slice();
        attrs
            .binary_search_by(|kv| kv.key.as_ref().cmp(key))
            .ok()
            .map(|i| &attrs[i].value)
    }

    /// True when the caller's (possibly unsorted) slice denotes exactly this
    /// set. A slice with duplicate keys never matches (it takes the slow path,
    /// which canonicalizes it). Allocates nothing.
    #[inline]
    pub fn matches<A: Probe>(&self, attrs: &[A]) -> bool {
        self.matches_hinted(attrs, None)
    }

    /// [`matches`](Self::matches) with a remembered order: `hint` holds
    /// where each caller position was found last time (a call site passes
    /// its attributes in the same order every call), so an unsorted slice
    /// is checked in one pass, like a sorted one, instead of searched. The
    /// hint starts as the identity ([`AttributeSet::identity_order`]) and is
    /// only a guess, verified pair by pair; a wrong one costs a search,
    /// after which it is updated. Sets of more than five attributes have no
    /// hint.
    #[inline(always)]
    pub(crate) fn matches_hinted<A: Probe>(&self, attrs: &[A], hint: Option<&AtomicU16>) -> bool {
        let mine = self.as_slice();
        let n = mine.len();
        if n != attrs.len() {
            return false;
        }
        // Common case: the caller passes attributes sorted.
        let mut i = 0;
        while i < n {
            if !attrs[i].eq_stored(&mine[i]) {
                return match hint {
                    Some(h) if n <= PERM_MAX => self.matches_in_order(mine, attrs, h),
                    _ => self.matches_unordered(attrs, i, None),
                };
            }
            i += 1;
        }
        true
    }

    /// The unsorted caller's path: check the remembered order in one pass.
    #[inline(never)]
    fn matches_in_order<A: Probe>(&self, mine: &[KeyValue], attrs: &[A], hint: &AtomicU16) -> bool {
        let mut perm = hint.load(Ordering::Relaxed);
        // Which stored pairs were used: checked once at the end, it makes a
        // hint that is not a permutation (which no code stores) cost a
        // search instead of a wrong answer.
        let mut seen = 0u32;
        for a in attrs {
            let j = (perm & PERM_MASK) as usize;
            perm >>= PERM_BITS;
            seen |= 1 << j;
            match mine.get(j) {
                Some(m) if a.eq_stored(m) => {}
                _ => return self.matches_unordered(attrs, 0, Some(hint)),
            }
        }
        seen == (1 << mine.len()) - 1 || self.matches_unordered(attrs, 0, Some(hint))
    }

    /// The order hint of a set whose callers pass it sorted.
    pub(crate) fn identity_order(&self) -> u16 {
        (0..self.len().min(PERM_MAX)).fold(0, |p, i| p | (i as u16) << (PERM_BITS * i as u32))
    }

    /// `matches` for a caller whose attributes `..first_mismatch` matched in
    /// place and the rest did not: find each remaining one by its pair hash
    /// and check that every stored pair was used once; remember the order
    /// found in `hint`.
    #[inline(never)]
    fn matches_unordered<A: Probe>(
        &self,
        attrs: &[A],
        first_mismatch: usize,
        hint: Option<&AtomicU16>,
    ) -> bool {
        let mine = self.as_slice();
        let n = mine.len();
        if n > 64 {
            return false;
        }
        // A caller pair matching a stored pair already used (duplicate keys)
        // leaves another stored pair unused: the final count catches it.
        let mut seen: u64 = (1u64 << first_mismatch) - 1;
        let mut perm: u16 = 0;
        for i in 0..first_mismatch.min(PERM_MAX) {
            perm |= (i as u16) << (PERM_BITS * i as u32);
        }
        for (i, a) in attrs.iter().enumerate().skip(first_mismatch) {
            let h = a.cached_hash().unwrap_or_else(|| a.pair_hash());
            let mut j = first_mismatch;
            while j < n && !(mine[j].hash == h && a.eq_stored(&mine[j])) {
                j += 1;
            }
            if j == n {
                return false;
            }
            seen |= 1 << j;
            if i < PERM_MAX {
                perm |= (j as u16) << (PERM_BITS * i as u32);
            }
        }
        // All n stored pairs used by n caller pairs: `perm` is a permutation.
        let ok = seen.count_ones() as usize == n;
        if let (true, Some(h)) = (ok && n <= PERM_MAX, hint) {
            h.store(perm, Ordering::Relaxed);
        }
        ok
    }
}

/// Per-thread memo of content hashes, keyed by [`Unchecked::memo_key`]: a
/// call site passes the same string literals on every call, so their bytes
/// are hashed once per thread instead of once per call. Entries are only
/// hints: the lookup compares every attribute with the series it finds, so
/// a key collision, a torn entry or a buffer whose content changed under
/// the same pointers costs one hash computation, never a wrong series.
///
/// A thread whose strings move (built per call) would pay for the key and
/// the miss on every call, so two misses fewer than
/// [`MEMO_MISS_SPACING`] calls apart turn the memo off for [`MEMO_PAUSE`]
/// calls. Calls are counted by the caller (the thread's pin count), so a
/// hit costs no bookkeeping.
///
/// Owned by one thread (see `context::ThreadSlot`); relaxed
/// atomics only so that the owner can be shared.
pub(crate) struct HashMemo {
    /// Entries: a key and its hash.
    entries: [[std::sync::atomic::AtomicU64; 2]; MEMO_ENTRIES],
    /// The call count at the last miss.
    last_miss: std::sync::atomic::AtomicU64,
    /// The memo is off until the call count reaches this.
    resume_at: std::sync::atomic::AtomicU64,
}

/// Entries of a [`HashMemo`].
const MEMO_ENTRIES: usize = 64; // a power of two
/// Two misses closer than this many calls pause the memo (a miss rate
/// above one in eight).
const MEMO_MISS_SPACING: u64 = 8;
/// Calls without the memo once paused.
const MEMO_PAUSE: u64 = 256;

impl Default for HashMemo {
    fn default() -> Self {
        use std::sync::atomic::AtomicU64;
        HashMemo {
            entries: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
            // Far from any call count: the first miss alone never pauses.
            last_miss: AtomicU64::new(u64::MAX / 2),
            resume_at: AtomicU64::new(0),
        }
    }
}

impl HashMemo {
    /// The entry for `key`: its top bits (the key's best mixed ones).
    #[inline(always)]
    fn entry(&self, key: u64) -> &[std::sync::atomic::AtomicU64; 2] {
        const SHIFT: u32 = u64::BITS - MEMO_ENTRIES.trailing_zeros();
        &self.entries[(key >> SHIFT) as usize % MEMO_ENTRIES]
    }

    /// Whether to use the memo for call number `now` (false while paused).
    #[inline(always)]
    pub(crate) fn active(&self, now: u64) -> bool {
        now >= self.resume_at.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The hash remembered under `key`. Keys are never 0 (the empty
    /// entry): [`Unchecked::memo_key`] implementations set a bit.
    #[inline(always)]
    pub(crate) fn recall(&self, key: u64) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let [k, h] = self.entry(key);
        (k.load(Relaxed) == key).then(|| h.load(Relaxed))
    }

    /// Remembers `hash` under `key` after a miss (no entry, or an entry
    /// whose hash found no series) at call number `now`; pauses the memo
    /// when the previous miss was less than [`MEMO_MISS_SPACING`] calls ago.
    #[inline]
    pub(crate) fn miss(&self, key: u64, hash: u64, now: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let [k, h] = self.entry(key);
        k.store(key, Relaxed);
        h.store(hash, Relaxed);
        if now.wrapping_sub(self.last_miss.load(Relaxed)) < MEMO_MISS_SPACING {
            self.resume_at.store(now + MEMO_PAUSE, Relaxed);
        }
        self.last_miss.store(now, Relaxed);
    }
}

/// Bits per position in an order hint, and the longest set it covers.
const PERM_BITS: u32 = 3;
const PERM_MASK: u16 = (1 << PERM_BITS) - 1;
const PERM_MAX: usize = 5;

impl PartialEq for AttributeSet {
    fn eq(&self, other: &Self) -> bool {
        self.hash_value() == other.hash_value() && self.as_slice() == other.as_slice()
    }
}
impl Eq for AttributeSet {}

impl std::hash::Hash for AttributeSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_value())
    }
}

impl fmt::Debug for AttributeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|kv| (&kv.key, &kv.value)))
            .finish()
    }
}

impl Default for AttributeSet {
    fn default() -> Self {
        Self::empty()
    }
}

impl<const N: usize> From<[KeyValue; N]> for AttributeSet {
    fn from(v: [KeyValue; N]) -> Self {
        Self::from_key_values(v.into())
    }
}

impl From<&[KeyValue]> for AttributeSet {
    fn from(v: &[KeyValue]) -> Self {
        Self::from_key_values(v.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
        KeyValue::new(k, v)
    }

    #[test]
    fn order_independent_hash_and_match() {
        let a = [kv("method", "GET"), kv("route", "/x"), kv("status", 200i64)];
        let b = [kv("status", 200i64), kv("method", "GET"), kv("route", "/x")];
        assert_eq!(hash_attrs(&a), hash_attrs(&b));
        let set = AttributeSet::from_attrs(&b);
        assert_eq!(set.hash_value(), hash_attrs(&a));
        assert!(set.matches(&a));
        assert!(set.matches(&b));
        assert_eq!(set.as_slice()[0].key, "method");
        assert_eq!(set, AttributeSet::from_attrs(&a));
    }

    #[test]
    fn values_of_different_type_differ() {
        let s = AttributeSet::from_attrs(&[kv("k", "1")]);
        assert!(!s.matches(&[kv("k", 1i64)]));
        assert!(!s.matches(&[kv("k", true)]));
        assert_ne!(hash_attrs(&[kv("k", "1")]), hash_attrs(&[kv("k", 1i64)]));
    }

    #[test]
    fn duplicates_last_wins_and_never_match_fast_path() {
        let set = AttributeSet::from_attrs(&[kv("a", 1i64), kv("b", 2i64), kv("a", 3i64)]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("a"), Some(&Value::I64(3)));
        // [a=3, a=3] has the same length as {a, b} but must not match it.
        assert!(!set.matches(&[kv("a", 3i64), kv("a", 3i64)]));
        assert!(set.matches(&[kv("b", 2i64), kv("a", 3i64)]));
    }

    #[test]
    fn float_values_compare_by_bits() {
        let s = AttributeSet::from_attrs(&[kv("f", f64::NAN)]);
        assert!(s.matches(&[kv("f", f64::NAN)]));
        assert!(!s.matches(&[kv("f", 0.0)]));
        let z = AttributeSet::from_attrs(&[kv("f", 0.0)]);
        assert!(!z.matches(&[kv("f", -0.0)]));
    }

    #[test]
    fn bytes_eq_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(bytes_eq(&a, &a.clone()), "len {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!bytes_eq(&a, &b), "len {n}, differs at {i}");
            }
            if n > 0 {
                assert!(!bytes_eq(&a, &a[..n - 1]));
            }
        }
    }

    #[test]
    fn empty_set() {
        let e = AttributeSet::empty();
        assert!(e.is_empty());
        assert!(e.matches::<KeyValue>(&[]));
        assert_eq!(e.hash_value(), hash_attrs::<KeyValue>(&[]));
    }

    #[test]
    fn order_hint_learns_the_callers_order_and_is_verified() {
        let set = AttributeSet::from_attrs(&[kv("a", 1i64), kv("b", "x"), kv("c", true)]);
        let hint = AtomicU16::new(set.identity_order());
        let sorted = [kv("a", 1i64), kv("b", "x"), kv("c", true)];
        let cab = [kv("c", true), kv("a", 1i64), kv("b", "x")];
        let bca = [kv("b", "x"), kv("c", true), kv("a", 1i64)];
        assert!(set.matches_hinted(&sorted, Some(&hint)));
        assert_eq!(hint.load(Ordering::Relaxed), set.identity_order());
        // First unsorted call searches and remembers: c->2, a->0, b->1.
        assert!(set.matches_hinted(&cab, Some(&hint)));
        let learned = hint.load(Ordering::Relaxed);
        assert_eq!(learned, 2 | (1 << 6));
        assert!(set.matches_hinted(&cab, Some(&hint)));
        // Another order still matches (and is learned); sorted callers do
        // not need the hint.
        assert!(set.matches_hinted(&bca, Some(&hint)));
        assert_ne!(hint.load(Ordering::Relaxed), learned);
        assert!(set.matches_hinted(&sorted, Some(&hint)));
        // A wrong value in a remembered position is a mismatch, never a
        // match, and duplicates never match.
        assert!(!set.matches_hinted(&[kv("c", false), kv("a", 1i64), kv("b", "x")], Some(&hint)));
        assert!(!set.matches_hinted(&[kv("b", "x"), kv("b", "x"), kv("a", 1i64)], Some(&hint)));
        // A hint that is not a permutation costs a search, never a wrong
        // answer (0,0,2 would pair both `a`s with the stored `a`).
        for bad in [0u16, 0x7fff, 1 | (1 << 3) | (1 << 6), 2 << 6] {
            hint.store(bad, Ordering::Relaxed);
            assert!(set.matches_hinted(&cab, Some(&hint)));
            hint.store(bad, Ordering::Relaxed);
            assert!(
                !set.matches_hinted(&[kv("a", 1i64), kv("a", 1i64), kv("c", true)], Some(&hint))
            );
        }
    }

    #[test]
    fn sets_over_five_attributes_match_unsorted_without_a_hint() {
        let attrs: Vec<KeyValue> = (0..7i64)
            .map(|i| KeyValue::new(format!("k{i}"), i))
            .collect();
        let set = AttributeSet::from_attrs(&attrs);
        let mut rev = attrs.clone();
        rev.reverse();
        let hint = AtomicU16::new(set.identity_order());
        assert!(set.matches_hinted(&rev, Some(&hint)));
        assert!(set.matches_hinted(&attrs, Some(&hint)));
        rev[0] = KeyValue::new("k6", 7i64);
        assert!(!set.matches_hinted(&rev, Some(&hint)));
    }

    #[test]
    fn hash_memo_remembers_and_pauses_when_misses_come_close() {
        let memo = HashMemo::default();
        let (k1, k3, k5) = (
            0x8000_0000_0000_0001,
            0x8000_0000_0000_0003,
            0x8000_0000_0000_0005,
        );
        assert!(memo.active(0));
        assert_eq!(memo.recall(k1), None);
        // A first miss alone does not pause.
        memo.miss(k1, 42, 10);
        assert!(memo.active(11));
        assert_eq!(memo.recall(k1), Some(42));
        // Another key in the same entry replaces it.
        assert_eq!(memo.recall(k3), None);
        // Misses at least MEMO_MISS_SPACING calls apart do not pause.
        memo.miss(k3, 7, 10 + MEMO_MISS_SPACING);
        assert!(memo.active(11 + MEMO_MISS_SPACING));
        assert_eq!(memo.recall(k3), Some(7));
        assert_eq!(memo.recall(k1), None);
        // A closer one pauses the memo for MEMO_PAUSE calls.
        let now = 10 + 2 * MEMO_MISS_SPACING - 1;
        memo.miss(k5, 9, now);
        for c in now..now + MEMO_PAUSE {
            assert!(!memo.active(c));
        }
        assert!(memo.active(now + MEMO_PAUSE));
        assert_eq!(memo.recall(k5), Some(9));
    }

    /// A set built with room for a series equals the same set built
    /// alone; the room precedes the header in one allocation of the size
    /// `heap_bytes` reports, and stays valid while any clone lives.
    #[test]
    fn set_with_room_is_one_allocation() {
        let pairs = || vec![kv("b", 2i64), kv("a", "x"), kv("b", 3i64)];
        let alone = AttributeSet::from_key_values(pairs());
        let room = std::alloc::Layout::new::<[u64; 5]>();
        let (set, at) = AttributeSet::with_room(pairs(), room);
        assert_eq!(set, alone);
        assert_eq!(set.hash_value(), alone.hash_value());
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("b"), Some(&Value::I64(3)));
        let header = set.block.as_ptr() as usize;
        assert_eq!(header - at.as_ptr() as usize, room.size());
        assert_eq!(at.as_ptr() as usize % room.align(), 0);
        assert_eq!(
            AttributeSet::heap_bytes(2, room.size()),
            room.size() + AttributeSet::heap_bytes(2, 0)
        );
        // SAFETY: the room is the caller's, as large as `room`.
        unsafe { at.as_ptr().cast::<[u64; 5]>().write([7; 5]) };
        let clone = set.clone();
        drop(set);
        // SAFETY: the clone keeps the allocation, room included.
        assert_eq!(unsafe { at.as_ptr().cast::<[u64; 5]>().read() }, [7; 5]);
        assert_eq!(clone, alone);
    }

    /// Empty sets share one static header, whatever the number of
    /// clones and drops, and equal an empty set built from nothing.
    #[test]
    fn empty_sets_share_a_static_header() {
        let sets: Vec<AttributeSet> = (0..1000).map(|_| AttributeSet::empty()).collect();
        let clones: Vec<AttributeSet> = sets.iter().map(Clone::clone).collect();
        drop(sets);
        let built = AttributeSet::from_key_values(Vec::new());
        assert!(clones.iter().all(|c| c.block == built.block && *c == built));
        assert_eq!(AttributeSet::heap_bytes(0, 0), 0);
        assert!(built.is_empty() && built.as_slice().is_empty());
    }

    #[test]
    fn filter_keeps_allowed_keys() {
        let s = AttributeSet::from_attrs(&[kv("a", 1i64), kv("b", 2i64), kv("c", 3i64)]);
        let f = s.filter(|k| k != "b");
        assert_eq!(f.len(), 2);
        assert!(f.matches(&[kv("c", 3i64), kv("a", 1i64)]));
    }
}
