//! `fieldsync.labels`: labels as a set, for labels and options fields.
//!
//! Order and duplicates never matter. A label is read from text with surrounding
//! whitespace removed; empty labels are dropped. A single text value is read as one
//! label and `null` as no labels.
//!
//! - Outgoing sends the labels as a sorted list without duplicates (`[]` when there
//!   are none).
//! - Incoming works out the labels the target should have and leaves the field
//!   alone when it already has exactly those (in any order); otherwise it sets them
//!   as a sorted list. With `"mode": "replace"` the target gets the received labels;
//!   with `"mode": "merge"` it keeps its own labels and gains the received ones
//!   (labels are never removed).
//!
//! Options:
//!
//! ```json
//! { "mode": "replace", "exclude": ["internal", "triage"], "lowercase": false }
//! ```
//!
//! - `mode` (default `"replace"`): `"replace"` or `"merge"`, see above; only
//!   incoming uses it.
//! - `exclude` (optional): labels that are never sent (outgoing) and never applied
//!   (incoming). Compared ignoring case. Incoming also leaves them on the target
//!   when it has them: they are outside what this relationship syncs, so `replace`
//!   does not remove them either.
//! - `lowercase` (default `false`): turn the labels sent (outgoing) or received
//!   (incoming) into lower case; the target's own labels are not changed.

use std::collections::BTreeSet;

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::Value;

use super::common::show;

/// Syncs labels as a set.
#[derive(Debug, Clone)]
pub struct Labels {
    mode: Mode,
    /// Lower-cased, since exclusion ignores case.
    exclude: BTreeSet<String>,
    lowercase: bool,
}

/// How incoming combines the received labels with the target's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Replace,
    Merge,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsOptions {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    lowercase: bool,
}

type LabelSet = BTreeSet<String>;

impl Labels {
    /// Builds the mapping from its options (see the module documentation).
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let LabelsOptions {
            mode,
            exclude,
            lowercase,
        } = options.parse()?;
        Ok(Labels {
            mode,
            exclude: exclude
                .iter()
                .map(|label| label.trim().to_lowercase())
                .collect(),
            lowercase,
        })
    }

    fn is_excluded(&self, label: &str) -> bool {
        !self.exclude.is_empty() && self.exclude.contains(&label.to_lowercase())
    }

    /// The labels of synced data (the source value or the received data), with
    /// `lowercase` and `exclude` applied.
    fn synced(&self, value: &Value) -> Result<LabelSet, MappingError> {
        Ok(read_labels(value)?
            .into_iter()
            .map(|label| {
                if self.lowercase {
                    label.to_lowercase()
                } else {
                    label
                }
            })
            .filter(|label| !self.is_excluded(label))
            .collect())
    }
}

/// The labels in `value`: `null` is none, text is one, a list is each of its texts.
fn read_labels(value: &Value) -> Result<LabelSet, MappingError> {
    let mut labels = LabelSet::new();
    let mut add = |item: &Value| match item {
        Value::String(label) if label.trim().is_empty() => Ok(()),
        Value::String(label) => {
            labels.insert(label.trim().to_owned());
            Ok(())
        }
        other => Err(MappingError::new(format!(
            "label {} is not text",
            show(other)
        ))),
    };
    match value {
        Value::Null => {}
        Value::String(_) => add(value)?,
        Value::Array(items) => items.iter().try_for_each(&mut add)?,
        other => {
            return Err(MappingError::new(format!(
                "expected labels (a list of text), got {}",
                show(other)
            )))
        }
    }
    Ok(labels)
}

/// A set as the sorted JSON list that is sent and set.
fn to_json(labels: LabelSet) -> Value {
    Value::Array(labels.into_iter().map(Value::String).collect())
}

impl OutgoingFieldMapping for Labels {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.synced(ctx.value()).map(to_json)
    }
}

