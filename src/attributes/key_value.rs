//! The owned attribute, [`KeyValue`]: key, value and the pair's hash,
//! computed once.

use super::attr::{Attr, Probe};
use super::hash::hash_pair;
use super::{Str, Value, ValueRef};

/// An attribute key.
pub type Key = Str;

/// An owned attribute: key and value, with the pair's hash computed once at
/// construction so that recording with a prepared slice of `KeyValue`s does
/// not rehash the strings on every call.
#[derive(Clone, Debug)]
pub struct KeyValue {
    pub(super) key: Key,
    pub(super) value: Value,
    pub(super) hash: u64,
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
