//! The throughput benches' setup: two projects of issues with ten mapped fields
//! each, synced A → B with built-in mappings, and the floor — the rows such a sync
//! has to write, written by plain rusqlite with no fieldsync code.

use std::collections::BTreeMap;
use std::path::Path;

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::{Engine, MappingRegistry, SqliteStore, SyncConfig, SyncLedger, Tracker};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

/// Mapped fields per issue.
pub const FIELDS: usize = 10;

/// Both projects alike, except that A's create screen has every field: the template
/// issues are created whole; the sync creates B's with the five fields of its create
/// screen and then sets the other five (the floor writes each partner whole, as the
/// issue that set it defines it).
pub fn project(key: &str) -> ProjectDef {
    let mut project = project_with_screen(key);
    if key == "A" {
        project.create_screen = project.fields.iter().map(|f| f.id.clone()).collect();
    }
    project
}

/// Project `key` with a create screen of five fields.
pub fn project_with_screen(key: &str) -> ProjectDef {
    serde_json::from_value(json!({
        "key": key, "issue_types": ["Task"],
        "fields": [
            {"id": "summary", "type": "text"}, {"id": "description", "type": "text"},
            {"id": "environment", "type": "text"}, {"id": "notes", "type": "text"},
            {"id": "points", "type": "number"}, {"id": "estimate", "type": "number"},
            {"id": "priority", "type": "priority"}, {"id": "labels", "type": "labels"},
            {"id": "assignee", "type": "user"}, {"id": "component", "type": "option"}
        ],
        "create_screen": ["summary", "priority", "labels", "assignee", "component"]
    }))
    .expect("bench project")
}

/// `sync.json`: A → B, ten fields through built-in mappings.
pub fn config_json() -> Value {
    let mapping = |id: &str, options: Value| json!({"mapping": id, "options": options});
    let fields: Vec<Value> = [
        ("summary", mapping("fieldsync.text", json!({"trim": true}))),
        ("description", mapping("fieldsync.copy", Value::Null)),
        ("environment", mapping("fieldsync.text", json!({"max_length": 200}))),
        ("notes", mapping("fieldsync.copy", Value::Null)),
        ("points", mapping("fieldsync.number", json!({"decimals": 1}))),
        ("estimate", mapping("fieldsync.number", Value::Null)),
        ("priority", mapping("fieldsync.value-map", json!({"map": {"High": "P1", "Medium": "P2", "Low": "P3"}}))),
        ("labels", mapping("fieldsync.labels", Value::Null)),
        ("assignee", mapping("fieldsync.user-map", json!({"users": {"alice": "amoreau", "bob": "bokafor"}}))),
        ("component", mapping("fieldsync.copy", Value::Null)),
    ]
    .into_iter()
    .map(|(field, outgoing)| {
        json!({"id": field, "direction": "a-to-b", "a": {"field": field, "outgoing": outgoing}, "b": {"field": field}})
    })
    .collect();
    assert_eq!(fields.len(), FIELDS);
    json!({"synchronizations": [{
        "id": "bench", "a": {"project": "A", "store": "a.db"}, "b": {"project": "B", "store": "b.db"},
        "fields": fields
    }]})
}

/// The values of the `n`th issue.
pub fn issue_fields(n: usize) -> BTreeMap<String, Value> {
    let priority = ["High", "Medium", "Low"][n % 3];
    let assignee = ["alice", "bob"][n % 2];
    let component = ["web", "api", "db"][n % 3];
    let fields = json!({
        "summary": format!("  Issue number {n}  "),
        "description": format!("Steps to reproduce issue {n}: open the page, press the button."),
        "environment": "Linux, Firefox 140",
        "notes": format!("note {n}"),
        "points": (n % 13) as f64 + 0.25,
        "estimate": n % 40,
        "priority": priority,
        "labels": [format!("team-{}", n % 7), "customer"],
        "assignee": assignee,
        "component": component
    });
    serde_json::from_value(fields).expect("bench fields")
}

/// The `n`th issue of `project`.
pub fn new_issue(project: &str, n: usize) -> NewIssue {
    NewIssue {
        project: project.to_owned(),
        issue_type: "Task".to_owned(),
        fields: issue_fields(n),
    }
}

/// A folder with `a.db` holding the issues, an empty `b.db` and `sync.json`.
pub struct Template {
    /// The folder.
    pub dir: tempfile::TempDir,
}

impl Template {
    /// `issues` issues in A (created a thousand per transaction).
    pub fn new(issues: usize) -> Template {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = SqliteStore::open(dir.path().join("a.db")).expect("a.db");
        a.add_project(&project("A")).expect("project A");
        for n in 0..issues {
            if n % 1_000 == 0 {
                a.begin_group().expect("group");
            }
            a.create(&new_issue("A", n), "alice").expect("issue");
            if n % 1_000 == 999 || n + 1 == issues {
                a.end_group(true).expect("commit");
            }
        }
        let b = SqliteStore::open(dir.path().join("b.db")).expect("b.db");
        b.add_project(&project("B")).expect("project B");
        drop((a, b));
        std::fs::write(dir.path().join("sync.json"), config_json().to_string()).expect("config");
        Template { dir }
    }

