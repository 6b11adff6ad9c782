//! Private, content-addressed copies of plugin files.
//!
//! The dynamic linker maps a library from its file for as long as the process runs:
//! overwriting or truncating a loaded plugin file in the folder would change the code
//! under the running host (it dies of SIGSEGV or SIGBUS at its next call into it).
//! So a plugin is never loaded from the folder: its bytes are read once, hashed, and
//! written to `<cache>/<sha256>.so`, and that copy is loaded. The folder's file may
//! then change or vanish at any time. Naming copies by content also lets two versions
//! of one file name load side by side (dlopen hands back the library already loaded
//! for a path it has seen), and makes loading the same bytes twice cost nothing.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::LoadError;
use crate::trust::untrusted_because;
use crate::LIBRARY_SUFFIX;

/// The SHA-256 digest of a plugin file, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(String);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(format!("{:x}", Sha256::digest(bytes)))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, enough to tell versions apart in a report.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }

    /// Reads a digest written as 64 hex digits (either case).
    pub fn parse(text: &str) -> Option<Sha256Digest> {
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sha256Digest(text.to_ascii_lowercase()))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The environment variable naming the cache folder (default: the user's cache
/// folder, `$XDG_CACHE_HOME/fieldsync/plugins` or `~/.cache/fieldsync/plugins`).
pub const CACHE_DIR_ENV: &str = "FIELDSYNC_PLUGIN_CACHE";

/// The folder that holds the private copies.
#[derive(Debug, Clone)]
pub struct PluginCache {
    dir: PathBuf,
}

impl PluginCache {
    /// The cache in `dir`, created (owner-only) when first used.
    pub fn new(dir: impl Into<PathBuf>) -> PluginCache {
        PluginCache { dir: dir.into() }
    }

    /// The cache named by [`CACHE_DIR_ENV`], else in the user's cache folder, else in
    /// the temporary folder (per user).
    pub fn default_location() -> PluginCache {
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return PluginCache::new(dir);
        }
        let user_cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|home| Path::new(&home).join(".cache"))
            });
        match user_cache {
            Some(dir) => PluginCache::new(dir.join("fieldsync").join("plugins")),
            None => PluginCache::new(
                std::env::temp_dir().join(format!("fieldsync-plugins-{}", user_label())),
            ),
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the copy of the file with `digest` lives.
    pub fn path_of(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir.join(format!("{digest}{LIBRARY_SUFFIX}"))
    }

    /// Makes sure the cache holds `bytes` (whose digest is `digest`) and returns the
    /// copy's path. A copy already there is used only if its bytes still match.
    pub(crate) fn store(&self, bytes: &[u8], digest: &Sha256Digest) -> Result<PathBuf, LoadError> {
        let failed = |what: &str, error: std::io::Error| {
            LoadError::Unreadable(format!(
                "cannot {what} the private copy in the plugin cache {}: {error}",
                self.dir.display()
            ))
        };
        create_private_dir(&self.dir).map_err(|error| failed("create", error))?;
        if let Some(reason) = untrusted_because(&self.dir, "plugin cache folder") {
            return Err(LoadError::Untrusted(reason));
        }
        let path = self.path_of(digest);
        if std::fs::read(&path).is_ok_and(|held| Sha256Digest::of(&held) == *digest) {
            // The modification time says when a copy was last wanted (see `prune`).
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(SystemTime::now()));
            return Ok(path);
        }
        // Written under a temporary name and renamed: a copy under its final name is
        // always whole, whatever crashes or runs beside this process.
        let mut temp = tempfile_in(&self.dir).map_err(|error| failed("write", error))?;
        temp.1
            .write_all(bytes)
            .and_then(|()| temp.1.sync_all())
            .map_err(|error| failed("write", error))?;
        std::fs::rename(&temp.0, &path).map_err(|error| {
            let _ = std::fs::remove_file(&temp.0);
            failed("write", error)
        })?;
        self.prune();
        Ok(path)
    }

    /// Removes copies no one has loaded for [`UNUSED_COPY_LIFETIME`], so that the
    /// cache does not grow with every version ever loaded. A process that has a copy
    /// loaded keeps it mapped whatever happens to the file, and one about to load it
    /// writes it again first.
    fn prune(&self) {
        let Ok(entries) = self.dir.read_dir() else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.filter_map(Result::ok) {
            let stale = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > UNUSED_COPY_LIFETIME);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// How long a private copy nobody loads stays in the cache.
pub const UNUSED_COPY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Reads a plugin file whole, with its digest.
pub(crate) fn read_plugin_file(path: &Path) -> Result<(Vec<u8>, Sha256Digest), LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError::Unreadable(error.to_string()))?;
    let digest = Sha256Digest::of(&bytes);
    Ok((bytes, digest))
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o500 | 0o200);
    for attempt in 0u32.. {
        let path = dir.join(format!(".incoming-{}-{attempt}", std::process::id()));
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("u32 attempts ran out")
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(unix)]
fn user_label() -> String {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }.to_string()
}

#[cfg(not(unix))]
fn user_label() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "user".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_by_content_and_a_damaged_copy_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PluginCache::new(dir.path().join("cache"));
        let digest = Sha256Digest::of(b"library bytes");
        let path = cache.store(b"library bytes", &digest).unwrap();
        assert_eq!(path, cache.path_of(&digest));
        assert_eq!(std::fs::read(&path).unwrap(), b"library bytes");
        std::fs::write(&path, b"tampered").unwrap();
        cache.store(b"library bytes", &digest).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"library bytes");
        let names: Vec<String> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![format!("{digest}{LIBRARY_SUFFIX}")],
            "no temporary file left"
        );

        // A copy no one loaded for longer than the lifetime goes when another arrives.
        let old = std::fs::File::options().write(true).open(&path).unwrap();
        old.set_modified(SystemTime::now() - UNUSED_COPY_LIFETIME - Duration::from_secs(60))
            .unwrap();
        let newer = Sha256Digest::of(b"v2");
        cache.store(b"v2", &newer).unwrap();
        assert!(!path.exists(), "the stale copy is pruned");
        assert!(cache.path_of(&newer).exists());
        assert_eq!(
            Sha256Digest::parse(&digest.as_str().to_uppercase()),
            Some(digest)
        );
        assert_eq!(Sha256Digest::parse("abc"), None);
    }
}
