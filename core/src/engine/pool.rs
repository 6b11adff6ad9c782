//! Runs independent pieces of work on a few threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

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
