//! Plain data shared by the host and plugins: field types, directions, descriptors,
//! manifests, where a mapping is built, and the small pieces of issue data a mapping
//! call carries. The SDK (`fieldsync-plugin-api`) re-exports all of it.
//!
//! All of these travel as JSON across the plugin boundary. Fields added later carry
//! `#[serde(default)]`, so older and newer peers keep understanding each other.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of an issue field, which decides which mappings may be used on it.
///
/// Every type's value may also be JSON `null`: the field is empty (and then reads as
/// `None`, see `IssueFields` in the SDK). A value of another JSON shape
/// is refused by the host before it writes anything, naming the mapping that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum FieldType {
    /// Free text. JSON: a string (`"Login fails"`; line breaks as `\n`).
    Text,
    /// A number. JSON: a number (`5`, `2.5`; `3` and `3.0` are the same value).
    Number,
    /// One value out of a list of named options. JSON: the option's name as a
    /// string (`"Alpha"`).
    Option,
    /// Several values out of a list of named options. JSON: an array of names
    /// (`["API", "UI"]`).
    Options,
    /// One user. JSON: the user's name on that instance as a string (`"alice"`).
    User,
    /// Several users. JSON: an array of user names.
    Users,
    /// A set of labels. JSON: an array of strings (`["customer", "login"]`).
    Labels,
    /// A calendar date. JSON: a string `YYYY-MM-DD` (`"2026-12-24"`).
    Date,
    /// A point in time. JSON: an RFC 3339 string (`"2026-11-27T10:00:00Z"`).
    DateTime,
    /// The workflow status. JSON: the status name as a string (`"In Progress"`).
    Status,
    /// The priority. JSON: the priority name as a string (`"High"`).
    Priority,
    /// Used in a [`MappingDescriptor`]: the mapping accepts a field of any type.
    Any,
    /// A named type the core does not know, e.g. a third-party custom field type.
    Other(String),
}

impl FieldType {
    /// The name used in JSON and in configuration files.
    pub fn name(&self) -> &str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Option => "option",
            FieldType::Options => "options",
            FieldType::User => "user",
            FieldType::Users => "users",
            FieldType::Labels => "labels",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Status => "status",
            FieldType::Priority => "priority",
            FieldType::Any => "any",
            FieldType::Other(name) => name,
        }
    }

    /// Whether `value` fits a field of this type, checked exactly as the host checks
    /// every value before writing it; `Err` says what the type takes. `null` (empty)
    /// fits every type; [`Any`](FieldType::Any) and [`Other`](FieldType::Other)
    /// take any JSON.
    ///
    /// ```
    /// use fieldsync_plugin_abi::wire::FieldType; // also `fieldsync_plugin_api::FieldType`
    /// use serde_json::json;
    ///
    /// assert!(FieldType::Labels.check_value(&json!(["customer"])).is_ok());
    /// assert_eq!(FieldType::Priority.check_value(&json!(3)), Err("a string"));
    /// ```
    pub fn check_value(&self, value: &Value) -> Result<(), &'static str> {
        if value.is_null() {
            return Ok(());
        }
        let strings = |value: &Value| {
            value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        };
        let fits = match self {
            FieldType::Number => value.is_number(),
            FieldType::Options | FieldType::Users | FieldType::Labels => strings(value),
            FieldType::Date => value.as_str().is_some_and(is_date),
            FieldType::DateTime => value
                .as_str()
                .is_some_and(|text| humantime::parse_rfc3339_weak(text).is_ok()),
            FieldType::Text
            | FieldType::Option
            | FieldType::User
            | FieldType::Status
            | FieldType::Priority => value.is_string(),
            FieldType::Any | FieldType::Other(_) => true,
        };
        if fits {
            return Ok(());
        }
        Err(match self {
            FieldType::Number => "a number",
            FieldType::Options | FieldType::Users | FieldType::Labels => "a list of strings",
            FieldType::Date => "a date like \"2026-11-27\"",
            FieldType::DateTime => "a time like \"2026-11-27T10:00:00Z\"",
            _ => "a string",
        })
    }
}

