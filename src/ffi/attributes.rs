//! Attributes as C passes them (`fm_attribute`: key + typed value, all
//! borrowed), their validation on the hot path, and prepared attribute
//! sets (`fm_attribute_set`) built once and reused.

use super::handle::{arg, bytes, fm_str, out_arg, slice, write_out, Handle};
use super::status::{fail, fm_status};
use crate::attributes::{
    bytes_eq, combine_pair, copied_key_value, hash_int_value, hash_str_value, probe_via_attr, Attr,
    AttributeSet, KeyValue, Probe, Str, Unchecked, Value, ValueRef, HASH_TAG_BOOL, HASH_TAG_F64,
    HASH_TAG_I64,
};
use crate::diagnostics::{Diag, Reason};
use std::ffi::c_char;

/// The type tag of an `fm_attribute` value (one of the `FM_VALUE_*`
/// constants). Other values make the attribute invalid.
pub type fm_value_type = u32;
/// The value is a UTF-8 string (`value.str`).
pub const FM_VALUE_STRING: fm_value_type = 0;
/// The value is a signed 64-bit integer (`value.i64`).
pub const FM_VALUE_I64: fm_value_type = 1;
/// The value is a double (`value.f64`).
pub const FM_VALUE_F64: fm_value_type = 2;
/// The value is a boolean (`value.boolean`).
pub const FM_VALUE_BOOL: fm_value_type = 3;
/// A flag to OR into an attribute's tag (`FM_VALUE_STRING |
/// FM_VALUE_STATIC`): the caller promises that the key's bytes, and a
/// string value's bytes, are never modified or freed while the library is
/// loaded (string literals, or storage that lives as long). The library
/// then keeps the pointers instead of copying the strings when it creates
/// a series or an attribute set, and a later call passing the same
/// pointers matches by address without reading the bytes: the C
/// counterpart of a Rust `&'static str`. For a non-string value the flag
/// covers the key. Breaking the promise is undefined behaviour (the
/// library reads the strings when it exports).
pub const FM_VALUE_STATIC: fm_value_type = 0x100;

/// The value of an attribute; which member is valid is given by the tag.
#[repr(C)]
#[derive(Clone, Copy)]
pub union fm_value {
    /// `FM_VALUE_STRING`: UTF-8 bytes (borrowed).
    pub str: fm_str,
    /// `FM_VALUE_I64`.
    pub i64: i64,
    /// `FM_VALUE_F64`.
    pub f64: f64,
    /// `FM_VALUE_BOOL`.
    pub boolean: bool,
}

/// One attribute (key/value pair) passed by the caller.
///
/// Ownership: everything is borrowed for the duration of the call only;
/// the library copies what it keeps (unless the tag carries
/// `FM_VALUE_STATIC`). A NULL or empty key (the specification requires
/// non-empty keys), an unknown type tag or
/// invalid UTF-8 in the key or a string value makes the attribute invalid:
/// a measurement carrying it is dropped and counted as `invalid_attributes`
/// (see `fm_provider_rejected`). Duplicate keys: the last one wins.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_attribute {
    /// Key bytes (UTF-8, not NUL-terminated), must not be NULL or empty.
    pub key: *const c_char,
    /// Key length in bytes.
    pub key_len: usize,
    /// Which member of `value` is set (`FM_VALUE_*`), optionally with
    /// `FM_VALUE_STATIC`.
    pub type_: fm_value_type,
    /// The value.
    pub value: fm_value,
}

/// A validated attribute: same layout, known to be readable as UTF-8.
#[repr(transparent)]
pub(crate) struct ValidAttr(fm_attribute);

/// The value type of a tag, without the `FM_VALUE_STATIC` flag.
#[inline(always)]
fn value_type(tag: fm_value_type) -> fm_value_type {
    tag & !FM_VALUE_STATIC
}

/// Whether a tag carries the caller's promise of static strings.
#[inline(always)]
fn is_static(tag: fm_value_type) -> bool {
    tag & FM_VALUE_STATIC != 0
}

impl ValidAttr {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        // SAFETY: only built by `validate`, which checked that `key` is
        // non-NULL and points to `key_len` bytes for the call's duration.
        unsafe { std::slice::from_raw_parts(self.0.key.cast::<u8>(), self.0.key_len) }
    }
}

