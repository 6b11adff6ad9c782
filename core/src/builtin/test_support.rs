//! Calls built-in mappings the way the engine does: through a registry holding
//! [`builtin_plugin`](super::builtin_plugin), so ids, field types and the manifest
//! are exercised by every test.

use std::sync::Arc;

use fieldsync_plugin_api::{
    ErrorKind, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, IssueInfo,
    MappingError, NoFields, OutgoingContext, OutgoingFieldMapping, TargetIssue, Trigger,
};
use serde_json::{Map, Value};

use crate::registry::{MappingRegistry, RegistryError};

/// The field every test maps.
pub(crate) const FIELD: &str = "field";

/// A registry with the built-in plugin registered.
pub(crate) fn registry() -> MappingRegistry {
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(Arc::new(super::builtin_plugin()))
        .expect("the built-in plugin registers");
    registry
}

/// Construction errors come back as the plugin's error; anything else the registry
/// refuses is a mistake in the test.
fn construction(error: RegistryError) -> MappingError {
    match error {
        RegistryError::Construction(error) => error,
        other => panic!("the registry refused the mapping: {other}"),
    }
}

/// Builds the outgoing mapping `id` on a field of `field_type`.
pub(crate) fn outgoing(
    id: &str,
    field_type: FieldType,
    options: &Value,
) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
    registry()
        .outgoing(id, FIELD, &field_type, options)
        .map_err(construction)
}

/// Builds the incoming mapping `id` on a field of `field_type`.
pub(crate) fn incoming(
    id: &str,
    field_type: FieldType,
    options: &Value,
) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
    registry()
        .incoming(id, FIELD, &field_type, options)
        .map_err(construction)
}

/// Exports `value` through the outgoing mapping `id`.
pub(crate) fn export(
    id: &str,
    field_type: FieldType,
    options: &Value,
    value: Value,
) -> Result<Value, MappingError> {
    let issue = IssueInfo {
        key: "A-1".into(),
        ..IssueInfo::default()
    };
    outgoing(id, field_type, options)?.export(&OutgoingContext::new(
        &issue,
        FIELD,
        &value,
        &Trigger::Resync,
        &NoFields,
    ))
}

/// Imports `data` through the incoming mapping `id`; `target` holds the fields of the
/// existing target issue, `None` while it is being created.
pub(crate) fn import(
    id: &str,
    field_type: FieldType,
    options: &Value,
    target: Option<Map<String, Value>>,
    data: Value,
) -> Result<FieldUpdate, MappingError> {
    let mapping = incoming(id, field_type, options)?;
    let issue = IssueInfo {
        key: "B-1".into(),
        ..IssueInfo::default()
    };
    let target = target.as_ref().map(|fields| TargetIssue {
        info: &issue,
        fields,
    });
    mapping.import(&IncomingContext::new(target, FIELD, &data))
}

/// An existing target issue whose mapped field holds `value`.
pub(crate) fn holding(value: Value) -> Option<Map<String, Value>> {
    let mut fields = Map::new();
    fields.insert(FIELD.into(), value);
    Some(fields)
}

/// Asserts that both directions refuse `options` as invalid, with the same message,
/// and returns that message.
pub(crate) fn refused(id: &str, field_type: FieldType, options: &Value) -> String {
    let out = outgoing(id, field_type.clone(), options).expect_err("outgoing accepted the options");
    let inc = incoming(id, field_type, options).expect_err("incoming accepted the options");
    assert_eq!(out.kind(), ErrorKind::InvalidOptions, "{out}");
    assert_eq!(out.to_string(), inc.to_string());
    let full = out.to_string();
    let prefix = format!("plugin `fieldsync.builtin` mapping `{id}`: invalid options: ");
    assert!(full.starts_with(&prefix), "{full}");
    out.message().to_owned()
}
