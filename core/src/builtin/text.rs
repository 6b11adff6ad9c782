//! `fieldsync.text`: the value as text, for text, option, status, priority and user
//! fields.
//!
//! Both directions apply the same conversion (outgoing to the source value, incoming
//! to the received data, which it then sets):
//!
//! - text stays as is;
//! - numbers and booleans become their text (`5`, `2.5`, `true`);
//! - a list becomes its elements' text joined with `", "` (`null` elements are
//!   skipped);
//! - `null` stays `null`;
//! - anything else (an object, a list inside a list) is an error.
//!
//! Options:
//!
//! ```json
//! { "trim": false, "max_length": 255 }
//! ```
//!
//! - `trim` (default `false`): strip leading and trailing whitespace.
//! - `max_length` (optional, no limit when absent): keep at most this many
//!   characters. Counted in Unicode characters, not bytes, so the text is never cut
//!   inside a multi-byte character. Applied after `trim`.

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::Value;

use super::common::{show, truncate_chars};

/// Turns the value into text, optionally trimmed and truncated.
#[derive(Debug, Clone)]
pub struct Text {
    trim: bool,
    max_length: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextOptions {
    #[serde(default)]
    trim: bool,
    #[serde(default)]
    max_length: Option<usize>,
}

impl Text {
    /// Builds the mapping from its options (see the module documentation).
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let TextOptions { trim, max_length } = options.parse()?;
        Ok(Text { trim, max_length })
    }

    /// The text for `value`, or `null` for `null`.
    fn convert(&self, value: &Value) -> Result<Value, MappingError> {
        let Some(text) = as_text(value)? else {
            return Ok(Value::Null);
        };
        let mut text = if self.trim { text.trim() } else { &text };
        if let Some(max) = self.max_length {
            text = truncate_chars(text, max);
            if self.trim {
                // Cutting may expose whitespace that was inside the text.
                text = text.trim_end();
            }
        }
        Ok(Value::String(text.to_owned()))
    }
}

/// The text form of a value; `None` for `null`.
fn as_text(value: &Value) -> Result<Option<String>, MappingError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Null => {}
                    Value::Array(_) | Value::Object(_) => {
                        return Err(MappingError::new(format!(
                            "cannot turn list element {} into text",
                            show(item)
                        )))
                    }
                    scalar => parts.push(scalar_text(scalar)),
                }
            }
            Ok(Some(parts.join(", ")))
        }
        Value::Object(_) => Err(MappingError::new(format!(
            "cannot turn {} into text",
            show(value)
        ))),
        scalar => Ok(Some(scalar_text(scalar))),
    }
}

/// Text of a string, number or boolean.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl OutgoingFieldMapping for Text {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.convert(ctx.value())
    }
}

impl IncomingFieldMapping for Text {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        self.convert(ctx.data()).map(FieldUpdate::Set)
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::TEXT, "Text")
        .description("Sends and sets the value as text, optionally trimmed and truncated")
        .accepts([
            FieldType::Text,
            FieldType::Option,
            FieldType::Status,
            FieldType::Priority,
            FieldType::User,
        ])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, import, refused};
    use super::super::TEXT;
    use super::*;
    use serde_json::json;

    fn out(options: Value, value: Value) -> Result<Value, MappingError> {
        export(TEXT, FieldType::Text, &options, value)
    }

    #[test]
    fn scalars_and_lists_become_text() {
        assert_eq!(out(Value::Null, json!("as is ")).unwrap(), json!("as is "));
        assert_eq!(out(Value::Null, json!(5)).unwrap(), json!("5"));
        assert_eq!(out(Value::Null, json!(2.5)).unwrap(), json!("2.5"));
        assert_eq!(out(Value::Null, json!(true)).unwrap(), json!("true"));
        assert_eq!(
            out(Value::Null, json!(["a", null, "b", 3])).unwrap(),
            json!("a, b, 3")
        );
        assert_eq!(out(Value::Null, Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn objects_are_errors_naming_the_value() {
        let error = out(Value::Null, json!({"name": "High"})).unwrap_err();
        assert_eq!(
            error.message(),
            "cannot turn `{\"name\":\"High\"}` into text"
        );
        let error = out(Value::Null, json!(["a", ["b"]])).unwrap_err();
        assert_eq!(
            error.message(),
            "cannot turn list element `[\"b\"]` into text"
        );
    }

    #[test]
    fn trim_and_max_length_apply_in_order() {
        assert_eq!(
            out(json!({"trim": true}), json!("  hi  ")).unwrap(),
            json!("hi")
        );
        assert_eq!(
            out(json!({"trim": true, "max_length": 3}), json!("  ab cd")).unwrap(),
            json!("ab")
        );
        assert_eq!(
            out(json!({"max_length": 3}), json!("  ab")).unwrap(),
            json!("  a")
        );
        assert_eq!(
            out(json!({"max_length": 10}), json!("short")).unwrap(),
            json!("short")
        );
    }

    #[test]
    fn truncation_never_cuts_a_multi_byte_character() {
        // "é" is two bytes and "日" three: a byte-based cut would split them.
        assert_eq!(
            out(json!({"max_length": 2}), json!("héllo")).unwrap(),
            json!("hé")
        );
        assert_eq!(
            out(json!({"max_length": 2}), json!("日本語")).unwrap(),
            json!("日本")
        );
    }

    #[test]
    fn incoming_sets_the_converted_data() {
        let options = json!({"trim": true, "max_length": 4});
        assert_eq!(
            import(
                TEXT,
                FieldType::Status,
                &options,
                None,
                json!(" Done done ")
            )
            .unwrap(),
            FieldUpdate::Set(json!("Done"))
        );
        assert_eq!(
            import(TEXT, FieldType::User, &options, None, json!(12345)).unwrap(),
            FieldUpdate::Set(json!("1234"))
        );
        assert_eq!(
            import(TEXT, FieldType::Text, &options, None, Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
        let error = import(TEXT, FieldType::Text, &options, None, json!({})).unwrap_err();
        assert!(
            error.to_string().contains("cannot turn `{}` into text"),
            "{error}"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let message = refused(TEXT, FieldType::Text, &json!({"max_len": 3}));
        assert!(message.contains("unknown field `max_len`"), "{message}");
        let message = refused(TEXT, FieldType::Text, &json!({"max_length": -1}));
        assert!(message.contains("-1"), "{message}");
        refused(TEXT, FieldType::Text, &json!({"trim": "yes"}));
    }
}
