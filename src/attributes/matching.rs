//! Whether a caller's attribute slice denotes a stored set, allocating
//! nothing: in place for a sorted caller, through a remembered order (a
//! hint per series) for a caller that passes its attributes unsorted, by
//! pair hash otherwise.

use super::attr::Probe;
use super::{AttributeSet, KeyValue};
use crate::sync::{AtomicU16, Ordering};

/// Bits per position in an order hint, and the longest set it covers.
const PERM_BITS: u32 = 3;
const PERM_MASK: u16 = (1 << PERM_BITS) - 1;
const PERM_MAX: usize = 5;

impl AttributeSet {
    /// True when the caller's (possibly unsorted) slice denotes exactly this
    /// set. A slice with duplicate keys never matches (it takes the slow path,
    /// which canonicalizes it). Allocates nothing.
    #[inline]
    pub fn matches<A: Probe>(&self, attrs: &[A]) -> bool {
        self.matches_hinted(attrs, None)
    }

    /// [`matches`](Self::matches) with a remembered order: `hint` holds
    /// where each caller position was found last time (a call site passes
    /// its attributes in the same order every call), so an unsorted slice
    /// is checked in one pass, like a sorted one, instead of searched. The
    /// hint starts as the identity ([`AttributeSet::identity_order`]) and is
    /// only a guess, verified pair by pair; a wrong one costs a search,
    /// after which it is updated. Sets of more than five attributes have no
    /// hint.
    #[inline(always)]
    pub(crate) fn matches_hinted<A: Probe>(&self, attrs: &[A], hint: Option<&AtomicU16>) -> bool {
        let mine = self.as_slice();
        let n = mine.len();
        if n != attrs.len() {
            return false;
        }
        // Common case: the caller passes attributes sorted.
        let mut i = 0;
        while i < n {
            if !attrs[i].eq_stored(&mine[i]) {
                return match hint {
                    Some(h) if n <= PERM_MAX => self.matches_in_order(mine, attrs, h),
                    _ => self.matches_unordered(attrs, i, None),
                };
            }
            i += 1;
        }
        true
    }

    /// The unsorted caller's path: check the remembered order in one pass.
    #[inline(never)]
    fn matches_in_order<A: Probe>(&self, mine: &[KeyValue], attrs: &[A], hint: &AtomicU16) -> bool {
        let mut perm = hint.load(Ordering::Relaxed);
        // Which stored pairs were used: checked once at the end, it makes a
        // hint that is not a permutation (which no code stores) cost a
        // search instead of a wrong answer.
        let mut seen = 0u32;
        for a in attrs {
            let j = (perm & PERM_MASK) as usize;
            perm >>= PERM_BITS;
            seen |= 1 << j;
            match mine.get(j) {
                Some(m) if a.eq_stored(m) => {}
                _ => return self.matches_unordered(attrs, 0, Some(hint)),
            }
        }
        seen == (1 << mine.len()) - 1 || self.matches_unordered(attrs, 0, Some(hint))
    }

    /// The order hint of a set whose callers pass it sorted.
    pub(crate) fn identity_order(&self) -> u16 {
        (0..self.len().min(PERM_MAX)).fold(0, |p, i| p | (i as u16) << (PERM_BITS * i as u32))
    }

