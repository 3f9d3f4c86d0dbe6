//! Collection: the cycle (`cycle`: callbacks once, one read of every
//! stream shared by the readers collecting together, each reader's points
//! from it), the collection side of each stream (`stream`: per-reader
//! cursors, eviction), what evicted series still owe lagging readers
//! (`owed`), and the snapshot data model they produce (`data`).

pub(crate) mod cycle;
pub mod data;
pub(crate) mod owed;
pub(crate) mod stream;
