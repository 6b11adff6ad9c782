//! Read connections for read sessions: between `begin_session` and `end_session`,
//! reads outside a write group go through connections of their own, so that threads
//! building messages read side by side instead of queueing for the store's one
//! connection (SQLite in WAL mode lets any number of readers work beside the
//! writer). Each keeps the read transaction its first read began until the session
//! ends: SQLite then takes its locks and checks for newer commits once, not for
//! every statement (a fifth of the reads of a chunk of messages), and the reads of a
//! thread see one state of the store.
//!
//! Outside sessions, and inside a write group (whose writes only the writing
//! connection sees before the commit), reads go through the writing connection: a
//! small round opens no other.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

/// Idle read connections of a store file, opened when first needed.
#[derive(Default)]
pub(super) struct Readers {
    /// The file; `None` for a store with one connection only (in memory, or opened
    /// read-only).
    path: Option<PathBuf>,
    idle: Mutex<Vec<Connection>>,
    /// Opening one failed (a folder the process may not write to, say): the writing
    /// connection reads, as it always can.
    unavailable: AtomicBool,
    /// Read sessions begun and not ended.
    sessions: AtomicUsize,
}

/// Idle connections kept at most; more threads reading at once open more and close
/// them after.
const KEPT: usize = 4;

impl Readers {
    pub(super) fn of_file(path: &Path) -> Self {
        Readers {
            path: Some(path.to_owned()),
            ..Readers::default()
        }
    }

    /// An idle connection, or a new one, while a session is on; `None` when the
    /// store has none to give.
    pub(super) fn take(&self) -> Option<Connection> {
        let path = self.path.as_ref()?;
        if self.sessions.load(Ordering::SeqCst) == 0 || self.unavailable.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(connection) = self.idle.lock().pop() {
            return Some(connection);
        }
        match open(path) {
            Ok(connection) => Some(connection),
            Err(error) => {
                log::debug!(
                    "{}: no read connection ({error}); reading through the writing one",
                    path.display()
                );
                self.unavailable.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps `connection`'s read transaction open until the session ends (begun by
    /// its next statement), when a session is on.
    pub(super) fn hold_snapshot(&self, connection: &Connection) -> rusqlite::Result<()> {
        if self.sessions.load(Ordering::SeqCst) > 0 && connection.is_autocommit() {
            connection.execute_batch("BEGIN DEFERRED")?;
        }
        Ok(())
    }

    pub(super) fn give_back(&self, connection: Connection) {
        // Outside a session no read transaction stays open: the next read must see
        // every commit made before it. Checked under the lock `end_session` ends the
        // idle connections' transactions under, so that none is put back with its
        // transaction open just after that.
        let mut idle = self.idle.lock();
        if self.sessions.load(Ordering::SeqCst) == 0 && !end_snapshot(&connection) {
            return;
        }
        if idle.len() < KEPT {
            idle.push(connection);
        }
    }

    pub(super) fn begin_session(&self) {
        self.sessions.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends a session, once its reads are done; the last to end ends the idle
    /// connections' read transactions.
    pub(super) fn end_session(&self) {
        let mut idle = self.idle.lock();
        if self.sessions.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        idle.retain(end_snapshot);
    }
}

/// Ends the connection's read transaction, if any; false when that failed (the
/// connection is then dropped rather than kept with a snapshot open).
fn end_snapshot(connection: &Connection) -> bool {
    connection.is_autocommit() || connection.execute_batch("COMMIT").is_ok()
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // As on the writing connection (see `open.rs`): one plan per statement.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.set_prepared_statement_cache_capacity(super::open::STATEMENT_CACHE);
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde_json::json;

    use super::super::SqliteStore;
    use crate::model::{NewIssue, ProjectDef};
    use crate::store::{SyncLedger, Tracker};

    fn store_with_issue(dir: &Path) -> (SqliteStore, String) {
        let store = SqliteStore::open(dir.join("s.db")).unwrap();
        let project: ProjectDef = serde_json::from_value(json!({
            "key": "A", "issue_types": ["Task"], "fields": [{"id": "title", "type": "text"}],
            "create_screen": ["title"]
        }))
        .unwrap();
        store.add_project(&project).unwrap();
        let issue = store
            .create(
                &NewIssue {
                    project: "A".into(),
                    issue_type: "Task".into(),
                    fields: BTreeMap::from([("title".to_owned(), json!("one"))]),
                },
                "alice",
            )
            .unwrap();
        (store, issue.key)
    }

    fn title(store: &SqliteStore, key: &str) -> serde_json::Value {
        store.get(key).unwrap().unwrap().value("title").clone()
    }

    /// Another process's edit, committed.
    fn edit_elsewhere(dir: &Path, key: &str, value: &str) {
        let other = SqliteStore::open_existing(dir.join("s.db")).unwrap();
        let changes = BTreeMap::from([("title".to_owned(), json!(value))]);
        other.update(key, &changes, "bob").unwrap();
    }

    #[test]
    fn reads_see_every_commit_made_before_them_outside_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key) = store_with_issue(dir.path());
        assert_eq!(title(&store, &key), json!("one"));
        edit_elsewhere(dir.path(), &key, "two");
        assert_eq!(title(&store, &key), json!("two"));
        let changes = BTreeMap::from([("title".to_owned(), json!("three"))]);
        store.update(&key, &changes, "alice").unwrap();
        assert_eq!(title(&store, &key), json!("three"));
    }

    #[test]
    fn a_read_session_keeps_one_state_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key) = store_with_issue(dir.path());
        store.begin_reads();
        assert_eq!(title(&store, &key), json!("one"));
        edit_elsewhere(dir.path(), &key, "two");
        assert_eq!(title(&store, &key), json!("one"), "the session's state");
        store.end_reads();
        assert_eq!(title(&store, &key), json!("two"));
        assert_eq!(store.history_since(&key, 0).unwrap().len(), 3);
    }

    #[test]
    fn reads_inside_a_write_group_see_its_writes_before_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (store, key) = store_with_issue(dir.path());
        assert_eq!(title(&store, &key), json!("one"));
        store.begin_group().unwrap();
        let changes = BTreeMap::from([("title".to_owned(), json!("grouped"))]);
        store.update(&key, &changes, "alice").unwrap();
        assert_eq!(title(&store, &key), json!("grouped"));
        store.end_group(false).unwrap();
        assert_eq!(title(&store, &key), json!("one"), "dropped with the group");
    }
}
