//! Turns a configuration into runnable synchronizations, checking it against the
//! stores (projects, fields, types) and the registry (mapping ids, field types,
//! options). Every problem is reported with its JSON path, all at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_plugin_api::Direction;
use serde_json::Value;

use super::{BuiltMapping, EndRuntime, RelationshipRuntime, SideRuntime, SyncRuntime};
use crate::builtin;
use crate::config::{ConfigError, ConfigProblem, FieldEnd, MappingChoice, SyncConfig};
use crate::message::Side;
use crate::registry::MappingRegistry;
use crate::store::{StoreError, SyncStore};

struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, path: String, message: impl ToString) {
        self.0.push(ConfigProblem {
            path,
            message: message.to_string(),
        });
    }
}

pub(super) fn build(
    config: &SyncConfig,
    registry: &MappingRegistry,
    open: &mut dyn FnMut(&Path) -> Result<Arc<dyn SyncStore>, StoreError>,
) -> Result<Vec<SyncRuntime>, ConfigError> {
    let mut problems = Problems(Vec::new());
    let mut syncs = Vec::new();
    for (index, sync) in config.synchronizations.iter().enumerate() {
        let at = format!("synchronizations[{index}]");
        let mut sides = Vec::new();
        for side in [Side::A, Side::B] {
            let side_config = sync.side(side);
            let at = format!("{at}.{side}");
            let path = config.store_path(&side_config.store);
            let store = match open(&path) {
                Ok(store) => store,
                Err(error) => {
                    problems.add(format!("{at}.store"), error);
                    continue;
                }
            };
            match store.project(&side_config.project) {
                Ok(project) => sides.push(SideRuntime {
                    side,
                    project,
                    store,
                    issue_type_map: side_config.issue_type_map.clone(),
                }),
                Err(error) => problems.add(format!("{at}.project"), error),
            }
        }
        let Ok([a, b]) = <[SideRuntime; 2]>::try_from(sides) else {
            continue;
        };
        let mut relationships = Vec::new();
        for (field_index, relationship) in sync.fields.iter().enumerate() {
            let at = format!("{at}.fields[{field_index}]");
            let mut ends = Vec::new();
            for side in [&a, &b] {
                let end = relationship.end(side.side);
                let at = format!("{at}.{}", side.side);
                let flows_out = relationship.direction.flows_from(side.side);
                let flows_in = relationship.direction.flows_from(side.side.other());
                if let Some(built) =
                    build_end(registry, side, end, flows_out, flows_in, &at, &mut problems)
                {
                    ends.push(built);
                }
            }
            if let Ok(ends) = <[EndRuntime; 2]>::try_from(ends) {
                relationships.push(RelationshipRuntime {
                    id: relationship.id.clone(),
                    direction: relationship.direction,
                    issue_types: relationship.issue_types.clone(),
                    ends,
                });
            }
        }
        syncs.push(SyncRuntime {
            id: sync.id.clone(),
            sync_user: sync.sync_user.clone(),
            interval: Duration::from_secs(sync.interval_seconds),
            issue_types: sync.issue_types.clone(),
            sides: [a, b],
            relationships,
        });
    }
    if problems.0.is_empty() {
        Ok(syncs)
    } else {
        Err(ConfigError {
            file: config.file.clone(),
            problems: problems.0,
        })
    }
}

fn build_end(
    registry: &MappingRegistry,
    side: &SideRuntime,
    end: &FieldEnd,
    flows_out: bool,
    flows_in: bool,
    at: &str,
    problems: &mut Problems,
) -> Option<EndRuntime> {
    let Some(field) = side.project.field(&end.field) else {
        problems.add(
            format!("{at}.field"),
            format!(
                "project {} has no field `{}` (fields: {})",
                side.project.key,
                end.field,
                side.project
                    .fields
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    };
    let mut built = EndRuntime {
        field: end.field.clone(),
        outgoing: None,
        incoming: None,
    };
    let mut ok = true;
    if flows_out {
        let choice = &end.outgoing;
        let options = options_for(side, choice, problems, &format!("{at}.outgoing"));
        match registry.outgoing(&choice.mapping, &field.id, &field.field_type, &options) {
            Ok(mapping) => {
                built.outgoing = Some(BuiltMapping {
                    mapping,
                    builtin: is_builtin(registry, &choice.mapping, Direction::Outgoing),
                })
            }
            Err(error) => {
                problems.add(format!("{at}.outgoing.mapping"), error);
                ok = false;
            }
        }
    }
    if flows_in {
        let choice = &end.incoming;
        let options = options_for(side, choice, problems, &format!("{at}.incoming"));
        match registry.incoming(&choice.mapping, &field.id, &field.field_type, &options) {
            Ok(mapping) => {
                built.incoming = Some(BuiltMapping {
                    mapping,
                    builtin: is_builtin(registry, &choice.mapping, Direction::Incoming),
                })
            }
            Err(error) => {
                problems.add(format!("{at}.incoming.mapping"), error);
                ok = false;
            }
        }
    }
    ok.then_some(built)
}

fn is_builtin(registry: &MappingRegistry, mapping_id: &str, direction: Direction) -> bool {
    registry
        .get(mapping_id, direction)
        .is_some_and(|registered| registered.plugin_id() == builtin::PLUGIN_ID)
}

/// The options a mapping is built with. The built-in user map matching by e-mail
/// gets the user directory of its side's store: the mapping cannot read the store
/// itself, and the directory belongs to the instance, not to the configuration.
fn options_for(
    side: &SideRuntime,
    choice: &MappingChoice,
    problems: &mut Problems,
    at: &str,
) -> Value {
    let mut options = choice.options.clone();
    let by_email = choice.mapping == builtin::USER_MAP
        && options.get("by").and_then(Value::as_str) == Some("email");
    if by_email {
        match side.store.users() {
            Ok(users) => {
                let directory: BTreeMap<String, Value> = users
                    .into_iter()
                    .map(|user| (user.username, Value::String(user.email)))
                    .collect();
                if let Some(object) = options.as_object_mut() {
                    object.insert(
                        "directory".to_owned(),
                        Value::Object(directory.into_iter().collect()),
                    );
                }
            }
            Err(error) => problems.add(format!("{at}.options"), error),
        }
    }
    options
}
