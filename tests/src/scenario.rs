//! The demo scenario as the engine tests use it: the demo projects in real SQLite
//! files, plugins loaded from a folder, an engine ready for rounds.

use std::collections::BTreeMap;
use std::path::Path;

use fieldsync_core::model::Issue;
use fieldsync_core::{Engine, RoundReport, SqliteStore, SyncConfig, SyncLedger, Tracker};
use fieldsync_demo::{self as demo, DemoFiles, StoreLayout};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{plugin_dir, registry_with_plugins};

/// The example plugins the demo configuration uses.
pub const DEMO_PLUGINS: &[&str] = &["fieldsync-story-points", "fieldsync-markup"];

/// The demo set up in a temporary folder, with an engine on its configuration.
pub struct Setup {
    /// The demo folder.
    pub dir: TempDir,
    /// The plugin folder.
    pub plugins: TempDir,
    /// The demo's files.
    pub files: DemoFiles,
    /// The engine on the demo configuration.
    pub engine: Engine,
    /// The support store (side A).
    pub support: SqliteStore,
    /// The dev store (side B).
    pub dev: SqliteStore,
}

/// The demo as it is.
pub fn setup(layout: StoreLayout) -> Setup {
    setup_with(layout, |_| {})
}

/// The demo, with its configuration changed by `edit` before the engine starts.
/// A failure is retried with the next round unless `edit` sets `retry`: most tests
/// show what one round does (backoff and parking have tests of their own).
pub fn setup_with(layout: StoreLayout, edit: impl FnOnce(&mut Value)) -> Setup {
    setup_with_plugins(layout, DEMO_PLUGINS, edit)
}

/// Like [`setup_with`], with the plugins of `plugin_crates` in the plugin folder.
pub fn setup_with_plugins(
    layout: StoreLayout,
    plugin_crates: &[&str],
    edit: impl FnOnce(&mut Value),
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let files = demo::create(dir.path(), layout).unwrap();
    let mut config = demo::config_json(layout);
    config["retry"] = json!({"attempts": 100, "first_delay_seconds": 0, "max_delay_seconds": 0});
    edit(&mut config);
    std::fs::write(&files.config, config.to_string()).unwrap();
    let plugins = plugin_dir(plugin_crates);
    let engine = engine(&files.config, plugins.path()).unwrap();
    Setup {
        support: SqliteStore::open_existing(&files.support_store).unwrap(),
        dev: SqliteStore::open_existing(&files.dev_store).unwrap(),
        dir,
        plugins,
        files,
        engine,
    }
}

/// An engine on the configuration file `config` with the plugins in `plugins`.
pub fn engine(config: &Path, plugins: &Path) -> Result<Engine, String> {
    let config = SyncConfig::load(config).map_err(|e| e.to_string())?;
    Engine::new(&config, &registry_with_plugins(plugins)).map_err(|e| e.to_string())
}

/// One round, printed.
pub fn round(setup: &Setup) -> RoundReport {
    let report = setup.engine.run_round();
    println!("{report}");
    report
}

/// Changes fields of an issue as `author`.
pub fn edit(store: &SqliteStore, key: &str, changes: Value, author: &str) {
    let changes: BTreeMap<String, Value> = serde_json::from_value(changes).unwrap();
    store.update(key, &changes, author).unwrap();
}

/// An issue that must exist.
pub fn issue(store: &SqliteStore, key: &str) -> Issue {
    store
        .get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("{key} exists"))
}

/// The partner of a support issue on the dev side.
pub fn partner(setup: &Setup, support_key: &str) -> Issue {
    let state = setup
        .support
        .sync_state("support-dev", support_key)
        .unwrap()
        .expect("the issue was synced");
    issue(&setup.dev, &state.partner.expect("a partner is linked"))
}
