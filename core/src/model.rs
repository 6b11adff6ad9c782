//! Issues, projects, fields and history: the data the engine keeps in sync.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fieldsync_plugin_api::FieldType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A point in time, in microseconds since the Unix epoch.
///
/// Microseconds, not milliseconds: the conflict rule compares change times of two
/// sides, and two edits within one millisecond are common in scripts and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    /// Reads an RFC 3339 time (`2026-12-01T10:00:00Z`) or a date (`2026-12-01`, its
    /// midnight UTC).
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let full = if text.len() == 10 {
            format!("{text}T00:00:00Z")
        } else {
            text.to_owned()
        };
        let time = humantime::parse_rfc3339_weak(&full)
            .map_err(|error| format!("`{text}` is no time like 2026-12-01T10:00:00Z: {error}"))?;
        let micros = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("`{text}` is before 1970"))?
            .as_micros();
        Ok(Timestamp(i64::try_from(micros).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = u64::try_from(self.0).unwrap_or(0);
        let time = UNIX_EPOCH + Duration::from_micros(micros);
        write!(f, "{}", humantime::format_rfc3339_seconds(time))
    }
}

/// One field a project declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Stable id used in configs and messages, e.g. `priority`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// What values the field holds.
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// A project: its key, issue types, fields and create screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectDef {
    /// Key, the prefix of its issue keys (`A` in `A-12`).
    pub key: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The issue types it allows, e.g. `Bug`, `Story`.
    pub issue_types: Vec<String>,
    /// Its fields.
    pub fields: Vec<FieldDef>,
    /// The fields that may be set when an issue is created, for every issue type
    /// without an entry in `create_screens`.
    #[serde(default)]
    pub create_screen: Vec<String>,
    /// Per issue type create screens that replace `create_screen`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub create_screens: BTreeMap<String, Vec<String>>,
}

impl ProjectDef {
    /// The declaration of `field_id`.
    pub fn field(&self, field_id: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|field| field.id == field_id)
    }

    /// The fields settable while creating an issue of `issue_type`.
    pub fn create_screen(&self, issue_type: &str) -> &[String] {
        self.create_screens
            .get(issue_type)
            .unwrap_or(&self.create_screen)
    }

    /// Every problem with this declaration; empty when it is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.key.is_empty()
            || !self
                .key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            || !self.key.starts_with(|c: char| c.is_ascii_uppercase())
        {
            problems.push(format!(
                "project key `{}` must be upper-case letters and digits, starting with a letter",
                self.key
            ));
        }
        if self.issue_types.is_empty() {
            problems.push("no issue types are declared".to_owned());
        }
        let mut ids = BTreeSet::new();
        for field in &self.fields {
            if field.id.is_empty() || field.id.contains(['=', ',', ' ']) {
                problems.push(format!(
                    "field id `{}` must be non-empty, without spaces, `=` or `,`",
                    field.id
                ));
            }
            if !ids.insert(field.id.as_str()) {
                problems.push(format!("field `{}` is declared twice", field.id));
            }
        }
        let screens = std::iter::once((None, &self.create_screen)).chain(
            self.create_screens
                .iter()
                .map(|(issue_type, screen)| (Some(issue_type), screen)),
        );
        for (issue_type, screen) in screens {
            if let Some(issue_type) = issue_type {
                if !self.issue_types.contains(issue_type) {
                    problems.push(format!(
                        "create screen for unknown issue type `{issue_type}`"
                    ));
                }
            }
            for field in screen {
                if !ids.contains(field.as_str()) {
                    problems.push(format!("create screen lists unknown field `{field}`"));
                }
            }
        }
        problems
    }

    /// Checks a value about to be written to `field_id`.
    pub fn check_value(&self, field_id: &str, value: &Value) -> Result<(), String> {
        let field = self.field(field_id).ok_or_else(|| {
            format!(
                "project {} has no field `{field_id}` (fields: {})",
                self.key,
                self.fields
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        field.field_type.check_value(value).map_err(|expected| {
            format!(
                "field `{field_id}` of project {} is of type `{}` and takes {expected}, not {}",
                self.key,
                field.field_type,
                preview(value)
            )
        })
    }
}

/// Whether two field values are the same: numbers by value (`3` and `3.0` are one
/// number; trackers write them either way), everything else as JSON.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(key, x)| ys.get(key).is_some_and(|y| same_value(x, y)))
        }
        _ => a == b,
    }
}