impl Attr for ValidAttr {
    #[inline]
    fn key(&self) -> &str {
        // SAFETY: `validate` checked these bytes are UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.key_bytes()) }
    }
    #[inline]
    fn value(&self) -> ValueRef<'_> {
        // SAFETY: `validate` checked the tag, so the matching union member is
        // the initialized one; string bytes were checked to be UTF-8.
        unsafe {
            match value_type(self.0.type_) {
                FM_VALUE_STRING => {
                    let s = self.0.value.str;
                    if s.len == 0 {
                        ValueRef::Str("")
                    } else {
                        ValueRef::Str(std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                            s.ptr.cast::<u8>(),
                            s.len,
                        )))
                    }
                }
                FM_VALUE_I64 => ValueRef::I64(self.0.value.i64),
                FM_VALUE_F64 => ValueRef::F64(self.0.value.f64),
                _ => ValueRef::Bool(self.0.value.boolean),
            }
        }
    }

    /// Copies the strings, or borrows them when the caller promised they
    /// are static.
    fn to_key_value(&self) -> KeyValue {
        if !is_static(self.0.type_) {
            return copied_key_value(self);
        }
        // SAFETY: `FM_VALUE_STATIC` is the caller's promise that these
        // bytes are never modified or freed while the library is loaded;
        // `validate` checked that they are UTF-8.
        let forever = |s: &str| unsafe { &*(s as *const str) };
        let value = match self.value() {
            ValueRef::Str(v) => Value::Str(Str::from_static(forever(v))),
            v => v.to_owned_value(),
        };
        KeyValue::new(Str::from_static(forever(self.key())), value)
    }
}

probe_via_attr!(ValidAttr);

/// A caller's attribute before any check: hashed and compared as bytes
/// (the recording path's lookup), validated only when no series matches.
/// Every accessor tolerates what validation would refuse: a NULL key or
/// string never equals a stored one, an unknown tag matches nothing, a
/// bool byte other than 0/1 equals neither stored bool.
#[repr(transparent)]
pub(crate) struct RawAttr(fm_attribute);

impl RawAttr {
    /// The key's bytes, or `None` for a NULL key.
    #[inline(always)]
    fn key_bytes(&self) -> Option<&[u8]> {
        if self.0.key.is_null() {
            return None;
        }
        // SAFETY: the C contract: a non-NULL key points to `key_len`
        // readable bytes for the call's duration.
        Some(unsafe { std::slice::from_raw_parts(self.0.key.cast::<u8>(), self.0.key_len) })
    }

    /// A string value's bytes (`None`: NULL with a non-zero length).
    /// Called only when the tag is `FM_VALUE_STRING`.
    #[inline(always)]
    fn str_bytes(&self) -> Option<&[u8]> {
        // SAFETY: the tag says the `str` member is the one set; the C
        // contract, as for the key.
        unsafe { bytes(self.0.value.str.ptr, self.0.value.str.len) }
    }

    /// An i64 or f64 value's bits (or a string's pointer, as bits). Called
    /// only when the tag is `FM_VALUE_I64`, `FM_VALUE_F64` or
    /// `FM_VALUE_STRING` (8 initialized bytes).
    #[inline(always)]
    fn bits(&self) -> u64 {
        // SAFETY: the tag says one of the 8-byte members is set (the
        // string's pointer word is read as an integer, not dereferenced).
        unsafe { self.0.value.i64 as u64 }
    }

    /// A bool value's byte. Called only when the tag is `FM_VALUE_BOOL`.
    #[inline(always)]
    fn bool_byte(&self) -> u8 {
        // SAFETY: reading the member's byte as u8 is always defined.
        unsafe { *(std::ptr::addr_of!(self.0.value) as *const u8) }
    }
}

impl Probe for RawAttr {
    #[inline(always)]
    fn pair_hash(&self) -> u64 {
        let v = match value_type(self.0.type_) {
            FM_VALUE_STRING => hash_str_value(self.str_bytes().unwrap_or_default()),
            FM_VALUE_I64 => hash_int_value(self.bits(), HASH_TAG_I64),
            FM_VALUE_F64 => hash_int_value(self.bits(), HASH_TAG_F64),
            FM_VALUE_BOOL => hash_int_value((self.bool_byte() != 0) as u64, HASH_TAG_BOOL),
            _ => 0,
        };
        combine_pair(self.0.key_len, v)
    }

