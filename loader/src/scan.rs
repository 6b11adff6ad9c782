//! Scans a plugin folder: every entry with a library's name is checked (kind of
//! entry, owner and mode, pins), read once, and loaded from its private copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldsync_plugin_api::abi::wire::HostInfo;
use fieldsync_plugin_api::{MappingProvider, PluginOrigin};
use parking_lot::Mutex;

use crate::cache::{read_plugin_file, PluginCache, Sha256Digest};
use crate::error::{LoadError, ScanError};
use crate::host::ffi_max_level;
use crate::library::{default_host_info, file_name, Library, LoadedPlugin};
use crate::pins::PluginPins;
use crate::report::{Candidate, FileInfo, LoadReport, Rejected, Warning};
use crate::trust::{untrusted_because, PermissionChecks, INSECURE_PERMISSIONS_ENV};
use crate::LIBRARY_SUFFIX;

/// Loads plugins from a folder, next to any statically linked ones.
///
/// A loader remembers every library it loaded, by the digest of its bytes: loading
/// the same bytes again (the same folder scanned again, a file renamed) reuses the
/// library without running its initialisation again.
pub struct PluginLoader {
    statics: Vec<Arc<dyn MappingProvider>>,
    host_info: HostInfo,
    cache: PluginCache,
    permissions: PermissionChecks,
    pins: PluginPins,
    libraries: Mutex<BTreeMap<Sha256Digest, Arc<Library>>>,
}

impl Default for PluginLoader {
    fn default() -> Self {
        Self::new()
    }
}

/// What reading a folder gives: the files to load (one per distinct content), the
/// entries refused before loading, and the warnings (aliases of a file loaded once).
struct FolderRead {
    files: Vec<FolderFile>,
    rejected: Vec<Rejected>,
    warnings: Vec<Warning>,
}

/// A folder entry with a library's name that is a readable file, read.
struct FolderFile {
    path: PathBuf,
    target: Option<PathBuf>,
    bytes: Vec<u8>,
    digest: Sha256Digest,
}

