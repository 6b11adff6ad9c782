//! `fieldsync plugins list|check`. Usage problems (a missing folder or file) come
//! back as `Err` and become exit code 2 in `main`.

use std::path::Path;

use fieldsync_loader::{
    LoadError, LoadReport, LoadedEntry, Pin, PluginLoader, PluginPins, Sha256Digest,
};
use fieldsync_plugin_api::{MappingDescriptor, MappingProvider, PluginManifest};
use serde::Serialize;

use crate::table;
use crate::CliError;
use crate::EXIT_PROBLEMS;

#[derive(Serialize)]
struct ListJson<'a> {
    plugins: Vec<PluginJson<'a>>,
    rejected: Vec<RejectedJson>,
    conflicts: Vec<ConflictJson<'a>>,
    warnings: Vec<WarningJson<'a>>,
}

#[derive(Serialize)]
struct WarningJson<'a> {
    file: String,
    message: &'a str,
}

#[derive(Serialize)]
struct PluginJson<'a> {
    id: &'a str,
    name: &'a str,
    version: &'a str,
    vendor: &'a str,
    /// As named in the folder.
    file: String,
    /// Where the folder entry points, when it is a symbolic link.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// The digest of the bytes loaded (what `plugins pin` records).
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    mappings: Vec<MappingJson<'a>>,
}

#[derive(Serialize)]
struct MappingJson<'a> {
    #[serde(flatten)]
    descriptor: &'a MappingDescriptor,
    /// False when another plugin offers the same id, so neither is registered.
    available: bool,
}

#[derive(Serialize)]
struct RejectedJson {
    file: String,
    reason: String,
}

#[derive(Serialize)]
struct ConflictJson<'a> {
    mapping: &'a str,
    direction: String,
    files: Vec<String>,
}

fn plugin_json(entry: &LoadedEntry) -> PluginJson<'_> {
    let manifest = entry.provider.manifest();
    PluginJson {
        id: &manifest.id,
        name: &manifest.name,
        version: &manifest.version,
        vendor: &manifest.vendor,
        file: entry.provider.origin().to_string(),
        target: entry
            .file
            .as_ref()
            .and_then(|file| file.target.as_ref())
            .map(|target| target.display().to_string()),
        sha256: entry.file.as_ref().map(|file| file.digest.to_string()),
        mappings: manifest
            .mappings
            .iter()
            .map(|descriptor| MappingJson {
                descriptor,
                available: !entry.is_withheld(descriptor),
            })
            .collect(),
    }
}

fn list_json(report: &LoadReport) -> ListJson<'_> {
    ListJson {
        plugins: report.plugins.iter().map(plugin_json).collect(),
        rejected: report
            .rejected
            .iter()
            .map(|rejected| RejectedJson {
                file: rejected.origin.to_string(),
                reason: rejected.error.to_string(),
            })
            .collect(),
        conflicts: report
            .conflicts
            .iter()
            .map(|conflict| ConflictJson {
                mapping: &conflict.mapping_id,
                direction: conflict.direction.to_string(),
                files: conflict
                    .providers
                    .iter()
                    .map(|(_, origin)| origin.to_string())
                    .collect(),
            })
            .collect(),
        warnings: report
            .warnings
            .iter()
            .map(|warning| WarningJson {
                file: warning.origin.to_string(),
                message: &warning.message,
            })
            .collect(),
    }
}

fn field_types(descriptor: &MappingDescriptor) -> String {
    descriptor
        .field_types
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn list_text(report: &LoadReport) -> String {
    let mut rows = Vec::new();
    for entry in &report.plugins {
        let manifest = entry.provider.manifest();
        for descriptor in &manifest.mappings {
            let mut name = descriptor.name.clone();
            if entry.is_withheld(descriptor) {
                name.push_str(" [conflict: not registered]");
            }
            rows.push(vec![
                manifest.id.clone(),
                manifest.version.clone(),
                descriptor.id.clone(),
                name,
                descriptor.direction.to_string(),
                field_types(descriptor),
                file_column(entry),
                digest_column(entry),
            ]);
        }
        if manifest.mappings.is_empty() {
            rows.push(vec![
                manifest.id.clone(),
                manifest.version.clone(),
                "-".into(),
                "(no mappings)".into(),
                "-".into(),
                "-".into(),
                file_column(entry),
                digest_column(entry),
            ]);
        }
    }
    let mut out = if rows.is_empty() {
        "no plugins loaded\n".to_owned()
    } else {
        table::render(
            &[
                "PLUGIN",
                "VERSION",
                "MAPPING",
                "NAME",
                "DIRECTION",
                "FIELD TYPES",
                "FILE",
                "SHA256",
            ],
            &rows,
        )
    };
    if !report.rejected.is_empty() {
        out.push_str(&format!("\nrejected ({}):\n", report.rejected.len()));
        for rejected in &report.rejected {
            out.push_str(&format!("  {}: {}\n", rejected.origin, rejected.error));
        }
    }
    if !report.warnings.is_empty() {
        out.push_str(&format!("\nwarnings ({}):\n", report.warnings.len()));
        for warning in &report.warnings {
            out.push_str(&format!("  {}: {}\n", warning.origin, warning.message));
        }
    }
    if !report.conflicts.is_empty() {
        out.push_str(&format!("\nconflicts ({}):\n", report.conflicts.len()));
        for conflict in &report.conflicts {
            out.push_str(&format!("  {conflict}\n"));
        }
    }
    out
}

/// The file as named in the folder, and where it points when it is a link.
fn file_column(entry: &LoadedEntry) -> String {
    let origin = entry.provider.origin().to_string();
    match entry.file.as_ref().and_then(|file| file.target.as_ref()) {
        Some(target) => format!("{origin} -> {}", target.display()),
        None => origin,
    }
}

/// The first 12 hex digits of the file's SHA-256 (`--json` has all 64).
fn digest_column(entry: &LoadedEntry) -> String {
    entry
        .file
        .as_ref()
        .map_or_else(|| "-".to_owned(), |file| file.digest.short().to_owned())
}

fn loader(pins: Option<&Path>) -> Result<PluginLoader, String> {
    match pins {
        Some(file) => Ok(PluginLoader::new()
            .with_pins(PluginPins::load(file).map_err(|error| error.to_string())?)),
        None => Ok(PluginLoader::new()),
    }
}

fn load_folder(dir: &Path, pins: Option<&Path>) -> Result<LoadReport, String> {
    if !dir.is_dir() {
        return Err(format!(
            "plugin folder {} does not exist or is not a folder",
            dir.display()
        ));
    }
    loader(pins)?
        .load_dir(dir)
        .map_err(|error| error.to_string())
}

/// `fieldsync plugins list --dir DIR [--pins FILE] [--json]`.
pub fn list(dir: &Path, pins: Option<&Path>, json: bool) -> Result<u8, CliError> {
    let report = load_folder(dir, pins)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list_json(&report)).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", list_text(&report));
    }
    Ok(if report.is_clean() { 0 } else { EXIT_PROBLEMS })
}

