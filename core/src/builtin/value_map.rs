//! `fieldsync.value-map`: values translated through a table, for option, options,
//! status, priority, text and labels fields.
//!
//! Both directions work the same way (outgoing maps the source value, incoming maps
//! the received data and sets the result), so the table can sit on either side of a
//! relationship. A text value is looked up as is (case and spaces matter); in a list
//! (options, labels) each element is looked up, and duplicates the table creates are
//! dropped. `null` stays `null`.
//!
//! Options:
//!
//! ```json
//! { "map": { "High": "P1", "Medium": "P2", "Low": "P3" },
//!   "default": "P2",
//!   "unmapped": "default",
//!   "reverse": false }
//! ```
//!
//! - `map` (required, not empty): value → value.
//! - `default` (optional): what a value without an entry becomes.
//! - `unmapped`: what to do with a value without an entry: `"error"` fails the sync
//!   of the field, naming the value and the known ones; `"default"` uses `default`;
//!   `"keep"` passes the value through unchanged. When absent: `"default"` if a
//!   `default` is given, else `"error"`. `"default"` without a `default`, and a
//!   `default` with `"error"` or `"keep"` (it would never be used), are refused.
//! - `reverse` (default `false`): use the table backwards (`"P1"` → `"High"`), so the
//!   same table can be written once and used on both sides. Refused when two keys
//!   share a value, since that value could not be mapped back.

use std::collections::BTreeMap;

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::Value;

use super::common::{list_keys, map_text_or_list, show_text, Fallback, Unmapped};

/// Translates values through a table.
#[derive(Debug, Clone)]
pub struct ValueMap {
    /// Already turned around when `reverse` is set.
    table: BTreeMap<String, String>,
    reverse: bool,
    fallback: Fallback,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueMapOptions {
    map: BTreeMap<String, String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    unmapped: Option<Unmapped>,
    #[serde(default)]
    reverse: bool,
}

impl ValueMap {
    /// Builds the mapping from its options (see the module documentation).
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let options: ValueMapOptions = options.parse()?;
        if options.map.is_empty() {
            return Err(MappingError::invalid_options(
                "`map` is empty: give at least one `\"value\": \"mapped value\"` entry",
            ));
        }
        let fallback = Fallback::from_options(options.unmapped, options.default, Fallback::Fail)?;
        let table = if options.reverse {
            reversed(options.map)?
        } else {
            options.map
        };
        Ok(ValueMap {
            table,
            reverse: options.reverse,
            fallback,
        })
    }

    fn convert(&self, value: &Value) -> Result<Value, MappingError> {
        map_text_or_list(value, |text| match self.table.get(text) {
            Some(mapped) => Ok(mapped.clone()),
            None => self.fallback.apply(text, || {
                format!(
                    "value {} has no entry in the {}value map (known: {}) and no default",
                    show_text(text),
                    if self.reverse { "reversed " } else { "" },
                    list_keys(self.table.keys())
                )
            }),
        })
    }
}

/// `map` turned around, refusing values shared by two keys.
fn reversed(map: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, MappingError> {
    let mut table: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in map {
        if let Some(first) = table.get(&value) {
            return Err(MappingError::invalid_options(format!(
                "`reverse` needs every value of `map` to be different, but {} is the value of both {} and {}",
                show_text(&value),
                show_text(first),
                show_text(&key)
            )));
        }
        table.insert(value, key);
    }
    Ok(table)
}

impl OutgoingFieldMapping for ValueMap {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.convert(ctx.value())
    }
}