/// `YYYY-MM-DD` naming a day that exists (no 2026-02-30; 29 February in leap years).
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let number = |part: &str, len: usize| {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(year, 4), number(month, 2), number(day, 2))
    else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

impl From<String> for FieldType {
    fn from(name: String) -> Self {
        match name.as_str() {
            "text" => FieldType::Text,
            "number" => FieldType::Number,
            "option" => FieldType::Option,
            "options" => FieldType::Options,
            "user" => FieldType::User,
            "users" => FieldType::Users,
            "labels" => FieldType::Labels,
            "date" => FieldType::Date,
            "datetime" => FieldType::DateTime,
            "status" => FieldType::Status,
            "priority" => FieldType::Priority,
            "any" => FieldType::Any,
            _ => FieldType::Other(name),
        }
    }
}

impl From<FieldType> for String {
    fn from(field_type: FieldType) -> Self {
        field_type.name().to_owned()
    }
}

impl FromStr for FieldType {
    type Err = std::convert::Infallible;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(FieldType::from(name.to_owned()))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which step of the sync a mapping hooks into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Exports a field of the source issue into the sync message.
    Outgoing,
    /// Imports message data into a field of the target issue.
    Incoming,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Outgoing => "outgoing",
            Direction::Incoming => "incoming",
        })
    }
}

/// What a mapping is: shown to operators and checked against the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingDescriptor {
    /// Stable id in `vendor.name` style, e.g. `example.points-to-size`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the mapping does, for operators.
    #[serde(default)]
    pub description: String,
    /// Set by the SDK's `Plugin::outgoing` or `Plugin::incoming`.
    pub direction: Direction,
    /// The field types the mapping accepts; [`FieldType::Any`] accepts every type.
    #[serde(default = "any_field_type")]
    pub field_types: Vec<FieldType>,
    /// Other fields an outgoing mapping reads (through the context's field access):
    /// a change of any of them runs the mapping again, as a change of its own field
    /// does (with [`Trigger::Changed`] whose `old` and `new` are both its own field's
    /// current value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<String>,
    /// Options whose value names other fields the mapping reads (a field id, or a
    /// list of them): e.g. `["customer_field"]` when the options say
    /// `{"customer_field": "labels"}`. Counted like [`reads`](Self::reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads_from_options: Vec<String>,
}

fn any_field_type() -> Vec<FieldType> {
    vec![FieldType::Any]
}

