//! The mappings that ship with fieldsync.
//!
//! A built-in mapping is just a statically linked plugin: [`builtin_plugin`] returns a
//! [`Plugin`] that the engine registers like any loaded library, so built-ins get the
//! same option checks, field-type checks and error context as third-party mappings.
//!
//! Every mapping is registered in both directions under the same id, so a field
//! relationship names e.g. `fieldsync.value-map` on its outgoing side, its incoming
//! side or both. Each module documents its options as JSON:
//!
//! | id | module | field types |
//! |----|--------|-------------|
//! | `fieldsync.copy` | [`copy`] | any |
//! | `fieldsync.text` | [`text`] | text, option, status, priority, user |
//! | `fieldsync.number` | [`number`] | number, text |
//! | `fieldsync.value-map` | [`value_map`] | option, options, status, priority, text, labels |
//! | `fieldsync.user-map` | [`user_map`] | user, users |
//! | `fieldsync.labels` | [`labels`] | labels, options |
//!
//! In both directions `null` means "empty" and passes through as `null` (labels read
//! it as the empty set).

pub mod copy;
pub mod labels;
pub mod number;
pub mod text;
pub mod user_map;
pub mod value_map;

mod common;
#[cfg(test)]
mod test_support;

use fieldsync_plugin_api::{
    IncomingFieldMapping, MappingDescriptor, MappingError, MappingOptions, OutgoingFieldMapping,
    Plugin,
};

/// Id of the plugin that provides the built-in mappings.
pub const PLUGIN_ID: &str = "fieldsync.builtin";

/// Id of [`copy::CopyValue`]: the value as is.
pub const COPY: &str = "fieldsync.copy";
/// Id of [`text::Text`]: the value as text, optionally trimmed and truncated.
pub const TEXT: &str = "fieldsync.text";
/// Id of [`number::Number`]: the value as a number, optionally rounded.
pub const NUMBER: &str = "fieldsync.number";
/// Id of [`value_map::ValueMap`]: values translated through a table.
pub const VALUE_MAP: &str = "fieldsync.value-map";
/// Id of [`user_map::UserMap`]: users translated by name or by email.
pub const USER_MAP: &str = "fieldsync.user-map";
/// Id of [`labels::Labels`]: labels as a set, replaced or merged.
pub const LABELS: &str = "fieldsync.labels";

/// The plugin holding every built-in mapping, each in both directions.
pub fn builtin_plugin() -> Plugin {
    let plugin = Plugin::new(PLUGIN_ID, "Built-in mappings")
        .version(env!("CARGO_PKG_VERSION"))
        .vendor("fieldsync")
        .description(
            "The mappings that ship with fieldsync: copy, text, number, value map, user map \
             and labels",
        );
    let plugin = both_directions(plugin, copy::descriptor(), copy::CopyValue::new);
    let plugin = both_directions(plugin, text::descriptor(), text::Text::new);
    let plugin = both_directions(plugin, number::descriptor(), number::Number::new);
    let plugin = both_directions(plugin, value_map::descriptor(), value_map::ValueMap::new);
    let plugin = both_directions(plugin, user_map::descriptor(), user_map::UserMap::new);
    both_directions(plugin, labels::descriptor(), labels::Labels::new)
}

/// Registers one mapping type as outgoing and incoming under the same descriptor; the
/// registry keys by (id, direction), so the two never clash.
fn both_directions<M>(
    plugin: Plugin,
    descriptor: MappingDescriptor,
    construct: fn(MappingOptions) -> Result<M, MappingError>,
) -> Plugin
where
    M: OutgoingFieldMapping + IncomingFieldMapping + 'static,
{
    plugin
        .outgoing(descriptor.clone(), construct)
        .incoming(descriptor, construct)
}

#[cfg(test)]
mod tests {
    use super::test_support::registry;
    use super::*;
    use fieldsync_plugin_api::{Direction, FieldType};
    use serde_json::Value;

    #[test]
    fn the_manifest_is_valid_and_lists_every_mapping_both_ways() {
        let plugin = builtin_plugin();
        let manifest = plugin.manifest();
        assert_eq!(manifest.problems(), Vec::<String>::new());
        assert_eq!(manifest.id, PLUGIN_ID);
        assert_eq!(manifest.vendor, "fieldsync");
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        for id in [COPY, TEXT, NUMBER, VALUE_MAP, USER_MAP, LABELS] {
            for direction in [Direction::Outgoing, Direction::Incoming] {
                let count = manifest
                    .mappings
                    .iter()
                    .filter(|m| m.id == id && m.direction == direction)
                    .count();
                assert_eq!(count, 1, "{id} {direction}");
            }
        }
        assert_eq!(manifest.mappings.len(), 12);
        assert!(manifest.mappings.iter().all(|m| !m.description.is_empty()));
    }

    #[test]
    fn the_registry_checks_field_types_of_built_ins() {
        let registry = registry();
        assert_eq!(registry.iter().count(), 12);
        let error = registry
            .outgoing(NUMBER, "assignee", &FieldType::User, &Value::Null)
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            error.as_deref(),
            Some("outgoing mapping `fieldsync.number` does not accept field `assignee` of type `user` (it accepts number, text)")
        );
        assert!(registry
            .incoming(
                COPY,
                "x",
                &FieldType::Other("acme-rating".into()),
                &Value::Null
            )
            .is_ok());
    }
}
