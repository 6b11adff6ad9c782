//! Opening a store file: creating it, recognising it as a fieldsync store, and
//! bringing an older schema up to date.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::Connection;

use super::super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA, SCHEMA_VERSION};
use super::super::StoreError;
use super::*;

impl SqliteStore {
    /// Opens the store at `path`, creating the file and schema when it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), true)
    }
    /// Opens an existing store; a missing file is an error rather than a new store,
    /// so a mistyped path does not silently start from nothing.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path.as_ref(), false)
    }
    /// Opens an existing store to read it, also where it cannot be written (a
    /// read-only file or folder: `status` and `errors list` must work there): as
    /// [`SqliteStore::open_existing`] when that works, else read-only. A read-only
    /// store answers every write with an error naming it.
    pub fn open_for_reading(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        match Self::open_existing(path) {
            Ok(store) => Ok(store),
            Err(error @ StoreError::NotFound { .. }) => Err(error),
            Err(error) => Self::open_read_only(path).map_err(|_| error),
        }
    }

    /// Opens an existing store read-only. SQLite reads a store in WAL mode only with
    /// its `-shm` file, which a read-only folder cannot get: without a `-wal` file
    /// (nothing written since the last writer closed it) the file alone is read as
    /// it is.
    fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let location = path.display().to_string();
        environment::refuse_if_marked_damaged(&location)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let wal = Path::new(&format!("{location}-wal")).exists();
        let connection = if wal {
            Connection::open_with_flags(path, flags)
        } else {
            let uri = format!("file:{}?immutable=1", uri_path(&location));
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
        }
        .map_err(sqlite(&location))?;
        Self::prepare_with(location, connection, false)
    }

    /// A store in memory, for tests and experiments.
    pub fn in_memory() -> Result<Self, StoreError> {
        let location = ":memory:".to_owned();
        let connection = Connection::open_in_memory().map_err(sqlite(&location))?;
        Self::prepare(location, connection)
    }
    pub(super) fn open_with(path: &Path, create: bool) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        if !create && !path.is_file() {
            return Err(StoreError::NotFound {
                store: location,
                what: "store file".to_owned(),
            });
        }
        // A store found damaged stays closed until a person restored it.
        environment::refuse_if_marked_damaged(&location)?;
        let connection = Connection::open(path).map_err(sqlite(&location))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(sqlite(&location))?;
        let mut store = Self::prepare(location, connection)?;
        if !create {
            store.check_integrity()?;
        }
        store.readers = readers::Readers::of_file(path);
        // Only now that the file is known to be a store: WAL lets users edit issues
        // while a sync round reads; NORMAL sync is durable at every checkpoint and only
        // risks the last commits on power loss.
        {
            let connection = store.connection.lock();
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(sqlite(&store.location))?;
            connection
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(sqlite(&store.location))?;
            // Each step of a write group is a savepoint, whose undo pages SQLite keeps
            // in a temporary file by default: in memory they cost no writes.
            connection
                .pragma_update(None, "temp_store", "MEMORY")
                .map_err(sqlite(&store.location))?;
            if crate::failpoint::armed("store-full") {
                // The file may not grow: SQLite answers SQLITE_FULL as on a full disk.
                connection
                    .execute_batch(
                        "PRAGMA wal_checkpoint(TRUNCATE); \
                         PRAGMA max_page_count = 1; -- capped at the current page count",
                    )
                    .map_err(sqlite(&store.location))?;
            }
        }
        Ok(store)
    }
    /// SQLite's quick check of every page: a damaged store is found when it is opened,
    /// not when a round happens to read the damaged page (or never), and is marked so
    /// that nothing writes to it again.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        let verdict: String =
            self.read(|c| c.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)))?;
        if verdict == "ok" {
            return Ok(());
        }
        if !self.damaged.swap(true, std::sync::atomic::Ordering::SeqCst) {
            environment::mark_damaged_because(&self.location, &verdict);
        }
        Err(environment::damaged_error(&self.location))
    }

    pub(super) fn prepare(location: String, connection: Connection) -> Result<Self, StoreError> {
        Self::prepare_with(location, connection, true)
    }

    /// Recognises the store; `writable`, it also creates the schema of an empty file
    /// and brings an older one up to date.
    fn prepare_with(
        location: String,
        connection: Connection,
        writable: bool,
    ) -> Result<Self, StoreError> {
        // One plan per statement whatever its parameters: otherwise SQLite re-plans a
        // cached statement every time a parameter changes from 0 or 1 to another value
        // (the history read of every issue at a first sync, from position 0), which cost
        // a tenth of a first sync. The store's queries all have one right plan.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(sqlite(&location))?;
        // Room for every statement a round runs: rusqlite keeps sixteen by default,
        // and a round cycling through more (a hub's records of origins, say) would
        // prepare them again and again.
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let read_i64 = |pragma: &str| {
            connection
                .pragma_query_value(None, pragma, |row| row.get::<_, i64>(0))
                .map_err(|error| not_a_store(&location, error))
        };
        let application_id = read_i64("application_id")?;
        let version = read_i64("user_version")?;
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(|error| not_a_store(&location, error))?;
        if !writable && (application_id != APPLICATION_ID || version < SCHEMA_VERSION) {
            return Err(StoreError::NotAStore {
                store: location,
                message: format!(
                    "cannot be read without writing to it (store schema {version}, this \
                     fieldsync reads {SCHEMA_VERSION}: a command with write access brings it \
                     up to date)"
                ),
            });
        }
        if application_id == 0 && version == 0 && tables == 0 {
            connection
                .execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
                     PRAGMA user_version = 1; COMMIT;"
                ))
                .map_err(sqlite(&location))?;
            migrate(&connection, &location, 1)?;
        } else if application_id != APPLICATION_ID {
            return Err(StoreError::NotAStore {
                store: location,
                message: "is a SQLite database but not a fieldsync store".to_owned(),
            });
        } else if version > SCHEMA_VERSION {
            return Err(StoreError::NotAStore {
                store: location,
                message: format!(
                    "was written by a newer fieldsync (store schema {version}, this \
                     fieldsync reads up to {SCHEMA_VERSION}); upgrade fieldsync"
                ),
            });
        } else if version < SCHEMA_VERSION {
            migrate(&connection, &location, version)?;
        }
        Ok(SqliteStore {
            location,
            connection: Mutex::new(connection),
            damaged: Default::default(),
            group: Default::default(),
            projects: Default::default(),
            readers: Default::default(),
            created_in_group: Default::default(),
        })
    }
}

