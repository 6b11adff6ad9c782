//! `fieldsync sync` while it runs: plugins that arrive, change or leave, and SIGHUP.
//!
//! The plugin folder is watched; when it has changed (or on SIGHUP, which also reads
//! the configuration and the plugin pins again) the folder is scanned and the engine is built anew with
//! the plugins as they are now, between rounds, never in the middle of an issue's
//! message. A new engine that cannot be built (a new version refuses the options a
//! relationship gives it, the configuration now has an error...) is not used: the
//! running one goes on, and the reason is in the log and in `fieldsync status`.
//! Libraries are never unloaded; `status` counts the versions loaded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::config::SyncConfig;
use fieldsync_core::message::Side;
use fieldsync_core::{ClaimError, Engine, MappingRegistry, RunnerClaim, RunnerInfo, PLUGINS_NOTE};
use fieldsync_loader::{FolderWatch, LivePlugins, LoadReport, PluginPins};
use fieldsync_plugin_api::Direction;
use serde::{Deserialize, Serialize};

use crate::host::{self, PluginSetup};
use crate::CliError;

/// What `fieldsync status` shows of the plugins of a running `fieldsync sync`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginsNote {
    /// The process.
    pub pid: u32,
    /// The plugin folder (none: built-in mappings only).
    pub folder: Option<String>,
    /// Plugins whose mappings the running engine uses.
    pub in_use: Vec<PluginInUse>,
    /// Library versions loaded since the process started (never unloaded).
    pub loaded_versions: usize,
    /// Files of the last scan that could not be used, with the reason.
    pub rejected: Vec<FileNote>,
    /// What else the last scan said (kept versions, aliases, skipped mappings).
    pub warnings: Vec<FileNote>,
    /// Why the plugins of the last scan are not used, if they are not.
    pub refused: Option<String>,
    /// How many times the engine was rebuilt since start.
    pub reloads: u64,
}

/// One plugin in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInUse {
    pub id: String,
    pub version: String,
    pub file: String,
    pub sha256: Option<String>,
}

/// A file and what is said of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileNote {
    pub file: String,
    pub message: String,
}

/// The engine of a running sync, rebuilt when its plugins or configuration change.
pub struct LiveHost {
    config: PathBuf,
    /// Where the pins come from (re-read on SIGHUP).
    pins: Option<PathBuf>,
    folder: Option<(LivePlugins, FolderWatch)>,
    engine: Engine,
    /// The stores this process runs rounds on, claimed against a second runner.
    claim: RunnerClaim,
    hangup: Arc<AtomicBool>,
    note: PluginsNote,
}

impl LiveHost {
    /// Loads the plugins and builds the engine. With `wait_for_mappings`, a
    /// configuration that names mappings no plugin offers yet makes the host wait
    /// for them (watching the folder) instead of exiting; with `wait_for_trackers`, a
    /// tracker that does not answer yet is asked again every few seconds instead of
    /// ending the program with exit code 3. `stop` ends either wait (`Ok(None)`).
    pub fn start(
        config: &Path,
        plugins: &PluginSetup,
        wait_for_mappings: bool,
        wait_for_trackers: bool,
        stop: &AtomicBool,
    ) -> Result<Option<LiveHost>, CliError> {
        let hangup = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
            .map_err(|error| format!("cannot install the SIGHUP handler: {error}"))?;
        let loader = plugins.loader()?;
        let mut folder = plugins.dir.as_deref().map(|dir| {
            // Watching starts before the first scan, so nothing dropped in between is missed.
            let watch = FolderWatch::new(dir);
            (LivePlugins::new(loader, dir), watch)
        });
        let mut announced_wait = false;
        loop {
            let report = scan(&mut folder, plugins)?;
            let config_read = SyncConfig::load(config).map_err(|error| error.to_string())?;
            let registry = host::registry_of(&report)?;
            let missing = missing_mappings(&config_read, &registry);
            if wait_for_mappings && !missing.is_empty() {
                if folder.is_none() {
                    return Err(CliError::from(
                        "--wait-for-mappings needs a plugin folder (--plugins DIR)".to_owned(),
                    ));
                }
                if !announced_wait {
                    eprintln!(
                        "fieldsync: waiting for plugins offering {} (watching the plugin \
                         folder; Ctrl-C stops)",
                        missing.join(", ")
                    );
                    announced_wait = true;
                }
                if !wait_for_change(&mut folder, &hangup, stop) {
                    return Ok(None);
                }
                continue;
            }
            let engine = match host::build_engine(&config_read, &registry) {
                Ok(engine) => engine,
                Err(error) if wait_for_trackers && error.exit_code == crate::EXIT_UNAVAILABLE => {
                    eprintln!(
                        "fieldsync: {}; asking again in {} s (Ctrl-C stops)",
                        error.message,
                        TRACKER_RETRY.as_secs()
                    );
                    if !sleep_unless_stopped(TRACKER_RETRY, stop) {
                        return Ok(None);
                    }
                    continue;
                }
                Err(error) => return Err(error),
            };
            // Claimed before anything is written, the plugins note included.
            let command = if wait_for_trackers {
                "fieldsync sync"
            } else {
                "fieldsync sync --once"
            };
            let mut claim = RunnerClaim::new(RunnerInfo::this_process(command));
            claim.cover(&engine).map_err(busy)?;
            let mut host = LiveHost {
                config: config.to_owned(),
                pins: plugins.pins.clone(),
                folder,
                engine,
                claim,
                hangup,
                note: PluginsNote::default(),
            };
            host.note = host.note_for(&report);
            host.write_note();
            if announced_wait {
                eprintln!("fieldsync: every mapping is available now; syncing");
            }
            return Ok(Some(host));
        }
    }

