//! What the recording path reads from a caller's attributes: the
//! [`Probe`] a lookup needs, the [`Attr`] a new series copies, the
//! [`Unchecked`] attributes of the C ABI, and the borrowed [`AttrRef`].

use super::eq::str_eq;
use super::hash::hash_pair;
#[cfg(doc)]
use super::{hash_attrs, HashMemo};
use super::{KeyValue, Str, ValueRef};

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
