//! Notices that a plugin folder changed, and when it has settled.
//!
//! The operating system's file events (inotify, FSEvents, ... through `notify`) say
//! at once that something happened; a cheap listing of the folder (names, sizes,
//! modification times, inodes) says what and is compared with the last one. The
//! listing also runs every few seconds without any event, so a folder on a file
//! system without events (NFS, some containers) is still noticed. A change is
//! reported once the listing has stayed the same for a short while, so a file still
//! being copied is not loaded half-written (a copy-then-rename is seen at once).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};

use crate::LIBRARY_SUFFIX;

/// What the folder held at one moment: one entry per library-named name.
type Listing = Vec<(String, u64, Option<SystemTime>, u64)>;

/// Watches one plugin folder.
pub struct FolderWatch {
    dir: PathBuf,
    /// Held for its events; `None` when the platform gave none (polling only).
    watcher: Option<notify::RecommendedWatcher>,
    event_seen: Arc<AtomicBool>,
    seen: Listing,
    /// A change not reported yet, and since when the folder has looked like `seen`.
    pending_since: Option<Instant>,
    last_listing: Instant,
    settle: Duration,
    poll_every: Duration,
}

impl FolderWatch {
    /// Starts watching `dir`, whose current content counts as seen.
    pub fn new(dir: &Path) -> FolderWatch {
        let event_seen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&event_seen);
        let watcher = notify::recommended_watcher(move |_event| flag.store(true, Ordering::SeqCst))
            .and_then(|mut watcher| {
                watcher.watch(dir, RecursiveMode::NonRecursive)?;
                Ok(watcher)
            });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                log::warn!(
                    "no file events for plugin folder {} ({error}); it is listed every few \
                     seconds instead",
                    dir.display()
                );
                None
            }
        };
        FolderWatch {
            dir: dir.to_owned(),
            watcher,
            event_seen,
            seen: listing(dir),
            pending_since: None,
            last_listing: Instant::now(),
            settle: Duration::from_millis(200),
            poll_every: Duration::from_secs(2),
        }
    }

    /// Whether file events reach this watch (else it polls).
    pub fn has_events(&self) -> bool {
        self.watcher.is_some()
    }

    /// Whether the folder changed since the last `true` and has now settled. Cheap
    /// unless something happened: call it often (every 100 ms, say).
    pub fn changed(&mut self) -> bool {
        let event = self.event_seen.swap(false, Ordering::SeqCst);
        let poll_due = self.last_listing.elapsed() >= self.poll_every;
        if !event && !poll_due && self.pending_since.is_none() {
            return false;
        }
        self.last_listing = Instant::now();
        let now = listing(&self.dir);
        if now != self.seen {
            self.seen = now;
            self.pending_since = Some(Instant::now());
            return false;
        }
        match self.pending_since {
            Some(since) if since.elapsed() >= self.settle => {
                self.pending_since = None;
                true
            }
            _ => false,
        }
    }
}

fn listing(dir: &Path) -> Listing {
    let Ok(entries) = dir.read_dir() else {
        return Vec::new();
    };
    let mut listing: Listing = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(LIBRARY_SUFFIX) {
                return None;
            }
            // Through links: a link whose target is replaced is a change too.
            let metadata = std::fs::metadata(entry.path()).ok();
            let len = metadata.as_ref().map_or(0, |m| m.len());
            let modified = metadata.as_ref().and_then(|m| m.modified().ok());
            Some((name, len, modified, inode(metadata.as_ref())))
        })
        .collect();
    listing.sort();
    listing
}

#[cfg(unix)]
fn inode(metadata: Option<&std::fs::Metadata>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.map_or(0, MetadataExt::ino)
}

#[cfg(not(unix))]
fn inode(_metadata: Option<&std::fs::Metadata>) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(watch: &mut FolderWatch) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if watch.changed() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_new_replaced_or_removed_library_is_noticed_once_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = FolderWatch::new(dir.path());
        assert!(watch.has_events(), "inotify works here");
        assert!(!watch.changed());
        let file = dir.path().join(format!("a{LIBRARY_SUFFIX}"));
        std::fs::write(&file, b"one").unwrap();
        assert!(settled(&mut watch), "a new file is noticed");
        assert!(!watch.changed(), "and reported once");
        std::fs::write(&file, b"two, longer").unwrap();
        assert!(settled(&mut watch), "a rewritten file is noticed");
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!watch.changed(), "a file that is no library is no change");
        std::fs::remove_file(&file).unwrap();
        assert!(settled(&mut watch), "a removed file is noticed");
    }
}
