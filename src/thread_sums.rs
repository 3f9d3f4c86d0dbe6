//! Per-thread sums: where a counter's attribute-less series takes its
//! adds without an atomic read-modify-write.
//!
//! Game and server code is full of attribute-less counters (ticks,
//! frames, packets) added to from a few hot threads. An add to a shared
//! word is a locked instruction (a compare-and-swap or `fetch_add`: 6-8 ns
//! on the VMs we measure on, however uncontended). Here each thread owns a
//! *block* of cells, and a series that has a *key* keeps its per-thread
//! part in cell `key` of every block: the owning thread adds with a plain
//! load and store (one writer per cell, so no update is lost), and the
//! collector reads the series as its own word plus the sum of its cell in
//! every block. Cells only grow (modulo 2^64 for up-down counters), so
//! each reading is no smaller than the previous one, and a delta reader
//! subtracts cumulative readings as for any sum.
//!
//! - **Blocks** are taken with the thread's recording context (its first
//!   recording, see `context`), where the thread allocates anyway, and
//!   never freed: a thread that ends hands its block back to a free list
//!   (its values stay, and keep counting for their series), and the next
//!   new thread takes it over. At most [`MAX_BLOCKS`] exist: a thread
//!   that finds none free and the limit reached adds to the shared word.
//! - **Keys** (one per count: an explicit histogram's series takes one per
//!   bucket, consecutive) are handed out to series when they are made, as
//!   long as more than [`RESERVED_FOR_HOT`] keys are free, and to the
//!   series recording reaches without a lookup (the attribute-less series
//!   a map anchors, a bound series) as long as any is. A key is given
//!   back when its series' cell drops, which is after the last add to it:
//!   the cell's value in every block is then reset to 0 before the key
//!   serves another series. At most [`KEYS`] keys are held at a time;
//!   series without keys use their shared words.
//! - **Ownership** moves only under the registry's lock (a thread's exit
//!   gives its block back, a new thread takes it), so the new owner's
//!   first load sees the old owner's last store.
//!
//! A recording from a signal handler that interrupts the same thread's
//! add to the same series between its load and its store would be lost:
//! recording is not async-signal-safe (a new series allocates) and this
//! adds one more reason.

use crate::sync::{
    lock_model_checked, AtomicPtr, AtomicU64, AtomicUsize, ModelCheckedMutex, Ordering,
};

/// Cells per block: how many series hold a key at once.
#[cfg(not(loom))]
pub(crate) const KEYS: usize = 1024;
#[cfg(loom)]
pub(crate) const KEYS: usize = 2;

/// Keys a new series leaves for anchored and bound series.
#[cfg(not(loom))]
pub(crate) const RESERVED_FOR_HOT: usize = 128;
#[cfg(loom)]
pub(crate) const RESERVED_FOR_HOT: usize = 0;

/// Blocks at most (threads adding to keyed series at once).
#[cfg(not(loom))]
pub(crate) const MAX_BLOCKS: usize = 4096;
#[cfg(loom)]
pub(crate) const MAX_BLOCKS: usize = 2;

/// The largest value one cell of a monotonic u64 sum holds: all blocks
/// together hold at most 2^62, which the series' own word leaves room for
/// while it is small (`SumU64`'s keyed limit rules). A thread whose cell
/// is full adds to the shared word, which refuses what it cannot hold.
pub(crate) const CELL_LIMIT: u64 = (1u64 << 62) / MAX_BLOCKS as u64;

/// One thread's cells, one per key.
pub(crate) struct Block {
    cells: [AtomicU64; KEYS],
    /// Its position in the registry.
    index: usize,
}

impl Block {
    /// The cell of `key` (`< KEYS`).
    #[inline(always)]
    pub(crate) fn cell(&self, key: usize) -> &AtomicU64 {
        &self.cells[key]
    }
}

/// The blocks and the keys.
pub(crate) struct Registry {
    /// `count` published blocks (pointers written once, before `count`).
    blocks: Box<[AtomicPtr<Block>]>,
    count: AtomicUsize,
    /// Keys not held (a hint read without the lock).
    free_keys: AtomicUsize,
    pool: ModelCheckedMutex<Pool>,
}

