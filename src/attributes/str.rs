//! [`Str`]: the string type of attribute keys and values.
//!
//! Two words: a pointer and a length whose top bit says whether the bytes
//! are shared-owned (the data of an `Arc<str>`, released on drop) or a
//! `&'static str`. Cloning an owned `Str` shares the bytes, so a series'
//! copy of a prepared attribute keeps the caller's pointer and lookups
//! compare by pointer.
//! Dereferencing is branch-free, which matters on the recording path where
//! every attribute's key and value are read for hashing and comparison
//! (`Cow<'static, str>` needs a discriminant decode on each access and is
//! 24 bytes).

use std::borrow::Cow;
use std::fmt;
use std::ptr::NonNull;

const OWNED: usize = 1 << (usize::BITS - 1);

/// An immutable UTF-8 string: borrowed `'static` or owned.
#[repr(C)]
pub struct Str {
    ptr: NonNull<u8>,
    /// Byte length; the top bit marks an owned allocation.
    len: usize,
}

// SAFETY: `Str` is an immutable string; the owned case is an `Arc<str>`.
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
        Self::from_arc(std::sync::Arc::from(s))
    }

    fn from_arc(a: std::sync::Arc<str>) -> Self {
        let len = a.len();
        let raw = std::sync::Arc::into_raw(a) as *const u8 as *mut u8;
        Str {
            // SAFETY: Arc data pointers are non-null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
            len: len | OWNED,
        }
    }

    /// The `Arc<str>` data pointer of an owned string.
    fn arc_ptr(&self) -> *const str {
        std::ptr::slice_from_raw_parts(self.ptr.as_ptr() as *const u8, self.len & !OWNED)
            as *const str
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
        super::same_or_bytes_eq(self.as_bytes(), other.as_bytes())
    }

    /// Whether this is a static string whose pointer and length words
    /// equal `words` (a caller's pointer then length, as laid out in C):
    /// one 16-byte compare, no string byte read. An owned string's length
    /// word carries its flag, so it is never equal.
    #[inline(always)]
    pub(crate) fn is_static_at(&self, words: &[u8; 16]) -> bool {
        // SAFETY: `Str` is `repr(C)`: pointer then length, 16 bytes, no
        // padding, all initialized.
        let mine = unsafe { &*(self as *const Str).cast::<[u8; 16]>() };
        mine == words
    }

    /// The same representation (pointer and length words, the owned flag
    /// included): then the same bytes, equal without reading them.
    #[inline(always)]
    pub(crate) fn same_repr(&self, other: &Str) -> bool {
        self.ptr == other.ptr && self.len == other.len
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
            // SAFETY: owned strings hold one strong reference of the
            // `Arc<str>` whose data pointer and length they store.
            drop(unsafe { std::sync::Arc::from_raw(self.arc_ptr()) });
        }
    }
}

impl Clone for Str {
    fn clone(&self) -> Self {
        if !self.is_static() {
            // SAFETY: as in `drop`: the Arc is alive while `self` is.
            unsafe { std::sync::Arc::increment_strong_count(self.arc_ptr()) };
        }
        Str {
            ptr: self.ptr,
            len: self.len,
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
        assert_eq!(c.as_ptr(), b.as_ptr(), "owned clones share bytes");
        drop(b);
        assert_eq!(c, "hello");
        assert_eq!(Str::from(String::new()), "");
        assert_eq!(std::mem::size_of::<Str>(), 16);
        let (a, b) = (Str::from("a"), Str::from("b"));
        assert!(a < b);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Less);
    }
}
