//! Quick A/B timing of one sync round, for comparing two builds on a noisy machine
//! (criterion's `sync` bench is the measurement of record, see BENCHMARKS.md):
//!
//! ```sh
//! cargo run --release -p fieldsync-tests --example round_times            # initial sync
//! cargo run --release -p fieldsync-tests --example round_times floor      # its floor
//! cargo run --release -p fieldsync-tests --example round_times changed 2  # 1% changed,
//!                                                 # after 2 rounds (1: right after import)
//! ```
//!
//! Prints the five fastest of the rounds it timed, each on a fresh copy of the files.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fieldsync_core::Tracker;
use fieldsync_tests::throughput::{
    bare_connection, check_round, engine, floor_initial_sync, store, Template,
};

/// The allocator the `fieldsync` program runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ISSUES: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let template = Template::new(ISSUES);
    let (what, times) = match args.first().map(String::as_str) {
        None | Some("initial") => ("initial sync", rounds(&template, 5, ISSUES)),
        Some("floor") => ("floor of the initial sync", floors(&template, 5)),
        Some("changed") => {
            let before = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(2);
            change_one_percent(&template, before);
            ("1% changed", rounds(&template, 15, ISSUES / 100))
        }
        Some(other) => {
            eprintln!("unknown `{other}`: initial, floor or changed [rounds before]");
            std::process::exit(2);
        }
    };
    println!("{what}: {:?}", &times[..times.len().min(5)]);
}

/// Rounds on fresh copies of `template`, each checked to send `messages`; sorted.
fn rounds(template: &Template, count: usize, messages: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let dir = template.copy();
            let engine = engine(dir.path());
            let started = Instant::now();
            let report = engine.run_round();
            let took = started.elapsed();
            check_round(&report, messages);
            took
        })
        .collect();
    times.sort();
    times
}

fn floors(template: &Template, count: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let dir = template.copy();
            let mut a = bare_connection(&dir.path().join("a.db"));
            let mut b = bare_connection(&dir.path().join("b.db"));
            let started = Instant::now();
            floor_initial_sync(&mut a, &mut b);
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// `template` after `rounds_before` rounds, with every 100th issue of A edited.
fn change_one_percent(template: &Template, rounds_before: usize) {
    let engine = engine(template.dir.path());
    for _ in 0..rounds_before {
        engine.run_round();
    }
    drop(engine);
    let a = store(template.dir.path(), "a.db");
    for n in (0..ISSUES).step_by(100) {
        let edit = BTreeMap::from([(
            "summary".to_owned(),
            serde_json::json!(format!("Edited issue {n}")),
        )]);
        a.update(&format!("A-{}", n + 1), &edit, "alice")
            .expect("edit");
    }
}
