//! Writing history rows: the changes of one write, through one prepared insert.
//!
//! (Several rows per statement were tried: no faster, SQLite's cost is per row.)

use rusqlite::{params, Connection};
use serde_json::Value;

use super::SqliteStore;
use crate::model::{HistoryEntry, Timestamp};
use crate::store::StoreError;

/// One change of a field: its value before and after.
pub(super) struct Change<'a> {
    pub field: &'a str,
    pub old: &'a Value,
    pub new: &'a Value,
}

impl SqliteStore {
    /// Records `changes` of `key`, made at `time` by `author`, in their order; returns
    /// them as history entries with their positions.
    pub(super) fn record_changes(
        &self,
        tx: &Connection,
        key: &str,
        time: Timestamp,
        author: &str,
        changes: &[Change<'_>],
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO history (issue_key, time, author, field, old, new) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(self.err())?;
        let mut entries = Vec::with_capacity(changes.len());
        for change in changes {
            let text = |value: &Value| {
                serde_json::to_string(value)
                    .map_err(|error| self.invalid(format!("{key}: {error}")))
            };
            insert
                .execute(params![
                    key,
                    time.0,
                    author,
                    change.field,
                    text(change.old)?,
                    text(change.new)?
                ])
                .map_err(self.err())?;
            entries.push(HistoryEntry {
                // `seq` is the rowid, which the connection reports after a plain insert
                // (a RETURNING clause makes SQLite run the insert as a query).
                seq: tx.last_insert_rowid(),
                issue_key: key.to_owned(),
                time,
                author: author.to_owned(),
                field: change.field.to_owned(),
                old: change.old.clone(),
                new: change.new.clone(),
            });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(store: &SqliteStore) -> Vec<(i64, String, String, String)> {
        let connection = store.connection.lock();
        let mut stmt = connection
            .prepare("SELECT seq, field, old, new FROM history ORDER BY seq")
            .unwrap();
        stmt.query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn a_damaged_value_in_the_history_is_an_error_naming_the_entry_and_issue() {
        use crate::store::Tracker;
        let store = SqliteStore::in_memory().unwrap();
        let seq: i64 = {
            let connection = store.connection.lock();
            connection
                .execute(
                    "INSERT INTO history (issue_key, time, author, field, old, new) \
                     VALUES ('A-1', 1, 'alice', 'title', 'null', '\"fine\"'), \
                            ('A-1', 2, 'alice', 'title', '\"fine\"', '{broken')",
                    [],
                )
                .unwrap();
            connection.last_insert_rowid()
        };
        let error = store.history_since("A-1", 0).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        let said = error.to_string();
        assert!(
            said.contains(&format!("history entry {seq} of `A-1`")),
            "{said}"
        );
        let read = store.history_since("A-1", seq - 2).unwrap_err();
        assert_eq!(
            read.to_string(),
            said,
            "the same entry, read from before it"
        );
        assert_eq!(store.history_since("A-1", seq).unwrap(), vec![]);
    }

    #[test]
    fn changes_are_stored_in_order_with_the_positions_they_are_reported_with() {
        let store = SqliteStore::in_memory().unwrap();
        let olds: Vec<Value> = (0..40).map(|n| json!(n)).collect();
        let news: Vec<Value> = (0..40).map(|n| json!(format!("v\"{n}"))).collect();
        let fields: Vec<String> = (0..40).map(|n| format!("f{n}")).collect();
        for count in [1, 3, 40] {
            let changes: Vec<Change<'_>> = (0..count)
                .map(|n| Change {
                    field: &fields[n],
                    old: &olds[n],
                    new: &news[n],
                })
                .collect();
            let before = stored(&store).len();
            let entries = store
                .write(|tx| store.record_changes(tx, "A-1", Timestamp(7), "alice", &changes))
                .unwrap();
            let rows = stored(&store);
            assert_eq!(rows.len(), before + count);
            assert_eq!(entries.len(), count);
            for (entry, row) in entries.iter().zip(&rows[before..]) {
                assert_eq!(entry.seq, row.0);
                assert_eq!(entry.field, row.1);
                assert_eq!(serde_json::to_string(&entry.old).unwrap(), row.2);
                assert_eq!(serde_json::to_string(&entry.new).unwrap(), row.3);
                assert_eq!(
                    (entry.issue_key.as_str(), entry.author.as_str()),
                    ("A-1", "alice")
                );
            }
            let expected: Vec<String> = fields[..count].to_vec();
            let written: Vec<String> = entries.iter().map(|e| e.field.clone()).collect();
            assert_eq!(written, expected);
        }
    }
}
