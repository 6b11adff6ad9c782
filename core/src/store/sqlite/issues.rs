//! The tracker half of [`SqliteStore`]: projects, users, issues and their history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fieldsync_plugin_api::canonical;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::super::{ApplyStep, ChangeScan, ChangedIssue, StoreError, Tracker, TrackerCursor};
use super::history::Change;
use super::*;
use crate::model::{HistoryEntry, Issue, NewIssue, ProjectDef, Timestamp, User};

impl SqliteStore {
    /// The newest history position of the store (0 when empty).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.query_row("SELECT coalesce(max(seq), 0) FROM history", [], |row| {
                row.get(0)
            })
        })
    }
    /// Declares a project; refused when the declaration has problems or the key is taken.
    pub fn add_project(&self, project: &ProjectDef) -> Result<(), StoreError> {
        let problems = project.problems();
        if !problems.is_empty() {
            return Err(self.invalid(format!(
                "project `{}`: {}",
                project.key,
                problems.join("; ")
            )));
        }
        let definition = serde_json::to_string(project)
            .map_err(|error| self.invalid(format!("project `{}`: {error}", project.key)))?;
        self.write(|tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO projects (key, definition) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![project.key, definition],
                )
                .map_err(self.err())?;
            if inserted == 0 {
                return Err(self.invalid(format!("project `{}` already exists", project.key)));
            }
            Ok(())
        })
    }
    /// Adds or replaces a user.
    pub fn put_user(&self, user: &User) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO users (username, email, display_name) VALUES (?1, ?2, ?3)",
                params![user.username, user.email, user.display_name],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }
    /// The project's definition, parsed once (every issue written reads it). A
    /// definition never changes once added (`add_project` refuses a taken key, and
    /// nothing updates one), so the first read holds for the store's life.
    pub(super) fn project_in(
        &self,
        tx: &Connection,
        key: &str,
    ) -> Result<Arc<ProjectDef>, StoreError> {
        if let Some(project) = self.projects.lock().get(key) {
            return Ok(Arc::clone(project));
        }
        let text: Option<String> = tx
            .prepare_cached("SELECT definition FROM projects WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
            .map_err(self.err())?;
        let text = text.ok_or_else(|| StoreError::NotFound {
            store: self.location.clone(),
            what: format!("project `{key}`"),
        })?;
        let project: Arc<ProjectDef> = Arc::new(
            serde_json::from_str(&text)
                .map_err(|error| self.corrupt(format!("project `{key}`: {error}")))?,
        );
        self.projects
            .lock()
            .insert(key.to_owned(), Arc::clone(&project));
        Ok(project)
    }
    pub(super) fn issue_in(&self, tx: &Connection, key: &str) -> Result<Option<Issue>, StoreError> {
        let row = tx
            .prepare_cached(
                "SELECT key, project, issue_type, fields, created, updated FROM issues WHERE key = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([key], raw_issue).optional())
            .map_err(self.err())?;
        row.map(|raw| self.decode_issue(raw)).transpose()
    }
    pub(super) fn decode_issue(&self, raw: RawIssue) -> Result<Issue, StoreError> {
        let fields = serde_json::from_str(&raw.fields)
            .map_err(|error| self.corrupt(format!("issue `{}` fields: {error}", raw.key)))?;
        Ok(Issue {
            key: raw.key,
            project: raw.project,
            issue_type: raw.issue_type,
            fields,
            created: Timestamp(raw.created),
            updated: Timestamp(raw.updated),
        })
    }
    /// Inserts an issue with its creation history; checks type and values. Hands back
    /// the project's definition too, for an edit that follows in the same transaction.
    pub(super) fn create_in(
        &self,
        tx: &Connection,
        issue: NewIssue,
        author: &str,
    ) -> Result<(Issue, Vec<HistoryEntry>, Arc<ProjectDef>), StoreError> {
        let project = self.project_in(tx, &issue.project)?;
        if !project.issue_types.contains(&issue.issue_type) {
            return Err(self.invalid(format!(
                "project {} has no issue type `{}` (types: {})",
                project.key,
                issue.issue_type,
                project.issue_types.join(", ")
            )));
        }
        let screen = project.create_screen(&issue.issue_type);
        for (field, value) in &issue.fields {
            project
                .check_value(field, value)
                .map_err(|message| self.invalid(message))?;
            if !value.is_null() && !screen.contains(field) {
                return Err(self.invalid(format!(
                    "field `{field}` is not on the create screen of {} {} issues ({}): \
                     set it once the issue exists",
                    project.key,
                    issue.issue_type,
                    screen.join(", ")
                )));
            }
        }
        let number: i64 = tx
            .prepare_cached(
                "UPDATE projects SET next_number = next_number + 1 WHERE key = ?1 \
                 RETURNING next_number - 1",
            )
            .and_then(|mut stmt| stmt.query_row([&issue.project], |row| row.get(0)))
            .map_err(self.err())?;
        let key = format!("{}-{number}", issue.project);
        let now = Timestamp::now();
        let NewIssue {
            project: project_key,
            issue_type,
            mut fields,
        } = issue;
        fields.retain(|_, value| !value.is_null());
        // Creation itself is history, so an issue created without any field value
        // is still seen as changed.
        let type_value = Value::String(issue_type.clone());
        let mut created = vec![Change {
            field: CREATED_FIELD,
            old: &Value::Null,
            new: &type_value,
        }];
        created.extend(fields.iter().map(|(field, value)| Change {
            field,
            old: &Value::Null,
            new: value,
        }));
        let changes = self.record_changes(tx, &key, now, author, &created)?;
        tx.prepare_cached(
            "INSERT INTO issues (key, project, number, issue_type, fields, created, updated) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                key,
                project_key,
                number,
                issue_type,
                to_json(&fields),
                now.0
            ])
        })
        .map_err(self.err())?;
        let issue = Issue {
            key,
            project: project_key,
            issue_type,
            fields,
            created: now,
            updated: now,
        };
        Ok((issue, changes, project))
    }
    /// Writes the values that differ, each recorded in the history.
    pub(super) fn update_in(
        &self,
        tx: &Connection,
        key: &str,
        changes: &BTreeMap<String, Value>,
        author: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut issue = self
            .issue_in(tx, key)?
            .ok_or_else(|| StoreError::NotFound {
                store: self.location.clone(),
                what: format!("issue `{key}`"),
            })?;
        let project = self.project_in(tx, &issue.project)?;
        self.update_read_in(tx, &mut issue, &project, changes, author)
    }
    /// [`update_in`](Self::update_in) on the issue as this transaction has it, read
    /// already (or just written by it).
    pub(super) fn update_read_in(
        &self,
        tx: &Connection,
        issue: &mut Issue,
        project: &ProjectDef,
        changes: &BTreeMap<String, Value>,
        author: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let key = issue.key.clone();
        let key = key.as_str();
        for (field, value) in changes {
            project
                .check_value(field, value)
                .map_err(|message| self.invalid(format!("{key}: {message}")))?;
        }
        let now = Timestamp::now();
        let differing: Vec<Change<'_>> = changes
            .iter()
            .map(|(field, value)| Change {
                field,
                old: issue.value(field),
                new: value,
            })
            .filter(|change| !crate::model::same_value(change.old, change.new))
            .collect();
        let recorded = self.record_changes(tx, key, now, author, &differing)?;
        for entry in &recorded {
            if entry.new.is_null() {
                issue.fields.remove(&entry.field);
            } else {
                issue.fields.insert(entry.field.clone(), entry.new.clone());
            }
        }
        if !recorded.is_empty() {
            tx.prepare_cached("UPDATE issues SET fields = ?2, updated = ?3 WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute(params![key, to_json(&issue.fields), now.0]))
                .map_err(self.err())?;
            issue.updated = now;
        }
        Ok(recorded)
    }
    /// When someone other than `author` last changed `field` of `key` after
    /// history position `after`.
    /// When the newest change of `field` after position `after` that competes with
    /// `step`'s write was made: by a person (anyone but the sync user, unless the
    /// record says another synchronization wrote it), or passed on by another
    /// synchronization (then the time it was first made). The step's own
    /// synchronization's writes never compete.
    pub(super) fn last_change_by_others(
        &self,
        tx: &Connection,
        key: &str,
        field: &str,
        step: &ApplyStep<'_>,
        after: i64,
    ) -> Result<Option<Timestamp>, StoreError> {
        tx.prepare_cached(
            "SELECT coalesce(w.origin_at, h.time) FROM history h \
             LEFT JOIN written w ON w.key = h.issue_key AND w.seq = h.seq AND w.field = h.field \
             WHERE h.issue_key = ?1 AND h.field = ?2 AND h.seq > ?4 \
               AND ((w.sync_id IS NULL AND h.author <> ?3) \
                    OR (w.sync_id IS NOT NULL AND w.sync_id <> ?5)) \
             ORDER BY h.seq DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![key, field, step.author, after, step.sync_id],
                |row| row.get(0),
            )
            .optional()
        })
        .map(|time| time.map(Timestamp))
        .map_err(self.err())
    }
}