#[derive(Default)]
struct Pool {
    free_blocks: Vec<usize>,
    /// Runs of free keys below `next_key` (start, length), sorted and
    /// merged.
    free_keys: Vec<(usize, usize)>,
    next_key: usize,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            blocks: (0..MAX_BLOCKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            count: AtomicUsize::new(0),
            free_keys: AtomicUsize::new(KEYS),
            pool: ModelCheckedMutex::new(Pool::default()),
        }
    }

    /// A block for a thread to own: a free one (an ended thread's), else
    /// a new one; `None` at the limit. Give it back with
    /// [`release`](Self::release).
    pub(crate) fn acquire(&self) -> Option<*const Block> {
        let mut pool = lock_model_checked(&self.pool);
        if let Some(i) = pool.free_blocks.pop() {
            return Some(self.blocks[i].load(Ordering::Acquire));
        }
        let n = self.count.load(Ordering::Relaxed);
        if n == MAX_BLOCKS {
            return None;
        }
        let b = Box::into_raw(Box::new(Block {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
            index: n,
        }));
        self.blocks[n].store(b, Ordering::Release);
        self.count.store(n + 1, Ordering::Release);
        Some(b)
    }

    /// Gives back a block from [`acquire`](Self::acquire); its owner adds
    /// nothing more to it.
    pub(crate) fn release(&self, b: *const Block) {
        // SAFETY: blocks are freed only with the registry.
        let i = unsafe { (*b).index };
        lock_model_checked(&self.pool).free_blocks.push(i);
    }

    /// `n` consecutive keys for a series' cells (all 0), the first
    /// returned, or `None` when fewer than `n` would be left with more
    /// than `reserve` free (checked without the lock first).
    pub(crate) fn take_keys(&self, n: usize, reserve: usize) -> Option<usize> {
        let enough = || self.free_keys.load(Ordering::Relaxed) >= n + reserve;
        if n == 0 || !enough() {
            return None;
        }
        let mut pool = lock_model_checked(&self.pool);
        if !enough() {
            return None;
        }
        let start = match pool.free_keys.iter().position(|&(_, len)| len >= n) {
            Some(i) => {
                let (start, len) = pool.free_keys[i];
                if len == n {
                    pool.free_keys.remove(i);
                } else {
                    pool.free_keys[i] = (start + n, len - n);
                }
                start
            }
            None if pool.next_key + n <= KEYS => {
                pool.next_key += n;
                pool.next_key - n
            }
            None => return None,
        };
        self.free_keys.fetch_sub(n, Ordering::Relaxed);
        Some(start)
    }

    /// Gives back the `n` keys from `start` once nothing adds to their
    /// series any more: their cells are reset for the next series.
    pub(crate) fn release_keys(&self, start: usize, n: usize) {
        let mut pool = lock_model_checked(&self.pool);
        for b in self.published() {
            for k in start..start + n {
                b.cell(k).store(0, Ordering::Relaxed);
            }
        }
        let free = &mut pool.free_keys;
        let at = free.partition_point(|&(s, _)| s < start);
        free.insert(at, (start, n));
        // Merge with the next run, then with the previous one.
        if at + 1 < free.len() && free[at].0 + free[at].1 == free[at + 1].0 {
            free[at].1 += free.remove(at + 1).1;
        }
        if at > 0 && free[at - 1].0 + free[at - 1].1 == free[at].0 {
            free[at - 1].1 += free.remove(at).1;
        }
        self.free_keys.fetch_add(n, Ordering::Relaxed);
    }

    /// The sum of `key`'s cells (modulo 2^64).
    pub(crate) fn sum(&self, key: usize) -> u64 {
        self.published().fold(0u64, |t, b| {
            t.wrapping_add(b.cell(key).load(Ordering::Relaxed))
        })
    }

    /// Adds to each of `out` the sum of its key's cells, the keys running
    /// from `start` (modulo 2^64): one pass over the blocks.
    pub(crate) fn add_sums(&self, start: usize, out: &mut [u64]) {
        for b in self.published() {
            for (o, k) in out.iter_mut().zip(start..) {
                *o = o.wrapping_add(b.cell(k).load(Ordering::Relaxed));
            }
        }
    }

    fn published(&self) -> impl Iterator<Item = &Block> {
        let n = self.count.load(Ordering::Acquire);
        self.blocks[..n].iter().map(|p| {
            // SAFETY: the first `count` pointers are published blocks,
            // freed only with the registry.
            unsafe { &*p.load(Ordering::Acquire) }
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let n = self.count.load(Ordering::Acquire);
        for p in self.blocks[..n].iter() {
            // SAFETY: exclusive access; made by `Box::into_raw` in `acquire`.
            drop(unsafe { Box::from_raw(p.load(Ordering::Acquire)) });
        }
    }
}

/// The process's registry.
#[cfg(not(loom))]
pub(crate) fn global() -> &'static Registry {
    static GLOBAL: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}

