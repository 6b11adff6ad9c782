//! Sync throughput on SQLite: an initial sync of 10,000 issues × 10 mapped fields
//! A → B, an incremental round after 1% of them changed, and an idle round.
//!
//! Each is measured against its floor in the same run: the rows the sync has to
//! write, written by plain rusqlite in transactions of 1,000 issues with no fieldsync
//! code (read each issue and its fields, write one outbox row, create or update the
//! partner with its fields and history, record the link and the applied message). The
//! ratio is what the sync machinery costs on top of SQLite itself. The run ends with
//! one line per benchmark: `<name>: fieldsync <time>, floor <time>, ratio <x>x`.
//!
//! `cargo bench -p fieldsync-tests --bench sync`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::{Engine, MappingRegistry, SqliteStore, SyncConfig, Tracker};
use fieldsync_tests::timing::{ratio_line, Samples};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

const ISSUES: usize = 10_000;
const CHANGED: usize = ISSUES / 100;
const FIELDS: usize = 10;

/// Both projects alike, except that A's create screen has every field: the template
/// issues are created whole, B's are created with five fields and then updated with
/// the other five, by the sync and by the baseline alike.
fn project(key: &str) -> ProjectDef {
    let mut project = project_with_screen(key);
    if key == "A" {
        project.create_screen = project.fields.iter().map(|f| f.id.clone()).collect();
    }
    project
}