impl Tracker for SqliteStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn project(&self, key: &str) -> Result<ProjectDef, StoreError> {
        let connection = self.connection.lock();
        self.project_in(&connection, key)
            .map(|project| ProjectDef::clone(&project))
    }

    fn projects(&self) -> Result<Vec<ProjectDef>, StoreError> {
        let texts: Vec<(String, String)> = self.read(|c| {
            c.prepare("SELECT key, definition FROM projects ORDER BY key")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })?;
        texts
            .into_iter()
            .map(|(key, text)| {
                serde_json::from_str(&text)
                    .map_err(|error| self.corrupt(format!("project `{key}`: {error}")))
            })
            .collect()
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            c.prepare("SELECT username, email, display_name FROM users ORDER BY username")?
                .query_map([], |row| {
                    Ok(User {
                        username: row.get(0)?,
                        email: row.get(1)?,
                        display_name: row.get(2)?,
                    })
                })?
                .collect()
        })
    }

    fn scan_changes(
        &self,
        project: &str,
        cursor: &TrackerCursor,
        except_author: &str,
    ) -> Result<ChangeScan, StoreError> {
        let after = position_of(cursor).map_err(|message| self.corrupt(message))?;
        self.read(|c| {
            // Read before the scan: history up to here is handled this round, later
            // edits wait for the next one.
            let upper: i64 =
                c.query_row("SELECT coalesce(max(seq), 0) FROM history", [], |row| {
                    row.get(0)
                })?;
            // History after the cursor, by position: an idle scan costs one index probe
            // however large the project. An issue's key is its project's key, a dash
            // and its number (`create_in`), so the project is told by the key's prefix
            // (between "<project>-" and "<project>.", the next character) instead of
            // a look-up of the issue per history row. (The `+` keeps SQLite from taking
            // the key range for an index range: the position range is the narrow one.
            // The author goes first: after a first sync most rows are the sync's own.)
            let mut last_change: HashMap<String, i64> = HashMap::new();
            let mut stmt = c.prepare_cached(
                "SELECT issue_key, seq FROM history \
                 WHERE seq > ?2 AND author <> ?3 AND +issue_key > ?1 AND +issue_key < ?4 \
                 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![
                format!("{project}-"),
                after,
                except_author,
                format!("{project}.")
            ])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(1)?;
                let key = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                match last_change.get_mut(key) {
                    Some(last) => *last = seq,
                    None => {
                        last_change.insert(key.to_owned(), seq);
                    }
                }
            }
            let mut changed: Vec<(String, i64)> = last_change.into_iter().collect();
            changed.sort_by_key(|(_, last)| *last);
            let issues = changed
                .into_iter()
                .map(|(key, _)| ChangedIssue { key })
                .collect();
            Ok(ChangeScan {
                issues,
                history_after: Some(after),
                history_upper: upper,
                next: TrackerCursor(upper.max(after).to_string()),
            })
        })
    }

    fn history_since(&self, key: &str, after_seq: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows: Vec<HistoryRow> = self.read(|c| {
            c.prepare_cached(
                "SELECT seq, time, author, field, old, new FROM history \
                 WHERE issue_key = ?1 AND seq > ?2 ORDER BY seq",
            )?
            .query_map(params![key, after_seq], history_row)?
            .collect()
        })?;
        rows.into_iter()
            .map(|row| {
                let seq = row.entry.seq;
                row.values
                    .map(|(old, new)| HistoryEntry {
                        issue_key: key.to_owned(),
                        old,
                        new,
                        ..row.entry
                    })
                    .map_err(|error| {
                        self.corrupt(format!("history entry {seq} of `{key}`: {error}"))
                    })
            })
            .collect()
    }

    fn get(&self, key: &str) -> Result<Option<Issue>, StoreError> {
        self.read_with(|connection| self.issue_in(connection, key))
    }

    fn issues(&self, project: &str) -> Result<Vec<Issue>, StoreError> {
        let raws: Vec<RawIssue> = self.read(|c| {
            c.prepare(
                "SELECT key, project, issue_type, fields, created, updated FROM issues \
                 WHERE project = ?1 ORDER BY number",
            )?
            .query_map([project], raw_issue)?
            .collect()
        })?;
        raws.into_iter().map(|raw| self.decode_issue(raw)).collect()
    }

    fn create(&self, issue: &NewIssue, author: &str) -> Result<Issue, StoreError> {
        self.write(|tx| Ok(self.create_in(tx, issue.clone(), author)?.0))
    }

    fn update(
        &self,
        key: &str,
        changes: &BTreeMap<String, Value>,
        author: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.write(|tx| self.update_in(tx, key, changes, author))
    }
}

