//! Failures of the store file or the machine, told apart from failures of the data:
//! a full disk, a read-only file, an I/O error or a damaged page fails the round (no
//! issue is charged an attempt, nothing parks, the round is tried again) and says
//! what to do. A damaged store is marked (a `-damaged` file beside it) and never
//! written to again until a person restored it and removed the mark.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use super::super::StoreError;
use crate::model::Timestamp;

/// What is wrong with the store itself, if `error` says so.
pub(super) fn problem(location: &str, error: &rusqlite::Error) -> Option<String> {
    let code = error.sqlite_error_code()?;
    let text = match code {
        ErrorCode::DiskFull => "the disk is full: the store cannot grow; free space and the \
             round is tried again"
            .to_owned(),
        ErrorCode::ReadOnly => format!(
            "the store cannot be written: {}; the round is tried again",
            read_only_files(location)
        ),
        ErrorCode::PermissionDenied | ErrorCode::CannotOpen => format!(
            "the store cannot be opened for writing ({}): check the permissions of the file \
             and its folder",
            read_only_files(location)
        ),
        ErrorCode::SystemIoFailure => {
            "an I/O error on the disk holding the store; the round is tried again".to_owned()
        }
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "another process held the store locked for more than 10 s; the round is tried again"
                .to_owned()
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => damaged_text(location),
        _ => return None,
    };
    Some(format!("{text} ({error})"))
}

/// Whether `error` says the file is damaged.
pub(super) fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

fn damaged_text(location: &str) -> String {
    format!(
        "the store is damaged: fieldsync writes nothing more to it. Check it with \
         `sqlite3 {location} 'PRAGMA integrity_check'`, restore it from a backup, then \
         delete {}",
        marker(location).display()
    )
}

/// The error of a store found damaged before.
pub(super) fn damaged_error(location: &str) -> StoreError {
    StoreError::Unavailable {
        store: location.to_owned(),
        message: damaged_text(location),
    }
}

/// The mark beside a damaged store.
fn marker(location: &str) -> PathBuf {
    PathBuf::from(format!("{location}-damaged"))
}

/// Leaves the mark that keeps the store closed (best effort: the folder may refuse).
pub(super) fn mark_damaged(location: &str, error: &rusqlite::Error) {
    mark_damaged_because(location, &error.to_string());
}

/// Likewise, with SQLite's own words for what is wrong.
pub(super) fn mark_damaged_because(location: &str, why: &str) {
    let text = format!("found damaged at {}: {why}\n", Timestamp::now());
    if let Err(write_error) = std::fs::write(marker(location), text) {
        log::error!("{location}: damaged ({why}), and the mark cannot be written: {write_error}");
    } else {
        log::error!("{location}: {}", damaged_text(location));
    }
}

/// Refuses to open a store marked damaged.
pub(super) fn refuse_if_marked_damaged(location: &str) -> Result<(), StoreError> {
    if location != ":memory:" && marker(location).exists() {
        return Err(damaged_error(location));
    }
    Ok(())
}

/// Which of the store's files (and its folder) the system says are read-only.
fn read_only_files(location: &str) -> String {
    let store = Path::new(location);
    let folder = store
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Tried, not read off the mode bits: what counts is whether this process may write.
    let mut read_only: Vec<String> = [
        store.to_path_buf(),
        PathBuf::from(format!("{location}-wal")),
        PathBuf::from(format!("{location}-shm")),
    ]
    .iter()
    .filter(|file| file.exists() && std::fs::OpenOptions::new().write(true).open(file).is_err())
    .map(|file| file.display().to_string())
    .collect();
    let probe = folder.join(format!(".fieldsync-write-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(_) => read_only.push(format!("the folder {}", folder.display())),
    }
    if read_only.is_empty() {
        "the file system refuses writes".to_owned()
    } else {
        format!("read-only: {}", read_only.join(", "))
    }
}
