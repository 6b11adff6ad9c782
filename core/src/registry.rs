//! Mapping id → mapping, built-in or loaded, with its descriptor and provenance.
//!
//! The registry does not care where a mapping comes from: it holds
//! [`MappingProvider`]s, which statically linked plugins and loaded libraries both
//! are. It refuses what a configuration could get wrong — unknown ids, a mapping on a
//! field type it does not accept, bad options — with errors that name the mapping.

use std::collections::BTreeMap;
use std::sync::Arc;

use fieldsync_plugin_api::{
    Direction, FieldType, IncomingFieldMapping, MappingDescriptor, MappingError, MappingProvider,
    MappingSetup, OutgoingFieldMapping, PluginOrigin,
};
use serde_json::Value;
use thiserror::Error;

/// Why the registry could not hand out a mapping.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// No plugin provides this mapping in this direction.
    #[error("no {direction} mapping `{mapping_id}` is available{}", hint(.known))]
    UnknownMapping {
        /// The requested id.
        mapping_id: String,
        /// The requested direction.
        direction: Direction,
        /// The ids available in that direction, to help spot a typo.
        known: Vec<String>,
    },
    /// The mapping does not accept the field's type.
    #[error("{direction} mapping `{mapping_id}` does not accept field `{field_id}` of type `{field_type}` (it accepts {})", list(.accepted))]
    WrongFieldType {
        /// The mapping.
        mapping_id: String,
        /// Its direction.
        direction: Direction,
        /// The field it was configured on.
        field_id: String,
        /// That field's type.
        field_type: FieldType,
        /// What the mapping accepts.
        accepted: Vec<FieldType>,
    },
    /// The plugin refused to build the mapping (bad options, a panic...).
    #[error("{0}")]
    Construction(MappingError),
    /// Two providers registered the same id in the same direction.
    #[error("{direction} mapping `{mapping_id}` is registered twice: by {first} and by {second}")]
    Duplicate {
        /// The contested id.
        mapping_id: String,
        /// Its direction.
        direction: Direction,
        /// Where the registered one comes from.
        first: String,
        /// Where the refused one comes from.
        second: String,
    },
}

fn hint(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (available: {})", known.join(", "))
    }
}

