//! Wires the loader into the engine: built-in mappings plus the plugins of a folder.

use std::path::{Path, PathBuf};

use crate::CliError;
use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::config::SyncConfig;
use fieldsync_core::{Connectors, Engine, EngineError, MappingRegistry};
use fieldsync_loader::{LoadReport, PluginLoader, PluginPins};
use fieldsync_redmine::RedmineConnector;

/// The trackers this host can talk to besides SQLite store files.
pub fn connectors() -> Connectors {
    Connectors::none().with(RedmineConnector)
}

/// Where the plugins come from: a folder (none: built-ins only) and the pins they
/// must match.
#[derive(Debug, Clone, Default)]
pub struct PluginSetup {
    pub dir: Option<PathBuf>,
    /// The lock file (`plugins.lock`), when there is one.
    pub pins: Option<PathBuf>,
}

/// The name of the lock file `fieldsync sync` reads beside its configuration.
pub const PINS_FILE: &str = "plugins.lock";

impl PluginSetup {
    /// The folder and pins a sync of `config` runs with: `pins` as given, else
    /// `plugins.lock` beside the configuration when that file exists.
    pub fn for_config(config: &Path, dir: Option<&Path>, pins: Option<&Path>) -> PluginSetup {
        let beside = config
            .parent()
            .map(|folder| folder.join(PINS_FILE))
            .filter(|file| file.is_file());
        PluginSetup {
            dir: dir.map(Path::to_owned),
            pins: pins.map(Path::to_owned).or(beside),
        }
    }

    /// A loader with the built-in plugin and the pins.
    pub fn loader(&self) -> Result<PluginLoader, String> {
        let loader = PluginLoader::new().with_static(builtin_plugin());
        match &self.pins {
            Some(file) => Ok(loader.with_pins(PluginPins::load(file).map_err(|e| e.to_string())?)),
            None => Ok(loader),
        }
    }
}

/// The registry of the built-ins and every usable plugin in the folder. Rejected
/// plugin files and conflicts are reported on stderr and left out: a configuration
/// that needs their mappings is then refused, naming the mapping.
pub fn registry(plugins: &PluginSetup) -> Result<MappingRegistry, String> {
    let loader = plugins.loader()?;
    let report = match &plugins.dir {
        Some(dir) => loader
            .load_dir(dir)
            .map_err(|error| format!("plugin folder: {error}"))?,
        None => loader.load_statics(),
    };
    say_problems(&report);
    registry_of(&report)
}

/// Every rejected file, conflict and warning of a report, on stderr.
pub fn say_problems(report: &LoadReport) {
    for rejected in &report.rejected {
        eprintln!("warning: plugin {}: {}", rejected.origin, rejected.error);
    }
    for conflict in &report.conflicts {
        eprintln!("warning: {conflict}");
    }
    for warning in &report.warnings {
        eprintln!("warning: plugin {}: {}", warning.origin, warning.message);
    }
}

/// The registry of a report's usable mappings.
pub fn registry_of(report: &LoadReport) -> Result<MappingRegistry, String> {
    let mut registry = MappingRegistry::new();
    for available in report.mappings() {
        registry
            .register(available.descriptor.clone(), available.provider.clone())
            .map_err(|error| error.to_string())?;
    }
    Ok(registry)
}

/// Reads the configuration and builds the engine, or says what is wrong: bad input
/// (exit 2), or a tracker that did not answer (exit 3, try again later).
pub fn engine(config: &Path, plugins: &PluginSetup) -> Result<Engine, CliError> {
    let config = SyncConfig::load(config).map_err(|error| error.to_string())?;
    build_engine(&config, &registry(plugins)?)
}

/// Builds the engine of a read configuration with `registry`.
pub fn build_engine(config: &SyncConfig, registry: &MappingRegistry) -> Result<Engine, CliError> {
    Engine::with_connectors(config, registry, &connectors()).map_err(|error| {
        let exit_code = match error {
            EngineError::Unavailable(_) => crate::EXIT_UNAVAILABLE,
            _ => crate::EXIT_USAGE,
        };
        CliError {
            message: error.to_string(),
            exit_code,
        }
    })
}