fn project_with_screen(key: &str) -> ProjectDef {
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

fn config_json() -> Value {
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

fn issue_fields(n: usize) -> BTreeMap<String, Value> {
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

fn new_issue(project: &str, n: usize) -> NewIssue {
    NewIssue {
        project: project.to_owned(),
        issue_type: "Task".to_owned(),
        fields: issue_fields(n),
    }
}

/// A folder with `a.db` holding the issues, an empty `b.db` and `sync.json`.
struct Template {
    dir: tempfile::TempDir,
}

impl Template {
    fn new() -> Template {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = SqliteStore::open(dir.path().join("a.db")).expect("a.db");
        a.add_project(&project("A")).expect("project A");
        for n in 0..ISSUES {
            a.create(&new_issue("A", n), "alice").expect("issue");
        }
        let b = SqliteStore::open(dir.path().join("b.db")).expect("b.db");
        b.add_project(&project("B")).expect("project B");
        drop((a, b));
        std::fs::write(dir.path().join("sync.json"), config_json().to_string()).expect("config");
        Template { dir }
    }

    /// A fresh copy to run on.
    fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("temp dir");
        for name in ["a.db", "b.db", "sync.json"] {
            std::fs::copy(self.dir.path().join(name), copy.path().join(name)).expect("copy");
        }
        copy
    }
}

fn registry() -> MappingRegistry {
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(std::sync::Arc::new(builtin_plugin()))
        .expect("built-ins register");
    registry
}

fn engine(dir: &Path) -> Engine {
    let config = SyncConfig::load(dir.join("sync.json")).expect("config");
    Engine::new(&config, &registry()).expect("engine")
}

fn store(dir: &Path, name: &str) -> SqliteStore {
    SqliteStore::open_existing(dir.join(name)).expect("store")
}

fn check_round(report: &fieldsync_core::RoundReport, messages: usize) {
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.messages_sent(), messages, "{report}");
}

fn edits(n: usize) -> BTreeMap<String, Value> {
    BTreeMap::from([("summary".to_owned(), json!(format!("Edited issue {n}")))])
}

/// Every 100th issue.
fn changed_keys() -> impl Iterator<Item = (usize, String)> {
    (0..CHANGED).map(|i| (i * 100, format!("A-{}", i * 100 + 1)))
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The summary lines, printed once every benchmark ran.
static SUMMARY: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The store's connection settings, as `SqliteStore` opens a file.
fn bare_connection(path: &Path) -> Connection {
    let connection = Connection::open(path).expect("store file");
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    connection
}

const FLOOR_BATCH: i64 = 1_000;

/// The floor of an initial sync A → B in plain rusqlite: per issue of A, read it,
/// write its outbox row (already delivered) and its link; create its partner in B with
/// its fields, one history row per value and one for the creation, the partner's link
/// and the applied message. Transactions of 1,000 issues on each file.
fn floor_initial_sync(a: &mut Connection, b: &mut Connection) {
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

/// The floor of an incremental round in plain rusqlite: per changed issue of A, read
/// it and its new history, write the outbox row, update the partner's fields with one
/// history row per changed value, record the applied message and the link's state.
fn floor_incremental(a: &mut Connection, b: &mut Connection, changed: &[(String, String)]) {
    let ta = a.transaction().expect("A transaction");
    let tb = b.transaction().expect("B transaction");
    let now = 1_700_000_000_000_i64;
    for (key, partner) in changed {
        let fields: String = ta
            .prepare_cached("SELECT fields FROM issues WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)))
            .expect("issue");
        let changes: Vec<(String, String)> = ta
            .prepare_cached(
                "SELECT field, new FROM history WHERE issue_key = ?1 AND seq > ?2 ORDER BY seq",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![key, 0], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("history");
        let (field, new) = changes.last().cloned().expect("a change");
        let body = json!({"source_key": key, "fields": {&field: &new}}).to_string();
        ta.prepare_cached(
            "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, body, \
               created_at, delivered_at) VALUES (?1, 'bench', 'a', ?2, 2, 1, ?3, ?4, ?4)",
        )
        .and_then(|mut stmt| stmt.execute(params![format!("bench:{key}:2"), key, body, now]))
        .expect("outbox");
        ta.prepare_cached(
            "UPDATE sync_issues SET last_sent_seq = 2 WHERE sync_id = 'bench' AND key = ?1",
        )
        .and_then(|mut stmt| stmt.execute([key]))
        .expect("A state");
        let mut values: BTreeMap<String, Value> = serde_json::from_str(&fields).expect("fields");
        let value: Value = serde_json::from_str(&new).expect("value");
        values.insert(field.clone(), value.clone());
        tb.prepare_cached("UPDATE issues SET fields = ?2, updated = ?3 WHERE key = ?1")
            .and_then(|mut stmt| {
                stmt.execute(params![
                    partner,
                    serde_json::to_string(&values).unwrap(),
                    now
                ])
            })
            .expect("partner");
        tb.prepare_cached(
            "INSERT INTO history (issue_key, time, author, field, old, new) \
             VALUES (?1, ?2, 'fieldsync', ?3, 'null', ?4)",
        )
        .and_then(|mut stmt| stmt.execute(params![partner, now, field, new]))
        .expect("history row");
        tb.prepare_cached("UPDATE applied SET seq = 2 WHERE sync_id = 'bench' AND source_key = ?1")
            .and_then(|mut stmt| stmt.execute([key]))
            .expect("applied");
        tb.prepare_cached(
            "UPDATE sync_issues SET last_received_at = ?2 WHERE sync_id = 'bench' AND key = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![partner, now]))
        .expect("B state");
    }
    tb.commit().expect("B commit");
    ta.commit().expect("A commit");
}

/// Times `floor` on connections to a fresh copy of `template` (opened beforehand, as
/// the engine's stores are), once per iteration, into `samples`.
fn bench_floor(
    group: &mut Group<'_>,
    template: &Template,
    samples: &Samples,
    floor: impl Fn(&mut Connection, &mut Connection),
) {
    group.bench_function("floor: plain rusqlite", |bench| {
        bench.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    let dir = template.copy();
                    let mut a = bare_connection(&dir.path().join("a.db"));
                    let mut b = bare_connection(&dir.path().join("b.db"));
                    samples.time(|| floor(&mut a, &mut b))
                })
                .sum()
        })
    });
}

/// The floor and a fieldsync round (checked to send `messages`) on copies of
/// `template`; their medians go to the summary as `name`.
fn floor_and_round(
    group: &mut Group<'_>,
    name: &str,
    template: &Template,
    messages: usize,
    floor: impl Fn(&mut Connection, &mut Connection),
) {
    let floor_times = Samples::default();
    let round_times = Samples::default();
    bench_floor(group, template, &floor_times, floor);
    group.bench_function("fieldsync round A -> B", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    let dir = template.copy();
                    let engine = engine(dir.path());
                    let mut report = None;
                    let took = round_times.time(|| report = Some(engine.run_round()));
                    check_round(report.as_ref().expect("a report"), messages);
                    took
                })
                .sum()
        })
    });
    summarize(name, &round_times, &floor_times);
}

