//! Attribute hashing: one hash per key/value pair, and the order
//! independent hash of a set (the wrapping sum of its pair hashes, so a
//! caller's unsorted slice hashes to the set's value without sorting or
//! allocating).

use super::attr::Probe;
#[cfg(doc)]
use super::AttributeSet;
use super::ValueRef;
use std::hash::BuildHasher;

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
pub(super) fn hash_pair(key: &str, value: ValueRef<'_>) -> u64 {
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
