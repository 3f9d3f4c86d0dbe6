//! Collection: the snapshot data model. The cycle itself (single-flight,
//! callbacks, per-reader cursors) lives in `provider` and `storage::stream`.

pub mod data;
pub(crate) mod owed;