    /// The engine to run the next round with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Rebuilds the engine if the plugin folder changed or SIGHUP arrived. Cheap when
    /// nothing happened: call it between rounds and while waiting for the next one.
    pub fn poll(&mut self) {
        let hangup = self.hangup.swap(false, Ordering::SeqCst);
        let changed = self
            .folder
            .as_mut()
            .is_some_and(|(_, watch)| watch.changed());
        if hangup || changed {
            self.reload(hangup);
        }
    }

    fn reload(&mut self, hangup: bool) {
        let why = if hangup {
            "SIGHUP"
        } else {
            "the plugin folder changed"
        };
        if hangup {
            if let (Some(file), Some((live, _))) = (&self.pins, self.folder.as_mut()) {
                match PluginPins::load(file) {
                    Ok(pins) => live.set_pins(pins),
                    Err(error) => return self.refuse(why, &error.to_string(), None),
                }
            }
        }
        let report = match self.folder.as_mut().map(|(live, _)| live.scan()) {
            Some(Ok(report)) => report,
            Some(Err(error)) => return self.refuse(why, &error.to_string(), None),
            None => match PluginSetup::default().loader() {
                Ok(loader) => loader.load_statics(),
                Err(error) => return self.refuse(why, &error, None),
            },
        };
        host::say_problems(&report);
        let next = self.note_for(&report);
        if !hangup && next.in_use == self.note.in_use {
            // Same code as before: nothing to rebuild, but what was refused changed.
            self.note.rejected = next.rejected;
            self.note.warnings = next.warnings;
            self.note.loaded_versions = next.loaded_versions;
            self.write_note();
            return;
        }
        let built = SyncConfig::load(&self.config)
            .map_err(|error| error.to_string())
            .and_then(|config| {
                let registry = host::registry_of(&report)?;
                host::build_engine(&config, &registry).map_err(|error| error.message)
            });
        // A configuration naming other stores needs them claimed too.
        let built = built.and_then(|engine| {
            self.claim
                .cover(&engine)
                .map(|()| engine)
                .map_err(|error| error.to_string())
        });
        match built {
            Ok(engine) => {
                self.engine = engine;
                let reloads = self.note.reloads + 1;
                self.note = PluginsNote { reloads, ..next };
                let plugins: Vec<String> = self
                    .note
                    .in_use
                    .iter()
                    .map(|p| format!("{} {}", p.id, p.version))
                    .collect();
                eprintln!(
                    "fieldsync: {why}: reloaded; plugins in use: {}",
                    if plugins.is_empty() {
                        "none".to_owned()
                    } else {
                        plugins.join(", ")
                    }
                );
                self.write_note();
            }
            Err(error) => self.refuse(why, &error, Some(next)),
        }
    }

    /// Keeps the running engine and says why the new state is not used.
    fn refuse(&mut self, why: &str, error: &str, scanned: Option<PluginsNote>) {
        eprintln!(
            "fieldsync: {why}, but the result cannot be used; the plugins and \
             configuration loaded before keep running: {error}"
        );
        if let Some(scanned) = scanned {
            self.note.rejected = scanned.rejected;
            self.note.warnings = scanned.warnings;
            self.note.loaded_versions = scanned.loaded_versions;
        }
        self.note.refused = Some(error.to_owned());
        self.write_note();
    }