/// Adds a benchmark's line to the summary (not when a filter left it out).
fn summarize(name: &str, fieldsync: &Samples, floor: &Samples) {
    if fieldsync.is_empty() || floor.is_empty() {
        return;
    }
    SUMMARY
        .lock()
        .expect("summary")
        .push(ratio_line(name, fieldsync.median(), floor.median()));
}

fn initial_sync(c: &mut Criterion) {
    let template = Template::new();
    let mut group = c.benchmark_group("initial sync 10k issues x 10 fields");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(ISSUES as u64));
    floor_and_round(
        &mut group,
        "initial sync 10k x 10",
        &template,
        ISSUES,
        floor_initial_sync,
    );
    group.finish();
}

/// Right after the initial sync: B's outgoing queue still has the 10k issues the sync
/// itself created ahead of its cursor, and skips them.
fn incremental_after_import(c: &mut Criterion) {
    incremental_sync(c, "incremental 1% after the initial sync", 1);
}

/// Steady state: both cursors are past the sync's own writes.
fn incremental_steady(c: &mut Criterion) {
    incremental_sync(c, "incremental 1% in steady state", 2);
}

/// `template` after `rounds` engine rounds.
fn synced(template: &Template, rounds: usize) {
    let engine_before = engine(template.dir.path());
    for _ in 0..rounds {
        engine_before.run_round();
    }
}

fn incremental_sync(c: &mut Criterion, name: &str, rounds_before: usize) {
    let template = Template::new();
    // Sync, then change 1% of the issues: that state is what each sample copies.
    synced(&template, rounds_before);
    let a = store(template.dir.path(), "a.db");
    for (n, key) in changed_keys() {
        a.update(&key, &edits(n), "alice").expect("edit");
    }
    drop(a);
    let pairs: Vec<(String, String)> = changed_keys()
        .map(|(_, key)| {
            let partner = key.replace("A-", "B-");
            (key, partner)
        })
        .collect();

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHANGED as u64));
    floor_and_round(&mut group, name, &template, CHANGED, |a, b| {
        floor_incremental(a, b, &pairs)
    });
    group.finish();
}

/// An idle round (nothing changed) on a synced store: its floor is one query per
/// side asking for history after the cursor.
fn idle_round(c: &mut Criterion) {
    let template = Template::new();
    synced(&template, 2);
    let engine = engine(template.dir.path());
    let a = bare_connection(&template.dir.path().join("a.db"));
    let b = bare_connection(&template.dir.path().join("b.db"));
    let cursor = |c: &Connection| -> i64 {
        c.query_row("SELECT max(seq) FROM history", [], |row| row.get(0))
            .expect("cursor")
    };
    let (cursor_a, cursor_b) = (cursor(&a), cursor(&b));
    let round_times = Samples::default();
    let floor_times = Samples::default();
    let mut group = c.benchmark_group("idle round on 10k issues");
    group.sample_size(30);
    group.bench_function("floor: one history query per side", |bench| {
        bench.iter(|| {
            floor_times.time(|| {
                for (connection, after) in [(&a, cursor_a), (&b, cursor_b)] {
                    let rows: i64 = connection
                        .prepare_cached("SELECT count(*) FROM history WHERE seq > ?1")
                        .and_then(|mut stmt| stmt.query_row([after], |row| row.get(0)))
                        .expect("history");
                    assert_eq!(rows, 0);
                }
            })
        })
    });
    group.bench_function("fieldsync round", |bench| {
        bench.iter(|| {
            round_times.time(|| check_round(&engine.run_round(), 0));
        })
    });
    group.finish();
    summarize("idle round on 10k", &round_times, &floor_times);
}

fn summary(_: &mut Criterion) {
    for line in SUMMARY.lock().expect("summary").iter() {
        println!("{line}");
    }
}

criterion_group!(
    benches,
    initial_sync,
    incremental_after_import,
    incremental_steady,
    idle_round,
    summary
);
criterion_main!(benches);
