//! The traits a field mapping implements and the contexts it is called with.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, MappingError};
use crate::model::{FieldUpdate, IssueInfo, MappingSetup, Trigger};

impl std::fmt::Debug for dyn OutgoingFieldMapping + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutgoingFieldMapping")
    }
}

impl std::fmt::Debug for dyn IncomingFieldMapping + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IncomingFieldMapping")
    }
}

/// Exports one field of a source issue into the sync message.
///
/// Built once per field relationship (with that relationship's options) and then
/// called for every issue whose source field changed, possibly from several threads,
/// and possibly more than once for the same change (a retry): answer the same for the
/// same input, and change nothing elsewhere.
pub trait OutgoingFieldMapping: Send + Sync {
    /// Returns the JSON data to put into the message for this field.
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError>;
}

/// Imports message data into one field of a target issue.
///
/// Built once per field relationship and called for every message that carries data
/// for it, possibly from several threads, and possibly more than once for the same
/// message (a retry, or a group of messages applied again after one of them failed
/// to store): answer the same for the same input, and change nothing elsewhere.
pub trait IncomingFieldMapping: Send + Sync {
    /// Returns the value to set on the target field, or [`FieldUpdate::Unchanged`].
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError>;
}

/// Read access to the fields of an issue, answered on demand.
///
/// Mappings receive the value of their own field directly; everything else they may
/// need is read through this, so that nothing is serialized unless a mapping asks.
///
/// **The empty-field rule**, the same in the host, in these implementations for maps
/// and through the plugin boundary: a field that is empty (never set, cleared, or
/// JSON `null`) is `None` from [`IssueFields::field`] and is not listed by
/// [`IssueFields::field_ids`]. A mapping never sees `Some(Value::Null)`, so a unit
/// test with a map holding `null` behaves as the real sync does.
pub trait IssueFields {
    /// The value of `field_id`, or `None` when the field is empty or the issue has no
    /// such field.
    fn field(&self, field_id: &str) -> Result<Option<Value>, MappingError>;

    /// The ids of every field of the issue that holds a value.
    fn field_ids(&self) -> Result<Vec<String>, MappingError>;
}

macro_rules! impl_issue_fields_for_map {
    ($($map:ty),*) => {$(
        impl IssueFields for $map {
            fn field(&self, field_id: &str) -> Result<Option<Value>, MappingError> {
                Ok(self.get(field_id).filter(|value| !value.is_null()).cloned())
            }

            fn field_ids(&self) -> Result<Vec<String>, MappingError> {
                let mut ids: Vec<String> = self
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(id, _)| id.clone())
                    .collect();
                // One order whatever the map (a HashMap has none of its own).
                ids.sort();
                Ok(ids)
            }
        }
    )*};
}

impl_issue_fields_for_map!(Map<String, Value>, BTreeMap<String, Value>, HashMap<String, Value>);

/// An issue without fields, for hosts and tests that have none to offer.
pub struct NoFields;

impl IssueFields for NoFields {
    fn field(&self, _field_id: &str) -> Result<Option<Value>, MappingError> {
        Ok(None)
    }

    fn field_ids(&self) -> Result<Vec<String>, MappingError> {
        Ok(Vec::new())
    }
}

/// Everything an outgoing mapping knows about one call.
pub struct OutgoingContext<'a> {
    issue: &'a IssueInfo,
    field: &'a str,
    value: &'a Value,
    trigger: &'a Trigger,
    fields: &'a dyn IssueFields,
}

impl<'a> OutgoingContext<'a> {
    /// Built by the host (or a test) for one call.
    pub fn new(
        issue: &'a IssueInfo,
        field: &'a str,
        value: &'a Value,
        trigger: &'a Trigger,
        fields: &'a dyn IssueFields,
    ) -> Self {
        OutgoingContext {
            issue,
            field,
            value,
            trigger,
            fields,
        }
    }

    /// The source issue.
    pub fn issue(&self) -> &IssueInfo {
        self.issue
    }

    /// The id of the source field this mapping is configured on.
    pub fn field_id(&self) -> &str {
        self.field
    }

    /// The current value of the source field (`null` when empty).
    pub fn value(&self) -> &Value {
        self.value
    }

    /// Why the field is being sent.
    pub fn trigger(&self) -> &Trigger {
        self.trigger
    }

    /// Reads another field of the source issue.
    pub fn other_field(&self, field_id: &str) -> Result<Option<Value>, MappingError> {
        read_field(self.fields, field_id)
    }

    /// All fields of the source issue, read on demand.
    pub fn fields(&self) -> &dyn IssueFields {
        self.fields
    }
}

/// The target issue of an incoming call, when it already exists.
pub struct TargetIssue<'a> {
    /// Key, project and type of the target issue.
    pub info: &'a IssueInfo,
    /// Its fields, read on demand.
    pub fields: &'a dyn IssueFields,
}