    #[inline(always)]
    fn eq_stored(&self, m: &KeyValue) -> bool {
        // With `FM_VALUE_STATIC`, a stored static string with the same
        // pointer and length words is equal without reading a byte (the
        // series was created from the same literals); otherwise, and
        // without the flag, the bytes decide.
        let a = &self.0;
        let fixed = is_static(a.type_);
        let key = m.key_str();
        let key_eq = (fixed && key.is_static_at(words(std::ptr::addr_of!(a.key))))
            || self
                .key_bytes()
                .is_some_and(|k| bytes_eq(key.as_bytes(), k));
        if !key_eq {
            return false;
        }
        // The caller's tag first, then whether the stored value has that
        // type: one compare each, no dispatch on the stored value.
        let tag = value_type(a.type_);
        if tag == FM_VALUE_STRING {
            return match m.value() {
                Value::Str(s) => {
                    // SAFETY: the tag says the `str` member is the one set.
                    let v = words(unsafe { std::ptr::addr_of!(a.value.str.ptr) });
                    (fixed && s.is_static_at(v))
                        || self.str_bytes().is_some_and(|b| bytes_eq(s.as_bytes(), b))
                }
                _ => false,
            };
        }
        match (m.value(), tag) {
            (Value::I64(i), FM_VALUE_I64) => *i as u64 == self.bits(),
            (Value::F64(f), FM_VALUE_F64) => f.to_bits() == self.bits(),
            (Value::Bool(b), FM_VALUE_BOOL) => *b as u8 == self.bool_byte(),
            _ => false,
        }
    }
}

/// The 16 bytes of a pointer and the length that follows it in a
/// `repr(C)` struct (`fm_attribute`'s key, `fm_str`).
#[inline(always)]
fn words<'a>(ptr: *const *const c_char) -> &'a [u8; 16] {
    // SAFETY: every caller passes the address of the pointer field of a
    // `repr(C)` struct it borrows whole (so the address may reach the next
    // field), and that field is the `usize` length: 16 initialized bytes.
    unsafe { &*ptr.cast::<[u8; 16]>() }
}

impl Unchecked for RawAttr {
    type Valid = ValidAttr;
    #[inline]
    fn validate(attrs: &[RawAttr]) -> Option<&[ValidAttr]> {
        validate(attrs.as_ptr().cast::<fm_attribute>(), attrs.len()).ok()
    }

    #[inline(always)]
    fn memo_key(attrs: &[RawAttr]) -> Option<u64> {
        Some(memo_key(attrs))
    }
}

/// The [`HashMemo`](crate::attributes::HashMemo) key of a caller's
/// attribute array: the key pointers and each value's first word (a
/// string's pointer, a scalar's bits) mixed; string bytes and lengths are
/// not read, so the same literals give the same key. Each attribute is
/// mixed by its own multiply and the products are summed, so the
/// multiplies run in parallel: the key, and with it the recalled hash and
/// the series lookup, is ready a few cycles after the call starts. The
/// multiplier differs by position, so an array and its reordering differ.
/// Never 0, the empty entry.
#[inline(always)]
fn memo_key(attrs: &[RawAttr]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    const STEP: u64 = 0x6a09_e667_f3bc_c908; // even: every multiplier stays odd
    const M: [u64; 4] = [
        K,
        K.wrapping_add(STEP),
        K.wrapping_add(STEP.wrapping_mul(2)),
        K.wrapping_add(STEP.wrapping_mul(3)),
    ];
    let w = |a: &RawAttr, i: usize| memo_word(a).wrapping_mul(M[i]);
    // Written out up to four attributes: the loop's trip-count setup and
    // unrolled remainder cost more than the key itself.
    let t = if let [a, b, c] = attrs {
        w(a, 0).wrapping_add(w(b, 1)).wrapping_add(w(c, 2))
    } else if let [a, b] = attrs {
        w(a, 0).wrapping_add(w(b, 1))
    } else if let [a] = attrs {
        w(a, 0)
    } else if let [a, b, c, d] = attrs {
        w(a, 0)
            .wrapping_add(w(b, 1))
            .wrapping_add(w(c, 2).wrapping_add(w(d, 3)))
    } else {
        let mut t = 0u64;
        let mut m = K;
        for a in attrs {
            t = t.wrapping_add(memo_word(a).wrapping_mul(m));
            m = m.wrapping_add(STEP);
        }
        t
    };
    t.wrapping_add(attrs.len() as u64) | 1
}

