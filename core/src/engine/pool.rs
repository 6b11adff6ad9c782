//! Runs independent pieces of work on a few threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::SideStores;

/// How many threads work on a queue's issues at once.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    /// `workers` from the configuration.
    pub configured: Option<usize>,
    /// The number of CPUs.
    pub cpus: usize,
}

impl Workers {
    /// For the queue that reads or writes the issues of `side`. Unless configured: a
    /// side whose issues live in the local database (the atomic case) gets one
    /// thread, as every read and write goes through its one connection and more
    /// threads only queue for it (two made an initial sync of 10,000 issues take
    /// 1.55× as long as one); a remote tracker answers requests in parallel, so
    /// there a thread per CPU waits on it.
    pub fn for_side(self, side: &SideStores) -> usize {
        match (self.configured, &side.atomic) {
            (Some(workers), _) => workers,
            (None, Some(_)) => 1,
            (None, None) => self.cpus,
        }
    }

    /// For the outgoing queue of `side`, which only reads the side while it builds
    /// messages (they are stored afterwards): a local database gives each thread a
    /// read connection of its own, so unless configured a thread per CPU (up to
    /// four) reads side by side.
    pub fn for_reads(self, side: &SideStores) -> usize {
        match (self.configured, &side.atomic) {
            (Some(workers), _) => workers,
            (None, Some(_)) => self.cpus.min(LOCAL_READERS),
            (None, None) => self.cpus,
        }
    }
}

/// Threads reading a local database at once by default.
const LOCAL_READERS: usize = 4;

/// Calls `work` on every item using up to `workers` threads and returns the results
/// in the items' order. Items are handed out one at a time, so a slow item (a slow
/// plugin call) holds up one thread, not a share of the others' work.
pub fn map_parallel<T, R, F>(items: Vec<T>, workers: usize, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let threads = workers.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.into_iter().map(work).collect();
    }
    let count = items.len();
    let slots: Vec<Mutex<Option<T>>> = items
        .into_iter()
        .map(|item| Mutex::new(Some(item)))
        .collect();
    let results: Vec<Mutex<Option<R>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(index) else { break };
                if let Some(item) = slot.lock().take() {
                    *results[index].lock() = Some(work(item));
                }
            });
        }
    });
    results
        .into_iter()
        .filter_map(|result| result.into_inner())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, SyncStore};
    use std::sync::Arc;

    #[test]
    fn a_local_side_gets_one_writing_thread_a_remote_one_a_thread_per_cpu_unless_configured() {
        let store: Arc<dyn SyncStore> = Arc::new(SqliteStore::in_memory().unwrap());
        let local = SideStores::of_store(store);
        let remote = SideStores {
            atomic: None,
            ..local.clone()
        };
        let default = Workers {
            configured: None,
            cpus: 8,
        };
        assert_eq!(default.for_side(&local), 1);
        assert_eq!(default.for_side(&remote), 8);
        assert_eq!(
            default.for_reads(&local),
            4,
            "at most four read a local store"
        );
        assert_eq!(default.for_reads(&remote), 8);
        let two = Workers {
            configured: None,
            cpus: 2,
        };
        assert_eq!(two.for_reads(&local), 2);
        let configured = Workers {
            configured: Some(3),
            cpus: 8,
        };
        assert_eq!(configured.for_side(&local), 3);
        assert_eq!(configured.for_side(&remote), 3);
        assert_eq!(configured.for_reads(&local), 3);
    }

    #[test]
    fn results_keep_the_item_order_on_many_threads() {
        let items: Vec<u64> = (0..500).collect();
        let squares = map_parallel(items, 4, |n| {
            if n % 7 == 0 {
                std::thread::yield_now();
            }
            n * n
        });
        assert_eq!(squares, (0..500u64).map(|n| n * n).collect::<Vec<_>>());
        assert_eq!(map_parallel(Vec::<u8>::new(), 4, |n| n), Vec::<u8>::new());
    }
}
