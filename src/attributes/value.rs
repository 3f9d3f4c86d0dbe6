//! Attribute values: the owned [`Value`] and the borrowed [`ValueRef`]
//! that lookups compare without allocating.

use super::eq::str_eq;
use super::Str;
use std::borrow::Cow;
use std::fmt;

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