/// Everything an incoming mapping knows about one call.
pub struct IncomingContext<'a> {
    target: Option<TargetIssue<'a>>,
    field: &'a str,
    data: &'a Value,
}

impl<'a> IncomingContext<'a> {
    /// Built by the host (or a test) for one call; `target` is `None` while creating.
    pub fn new(target: Option<TargetIssue<'a>>, field: &'a str, data: &'a Value) -> Self {
        IncomingContext {
            target,
            field,
            data,
        }
    }

    /// The target issue, or `None` while it is being created.
    pub fn target(&self) -> Option<&IssueInfo> {
        self.target.as_ref().map(|target| target.info)
    }

    /// Whether the target issue is being created by this message.
    pub fn is_creating(&self) -> bool {
        self.target.is_none()
    }

    /// The id of the target field this mapping is configured on.
    pub fn field_id(&self) -> &str {
        self.field
    }

    /// The data the outgoing side put into the message.
    pub fn data(&self) -> &Value {
        self.data
    }

    /// The current value of the target field, `None` while creating or when unset.
    pub fn current_value(&self) -> Result<Option<Value>, MappingError> {
        self.target_field(self.field)
    }

    /// Reads a field of the target issue (`None` while creating).
    pub fn target_field(&self, field_id: &str) -> Result<Option<Value>, MappingError> {
        match &self.target {
            Some(target) => read_field(target.fields, field_id),
            None => Ok(None),
        }
    }

    /// The fields of the target issue, if it exists.
    pub fn target_fields(&self) -> Option<&dyn IssueFields> {
        self.target.as_ref().map(|target| target.fields)
    }
}

/// Reads a field, saying which one when the host cannot.
fn read_field(fields: &dyn IssueFields, field_id: &str) -> Result<Option<Value>, MappingError> {
    fields
        .field(field_id)
        .map_err(|error| error.context(format_args!("reading field `{field_id}`")))
}

/// The options of one field relationship for one mapping, as written in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingOptions {
    value: Value,
    setup: Option<MappingSetup>,
}

impl MappingOptions {
    /// Wraps the JSON options (`null` when the relationship gave none).
    pub fn new(value: Value) -> Self {
        MappingOptions { value, setup: None }
    }

    /// The same options, built for `setup`.
    pub fn with_setup(mut self, setup: Option<MappingSetup>) -> Self {
        self.setup = setup;
        self
    }

    /// Where the mapping is being built (`None` from a host that does not say).
    pub fn setup(&self) -> Option<&MappingSetup> {
        self.setup.as_ref()
    }

    /// The raw JSON.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Reads the options into a typed struct; `null` reads as an empty object, so
    /// structs whose fields all have serde defaults need no options at all.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, MappingError> {
        let value = match &self.value {
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        };
        serde_json::from_value(value)
            .map_err(|error| MappingError::with_kind(ErrorKind::InvalidOptions, error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Thresholds {
        small: f64,
        #[serde(default)]
        round: bool,
    }

    #[test]
    fn options_parse_into_typed_structs() {
        let parsed: Thresholds = MappingOptions::new(json!({"small": 3})).parse().unwrap();
        assert_eq!(parsed.small, 3.0);
        assert!(!parsed.round);
    }

    #[test]
    fn bad_options_say_which_option_is_wrong() {
        let error = MappingOptions::new(json!({"smal": 3}))
            .parse::<Thresholds>()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidOptions);
        assert!(error.to_string().contains("smal"), "{error}");
        let error = MappingOptions::new(Value::Null)
            .parse::<Thresholds>()
            .unwrap_err();
        assert!(
            error.to_string().contains("missing field `small`"),
            "{error}"
        );
    }

    #[test]
    fn contexts_read_other_fields_on_demand() {
        let mut fields = Map::new();
        fields.insert("summary".into(), json!("Fix login"));
        let issue = IssueInfo {
            key: "A-1".into(),
            ..IssueInfo::default()
        };
        let value = json!(5);
        let trigger = Trigger::NewIssue;
        let ctx = OutgoingContext::new(&issue, "points", &value, &trigger, &fields);
        assert_eq!(
            ctx.other_field("summary").unwrap(),
            Some(json!("Fix login"))
        );
        assert_eq!(ctx.other_field("missing").unwrap(), None);
        assert_eq!(
            ctx.fields().field_ids().unwrap(),
            vec!["summary".to_owned()]
        );

        let data = json!("M");
        let creating = IncomingContext::new(None, "size", &data);
        assert!(creating.is_creating());
        assert_eq!(creating.current_value().unwrap(), None);
        let mut target_fields = Map::new();
        target_fields.insert("size".into(), json!("S"));
        let existing = IncomingContext::new(
            Some(TargetIssue {
                info: &issue,
                fields: &target_fields,
            }),
            "size",
            &data,
        );
        assert_eq!(existing.current_value().unwrap(), Some(json!("S")));
        assert_eq!(existing.target().map(|t| t.key.as_str()), Some("A-1"));
    }
}
