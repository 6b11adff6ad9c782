//! The crash test: `fieldsync sync` runs as a child process on two SQLite files while
//! a writer edits issues on both sides, and is killed with SIGKILL at random moments.
//! A last run then finishes the work. Nothing may be lost, nothing applied twice.
//!
//! The seed of the random moments is printed; `CRASH_SEED=N` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::message::Side;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::{SqliteStore, SyncConfig, SyncControl, SyncLedger, Tracker};
use serde_json::{json, Value};

const SYNC: &str = "crash";
const SYNC_USER: &str = "fieldsync";
const MIN_KILLS: usize = 50;
const MIN_ROUNDS: i64 = 50;

/// A small xorshift generator: the test needs reproducible moments, not quality.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A's `code` is text, B's a number: what A's users type there may not be a number.
fn project(key: &str) -> ProjectDef {
    let code_type = if key == "A" { "text" } else { "number" };
    serde_json::from_value(json!({
        "key": key, "issue_types": ["Task"],
        "fields": [
            {"id": "title", "type": "text"},
            {"id": "note", "type": "text"},
            {"id": "remark", "type": "text"},
            {"id": "code", "type": code_type}
        ],
        "create_screen": ["title", "note", "remark", "code"]
    }))
    .unwrap()
}

/// Whether a field holds the same on both sides: `code` is text on A, a number on B.
fn same(field: &str, a: &Value, b: &Value) -> bool {
    if field == "code" && !a.is_null() {
        return a.as_str().and_then(|text| text.parse::<f64>().ok()) == b.as_f64();
    }
    a == b
}

/// `title` both ways, `note` from A to B, `remark` from B to A, `code` from A to B
/// through the number mapping (text that is no number fails that issue until it is
/// corrected); rounds every 10 ms, failures retried every round and never parked.
fn write_config(dir: &Path) -> PathBuf {
    let config = json!({
        "workers": 2,
        "retry": {"attempts": 1_000_000, "first_delay_seconds": 0, "max_delay_seconds": 0},
        "synchronizations": [{
            "id": SYNC, "sync_user": SYNC_USER, "interval_seconds": 0.01,
            "a": {"project": "A", "store": "a.db"},
            "b": {"project": "B", "store": "b.db"},
            "fields": [
                {"id": "title", "direction": "both", "a": {"field": "title"}, "b": {"field": "title"}},
                {"id": "note", "direction": "a-to-b", "a": {"field": "note"}, "b": {"field": "note"}},
                {"id": "remark", "direction": "b-to-a", "a": {"field": "remark"}, "b": {"field": "remark"}},
                {"id": "code", "direction": "a-to-b",
                 "a": {"field": "code", "outgoing": {"mapping": "fieldsync.number"}}, "b": {"field": "code"}}
            ]
        }]
    });
    let file = dir.join("sync.json");
    std::fs::write(&file, config.to_string()).unwrap();
    file
}

/// One edit the writer made: the value is unique, so where it ends up is traceable.
struct Edit {
    side: Side,
    key: String,
    field: &'static str,
    value: String,
}