fn list(types: &[FieldType]) -> String {
    types
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One registered mapping.
#[derive(Clone)]
pub struct RegisteredMapping {
    /// What it is.
    pub descriptor: MappingDescriptor,
    /// The plugin that provides it.
    pub provider: Arc<dyn MappingProvider>,
}

impl RegisteredMapping {
    /// The id of the providing plugin.
    pub fn plugin_id(&self) -> &str {
        &self.provider.manifest().id
    }

    /// Where the providing plugin comes from.
    pub fn origin(&self) -> PluginOrigin {
        self.provider.origin()
    }
}

/// The mappings the engine may use, by id and direction.
#[derive(Clone, Default)]
pub struct MappingRegistry {
    mappings: BTreeMap<(String, Direction), RegisteredMapping>,
}

impl MappingRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers every mapping a plugin declares, or none of them if one id is taken.
    pub fn register_plugin(
        &mut self,
        provider: Arc<dyn MappingProvider>,
    ) -> Result<(), RegistryError> {
        let mut staged = self.clone();
        for descriptor in provider.manifest().mappings.clone() {
            staged.register(descriptor, Arc::clone(&provider))?;
        }
        *self = staged;
        Ok(())
    }

    /// Registers one mapping of `provider`; an id already taken in that direction is
    /// refused rather than replaced.
    pub fn register(
        &mut self,
        descriptor: MappingDescriptor,
        provider: Arc<dyn MappingProvider>,
    ) -> Result<(), RegistryError> {
        let key = (descriptor.id.clone(), descriptor.direction);
        if let Some(existing) = self.mappings.get(&key) {
            return Err(RegistryError::Duplicate {
                mapping_id: descriptor.id,
                direction: key.1,
                first: format!("`{}` ({})", existing.plugin_id(), existing.origin()),
                second: format!("`{}` ({})", provider.manifest().id, provider.origin()),
            });
        }
        self.mappings.insert(
            key,
            RegisteredMapping {
                descriptor,
                provider,
            },
        );
        Ok(())
    }

    /// The mapping `mapping_id` in `direction`.
    pub fn get(&self, mapping_id: &str, direction: Direction) -> Option<&RegisteredMapping> {
        self.mappings.get(&(mapping_id.to_owned(), direction))
    }

    /// Every registered mapping, ordered by id and direction.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredMapping> {
        self.mappings.values()
    }

    /// Looks a mapping up for a field of `field_type`, checking that it accepts it.
    pub fn resolve(
        &self,
        mapping_id: &str,
        direction: Direction,
        field_id: &str,
        field_type: &FieldType,
    ) -> Result<&RegisteredMapping, RegistryError> {
        let registered =
            self.get(mapping_id, direction)
                .ok_or_else(|| RegistryError::UnknownMapping {
                    mapping_id: mapping_id.to_owned(),
                    direction,
                    known: self
                        .iter()
                        .filter(|m| m.descriptor.direction == direction)
                        .map(|m| m.descriptor.id.clone())
                        .collect(),
                })?;
        if !registered.descriptor.accepts_type(field_type) {
            return Err(RegistryError::WrongFieldType {
                mapping_id: mapping_id.to_owned(),
                direction,
                field_id: field_id.to_owned(),
                field_type: field_type.clone(),
                accepted: registered.descriptor.field_types.clone(),
            });
        }
        Ok(registered)
    }

    /// Builds the outgoing mapping for one field relationship.
    pub fn outgoing(
        &self,
        mapping_id: &str,
        field_id: &str,
        field_type: &FieldType,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, RegistryError> {
        let registered = self.resolve(mapping_id, Direction::Outgoing, field_id, field_type)?;
        registered
            .provider
            .new_outgoing(mapping_id, options)
            .map_err(RegistryError::Construction)
    }

    /// Builds the outgoing mapping for the field relationship `setup` describes (its
    /// field and type are checked as by [`MappingRegistry::outgoing`]); the
    /// constructor learns where it is built.
    pub fn outgoing_for(
        &self,
        setup: &MappingSetup,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, RegistryError> {
        let field_type = setup.field_type.clone().unwrap_or(FieldType::Any);
        let registered =
            self.resolve(mapping_id, Direction::Outgoing, &setup.field, &field_type)?;
        registered
            .provider
            .new_outgoing_for(mapping_id, options, setup)
            .map_err(RegistryError::Construction)
    }

    /// Builds the incoming mapping for the field relationship `setup` describes.
    pub fn incoming_for(
        &self,
        setup: &MappingSetup,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, RegistryError> {
        let field_type = setup.field_type.clone().unwrap_or(FieldType::Any);
        let registered =
            self.resolve(mapping_id, Direction::Incoming, &setup.field, &field_type)?;
        registered
            .provider
            .new_incoming_for(mapping_id, options, setup)
            .map_err(RegistryError::Construction)
    }

    /// Builds the incoming mapping for one field relationship.
    pub fn incoming(
        &self,
        mapping_id: &str,
        field_id: &str,
        field_type: &FieldType,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, RegistryError> {
        let registered = self.resolve(mapping_id, Direction::Incoming, field_id, field_type)?;
        registered
            .provider
            .new_incoming(mapping_id, options)
            .map_err(RegistryError::Construction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_plugin_api::{
        IssueInfo, MappingDescriptor, NoFields, OutgoingContext, Plugin, Trigger,
    };
    use serde_json::json;

    struct Twice;
    impl OutgoingFieldMapping for Twice {
        fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
            Ok(json!(ctx.value().as_f64().unwrap_or(0.0) * 2.0))
        }
    }

    fn numbers() -> Arc<dyn MappingProvider> {
        Arc::new(
            Plugin::new("test.numbers", "Numbers").outgoing(
                fieldsync_plugin_api::MappingDescriptor::new("test.twice", "Twice")
                    .accepts([FieldType::Number]),
                |options| {
                    options.parse::<serde_json::Map<String, Value>>()?;
                    Ok(Twice)
                },
            ),
        )
    }

    fn registry() -> MappingRegistry {
        let mut registry = MappingRegistry::new();
        registry.register_plugin(numbers()).unwrap();
        registry
    }

    #[test]
    fn a_registered_mapping_is_built_and_called_through_the_registry() {
        let mapping = registry()
            .outgoing("test.twice", "points", &FieldType::Number, &Value::Null)
            .unwrap();
        let issue = IssueInfo::default();
        let value = json!(4);
        let ctx = OutgoingContext::new(&issue, "points", &value, &Trigger::NewIssue, &NoFields);
        assert_eq!(mapping.export(&ctx).unwrap(), json!(8.0));
        assert_eq!(
            registry()
                .get("test.twice", Direction::Outgoing)
                .unwrap()
                .plugin_id(),
            "test.numbers"
        );
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let registry = registry();
        let unknown = registry
            .outgoing("test.twise", "points", &FieldType::Number, &Value::Null)
            .err()
            .unwrap();
        assert_eq!(
            unknown.to_string(),
            "no outgoing mapping `test.twise` is available (available: test.twice)"
        );
        let wrong_direction = registry
            .incoming("test.twice", "points", &FieldType::Number, &Value::Null)
            .err()
            .unwrap();
        assert!(matches!(
            wrong_direction,
            RegistryError::UnknownMapping { .. }
        ));
        let wrong_type = registry
            .outgoing("test.twice", "summary", &FieldType::Text, &Value::Null)
            .err()
            .unwrap();
        assert_eq!(
            wrong_type.to_string(),
            "outgoing mapping `test.twice` does not accept field `summary` of type `text` (it accepts number)"
        );
        let bad_options = registry
            .outgoing("test.twice", "points", &FieldType::Number, &json!(7))
            .err()
            .unwrap();
        assert!(
            bad_options
                .to_string()
                .starts_with("plugin `test.numbers` mapping `test.twice`: invalid options"),
            "{bad_options}"
        );
    }

    #[test]
    fn a_plugin_with_one_taken_id_registers_none_of_its_mappings() {
        let mut registry = registry();
        let overlapping: Arc<dyn MappingProvider> = Arc::new(
            Plugin::new("test.more", "More")
                .outgoing(MappingDescriptor::new("test.fresh", "Fresh"), |_| Ok(Twice))
                .outgoing(MappingDescriptor::new("test.twice", "Again"), |_| Ok(Twice)),
        );
        assert!(registry.register_plugin(overlapping).is_err());
        assert!(registry.get("test.fresh", Direction::Outgoing).is_none());
        assert_eq!(registry.iter().count(), 1);
    }

    #[test]
    fn an_id_is_never_silently_replaced() {
        let mut registry = registry();
        let error = registry.register_plugin(numbers()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "outgoing mapping `test.twice` is registered twice: by `test.numbers` (built-in) and by `test.numbers` (built-in)"
        );
    }
}
