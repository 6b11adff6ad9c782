//! Write groups: many small writes of a round (one message step each) in one SQLite
//! transaction, so that they cost one commit instead of one each.
//!
//! In a careful group each write is a savepoint: it is kept whole or undone whole, as
//! outside a group. A fast group has no savepoints (SQLite copies every page a write
//! touches into a savepoint's journal first: a sixth of a first sync): the first write
//! that fails spoils it, and ending it says so ([`StoreError::GroupUndone`]) so that the
//! caller does the work again in a careful group. Should SQLite roll the group's
//! transaction back by itself (a full disk, an I/O error), the group is spoilt too:
//! every later write fails, and ending it says nothing was stored.

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
    /// A write failed after SQLite had dropped the group's transaction, or a write
    /// of a fast group failed.
    spoilt: AtomicBool,
    /// The group is fast (set by its first begin).
    fast: AtomicBool,
    /// A write of the fast group failed.
    undone: AtomicBool,
}

/// Whether each write of a group is a savepoint of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupMode {
    /// Each write is kept or undone alone.
    Careful,
    /// No savepoints: a failing write spoils the group.
    Fast,
}

impl WriteGroup {
    pub(super) fn is_open(&self) -> bool {
        self.depth.load(Ordering::SeqCst) > 0
    }
}

impl SqliteStore {
    /// Starts a write group (or joins the one begun already, in its mode).
    pub(crate) fn open_group(&self, mode: GroupMode) -> Result<(), StoreError> {
        if self.damaged.load(Ordering::SeqCst) {
            return Err(super::environment::damaged_error(&self.location));
        }
        let connection = self.connection.lock();
        if !self.group.is_open() {
            self.created_in_group.lock().take();
            connection
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|error| self.failed(error))?;
            self.group.spoilt.store(false, Ordering::SeqCst);
            self.group.undone.store(false, Ordering::SeqCst);
            self.group
                .fast
                .store(mode == GroupMode::Fast, Ordering::SeqCst);
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
        self.created_in_group.lock().take();
        if self.group.spoilt.swap(false, Ordering::SeqCst) {
            let undone = self.group.undone.swap(false, Ordering::SeqCst);
            if !connection.is_autocommit() {
                connection
                    .execute_batch("ROLLBACK")
                    .map_err(|error| self.failed(error))?;
            }
            return match (commit, undone) {
                (false, _) => Ok(()),
                (true, true) => Err(StoreError::GroupUndone {
                    store: self.location.clone(),
                }),
                (true, false) => Err(self.spoilt_error()),
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
        if self.group.fast.load(Ordering::SeqCst) {
            return work(connection).inspect_err(|_| {
                // What the write did before it failed cannot be undone alone.
                self.group.undone.store(true, Ordering::SeqCst);
                self.group.spoilt.store(true, Ordering::SeqCst);
            });
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
        store.open_group(GroupMode::Careful).unwrap();
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
    fn a_fast_group_stores_nothing_once_a_write_failed_and_ends_saying_to_do_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.open_group(GroupMode::Fast).unwrap();
        store.put_user(&user("ada")).unwrap();
        let failed = refused(&store).unwrap_err();
        assert_eq!(failed.to_string(), format!("{}: refused", path.display()));
        assert!(store.put_user(&user("bo")).is_err(), "the group is spoilt");
        let end = store.end_group(true).unwrap_err();
        assert!(matches!(end, StoreError::GroupUndone { .. }), "{end}");
        assert!(
            users(&path).is_empty(),
            "not even the write before the failure"
        );

        // Done again in a careful group, only the failing write is left out.
        store.open_group(GroupMode::Careful).unwrap();
        store.put_user(&user("ada")).unwrap();
        assert!(refused(&store).is_err());
        store.put_user(&user("bo")).unwrap();
        store.end_group(true).unwrap();
        assert_eq!(users(&path), ["ada", "bo"]);

        // A fast group without failures commits like any other.
        store.open_group(GroupMode::Fast).unwrap();
        store.put_user(&user("cy")).unwrap();
        store.end_group(true).unwrap();
        assert_eq!(users(&path), ["ada", "bo", "cy"]);
    }

    #[test]
    fn a_group_begun_twice_commits_at_the_last_end_and_a_drop_by_either_drops_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.open_group(GroupMode::Careful).unwrap();
        store.open_group(GroupMode::Careful).unwrap();
        store.put_user(&user("ada")).unwrap();
        store.end_group(true).unwrap();
        assert!(users(&path).is_empty(), "the outer group still runs");
        store.end_group(true).unwrap();
        assert_eq!(users(&path), ["ada"]);

        store.open_group(GroupMode::Careful).unwrap();
        store.open_group(GroupMode::Careful).unwrap();
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
        store.open_group(GroupMode::Careful).unwrap();
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
