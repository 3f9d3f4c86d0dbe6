//! Attributes: owned [`KeyValue`]s, borrowed views for lookups, and the
//! canonical [`AttributeSet`] (sorted by key, deduplicated, hashed once).
//!
//! The hash of a set is order independent: it is the wrapping sum of one
//! hash per key/value pair, so a caller's unsorted slice hashes to the same
//! value as the sorted set without sorting or allocating.
//!
//! One concept per file:
//!
//! | file           | holds                                                        |
//! |----------------|--------------------------------------------------------------|
//! | `str.rs`       | [`Str`], the string of keys and values (static or shared)    |
//! | `value.rs`     | [`Value`] and its borrowed view [`ValueRef`]                 |
//! | `key_value.rs` | [`KeyValue`], an owned pair with its hash computed once      |
//! | `attr.rs`      | what lookups read from a caller: [`Probe`], [`Attr`], [`AttrRef`], `Unchecked` |
//! | `eq.rs`        | string equality with the recording path's fast paths         |
//! | `hash.rs`      | pair hashes and [`hash_attrs`], the set hash                 |
//! | `set.rs`       | [`AttributeSet`]: construction, layout, reference count      |
//! | `matching.rs`  | [`AttributeSet::matches`]: a caller's slice against a set    |
//! | `memo.rs`      | `HashMemo`, the per-thread memo of content hashes            |
//!
//! Everything is used through this module's paths (`crate::attributes::X`).

mod attr;
mod eq;
mod hash;
mod key_value;
mod matching;
mod memo;
// One allocation per set (and series), counted by hand.
#[allow(unsafe_code)]
mod set;
// Two-word strings: a static pointer or a shared `Arc<str>` taken apart.
#[allow(unsafe_code)]
mod str;
mod value;

pub(crate) use self::attr::{
    attr_eq_stored, attr_pair_hash, copied_key_value, keys_valid, probe_via_attr, Unchecked,
};
pub use self::attr::{Attr, AttrRef, Probe};
pub(crate) use self::eq::{bytes_eq, same_or_bytes_eq, str_eq};
pub use self::hash::hash_attrs;
pub(crate) use self::hash::{
    combine_pair, hash_int_value, hash_str_value, HASH_TAG_BOOL, HASH_TAG_F64, HASH_TAG_I64,
};
pub use self::key_value::{Key, KeyValue};
pub(crate) use self::memo::HashMemo;
pub use self::set::AttributeSet;
pub use self::str::Str;
pub use self::value::{Value, ValueRef};