    /// A fresh copy to run on.
    pub fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("temp dir");
        for name in ["a.db", "b.db", "sync.json"] {
            std::fs::copy(self.dir.path().join(name), copy.path().join(name)).expect("copy");
        }
        copy
    }
}

/// The built-in mappings.
pub fn registry() -> MappingRegistry {
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(std::sync::Arc::new(builtin_plugin()))
        .expect("built-ins register");
    registry
}

/// An engine on the configuration in `dir`.
pub fn engine(dir: &Path) -> Engine {
    let config = SyncConfig::load(dir.join("sync.json")).expect("config");
    Engine::new(&config, &registry()).expect("engine")
}

/// The store file `name` in `dir`.
pub fn store(dir: &Path, name: &str) -> SqliteStore {
    SqliteStore::open_existing(dir.join(name)).expect("store")
}

/// Asserts that a round failed nowhere and sent `messages`.
pub fn check_round(report: &fieldsync_core::RoundReport, messages: usize) {
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.messages_sent(), messages, "{report}");
}

/// The store's connection settings, as `SqliteStore` opens a file.
pub fn bare_connection(path: &Path) -> Connection {
    let connection = Connection::open(path).expect("store file");
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    connection
}

/// Issues per transaction of the floor.
pub const FLOOR_BATCH: i64 = 1_000;

/// The floor of an initial sync A → B in plain rusqlite: per issue of A, read it,
/// write its outbox row (already delivered) and its link; create its partner in B with
/// its fields, one history row per value and one for the creation, the partner's link
/// and the applied message. Transactions of 1,000 issues on each file.
pub fn floor_initial_sync(a: &mut Connection, b: &mut Connection) {
    let mut after = 0_i64;
    loop {
        let batch: Vec<(String, i64, String, String)> = a
            .prepare_cached(
                "SELECT key, number, issue_type, fields FROM issues \
                 WHERE project = 'A' AND number > ?1 ORDER BY number LIMIT ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![after, FLOOR_BATCH], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect()
            })
            .expect("read A");
        let Some(last) = batch.last() else { break };
        after = last.1;
        let ta = a.transaction().expect("A transaction");
        let tb = b.transaction().expect("B transaction");
        for (key, _, issue_type, fields_text) in &batch {
            let fields: BTreeMap<String, Value> =
                serde_json::from_str(fields_text).expect("fields");
            let body = json!({"source_key": key, "seq": 1, "fields": &fields}).to_string();
            let number: i64 = tb
                .prepare_cached(
                    "UPDATE projects SET next_number = next_number + 1 WHERE key = 'B' \
                     RETURNING next_number - 1",
                )
                .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
                .expect("number");
            let partner = format!("B-{number}");
            let now = 1_700_000_000_000_i64;
            tb.prepare_cached(
                "INSERT INTO issues (key, project, number, issue_type, fields, created, updated) \
                 VALUES (?1, 'B', ?2, ?3, ?4, ?5, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![partner, number, issue_type, fields_text, now])
            })
            .expect("issue");
            let mut history = tb
                .prepare_cached(
                    "INSERT INTO history (issue_key, time, author, field, old, new) \
                     VALUES (?1, ?2, 'fieldsync', ?3, 'null', ?4)",
                )
                .expect("history");
            history
                .execute(params![
                    partner,
                    now,
                    "=created",
                    json!(issue_type).to_string()
                ])
                .expect("created");
            for (field, value) in &fields {
                history
                    .execute(params![partner, now, field, value.to_string()])
                    .expect("history row");
            }
            tb.prepare_cached(
                "INSERT INTO sync_issues (sync_id, key, partner, last_received_at) \
                 VALUES ('bench', ?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![partner, key, now]))
            .expect("B link");
            tb.prepare_cached(
                "INSERT INTO applied (sync_id, source_key, seq) VALUES ('bench', ?1, 1)",
            )
            .and_then(|mut stmt| stmt.execute([key]))
            .expect("applied");
            ta.prepare_cached(
                "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, \
                   body, created_at, delivered_at) VALUES (?1, 'bench', 'a', ?2, 1, 0, ?3, ?4, ?4)",
            )
            .and_then(|mut stmt| stmt.execute(params![format!("bench:{key}:1"), key, body, now]))
            .expect("outbox");
            ta.prepare_cached(
                "INSERT INTO sync_issues (sync_id, key, partner, last_sent_seq, last_sent_at) \
                 VALUES ('bench', ?1, ?2, 1, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![key, partner, now]))
            .expect("A link");
        }
        tb.commit().expect("B commit");
        ta.commit().expect("A commit");
    }
}
