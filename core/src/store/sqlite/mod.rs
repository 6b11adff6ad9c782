//! [`SqliteStore`]: issues and sync state in one SQLite file.

use parking_lot::Mutex;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::StoreError;

/// The pseudo-field whose history entry records an issue's creation (with its type).
/// (`=` cannot appear in a field id, so it never mixes with a real field's history.)
pub const CREATED_FIELD: &str = "=created";

mod apply;
mod failures;
mod issues;
mod ledger;
mod open;

/// A store in one SQLite file (WAL mode, so readers and a writer work side by side).
///
/// One connection behind a mutex: SQLite has a single writer anyway, and the engine
/// runs mapping calls — the slow part — outside the lock.
pub struct SqliteStore {
    location: String,
    connection: Mutex<Connection>,
}

impl SqliteStore {
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let connection = self.connection.lock();
        work(&connection).map_err(sqlite(&self.location))
    }

    /// Runs `work` in an immediate transaction: committed when it returns `Ok`, rolled
    /// back otherwise, so nothing half-written ever stays.
    fn write<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite(&self.location))?;
        let result = work(&transaction)?;
        transaction.commit().map_err(sqlite(&self.location))?;
        Ok(result)
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

fn sqlite(location: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        store: location.to_owned(),
        source,
    }
}
