//! Write groups: many small writes of a round (one message step each) in one SQLite
//! transaction, so that they cost one commit instead of one each.
//!
//! Each write inside a group is a savepoint: it is kept whole or undone whole, as
//! outside a group. Should SQLite roll the group's transaction back by itself (a full
//! disk, an I/O error), the group is spoilt: every later write fails, and ending it
//! says nothing was stored.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rusqlite::Connection;

use super::super::StoreError;
use super::SqliteStore;

/// The state of a store's write group; changed only under the connection's lock.
#[derive(Debug, Default)]
pub(super) struct WriteGroup {
    /// Groups begun and not ended (a store serving both sides of a synchronization is
    /// asked for a group by each).
    depth: AtomicUsize,
    /// A write failed after SQLite had dropped the group's transaction.
    spoilt: AtomicBool,
}

impl WriteGroup {
    pub(super) fn is_open(&self) -> bool {
        self.depth.load(Ordering::SeqCst) > 0
    }
}

impl SqliteStore {
    /// Starts a write group (or joins the one begun already).
    pub(crate) fn begin_group(&self) -> Result<(), StoreError> {
        if self.damaged.load(Ordering::SeqCst) {
            return Err(super::environment::damaged_error(&self.location));
        }
        let connection = self.connection.lock();
        if !self.group.is_open() {
            connection
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|error| self.failed(error))?;
            self.group.spoilt.store(false, Ordering::SeqCst);
        }
        self.group.depth.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Ends a write group: the last to end commits (or drops everything when asked to
    /// by any, or when the group was spoilt; an error then says nothing was stored).
    pub(crate) fn end_group(&self, commit: bool) -> Result<(), StoreError> {
        let connection = self.connection.lock();
        if !self.group.is_open() {
            return Ok(());
        }
        if !commit {
            self.group.spoilt.store(true, Ordering::SeqCst);
        }
        if self.group.depth.fetch_sub(1, Ordering::SeqCst) > 1 {
            return Ok(());
        }
        if self.group.spoilt.swap(false, Ordering::SeqCst) {
            if !connection.is_autocommit() {
                connection
                    .execute_batch("ROLLBACK")
                    .map_err(|error| self.failed(error))?;
            }
            return if commit {
                Err(self.spoilt_error())
            } else {
                Ok(())
            };
        }
        connection.execute_batch("COMMIT").map_err(|error| {
            let error = self.failed(error);
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            error
        })
    }

    /// One write of a group, in a savepoint of its own.
    pub(super) fn write_in_group<T>(
        &self,
        connection: &Connection,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.group.spoilt.load(Ordering::SeqCst) {
            return Err(self.spoilt_error());
        }
        connection
            .prepare_cached("SAVEPOINT fieldsync_write")
            .and_then(|mut stmt| stmt.execute([]))
            .map_err(|error| self.spoil(error))?;
        match work(connection) {
            Ok(result) => {
                connection
                    .prepare_cached("RELEASE fieldsync_write")
                    .and_then(|mut stmt| stmt.execute([]))
                    .map_err(|error| self.spoil(error))?;
                Ok(result)
            }
            Err(error) => {
                // SQLite may have dropped the whole transaction (SQLITE_FULL, I/O):
                // then the group's earlier writes are gone too.
                let undone = !connection.is_autocommit()
                    && connection
                        .execute_batch("ROLLBACK TO fieldsync_write; RELEASE fieldsync_write")
                        .is_ok();
                if !undone {
                    self.group.spoilt.store(true, Ordering::SeqCst);
                }
                Err(error)
            }
        }
    }

    /// A savepoint that cannot be made or released leaves the group's state unknown.
    fn spoil(&self, error: rusqlite::Error) -> StoreError {
        self.group.spoilt.store(true, Ordering::SeqCst);
        self.failed(error)
    }

    fn spoilt_error(&self) -> StoreError {
        StoreError::Unavailable {
            store: self.location.clone(),
            message: "a write of this round failed and SQLite dropped the round's \
                      transaction: nothing of it was stored; it is done again next round"
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::User;

    fn user(name: &str) -> User {
        User {
            username: name.to_owned(),
            email: String::new(),
            display_name: String::new(),
        }
    }

    fn users(path: &std::path::Path) -> Vec<String> {
        let connection = Connection::open(path).unwrap();
        let mut stmt = connection
            .prepare("SELECT username FROM users ORDER BY username")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn refused(store: &SqliteStore) -> Result<(), StoreError> {
        store.write(|c| {
            c.execute("INSERT INTO users (username) VALUES ('half-done')", [])
                .map_err(store.err())?;
            Err(store.invalid("refused"))
        })
    }

    #[test]
    fn a_group_commits_its_writes_at_its_end_and_a_failed_write_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.begin_group().unwrap();
        store.put_user(&user("ada")).unwrap();
        assert!(refused(&store).is_err());
        store.put_user(&user("bo")).unwrap();
        assert!(users(&path).is_empty(), "nothing is visible before the end");
        store.end_group(true).unwrap();
        assert_eq!(users(&path), ["ada", "bo"]);
        // Outside a group every write commits by itself again.
        store.put_user(&user("cy")).unwrap();
        assert_eq!(users(&path).len(), 3);
    }

    #[test]
    fn a_group_begun_twice_commits_at_the_last_end_and_a_drop_by_either_drops_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.begin_group().unwrap();
        store.begin_group().unwrap();
        store.put_user(&user("ada")).unwrap();
        store.end_group(true).unwrap();
        assert!(users(&path).is_empty(), "the outer group still runs");
        store.end_group(true).unwrap();
        assert_eq!(users(&path), ["ada"]);

        store.begin_group().unwrap();
        store.begin_group().unwrap();
        store.put_user(&user("bo")).unwrap();
        store.end_group(false).unwrap();
        store
            .end_group(true)
            .expect_err("dropped by the inner end: not stored");
        assert_eq!(users(&path), ["ada"]);
    }

    #[test]
    fn a_group_whose_transaction_sqlite_dropped_stores_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.begin_group().unwrap();
        store.put_user(&user("ada")).unwrap();
        // As SQLite does on some I/O errors: the whole transaction is rolled back.
        let lost = store.write(|c| {
            c.execute_batch("ROLLBACK").map_err(store.err())?;
            Err::<(), _>(store.invalid("disk I/O error"))
        });
        assert!(lost.is_err());
        let later = store.put_user(&user("bo")).unwrap_err();
        assert!(later.is_unavailable(), "{later}");
        let end = store.end_group(true).unwrap_err();
        assert!(
            end.to_string().contains("nothing of it was stored"),
            "{end}"
        );
        assert!(users(&path).is_empty());
        // The store works again afterwards.
        store.put_user(&user("cy")).unwrap();
        assert_eq!(users(&path), ["cy"]);
    }
}