    /// What the note says once `report`'s plugins are in use.
    fn note_for(&self, report: &LoadReport) -> PluginsNote {
        note_for(&self.folder, report, self.note.reloads)
    }

    fn write_note(&self) {
        let value = serde_json::to_value(&self.note).unwrap_or_default();
        if let Err(error) = self.engine.control().record_host_note(PLUGINS_NOTE, &value) {
            log::warn!("{error} (recording the plugins in use for `fieldsync status`)");
        }
    }
}

/// A claim refused at start: exit code 4 when another runner holds the stores.
fn busy(error: ClaimError) -> CliError {
    let exit_code = match error {
        ClaimError::Busy { .. } => crate::EXIT_BUSY,
        // A folder that cannot hold the lock file cannot hold the store's writes.
        ClaimError::Unusable { .. } => crate::EXIT_UNAVAILABLE,
    };
    CliError {
        message: error.to_string(),
        exit_code,
    }
}

fn note_for(
    folder: &Option<(LivePlugins, FolderWatch)>,
    report: &LoadReport,
    reloads: u64,
) -> PluginsNote {
    PluginsNote {
        pid: std::process::id(),
        folder: folder
            .as_ref()
            .map(|(live, _)| live.dir().display().to_string()),
        in_use: report
            .plugins
            .iter()
            .filter(|entry| entry.file.is_some())
            .map(|entry| {
                let manifest = entry.provider.manifest();
                PluginInUse {
                    id: manifest.id.clone(),
                    version: manifest.version.clone(),
                    file: entry.provider.origin().to_string(),
                    sha256: entry.file.as_ref().map(|file| file.digest.to_string()),
                }
            })
            .collect(),
        loaded_versions: folder
            .as_ref()
            .map_or(0, |(live, _)| live.loaded_versions()),
        rejected: report
            .rejected
            .iter()
            .map(|rejected| FileNote {
                file: rejected.origin.to_string(),
                message: rejected.error.to_string(),
            })
            .collect(),
        warnings: report
            .warnings
            .iter()
            .map(|warning| FileNote {
                file: warning.origin.to_string(),
                message: warning.message.clone(),
            })
            .collect(),
        refused: None,
        reloads,
    }
}

fn scan(
    folder: &mut Option<(LivePlugins, FolderWatch)>,
    plugins: &PluginSetup,
) -> Result<LoadReport, CliError> {
    let report = match folder {
        Some((live, _)) => live
            .scan()
            .map_err(|error| format!("plugin folder: {error}"))?,
        None => plugins.loader()?.load_statics(),
    };
    host::say_problems(&report);
    Ok(report)
}

/// The mappings the configuration names that no plugin offers, as
/// `outgoing \`x\``.
fn missing_mappings(config: &SyncConfig, registry: &MappingRegistry) -> Vec<String> {
    let mut missing = Vec::new();
    for sync in &config.synchronizations {
        for relationship in &sync.fields {
            for side in [Side::A, Side::B] {
                let end = relationship.end(side);
                let uses = [
                    (
                        relationship.direction.flows_from(side),
                        &end.outgoing,
                        Direction::Outgoing,
                    ),
                    (
                        relationship.direction.flows_from(side.other()),
                        &end.incoming,
                        Direction::Incoming,
                    ),
                ];
                for (used, choice, direction) in uses {
                    let named = format!("{direction} `{}`", choice.mapping);
                    if used
                        && registry.get(&choice.mapping, direction).is_none()
                        && !missing.contains(&named)
                    {
                        missing.push(named);
                    }
                }
            }
        }
    }
    missing
}

/// How long a starting sync waits before asking a silent tracker again.
const TRACKER_RETRY: Duration = Duration::from_secs(5);

/// Sleeps for `time`; `false` when `stop` was set meanwhile.
fn sleep_unless_stopped(time: Duration, stop: &AtomicBool) -> bool {
    let until = std::time::Instant::now() + time;
    while std::time::Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !stop.load(Ordering::SeqCst)
}

/// Waits until the folder changes or SIGHUP arrives (`true`), or `stop` is set.
fn wait_for_change(
    folder: &mut Option<(LivePlugins, FolderWatch)>,
    hangup: &AtomicBool,
    stop: &AtomicBool,
) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        if hangup.swap(false, Ordering::SeqCst)
            || folder.as_mut().is_some_and(|(_, watch)| watch.changed())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