pub(super) struct RawIssue {
    key: String,
    project: String,
    issue_type: String,
    fields: String,
    created: i64,
    updated: i64,
}

pub(super) fn raw_issue(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawIssue> {
    Ok(RawIssue {
        key: row.get(0)?,
        project: row.get(1)?,
        issue_type: row.get(2)?,
        fields: row.get(3)?,
        created: row.get(4)?,
        updated: row.get(5)?,
    })
}

pub(super) fn to_json(fields: &BTreeMap<String, Value>) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(fields).unwrap_or_else(|_| "{}".to_owned())
}

/// The SQLite model's cursor: the history position handled so far (empty: 0).
fn position_of(cursor: &TrackerCursor) -> Result<i64, String> {
    if cursor.0.is_empty() {
        return Ok(0);
    }
    cursor
        .0
        .parse()
        .map_err(|_| format!("sync cursor `{}` is not a history position", cursor.0))
}

/// A history row as read: its values parsed straight from the row's text (most are
/// plain strings, numbers or null, read without serde), or why they cannot be, for the
/// caller to name the entry.
struct HistoryRow {
    /// Without the issue key and values, filled in by the caller.
    entry: HistoryEntry,
    values: Result<(Value, Value), String>,
}

fn history_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRow> {
    let value = |index: usize| -> rusqlite::Result<Result<Value, String>> {
        let text = row.get_ref(index)?.as_str()?;
        Ok(canonical::read_value(text).map_err(|error| error.to_string()))
    };
    let values = match (value(4)?, value(5)?) {
        (Ok(old), Ok(new)) => Ok((old, new)),
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    Ok(HistoryRow {
        entry: HistoryEntry {
            seq: row.get(0)?,
            issue_key: String::new(),
            time: Timestamp(row.get(1)?),
            author: row.get(2)?,
            field: row.get(3)?,
            old: Value::Null,
            new: Value::Null,
        },
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scan_finds_the_changed_issues_of_its_project_only() {
        let store = SqliteStore::in_memory().unwrap();
        for key in ["A", "AB", "B"] {
            let project: ProjectDef = serde_json::from_value(json!({
                "key": key, "issue_types": ["Task"],
                "fields": [{"id": "title", "type": "text"}], "create_screen": ["title"]
            }))
            .unwrap();
            store.add_project(&project).unwrap();
        }
        let create = |project: &str| {
            let issue = NewIssue {
                project: project.to_owned(),
                issue_type: "Task".to_owned(),
                fields: BTreeMap::from([("title".to_owned(), json!("t"))]),
            };
            store.create(&issue, "alice").unwrap().key
        };
        let keys: Vec<String> = ["AB", "A", "B", "A", "AB"].map(create).to_vec();
        let edit = |key: &str, author: &str| {
            let changes = BTreeMap::from([("title".to_owned(), json!(format!("by {author}")))]);
            store.update(key, &changes, author).unwrap();
        };
        let start = TrackerCursor(String::new());
        let scanned = |cursor: &TrackerCursor, except: &str| -> Vec<String> {
            let scan = store.scan_changes("A", cursor, except).unwrap();
            scan.issues.into_iter().map(|issue| issue.key).collect()
        };
        assert_eq!(scanned(&start, "sync"), vec!["A-1", "A-2"]);
        let cursor = store.scan_changes("A", &start, "sync").unwrap().next;
        assert_eq!(scanned(&cursor, "sync"), Vec::<String>::new());
        edit(&keys[0], "bob"); // AB-1
        edit(&keys[3], "sync"); // A-2, by the sync user
        edit(&keys[1], "bob");
        assert_eq!(scanned(&cursor, "sync"), vec!["A-1"]);
        assert_eq!(scanned(&cursor, ""), vec!["A-2", "A-1"]);
    }
}