/// One attribute's part of [`memo_key`]: its key pointer and its value's
/// first word.
#[inline(always)]
fn memo_word(a: &RawAttr) -> u64 {
    // A string's first word is its pointer (see `bits`); an 8-byte scalar
    // enters by value. Bools and unknown tags are out of line, so the
    // common case falls through without a jump.
    let v = if value_type(a.0.type_) < FM_VALUE_BOOL {
        a.bits()
    } else {
        memo_word_other(a)
    };
    a.0.key as u64 ^ v.rotate_left(32)
}

/// [`memo_word`]'s value part for a bool or an unknown tag.
#[cold]
#[inline(never)]
fn memo_word_other(a: &RawAttr) -> u64 {
    match value_type(a.0.type_) {
        FM_VALUE_BOOL => a.bool_byte() as u64,
        _ => 0,
    }
}

/// The caller's attribute array as unchecked attributes; `None` for a NULL
/// array with a non-zero length.
#[inline(always)]
pub(crate) fn raw<'a>(attrs: *const fm_attribute, len: usize) -> Option<&'a [RawAttr]> {
    // SAFETY: the C contract: a non-NULL array points to `len` initialized
    // attributes that stay valid for the call; `RawAttr` is
    // `repr(transparent)` over `fm_attribute`.
    unsafe { slice(attrs.cast::<RawAttr>(), len) }
}

/// Why an attribute array is unusable.
pub(crate) struct BadAttrs(pub(crate) String);

#[inline]
fn check_bytes(ptr: *const c_char, len: usize) -> bool {
    if ptr.is_null() {
        return len == 0;
    }
    // SAFETY: the C contract: a non-NULL string points to `len` readable bytes.
    let b = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    // ASCII fast path: attribute keys and values usually are.
    b.is_ascii() || std::str::from_utf8(b).is_ok()
}

/// OR of all bytes, word at a time: < 0x80 means all ASCII.
#[inline(always)]
fn or_bytes(b: &[u8]) -> u8 {
    let mut acc = 0u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        acc |= u64::from_le_bytes(c.try_into().unwrap_or([0xff; 8]));
    }
    for &x in chunks.remainder() {
        acc |= x as u64;
    }
    let acc = acc | (acc >> 32);
    let acc = acc | (acc >> 16);
    (acc | (acc >> 8)) as u8
}

