//! Turns a configuration into runnable synchronizations, checking it against the
//! stores (projects, fields, types) and the registry (mapping ids, field types,
//! options). Every problem is reported with its JSON path, all at once.

use std::collections::BTreeMap;

use fieldsync_plugin_api::{Direction, MappingSetup};
use serde_json::Value;

use super::{
    BuiltMapping, EndRuntime, MappingIdentity, RelationshipRuntime, Sibling, SideOpener,
    SideRuntime, SyncRuntime,
};
use crate::builtin;
use crate::config::{
    ConfigError, ConfigProblem, FieldEnd, MappingChoice, SyncConfig, Synchronization,
};
use crate::message::Side;
use crate::registry::{MappingRegistry, RegistryError};

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
    open: &mut SideOpener<'_>,
) -> Result<Vec<SyncRuntime>, ConfigError> {
    let mut problems = Problems(Vec::new());
    let mut syncs = Vec::new();
    for (index, sync) in config.synchronizations.iter().enumerate() {
        let at = format!("synchronizations[{index}]");
        let mut sides = Vec::new();
        for side in [Side::A, Side::B] {
            let side_config = sync.side(side);
            let at = format!("{at}.{side}");
            let stores = match open.open(config, side_config) {
                Ok((_, Some(stores))) => stores,
                Ok((_, None)) => continue,
                Err(problem) => {
                    problems.add(format!("{at}.{}", problem.setting), problem.error);
                    continue;
                }
            };
            match stores.tracker.project(&side_config.project) {
                Ok(project) => sides.push(SideRuntime {
                    side,
                    project,
                    stores,
                    issue_type_map: side_config.issue_type_map.clone(),
                    shared: false,
                    siblings: Vec::new(),
                }),
                Err(error) => problems.add(format!("{at}.project"), error),
            }
        }
        let Ok([a, b]) = <[SideRuntime; 2]>::try_from(sides) else {
            continue;
        };
        check_issue_types(sync, &at, [&a, &b], &mut problems);
        check_targets(sync, &at, &mut problems);
        let mut relationships = Vec::new();
        for (field_index, relationship) in sync.fields.iter().enumerate() {
            let at = format!("{at}.fields[{field_index}]");
            let mut ends = Vec::new();
            for side in [&a, &b] {
                let end = relationship.end(side.side);
                let at = format!("{at}.{}", side.side);
                let flows_out = relationship.direction.flows_from(side.side);
                let flows_in = relationship.direction.flows_from(side.side.other());
                for (used, choice, name) in [
                    (flows_out, &end.outgoing, "outgoing"),
                    (flows_in, &end.incoming, "incoming"),
                ] {
                    if !used && choice != &MappingChoice::default() {
                        problems.add(
                            format!("{at}.{name}"),
                            format!(
                                "is never used: the relationship's direction is {}",
                                relationship.direction
                            ),
                        );
                    }
                }
                let setup = MappingSetup {
                    sync: sync.id.clone(),
                    relationship: relationship.id.clone(),
                    side: side.side.as_str().to_owned(),
                    project: side.project.key.clone(),
                    project_fields: side.project.fields.iter().map(|f| f.id.clone()).collect(),
                    ..MappingSetup::default()
                };
                if let Some(built) = build_end(
                    registry,
                    side,
                    end,
                    (flows_out, flows_in),
                    setup,
                    &at,
                    &mut problems,
                ) {
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
            interval: sync.interval(),
            issue_types: sync.issue_types.clone(),
            sides: [a, b],
            relationships,
        });
    }
    mark_shared_projects(&mut syncs);
    if problems.0.is_empty() {
        Ok(syncs)
    } else {
        Err(ConfigError {
            file: config.file.clone(),
            problems: problems.0,
        })
    }
}

/// Marks the sides whose project takes part in another synchronization too (a hub,
/// or a link of a chain): the values written there are recorded with their origin, so
/// that each synchronization passes the others' changes on, and no change goes back
/// where it came from.
fn mark_shared_projects(syncs: &mut [SyncRuntime]) {
    // Per project: every synchronization side on it, with what it sends.
    let mut uses: BTreeMap<String, Vec<Sibling>> = BTreeMap::new();
    for sync in syncs.iter() {
        for side in &sync.sides {
            let mut sends: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for relationship in &sync.relationships {
                if relationship.direction.flows_from(side.side) {
                    sends
                        .entry(relationship.end(side.side).field.clone())
                        .or_default()
                        .push(relationship.id.clone());
                }
            }
            uses.entry(side.origin_id()).or_default().push(Sibling {
                sync_id: sync.id.clone(),
                side: side.side,
                sends,
            });
        }
    }
    for sync in syncs.iter_mut() {
        for side in &mut sync.sides {
            let Some(all) = uses.get(&side.origin_id()) else {
                continue;
            };
            side.shared = all.len() > 1;
            side.siblings = all
                .iter()
                .filter(|sibling| sibling.sync_id != sync.id)
                .map(|sibling| Sibling {
                    sync_id: sibling.sync_id.clone(),
                    side: sibling.side,
                    sends: sibling.sends.clone(),
                })
                .collect();
        }
    }
}

/// Issue types named in filters and maps must exist, and every issue type that can
/// arrive on a side must be one it can create.
fn check_issue_types(
    sync: &Synchronization,
    at: &str,
    sides: [&SideRuntime; 2],
    problems: &mut Problems,
) {
    let known = |side: &SideRuntime, issue_type: &str| {
        side.project.issue_types.iter().any(|t| t == issue_type)
    };
    let in_either = |issue_type: &str| sides.iter().any(|side| known(side, issue_type));
    let all_types = || {
        sides
            .iter()
            .flat_map(|side| side.project.issue_types.iter().map(String::as_str))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (index, issue_type) in sync.issue_types.iter().enumerate() {
        if !in_either(issue_type) {
            problems.add(
                format!("{at}.issue_types[{index}]"),
                format!(
                    "neither project has issue type `{issue_type}` (types: {})",
                    all_types()
                ),
            );
        }
    }
    for (index, relationship) in sync.fields.iter().enumerate() {
        for (type_index, issue_type) in relationship.issue_types.iter().enumerate() {
            if !in_either(issue_type) {
                problems.add(
                    format!("{at}.fields[{index}].issue_types[{type_index}]"),
                    format!(
                        "neither project has issue type `{issue_type}` (types: {})",
                        all_types()
                    ),
                );
            }
        }
    }
    for [source, target] in [[sides[0], sides[1]], [sides[1], sides[0]]] {
        let flows = sync
            .fields
            .iter()
            .any(|relationship| relationship.direction.flows_from(source.side));
        let map = &target.issue_type_map;
        let map_at = format!("{at}.{}.issue_type_map", target.side);
        let filtered = !sync.issue_types.is_empty();
        for (from, to) in map {
            if filtered && sync.issue_types.contains(from) && !sync.issue_types.contains(to) {
                problems.add(
                    format!("{map_at}.{from}"),
                    format!(
                        "issues created as `{to}` on {} would never sync back: `issue_types` \
                         has `{from}` but not `{to}`",
                        target.project.key
                    ),
                );
            }
            if !known(source, from) {
                problems.add(
                    map_at.clone(),
                    format!("project {} has no issue type `{from}`", source.project.key),
                );
            }
            if !known(target, to) {
                problems.add(
                    format!("{map_at}.{from}"),
                    format!("project {} has no issue type `{to}`", target.project.key),
                );
            }
        }
        if !flows {
            continue;
        }
        for issue_type in &source.project.issue_types {
            let synced = sync.issue_types.is_empty() || sync.issue_types.contains(issue_type);
            if synced && !map.contains_key(issue_type) && !known(target, issue_type) {
                problems.add(
                    map_at.clone(),
                    format!(
                        "issues of type `{issue_type}` from {} would be created as `{issue_type}`, \
                         which project {} does not have: map it to one of {} or leave it out with \
                         `issue_types`",
                        source.project.key,
                        target.project.key,
                        target.project.issue_types.join(", ")
                    ),
                );
            }
        }
    }
}

/// Two relationships may not write the same target field: which one wins would
/// depend on message order.
fn check_targets(sync: &Synchronization, at: &str, problems: &mut Problems) {
    let mut writers: BTreeMap<(Side, &str), &str> = BTreeMap::new();
    for (index, relationship) in sync.fields.iter().enumerate() {
        for target in [Side::A, Side::B] {
            if !relationship.direction.flows_from(target.other()) {
                continue;
            }
            let field = relationship.end(target).field.as_str();
            if let Some(first) = writers.insert((target, field), &relationship.id) {
                problems.add(
                    format!("{at}.fields[{index}].{target}.field"),
                    format!(
                        "field `{field}` is already written by relationship `{first}`; \
                         one field takes one relationship"
                    ),
                );
            }
        }
    }
}

/// Builds the mappings of one end of a relationship: outgoing when data flows from
/// it, incoming when data flows to it (`flows`), each told where it is built.
fn build_end(
    registry: &MappingRegistry,
    side: &SideRuntime,
    end: &FieldEnd,
    (flows_out, flows_in): (bool, bool),
    mut setup: MappingSetup,
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
    setup.field = field.id.clone();
    setup.field_type = Some(field.field_type.clone());
    let mut built = EndRuntime {
        field: end.field.clone(),
        outgoing: None,
        incoming: None,
    };
    let mut ok = true;
    if flows_out {
        let choice = &end.outgoing;
        let options = options_for(side, choice, problems, &format!("{at}.outgoing"));
        match registry.outgoing_for(&setup, &choice.mapping, &options) {
            Ok(mapping) => {
                built.outgoing = Some(BuiltMapping {
                    mapping,
                    identity: identity(registry, &choice.mapping, Direction::Outgoing),
                    reads: fields_read(registry, &choice.mapping, Direction::Outgoing, &options),
                })
            }
            Err(error) => {
                problems.add(format!("{at}.outgoing.{}", blamed_setting(&error)), error);
                ok = false;
            }
        }
    }
    if flows_in {
        let choice = &end.incoming;
        let options = options_for(side, choice, problems, &format!("{at}.incoming"));
        match registry.incoming_for(&setup, &choice.mapping, &options) {
            Ok(mapping) => {
                built.incoming = Some(BuiltMapping {
                    mapping,
                    identity: identity(registry, &choice.mapping, Direction::Incoming),
                    reads: Vec::new(),
                })
            }
            Err(error) => {
                problems.add(format!("{at}.incoming.{}", blamed_setting(&error)), error);
                ok = false;
            }
        }
    }
    ok.then_some(built)
}

/// The other fields a built mapping declares it reads (see
/// [`fieldsync_plugin_api::MappingDescriptor::reads`]).
fn fields_read(
    registry: &MappingRegistry,
    mapping_id: &str,
    direction: Direction,
    options: &Value,
) -> Vec<String> {
    registry
        .get(mapping_id, direction)
        .map(|registered| registered.descriptor.fields_read(options))
        .unwrap_or_default()
}

/// The setting a registry refusal is reported at: the plugin refusing to build the
/// mapping is about its options; an unknown id or a wrong field type is about the
/// mapping chosen.
fn blamed_setting(error: &RegistryError) -> &'static str {
    match error {
        RegistryError::Construction(_) => "options",
        _ => "mapping",
    }
}

fn identity(registry: &MappingRegistry, mapping_id: &str, direction: Direction) -> MappingIdentity {
    let plugin = registry
        .get(mapping_id, direction)
        .map(|registered| registered.plugin_id().to_owned())
        .unwrap_or_default();
    MappingIdentity {
        id: mapping_id.to_owned(),
        builtin: plugin == builtin::PLUGIN_ID,
        plugin,
    }
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
        match side.tracker().users() {
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