/// Edits random issues of both sides (and creates new ones) until told to stop.
fn writer(a: &Path, b: &Path, seed: u64, stop: &AtomicBool) -> Vec<Edit> {
    let stores = [
        (Side::A, "A", SqliteStore::open_existing(a).unwrap()),
        (Side::B, "B", SqliteStore::open_existing(b).unwrap()),
    ];
    let mut random = Moments(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut edits = Vec::new();
    let mut counter = 0;
    while !stop.load(Ordering::SeqCst) {
        counter += 1;
        let (side, project, store) = &stores[random.below(2) as usize];
        let field = match (side, random.below(3)) {
            (_, 0) => "title",
            (Side::A, 1) => "note",
            (Side::A, _) => "code",
            (Side::B, _) => "remark",
        };
        let value = match (field, random.below(3)) {
            ("code", 0) => format!("bad-{counter}"),
            ("code", _) => counter.to_string(),
            _ => format!("{side}-{counter}"),
        };
        if random.below(10) == 0 {
            let issue = store
                .create(
                    &NewIssue {
                        project: (*project).to_owned(),
                        issue_type: "Task".to_owned(),
                        fields: [(field.to_owned(), json!(value))].into(),
                    },
                    "writer",
                )
                .expect("the writer's create is never refused while the sync runs");
            edits.push(Edit {
                side: *side,
                key: issue.key,
                field,
                value,
            });
        } else {
            let issues = store.issues(project).unwrap();
            let key = issues[random.below(issues.len() as u64) as usize]
                .key
                .clone();
            store
                .update(&key, &[(field.to_owned(), json!(value))].into(), "writer")
                .expect("the writer's edit is never refused while the sync runs");
            edits.push(Edit {
                side: *side,
                key,
                field,
                value,
            });
        }
        std::thread::sleep(Duration::from_millis(2 + random.below(12)));
    }
    edits
}

fn rounds_done(control: &SyncControl) -> i64 {
    control.status().unwrap()[0]
        .last_round
        .as_ref()
        .map_or(0, |round| round.rounds)
}

#[test]
fn killed_at_random_moments_the_sync_loses_nothing_and_applies_nothing_twice() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let (a_file, b_file) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for (file, key) in [(&a_file, "A"), (&b_file, "B")] {
        let store = SqliteStore::open(file).unwrap();
        store.add_project(&project(key)).unwrap();
        for n in 1..=5 {
            let fields = [("title".to_owned(), json!(format!("{key} issue {n}")))].into();
            let new = NewIssue {
                project: key.to_owned(),
                issue_type: "Task".to_owned(),
                fields,
            };
            store.create(&new, "writer").unwrap();
        }
    }
    let config_file = write_config(dir.path());
    let config = SyncConfig::load(&config_file).unwrap();
    let control = SyncControl::open(&config).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, b, stop) = (a_file.clone(), b_file.clone(), Arc::clone(&stop));
        std::thread::spawn(move || writer(&a, &b, seed, &stop))
    };

    let mut moments = Moments(seed);
    let mut kills = 0;
    let started = Instant::now();
    // Two runners started at once each time: one claims the stores, the other must
    // stop with exit code 4 (or find the stores free once the first was killed).
    let mut turned_away = 0;
    while kills < MIN_KILLS || rounds_done(&control) < MIN_ROUNDS {
        let start = || {
            Command::new(env!("CARGO_BIN_EXE_fieldsync"))
                .args(["sync", "--config", config_file.to_str().unwrap()])
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("fieldsync starts")
        };
        let mut children = [start(), start()];
        // The one turned away says so within a second (it waits a moment for a
        // claim just being looked at).
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(1)
            && !children
                .iter_mut()
                .any(|child| child.try_wait().unwrap().is_some())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20 + moments.below(200)));
        for child in &mut children {
            if child
                .try_wait()
                .unwrap()
                .is_some_and(|status| status.code() == Some(4))
            {
                turned_away += 1;
            }
            let _ = child.kill();
            child.wait().unwrap();
        }
        kills += 1;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{kills} kills in 10 minutes but only {} rounds",
            rounds_done(&control)
        );
    }
    stop.store(true, Ordering::SeqCst);
    let mut edits = writer.join().expect("the writer never fails");
    let killed_rounds = rounds_done(&control);
    let failing_after_kills = control.failures().unwrap().len();

    // A's users correct the codes that are no number; until then those issues wait.
    let a = SqliteStore::open_existing(&a_file).unwrap();
    for (n, issue) in a.issues("A").unwrap().into_iter().enumerate() {
        if issue
            .value("code")
            .as_str()
            .is_some_and(|code| code.starts_with("bad-"))
        {
            let value = (1_000_000 + n).to_string();
            let changes = [("code".to_owned(), json!(value))].into();
            a.update(&issue.key, &changes, "writer").unwrap();
            edits.push(Edit {
                side: Side::A,
                key: issue.key,
                field: "code",
                value,
            });
        }
    }

    // The last run: until a round sends nothing and nothing is queued.
    let mut final_runs = 0;
    loop {
        final_runs += 1;
        let output = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(["sync", "--once", "--config", config_file.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let status = &control.status().unwrap()[0];
        let queued: i64 = status.directions.iter().map(|d| d.queue.pending).sum();
        let sent = status.last_round.as_ref().unwrap().messages_sent;
        if queued == 0 && sent == 0 {
            break;
        }
        assert!(final_runs < 10, "no quiet round after {final_runs} runs");
    }

    let b = SqliteStore::open_existing(&b_file).unwrap();
    let (a_issues, b_issues) = (a.issues("A").unwrap(), b.issues("B").unwrap());
    assert_eq!(a_issues.len(), b_issues.len(), "one partner per issue");

    // Every issue is linked to exactly one partner, both ways.
    let partner_of = |store: &SqliteStore, key: &str| {
        store
            .sync_state(SYNC, key)
            .unwrap()
            .and_then(|state| state.partner)
            .unwrap_or_else(|| panic!("{key} has a partner"))
    };
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for issue in &a_issues {
        let partner = partner_of(&a, &issue.key);
        assert_eq!(partner_of(&b, &partner), issue.key, "links agree");
        pairs.insert(issue.key.clone(), partner);
    }
    let partners: BTreeSet<&String> = pairs.values().collect();
    assert_eq!(
        partners.len(),
        b_issues.len(),
        "no B issue has two partners"
    );

    // Both sides equal, field by field.
    for (a_key, b_key) in &pairs {
        let (a_issue, b_issue) = (
            a.get(a_key).unwrap().unwrap(),
            b.get(b_key).unwrap().unwrap(),
        );
        for field in ["title", "note", "remark", "code"] {
            let (a_value, b_value) = (a_issue.value(field), b_issue.value(field));
            assert!(
                same(field, a_value, b_value),
                "{a_key}.{field} = {a_value} vs {b_key}.{field} = {b_value}"
            );
        }
    }

    // Every edit present: the last edit of each field of each pair is its value.
    // (A `note` is only ever edited on A, a `remark` only on B; `title` on both, and
    // the writer's edits are sequential, so the later one is also the newer.)
    let a_key_of = |side: Side, key: &str| match side {
        Side::A => key.to_owned(),
        Side::B => partner_of(&b, key),
    };
    let mut last_edit: BTreeMap<(String, &str), &str> = BTreeMap::new();
    for edit in &edits {
        last_edit.insert((a_key_of(edit.side, &edit.key), edit.field), &edit.value);
    }
    let lost: Vec<String> = last_edit
        .iter()
        .filter(|((a_key, field), value)| {
            let expected = json!(value);
            let on_b = b.get(&pairs[a_key]).unwrap().unwrap();
            a.get(a_key).unwrap().unwrap().value(field) != &expected
                || !same(field, &expected, on_b.value(field))
        })
        .map(|((a_key, field), value)| format!("{a_key}.{field} = {value}"))
        .collect();

    // Nothing applied twice: every value is unique, so the sync writes each one into
    // a target field at most once.
    let mut written: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (store, issues) in [(&a, &a_issues), (&b, &b_issues)] {
        for issue in issues {
            for entry in store.history_since(&issue.key, 0).unwrap() {
                if entry.author == SYNC_USER {
                    *written
                        .entry((
                            issue.key.clone(),
                            entry.field.clone(),
                            entry.new.to_string(),
                        ))
                        .or_default() += 1;
                }
            }
        }
    }
    let duplicated: Vec<_> = written.iter().filter(|(_, count)| **count > 1).collect();

    let errors = control.failures().unwrap();

    println!(
        "crash test: {killed_rounds} rounds, {kills} kills, {} edits on {} issue pairs, \
         {failing_after_kills} issues failing when the kills stopped, {} final runs, \
         {turned_away} second runners turned away, lost {}, duplicated {}, parked {}",
        edits.len(),
        pairs.len(),
        final_runs,
        lost.len(),
        duplicated.len(),
        errors.len()
    );
    assert!(
        turned_away > kills / 2,
        "a second runner was turned away only {turned_away} times in {kills} starts"
    );
    assert!(lost.is_empty(), "lost edits: {lost:?}");
    assert!(duplicated.is_empty(), "applied twice: {duplicated:?}");
    assert!(errors.is_empty(), "nothing should fail: {errors:?}");
    // The queues' own counts (not the failure list above) show nothing held back.
    for direction in &control.status().unwrap()[0].directions {
        let queue = &direction.queue;
        assert_eq!(
            (
                queue.retrying,
                queue.parked,
                queue.send_retrying,
                queue.send_parked
            ),
            (0, 0, 0, 0),
            "{} → {}",
            direction.from_project,
            direction.to_project
        );
    }
    // A fresh process finds nothing to do: no echo of the crashes' recoveries.
    let quiet = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(["sync", "--once", "--config", config_file.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    let said = String::from_utf8_lossy(&quiet.stdout);
    assert!(said.contains("round: 0 messages"), "{said}");
}
