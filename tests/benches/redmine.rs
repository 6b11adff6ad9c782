//! Sync against a real Redmine (started on 127.0.0.1 by the test kit):
//!
//! - initial sync SQLite → Redmine, six mapped fields per issue, against the floor of
//!   the same issues created by bare REST requests (one POST each, same fields);
//! - an idle round (nothing changed) on a Redmine project of 1,000 issues, against
//!   the floor of one bare list request.
//!
//! Criterion measures batches of `BATCH` issues; the bench then syncs 1,000 issues
//! once and prints issues/s and HTTP requests per issue, and the requests of idle
//! rounds on projects of 10 and 1,000 issues (they must not grow with the project).
//!
//! `cargo bench -p fieldsync-tests --bench redmine` (needs `scripts/redmine-server.sh
//! install` once).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fieldsync_core::config::TrackerSpec;
use fieldsync_core::model::NewIssue;
use fieldsync_core::{Connector, Connectors, Engine, SqliteStore, StoreError, SyncConfig, Tracker};
use fieldsync_redmine::RedmineTracker;
use fieldsync_tests::redmine::{server, RedmineServer};
use fieldsync_tests::redmine_scenario::sup_project;
use serde_json::{json, Value};
use tempfile::TempDir;

const BATCH: usize = 100;
const LARGE: usize = 1_000;

/// Opens Redmine trackers and keeps them, to count their requests.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<Vec<Arc<RedmineTracker>>>>);

impl Connector for Counting {
    fn kind(&self) -> &str {
        "redmine"
    }

    fn open(&self, spec: &TrackerSpec, dir: &Path) -> Result<Arc<dyn Tracker>, StoreError> {
        let tracker = Arc::new(fieldsync_redmine::connect(spec, dir)?);
        self.0.lock().unwrap().push(Arc::clone(&tracker));
        Ok(tracker)
    }
}

impl Counting {
    fn requests(&self) -> u64 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.requests_sent())
            .sum()
    }
}

const PRIORITIES: [&str; 3] = ["Low", "Normal", "High"];
const TEAMS: [&str; 3] = ["Alpha", "Beta", "Gamma"];

fn fields(n: usize) -> BTreeMap<String, Value> {
    serde_json::from_value(json!({
        "summary": format!("Issue {n}: checkout is slow"),
        "details": format!("Seen by customer {n}.\nSteps: open the cart, pay."),
        "priority": PRIORITIES[n % 3],
        "team": TEAMS[n % 3],
        "customer": format!("Customer {}", n % 17),
        "points": (n % 8) as f64,
    }))
    .unwrap()
}

/// A SQLite store of `issues` issues synced A → B into a new Redmine project.
struct Sync {
    _dir: TempDir,
    engine: Engine,
    counting: Counting,
    project: String,
}

fn sync_setup(server: &RedmineServer, issues: usize, hint: &str) -> Sync {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("a.db")).unwrap();
    store.add_project(&sup_project()).unwrap();
    for n in 0..issues {
        store
            .create(
                &NewIssue {
                    project: "SUP".into(),
                    issue_type: "Bug".into(),
                    fields: fields(n),
                },
                "alice",
            )
            .unwrap();
    }
    let project = server.project(hint);
    let field = |id: &str, a: &str, b: &str| json!({"id": id, "direction": "a-to-b", "a": {"field": a}, "b": {"field": b}});
    let config = json!({"synchronizations": [{
        "id": "bench",
        "a": {"project": "SUP", "store": "a.db"},
        "b": {"project": project, "tracker": server.tracker_spec(&dir.path().join("key"))},
        "fields": [
            field("summary", "summary", "subject"), field("details", "details", "description"),
            field("priority", "priority", "priority"), field("team", "team", "cf_2"),
            field("customer", "customer", "cf_4"), field("points", "points", "cf_1")
        ]
    }], "workers": 4});
    let file = dir.path().join("sync.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let counting = Counting::default();
    let registry = fieldsync_tests::registry_with_plugins(tempfile::tempdir().unwrap().path());
    let engine = Engine::with_connectors(
        &SyncConfig::load(&file).unwrap(),
        &registry,
        &Connectors::none().with(counting.clone()),
    )
    .unwrap();
    Sync {
        _dir: dir,
        engine,
        counting,
        project,
    }
}

