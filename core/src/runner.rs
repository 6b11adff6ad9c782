//! One runner at a time per set of stores.
//!
//! Two `fieldsync sync` processes on one configuration would both build and apply
//! messages, and under edits one can write an older value over a newer one. So a
//! process that runs rounds first claims every ledger its engine uses: an exclusive
//! advisory lock on a file beside each ledger (`support.db-runner` beside
//! `support.db`), holding who claimed it. The operating system drops the lock when the
//! process ends, however it ends, so a crashed runner's claim is free at once.
//! Commands that only read (`status`, `errors list`, `issue show`) claim nothing.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Timestamp;
use crate::Engine;

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerInfo {
    /// The command, e.g. `fieldsync sync`.
    pub command: String,
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// When it claimed the stores (microseconds since the epoch).
    pub since: Timestamp,
}

impl RunnerInfo {
    /// This process, running `command`.
    pub fn this_process(command: &str) -> RunnerInfo {
        RunnerInfo {
            command: command.to_owned(),
            pid: std::process::id(),
            host: host_name(),
            since: Timestamp::now(),
        }
    }
}

impl std::fmt::Display for RunnerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (PID {} on {}, since {})",
            self.command, self.pid, self.host, self.since
        )
    }
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|file| std::fs::read_to_string(file).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".to_owned())
}

/// Why stores could not be claimed.
#[derive(Debug, Error)]
pub enum ClaimError {
    /// Another process runs on them.
    #[error(
        "another fieldsync runs on these stores: {} holds {}; stop it first or let it \
         run (read-only commands such as `fieldsync status` work meanwhile)",
        holder.as_ref().map_or_else(|| "a process".to_owned(), ToString::to_string),
        lock.display()
    )]
    Busy {
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as it wrote itself down (`None`: not readable).
        holder: Option<RunnerInfo>,
    },
    /// The lock file cannot be made or locked (a read-only folder, say).
    #[error("cannot claim the stores for this run: {}: {error}", lock.display())]
    Unusable {
        /// The lock file.
        lock: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
}

/// The stores this process claimed; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunnerClaim {
    runner: RunnerInfo,
    held: BTreeMap<PathBuf, File>,
}

impl RunnerClaim {
    /// A claim of nothing yet, for `runner`.
    pub fn new(runner: RunnerInfo) -> RunnerClaim {
        RunnerClaim {
            runner,
            held: BTreeMap::new(),
        }
    }

    /// Claims every ledger of `engine` not claimed yet: all of them or, when one is
    /// busy, none of the new ones.
    pub fn cover(&mut self, engine: &Engine) -> Result<(), ClaimError> {
        let mut taken = Vec::new();
        for lock in engine.runner_locks() {
            if self.held.contains_key(&lock) {
                continue;
            }
            // On an error, the locks taken so far are dropped, which releases them.
            let file = lock_file(&lock, &self.runner)?;
            taken.push((lock, file));
        }
        self.held.extend(taken);
        Ok(())
    }

    /// The lock files held.
    pub fn locks(&self) -> impl Iterator<Item = &Path> {
        self.held.keys().map(PathBuf::as_path)
    }
}

fn lock_file(lock: &Path, runner: &RunnerInfo) -> Result<File, ClaimError> {
    let unusable = |error| ClaimError::Unusable {
        lock: lock.to_owned(),
        error,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)
        .map_err(unusable)?;
    match try_lock_a_while(&file) {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(lock)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            return Err(ClaimError::Busy {
                lock: lock.to_owned(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(unusable(error)),
    }
    let text = serde_json::to_string(runner).unwrap_or_default();
    file.set_len(0)
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(unusable)?;
    Ok(file)
}

/// `status` looks at a lock by taking it shared for a moment: a runner starting at
/// that moment waits a little instead of taking it for another runner.
fn try_lock_a_while(file: &File) -> Result<(), std::fs::TryLockError> {
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            outcome => return outcome,
        }
    }
}

/// Who holds `lock` now, if anyone: a running runner's claim, read without disturbing
/// it (`None` when no process holds it, whatever the file says of an earlier one).
pub fn holder(lock: &Path) -> Option<RunnerInfo> {
    let file = File::open(lock).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => Some(
            std::fs::read_to_string(lock)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_else(|| RunnerInfo {
                    command: "a process".to_owned(),
                    pid: 0,
                    host: "?".to_owned(),
                    since: Timestamp(0),
                }),
        ),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_busy_naming_the_first_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("store.db-runner");
        let first = RunnerInfo::this_process("fieldsync sync");
        let held = lock_file(&lock, &first).unwrap();
        match lock_file(&lock, &RunnerInfo::this_process("fieldsync sync --once")) {
            Err(error @ ClaimError::Busy { .. }) => {
                let ClaimError::Busy { holder, .. } = &error else {
                    unreachable!()
                };
                assert_eq!(holder.as_ref(), Some(&first));
                let text = error.to_string();
                assert!(
                    text.contains(&format!("PID {}", std::process::id())),
                    "{text}"
                );
                assert!(text.contains("store.db-runner"), "{text}");
            }
            other => panic!("expected busy, got {other:?}"),
        }
        assert_eq!(holder(&lock), Some(first));
        drop(held);
        assert_eq!(
            holder(&lock),
            None,
            "released: the file alone claims nothing"
        );
        lock_file(&lock, &RunnerInfo::this_process("fieldsync sync --once")).unwrap();
    }

    #[test]
    fn a_folder_that_cannot_hold_the_lock_file_is_named() {
        let error = lock_file(
            Path::new("/nonexistent-folder/store.db-runner"),
            &RunnerInfo::this_process("fieldsync sync"),
        )
        .unwrap_err();
        assert!(matches!(error, ClaimError::Unusable { .. }));
        assert!(error
            .to_string()
            .contains("/nonexistent-folder/store.db-runner"));
    }
}
