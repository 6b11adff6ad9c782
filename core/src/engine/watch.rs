//! Watches mapping calls: one that runs longer than the configured limit is logged
//! while it still runs (a hung plugin shows up in the log at once, not when it
//! returns) and reported when it ends.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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
        let mut call = SlowCall {
            issue_key: String::new(),
            relationship: String::new(),
            mapping: String::new(),
            plugin: String::new(),
            millis: 0,
        };
        self.write_into(&mut call, took);
        call
    }

    /// Fills `call` in place: the strings keep their room from the thread's earlier
    /// calls, so a call under watch allocates nothing.
    fn write_into(&self, call: &mut SlowCall, took: Duration) {
        call.issue_key.clear();
        call.issue_key.push_str(self.issue_key);
        call.relationship.clone_from(&self.relationship.id);
        call.mapping.clone_from(&self.mapping.id);
        call.plugin.clone_from(&self.mapping.plugin);
        call.millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    }
}

/// The call a worker thread is running, if any. One slot per thread, reused.
struct Running {
    call: SlowCall,
    started: Instant,
    active: bool,
    logged: bool,
}

type Slot = Arc<Mutex<Running>>;

thread_local! {
    /// This thread's slot in the watch it last ran a call under (by the watch's
    /// number): a call finds it without a shared table.
    static SLOT: RefCell<Option<(u64, Slot)>> = const { RefCell::new(None) };
}

/// Numbers the watches, so that a thread's slot of an earlier round is not taken for
/// one of this round's.
static WATCHES: AtomicU64 = AtomicU64::new(0);

/// The mapping calls of one round of one synchronization.
pub(super) struct CallWatch {
    id: u64,
    limit: Duration,
    /// Every thread's slot, for the watchdog.
    slots: Mutex<Vec<Slot>>,
    slow: Mutex<Vec<SlowCall>>,
}

impl CallWatch {
    pub fn new(limit: Duration) -> Self {
        CallWatch {
            id: WATCHES.fetch_add(1, Ordering::Relaxed),
            limit,
            slots: Mutex::new(Vec::new()),
            slow: Mutex::new(Vec::new()),
        }
    }

    /// The calling thread's slot, made on its first call under this watch.
    fn slot(&self, site: &CallSite<'_>) -> Slot {
        SLOT.with(|cell| {
            let mut cell = cell.borrow_mut();
            match &*cell {
                Some((id, slot)) if *id == self.id => Arc::clone(slot),
                _ => {
                    let slot = Arc::new(Mutex::new(Running {
                        call: site.slow_call(Duration::ZERO),
                        started: Instant::now(),
                        active: false,
                        logged: false,
                    }));
                    self.slots.lock().push(Arc::clone(&slot));
                    *cell = Some((self.id, Arc::clone(&slot)));
                    slot
                }
            }
        })
    }

    /// Runs one mapping call under watch.
    pub fn call<T>(&self, site: CallSite<'_>, work: impl FnOnce() -> T) -> T {
        let slot = self.slot(&site);
        let started = Instant::now();
        {
            let mut running = slot.lock();
            site.write_into(&mut running.call, Duration::ZERO);
            running.started = started;
            running.active = true;
            running.logged = false;
        }
        // Marked ended however the call ends, a panic included.
        let entry = RunningEntry { slot: &slot };
        let result = work();
        let took = started.elapsed();
        let logged = entry.finish();
        if took > self.limit {
            let call = site.slow_call(took);
            let verb = if logged { "finished after" } else { "took" };
            log::warn!(
                "slow mapping call: {call} {verb} {} ms; the limit is {} ms",
                call.millis,
                self.limit.as_millis()
            );
            self.slow.lock().push(call);
        }
        result
    }

    /// Logs, once each, the calls running longer than the limit right now, and
    /// returns every call over the limit that is still running (with its time so far).
    fn log_overdue(&self) -> Vec<SlowCall> {
        let slots = self.slots.lock();
        let mut overdue = Vec::new();
        for slot in slots.iter() {
            let mut entry = slot.lock();
            if !entry.active {
                continue;
            }
            let ran = entry.started.elapsed();
            if ran <= self.limit {
                continue;
            }
            let mut call = entry.call.clone();
            call.millis = u64::try_from(ran.as_millis()).unwrap_or(u64::MAX);
            overdue.push(call);
            if entry.logged {
                continue;
            }
            entry.logged = true;
            log::warn!(
                "slow mapping call: {} is still running after {} ms; the limit is {} ms; \
                 other issues go on",
                entry.call,
                ran.as_millis(),
                self.limit.as_millis()
            );
        }
        overdue
    }

    /// The slow calls recorded since the last take.
    pub fn take_slow(&self) -> Vec<SlowCall> {
        std::mem::take(&mut self.slow.lock())
    }

    /// Runs `work` while a thread logs calls that overrun the limit and hands the
    /// calls over the limit that are still running to `overdue` (so that a call that
    /// hangs shows in `status` before the round ends).
    pub fn watching<R>(&self, overdue: impl Fn(&[SlowCall]) + Sync, work: impl FnOnce() -> R) -> R {
        let done = AtomicBool::new(false);
        let tick = (self.limit / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        std::thread::scope(|scope| {
            let watchdog = scope.spawn(|| {
                let mut reported = 0;
                while !done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(tick);
                    let calls = self.log_overdue();
                    // Told again while calls hang (their time grows), once when none do.
                    if !calls.is_empty() || reported > 0 {
                        overdue(&calls);
                    }
                    reported = calls.len();
                }
            });
            // Ends the watchdog however `work` ends: a panic must not leave the scope
            // waiting for it for ever.
            let _stop = StopOnDrop {
                done: &done,
                watchdog: watchdog.thread(),
            };
            work()
        })
    }
}

struct StopOnDrop<'a> {
    done: &'a AtomicBool,
    watchdog: &'a std::thread::Thread,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.watchdog.unpark();
    }
}

/// A call's slot, marked ended when the call ends.
struct RunningEntry<'a> {
    slot: &'a Slot,
}

impl RunningEntry<'_> {
    /// Whether the watchdog logged the call while it ran; marks the slot ended.
    fn finish(self) -> bool {
        let mut running = self.slot.lock();
        running.active = false;
        let logged = running.logged;
        drop(running);
        std::mem::forget(self); // ended already
        logged
    }
}

impl Drop for RunningEntry<'_> {
    fn drop(&mut self) {
        self.slot.lock().active = false;
    }
}
