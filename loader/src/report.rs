//! Scans a plugin folder and decides which plugins and mappings can be used.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fieldsync_plugin_api::abi::wire::HostInfo;
use fieldsync_plugin_api::{Direction, MappingDescriptor, MappingProvider, PluginOrigin};

use crate::error::{LoadError, ScanError};
use crate::host::ffi_max_level;
use crate::library::{default_host_info, LoadedPlugin};
use crate::LIBRARY_SUFFIX;

/// Loads plugins from a folder, next to any statically linked ones.
pub struct PluginLoader {
    statics: Vec<Arc<dyn MappingProvider>>,
    host_info: HostInfo,
}

impl Default for PluginLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginLoader {
    /// A loader with no statically linked plugins.
    pub fn new() -> Self {
        PluginLoader {
            statics: Vec::new(),
            host_info: default_host_info(),
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

    /// Loads and checks one plugin file. The plugin logs at the host's `log` level
    /// of this moment.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let host_info = HostInfo {
            max_log_level: ffi_max_level(),
            ..self.host_info.clone()
        };
        LoadedPlugin::load(path, &host_info)
    }

    /// Loads every library file directly in `dir` (by name order) plus the static
    /// plugins. A file that cannot be used is reported with its reason; the others
    /// load regardless. Only an unreadable folder is an error.
    pub fn load_dir(&self, dir: &Path) -> Result<LoadReport, ScanError> {
        let scan_error = |source| ScanError {
            path: dir.to_owned(),
            source,
        };
        // Absolute paths, so that loaded and rejected files are named the same way.
        let dir = dir.canonicalize().map_err(scan_error)?;
        let mut files = Vec::new();
        let mut not_files = Vec::new();
        for entry in dir.read_dir().map_err(scan_error)? {
            let path = entry.map_err(scan_error)?.path();
            let is_library = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(LIBRARY_SUFFIX) && !name.starts_with('.'));
            if !is_library {
                continue;
            }
            // Every entry with a library's name is accounted for: one that is no file
            // is reported with what it is, never skipped without a word.
            match not_a_file(&path) {
                None => files.push(path),
                Some(what) => not_files.push(Rejected {
                    origin: PluginOrigin::File(path),
                    error: LoadError::NotAFile(what),
                }),
            }
        }
        files.sort();
        not_files.sort_by_key(|rejected| rejected.origin.to_string());

