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

/// The allocator the `fieldsync` program runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fieldsync_core::Tracker;
use fieldsync_tests::throughput::{
    bare_connection, check_round, engine, floor_initial_sync, store, Template,
};
use fieldsync_tests::timing::{ratio_line, Samples};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

const ISSUES: usize = 10_000;
const CHANGED: usize = ISSUES / 100;

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
    let template = Template::new(ISSUES);
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
    let template = Template::new(ISSUES);
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
    let template = Template::new(ISSUES);
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