impl IncomingFieldMapping for Labels {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let received = self.synced(ctx.data())?;
        // `None` while the target is being created or has no such field: no labels.
        let current = match ctx.current_value()? {
            Some(value) => read_labels(&value)
                .map_err(|error| error.context("reading the target's current labels"))?,
            None => LabelSet::new(),
        };
        let kept: LabelSet = match self.mode {
            Mode::Replace => current
                .iter()
                .filter(|label| self.is_excluded(label))
                .cloned()
                .collect(),
            Mode::Merge => current.clone(),
        };
        let desired: LabelSet = kept.into_iter().chain(received).collect();
        if desired == current {
            return Ok(FieldUpdate::Unchanged);
        }
        Ok(FieldUpdate::Set(to_json(desired)))
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::LABELS, "Labels")
        .description("Syncs labels as a set, replacing or merging, skipping excluded labels")
        .accepts([FieldType::Labels, FieldType::Options])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, holding, import, refused};
    use super::super::LABELS;
    use super::*;
    use serde_json::{json, Map};

    fn out(options: &Value, value: Value) -> Result<Value, MappingError> {
        export(LABELS, FieldType::Labels, options, value)
    }

    fn inc(
        options: &Value,
        target: Option<Map<String, Value>>,
        data: Value,
    ) -> Result<FieldUpdate, MappingError> {
        import(LABELS, FieldType::Labels, options, target, data)
    }

    #[test]
    fn outgoing_sends_a_sorted_set() {
        let none = Value::Null;
        assert_eq!(
            out(&none, json!(["b", "a", "b", " c ", ""])).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(out(&none, json!("one")).unwrap(), json!(["one"]));
        assert_eq!(out(&none, Value::Null).unwrap(), json!([]));
        let options = json!({"lowercase": true, "exclude": ["Internal"]});
        assert_eq!(
            export(
                LABELS,
                FieldType::Options,
                &options,
                json!(["UI", "internal", "ui", "INTERNAL"])
            )
            .unwrap(),
            json!(["ui"])
        );
        // Exclusion ignores case even without `lowercase`.
        assert_eq!(
            out(&json!({"exclude": ["internal"]}), json!(["Internal", "UI"])).unwrap(),
            json!(["UI"])
        );
    }

    #[test]
    fn bad_values_are_errors_naming_them() {
        let error = out(&Value::Null, json!(["a", 5])).unwrap_err();
        assert_eq!(error.message(), "label `5` is not text");
        let error = out(&Value::Null, json!({"a": 1})).unwrap_err();
        assert_eq!(
            error.message(),
            "expected labels (a list of text), got `{\"a\":1}`"
        );
        let error = inc(&Value::Null, holding(json!(7)), json!(["a"])).unwrap_err();
        assert!(
            error.to_string().contains(
                "reading the target's current labels: expected labels (a list of text), got `7`"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_same_set_in_another_order_is_unchanged() {
        let none = Value::Null;
        assert_eq!(
            inc(&none, holding(json!(["b", "a"])), json!(["a", "b", "a"])).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            inc(&none, holding(json!(["a", "b", "a"])), json!(["b", "a"])).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            inc(&none, holding(json!([])), Value::Null).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            inc(&none, holding(Value::Null), json!([])).unwrap(),
            FieldUpdate::Unchanged
        );
    }

    #[test]
    fn replace_sets_the_received_labels() {
        let none = Value::Null;
        assert_eq!(
            inc(&none, holding(json!(["old"])), json!(["b", "a"])).unwrap(),
            FieldUpdate::Set(json!(["a", "b"]))
        );
        assert_eq!(
            inc(&none, holding(json!(["old"])), Value::Null).unwrap(),
            FieldUpdate::Set(json!([]))
        );
        // While creating there is no current value: the received set is set.
        assert_eq!(
            inc(&none, None, json!(["x"])).unwrap(),
            FieldUpdate::Set(json!(["x"]))
        );
    }

    #[test]
    fn merge_adds_the_received_labels_to_the_target_ones() {
        let merge = json!({"mode": "merge"});
        assert_eq!(
            inc(&merge, holding(json!(["local"])), json!(["b", "a"])).unwrap(),
            FieldUpdate::Set(json!(["a", "b", "local"]))
        );
        assert_eq!(
            inc(&merge, holding(json!(["local", "a"])), json!(["a"])).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            inc(&merge, holding(json!(["local"])), Value::Null).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            inc(&merge, None, json!(["a"])).unwrap(),
            FieldUpdate::Set(json!(["a"]))
        );
    }

    #[test]
    fn excluded_labels_are_neither_applied_nor_removed() {
        let options = json!({"exclude": ["internal"], "lowercase": true});
        assert_eq!(
            inc(
                &options,
                holding(json!(["Internal", "old"])),
                json!(["NEW", "internal"])
            )
            .unwrap(),
            FieldUpdate::Set(json!(["Internal", "new"]))
        );
        assert_eq!(
            inc(
                &options,
                holding(json!(["new"])),
                json!(["New", "INTERNAL"])
            )
            .unwrap(),
            FieldUpdate::Unchanged
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let message = refused(LABELS, FieldType::Labels, &json!({"mode": "union"}));
        assert!(message.contains("unknown variant `union`"), "{message}");
        let message = refused(LABELS, FieldType::Labels, &json!({"excludes": ["a"]}));
        assert!(message.contains("unknown field `excludes`"), "{message}");
        refused(LABELS, FieldType::Labels, &json!({"exclude": "a"}));
    }
}