/// Prepared statements kept per connection.
pub(super) const STATEMENT_CACHE: usize = 64;

/// Brings a store of schema `from` up to [`SCHEMA_VERSION`], one version per
/// transaction: a crash between two leaves a consistent older version behind, and a
/// second process opening the store at the same moment finds the work done.
pub(super) fn migrate(
    connection: &Connection,
    location: &str,
    from: i64,
) -> Result<(), StoreError> {
    let failed = |version: i64, error: rusqlite::Error| {
        // Leave no half-open transaction behind on the connection.
        let _ = connection.execute_batch("ROLLBACK");
        StoreError::NotAStore {
            store: location.to_owned(),
            message: format!(
                "could not upgrade the store schema from {version} to {}: {error}",
                version + 1
            ),
        }
    };
    for version in from..SCHEMA_VERSION {
        let index = usize::try_from(version - 1).unwrap_or(usize::MAX);
        let Some(migration) = MIGRATIONS.get(index) else {
            return Err(StoreError::NotAStore {
                store: location.to_owned(),
                message: format!("has unknown store schema {version}"),
            });
        };
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|error| failed(version, error))?;
        let current: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|error| failed(version, error))?;
        let work = if current == version {
            format!("{migration} PRAGMA user_version = {}; COMMIT;", version + 1)
        } else {
            "COMMIT;".to_owned()
        };
        connection
            .execute_batch(&work)
            .map_err(|error| failed(version, error))?;
    }
    Ok(())
}