impl PluginLoader {
    /// A loader with no statically linked plugins, the default cache folder, the
    /// permission checks on (unless [`INSECURE_PERMISSIONS_ENV`] is `1`) and no pins.
    pub fn new() -> Self {
        PluginLoader {
            statics: Vec::new(),
            host_info: default_host_info(),
            cache: PluginCache::default_location(),
            permissions: PermissionChecks::from_env(),
            pins: PluginPins::default(),
            libraries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds a statically linked plugin. It goes through the same checks as a loaded
    /// one (valid manifest, no id taken twice) and shows up in the same report.
    pub fn with_static(mut self, plugin: impl MappingProvider + 'static) -> Self {
        self.statics.push(Arc::new(plugin));
        self
    }

    /// Overrides what the loader tells plugins about the host (the log level is
    /// always the host's current one).
    pub fn with_host_info(mut self, host_info: HostInfo) -> Self {
        self.host_info = host_info;
        self
    }

    /// Keeps the private copies of plugin files in `cache` instead of the default.
    pub fn with_cache(mut self, cache: PluginCache) -> Self {
        self.cache = cache;
        self
    }

    /// Turns the owner and mode checks on or off.
    pub fn with_permission_checks(mut self, checks: PermissionChecks) -> Self {
        self.permissions = checks;
        self
    }

    /// Refuses files whose digest differs from their plugin's pin.
    pub fn with_pins(mut self, pins: PluginPins) -> Self {
        self.pins = pins;
        self
    }

    /// Replaces the pins (a running host re-reading its lock file).
    pub fn set_pins(&mut self, pins: PluginPins) {
        self.pins = pins;
    }

    /// How many library versions this loader has loaded into the process (each stays
    /// mapped until the process ends).
    pub fn loaded_versions(&self) -> usize {
        self.libraries.lock().len()
    }

    /// Loads and checks one plugin file. The plugin logs at the host's `log` level
    /// of this moment.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let file = self.read_checked(path)?;
        self.load_read(&file)
    }

    /// Loads every library file directly in `dir` (by name order) plus the static
    /// plugins. A file that cannot be used is reported with its reason; the others
    /// load regardless. Only a folder that cannot be read or trusted is an error.
    pub fn load_dir(&self, dir: &Path) -> Result<LoadReport, ScanError> {
        let FolderRead {
            files,
            mut rejected,
            mut warnings,
        } = self.read_dir(dir)?;
        let (mut candidates, static_rejections) = self.checked_statics();
        rejected.extend(static_rejections);
        for file in files {
            match self.load_read(&file) {
                Ok(plugin) => {
                    warnings.extend(plugin.skipped_mappings().iter().map(|entry| Warning {
                        origin: PluginOrigin::File(file.path.clone()),
                        message: format!("skipped a mapping this host cannot read: {entry}"),
                    }));
                    candidates.push(Candidate {
                        provider: Arc::new(plugin),
                        file: Some(FileInfo {
                            digest: file.digest,
                            target: file.target,
                        }),
                    });
                }
                Err(error) => {
                    log::info!("plugin file {} rejected: {error}", file.path.display());
                    rejected.push(Rejected {
                        origin: PluginOrigin::File(file.path),
                        error,
                    });
                }
            }
        }
        let mut report = LoadReport::resolve(candidates, rejected);
        report.warnings = warnings;
        Ok(report)
    }

    /// The report for the static plugins alone.
    pub fn load_statics(&self) -> LoadReport {
        let (statics, rejected) = self.checked_statics();
        LoadReport::resolve(statics, rejected)
    }

    /// Reads the folder, checking every entry with a library's name.
    fn read_dir(&self, dir: &Path) -> Result<FolderRead, ScanError> {
        let unreadable = |source| ScanError::Unreadable {
            path: dir.to_owned(),
            source,
        };
        // Absolute paths, so that loaded and rejected files are named the same way.
        let dir = dir.canonicalize().map_err(unreadable)?;
        match self.permissions {
            PermissionChecks::Enforce => {
                if let Some(reason) = untrusted_because(&dir, "plugin folder") {
                    return Err(ScanError::Untrusted { path: dir, reason });
                }
            }
            PermissionChecks::Off => log::warn!(
                "plugin owner and permission checks are OFF ({INSECURE_PERMISSIONS_ENV}=1): \
                 anyone who can write to {} or its files runs code inside fieldsync",
                dir.display()
            ),
        }
        let mut paths = Vec::new();
        for entry in dir.read_dir().map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            let is_library = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(LIBRARY_SUFFIX) && !name.starts_with('.'));
            if is_library {
                paths.push(path);
            }
        }
        paths.sort();

