//! [`SqliteStore`]: issues and sync state in one SQLite file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;

use super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA, SCHEMA_VERSION};
use super::{
    AppliedStep, ApplyStep, ApplyTarget, AtomicApply, ChangeScan, ChangedIssue, ErrorQuery,
    ErrorRecord, Failure, IssueSyncState, OutgoingBatch, OutgoingFailure, PendingMessage,
    QueueCounts, ResyncRequest, RoundRecord, RunningSlowCalls, SkippedError, SlowCall, StoreError,
    SyncLedger, Tracker, TrackerCursor,
};
use crate::message::{IssueSyncMessage, Side};
use crate::model::{HistoryEntry, Issue, NewIssue, ProjectDef, Timestamp, User};

/// The pseudo-field whose history entry records an issue's creation (with its type).
/// (`=` cannot appear in a field id, so it never mixes with a real field's history.)
pub const CREATED_FIELD: &str = "=created";

mod failures;

/// A store in one SQLite file (WAL mode, so readers and a writer work side by side).
///
/// One connection behind a mutex: SQLite has a single writer anyway, and the engine
/// runs mapping calls — the slow part — outside the lock.
pub struct SqliteStore {
    location: String,
    connection: Mutex<Connection>,
}

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

    /// A store in memory, for tests and experiments.
    pub fn in_memory() -> Result<Self, StoreError> {
        let location = ":memory:".to_owned();
        let connection = Connection::open_in_memory().map_err(sqlite(&location))?;
        Self::prepare(location, connection)
    }

    fn open_with(path: &Path, create: bool) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        if !create && !path.is_file() {
            return Err(StoreError::NotFound {
                store: location,
                what: "store file".to_owned(),
            });
        }
        let connection = Connection::open(path).map_err(sqlite(&location))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(sqlite(&location))?;
        let store = Self::prepare(location, connection)?;
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
        }
        Ok(store)
    }

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

    fn prepare(location: String, connection: Connection) -> Result<Self, StoreError> {
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
        })
    }

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

    fn project_in(&self, tx: &Connection, key: &str) -> Result<ProjectDef, StoreError> {
        let text: Option<String> = tx
            .prepare_cached("SELECT definition FROM projects WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
            .map_err(self.err())?;
        let text = text.ok_or_else(|| StoreError::NotFound {
            store: self.location.clone(),
            what: format!("project `{key}`"),
        })?;
        serde_json::from_str(&text)
            .map_err(|error| self.corrupt(format!("project `{key}`: {error}")))
    }

    fn issue_in(&self, tx: &Connection, key: &str) -> Result<Option<Issue>, StoreError> {
        let row = tx
            .prepare_cached(
                "SELECT key, project, issue_type, fields, created, updated FROM issues WHERE key = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([key], raw_issue).optional())
            .map_err(self.err())?;
        row.map(|raw| self.decode_issue(raw)).transpose()
    }

    /// A message whose id is taken already (its issue's sync state was lost or
    /// restored from an older copy) gets the next free sequence number of its issue:
    /// refusing it would stop the whole outgoing queue of the side.
    fn renumber_if_taken(
        &self,
        tx: &Connection,
        message: &IssueSyncMessage,
    ) -> Result<Option<IssueSyncMessage>, StoreError> {
        let taken = tx
            .prepare_cached("SELECT 1 FROM outbox WHERE message_id = ?1")
            .and_then(|mut stmt| stmt.exists([&message.id]))
            .map_err(self.err())?;
        if !taken {
            return Ok(None);
        }
        let highest: i64 = tx
            .query_row(
                "SELECT max(seq) FROM outbox WHERE sync_id = ?1 AND source_key = ?2",
                params![message.sync_id, message.source_key],
                |row| row.get(0),
            )
            .map_err(self.err())?;
        let mut renumbered = message.clone();
        renumbered.seq = highest + 1;
        renumbered.id =
            IssueSyncMessage::make_id(&message.sync_id, &message.source_key, renumbered.seq);
        log::warn!(
            "{}: message id {} is taken already; sent as {}",
            self.location,
            message.id,
            renumbered.id
        );
        Ok(Some(renumbered))
    }

    fn decode_issue(&self, raw: RawIssue) -> Result<Issue, StoreError> {
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

    /// Inserts an issue with its creation history; checks type and values.
    fn create_in(
        &self,
        tx: &Transaction<'_>,
        issue: &NewIssue,
        author: &str,
    ) -> Result<(Issue, Vec<HistoryEntry>), StoreError> {
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
            .query_row(
                "UPDATE projects SET next_number = next_number + 1 WHERE key = ?1 \
                 RETURNING next_number - 1",
                [&issue.project],
                |row| row.get(0),
            )
            .map_err(self.err())?;
        let key = format!("{}-{number}", issue.project);
        let now = Timestamp::now();
        let fields: BTreeMap<String, Value> = issue
            .fields
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        // Creation itself is history, so an issue created without any field value
        // is still seen as changed.
        let mut changes = vec![self.record(
            tx,
            &key,
            now,
            author,
            CREATED_FIELD,
            &Value::Null,
            &Value::String(issue.issue_type.clone()),
        )?];
        for (field, value) in &fields {
            changes.push(self.record(tx, &key, now, author, field, &Value::Null, value)?);
        }
        tx.prepare_cached(
            "INSERT INTO issues (key, project, number, issue_type, fields, created, updated) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                key,
                issue.project,
                number,
                issue.issue_type,
                to_json(&fields),
                now.0
            ])
        })
        .map_err(self.err())?;
        let issue = Issue {
            key,
            project: issue.project.clone(),
            issue_type: issue.issue_type.clone(),
            fields,
            created: now,
            updated: now,
        };
        Ok((issue, changes))
    }

    /// Writes the values that differ, each recorded in the history.
    fn update_in(
        &self,
        tx: &Transaction<'_>,
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
        for (field, value) in changes {
            project
                .check_value(field, value)
                .map_err(|message| self.invalid(format!("{key}: {message}")))?;
        }
        let now = Timestamp::now();
        let mut recorded = Vec::new();
        for (field, value) in changes {
            let old = issue.value(field).clone();
            if &old == value {
                continue;
            }
            recorded.push(self.record(tx, key, now, author, field, &old, value)?);
            if value.is_null() {
                issue.fields.remove(field);
            } else {
                issue.fields.insert(field.clone(), value.clone());
            }
        }
        if !recorded.is_empty() {
            tx.prepare_cached("UPDATE issues SET fields = ?2, updated = ?3 WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute(params![key, to_json(&issue.fields), now.0]))
                .map_err(self.err())?;
        }
        Ok(recorded)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        time: Timestamp,
        author: &str,
        field: &str,
        old: &Value,
        new: &Value,
    ) -> Result<HistoryEntry, StoreError> {
        let seq = tx
            .prepare_cached(
                "INSERT INTO history (issue_key, time, author, field, old, new) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![key, time.0, author, field, old.to_string(), new.to_string()],
                    |row| row.get(0),
                )
            })
            .map_err(self.err())?;
        Ok(HistoryEntry {
            seq,
            issue_key: key.to_owned(),
            time,
            author: author.to_owned(),
            field: field.to_owned(),
            old: old.clone(),
            new: new.clone(),
        })
    }

    /// When someone other than `author` last changed `field` of `key` after
    /// history position `after`.
    fn last_change_by_others(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        field: &str,
        author: &str,
        after: i64,
    ) -> Result<Option<Timestamp>, StoreError> {
        tx.prepare_cached(
            "SELECT time FROM history WHERE issue_key = ?1 AND field = ?2 AND author <> ?3 \
             AND seq > ?4 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![key, field, author, after], |row| row.get(0))
                .optional()
        })
        .map(|time| time.map(Timestamp))
        .map_err(self.err())
    }

    fn upsert_state(
        &self,
        tx: &Transaction<'_>,
        sync_id: &str,
        key: &str,
        partner: Option<&str>,
        received_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO sync_issues (sync_id, key, partner, last_received_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (sync_id, key) DO UPDATE SET \
               partner = coalesce(excluded.partner, partner), \
               last_received_at = coalesce(excluded.last_received_at, last_received_at)",
        )
        .and_then(|mut stmt| stmt.execute(params![sync_id, key, partner, received_at.map(|t| t.0)]))
        .map_err(self.err())?;
        Ok(())
    }
}

