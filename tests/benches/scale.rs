//! The initial sync at scale: 10,000 and 100,000 issues × 10 fields A → B, one round
//! each, with the peak memory of the round, then the idle round on the synced stores.
//! Time should grow linearly with the issues, memory not at all, and the idle round
//! should cost the same on both (it reads only what changed).
//!
//! `cargo bench -p fieldsync-tests --bench scale` (`-- 100000` runs one size)

/// The allocator the `fieldsync` program runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use fieldsync_tests::throughput::{check_round, engine, Template};

/// The process's peak resident memory since the last reset, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// Lets the peak start again from the memory in use now (Linux: `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.replace(['_', ','], "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    for issues in sizes {
        let made = Instant::now();
        let template = Template::new(issues);
        eprintln!("{issues} issues made in {:.1?}", made.elapsed());
        let engine = engine(template.dir.path());
        reset_peak_rss();
        let before = peak_rss_mib();
        let started = Instant::now();
        let report = engine.run_round();
        let took = started.elapsed();
        let peak = peak_rss_mib();
        check_round(&report, issues);
        // The round after reads past the sync's own writes on B once; then idle.
        check_round(&engine.run_round(), 0);
        let idle: Vec<Duration> = (0..30)
            .map(|_| {
                let started = Instant::now();
                check_round(&engine.run_round(), 0);
                started.elapsed()
            })
            .collect();
        println!(
            "initial sync {issues} x 10: {took:.2?}, {:.0} issues/s, peak RSS {peak:.0} MiB \
             ({before:.0} MiB before the round); idle round {:.2?}",
            issues as f64 / took.as_secs_f64(),
            median(idle)
        );
    }
}
