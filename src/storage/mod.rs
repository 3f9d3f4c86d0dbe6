//! Storage: per-stream series maps with a lock-free read path, and the
//! reclamation domain that lets them free memory safely.

// Per-series exemplar reservoirs: blocks installed once through an atomic
// pointer, read through it while the stream lives.
#[allow(unsafe_code)]
pub(crate) mod exemplars;
// Series in their sets' allocations, read lock-free through raw pointers.
#[allow(unsafe_code)]
pub(crate) mod map;
pub(crate) mod stream;

// A quarantining allocator and raw payload reads that catch use after free.
#[cfg(all(test, loom))]
#[allow(unsafe_code)]
mod loom_models;

pub(crate) use map::SeriesRef;