        let mut files: Vec<FolderFile> = Vec::new();
        let mut rejected = Vec::new();
        for path in paths {
            // Every entry with a library's name is accounted for.
            match self.read_checked(&path) {
                Ok(file) => files.push(file),
                Err(error) => rejected.push(Rejected {
                    origin: PluginOrigin::File(path),
                    error,
                }),
            }
        }
        let (files, warnings) = one_per_content(files);
        Ok(FolderRead {
            files,
            rejected,
            warnings,
        })
    }

    /// Checks a file before reading it (kind, owner and mode), reads it and checks
    /// its pin by file name: nothing of it has run yet.
    fn read_checked(&self, path: &Path) -> Result<FolderFile, LoadError> {
        if let Some(what) = not_a_file(path) {
            return Err(LoadError::NotAFile(what));
        }
        let target = std::fs::symlink_metadata(path)
            .is_ok_and(|meta| meta.file_type().is_symlink())
            .then(|| path.canonicalize().ok())
            .flatten();
        if self.permissions == PermissionChecks::Enforce {
            if let Some(reason) = untrusted_because(path, "plugin file") {
                return Err(LoadError::Untrusted(reason));
            }
            // A link's target can be swapped by whoever may write its folder.
            if let Some(folder) = target.as_deref().and_then(Path::parent) {
                if let Some(reason) = untrusted_because(folder, "folder of the link's target") {
                    return Err(LoadError::Untrusted(reason));
                }
            }
        }
        let (bytes, digest) = read_plugin_file(path)?;
        self.pins.check_file(&file_name(path), &digest)?;
        Ok(FolderFile {
            path: path.to_owned(),
            target,
            bytes,
            digest,
        })
    }

    /// Loads a read file from its private copy (or reuses the library loaded from
    /// the same bytes before) and checks its pin by plugin id.
    fn load_read(&self, file: &FolderFile) -> Result<LoadedPlugin, LoadError> {
        let library = self.library(file)?;
        self.pins
            .check_plugin(&library.manifest().id, &file.digest)?;
        Ok(LoadedPlugin::new(
            library,
            file.path.clone(),
            file.target.clone(),
        ))
    }

    fn library(&self, file: &FolderFile) -> Result<Arc<Library>, LoadError> {
        if let Some(library) = self.libraries.lock().get(&file.digest) {
            return Ok(Arc::clone(library));
        }
        let copy = self.cache.store(&file.bytes, &file.digest)?;
        let host_info = HostInfo {
            max_log_level: ffi_max_level(),
            ..self.host_info.clone()
        };
        let library = Arc::new(Library::load(
            &copy,
            file.digest.clone(),
            &file_name(&file.path),
            &host_info,
        )?);
        self.libraries
            .lock()
            .insert(file.digest.clone(), Arc::clone(&library));
        Ok(library)
    }

    /// The static plugins with a valid manifest, and the rest rejected: the check a
    /// file gets while it loads.
    fn checked_statics(&self) -> (Vec<Candidate>, Vec<Rejected>) {
        let mut valid = Vec::new();
        let mut rejected = Vec::new();
        for plugin in &self.statics {
            let problems = plugin.manifest().problems();
            if problems.is_empty() {
                valid.push(Candidate {
                    provider: Arc::clone(plugin),
                    file: None,
                });
            } else {
                rejected.push(Rejected {
                    origin: plugin.origin(),
                    error: LoadError::InvalidManifest(problems),
                });
            }
        }
        (valid, rejected)
    }
}

/// Keeps one file per distinct content: a symbolic link to a plugin file of the same
/// folder, or a byte-identical copy, is the same plugin under a second name, not a
/// rival of it. The file kept is the first regular file by name (else the first
/// link); the other names are reported with what they are.
fn one_per_content(files: Vec<FolderFile>) -> (Vec<FolderFile>, Vec<Warning>) {
    let mut by_digest: BTreeMap<Sha256Digest, Vec<FolderFile>> = BTreeMap::new();
    for file in files {
        by_digest.entry(file.digest.clone()).or_default().push(file);
    }
    let mut kept = Vec::new();
    let mut warnings = Vec::new();
    for (_, mut same) in by_digest {
        let primary = same
            .iter()
            .position(|file| file.target.is_none())
            .unwrap_or(0);
        let primary = same.remove(primary);
        for alias in same {
            let what = match &alias.target {
                Some(target) => format!("a symbolic link to {}", target.display()),
                None => "a byte-identical copy".to_owned(),
            };
            warnings.push(Warning {
                origin: PluginOrigin::File(alias.path),
                message: format!(
                    "{what}, the same library as {} (sha256 {}): loaded once, under that name",
                    primary.path.display(),
                    primary.digest.short()
                ),
            });
        }
        kept.push(primary);
    }
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    warnings.sort_by_key(|warning| warning.origin.to_string());
    (kept, warnings)
}

/// What a folder entry is when it is not a (link to a) regular file.
fn not_a_file(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => None,
        Ok(metadata) if metadata.is_dir() => Some("a directory".to_owned()),
        Ok(metadata) => Some(special_file(&metadata)),
        Err(error) => match std::fs::read_link(path) {
            Ok(target) => Some(format!(
                "a symbolic link to {}, which does not exist",
                target.display()
            )),
            Err(_) => Some(format!("cannot be read: {error}")),
        },
    }
}

#[cfg(unix)]
fn special_file(metadata: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "a named pipe (FIFO)".to_owned()
    } else if file_type.is_socket() {
        "a socket".to_owned()
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device".to_owned()
    } else {
        "a special file".to_owned()
    }
}

#[cfg(not(unix))]
fn special_file(_metadata: &std::fs::Metadata) -> String {
    "a special file".to_owned()
}
