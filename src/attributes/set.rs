//! The canonical [`AttributeSet`]: sorted by key, deduplicated, hashed
//! once, one reference-counted allocation (which a series map shares with
//! the series).

use super::attr::Attr;
use super::hash::hash_attrs;
use super::{KeyValue, Value};
use std::fmt;
use std::hash::Hasher;
use std::ptr::NonNull;

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
}

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
    use crate::attributes::hash_attrs;

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
    fn duplicates_last_wins_and_never_match_fast_path() {
        let set = AttributeSet::from_attrs(&[kv("a", 1i64), kv("b", 2i64), kv("a", 3i64)]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("a"), Some(&Value::I64(3)));
        // [a=3, a=3] has the same length as {a, b} but must not match it.
        assert!(!set.matches(&[kv("a", 3i64), kv("a", 3i64)]));
        assert!(set.matches(&[kv("b", 2i64), kv("a", 3i64)]));
    }

    #[test]
    fn empty_set() {
        let e = AttributeSet::empty();
        assert!(e.is_empty());
        assert!(e.matches::<KeyValue>(&[]));
        assert_eq!(e.hash_value(), hash_attrs::<KeyValue>(&[]));
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
