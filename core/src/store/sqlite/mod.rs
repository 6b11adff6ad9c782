//! [`SqliteStore`]: issues and sync state in one SQLite file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use crate::model::ProjectDef;

/// The pseudo-field whose history entry records an issue's creation (with its type).
/// (`=` cannot appear in a field id, so it never mixes with a real field's history.)
pub const CREATED_FIELD: &str = "=created";

mod apply;
mod environment;
mod failures;
mod group;
mod history;
mod issues;
mod ledger;
mod open;
mod readers;

/// A store in one SQLite file (WAL mode, so readers and a writer work side by side).
///
/// One connection behind a mutex: SQLite has a single writer anyway, and the engine
/// runs mapping calls — the slow part — outside the lock.
pub struct SqliteStore {
    location: String,
    /// Connections for the reads of read sessions (see [`readers`]). Declared before
    /// the writing connection so that they close first: the last connection to close
    /// folds the write-ahead log into the file and removes it, which a read-only one
    /// cannot do.
    readers: readers::Readers,
    connection: Mutex<Connection>,
    /// Set once SQLite reported the file damaged: nothing is written to it again.
    damaged: AtomicBool,
    /// Writes grouped into one transaction (see [`group`]).
    group: group::WriteGroup,
    /// Project definitions as parsed.
    projects: Mutex<HashMap<String, Arc<ProjectDef>>>,
    /// The issue the last write of the open write group created (see
    /// [`apply::CreatedInGroup`]).
    created_in_group: Mutex<Option<apply::CreatedInGroup>>,
}

impl SqliteStore {
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        self.read_with(|connection| work(connection).map_err(|error| self.failed(error)))
    }

    /// Runs `work` on a read connection during a read session, else (and inside a
    /// write group, whose writes only it sees) on the writing one.
    fn read_with<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.group.is_open() {
            if let Some(reader) = self.readers.take() {
                let result = self
                    .readers
                    .hold_snapshot(&reader)
                    .map_err(|error| self.failed(error))
                    .and_then(|()| work(&reader));
                self.readers.give_back(reader);
                return result;
            }
        }
        let connection = self.connection.lock();
        work(&connection)
    }

    /// Runs `work` in an immediate transaction: committed when it returns `Ok`, rolled
    /// back otherwise, so nothing half-written ever stays. Inside a write group the
    /// transaction is a savepoint of the group's, with the same all-or-nothing rule.
    fn write<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_after_creation(|tx, _| Ok((work(tx)?, None)))
    }

    /// [`write`](Self::write) handed the issue the group's previous write created, if
    /// that write kept it (taken: this write may change it), and keeping what this one
    /// creates for the next, under the same lock.
    fn write_after_creation<T>(
        &self,
        work: impl FnOnce(
            &Connection,
            Option<apply::CreatedInGroup>,
        ) -> Result<(T, Option<apply::CreatedInGroup>), StoreError>,
    ) -> Result<T, StoreError> {
        if self.damaged.load(Ordering::SeqCst) {
            return Err(environment::damaged_error(&self.location));
        }
        let mut connection = self.connection.lock();
        let created_before = self.created_in_group.lock().take();
        if self.group.is_open() {
            let (result, created) =
                self.write_in_group(&connection, |tx| work(tx, created_before))?;
            *self.created_in_group.lock() = created;
            return Ok(result);
        }
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.failed(error))?;
        let (result, _) = work(&transaction, None)?;
        transaction.commit().map_err(|error| self.failed(error))?;
        Ok(result)
    }

    /// The store error for an SQLite error; a damaged file is marked so that nothing
    /// writes to it again (in this process, and in the next, see [`environment`]).
    fn failed(&self, error: rusqlite::Error) -> StoreError {
        if environment::is_damage(&error) && !self.damaged.swap(true, Ordering::SeqCst) {
            environment::mark_damaged(&self.location, &error);
        }
        sqlite(&self.location)(error)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sqlite(&self.location)
    }

    fn invalid(&self, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            store: self.location.clone(),
            message: message.into(),
        }
    }

    fn corrupt(&self, message: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.location.clone(),
            message: message.into(),
        }
    }
}

/// An SQLite error as a store error: a failure of the file or the machine (a full
/// disk, a read-only file, a damaged page, an I/O error) is the round's, not the data's
/// (see [`StoreError::is_unavailable`]).
fn sqlite(location: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| match environment::problem(location, &source) {
        Some(message) => StoreError::Unavailable {
            store: location.to_owned(),
            message,
        },
        None => StoreError::Sqlite {
            store: location.to_owned(),
            source,
        },
    }
}