/// The floor: the same issues created by bare POSTs, one after another.
fn bare_creates(server: &RedmineServer, project: &str, issues: usize) {
    for n in 0..issues {
        let f = fields(n);
        server.call(
            "POST",
            "/issues.json",
            Some(json!({"issue": {
                "project_id": project, "tracker_id": 1, "subject": f["summary"],
                "description": f["details"], "priority_id": 1 + n % 3,
                "custom_fields": [{"id": 2, "value": f["team"]}, {"id": 4, "value": f["customer"]},
                                   {"id": 1, "value": f["points"].to_string()}]
            }})),
            Some("fieldsync"),
        );
    }
}

fn timed(samples: &Mutex<Vec<Duration>>, work: impl FnOnce()) -> Duration {
    let started = Instant::now();
    work();
    let took = started.elapsed();
    samples.lock().unwrap().push(took);
    took
}

fn median(samples: &Mutex<Vec<Duration>>) -> Duration {
    let mut samples = samples.lock().unwrap().clone();
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn benches(c: &mut Criterion) {
    let server = server();
    let sync_times = Mutex::new(Vec::new());
    let floor_times = Mutex::new(Vec::new());
    let mut group = c.benchmark_group("redmine initial sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(
        format!("fieldsync, {BATCH} issues SQLite → Redmine"),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let setup = sync_setup(server, BATCH, "bench");
                        timed(&sync_times, || {
                            let report = setup.engine.run_round();
                            assert_eq!(report.created(), BATCH, "{report}");
                        })
                    })
                    .sum()
            })
        },
    );
    group.bench_function(format!("floor: {BATCH} bare POSTs"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let project = server.project("floor");
                    timed(&floor_times, || bare_creates(server, &project, BATCH))
                })
                .sum()
        })
    });
    group.finish();
    let (sync, floor) = (median(&sync_times), median(&floor_times));
    println!(
        "redmine initial sync ({BATCH} issues): fieldsync {sync:.2?}, floor {floor:.2?}, ratio {:.2}x",
        sync.as_secs_f64() / floor.as_secs_f64()
    );

    // 1,000 issues once: throughput and requests per issue.
    let large = sync_setup(server, LARGE, "large");
    let before = large.counting.requests();
    let started = Instant::now();
    let report = large.engine.run_round();
    let took = started.elapsed();
    assert_eq!(report.created(), LARGE);
    let requests = large.counting.requests() - before;
    println!(
        "redmine initial sync ({LARGE} issues): {took:.2?}, {:.0} issues/s, {:.2} requests per issue",
        LARGE as f64 / took.as_secs_f64(),
        requests as f64 / LARGE as f64
    );
    // The round after reads back what the sync wrote once; then rounds are idle.
    large.engine.run_round();
    large.engine.run_round();
    let small = sync_setup(server, 10, "small");
    small.engine.run_round();
    small.engine.run_round();
    small.engine.run_round();
    for (name, setup) in [("10", &small), ("1,000", &large)] {
        let before = setup.counting.requests();
        let report = setup.engine.run_round();
        assert_eq!(report.messages_sent(), 0, "{report}");
        println!(
            "redmine idle round, project of {name} issues: {} requests",
            setup.counting.requests() - before
        );
    }

    let idle_times = Mutex::new(Vec::new());
    let list_times = Mutex::new(Vec::new());
    let mut group = c.benchmark_group("redmine idle round");
    group.sample_size(20);
    group.bench_function("fieldsync, idle round on 1,000 issues", |b| {
        b.iter(|| timed(&idle_times, || drop(large.engine.run_round())))
    });
    let list = format!(
        "/issues.json?project_id={}&status_id=*&updated_on=%3E%3D2099-01-01T00:00:00Z&limit=100",
        large.project
    );
    group.bench_function("floor: one bare list request", |b| {
        b.iter(|| timed(&list_times, || drop(server.call("GET", &list, None, None))))
    });
    group.finish();
    let (idle, floor) = (median(&idle_times), median(&list_times));
    println!(
        "redmine idle round (1,000 issues): fieldsync {idle:.2?}, floor {floor:.2?}, ratio {:.2}x",
        idle.as_secs_f64() / floor.as_secs_f64()
    );
}

criterion_group!(redmine, benches);
criterion_main!(redmine);
