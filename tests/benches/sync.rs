//! Sync throughput on SQLite: an initial sync of 10,000 issues × 10 mapped fields
//! A → B, and an incremental round after 1% of them changed.
//!
//! Each is measured against a baseline in the same run: the store writing the same
//! issues (create-screen fields, then the rest by an edit, as the sync must) or the
//! same edits directly, without queues, messages or mappings. The
//! ratio is what the sync machinery costs on top of the writes it cannot avoid.
//!
//! `cargo bench -p fieldsync-tests --bench sync`

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::store::create_and_edit;
use fieldsync_core::{Engine, MappingRegistry, SqliteStore, SyncConfig, Tracker};
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

/// Times `write` on B of a fresh copy of `template`, once per iteration.
fn bench_baseline(
    group: &mut Group<'_>,
    name: &str,
    template: &Template,
    write: impl Fn(&SqliteStore),
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let dir = template.copy();
                let target = store(dir.path(), "b.db");
                let started = Instant::now();
                write(&target);
                total += started.elapsed();
            }
            total
        })
    });
}

/// Times one engine round on a fresh copy of `template`, checking it sent `messages`.
fn bench_round(group: &mut Group<'_>, template: &Template, messages: usize) {
    group.bench_function("fieldsync round A -> B", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let dir = template.copy();
                let engine = engine(dir.path());
                let started = Instant::now();
                let report = engine.run_round();
                total += started.elapsed();
                check_round(&report, messages);
            }
            total
        })
    });
}

fn initial_sync(c: &mut Criterion) {
    let template = Template::new();
    let mut group = c.benchmark_group("initial sync 10k issues x 10 fields");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(ISSUES as u64));
    bench_baseline(
        &mut group,
        "baseline: store writes the issues directly",
        &template,
        |target| {
            for n in 0..ISSUES {
                create_and_edit(target, &new_issue("B", n), "fieldsync").expect("create");
            }
        },
    );
    bench_round(&mut group, &template, ISSUES);
    group.finish();
}

/// Right after the initial sync: B's outgoing queue still has the 10k issues the sync
/// itself created ahead of its cursor, and skips them.
fn incremental_after_import(c: &mut Criterion) {
    incremental_sync(
        c,
        "incremental round after the initial sync, 1% of 10k changed",
        1,
    );
}

/// Steady state: both cursors are past the sync's own writes.
fn incremental_steady(c: &mut Criterion) {
    incremental_sync(c, "incremental round in steady state, 1% of 10k changed", 2);
}

fn incremental_sync(c: &mut Criterion, name: &str, rounds_before: usize) {
    let template = Template::new();
    // Sync, then change 1% of the issues: that state is what each sample copies.
    let engine_before = engine(template.dir.path());
    for _ in 0..rounds_before {
        engine_before.run_round();
    }
    drop(engine_before);
    let a = store(template.dir.path(), "a.db");
    for (n, key) in changed_keys() {
        a.update(&key, &edits(n), "alice").expect("edit");
    }
    drop(a);

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHANGED as u64));
    bench_baseline(
        &mut group,
        "baseline: store writes the edits directly",
        &template,
        |target| {
            for (n, key) in changed_keys() {
                let key = key.replace("A-", "B-");
                target.update(&key, &edits(n), "fieldsync").expect("update");
            }
        },
    );
    bench_round(&mut group, &template, CHANGED);
    group.finish();
}

criterion_group!(
    benches,
    initial_sync,
    incremental_after_import,
    incremental_steady
);
criterion_main!(benches);
