//! Watches mapping calls: one that runs longer than the configured limit is logged
//! while it still runs (a hung plugin shows up in the log at once, not when it
//! returns) and reported when it ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{MappingIdentity, RelationshipRuntime};
use crate::store::SlowCall;

/// Which call is running.
pub(super) struct CallSite<'a> {
    pub issue_key: &'a str,
    pub relationship: &'a RelationshipRuntime,
    pub mapping: &'a MappingIdentity,
}

impl CallSite<'_> {
    fn slow_call(&self, took: Duration) -> SlowCall {
        SlowCall {
            issue_key: self.issue_key.to_owned(),
            relationship: self.relationship.id.clone(),
            mapping: self.mapping.id.clone(),
            plugin: self.mapping.plugin.clone(),
            millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

struct Running {
    call: SlowCall,
    started: Instant,
    logged: bool,
}

/// The mapping calls of one round of one synchronization.
pub(super) struct CallWatch {
    limit: Duration,
    next_id: AtomicU64,
    running: Mutex<BTreeMap<u64, Running>>,
    slow: Mutex<Vec<SlowCall>>,
}

impl CallWatch {
    pub fn new(limit: Duration) -> Self {
        CallWatch {
            limit,
            next_id: AtomicU64::new(0),
            running: Mutex::new(BTreeMap::new()),
            slow: Mutex::new(Vec::new()),
        }
    }

    /// Runs one mapping call under watch.
    pub fn call<T>(&self, site: CallSite<'_>, work: impl FnOnce() -> T) -> T {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        self.running.lock().insert(
            id,
            Running {
                call: site.slow_call(Duration::ZERO),
                started,
                logged: false,
            },
        );
        let result = work();
        let took = started.elapsed();
        let logged = self.running.lock().remove(&id).is_some_and(|r| r.logged);
        if took > self.limit {
            let call = site.slow_call(took);
            let verb = if logged { "finished after" } else { "took" };
            log::warn!(
                "slow mapping call: mapping `{}` of plugin `{}` on {} (relationship `{}`) {verb} \
                 {} ms; the limit is {} ms",
                call.mapping,
                call.plugin,
                call.issue_key,
                call.relationship,
                call.millis,
                self.limit.as_millis()
            );
            self.slow.lock().push(call);
        }
        result
    }

    /// Logs, once each, the calls running longer than the limit right now.
    fn log_overdue(&self) {
        let mut running = self.running.lock();
        for entry in running.values_mut() {
            let ran = entry.started.elapsed();
            if entry.logged || ran <= self.limit {
                continue;
            }
            entry.logged = true;
            log::warn!(
                "slow mapping call: mapping `{}` of plugin `{}` on {} (relationship `{}`) is \
                 still running after {} ms; the limit is {} ms; other issues go on",
                entry.call.mapping,
                entry.call.plugin,
                entry.call.issue_key,
                entry.call.relationship,
                ran.as_millis(),
                self.limit.as_millis()
            );
        }
    }

    /// The slow calls recorded since the last take.
    pub fn take_slow(&self) -> Vec<SlowCall> {
        std::mem::take(&mut self.slow.lock())
    }

    /// Runs `work` while a thread logs calls that overrun the limit.
    pub fn watching<R>(&self, work: impl FnOnce() -> R) -> R {
        let done = AtomicBool::new(false);
        let tick = (self.limit / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        std::thread::scope(|scope| {
            let watchdog = scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(tick);
                    self.log_overdue();
                }
            });
            let result = work();
            done.store(true, Ordering::SeqCst);
            watchdog.thread().unpark();
            result
        })
    }
}
