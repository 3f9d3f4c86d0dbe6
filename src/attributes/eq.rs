//! Equality of attribute strings, with the fast paths the recording path
//! relies on: the same memory accepted without reading it, short strings
//! compared with a few word loads.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
