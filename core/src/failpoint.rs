//! Fail points for crash tests: `FIELDSYNC_FAILPOINT=NAME` makes the process abort
//! (no destructors, no flushing: as a SIGKILL would) the first time it reaches the
//! point `NAME`. Unset, a fail point costs one look at an environment variable
//! cached at the first call.
//!
//! Points: `after-tracker-create` (a tracker issue is created, the ledger does not
//! know it yet), `after-tracker-update` (values are written, the message is not
//! recorded as applied yet), `between-group-commits` (a write group of applied
//! messages is committed on the target, the source's links and failures are not).
//! One point does not abort but stands for a condition of
//! the machine: `store-full` makes every SQLite store opened act as if its disk were
//! full (SQLite's own `SQLITE_FULL`, by capping the file at its current size).

use std::sync::OnceLock;

/// Aborts the process when `FIELDSYNC_FAILPOINT` names `point`.
pub fn hit(point: &str) {
    if armed(point) {
        eprintln!("fail point `{point}` reached: aborting");
        std::process::abort();
    }
}

/// Whether `FIELDSYNC_FAILPOINT` names `point`.
pub fn armed(point: &str) -> bool {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("FIELDSYNC_FAILPOINT").ok());
    armed.as_deref() == Some(point)
}