/// Adds `v` to `key`'s cell in `block`, owned by this thread, within
/// [`CELL_LIMIT`] and for `v` up to `max`: false, having added nothing,
/// otherwise. A load and a store: nobody else writes the cell.
#[inline(always)]
pub(crate) fn add_limited(block: &Block, key: usize, v: u64, max: u64) -> bool {
    let c = block.cell(key);
    let cur = c.load(Ordering::Relaxed);
    // `cur` is at most CELL_LIMIT and `v` at most `max`: no wrap.
    if v > max || cur + v > CELL_LIMIT {
        return false;
    }
    c.store(cur + v, Ordering::Relaxed);
    true
}

/// Adds `v` modulo 2^64 to `key`'s cell in `block`, owned by this thread.
#[inline(always)]
pub(crate) fn add_wrapping(block: &Block, key: usize, v: u64) {
    let c = block.cell(key);
    c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
}

/// This thread's block, when it has one.
#[inline(always)]
pub(crate) fn this_thread() -> Option<&'static Block> {
    #[cfg(not(loom))]
    {
        let b = crate::context::thread_slot()?.sums.load(Ordering::Relaxed);
        // SAFETY: the global registry's blocks are never freed.
        (!b.is_null()).then(|| unsafe { &*b })
    }
    #[cfg(loom)]
    None
}

