//! `fieldsync sync` and `fieldsync resync`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{host, EXIT_PROBLEMS, EXIT_UNAVAILABLE};

/// Runs rounds until SIGINT/SIGTERM (or one round with `once`). With `once`, exit
/// code 1 when an issue failed or a message is parked, 3 when a tracker or store did
/// not answer (also at start).
pub fn sync(
    config: &Path,
    plugin_dir: Option<&Path>,
    once: bool,
    json: bool,
) -> Result<u8, String> {
    let engine = match host::engine_or_exit(config, plugin_dir)? {
        Ok(engine) => engine,
        Err(code) => return Ok(code),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|error| format!("cannot install the SIGINT/SIGTERM handler: {error}"))?;
    let schedule = engine.schedule();
    if !once {
        let intervals: Vec<String> = schedule
            .iter()
            .map(|(id, interval)| format!("{id} every {} s", interval.as_secs_f64()))
            .collect();
        eprintln!(
            "fieldsync: syncing {}; Ctrl-C or SIGTERM stops after the message in hand",
            intervals.join(", ")
        );
    }
    // Each synchronization runs on its own interval; all are due at the start.
    let mut next_due: Vec<Instant> = vec![Instant::now(); schedule.len()];
    loop {
        let now = Instant::now();
        let due: Vec<&str> = schedule
            .iter()
            .zip(&next_due)
            .filter(|(_, due)| **due <= now)
            .map(|((id, _), _)| id.as_str())
            .collect();
        let report = engine.run_syncs_until(&|id| due.contains(&id), &stop);
        for ((id, interval), due_at) in schedule.iter().zip(next_due.iter_mut()) {
            if due.contains(&id.as_str()) {
                *due_at = now + *interval;
            }
        }
        if json {
            println!(
                "{}",
                serde_json::to_string(&report).map_err(|error| error.to_string())?
            );
        } else if once
            || report.messages_sent() > 0
            || report.failures().next().is_some()
            || report.unavailable().is_some()
        {
            println!("{report}");
        }
        if once {
            // A message parked by an earlier run is a failed issue too.
            let parked = engine
                .control()
                .status()
                .map_err(|error| error.to_string())?
                .iter()
                .any(|status| status.parked() > 0);
            let failed = report.failures().next().is_some();
            return Ok(if report.unavailable().is_some() {
                EXIT_UNAVAILABLE
            } else if failed || parked {
                EXIT_PROBLEMS
            } else {
                0
            });
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let earliest = next_due.iter().min().copied().unwrap_or(now);
        wait(earliest.saturating_duration_since(Instant::now()), &stop);
        if stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
    }
}

/// Sleeps for `interval`, waking early when `stop` is set.
fn wait(interval: Duration, stop: &AtomicBool) {
    let until = Instant::now() + interval;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Queues a resync of some fields of one issue.
pub fn resync(
    key: &str,
    fields: &[String],
    config: &Path,
    plugin_dir: Option<&Path>,
) -> Result<u8, String> {
    let engine = match host::engine_or_exit(config, plugin_dir)? {
        Ok(engine) => engine,
        Err(code) => return Ok(code),
    };
    let queued = engine
        .request_resync(key, fields)
        .map_err(|error| error.to_string())?;
    for line in queued {
        println!("{key}: resync queued in {line}");
    }
    println!("it is sent with the next round of `fieldsync sync`");
    Ok(0)
}
