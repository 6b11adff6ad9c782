//! What loading a plugin folder found, and the rules that decide which plugins and
//! mappings can be used.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fieldsync_plugin_api::{Direction, MappingDescriptor, MappingProvider, PluginOrigin};

use crate::cache::Sha256Digest;
use crate::error::LoadError;

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

/// Where a loaded plugin's code came from, for plugins loaded from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The SHA-256 digest of the file's bytes when they were loaded.
    pub digest: Sha256Digest,
    /// Where the folder entry points, when it is a symbolic link.
    pub target: Option<PathBuf>,
}

/// A plugin that may be registered: a checked static or a loaded file.
#[derive(Clone)]
pub(crate) struct Candidate {
    pub(crate) provider: Arc<dyn MappingProvider>,
    pub(crate) file: Option<FileInfo>,
}

/// A plugin that loaded, with the mappings it may not provide because of conflicts.
#[derive(Clone)]
pub struct LoadedEntry {
    /// The plugin.
    pub provider: Arc<dyn MappingProvider>,
    /// The file's digest and link target (`None` for a statically linked plugin).
    pub file: Option<FileInfo>,
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
    pub(crate) fn resolve(candidates: Vec<Candidate>, mut rejected: Vec<Rejected>) -> LoadReport {
        let mut by_plugin_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, candidate) in candidates.iter().enumerate() {
            by_plugin_id
                .entry(candidate.provider.manifest().id.as_str())
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
                let others = indexes
                    .iter()
                    .filter(|&&other| other != index)
                    .map(|&other| candidates[other].provider.origin().to_string());
                duplicates.push((
                    index,
                    Rejected {
                        origin: candidates[index].provider.origin(),
                        error: LoadError::DuplicatePlugin {
                            plugin_id: (*plugin_id).to_owned(),
                            others: first_few(others, indexes.len() - 1),
                        },
                    },
                ));
            }
        }
        duplicates.sort_by_key(|(index, _)| *index);
        rejected.extend(duplicates.into_iter().map(|(_, rejection)| rejection));

        let kept: Vec<Candidate> = candidates
            .into_iter()
            .zip(keep)
            .filter_map(|(candidate, keep)| keep.then_some(candidate))
            .collect();

        let mut offers: BTreeMap<(String, Direction), Vec<usize>> = BTreeMap::new();
        for (index, plugin) in kept.iter().enumerate() {
            for mapping in &plugin.provider.manifest().mappings {
                offers
                    .entry((mapping.id.clone(), mapping.direction))
                    .or_default()
                    .push(index);
            }
        }
        let mut plugins: Vec<LoadedEntry> = kept
            .iter()
            .map(|candidate| LoadedEntry {
                provider: Arc::clone(&candidate.provider),
                file: candidate.file.clone(),
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
                    .map(|&index| {
                        let provider = &kept[index].provider;
                        (provider.manifest().id.clone(), provider.origin())
                    })
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

/// `a, b, c and 97 more`: a report line stays short however many files clash, so
/// that a report grows with the number of files, not with its square.
fn first_few(names: impl Iterator<Item = String>, count: usize) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = names.take(SHOWN).collect();
    match count.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PluginLoader;
    use fieldsync_plugin_api::{MappingError, OutgoingContext, OutgoingFieldMapping, Plugin};
    use serde_json::Value;
    use std::path::Path;

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