        let (mut candidates, mut rejected) = self.checked_statics();
        rejected.extend(not_files);
        let mut warnings = Vec::new();
        for path in files {
            match self.load_file(&path) {
                Ok(plugin) => {
                    warnings.extend(plugin.skipped_mappings().iter().map(|entry| Warning {
                        origin: PluginOrigin::File(path.clone()),
                        message: format!("skipped a mapping this host cannot read: {entry}"),
                    }));
                    candidates.push(Arc::new(plugin));
                }
                Err(error) => {
                    log::info!("plugin file {} rejected: {error}", path.display());
                    rejected.push(Rejected {
                        origin: PluginOrigin::File(path),
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

    /// The static plugins with a valid manifest, and the rest rejected: the check a
    /// file gets while it loads.
    fn checked_statics(&self) -> (Vec<Arc<dyn MappingProvider>>, Vec<Rejected>) {
        let mut valid = Vec::new();
        let mut rejected = Vec::new();
        for plugin in &self.statics {
            let problems = plugin.manifest().problems();
            if problems.is_empty() {
                valid.push(Arc::clone(plugin));
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

/// A plugin that could not be used, and why.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The file (or `built-in`).
    pub origin: PluginOrigin,
    /// Why.
    pub error: LoadError,
}

/// Something an operator should know about a plugin that did load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The plugin's file.
    pub origin: PluginOrigin,
    /// What is wrong.
    pub message: String,
}

/// A mapping id offered by more than one plugin in the same direction: it is not
/// registered at all, so that neither wins silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The contested mapping id.
    pub mapping_id: String,
    /// The direction in which it is contested.
    pub direction: Direction,
    /// The plugins that offer it: plugin id and origin.
    pub providers: Vec<(String, PluginOrigin)>,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: Vec<String> = self
            .providers
            .iter()
            .map(|(plugin, origin)| format!("`{plugin}` ({origin})"))
            .collect();
        write!(
            f,
            "{} mapping `{}` is provided by {}; it is not registered",
            self.direction,
            self.mapping_id,
            providers.join(" and ")
        )
    }
}

/// A plugin that loaded, with the mappings it may not provide because of conflicts.
#[derive(Clone)]
pub struct LoadedEntry {
    /// The plugin.
    pub provider: Arc<dyn MappingProvider>,
    /// Mappings of this plugin that are withheld because another plugin has the same id.
    pub withheld: Vec<(String, Direction)>,
}

impl LoadedEntry {
    /// Whether the mapping is withheld because of a conflict.
    pub fn is_withheld(&self, descriptor: &MappingDescriptor) -> bool {
        self.withheld
            .iter()
            .any(|(id, direction)| id == &descriptor.id && *direction == descriptor.direction)
    }
}

/// A mapping that can be used, and the plugin that provides it.
#[derive(Clone)]
pub struct AvailableMapping<'a> {
    /// What the mapping is.
    pub descriptor: &'a MappingDescriptor,
    /// Where to build it.
    pub provider: &'a Arc<dyn MappingProvider>,
}

/// The outcome of loading a plugin folder: one entry per plugin or rejected file.
#[derive(Clone, Default)]
pub struct LoadReport {
    /// Plugins that loaded, statics first, then files in name order.
    pub plugins: Vec<LoadedEntry>,
    /// Files (or statics) that could not be used.
    pub rejected: Vec<Rejected>,
    /// Mapping ids offered twice.
    pub conflicts: Vec<Conflict>,
    /// Plugins that loaded only in part (e.g. mappings declared by a newer SDK).
    pub warnings: Vec<Warning>,
}

impl LoadReport {
    /// Whether every plugin loaded whole and no mapping id is contested.
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty() && self.conflicts.is_empty() && self.warnings.is_empty()
    }

    /// Every usable mapping with its provider.
    pub fn mappings(&self) -> impl Iterator<Item = AvailableMapping<'_>> {
        self.plugins.iter().flat_map(|entry| {
            entry
                .provider
                .manifest()
                .mappings
                .iter()
                .filter(|descriptor| !entry.is_withheld(descriptor))
                .map(move |descriptor| AvailableMapping {
                    descriptor,
                    provider: &entry.provider,
                })
        })
    }

    /// The usable mapping `mapping_id` in `direction`, if exactly one plugin offers it.
    pub fn mapping(&self, mapping_id: &str, direction: Direction) -> Option<AvailableMapping<'_>> {
        self.mappings()
            .find(|m| m.descriptor.id == mapping_id && m.descriptor.direction == direction)
    }

    /// Applies the uniqueness rules: a plugin id or a (mapping id, direction) may be
    /// offered once; contested plugin ids reject every plugin involved, contested
    /// mapping ids are withheld from every plugin involved.
    fn resolve(
        candidates: Vec<Arc<dyn MappingProvider>>,
        mut rejected: Vec<Rejected>,
    ) -> LoadReport {
        let mut by_plugin_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, candidate) in candidates.iter().enumerate() {
            by_plugin_id
                .entry(candidate.manifest().id.as_str())
                .or_default()
                .push(index);
        }
        let mut keep = vec![true; candidates.len()];
        let mut duplicates = Vec::new();
        for (plugin_id, indexes) in &by_plugin_id {
            if indexes.len() < 2 {
                continue;
            }
            for &index in indexes {
                keep[index] = false;
                let others: Vec<String> = indexes
                    .iter()
                    .filter(|&&other| other != index)
                    .map(|&other| candidates[other].origin().to_string())
                    .collect();
                duplicates.push((
                    index,
                    Rejected {
                        origin: candidates[index].origin(),
                        error: LoadError::DuplicatePlugin {
                            plugin_id: (*plugin_id).to_owned(),
                            others: others.join(", "),
                        },
                    },
                ));
            }
        }
        duplicates.sort_by_key(|(index, _)| *index);
        rejected.extend(duplicates.into_iter().map(|(_, rejection)| rejection));

        let kept: Vec<Arc<dyn MappingProvider>> = candidates
            .into_iter()
            .zip(keep)
            .filter_map(|(candidate, keep)| keep.then_some(candidate))
            .collect();

        let mut offers: BTreeMap<(String, Direction), Vec<usize>> = BTreeMap::new();
        for (index, plugin) in kept.iter().enumerate() {
            for mapping in &plugin.manifest().mappings {
                offers
                    .entry((mapping.id.clone(), mapping.direction))
                    .or_default()
                    .push(index);
            }
        }
        let mut plugins: Vec<LoadedEntry> = kept
            .iter()
            .map(|provider| LoadedEntry {
                provider: Arc::clone(provider),
                withheld: Vec::new(),
            })
            .collect();
        let mut conflicts = Vec::new();
        for ((mapping_id, direction), indexes) in offers {
            if indexes.len() < 2 {
                continue;
            }
            for &index in &indexes {
                plugins[index]
                    .withheld
                    .push((mapping_id.clone(), direction));
            }
            let conflict = Conflict {
                mapping_id,
                direction,
                providers: indexes
                    .iter()
                    .map(|&index| (kept[index].manifest().id.clone(), kept[index].origin()))
                    .collect(),
            };
            log::info!("{conflict}");
            conflicts.push(conflict);
        }
        LoadReport {
            plugins,
            rejected,
            conflicts,
            warnings: Vec::new(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_plugin_api::{MappingError, OutgoingContext, OutgoingFieldMapping, Plugin};
    use serde_json::Value;

    struct Same;
    impl OutgoingFieldMapping for Same {
        fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
            Ok(ctx.value().clone())
        }
    }

    fn plugin(id: &str, mappings: &[&str]) -> Plugin {
        mappings
            .iter()
            .fold(Plugin::new(id, "Test"), |plugin, mapping| {
                plugin.outgoing(MappingDescriptor::new(*mapping, "Same"), |_| Ok(Same))
            })
    }

    #[test]
    fn a_contested_mapping_id_is_withheld_from_everyone_and_the_rest_stays() {
        let report = PluginLoader::new()
            .with_static(plugin("a.one", &["a.copy", "a.only"]))
            .with_static(plugin("b.two", &["a.copy", "b.only"]))
            .load_statics();
        assert_eq!(report.conflicts.len(), 1);
        assert_eq!(report.conflicts[0].mapping_id, "a.copy");
        assert!(report.mapping("a.copy", Direction::Outgoing).is_none());
        assert!(report.mapping("a.only", Direction::Outgoing).is_some());
        assert!(report.mapping("b.only", Direction::Outgoing).is_some());
        assert!(!report.is_clean());
        assert_eq!(
            report.conflicts[0].to_string(),
            "outgoing mapping `a.copy` is provided by `a.one` (built-in) and `b.two` (built-in); it is not registered"
        );
    }

    #[test]
    fn a_contested_plugin_id_rejects_every_plugin_that_claims_it() {
        let report = PluginLoader::new()
            .with_static(plugin("a.one", &["a.x"]))
            .with_static(plugin("a.one", &["a.y"]))
            .with_static(plugin("c.three", &["c.z"]))
            .load_statics();
        assert_eq!(report.rejected.len(), 2);
        assert!(
            matches!(&report.rejected[0].error, LoadError::DuplicatePlugin { plugin_id, .. } if plugin_id == "a.one")
        );
        assert_eq!(report.plugins.len(), 1);
        assert!(report.mapping("c.z", Direction::Outgoing).is_some());
    }

    #[test]
    fn a_static_plugin_with_an_invalid_manifest_is_rejected_like_a_file() {
        let report = PluginLoader::new()
            .with_static(plugin("Not Valid", &["a.x"]))
            .with_static(plugin("c.three", &["c.z"]))
            .load_statics();
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].origin, PluginOrigin::Static);
        assert!(
            matches!(&report.rejected[0].error, LoadError::InvalidManifest(problems) if problems[0].contains("Not Valid"))
        );
        assert!(report.mapping("a.x", Direction::Outgoing).is_none());
        assert!(report.mapping("c.z", Direction::Outgoing).is_some());
    }

    #[test]
    fn the_same_id_in_both_directions_is_no_conflict() {
        struct Keep;
        impl fieldsync_plugin_api::IncomingFieldMapping for Keep {
            fn import(
                &self,
                ctx: &fieldsync_plugin_api::IncomingContext<'_>,
            ) -> Result<fieldsync_plugin_api::FieldUpdate, MappingError> {
                Ok(fieldsync_plugin_api::FieldUpdate::Set(ctx.data().clone()))
            }
        }
        let both = plugin("a.one", &["a.copy"])
            .incoming(MappingDescriptor::new("a.copy", "Copy"), |_| Ok(Keep));
        let report = PluginLoader::new().with_static(both).load_statics();
        assert!(report.is_clean());
        assert_eq!(report.mappings().count(), 2);
    }

    #[test]
    fn an_unreadable_folder_is_an_error_naming_it() {
        let error = PluginLoader::new()
            .load_dir(Path::new("/definitely/not/here"))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("/definitely/not/here"),
            "{error}"
        );
    }
}