/// The hot path's check: every key non-NULL and non-empty, every tag known, every string
/// ASCII (the common case), every bool 0/1, with no error text built. When
/// it says no, [`validate_slow`] decides (non-ASCII UTF-8 is valid) and
/// explains.
#[inline]
fn all_ascii_valid(s: &[fm_attribute]) -> bool {
    let mut hi = 0u8;
    for a in s {
        if a.key.is_null() || a.key_len == 0 {
            return false;
        }
        // SAFETY: the C contract: a non-NULL key points to `key_len` bytes.
        hi |= or_bytes(unsafe { std::slice::from_raw_parts(a.key.cast::<u8>(), a.key_len) });
        match value_type(a.type_) {
            FM_VALUE_STRING => {
                // SAFETY: the tag says the `str` member is the one set.
                let v = unsafe { &a.value.str };
                if v.ptr.is_null() {
                    if v.len != 0 {
                        return false;
                    }
                } else {
                    // SAFETY: as for the key.
                    hi |=
                        or_bytes(unsafe { std::slice::from_raw_parts(v.ptr.cast::<u8>(), v.len) });
                }
            }
            FM_VALUE_I64 | FM_VALUE_F64 => {}
            FM_VALUE_BOOL => {
                // SAFETY: reading the member's byte as u8 is always defined.
                if unsafe { *(std::ptr::addr_of!(a.value) as *const u8) } > 1 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    hi < 0x80
}

/// Validates a caller's attribute array without copying it.
#[inline]
pub(crate) fn validate<'a>(
    attrs: *const fm_attribute,
    len: usize,
) -> Result<&'a [ValidAttr], BadAttrs> {
    if !attrs.is_null() {
        // SAFETY: the C contract: a non-NULL array points to `len`
        // initialized attributes that stay valid for the call.
        let s = unsafe { std::slice::from_raw_parts(attrs, len) };
        if all_ascii_valid(s) {
            // SAFETY: `ValidAttr` is `repr(transparent)` over `fm_attribute`
            // and every element passed the checks `validate_slow` makes.
            return Ok(unsafe {
                std::slice::from_raw_parts(s.as_ptr().cast::<ValidAttr>(), s.len())
            });
        }
    }
    validate_slow(attrs, len)
}

/// The full check, with an explanation of what is wrong.
#[cold]
#[inline(never)]
fn validate_slow<'a>(attrs: *const fm_attribute, len: usize) -> Result<&'a [ValidAttr], BadAttrs> {
    if attrs.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(BadAttrs(format!(
                "attribute array is NULL with length {len}"
            )))
        };
    }
    // SAFETY: the C contract: a non-NULL array points to `len` initialized
    // attributes that stay valid for the duration of the call.
    let s = unsafe { std::slice::from_raw_parts(attrs, len) };
    for (i, a) in s.iter().enumerate() {
        if a.key.is_null() {
            return Err(BadAttrs(format!("attribute {i}: key is NULL")));
        }
        if a.key_len == 0 {
            return Err(BadAttrs(format!("attribute {i}: key is empty")));
        }
        if !check_bytes(a.key, a.key_len) {
            return Err(BadAttrs(format!("attribute {i}: key is not valid UTF-8")));
        }
        match value_type(a.type_) {
            FM_VALUE_STRING => {
                // SAFETY: the tag says the `str` member is the one set.
                let v = unsafe { &a.value.str };
                if !check_bytes(v.ptr, v.len) {
                    return Err(BadAttrs(format!(
                        "attribute {i}: string value is NULL or not valid UTF-8"
                    )));
                }
            }
            FM_VALUE_I64 | FM_VALUE_F64 => {}
            FM_VALUE_BOOL => {
                // A C `bool` other than 0/1 would be UB to read as Rust bool.
                // SAFETY: reading the member's byte as u8 is always defined.
                let b = unsafe { *(std::ptr::addr_of!(a.value) as *const u8) };
                if b > 1 {
                    return Err(BadAttrs(format!("attribute {i}: bool value is not 0 or 1")));
                }
            }
            _ => {
                return Err(BadAttrs(format!(
                    "attribute {i}: unknown value type {}",
                    a.type_
                )))
            }
        }
    }
    // SAFETY: `ValidAttr` is `repr(transparent)` over `fm_attribute`, and
    // every element was validated above.
    Ok(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<ValidAttr>(), s.len()) })
}

/// Hot-path helper: runs `f` with the validated attributes, or counts the
/// measurement as rejected (`InvalidAttributes`) on `diag`.
#[inline]
pub(crate) fn with_attrs(
    attrs: *const fm_attribute,
    len: usize,
    diag: &Diag,
    name: &str,
    f: impl FnOnce(&[ValidAttr]),
) {
    match validate(attrs, len) {
        Ok(a) => f(a),
        Err(_) => diag.reject(Reason::InvalidAttributes, name),
    }
}

/// Fallible-call helper: validated attributes or `FM_STATUS_INVALID_ATTRIBUTES`.
pub(crate) fn attrs_arg<'a>(
    attrs: *const fm_attribute,
    len: usize,
) -> Result<&'a [ValidAttr], fm_status> {
    validate(attrs, len).map_err(|e| fail(fm_status::InvalidAttributes, e.0))
}

/// Copies validated attributes into an owned set.
pub(crate) fn to_set(a: &[ValidAttr]) -> AttributeSet {
    AttributeSet::from_attrs(a)
}

/// An immutable, canonical attribute set (sorted by key, deduplicated: the
/// last value given for a key wins). Created by `fm_attribute_set_new`
/// (owned: release with `fm_attribute_set_release`) or borrowed from a
/// snapshot (owned by the snapshot: never release those).
/// Thread safety: immutable; share freely between threads.
pub struct fm_attribute_set {
    _private: [u8; 0],
}

handle_types! {
    fm_attribute_set => AttributeSet;
}

/// Builds a prepared attribute set from `attrs[0..len]` (copied). Record
/// with it through the `_prepared` functions to skip validating and
/// copying attributes on every call.
///
/// Returns `FM_STATUS_INVALID_ATTRIBUTES` for a NULL or empty key, unknown
/// type or invalid UTF-8, `FM_STATUS_INVALID_ARGUMENT` when `out` is NULL.
/// Ownership: `*out` is owned by the caller; release with
/// `fm_attribute_set_release`. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn fm_attribute_set_new(
    attrs: *const fm_attribute,
    len: usize,
    out: *mut *mut fm_attribute_set,
) -> fm_status {
    ffi_status! {
        out_arg(out, "out")?;
        let a = attrs_arg(attrs, len)?;
        write_out(out, fm_attribute_set::into_raw(to_set(a)));
        Ok(())
    }
}