/// A short rendering of a value for error messages: several megabytes of text must
/// not end up in a log line.
pub fn preview(value: &Value) -> String {
    const LIMIT: usize = 80;
    let text = value.to_string();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

/// The project key of an issue key (`SUP` of `SUP-12`), or `None` when `key` does
/// not look like one.
pub fn project_of_key(key: &str) -> Option<&str> {
    key.rsplit_once('-')
        .map(|(project, _)| project)
        .filter(|project| !project.is_empty())
}

/// A user of an issue tracker instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, the value user fields hold.
    pub username: String,
    /// E-mail address, used to match users across instances.
    #[serde(default)]
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
}

/// An issue as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Key, e.g. `A-12`.
    pub key: String,
    /// Project key.
    pub project: String,
    /// Issue type.
    pub issue_type: String,
    /// Field id → value; unset fields are absent.
    pub fields: BTreeMap<String, Value>,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

impl Issue {
    /// The value of a field, `null` when unset.
    pub fn value(&self, field_id: &str) -> &Value {
        self.fields.get(field_id).unwrap_or(&Value::Null)
    }
}

/// What is needed to create an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIssue {
    /// Project key.
    pub project: String,
    /// Issue type.
    pub issue_type: String,
    /// Initial field values.
    pub fields: BTreeMap<String, Value>,
}

/// One recorded change of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Position in the store's history, increasing with every change.
    pub seq: i64,
    /// The issue changed.
    pub issue_key: String,
    /// When.
    pub time: Timestamp,
    /// Who made the change.
    pub author: String,
    /// The field changed.
    pub field: String,
    /// Value before (`null` when it was empty).
    pub old: Value,
    /// Value after.
    pub new: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_the_same_value_however_they_are_written() {
        assert!(same_value(&json!(3), &json!(3.0)));
        assert!(same_value(&json!([1, "a"]), &json!([1.0, "a"])));
        assert!(same_value(&json!({"n": 2}), &json!({"n": 2.0})));
        assert!(!same_value(&json!(3), &json!(3.5)));
        assert!(!same_value(&json!(3), &json!("3")));
        assert!(!same_value(&json!([1]), &json!([1, 2])));
        assert!(!same_value(&json!({"n": 2}), &json!({"m": 2})));
    }

    fn project() -> ProjectDef {
        serde_json::from_value(json!({
            "key": "A", "issue_types": ["Bug"],
            "fields": [
                {"id": "summary", "type": "text"},
                {"id": "points", "type": "number"},
                {"id": "labels", "type": "labels"},
                {"id": "due", "type": "date"},
                {"id": "custom", "type": "acme-color"}
            ],
            "create_screen": ["summary"]
        }))
        .unwrap()
    }

    #[test]
    fn values_are_checked_against_the_field_type() {
        let project = project();
        assert!(project.check_value("summary", &json!("x")).is_ok());
        assert!(project.check_value("points", &json!(null)).is_ok());
        assert!(project.check_value("labels", &json!(["a", "b"])).is_ok());
        assert!(project.check_value("due", &json!("2026-02-28")).is_ok());
        assert!(project.check_value("custom", &json!({"r": 1})).is_ok());

        let error = project.check_value("points", &json!("five")).unwrap_err();
        assert_eq!(
            error,
            "field `points` of project A is of type `number` and takes a number, not \"five\""
        );
        assert!(project.check_value("labels", &json!([1])).is_err());
        assert!(project.check_value("due", &json!("2026-13-01")).is_err());
        assert!(
            project.check_value("due", &json!("2026-02-30")).is_err(),
            "no such day"
        );
        let error = project.check_value("nope", &json!(1)).unwrap_err();
        assert!(error.contains("no field `nope`"), "{error}");
    }

    #[test]
    fn declaration_problems_are_listed() {
        let mut project = project();
        assert!(project.problems().is_empty());
        project.key = "a".into();
        project.create_screen.push("ghost".into());
        project.fields.push(project.fields[0].clone());
        let problems = project.problems().join("\n");
        assert!(problems.contains("project key `a`"), "{problems}");
        assert!(problems.contains("unknown field `ghost`"), "{problems}");
        assert!(
            problems.contains("`summary` is declared twice"),
            "{problems}"
        );
    }

    #[test]
    fn huge_values_are_shortened_in_messages() {
        let text = preview(&json!("x".repeat(5_000_000)));
        assert!(text.len() < 200, "{text}");
        assert!(text.ends_with("(5000002 bytes)"), "{text}");
    }
}
