//! The plugins of a folder as a long-running host sees them, scan after scan.
//!
//! A file's version in use stays in use until a newer version of it passes every
//! check: a replacement that is rejected (broken, incompatible, untrusted, pinned
//! otherwise) leaves the version loaded before running, and a file removed from the
//! folder keeps its mappings working until the host restarts (its library stays
//! mapped anyway; the report says so). A kept version gives way when another file
//! now provides its plugin id, so renaming `v1.so` to `v2.so` is no conflict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fieldsync_plugin_api::PluginOrigin;

use crate::error::ScanError;
use crate::report::{Candidate, LoadReport, Warning};
use crate::scan::PluginLoader;

/// A plugin folder scanned again whenever the host asks (see [`crate::FolderWatch`]).
pub struct LivePlugins {
    loader: PluginLoader,
    dir: PathBuf,
    /// The version in use per file, as of the last scan.
    in_use: BTreeMap<PathBuf, Candidate>,
}

impl LivePlugins {
    /// Watches nothing yet: call [`LivePlugins::scan`] for the first report.
    pub fn new(loader: PluginLoader, dir: &Path) -> LivePlugins {
        LivePlugins {
            loader,
            dir: dir.to_owned(),
            in_use: BTreeMap::new(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the pins the next scans check files against.
    pub fn set_pins(&mut self, pins: crate::PluginPins) {
        self.loader.set_pins(pins);
    }

    /// How many library versions the process has loaded (each stays mapped until it
    /// ends).
    pub fn loaded_versions(&self) -> usize {
        self.loader.loaded_versions()
    }

    /// Scans the folder and returns what can be used now: the files as they are,
    /// plus the versions kept running for files whose new version was rejected or
    /// that were removed (each with a warning saying so).
    pub fn scan(&mut self) -> Result<LoadReport, ScanError> {
        let fresh = self.loader.load_dir(&self.dir)?;
        let mut candidates: Vec<Candidate> = fresh
            .plugins
            .iter()
            .map(|entry| Candidate {
                provider: entry.provider.clone(),
                file: entry.file.clone(),
            })
            .collect();
        let mut warnings = fresh.warnings.clone();
        let offered = |candidates: &[Candidate], id: &str| {
            candidates
                .iter()
                .any(|candidate| candidate.provider.manifest().id == id)
        };
        for (path, old) in &self.in_use {
            let still_loaded = fresh
                .plugins
                .iter()
                .any(|entry| origin_path(&entry.provider.origin()) == Some(path.as_path()));
            let manifest = old.provider.manifest();
            if still_loaded || offered(&candidates, &manifest.id) {
                continue;
            }
            let digest = old
                .file
                .as_ref()
                .map(|file| file.digest.short())
                .unwrap_or("-");
            let why = if path.exists() {
                "its new version was rejected (see above)"
            } else {
                "the file was removed from the folder"
            };
            warnings.push(Warning {
                origin: PluginOrigin::File(path.clone()),
                message: format!(
                    "{why}; plugin `{}` {} (sha256 {digest}) loaded before keeps running \
                     until fieldsync restarts",
                    manifest.id, manifest.version
                ),
            });
            candidates.push(old.clone());
        }
        let mut report = LoadReport::resolve(candidates, fresh.rejected);
        report.warnings = warnings;
        self.in_use = report
            .plugins
            .iter()
            .filter_map(|entry| {
                let path = origin_path(&entry.provider.origin())?.to_owned();
                let candidate = Candidate {
                    provider: entry.provider.clone(),
                    file: entry.file.clone(),
                };
                Some((path, candidate))
            })
            .collect();
        Ok(report)
    }
}

fn origin_path(origin: &PluginOrigin) -> Option<&Path> {
    match origin {
        PluginOrigin::File(path) => Some(path),
        _ => None,
    }
}