/// Releases a set made by `fm_attribute_set_new`. NULL is fine. Must not be
/// called twice, nor on a set borrowed from a snapshot.
#[no_mangle]
pub extern "C" fn fm_attribute_set_release(set: *mut fm_attribute_set) {
    ffi_boundary! {
        // SAFETY: the C contract: `set` is NULL or an owned set released once.
        unsafe { fm_attribute_set::free(set) }
    }
}

/// Number of attributes in the set (0 for NULL).
#[no_mangle]
pub extern "C" fn fm_attribute_set_len(set: *const fm_attribute_set) -> usize {
    ffi_boundary! {
        // SAFETY: `set` is NULL or a live set (C contract).
        unsafe { fm_attribute_set::get(set) }.map_or(0, |s| s.len())
    }
}

fn attr_view(key: &str, v: &Value) -> fm_attribute {
    let (type_, value) = match v {
        Value::Str(s) => (
            FM_VALUE_STRING,
            fm_value {
                str: fm_str::from_str(s),
            },
        ),
        Value::I64(i) => (FM_VALUE_I64, fm_value { i64: *i }),
        Value::F64(f) => (FM_VALUE_F64, fm_value { f64: *f }),
        Value::Bool(b) => (FM_VALUE_BOOL, fm_value { boolean: *b }),
    };
    let k = fm_str::from_str(key);
    fm_attribute {
        key: k.ptr,
        key_len: k.len,
        type_,
        value,
    }
}

/// Writes the attribute at `index` (sorted by key) to `*out`.
///
/// The strings in `*out` are borrowed from the set: valid while the set
/// (or the snapshot owning it) is alive. They are not NUL-terminated.
/// Returns `FM_STATUS_INVALID_ARGUMENT` for NULL arguments or an index out
/// of range.
#[no_mangle]
pub extern "C" fn fm_attribute_set_get(
    set: *const fm_attribute_set,
    index: usize,
    out: *mut fm_attribute,
) -> fm_status {
    ffi_status! {
        let s = arg(set, "set")?;
        out_arg(out, "out")?;
        let kv = s.as_slice().get(index).ok_or_else(|| {
            fail(fm_status::InvalidArgument, format_args!("index {index} out of range (len {})", s.len()))
        })?;
        write_out(out, attr_view(kv.key(), kv.value()));
        Ok(())
    }
}

/// Looks `key[0..key_len]` up; writes the attribute to `*out` and returns
/// true when present (strings borrowed as in `fm_attribute_set_get`).
/// Returns false (and writes nothing) when absent or on NULL arguments.
#[no_mangle]
pub extern "C" fn fm_attribute_set_find(
    set: *const fm_attribute_set,
    key: *const c_char,
    key_len: usize,
    out: *mut fm_attribute,
) -> bool {
    ffi_boundary! {
        let (Ok(s), Ok(k)) = (arg(set, "set"), super::handle::str_arg(key, key_len, "key")) else {
            return false;
        };
        if out.is_null() {
            return false;
        }
        match s.as_slice().binary_search_by(|kv| kv.key().cmp(k)) {
            Ok(i) => {
                let kv = &s.as_slice()[i];
                write_out(out, attr_view(kv.key(), kv.value()));
                true
            }
            Err(_) => false,
        }
    }
}

