//! `fieldsync sync` and `fieldsync resync`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::host::{self, PluginSetup};
use crate::live::LiveHost;
use crate::CliError;
use crate::{EXIT_PROBLEMS, EXIT_UNAVAILABLE};

/// Runs rounds until SIGINT/SIGTERM (or one round with `once`). With `once`, exit
/// code 1 when an issue failed or is held back by a failure (retrying or parked), 3 when a tracker or store did
/// not answer (also at start; without `once`, a tracker silent at start is asked
/// again every 5 s). While it runs, changes of the plugin folder (and
/// SIGHUP, which also re-reads the configuration) rebuild the engine between rounds.
/// How a running sync reports its rounds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// What each round did, issue by issue (rounds that did nothing stay silent), and
    /// a progress line on a terminal while a round runs.
    Report,
    /// Each round's summary line only.
    Quiet,
    /// Each round's report as one JSON line.
    Json,
}

/// The options of `fieldsync sync`.
pub struct SyncOptions {
    pub once: bool,
    pub output: Output,
    pub wait_for_mappings: bool,
}

pub fn sync(config: &Path, plugins: &PluginSetup, options: &SyncOptions) -> Result<u8, CliError> {
    let SyncOptions {
        once,
        output,
        wait_for_mappings,
    } = *options;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The second signal ends the process at once (a hung plugin call may hold the
        // round): registered first, it sees the flag the first one set.
        signal_hook::flag::register_conditional_shutdown(signal, EXIT_FORCED, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|error| format!("cannot install the SIGINT/SIGTERM handler: {error}"))?;
    }
    announce_stop(Arc::clone(&stop));
    // A running sync waits for a tracker that does not answer yet; `--once` says so
    // with exit code 3.
    let Some(mut host) = LiveHost::start(config, plugins, wait_for_mappings, !once, &stop)? else {
        return Ok(0);
    };
    if !once {
        let intervals: Vec<String> = host
            .engine()
            .schedule()
            .iter()
            .map(|(id, interval)| format!("{id} every {} s", interval.as_secs_f64()))
            .collect();
        eprintln!(
            "fieldsync: syncing {}; Ctrl-C or SIGTERM stops after the message in hand; \
             plugins dropped into the folder (or SIGHUP) are picked up between rounds",
            intervals.join(", ")
        );
    }
    // Each synchronization runs on its own interval; all are due at the start (and a
    // synchronization a reload adds is due at once).
    let mut next_due: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        let now = Instant::now();
        let schedule = host.engine().schedule();
        let due: Vec<&str> = schedule
            .iter()
            .filter(|(id, _)| next_due.get(id).is_none_or(|due| *due <= now))
            .map(|(id, _)| id.as_str())
            .collect();
        let progress = (output == Output::Report && std::io::stderr().is_terminal())
            .then(|| ProgressLine::start(host.engine().progress()));
        let report = host
            .engine()
            .run_syncs_until(&|id| due.contains(&id), &stop);
        drop(progress);
        for (id, interval) in &schedule {
            if due.contains(&id.as_str()) {
                next_due.insert(id.clone(), now + *interval);
            }
        }
        let eventful = report.messages_sent() > 0
            || report.failures().next().is_some()
            || report.unavailable().is_some();
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string(&report).map_err(|error| error.to_string())?
            ),
            Output::Quiet if once || eventful => println!("{}", report.summary()),
            Output::Report if once || eventful => println!("{report}"),
            Output::Quiet | Output::Report => {}
        }
        if once {
            // An issue held back by an earlier failure (waiting for its retry, or
            // parked) is a failed issue too.
            let held_back = host
                .engine()
                .control()
                .status()
                .map_err(|error| error.to_string())?
                .iter()
                .any(|status| status.failing() > 0);
            let failed = report.failures().next().is_some();
            return Ok(if report.unavailable().is_some() {
                EXIT_UNAVAILABLE
            } else if failed || held_back {
                EXIT_PROBLEMS
            } else {
                0
            });
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let earliest = schedule
            .iter()
            .filter_map(|(id, _)| next_due.get(id))
            .min()
            .copied()
            .unwrap_or(now);
        wait(earliest, &stop, &mut host);
        if stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
    }
}

/// A line on the terminal (stderr) showing how far a running round has got, gone
/// when dropped. Only ever drawn on a terminal: never in `--json`, `--quiet` or logs.
struct ProgressLine {
    bar: indicatif::ProgressBar,
    done: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLine {
    fn start(progress: Arc<fieldsync_core::engine::RoundProgress>) -> ProgressLine {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let done = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bar, done) = (bar.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                // Rounds that finish within half a second draw nothing.
                std::thread::sleep(Duration::from_millis(500));
                while !done.load(Ordering::SeqCst) {
                    bar.set_message(format!(
                        "round: {} issues read, {} of {} messages handled",
                        progress.issues_read.load(Ordering::Relaxed),
                        progress.messages_handled.load(Ordering::Relaxed),
                        progress.messages_queued.load(Ordering::Relaxed),
                    ));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        ProgressLine {
            bar,
            done,
            ticker: Some(ticker),
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Exit code when a second SIGINT/SIGTERM ends `fieldsync sync` at once.
pub const EXIT_FORCED: i32 = 130;

/// Says, when the first stop signal arrives, what happens and how to stop at once.
fn announce_stop(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "fieldsync: stopping after the message in hand; press Ctrl-C again (or send \
             SIGTERM again) to stop now: what is not finished is done again next time, \
             nothing is lost"
        );
    });
}

/// Sleeps until `until`, waking early when `stop` is set, and lets the host pick up
/// plugin and configuration changes meanwhile.
fn wait(until: Instant, stop: &AtomicBool, host: &mut LiveHost) {
    loop {
        host.poll();
        let left = until.saturating_duration_since(Instant::now());
        if stop.load(Ordering::SeqCst) || left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// `fieldsync config check`: builds everything a sync would run with, runs nothing.
pub fn check(config: &Path, plugins: &PluginSetup) -> Result<u8, CliError> {
    let engine = host::engine(config, plugins)?;
    let schedule = engine.schedule();
    println!(
        "{}: usable: {} synchronization(s): {}",
        config.display(),
        schedule.len(),
        schedule
            .iter()
            .map(|(id, interval)| format!("{id} (every {} s)", interval.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(0)
}

/// Queues a resync of some fields of one issue.
pub fn resync(
    key: &str,
    fields: &[String],
    config: &Path,
    plugins: &PluginSetup,
) -> Result<u8, CliError> {
    let engine = host::engine(config, plugins)?;
    let queued = engine
        .request_resync(key, fields)
        .map_err(|error| error.to_string())?;
    for line in queued {
        println!("{key}: resync queued in {line}");
    }
    println!("it is sent with the next round of `fieldsync sync`");
    Ok(0)
}