impl IncomingFieldMapping for ValueMap {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        self.convert(ctx.data()).map(FieldUpdate::Set)
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::VALUE_MAP, "Value map")
        .description("Translates values through a table, e.g. priority `High` to `P1`")
        .accepts([
            FieldType::Option,
            FieldType::Options,
            FieldType::Status,
            FieldType::Priority,
            FieldType::Text,
            FieldType::Labels,
        ])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, import, refused};
    use super::super::VALUE_MAP;
    use super::*;
    use serde_json::json;

    fn table() -> Value {
        json!({"map": {"High": "P1", "Low": "P3"}})
    }

    fn with(extra: Value) -> Value {
        let mut options = table();
        if let (Some(options), Some(extra)) = (options.as_object_mut(), extra.as_object()) {
            options.extend(extra.clone());
        }
        options
    }

    fn out(options: &Value, value: Value) -> Result<Value, MappingError> {
        export(VALUE_MAP, FieldType::Priority, options, value)
    }

    fn inc(options: &Value, data: Value) -> Result<FieldUpdate, MappingError> {
        import(VALUE_MAP, FieldType::Priority, options, None, data)
    }

    #[test]
    fn values_are_mapped_the_same_way_in_both_directions() {
        assert_eq!(out(&table(), json!("High")).unwrap(), json!("P1"));
        assert_eq!(
            inc(&table(), json!("Low")).unwrap(),
            FieldUpdate::Set(json!("P3"))
        );
        assert_eq!(out(&table(), Value::Null).unwrap(), Value::Null);
        assert_eq!(
            inc(&table(), Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
    }

    #[test]
    fn lists_map_each_element_and_drop_duplicates() {
        let options = json!({"map": {"bug": "defect", "fault": "defect", "ui": "frontend"}});
        assert_eq!(
            export(
                VALUE_MAP,
                FieldType::Labels,
                &options,
                json!(["bug", "ui", "fault"])
            )
            .unwrap(),
            json!(["defect", "frontend"])
        );
        let error = export(VALUE_MAP, FieldType::Options, &options, json!(["bug", 3])).unwrap_err();
        assert_eq!(error.message(), "list element `3` is not text");
    }

    #[test]
    fn an_unmapped_value_is_an_error_naming_it_and_the_known_ones() {
        let error = out(&table(), json!("Urgent")).unwrap_err();
        assert_eq!(
            error.message(),
            "value `Urgent` has no entry in the value map (known: High, Low) and no default"
        );
        assert!(
            error.to_string().starts_with(
                "plugin `fieldsync.builtin` mapping `fieldsync.value-map`: value `Urgent`"
            ),
            "{error}"
        );
        // Lookups are exact: case matters.
        assert!(inc(&table(), json!("high")).is_err());
        let error = out(&table(), json!({"id": 1})).unwrap_err();
        assert_eq!(
            error.message(),
            "expected text or a list of text, got `{\"id\":1}`"
        );
    }

    #[test]
    fn unmapped_values_can_use_the_default_or_be_kept() {
        let default = with(json!({"default": "P2"}));
        assert_eq!(out(&default, json!("Urgent")).unwrap(), json!("P2"));
        let explicit = with(json!({"default": "P2", "unmapped": "default"}));
        assert_eq!(
            inc(&explicit, json!("Urgent")).unwrap(),
            FieldUpdate::Set(json!("P2"))
        );
        let keep = with(json!({"unmapped": "keep"}));
        assert_eq!(out(&keep, json!("Urgent")).unwrap(), json!("Urgent"));
        assert_eq!(
            export(
                VALUE_MAP,
                FieldType::Options,
                &keep,
                json!(["High", "Other"])
            )
            .unwrap(),
            json!(["P1", "Other"])
        );
        let error = out(&with(json!({"unmapped": "error"})), json!("Urgent")).unwrap_err();
        assert!(
            error.message().starts_with("value `Urgent` has no entry"),
            "{error}"
        );
    }

    #[test]
    fn reverse_uses_the_table_backwards() {
        let reverse = with(json!({"reverse": true}));
        assert_eq!(out(&reverse, json!("P1")).unwrap(), json!("High"));
        assert_eq!(
            inc(&reverse, json!("P3")).unwrap(),
            FieldUpdate::Set(json!("Low"))
        );
        let error = inc(&reverse, json!("High")).unwrap_err();
        assert_eq!(
            error.message(),
            "value `High` has no entry in the reversed value map (known: P1, P3) and no default"
        );
    }

    #[test]
    fn a_table_that_cannot_be_reversed_is_refused_naming_the_shared_value() {
        let options = json!({"map": {"High": "P1", "Urgent": "P1", "Low": "P3"}, "reverse": true});
        let message = refused(VALUE_MAP, FieldType::Priority, &options);
        assert_eq!(
            message,
            "`reverse` needs every value of `map` to be different, but `P1` is the value of both `High` and `Urgent`"
        );
        // Forwards, two keys may well share a value.
        let forwards = json!({"map": {"High": "P1", "Urgent": "P1"}});
        assert_eq!(out(&forwards, json!("Urgent")).unwrap(), json!("P1"));
    }

    #[test]
    fn bad_options_are_refused() {
        let message = refused(VALUE_MAP, FieldType::Option, &Value::Null);
        assert!(message.contains("missing field `map`"), "{message}");
        let message = refused(VALUE_MAP, FieldType::Option, &json!({"map": {}}));
        assert!(message.starts_with("`map` is empty"), "{message}");
        let message = refused(
            VALUE_MAP,
            FieldType::Option,
            &with(json!({"unmapped": "default"})),
        );
        assert_eq!(
            message,
            "`unmapped` is `default` but no `default` value is given"
        );
        let message = refused(
            VALUE_MAP,
            FieldType::Option,
            &with(json!({"unmapped": "keep", "default": "P2"})),
        );
        assert!(
            message.contains("the default would never be used"),
            "{message}"
        );
        let message = refused(
            VALUE_MAP,
            FieldType::Option,
            &with(json!({"unmaped": "keep"})),
        );
        assert!(message.contains("unknown field `unmaped`"), "{message}");
        let message = refused(
            VALUE_MAP,
            FieldType::Option,
            &with(json!({"unmapped": "skip"})),
        );
        assert!(message.contains("unknown variant `skip`"), "{message}");
        refused(VALUE_MAP, FieldType::Option, &json!({"map": {"High": 1}}));
    }
}