    /// `matches` for a caller whose attributes `..first_mismatch` matched in
    /// place and the rest did not: find each remaining one by its pair hash
    /// and check that every stored pair was used once; remember the order
    /// found in `hint`.
    #[inline(never)]
    fn matches_unordered<A: Probe>(
        &self,
        attrs: &[A],
        first_mismatch: usize,
        hint: Option<&AtomicU16>,
    ) -> bool {
        let mine = self.as_slice();
        let n = mine.len();
        if n > 64 {
            return false;
        }
        // A caller pair matching a stored pair already used (duplicate keys)
        // leaves another stored pair unused: the final count catches it.
        let mut seen: u64 = (1u64 << first_mismatch) - 1;
        let mut perm: u16 = 0;
        for i in 0..first_mismatch.min(PERM_MAX) {
            perm |= (i as u16) << (PERM_BITS * i as u32);
        }
        for (i, a) in attrs.iter().enumerate().skip(first_mismatch) {
            let h = a.cached_hash().unwrap_or_else(|| a.pair_hash());
            let mut j = first_mismatch;
            while j < n && !(mine[j].hash == h && a.eq_stored(&mine[j])) {
                j += 1;
            }
            if j == n {
                return false;
            }
            seen |= 1 << j;
            if i < PERM_MAX {
                perm |= (j as u16) << (PERM_BITS * i as u32);
            }
        }
        // All n stored pairs used by n caller pairs: `perm` is a permutation.
        let ok = seen.count_ones() as usize == n;
        if let (true, Some(h)) = (ok && n <= PERM_MAX, hint) {
            h.store(perm, Ordering::Relaxed);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{hash_attrs, Value};

    fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
        KeyValue::new(k, v)
    }

    #[test]
    fn values_of_different_type_differ() {
        let s = AttributeSet::from_attrs(&[kv("k", "1")]);
        assert!(!s.matches(&[kv("k", 1i64)]));
        assert!(!s.matches(&[kv("k", true)]));
        assert_ne!(hash_attrs(&[kv("k", "1")]), hash_attrs(&[kv("k", 1i64)]));
    }

    #[test]
    fn float_values_compare_by_bits() {
        let s = AttributeSet::from_attrs(&[kv("f", f64::NAN)]);
        assert!(s.matches(&[kv("f", f64::NAN)]));
        assert!(!s.matches(&[kv("f", 0.0)]));
        let z = AttributeSet::from_attrs(&[kv("f", 0.0)]);
        assert!(!z.matches(&[kv("f", -0.0)]));
    }

    #[test]
    fn order_hint_learns_the_callers_order_and_is_verified() {
        let set = AttributeSet::from_attrs(&[kv("a", 1i64), kv("b", "x"), kv("c", true)]);
        let hint = AtomicU16::new(set.identity_order());
        let sorted = [kv("a", 1i64), kv("b", "x"), kv("c", true)];
        let cab = [kv("c", true), kv("a", 1i64), kv("b", "x")];
        let bca = [kv("b", "x"), kv("c", true), kv("a", 1i64)];
        assert!(set.matches_hinted(&sorted, Some(&hint)));
        assert_eq!(hint.load(Ordering::Relaxed), set.identity_order());
        // First unsorted call searches and remembers: c->2, a->0, b->1.
        assert!(set.matches_hinted(&cab, Some(&hint)));
        let learned = hint.load(Ordering::Relaxed);
        assert_eq!(learned, 2 | (1 << 6));
        assert!(set.matches_hinted(&cab, Some(&hint)));
        // Another order still matches (and is learned); sorted callers do
        // not need the hint.
        assert!(set.matches_hinted(&bca, Some(&hint)));
        assert_ne!(hint.load(Ordering::Relaxed), learned);
        assert!(set.matches_hinted(&sorted, Some(&hint)));
        // A wrong value in a remembered position is a mismatch, never a
        // match, and duplicates never match.
        assert!(!set.matches_hinted(&[kv("c", false), kv("a", 1i64), kv("b", "x")], Some(&hint)));
        assert!(!set.matches_hinted(&[kv("b", "x"), kv("b", "x"), kv("a", 1i64)], Some(&hint)));
        // A hint that is not a permutation costs a search, never a wrong
        // answer (0,0,2 would pair both `a`s with the stored `a`).
        for bad in [0u16, 0x7fff, 1 | (1 << 3) | (1 << 6), 2 << 6] {
            hint.store(bad, Ordering::Relaxed);
            assert!(set.matches_hinted(&cab, Some(&hint)));
            hint.store(bad, Ordering::Relaxed);
            assert!(
                !set.matches_hinted(&[kv("a", 1i64), kv("a", 1i64), kv("c", true)], Some(&hint))
            );
        }
    }

    #[test]
    fn sets_over_five_attributes_match_unsorted_without_a_hint() {
        let attrs: Vec<KeyValue> = (0..7i64)
            .map(|i| KeyValue::new(format!("k{i}"), i))
            .collect();
        let set = AttributeSet::from_attrs(&attrs);
        let mut rev = attrs.clone();
        rev.reverse();
        let hint = AtomicU16::new(set.identity_order());
        assert!(set.matches_hinted(&rev, Some(&hint)));
        assert!(set.matches_hinted(&attrs, Some(&hint)));
        rev[0] = KeyValue::new("k6", 7i64);
        assert!(!set.matches_hinted(&rev, Some(&hint)));
    }
}
