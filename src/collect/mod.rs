//! Collection: the snapshot data model (`data`), the collection side of
//! each stream (`stream`: one read per cycle, per-reader cursors,
//! eviction) and what evicted series still owe lagging readers (`owed`).
//! The cycle itself (single-flight, callbacks once) lives in `provider`.

pub mod data;
pub(crate) mod owed;
pub(crate) mod stream;
