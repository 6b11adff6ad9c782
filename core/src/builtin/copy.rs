//! `fieldsync.copy`: the value as is, on a field of any type.
//!
//! Outgoing sends the source value unchanged; incoming sets the received data
//! unchanged. Use it when both sides store the field the same way.
//!
//! Options: none. `{}` or no options at all; anything else is refused, so a
//! misplaced option meant for another mapping is noticed.
//!
//! ```json
//! {}
//! ```

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::Value;

/// Copies the value unchanged in either direction.
#[derive(Debug, Clone)]
pub struct CopyValue;

/// No options; the struct exists so that unknown ones are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyOptions {}

impl CopyValue {
    /// Builds the mapping, refusing any option.
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let CopyOptions {} = options.parse()?;
        Ok(CopyValue)
    }
}

impl OutgoingFieldMapping for CopyValue {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        Ok(ctx.value().clone())
    }
}

impl IncomingFieldMapping for CopyValue {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        Ok(FieldUpdate::Set(ctx.data().clone()))
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::COPY, "Copy")
        .description("Sends and sets the value unchanged")
        .accepts([FieldType::Any])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, holding, import, refused};
    use super::super::COPY;
    use super::*;
    use serde_json::json;

    #[test]
    fn values_pass_unchanged_both_ways() {
        for value in [
            json!("text"),
            json!(5),
            json!(["a", "b"]),
            json!({"id": 1}),
            Value::Null,
        ] {
            assert_eq!(
                export(COPY, FieldType::Date, &Value::Null, value.clone()).unwrap(),
                value
            );
            assert_eq!(
                import(
                    COPY,
                    FieldType::Date,
                    &json!({}),
                    holding(json!("old")),
                    value.clone()
                )
                .unwrap(),
                FieldUpdate::Set(value.clone())
            );
            assert_eq!(
                import(COPY, FieldType::Date, &Value::Null, None, value.clone()).unwrap(),
                FieldUpdate::Set(value)
            );
        }
    }

    #[test]
    fn any_option_is_refused() {
        let message = refused(COPY, FieldType::Text, &json!({"trim": true}));
        assert!(message.contains("unknown field `trim`"), "{message}");
        refused(COPY, FieldType::Text, &json!("x"));
    }
}