/// Records with a prepared set (NULL = no attributes).
pub(crate) fn prepared<'a>(set: *const fm_attribute_set) -> &'a [crate::KeyValue] {
    // SAFETY: `set` is NULL or a live set (C contract).
    match unsafe { fm_attribute_set::get(set) } {
        Some(s) => s.as_slice(),
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::hash_attrs;

    fn s(k: &'static str, v: &'static [u8]) -> fm_attribute {
        fm_attribute {
            key: k.as_ptr().cast(),
            key_len: k.len(),
            type_: FM_VALUE_STRING,
            value: fm_value {
                str: fm_str {
                    ptr: v.as_ptr().cast(),
                    len: v.len(),
                },
            },
        }
    }

    fn raw_of(a: &[fm_attribute]) -> &[RawAttr] {
        raw(a.as_ptr(), a.len()).unwrap()
    }

    #[test]
    fn raw_hash_equals_the_stored_sets_hash() {
        let mut i = s("i", b"");
        i.type_ = FM_VALUE_I64;
        i.value.i64 = -42;
        let mut f = s("f", b"");
        f.type_ = FM_VALUE_F64;
        f.value.f64 = 2.5;
        let mut b = s("b", b"");
        b.type_ = FM_VALUE_BOOL;
        b.value.boolean = true;
        let mut empty = s("e", b"");
        empty.value.str = fm_str {
            ptr: std::ptr::null(),
            len: 0,
        };
        let long = s(
            "long",
            b"a value longer than sixteen bytes, and longer than 32",
        );
        let attrs = [s("method", b"GET"), i, f, b, empty, long];
        let set = AttributeSet::from_attrs(validate(attrs.as_ptr(), attrs.len()).ok().unwrap());
        assert_eq!(hash_attrs(raw_of(&attrs)), set.hash_value());
        assert!(set.matches(raw_of(&attrs)));
        let mut rev = attrs;
        rev.reverse();
        assert!(set.matches(raw_of(&rev)));
    }

    #[test]
    fn raw_attributes_that_validation_refuses_never_equal_a_stored_one() {
        let good = [s("k", b"v")];
        let set = AttributeSet::from_attrs(validate(good.as_ptr(), 1).ok().unwrap());
        let mut null_key = s("k", b"v");
        null_key.key = std::ptr::null();
        let mut null_value = s("k", b"v");
        null_value.value.str.ptr = std::ptr::null();
        let mut bad_tag = s("k", b"v");
        bad_tag.type_ = 9;
        for a in [null_key, null_value, bad_tag] {
            assert!(!set.matches(raw_of(&[a])));
            assert!(validate(&a, 1).is_err());
        }
        // Invalid UTF-8 never equals valid stored bytes.
        let bad_utf8 = [s("k", b"\xff")];
        assert!(!set.matches(raw_of(&bad_utf8)));
        // A bool byte other than 0/1 equals neither stored bool.
        for stored in [false, true] {
            let mut b = s("b", b"");
            b.type_ = FM_VALUE_BOOL;
            b.value.boolean = stored;
            let set = AttributeSet::from_attrs(validate(&b, 1).ok().unwrap());
            let mut two = b;
            // SAFETY: writing the byte of the bool member as u8.
            unsafe { *(std::ptr::addr_of_mut!(two.value) as *mut u8) = 2 };
            assert!(!set.matches(raw_of(&[two])));
            assert!(set.matches(raw_of(&[b])));
        }
        assert!(raw(std::ptr::null(), 1).is_none());
        assert!(raw(std::ptr::null(), 0).is_some_and(|r| r.is_empty()));
    }

    #[test]
    fn memo_key_follows_pointers_position_and_scalars() {
        let a = [s("method", b"GET"), s("route", b"/items")];
        let k = memo_key(raw_of(&a));
        assert_ne!(k, 0);
        // The same pointers give the same key; the content is not read.
        assert_eq!(memo_key(raw_of(&[a[0], a[1]])), k);
        // Position matters: a reordered array is another call site.
        assert_ne!(memo_key(raw_of(&[a[1], a[0]])), k);
        // Another value pointer with equal bytes is another key.
        let copy = b"GET".to_vec();
        let mut moved = a;
        moved[0].value.str.ptr = copy.as_ptr().cast();
        assert_ne!(memo_key(raw_of(&moved)), k);
        // Scalars enter by value.
        let mut i = s("n", b"");
        i.type_ = FM_VALUE_I64;
        let keys: std::collections::HashSet<u64> = (0..1000)
            .map(|n| {
                i.value.i64 = n;
                memo_key(raw_of(&[i]))
            })
            .collect();
        assert_eq!(keys.len(), 1000);
        assert_eq!(memo_key(&[]), 1);
    }

    /// The static fast path compares pointer and length words; each way
    /// it can be wrong must fall back to, or agree with, the bytes.
    #[test]
    fn static_word_compare_agrees_with_the_bytes() {
        let flagged = |mut a: fm_attribute| {
            a.type_ |= FM_VALUE_STATIC;
            a
        };
        let stat = flagged(s("status", b"200 OK"));
        let stored_static = AttributeSet::from_attrs(validate(&stat, 1).ok().unwrap());
        let stored_copy =
            AttributeSet::from_attrs(validate(&s("status", b"200 OK"), 1).ok().unwrap());
        for set in [&stored_static, &stored_copy] {
            // Same literals, flagged or not: equal.
            assert!(set.matches(raw_of(&[stat])));
            assert!(set.matches(raw_of(&[s("status", b"200 OK")])));
            // The same pointers with a shorter length are another string
            // (a prefix), for the key and for the value.
            let mut short_key = stat;
            short_key.key_len = 4;
            assert!(!set.matches(raw_of(&[short_key])));
            let mut short_value = stat;
            short_value.value.str.len = 3;
            assert!(!set.matches(raw_of(&[short_value])));
            // Equal bytes elsewhere, flagged: equal (through the bytes).
            let key = b"status".to_vec();
            let value = b"200 OK".to_vec();
            let mut moved = stat;
            moved.key = key.as_ptr().cast();
            moved.value.str.ptr = value.as_ptr().cast();
            assert!(set.matches(raw_of(&[moved])));
            // Other bytes at another address: not equal.
            let other = b"404 NF".to_vec();
            moved.value.str.ptr = other.as_ptr().cast();
            assert!(!set.matches(raw_of(&[moved])));
            // A flagged NULL key or value never equals a stored one.
            let mut null_key = stat;
            null_key.key = std::ptr::null();
            assert!(!set.matches(raw_of(&[null_key])));
            let mut null_value = stat;
            null_value.value.str.ptr = std::ptr::null();
            assert!(!set.matches(raw_of(&[null_value])));
        }
        // A stored value of another type never equals a string, even with
        // the key's words equal.
        let mut n = flagged(s("status", b""));
        n.type_ = FM_VALUE_I64 | FM_VALUE_STATIC;
        n.value.i64 = 200;
        let stored_int = AttributeSet::from_attrs(validate(&n, 1).ok().unwrap());
        assert!(stored_int.matches(raw_of(&[n])));
        assert!(!stored_int.matches(raw_of(&[stat])));
        assert!(!stored_static.matches(raw_of(&[n])));
    }

    #[test]
    fn static_strings_are_kept_by_pointer_and_matched_by_address() {
        let mut a = [s("method", b"GET"), s("n", b"")];
        a[0].type_ |= FM_VALUE_STATIC;
        a[1].type_ = FM_VALUE_I64 | FM_VALUE_STATIC;
        a[1].value.i64 = 7;
        let set = AttributeSet::from_attrs(validate(a.as_ptr(), 2).ok().unwrap());
        let kv = set.iter().find(|kv| kv.key() == "method").unwrap();
        assert_eq!(kv.key().as_ptr(), a[0].key.cast::<u8>());
        match kv.value() {
            Value::Str(v) => assert_eq!(v.as_ptr(), b"GET".as_ptr()),
            v => panic!("{v:?}"),
        }
        assert_eq!(set.get("n"), Some(&Value::I64(7)));
        // Without the flag the strings are copied.
        let plain = [s("method", b"GET")];
        let copied = AttributeSet::from_attrs(validate(plain.as_ptr(), 1).ok().unwrap());
        assert_ne!(
            copied.as_slice()[0].key().as_ptr(),
            plain[0].key.cast::<u8>()
        );
        // The flag changes neither the hash nor what matches.
        let mut unflagged = a;
        unflagged[0].type_ = FM_VALUE_STRING;
        unflagged[1].type_ = FM_VALUE_I64;
        assert_eq!(hash_attrs(raw_of(&a)), set.hash_value());
        assert_eq!(hash_attrs(raw_of(&unflagged)), set.hash_value());
        assert!(set.matches(raw_of(&a)));
        assert!(set.matches(raw_of(&unflagged)));
        let elsewhere = b"GET".to_vec();
        let mut moved = a;
        moved[0].value.str.ptr = elsewhere.as_ptr().cast();
        assert!(set.matches(raw_of(&moved)));
        moved[0].value.str.len = 2;
        assert!(!set.matches(raw_of(&moved)));
        // The flag does not make an unknown tag valid.
        let mut bad = s("k", b"v");
        bad.type_ = 9 | FM_VALUE_STATIC;
        assert!(!set.matches(raw_of(&[bad])));
        match validate(&bad, 1) {
            Err(e) => assert!(e.0.contains("unknown value type 265"), "{}", e.0),
            Ok(_) => panic!("accepted an unknown tag"),
        }
    }
}
