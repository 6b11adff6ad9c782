//! Wires the loader into the engine: built-in mappings plus the plugins of a folder.

use std::path::Path;

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::config::SyncConfig;
use fieldsync_core::{Connectors, Engine, EngineError, MappingRegistry};
use fieldsync_loader::PluginLoader;
use fieldsync_redmine::RedmineConnector;

/// The trackers this host can talk to besides SQLite store files.
pub fn connectors() -> Connectors {
    Connectors::none().with(RedmineConnector)
}

/// The registry of the built-ins and every usable plugin in `plugin_dir`. Rejected
/// plugin files and conflicts are reported on stderr and left out: a configuration
/// that needs their mappings is then refused, naming the mapping.
pub fn registry(plugin_dir: Option<&Path>) -> Result<MappingRegistry, String> {
    let loader = PluginLoader::new().with_static(builtin_plugin());
    let report = match plugin_dir {
        Some(dir) => loader
            .load_dir(dir)
            .map_err(|error| format!("plugin folder: {error}"))?,
        None => loader.load_statics(),
    };
    for rejected in &report.rejected {
        eprintln!("warning: plugin {}: {}", rejected.origin, rejected.error);
    }
    for conflict in &report.conflicts {
        eprintln!("warning: {conflict}");
    }
    for warning in &report.warnings {
        eprintln!("warning: plugin {}: {}", warning.origin, warning.message);
    }
    let mut registry = MappingRegistry::new();
    for available in report.mappings() {
        registry
            .register(available.descriptor.clone(), available.provider.clone())
            .map_err(|error| error.to_string())?;
    }
    Ok(registry)
}

/// Why the engine could not start, with the exit code that says so.
pub struct StartError {
    pub message: String,
    pub exit_code: u8,
}

impl From<String> for StartError {
    fn from(message: String) -> Self {
        StartError {
            message,
            exit_code: crate::EXIT_USAGE,
        }
    }
}

/// The engine, or the exit code to end with: a start-up failure that is not bad
/// input is said here (`fieldsync: ...`) and its own code returned.
pub fn engine_or_exit(
    config: &Path,
    plugin_dir: Option<&Path>,
) -> Result<Result<Engine, u8>, String> {
    match engine(config, plugin_dir) {
        Ok(engine) => Ok(Ok(engine)),
        Err(StartError { message, exit_code }) if exit_code != crate::EXIT_USAGE => {
            eprintln!("fieldsync: {message}");
            Ok(Err(exit_code))
        }
        Err(error) => Err(error.message),
    }
}

/// Reads the configuration and builds the engine, or says what is wrong: bad input
/// (exit 2), or a tracker that did not answer (exit 3, try again later).
pub fn engine(config: &Path, plugin_dir: Option<&Path>) -> Result<Engine, StartError> {
    let config = SyncConfig::load(config).map_err(|error| error.to_string())?;
    Engine::with_connectors(&config, &registry(plugin_dir)?, &connectors()).map_err(|error| {
        let exit_code = match error {
            EngineError::Unavailable(_) => crate::EXIT_UNAVAILABLE,
            _ => crate::EXIT_USAGE,
        };
        StartError {
            message: error.to_string(),
            exit_code,
        }
    })
}