struct RawIssue {
    key: String,
    project: String,
    issue_type: String,
    fields: String,
    created: i64,
    updated: i64,
}

/// Brings a store of schema `from` up to [`SCHEMA_VERSION`], one version per
/// transaction: a crash between two leaves a consistent older version behind, and a
/// second process opening the store at the same moment finds the work done.
fn migrate(connection: &Connection, location: &str, from: i64) -> Result<(), StoreError> {
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

fn raw_issue(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawIssue> {
    Ok(RawIssue {
        key: row.get(0)?,
        project: row.get(1)?,
        issue_type: row.get(2)?,
        fields: row.get(3)?,
        created: row.get(4)?,
        updated: row.get(5)?,
    })
}

fn to_json(fields: &BTreeMap<String, Value>) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(fields).unwrap_or_else(|_| "{}".to_owned())
}

fn sqlite(location: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        store: location.to_owned(),
        source,
    }
}

fn not_a_store(location: &str, error: rusqlite::Error) -> StoreError {
    StoreError::NotAStore {
        store: location.to_owned(),
        message: format!("cannot be read as a fieldsync store: {error}"),
    }
}

impl Tracker for SqliteStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn project(&self, key: &str) -> Result<ProjectDef, StoreError> {
        let connection = self.connection.lock();
        self.project_in(&connection, key)
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
            let issues = c
                .prepare_cached(
                    "SELECT h.issue_key, max(h.seq) AS last FROM history h \
                     JOIN issues i ON i.key = h.issue_key \
                     WHERE h.seq > ?2 AND i.project = ?1 AND h.author <> ?3 \
                     GROUP BY h.issue_key ORDER BY last",
                )?
                .query_map(params![project, after, except_author], |row| {
                    Ok(ChangedIssue {
                        key: row.get(0)?,
                        last_seq: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ChangeScan {
                issues,
                history_after: after,
                history_upper: upper,
                next: TrackerCursor(upper.max(after).to_string()),
            })
        })
    }