impl MappingDescriptor {
    /// A descriptor accepting any field type; narrow it with [`accepts`](Self::accepts).
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        MappingDescriptor {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            direction: Direction::Outgoing,
            field_types: any_field_type(),
            reads: Vec::new(),
            reads_from_options: Vec::new(),
        }
    }

    /// Declares other fields the mapping reads: changing them runs it again.
    pub fn reads(mut self, fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.reads = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Declares options whose value names fields the mapping reads.
    pub fn reads_from_options(
        mut self,
        options: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.reads_from_options = options.into_iter().map(Into::into).collect();
        self
    }

    /// The fields the mapping reads besides its own, with the options it is built with.
    pub fn fields_read(&self, options: &serde_json::Value) -> Vec<String> {
        let mut fields = self.reads.clone();
        for option in &self.reads_from_options {
            match options.get(option) {
                Some(serde_json::Value::String(field)) => fields.push(field.clone()),
                Some(serde_json::Value::Array(list)) => fields.extend(
                    list.iter()
                        .filter_map(serde_json::Value::as_str)
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        fields.sort();
        fields.dedup();
        fields
    }

    /// Sets the description shown to operators.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Restricts the field types the mapping may be configured on.
    pub fn accepts(mut self, types: impl IntoIterator<Item = FieldType>) -> Self {
        self.field_types = types.into_iter().collect();
        self
    }

    /// Whether a field of type `field_type` may use this mapping.
    pub fn accepts_type(&self, field_type: &FieldType) -> bool {
        self.field_types
            .iter()
            .any(|accepted| accepted == &FieldType::Any || accepted == field_type)
    }
}

/// Who a plugin is and which mappings it provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginManifest {
    /// Stable id in `vendor.name` style, e.g. `example.story-points`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The plugin's own version (not the ABI version).
    #[serde(default)]
    pub version: String,
    /// Who made it.
    #[serde(default)]
    pub vendor: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// One entry per mapping and direction.
    #[serde(default)]
    pub mappings: Vec<MappingDescriptor>,
}

impl PluginManifest {
    /// Every problem that makes this manifest unusable; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(why) = check_id(&self.id) {
            problems.push(format!("plugin id `{}` {why}", self.id));
        }
        if self.name.trim().is_empty() {
            problems.push("plugin name is empty".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for mapping in &self.mappings {
            if let Err(why) = check_id(&mapping.id) {
                problems.push(format!("mapping id `{}` {why}", mapping.id));
            }
            if mapping.name.trim().is_empty() {
                problems.push(format!("mapping `{}` has an empty name", mapping.id));
            }
            if mapping.field_types.is_empty() {
                problems.push(format!(
                    "mapping `{}` accepts no field type (use `any` to accept all)",
                    mapping.id
                ));
            }
            if !seen.insert((mapping.id.as_str(), mapping.direction)) {
                problems.push(format!(
                    "mapping `{}` is declared twice as {}",
                    mapping.id, mapping.direction
                ));
            }
        }
        problems
    }
}

impl PluginManifest {
    /// Reads a manifest the way a host must: a mapping entry that uses a value this
    /// release does not know (say, a direction a newer SDK introduced) is skipped
    /// rather than refusing the whole plugin; an entry that is malformed (a missing
    /// name, a wrong type) is a problem. Unreadable JSON is an error.
    pub fn from_json_lenient(text: &str) -> Result<ReadManifest, serde_json::Error> {
        /// The manifest with its mapping entries left unread.
        #[derive(Deserialize)]
        struct Raw {
            id: String,
            name: String,
            #[serde(default)]
            version: String,
            #[serde(default)]
            vendor: String,
            #[serde(default)]
            description: String,
            #[serde(default)]
            mappings: Vec<Value>,
        }
        let raw: Raw = serde_json::from_str(text)?;
        let mut manifest = PluginManifest {
            id: raw.id,
            name: raw.name,
            version: raw.version,
            vendor: raw.vendor,
            description: raw.description,
            mappings: Vec::new(),
        };
        let (mut skipped, mut malformed) = (Vec::new(), Vec::new());
        for (index, entry) in raw.mappings.into_iter().enumerate() {
            let id = entry
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            match serde_json::from_value::<MappingDescriptor>(entry) {
                Ok(descriptor) => manifest.mappings.push(descriptor),
                Err(error) => {
                    let entry = format!("mappings[{index}] (`{id}`): {error}");
                    // serde's wording for an enum value it does not know.
                    if error.to_string().starts_with("unknown variant") {
                        skipped.push(entry);
                    } else {
                        malformed.push(entry);
                    }
                }
            }
        }
        Ok(ReadManifest {
            manifest,
            skipped,
            malformed,
        })
    }
}

/// A manifest as a host read it, see [`PluginManifest::from_json_lenient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadManifest {
    /// The entries that could be read.
    pub manifest: PluginManifest,
    /// Entries left out because they use values this release does not know.
    pub skipped: Vec<String>,
    /// Entries that are broken.
    pub malformed: Vec<String>,
}

impl ReadManifest {
    /// Every problem that makes the plugin unusable: malformed entries and the
    /// manifest's own [`problems`](PluginManifest::problems).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.malformed.clone();
        problems.extend(self.manifest.problems());
        problems
    }
}

/// Longest id accepted for plugins and mappings.
pub const MAX_ID_LEN: usize = 100;

/// Checks a plugin or mapping id: at least two dot-separated segments
/// (`vendor.name`), each of lowercase ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit.
pub fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is empty");
    }
    if id.len() > MAX_ID_LEN {
        return Err("is longer than 100 characters");
    }
    let segments: Vec<&str> = id.split('.').collect();
    if segments.len() < 2 {
        return Err("must look like `vendor.name`");
    }
    for segment in segments {
        let mut chars = segment.chars();
        match chars.next() {
            None => return Err("has an empty segment"),
            Some(first) if !(first.is_ascii_lowercase() || first.is_ascii_digit()) => {
                return Err("has a segment that does not start with a lowercase letter or digit")
            }
            Some(_) => {}
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err("may only contain lowercase letters, digits, `-`, `_` and `.`");
        }
    }
    Ok(())
}

