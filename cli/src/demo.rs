//! `fieldsync demo`: two projects with sample issues, synced both ways, with edits on
//! each side in between, printed field by field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fieldsync_core::model::preview;
use fieldsync_core::{SqliteStore, SyncLedger, Tracker};
use fieldsync_demo::{self as demo, StoreLayout, DEMO_USER};
use serde_json::{json, Value};

use crate::host;
use crate::CliError;

/// The files a demo writes, which a new demo in the same folder replaces.
const DEMO_FILES: &[&str] = &["sync.json", "demo.db", "support.db", "dev.db"];

/// The library files of the example plugins.
const EXAMPLE_PLUGINS: &[&str] = &["fieldsync_story_points", "fieldsync_markup"];

/// Where the demo takes its plugins from.
pub enum DemoPlugins {
    /// Every plugin in a folder the operator named.
    Folder(PathBuf),
    /// The example plugins from the folder of the fieldsync executable, where
    /// `cargo build` puts them, copied into the demo's own `plugins` folder. Only
    /// those two files: the program's folder may hold other libraries (after
    /// `cargo test`, broken test plugins), and loading one runs its code.
    Examples,
}

impl DemoPlugins {
    /// The plugin folder the demo runs with, filled first when it is the demo's own.
    fn folder(&self, demo_dir: &Path) -> Result<PathBuf, String> {
        match self {
            DemoPlugins::Folder(dir) => Ok(dir.clone()),
            DemoPlugins::Examples => {
                let folder = demo_dir.join("plugins");
                let files: Vec<String> = EXAMPLE_PLUGINS
                    .iter()
                    .map(|name| {
                        format!(
                            "{}{name}{}",
                            std::env::consts::DLL_PREFIX,
                            std::env::consts::DLL_SUFFIX
                        )
                    })
                    .collect();
                refuse_foreign_files(&folder, &files)?;
                std::fs::create_dir_all(&folder)
                    .map_err(|error| format!("{}: {error}", folder.display()))?;
                for file in &files {
                    let source = exe_dir().join(file);
                    // Copy, then rename: a library is never rewritten in place.
                    let partial = folder.join(format!(".{file}.partial"));
                    std::fs::copy(&source, &partial)
                        .and_then(|_| std::fs::rename(&partial, folder.join(file)))
                        .map_err(|error| format!("{}: {error}", source.display()))?;
                }
                Ok(folder)
            }
        }
    }
}

/// The demo's plugin folder is loaded whole: it may hold nothing but the examples.
fn refuse_foreign_files(folder: &Path, allowed: &[String]) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !allowed.contains(&name) && !name.ends_with(".partial") {
            return Err(format!(
                "{} holds `{name}`, which the demo did not put there: choose another --dir",
                folder.display()
            ));
        }
    }
    Ok(())
}

fn exe_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

pub fn run(dir: &Path, plugins: &DemoPlugins, layout: StoreLayout) -> Result<u8, CliError> {
    remove_previous(dir)?;
    let files = demo::create(dir, layout).map_err(|error| error.to_string())?;
    println!("Demo in {}:", dir.display());
    println!(
        "  projects {} (3 issues) and {} (1 issue) in {}",
        demo::SUPPORT,
        demo::DEV,
        if layout == StoreLayout::OneFile {
            files.support_store.display().to_string()
        } else {
            format!(
                "{} and {}",
                files.support_store.display(),
                files.dev_store.display()
            )
        }
    );
    println!("  configuration {}", files.config.display());
    let hint = |error: String| {
        format!(
            "{error}\nThe demo uses the example plugins: build them with `cargo build --release` \
             and run target/release/fieldsync, or pass --plugins DIR."
        )
    };
    let plugin_dir = plugins.folder(dir).map_err(hint)?;
    println!("  plugins from {}", plugin_dir.display());
    let engine = host::engine(
        &files.config,
        &host::PluginSetup {
            dir: Some(plugin_dir.clone()),
            pins: None,
        },
    )
    .map_err(|error| hint(error.message))?;
    let support = SqliteStore::open_existing(&files.support_store).map_err(|e| e.to_string())?;
    let dev = SqliteStore::open_existing(&files.dev_store).map_err(|e| e.to_string())?;

    println!("\n== Round 1: every issue is new on the other side");
    println!("{}", engine.run_round());

    let partner_of_1 = partner(&support, "SUP-1")?;
    println!("\n== Edits: alice changes SUP-2 on the support side, amoreau changes {partner_of_1} on the dev side");
    edit(
        &support,
        "SUP-2",
        json!({"summary": "Invoice PDF shows 19% VAT instead of 7%", "priority": "High"}),
        DEMO_USER,
    )?;
    edit(
        &dev,
        &partner_of_1,
        json!({"size": "L", "state": "Done", "labels": ["checkout", "customer", "fixed"]}),
        "amoreau",
    )?;
    println!("\n== Round 2: only the changed fields travel");
    println!("{}", engine.run_round());

    println!("\n== Round 3: the sync's own writes are not sent back");
    println!("{}", engine.run_round());

    let config = files.config.display();
    println!("\nTry it yourself:");
    println!("  fieldsync issue show SUP-1 --config {config}");
    println!(
        "  fieldsync issue edit {partner_of_1} --set priority=P2 --as amoreau --config {config}"
    );
    println!(
        "  fieldsync sync --once --config {config} --plugins {}",
        plugin_dir.display()
    );
    Ok(0)
}

fn partner(store: &SqliteStore, key: &str) -> Result<String, String> {
    store
        .sync_state("support-dev", key)
        .map_err(|error| error.to_string())?
        .and_then(|state| state.partner)
        .ok_or_else(|| format!("{key} was not synced"))
}

fn edit(store: &SqliteStore, key: &str, changes: Value, author: &str) -> Result<(), String> {
    let changes: BTreeMap<String, Value> =
        serde_json::from_value(changes).map_err(|error| error.to_string())?;
    for change in store
        .update(key, &changes, author)
        .map_err(|e| e.to_string())?
    {
        println!(
            "  {key}: {}: {} → {} (by {author})",
            change.field,
            preview(&change.old),
            preview(&change.new)
        );
    }
    Ok(())
}

/// Removes the files of an earlier demo in `dir`, and only if a demo wrote them.
fn remove_previous(dir: &Path) -> Result<(), String> {
    let present: Vec<&&str> = DEMO_FILES
        .iter()
        .filter(|name| dir.join(name).exists())
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    if !dir.join(demo::MARKER).is_file() {
        return Err(format!(
            "{} already holds {} and was not set up by `fieldsync demo`: choose another --dir",
            dir.display(),
            present
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for name in DEMO_FILES {
        for suffix in ["", "-wal", "-shm"] {
            let path = dir.join(format!("{name}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(format!("{}: {error}", path.display())),
            }
        }
    }
    Ok(())
}