    fn history_since(&self, key: &str, after_seq: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows: Vec<(i64, i64, String, String, String, String)> = self.read(|c| {
            c.prepare_cached(
                "SELECT seq, time, author, field, old, new FROM history \
                 WHERE issue_key = ?1 AND seq > ?2 ORDER BY seq",
            )?
            .query_map(params![key, after_seq], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })?
            .collect()
        })?;
        rows.into_iter()
            .map(|(seq, time, author, field, old, new)| {
                let parse = |text: &str| {
                    serde_json::from_str(text).map_err(|error| {
                        self.corrupt(format!("history entry {seq} of `{key}`: {error}"))
                    })
                };
                Ok(HistoryEntry {
                    seq,
                    issue_key: key.to_owned(),
                    time: Timestamp(time),
                    author,
                    old: parse(&old)?,
                    new: parse(&new)?,
                    field,
                })
            })
            .collect()
    }

    fn get(&self, key: &str) -> Result<Option<Issue>, StoreError> {
        let connection = self.connection.lock();
        self.issue_in(&connection, key)
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
        self.write(|tx| Ok(self.create_in(tx, issue, author)?.0))
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

impl SyncLedger for SqliteStore {
    fn cursor(&self, sync_id: &str, side: Side) -> Result<TrackerCursor, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT cursor, position FROM sync_cursors WHERE sync_id = ?1 AND side = ?2",
                params![sync_id, side.as_str()],
                |row| {
                    let position: Option<String> = row.get(1)?;
                    let cursor: i64 = row.get(0)?;
                    Ok(TrackerCursor(
                        position.unwrap_or_else(|| cursor.to_string()),
                    ))
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    fn sync_state(&self, sync_id: &str, key: &str) -> Result<Option<IssueSyncState>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT partner, last_sent_seq, last_sent_at, last_received_at, history_to \
                 FROM sync_issues WHERE sync_id = ?1 AND key = ?2",
            )?
            .query_row(params![sync_id, key], sync_state_row)
            .optional()
        })
    }

    fn sync_states(&self, key: &str) -> Result<Vec<(String, IssueSyncState)>, StoreError> {
        self.read(|c| {
            c.prepare(
                "SELECT partner, last_sent_seq, last_sent_at, last_received_at, history_to, sync_id \
                 FROM sync_issues WHERE key = ?1 ORDER BY sync_id",
            )?
            .query_map([key], |row| Ok((row.get(5)?, sync_state_row(row)?)))?
            .collect()
        })
    }

    fn local_partner(
        &self,
        sync_id: &str,
        partner_key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT key FROM sync_issues WHERE sync_id = ?1 AND partner = ?2")?
                .query_row(params![sync_id, partner_key], |row| row.get(0))
                .optional()
        })
    }

    fn record_link(
        &self,
        sync_id: &str,
        local_key: &str,
        partner_key: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| self.upsert_state(tx, sync_id, local_key, Some(partner_key), None))
    }

    fn outgoing_failures(
        &self,
        sync_id: &str,
        side: Side,
    ) -> Result<Vec<OutgoingFailure>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT key, since_seq, error, context, attempts, next_attempt_at, parked_at, \
                   coalesce(tried_to, since_seq) \
                 FROM outgoing_failures WHERE sync_id = ?1 AND side = ?2 ORDER BY first_at",
            )?
            .query_map(params![sync_id, side.as_str()], |row| {
                Ok(OutgoingFailure {
                    key: row.get(0)?,
                    since_seq: row.get(1)?,
                    failure: Failure {
                        error: row.get(2)?,
                        context: Box::new(failures::context_of(row.get(3)?)),
                        ..Failure::default()
                    },
                    attempts: row.get(4)?,
                    next_attempt_at: row.get::<_, Option<i64>>(5)?.map(Timestamp),
                    parked: row.get::<_, Option<i64>>(6)?.is_some(),
                    tried_to: row.get(7)?,
                })
            })?
            .collect()
        })
    }

    fn request_resync(
        &self,
        sync_id: &str,
        side: Side,
        key: &str,
        relationships: &[String],
    ) -> Result<(), StoreError> {
        let relationships = serde_json::to_string(relationships).unwrap_or_default();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO resync_requests (sync_id, side, key, relationships, requested_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sync_id,
                    side.as_str(),
                    key,
                    relationships,
                    Timestamp::now().0
                ],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn resync_requests(&self, sync_id: &str, side: Side) -> Result<Vec<ResyncRequest>, StoreError> {
        let rows: Vec<(i64, String, String)> = self.read(|c| {
            c.prepare_cached(
                "SELECT id, key, relationships FROM resync_requests \
                 WHERE sync_id = ?1 AND side = ?2 ORDER BY id",
            )?
            .query_map(params![sync_id, side.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, key, relationships)| {
                match serde_json::from_str(&relationships) {
                    Ok(relationships) => Some(ResyncRequest {
                        id,
                        key,
                        relationships,
                    }),
                    Err(error) => {
                        // One damaged request must not stop the whole queue.
                        log::error!(
                            "{}: resync request {id} for {key} is unreadable, ignored: {error}",
                            self.location
                        );
                        None
                    }
                }
            })
            .collect())
    }

    fn record_outgoing(&self, batch: &OutgoingBatch) -> Result<(), StoreError> {
        let side = batch.side.as_str();
        let now = Timestamp::now().0;
        self.write(|tx| {
            for message in &batch.messages {
                let renumbered = self.renumber_if_taken(tx, message)?;
                let message = renumbered.as_ref().unwrap_or(message);
                let body = serde_json::to_string(message)
                    .map_err(|error| self.invalid(format!("message {}: {error}", message.id)))?;
                tx.prepare_cached(
                    "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        message.id,
                        message.sync_id,
                        side,
                        message.source_key,
                        message.seq,
                        message.covers_history_to,
                        body,
                        now
                    ])
                })
                .map_err(self.err())?;
                tx.prepare_cached(
                    "INSERT INTO sync_issues (sync_id, key, last_sent_seq, last_sent_at, history_to) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (sync_id, key) DO UPDATE SET \
                       last_sent_seq = excluded.last_sent_seq, last_sent_at = excluded.last_sent_at, \
                       history_to = max(history_to, excluded.history_to)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        batch.sync_id,
                        message.source_key,
                        message.seq,
                        message.sent_at.0,
                        message.covers_history_to
                    ])
                })
                .map_err(self.err())?;
            }
            for key in &batch.recovered {
                tx.prepare_cached(
                    "DELETE FROM outgoing_failures WHERE sync_id = ?1 AND side = ?2 AND key = ?3",
                )
                .and_then(|mut stmt| stmt.execute(params![batch.sync_id, side, key]))
                .map_err(self.err())?;
            }
            // The update is left out when the row changed since the round read it (a
            // person skipped the failure meanwhile: the skip wins).
            for failure in &batch.failures {
                tx.prepare_cached(
                    "INSERT INTO outgoing_failures (sync_id, side, key, since_seq, error, context, \
                       attempts, first_at, last_at, next_attempt_at, parked_at, tried_to) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (sync_id, side, key) DO UPDATE SET \
                       since_seq = min(since_seq, excluded.since_seq), error = excluded.error, \
                       context = excluded.context, attempts = excluded.attempts, \
                       first_at = CASE WHEN attempts = 0 THEN excluded.first_at ELSE first_at END, \
                       last_at = excluded.last_at, next_attempt_at = excluded.next_attempt_at, \
                       parked_at = excluded.parked_at, tried_to = excluded.tried_to \
                     WHERE outgoing_failures.attempts = excluded.attempts - 1",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        batch.sync_id,
                        side,
                        failure.key,
                        failure.since_seq,
                        failure.failure.error,
                        failures::context_json(&failure.failure),
                        failure.attempts,
                        now,
                        failure.next_attempt_at.map(|at| at.0),
                        failure.parked.then_some(now),
                        failure.tried_to
                    ])
                })
                .map_err(self.err())?;
            }
            for id in &batch.resyncs_done {
                tx.execute("DELETE FROM resync_requests WHERE id = ?1", [id])
                    .map_err(self.err())?;
            }
            // A number (the SQLite model's history position) only ever grows; any
            // other tracker's cursor is its own text, kept as written.
            let (number, text) = match batch.cursor.0.parse::<i64>() {
                Ok(number) => (number, None),
                Err(_) => (0, Some(batch.cursor.0.as_str())),
            };
            tx.execute(
                "INSERT INTO sync_cursors (sync_id, side, cursor, position) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sync_id, side) DO UPDATE SET \
                   cursor = max(cursor, excluded.cursor), position = excluded.position",
                params![batch.sync_id, side, number, text],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn pending_messages(
        &self,
        sync_id: &str,
        source_side: Side,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        type Row = (
            i64,
            String,
            i64,
            String,
            i64,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = self.read(|c| {
            c.prepare_cached(
                "SELECT row, source_key, seq, body, attempts, last_error, next_attempt_at, parked_at \
                 FROM outbox WHERE sync_id = ?1 AND source_side = ?2 \
                   AND delivered_at IS NULL AND skipped_at IS NULL ORDER BY row",
            )?
            .query_map(params![sync_id, source_side.as_str()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            })?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(row, source_key, seq, body, attempts, last_error, next_attempt_at, parked_at)| {
                    PendingMessage {
                        message: serde_json::from_str::<IssueSyncMessage>(&body).map_err(|error| {
                            format!(
                                "outbox row {row} of {}: unreadable message: {error}",
                                self.location
                            )
                        }),
                        row,
                        source_key,
                        seq,
                        attempts,
                        last_error,
                        next_attempt_at: next_attempt_at.map(Timestamp),
                        parked: parked_at.is_some(),
                    }
                },
            )
            .collect())
    }

    fn message_covers(
        &self,
        sync_id: &str,
        key: &str,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        let message_id = IssueSyncMessage::make_id(sync_id, key, seq);
        self.read(|c| {
            c.prepare_cached("SELECT covers FROM outbox WHERE message_id = ?1")?
                .query_row([message_id], |row| row.get(0))
                .optional()
        })
    }

    fn messages_delivered(&self, rows: &[i64]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now().0;
        self.write(|tx| {
            for row in rows {
                tx.prepare_cached(
                    "UPDATE outbox SET delivered_at = ?2, last_error = NULL WHERE row = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![row, now]))
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    fn message_failed(
        &self,
        row: i64,
        failure: &Failure,
        attempts: i64,
        next_attempt_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.record_message_failure(row, failure, attempts, next_attempt_at)
    }

    fn errors(&self, query: &ErrorQuery<'_>) -> Result<Vec<ErrorRecord>, StoreError> {
        self.list_errors(query)
    }

    fn retry_errors(&self, query: &ErrorQuery<'_>) -> Result<usize, StoreError> {
        self.retry_matching(query)
    }

    fn skip_error(&self, id: &str, by: &str) -> Result<Option<SkippedError>, StoreError> {
        self.skip(id, by)
    }

    fn queue_counts(&self, sync_id: &str, source_side: Side) -> Result<QueueCounts, StoreError> {
        self.count_queue(sync_id, source_side)
    }

    fn record_round(&self, sync_id: &str, round: &RoundRecord) -> Result<(), StoreError> {
        self.save_round(sync_id, round)
    }

    fn last_round(&self, sync_id: &str) -> Result<Option<RoundRecord>, StoreError> {
        self.load_round(sync_id)
    }

    fn record_running_slow_calls(
        &self,
        sync_id: &str,
        calls: &[SlowCall],
    ) -> Result<(), StoreError> {
        self.save_running_slow_calls(sync_id, calls)
    }

    fn running_slow_calls(&self, sync_id: &str) -> Result<RunningSlowCalls, StoreError> {
        self.load_running_slow_calls(sync_id)
    }

    fn applied_seq(&self, sync_id: &str, source_key: &str) -> Result<i64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT seq FROM applied WHERE sync_id = ?1 AND source_key = ?2")?
                .query_row(params![sync_id, source_key], |row| row.get(0))
                .optional()
                .map(|seq| seq.unwrap_or(0))
        })
    }

    fn record_applied(
        &self,
        sync_id: &str,
        target_key: &str,
        source_key: &str,
        seq: Option<i64>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            self.upsert_state(
                tx,
                sync_id,
                target_key,
                Some(source_key),
                seq.map(|_| Timestamp::now()),
            )?;
            if let Some(seq) = seq {
                record_applied_seq(tx, sync_id, source_key, seq).map_err(self.err())?;
            }
            Ok(())
        })
    }
}

impl AtomicApply for SqliteStore {
    fn apply(&self, step: &ApplyStep<'_>) -> Result<AppliedStep, StoreError> {
        self.write(|tx| {
            let now = Timestamp::now();
            let mut kept_newer = Vec::new();
            // Checked again inside the transaction, so that a second process on the
            // same store can neither create a second partner nor apply a message twice.
            let partner: Option<String> = tx
                .prepare_cached("SELECT key FROM sync_issues WHERE sync_id = ?1 AND partner = ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![step.sync_id, step.source_key], |row| row.get(0))
                        .optional()
                })
                .map_err(self.err())?;
            let applied: i64 = tx
                .prepare_cached("SELECT seq FROM applied WHERE sync_id = ?1 AND source_key = ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![step.sync_id, step.source_key], |row| row.get(0))
                        .optional()
                })
                .map_err(self.err())?
                .unwrap_or(0);
            if step.seq <= applied {
                return Ok(AppliedStep {
                    key: partner.unwrap_or_default(),
                    created: false,
                    changes: Vec::new(),
                    kept_newer,
                    already_applied: true,
                });
            }
            let (key, created, changes) = match &step.target {
                ApplyTarget::Create { .. } if partner.is_some() => {
                    (partner.unwrap_or_default(), false, Vec::new())
                }
                ApplyTarget::Create {
                    project,
                    issue_type,
                } => {
                    let issue = NewIssue {
                        project: project.clone(),
                        issue_type: issue_type.clone(),
                        fields: step
                            .writes
                            .iter()
                            .map(|write| (write.field.clone(), write.value.clone()))
                            .collect(),
                    };
                    let (issue, changes) = self.create_in(tx, &issue, step.author)?;
                    (issue.key, true, changes)
                }
                ApplyTarget::Update(key) => {
                    let mut values = BTreeMap::new();
                    for write in &step.writes {
                        if let Some(guard) = &write.guard {
                            let theirs = self.last_change_by_others(
                                tx,
                                key,
                                &write.field,
                                step.author,
                                guard.target_changes_after,
                            )?;
                            let target_is_newer = theirs.is_some_and(|theirs| {
                                theirs > guard.changed_at
                                    || (theirs == guard.changed_at && !guard.source_wins_ties)
                            });
                            if target_is_newer {
                                kept_newer.push(write.field.clone());
                                continue;
                            }
                        }
                        values.insert(write.field.clone(), write.value.clone());
                    }
                    let changes = self.update_in(tx, key, &values, step.author)?;
                    (key.clone(), false, changes)
                }
            };
            self.upsert_state(tx, step.sync_id, &key, Some(step.source_key), Some(now))?;
            if step.completes_message {
                record_applied_seq(tx, step.sync_id, step.source_key, step.seq)
                    .map_err(self.err())?;
            }
            Ok(AppliedStep {
                key,
                created,
                changes,
                kept_newer,
                already_applied: false,
            })
        })
    }
}