/// The few facts about an issue that every mapping call carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueInfo {
    /// Issue key, e.g. `A-12`.
    pub key: String,
    /// Project key, e.g. `A`.
    #[serde(default)]
    pub project: String,
    /// Issue type, e.g. `Story`.
    #[serde(default)]
    pub issue_type: String,
}

/// Why an outgoing mapping is being called. Match it with a `_` arm (new kinds may be
/// added) and treat what you do not know like [`Trigger::Resync`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Trigger {
    /// The issue was never synced: every mapped field is sent.
    NewIssue,
    /// A person asked to send this field again.
    Resync,
    /// The field changed from `old` to `new`.
    Changed {
        /// Value before the change (`null` when it was empty).
        #[serde(default)]
        old: Value,
        /// Value after the change.
        #[serde(default)]
        new: Value,
    },
    /// A trigger this SDK release does not know, sent by a newer host: treat it like
    /// [`Trigger::Resync`].
    #[serde(other)]
    Other,
}

/// What an incoming mapping wants done to its target field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldUpdate {
    /// Set the field to this value (`null` clears it).
    Set(Value),
    /// Leave the field as it is.
    Unchanged,
}

/// Where a mapping is being built: the relationship and the field it serves. A
/// constructor can check options that name fields, or refuse a field type it cannot
/// handle, before the first issue arrives. Hosts older than this SDK do not send it
/// (`MappingOptions::setup` in the SDK is then `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSetup {
    /// The synchronization's id.
    #[serde(default)]
    pub sync: String,
    /// The field relationship's id.
    #[serde(default)]
    pub relationship: String,
    /// The side the field is on: `a` or `b`.
    #[serde(default)]
    pub side: String,
    /// That side's project key.
    #[serde(default)]
    pub project: String,
    /// The field the mapping reads (outgoing) or writes (incoming).
    #[serde(default)]
    pub field: String,
    /// That field's type.
    #[serde(default)]
    pub field_type: Option<FieldType>,
    /// The ids of the project's fields, so that options naming a field can be
    /// checked.
    #[serde(default)]
    pub project_fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_must_exist() {
        for good in [
            "2026-02-28",
            "2024-02-29",
            "2000-02-29",
            "2026-12-31",
            "2026-04-30",
        ] {
            assert!(FieldType::Date.check_value(&json!(good)).is_ok(), "{good}");
        }
        for bad in [
            "2026-02-30",
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-1-1",
        ] {
            assert!(FieldType::Date.check_value(&json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_must_look_like_vendor_dot_name() {
        assert!(check_id("example.points-to-size").is_ok());
        assert!(check_id("acme.jira.v2_sizes").is_ok());
        assert_eq!(check_id("sizes"), Err("must look like `vendor.name`"));
        assert!(check_id("").is_err());
        assert!(check_id("Acme.sizes").is_err());
        assert!(check_id("acme..sizes").is_err());
        assert!(check_id("acme.-sizes").is_err());
        assert!(check_id("acme.size s").is_err());
        assert!(check_id(&format!("a.{}", "b".repeat(MAX_ID_LEN))).is_err());
    }

    #[test]
    fn field_types_round_trip_through_their_names() {
        for name in [
            "text",
            "number",
            "datetime",
            "priority",
            "any",
            "acme-rating",
        ] {
            let field_type: FieldType = name.parse().unwrap();
            assert_eq!(field_type.name(), name);
            let json = serde_json::to_string(&field_type).unwrap();
            assert_eq!(json, format!("\"{name}\""));
        }
        assert_eq!(
            FieldType::from("acme-rating".to_owned()),
            FieldType::Other("acme-rating".into())
        );
    }

    #[test]
    fn descriptor_type_check_honours_any() {
        let numbers = MappingDescriptor::new("a.b", "B").accepts([FieldType::Number]);
        assert!(numbers.accepts_type(&FieldType::Number));
        assert!(!numbers.accepts_type(&FieldType::Text));
        let any = MappingDescriptor::new("a.c", "C");
        assert!(any.accepts_type(&FieldType::Other("x".into())));
    }

    #[test]
    fn manifest_problems_name_every_bad_part() {
        let manifest = PluginManifest {
            id: "Bad".into(),
            name: " ".into(),
            version: "1.0.0".into(),
            vendor: String::new(),
            description: String::new(),
            mappings: vec![
                MappingDescriptor::new("ok.one", "One"),
                MappingDescriptor::new("ok.one", "Again"),
                MappingDescriptor::new("nodot", "").accepts([]),
            ],
        };
        let problems = manifest.problems().join("\n");
        assert!(problems.contains("plugin id `Bad`"), "{problems}");
        assert!(problems.contains("plugin name is empty"), "{problems}");
        assert!(
            problems.contains("mapping `ok.one` is declared twice as outgoing"),
            "{problems}"
        );
        assert!(problems.contains("mapping id `nodot`"), "{problems}");
        assert!(
            problems.contains("mapping `nodot` has an empty name"),
            "{problems}"
        );
        assert!(
            problems.contains("mapping `nodot` accepts no field type"),
            "{problems}"
        );
    }

    #[test]
    fn manifest_json_tolerates_missing_optional_fields() {
        let manifest: PluginManifest =
            serde_json::from_str(r#"{"id":"a.b","name":"B","future_field":1}"#).unwrap();
        assert!(manifest.mappings.is_empty());
        assert!(manifest.problems().is_empty());
    }

    #[test]
    fn mapping_entries_from_a_newer_sdk_are_skipped_not_fatal() {
        let text = r#"{"id":"a.b","name":"B","mappings":[
            {"id":"a.one","name":"One","direction":"outgoing"},
            {"id":"a.two","name":"Two","direction":"sideways"}]}"#;
        let read = PluginManifest::from_json_lenient(text).unwrap();
        assert_eq!(read.manifest.mappings.len(), 1);
        assert_eq!(read.manifest.mappings[0].id, "a.one");
        assert_eq!(read.skipped.len(), 1);
        assert!(
            read.skipped[0].starts_with("mappings[1] (`a.two`): unknown variant `sideways`"),
            "{}",
            read.skipped[0]
        );
        assert!(read.problems().is_empty());
        assert!(PluginManifest::from_json_lenient(r#"{"name":"no id"}"#).is_err());
    }

    #[test]
    fn malformed_mapping_entries_are_problems_not_skipped() {
        let text = r#"{"id":"a.b","name":"B","mappings":[{"id":"a.one","direction":"outgoing"}]}"#;
        let read = PluginManifest::from_json_lenient(text).unwrap();
        assert!(read.skipped.is_empty());
        let problems = read.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("missing field `name`"), "{problems:?}");
    }

    #[test]
    fn an_unknown_trigger_from_a_newer_host_reads_as_other() {
        let trigger: Trigger =
            serde_json::from_value(serde_json::json!({"kind":"merged","from":"A-1"})).unwrap();
        assert_eq!(trigger, Trigger::Other);
    }

    #[test]
    fn trigger_and_update_json_shapes_are_stable() {
        let changed = Trigger::Changed {
            old: Value::Null,
            new: 3.into(),
        };
        assert_eq!(
            serde_json::to_value(&changed).unwrap(),
            serde_json::json!({"kind":"changed","old":null,"new":3})
        );
        assert_eq!(
            serde_json::to_value(Trigger::NewIssue).unwrap(),
            serde_json::json!({"kind":"new_issue"})
        );
        assert_eq!(
            serde_json::to_value(FieldUpdate::Set("M".into())).unwrap(),
            serde_json::json!({"set":"M"})
        );
        assert_eq!(
            serde_json::to_value(FieldUpdate::Unchanged).unwrap(),
            serde_json::json!("unchanged")
        );
    }
}
