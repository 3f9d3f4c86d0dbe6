//! The per-thread memo of attribute content hashes.

#[cfg(doc)]
use super::Unchecked;

/// Per-thread memo of content hashes, keyed by [`Unchecked::memo_key`]: a
/// call site passes the same string literals on every call, so their bytes
/// are hashed once per thread instead of once per call. Entries are only
/// hints: the lookup compares every attribute with the series it finds, so
/// a key collision, a torn entry or a buffer whose content changed under
/// the same pointers costs one hash computation, never a wrong series.
///
/// A thread whose strings move (built per call) would pay for the key and
/// the miss on every call, so two misses fewer than
/// [`MEMO_MISS_SPACING`] calls apart turn the memo off for [`MEMO_PAUSE`]
/// calls. Calls are counted by the caller (the thread's pin count), so a
/// hit costs no bookkeeping.
///
/// Owned by one thread (see `context::ThreadSlot`); relaxed
/// atomics only so that the owner can be shared.
pub(crate) struct HashMemo {
    /// Entries: a key and its hash.
    entries: [[std::sync::atomic::AtomicU64; 2]; MEMO_ENTRIES],
    /// The call count at the last miss.
    last_miss: std::sync::atomic::AtomicU64,
    /// The memo is off until the call count reaches this.
    resume_at: std::sync::atomic::AtomicU64,
}

/// Entries of a [`HashMemo`].
const MEMO_ENTRIES: usize = 64; // a power of two
/// Two misses closer than this many calls pause the memo (a miss rate
/// above one in eight).
const MEMO_MISS_SPACING: u64 = 8;
/// Calls without the memo once paused.
const MEMO_PAUSE: u64 = 256;

impl Default for HashMemo {
    fn default() -> Self {
        use std::sync::atomic::AtomicU64;
        HashMemo {
            entries: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
            // Far from any call count: the first miss alone never pauses.
            last_miss: AtomicU64::new(u64::MAX / 2),
            resume_at: AtomicU64::new(0),
        }
    }
}

impl HashMemo {
    /// The entry for `key`: its top bits (the key's best mixed ones).
    #[inline(always)]
    fn entry(&self, key: u64) -> &[std::sync::atomic::AtomicU64; 2] {
        const SHIFT: u32 = u64::BITS - MEMO_ENTRIES.trailing_zeros();
        &self.entries[(key >> SHIFT) as usize % MEMO_ENTRIES]
    }

    /// Whether to use the memo for call number `now` (false while paused).
    #[inline(always)]
    pub(crate) fn active(&self, now: u64) -> bool {
        now >= self.resume_at.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The hash remembered under `key`. Keys are never 0 (the empty
    /// entry): [`Unchecked::memo_key`] implementations set a bit.
    #[inline(always)]
    pub(crate) fn recall(&self, key: u64) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let [k, h] = self.entry(key);
        (k.load(Relaxed) == key).then(|| h.load(Relaxed))
    }

    /// Remembers `hash` under `key` after a miss (no entry, or an entry
    /// whose hash found no series) at call number `now`; pauses the memo
    /// when the previous miss was less than [`MEMO_MISS_SPACING`] calls ago.
    #[inline]
    pub(crate) fn miss(&self, key: u64, hash: u64, now: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let [k, h] = self.entry(key);
        k.store(key, Relaxed);
        h.store(hash, Relaxed);
        if now.wrapping_sub(self.last_miss.load(Relaxed)) < MEMO_MISS_SPACING {
            self.resume_at.store(now + MEMO_PAUSE, Relaxed);
        }
        self.last_miss.store(now, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_memo_remembers_and_pauses_when_misses_come_close() {
        let memo = HashMemo::default();
        let (k1, k3, k5) = (
            0x8000_0000_0000_0001,
            0x8000_0000_0000_0003,
            0x8000_0000_0000_0005,
        );
        assert!(memo.active(0));
        assert_eq!(memo.recall(k1), None);
        // A first miss alone does not pause.
        memo.miss(k1, 42, 10);
        assert!(memo.active(11));
        assert_eq!(memo.recall(k1), Some(42));
        // Another key in the same entry replaces it.
        assert_eq!(memo.recall(k3), None);
        // Misses at least MEMO_MISS_SPACING calls apart do not pause.
        memo.miss(k3, 7, 10 + MEMO_MISS_SPACING);
        assert!(memo.active(11 + MEMO_MISS_SPACING));
        assert_eq!(memo.recall(k3), Some(7));
        assert_eq!(memo.recall(k1), None);
        // A closer one pauses the memo for MEMO_PAUSE calls.
        let now = 10 + 2 * MEMO_MISS_SPACING - 1;
        memo.miss(k5, 9, now);
        for c in now..now + MEMO_PAUSE {
            assert!(!memo.active(c));
        }
        assert!(memo.active(now + MEMO_PAUSE));
        assert_eq!(memo.recall(k5), Some(9));
    }
}