fn record_applied_seq(
    tx: &Connection,
    sync_id: &str,
    source_key: &str,
    seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO applied (sync_id, source_key, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (sync_id, source_key) DO UPDATE SET seq = max(seq, excluded.seq)",
    )?
    .execute(params![sync_id, source_key, seq])?;
    Ok(())
}

fn sync_state_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IssueSyncState> {
    Ok(IssueSyncState {
        partner: row.get(0)?,
        last_sent_seq: row.get(1)?,
        last_sent_at: row.get::<_, Option<i64>>(2)?.map(Timestamp),
        last_received_at: row.get::<_, Option<i64>>(3)?.map(Timestamp),
        history_to: row.get(4)?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ErrorQuery;

    /// A store written by the first release (schema 1), with a message that failed
    /// to apply and an issue that failed to send.
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
        let errors = store.errors(&ErrorQuery::default()).unwrap();
        let summary: Vec<(&str, i64, bool, &str)> = errors
            .iter()
            .map(|e| (e.id.as_str(), e.attempts, e.parked, e.error.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("s:A-2:send", 3, false, "cannot send"),
                ("s:A-1:1", 2, false, "it failed")
            ]
        );
        let pending = store.pending_messages("s", Side::A).unwrap();
        assert_eq!(pending.len(), 1, "still waiting to be applied");
        assert!(pending[0].next_attempt_at.is_none(), "due at once");
        let sends = store.outgoing_failures("s", Side::A).unwrap();
        assert_eq!(
            (sends[0].since_seq, sends[0].tried_to),
            (7, 9),
            "tried up to the cursor"
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
