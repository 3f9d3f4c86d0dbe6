//! Storage: per-stream series maps with a lock-free read path, and the
//! reclamation domain that lets them free memory safely.

pub(crate) mod map;
pub(crate) mod stream;

#[cfg(all(test, loom))]
mod loom_models;

pub(crate) use map::SeriesRef;
