//! [`Str`]: the string type of attribute keys and values.
//!
//! Two words: a pointer and a length whose top bit says whether the bytes
//! are owned (a leaked `Box<str>` freed on drop) or a `&'static str`.
//! Dereferencing is branch-free, which matters on the recording path where
//! every attribute's key and value are read for hashing and comparison
//! (`Cow<'static, str>` needs a discriminant decode on each access and is
//! 24 bytes).

use std::borrow::Cow;
use std::fmt;
use std::ptr::NonNull;

const OWNED: usize = 1 << (usize::BITS - 1);

/// An immutable UTF-8 string: borrowed `'static` or owned.
pub struct Str {
    ptr: NonNull<u8>,
    /// Byte length; the top bit marks an owned allocation.
    len: usize,
}

// SAFETY: `Str` is an immutable string; the owned case is uniquely owned.
unsafe impl Send for Str {}
// SAFETY: shared access only reads.
unsafe impl Sync for Str {}

impl Str {
    /// A borrowed static string (no allocation).
    #[inline]
    pub const fn from_static(s: &'static str) -> Self {
        Str {
            // SAFETY: a str's pointer is never null.
            ptr: unsafe { NonNull::new_unchecked(s.as_ptr() as *mut u8) },
            len: s.len(),
        }
    }

    /// Takes ownership of a string.
    pub fn from_string(s: String) -> Self {
        let b: Box<str> = s.into_boxed_str();
        let len = b.len();
        let raw = Box::into_raw(b) as *mut u8;
        Str {
            // SAFETY: Box pointers are non-null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
            len: len | OWNED,
        }
    }

    /// The string.
    #[inline(always)]
    pub fn as_str(&self) -> &str {
        // SAFETY: ptr/len always describe valid UTF-8 that lives at least as
        // long as `self` (static, or owned by `self`).
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                self.ptr.as_ptr(),
                self.len & !OWNED,
            ))
        }
    }

    /// Equality that first compares the representation (same pointer and
    /// length: equal without reading bytes).
    #[inline(always)]
    pub(crate) fn same_or_eq(&self, other: &Str) -> bool {
        let (a, b) = (self.len & !OWNED, other.len & !OWNED);
        a == b && (self.ptr == other.ptr || self.as_str().as_bytes() == other.as_str().as_bytes())
    }

    /// Whether the bytes are a `&'static str` (not owned).
    #[inline]
    pub fn is_static(&self) -> bool {
        self.len & OWNED == 0
    }
}

impl Drop for Str {
    fn drop(&mut self) {
        if self.len & OWNED != 0 {
            let len = self.len & !OWNED;
            // SAFETY: owned strings come from `Box<str>::into_raw` with this
            // pointer and length, and are freed exactly once, here.
            drop(unsafe {
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), len) as *mut str)
            });
        }
    }
}

impl Clone for Str {
    fn clone(&self) -> Self {
        if self.is_static() {
            Str {
                ptr: self.ptr,
                len: self.len,
            }
        } else {
            Str::from_string(self.as_str().to_owned())
        }
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    #[inline(always)]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::from_static(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str::from_string(s)
    }
}

impl From<Cow<'static, str>> for Str {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(b) => Str::from_static(b),
            Cow::Owned(o) => Str::from_string(o),
        }
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        super::str_eq(self, other)
    }
}
impl Eq for Str {}
impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}
impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_owned() {
        let a = Str::from("hello");
        assert!(a.is_static());
        let b = Str::from(String::from("hello"));
        assert!(!b.is_static());
        assert_eq!(a, b);
        assert_eq!(&*b, "hello");
        let c = b.clone();
        drop(b);
        assert_eq!(c, "hello");
        assert_eq!(Str::from(String::new()), "");
        assert_eq!(std::mem::size_of::<Str>(), 16);
        let (a, b) = (Str::from("a"), Str::from("b"));
        assert!(a < b);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Less);
    }
}