#[derive(Serialize)]
struct CheckJson<'a> {
    file: String,
    usable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a PluginManifest>,
    /// Manifest entries this host could not read; the plugin is usable without them.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    skipped_mappings: &'a [String],
    /// The digest of the file's bytes, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// The plugin ABI this fieldsync speaks (the plugin's own is in `reason` when it
    /// differs).
    host_abi_version: &'static str,
}

/// `fieldsync plugins check FILE [--pins FILE] [--json]`.
pub fn check(file: &Path, pins: Option<&Path>, json: bool) -> Result<u8, CliError> {
    if !file.is_file() {
        return Err(format!("{} does not exist or is not a file", file.display()).into());
    }
    let outcome = loader(pins)?.load_file(file);
    let abi_version = fieldsync_plugin_api::abi::ABI_VERSION;
    if json {
        let report = CheckJson {
            file: file.display().to_string(),
            usable: outcome.is_ok(),
            reason: outcome.as_ref().err().map(LoadError::to_string),
            plugin: outcome.as_ref().ok().map(|plugin| plugin.manifest()),
            skipped_mappings: outcome
                .as_ref()
                .map(|plugin| plugin.skipped_mappings())
                .unwrap_or_default(),
            sha256: std::fs::read(file)
                .ok()
                .map(|bytes| Sha256Digest::of(&bytes).to_string()),
            host_abi_version: abi_version,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        match &outcome {
            Ok(plugin) => {
                print!("{}", check_text(file, plugin.manifest(), abi_version));
                for entry in plugin.skipped_mappings() {
                    println!("  warning: skipped a mapping this host cannot read: {entry}");
                }
            }
            Err(error) => println!("{}: not usable: {error}", file.display()),
        }
    }
    let whole = outcome.is_ok_and(|plugin| plugin.skipped_mappings().is_empty());
    Ok(if whole { 0 } else { EXIT_PROBLEMS })
}

fn check_text(file: &Path, manifest: &PluginManifest, abi_version: &str) -> String {
    let mut out = format!(
        "{}: usable plugin (this host speaks plugin ABI {abi_version})\n",
        file.display()
    );
    out.push_str(&format!(
        "  id:       {}\n  name:     {}\n",
        manifest.id, manifest.name
    ));
    out.push_str(&format!(
        "  version:  {}\n  vendor:   {}\n",
        manifest.version, manifest.vendor
    ));
    if !manifest.description.is_empty() {
        out.push_str(&format!("  about:    {}\n", manifest.description));
    }
    out.push_str(&format!("  mappings: {}\n", manifest.mappings.len()));
    let rows: Vec<Vec<String>> = manifest
        .mappings
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.direction.to_string(),
                field_types(m),
                m.name.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        for line in table::render(&["MAPPING", "DIRECTION", "FIELD TYPES", "NAME"], &rows).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// `fieldsync plugins pin --dir DIR --pins FILE`: pins every plugin loaded from the
/// folder to the digest of its file, as the folder is now. Refuses when a file is
/// rejected or a plugin id is contested, so that pins never bless a broken folder.
pub fn pin(dir: &Path, pins_file: &Path) -> Result<u8, CliError> {
    // Pins already in the file do not apply: pinning again is how a new version is
    // accepted.
    let report = load_folder(dir, None)?;
    if !report.rejected.is_empty() || !report.conflicts.is_empty() {
        print!("{}", list_text(&report));
        eprintln!("fieldsync: nothing pinned: fix or remove the files above first");
        return Ok(EXIT_PROBLEMS);
    }
    let mut pins = PluginPins::default();
    for entry in &report.plugins {
        let Some(file) = &entry.file else { continue };
        let origin = entry.provider.origin().to_string();
        let name = Path::new(&origin)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or(origin);
        pins.pins.insert(
            entry.provider.manifest().id.clone(),
            Pin {
                sha256: file.digest.to_string(),
                file: name,
            },
        );
    }
    pins.save(pins_file).map_err(|error| error.to_string())?;
    for (id, pin) in &pins.pins {
        println!("pinned {id} to sha256 {} ({})", pin.sha256, pin.file);
    }
    println!(
        "{} plugin(s) pinned in {}",
        pins.pins.len(),
        pins_file.display()
    );
    Ok(0)
}
