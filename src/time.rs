//! Wall-clock helpers: timestamps are u64 nanoseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in nanoseconds since the Unix epoch.
#[inline]
pub fn now_nanos() -> u64 {
    to_nanos(SystemTime::now())
}

/// Converts a `SystemTime` to nanoseconds since the Unix epoch (0 before it).
pub fn to_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}