pub(super) fn not_a_store(location: &str, error: rusqlite::Error) -> StoreError {
    // A file that cannot be written (a read-only folder: no `-shm` file) is no
    // reason to doubt it is a store.
    if !environment::is_damage(&error) {
        if let Some(message) = environment::problem(location, &error) {
            return StoreError::Unavailable {
                store: location.to_owned(),
                message,
            };
        }
    }
    StoreError::NotAStore {
        store: location.to_owned(),
        message: format!("cannot be read as a fieldsync store: {error}"),
    }
}

/// A file path as the path of an SQLite `file:` URI.
fn uri_path(location: &str) -> String {
    location
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Side;
    use crate::store::{FailureQuery, HeldSendState, SyncLedger};

    /// A store written by the first release (schema 1), with a message that failed
    /// to apply, an issue that failed to send and one whose failed send a person
    /// skipped (as schemas 2 to 6 wrote it: no attempts).
    fn schema_1_store(path: &Path) {
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch(&format!(
                "{SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
            ))
            .unwrap();
        connection
            .execute_batch(
                "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, \
                   body, created_at, attempts, last_error) \
                 VALUES ('s:A-1:1', 's', 'a', 'A-1', 1, 0, '{}', 5, 2, 'it failed'); \
                 INSERT INTO outgoing_failures (sync_id, side, key, since_seq, error, attempts, \
                   first_at, last_at) VALUES ('s', 'a', 'A-2', 7, 'cannot send', 3, 1, 2); \
                 INSERT INTO outgoing_failures (sync_id, side, key, since_seq, error, attempts, \
                   first_at, last_at) VALUES ('s', 'a', 'A-3', 8, '', 0, 3, 3); \
                 INSERT INTO sync_cursors (sync_id, side, cursor) VALUES ('s', 'a', 9);",
            )
            .unwrap();
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_schema_1_store_is_upgraded_in_place_and_keeps_its_queue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        schema_1_store(&path);
        let store = SqliteStore::open_existing(&path).unwrap();
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        let errors = store.failures(&FailureQuery::default()).unwrap();
        let summary: Vec<(&str, i64, bool, &str)> = errors
            .iter()
            .map(|e| (e.id.as_str(), e.attempts, e.parked(), e.error.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("s:A-2:send", 3, false, "cannot send"),
                ("s:A-1:1", 2, false, "it failed")
            ]
        );
        let pending = store.pending_messages("s", Side::A, 0, 100).unwrap();
        assert_eq!(pending.len(), 1, "still waiting to be applied");
        assert_eq!(pending[0].due, crate::store::Due::Now, "due at once");
        let sends = store.held_sends("s", Side::A).unwrap();
        assert_eq!(
            (sends[0].since_seq, sends[0].tried_to),
            (7, 9),
            "tried up to the cursor"
        );
        let states: Vec<(&str, HeldSendState)> =
            sends.iter().map(|s| (s.key.as_str(), s.state)).collect();
        assert_eq!(
            states,
            [
                (
                    "A-2",
                    HeldSendState::Failing {
                        attempts: 3,
                        due: crate::store::Due::Now
                    }
                ),
                ("A-3", HeldSendState::Skipped)
            ]
        );
        drop(store);
        SqliteStore::open_existing(&path).expect("opening again changes nothing");
        assert_eq!(user_version(&path), SCHEMA_VERSION);
    }

    #[test]
    fn a_store_from_a_newer_fieldsync_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        schema_1_store(&path);
        let newer = SCHEMA_VERSION + 1;
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {newer};"))
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let error = SqliteStore::open_existing(&path)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains("upgrade fieldsync"), "{error}");
        assert_eq!(user_version(&path), newer);
        assert!(
            std::fs::read(&path).unwrap() == before,
            "the file is untouched"
        );
    }
}
