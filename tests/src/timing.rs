//! Durations a benchmark times itself, so that its ratios come from one run and from
//! criterion's public API alone (criterion's files on disk are its own business).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The times of one benchmark's runs.
#[derive(Debug, Default)]
pub struct Samples(Mutex<Vec<Duration>>);

impl Samples {
    /// Times `work`, keeps the time and returns it (for `iter_custom`).
    pub fn time(&self, work: impl FnOnce()) -> Duration {
        let started = Instant::now();
        work();
        let took = started.elapsed();
        self.0.lock().expect("samples").push(took);
        took
    }

    /// Nothing was timed (a filter left the benchmark out).
    pub fn is_empty(&self) -> bool {
        self.0.lock().expect("samples").is_empty()
    }

    /// Times `work`, which did `count` things, and keeps the time per thing.
    pub fn time_each(&self, count: u64, work: impl FnOnce()) -> Duration {
        let started = Instant::now();
        work();
        let took = started.elapsed();
        let each = took.div_f64(count.max(1) as f64);
        self.0.lock().expect("samples").push(each);
        took
    }

    /// The median of the times kept (zero before any).
    pub fn median(&self) -> Duration {
        let mut samples = self.0.lock().expect("samples").clone();
        samples.sort();
        samples.get(samples.len() / 2).copied().unwrap_or_default()
    }
}

/// `<name>: fieldsync <time>, floor <time>, ratio <x>x`, one line a script can grep.
pub fn ratio_line(name: &str, fieldsync: Duration, floor: Duration) -> String {
    format!(
        "{name}: fieldsync {fieldsync:.2?}, floor {floor:.2?}, ratio {:.2}x",
        fieldsync.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE)
    )
}