/// This thread's block, once the thread has its recording context (a
/// thread whose only adds were attribute-less or bound has none yet: it
/// gets it here): `None` when it cannot have one (its thread-locals are
/// being destroyed, or [`MAX_BLOCKS`] threads hold one).
#[cold]
#[inline(never)]
pub(crate) fn attach() -> Option<&'static Block> {
    #[cfg(not(loom))]
    {
        if crate::context::thread_slot().is_none() {
            // A thread that never pinned has no slot yet.
            crate::context::pin(|| ());
        }
        // The slot took the thread's block when it was made (none at the
        // limit): nothing to take here.
        this_thread()
    }
    #[cfg(loom)]
    None
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reused_with_their_cells_reset() {
        let r = Registry::new();
        let b = r.acquire().unwrap();
        // SAFETY: the registry outlives the test's use.
        let b = unsafe { &*b };
        let k = r.take_keys(1, 0).unwrap();
        assert!(add_limited(b, k, 5, u64::MAX));
        add_wrapping(b, k, 2);
        assert_eq!(r.sum(k), 7);
        r.release_keys(k, 1);
        assert_eq!(
            r.take_keys(1, 0),
            Some(k),
            "a freed key is handed out again"
        );
        assert_eq!(r.sum(k), 0, "with its cells reset");
    }

    #[test]
    fn an_ended_threads_block_keeps_counting_for_the_next_owner() {
        let r = Registry::new();
        let k = r.take_keys(1, 0).unwrap();
        let first = r.acquire().unwrap();
        // SAFETY: as above.
        add_wrapping(unsafe { &*first }, k, 3);
        r.release(first);
        let again = r.acquire().unwrap();
        assert_eq!(again, first, "a freed block is taken over");
        add_wrapping(unsafe { &*again }, k, 4);
        let other = r.acquire().unwrap();
        assert_ne!(other, first);
        add_wrapping(unsafe { &*other }, k, 10);
        assert_eq!(r.sum(k), 17);
    }

    #[test]
    fn limits_refuse_without_adding() {
        let r = Registry::new();
        // SAFETY: as above.
        let b = unsafe { &*r.acquire().unwrap() };
        let k = r.take_keys(1, 0).unwrap();
        assert!(!add_limited(b, k, 11, 10), "above the largest single add");
        assert!(add_limited(b, k, CELL_LIMIT - 1, u64::MAX));
        assert!(!add_limited(b, k, 2, u64::MAX), "past the cell's limit");
        assert!(add_limited(b, k, 1, u64::MAX));
        assert_eq!(r.sum(k), CELL_LIMIT);
    }

    #[test]
    fn runs_of_keys_are_reused_first_fit_and_merged() {
        let r = Registry::new();
        let a = r.take_keys(17, 0).unwrap();
        let b = r.take_keys(1, 0).unwrap();
        let c = r.take_keys(17, 0).unwrap();
        assert_eq!((a, b, c), (0, 17, 18));
        // SAFETY: as above.
        let blk = unsafe { &*r.acquire().unwrap() };
        for k in 0..35 {
            add_wrapping(blk, k, 1);
        }
        r.release_keys(a, 17);
        assert_eq!(r.take_keys(5, 0), Some(0), "first fit in the freed run");
        r.release_keys(b, 1);
        // 5..18 is now one free run of 13 keys (12 from `a`, merged with `b`).
        assert_eq!(r.take_keys(13, 0), Some(5));
        for k in 5..18 {
            assert_eq!(r.sum(k), 0, "key {k} reset");
        }
        r.release_keys(0, 5);
        r.release_keys(5, 13);
        r.release_keys(c, 17);
        assert_eq!(r.take_keys(35, 0), Some(0), "all merged back into one run");
        assert_eq!(r.free_keys.load(Ordering::Relaxed), KEYS - 35);
    }

    #[test]
    fn keys_run_out_and_come_back() {
        let r = Registry::new();
        let keys: Vec<usize> = std::iter::from_fn(|| r.take_keys(1, 100)).collect();
        assert_eq!(keys.len(), KEYS - 100, "a reserve is left");
        let more: Vec<usize> = std::iter::from_fn(|| r.take_keys(1, 0)).collect();
        assert_eq!(more.len(), 100, "for callers that reserve nothing");
        r.release_keys(keys[7], 1);
        assert_eq!(r.take_keys(1, 0), Some(keys[7]));
        assert_eq!(r.take_keys(1, 0), None);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::sync::loom_model;
    use loom::sync::Arc;
    use loom::thread;

    /// A block handed from a thread that ended to the next one while a
    /// collector reads: every reading is one the adds could have made at
    /// some moment (never down, never a torn total), and the final one is
    /// exact.
    #[test]
    fn loom_thread_sums_block_handover_vs_reader() {
        loom_model(|| {
            let r = Arc::new(Registry::new());
            let k = r.take_keys(1, 0).unwrap();
            let first = {
                let r = r.clone();
                thread::spawn(move || {
                    let b = r.acquire().unwrap();
                    // SAFETY: blocks live as long as the registry.
                    add_wrapping(unsafe { &*b }, k, 1);
                    add_wrapping(unsafe { &*b }, k, 2);
                    r.release(b);
                })
            };
            let second = {
                let r = r.clone();
                thread::spawn(move || {
                    // The first thread's block if it ended, else another.
                    let b = r.acquire().unwrap();
                    // SAFETY: as above.
                    add_wrapping(unsafe { &*b }, k, 10);
                    r.release(b);
                })
            };
            let a = r.sum(k);
            let b = r.sum(k);
            assert!([0, 1, 3, 10, 11, 13].contains(&a), "torn reading {a}");
            assert!(b >= a, "went down: {a} -> {b}");
            first.join().unwrap();
            second.join().unwrap();
            assert_eq!(r.sum(k), 13);
        });
    }

    /// A key given back by a series that ended and taken by a new one,
    /// which a thread then finds through a release/acquire publication (as
    /// the map publishes its anchored series): the thread's add starts from
    /// the reset cell, not from the old series' value.
    #[test]
    fn loom_thread_sums_key_reuse_starts_from_zero() {
        loom_model(|| {
            let r = Arc::new(Registry::new());
            let b = r.acquire().unwrap();
            let k = r.take_keys(1, 0).unwrap();
            // SAFETY: blocks live as long as the registry.
            add_wrapping(unsafe { &*b }, k, 5);
            let published = Arc::new(AtomicUsize::new(usize::MAX));
            let adder = {
                let published = published.clone();
                let b = b as usize;
                thread::spawn(move || loop {
                    let k = published.load(Ordering::Acquire);
                    if k != usize::MAX {
                        // SAFETY: as above; this thread owns the block now.
                        add_wrapping(unsafe { &*(b as *const Block) }, k, 7);
                        return;
                    }
                    thread::yield_now();
                })
            };
            r.release_keys(k, 1);
            let again = r.take_keys(1, 0).unwrap();
            published.store(again, Ordering::Release);
            adder.join().unwrap();
            assert_eq!(r.sum(again), 7);
        });
    }
}
