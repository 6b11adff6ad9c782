//! Redmine's issue attributes and custom fields as fieldsync fields: their ids and
//! types, and values both ways (Redmine's JSON ↔ fieldsync's values).
//!
//! fieldsync's values: text and options are strings, numbers are numbers, users are
//! logins, statuses and priorities their names, dates `YYYY-MM-DD`; an empty field
//! is `null` (Redmine's empty string counts as empty).

use std::collections::BTreeMap;

use fieldsync_core::model::FieldDef;
use fieldsync_plugin_api::FieldType;
use serde_json::{json, Map, Number, Value};

use crate::catalog::{CustomField, Names};

/// One of Redmine's own issue attributes.
pub struct Attribute {
    /// fieldsync's field id (and the name in the issue JSON).
    pub id: &'static str,
    pub name: &'static str,
    /// The attribute's name in journal details and in writes.
    pub column: &'static str,
    pub field_type: FieldType,
}

/// The attributes fieldsync syncs (the tracker is the issue type, not a field).
pub fn attributes() -> Vec<Attribute> {
    let attribute = |id, name, column, field_type| Attribute {
        id,
        name,
        column,
        field_type,
    };
    vec![
        attribute("subject", "Subject", "subject", FieldType::Text),
        attribute("description", "Description", "description", FieldType::Text),
        attribute("status", "Status", "status_id", FieldType::Status),
        attribute("priority", "Priority", "priority_id", FieldType::Priority),
        attribute("assigned_to", "Assignee", "assigned_to_id", FieldType::User),
        attribute("start_date", "Start date", "start_date", FieldType::Date),
        attribute("due_date", "Due date", "due_date", FieldType::Date),
        attribute("done_ratio", "% Done", "done_ratio", FieldType::Number),
        attribute(
            "estimated_hours",
            "Estimated time",
            "estimated_hours",
            FieldType::Number,
        ),
    ]
}

/// The fields of a project: the attributes, then its custom fields (all but the
/// correlation field, which fieldsync writes itself).
pub fn project_fields(
    custom_field_ids: &[u64],
    names: &Names,
    correlation: Option<u64>,
) -> Vec<FieldDef> {
    let mut fields: Vec<FieldDef> = attributes()
        .into_iter()
        .map(|attribute| FieldDef {
            id: attribute.id.to_owned(),
            name: attribute.name.to_owned(),
            field_type: attribute.field_type,
        })
        .collect();
    for id in custom_field_ids {
        if Some(*id) == correlation {
            continue;
        }
        let (name, field_type) = match names.custom_fields.get(id) {
            Some(field) => (field.name.clone(), field.field_type()),
            None => (format!("custom field {id}"), FieldType::Text),
        };
        fields.push(FieldDef {
            id: format!("cf_{id}"),
            name,
            field_type,
        });
    }
    fields
}

/// The custom field behind a field id (`cf_3` → 3).
pub fn custom_field_id(field: &str) -> Option<u64> {
    field.strip_prefix("cf_")?.parse().ok()
}

/// An issue's field values, from its JSON.
pub fn read_values(issue: &Value, names: &Names, fields: &[FieldDef]) -> BTreeMap<String, Value> {
    let custom: BTreeMap<u64, &Value> = issue
        .get("custom_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| Some((field.get("id")?.as_u64()?, field.get("value")?)))
        .collect();
    let mut values = BTreeMap::new();
    for field in fields {
        let value = match custom_field_id(&field.id) {
            Some(id) => custom
                .get(&id)
                .map(|raw| custom_value(raw, names.custom_fields.get(&id), names))
                .unwrap_or(Value::Null),
            None => attribute_value(issue, &field.id, names),
        };
        if !value.is_null() {
            values.insert(field.id.clone(), value);
        }
    }
    values
}

fn attribute_value(issue: &Value, id: &str, names: &Names) -> Value {
    let raw = issue.get(id).unwrap_or(&Value::Null);
    match id {
        "status" | "priority" => raw.get("name").cloned().unwrap_or(Value::Null),
        "assigned_to" => raw
            .get("id")
            .and_then(Value::as_u64)
            .map_or(Value::Null, |id| Value::String(names.login(id))),
        "done_ratio" | "estimated_hours" => number(raw),
        _ => non_empty(raw),
    }
}

/// A custom field's value (strings in Redmine's JSON) as fieldsync's.
pub fn custom_value(raw: &Value, field: Option<&CustomField>, names: &Names) -> Value {
    let one = |item: &Value| -> Value {
        let item = non_empty(item);
        let Some(text) = item.as_str() else {
            return item;
        };
        match field.map(|field| field.format.as_str()) {
            Some("int" | "float") => number(&Value::String(text.to_owned())),
            Some("user") => text
                .parse::<u64>()
                .map_or(item.clone(), |id| Value::String(names.login(id))),
            _ => item.clone(),
        }
    };
    match raw {
        Value::Array(items) => {
            let values: Vec<Value> = items.iter().map(one).filter(|v| !v.is_null()).collect();
            if values.is_empty() {
                Value::Null
            } else {
                Value::Array(values)
            }
        }
        single => one(single),
    }
}

/// A journal detail as (field id, old, new); `None` for what fieldsync does not sync.
pub fn journal_change(
    detail: &Value,
    names: &Names,
    fields: &[FieldDef],
) -> Option<(String, Value, Value)> {
    let property = detail.get("property")?.as_str()?;
    let name = detail.get("name")?.as_str()?;
    let old = detail.get("old_value").unwrap_or(&Value::Null);
    let new = detail.get("new_value").unwrap_or(&Value::Null);
    match property {
        "cf" => {
            let id: u64 = name.parse().ok()?;
            let field_id = format!("cf_{id}");
            fields.iter().find(|field| field.id == field_id)?;
            let field = names.custom_fields.get(&id);
            Some((
                field_id,
                custom_value(old, field, names),
                custom_value(new, field, names),
            ))
        }
        "attr" => {
            let attribute = attributes().into_iter().find(|a| a.column == name)?;
            let convert = |raw: &Value| -> Value {
                let id = raw.as_str().and_then(|text| text.parse::<u64>().ok());
                match attribute.id {
                    "status" => id
                        .and_then(|id| names.statuses.get(&id).cloned())
                        .map_or(Value::Null, Value::String),
                    "priority" => id
                        .and_then(|id| names.priorities.get(&id).cloned())
                        .map_or(Value::Null, Value::String),
                    "assigned_to" => id.map_or(Value::Null, |id| Value::String(names.login(id))),
                    "done_ratio" | "estimated_hours" => number(raw),
                    _ => non_empty(raw),
                }
            };
            Some((attribute.id.to_owned(), convert(old), convert(new)))
        }
        _ => None,
    }
}

/// Why a value cannot be written.
pub type WriteError = String;

/// The `issue` object of a create or update request setting `values`.
pub fn write_body(
    values: &BTreeMap<String, Value>,
    names: &Names,
    fields: &[FieldDef],
) -> Result<Map<String, Value>, WriteError> {
    let mut body = Map::new();
    let mut custom = Vec::new();
    for (field, value) in values {
        if !fields.iter().any(|known| &known.id == field) {
            return Err(format!("no field `{field}`"));
        }
        if let Some(id) = custom_field_id(field) {
            let definition = names.custom_fields.get(&id);
            custom.push(json!({"id": id, "value": custom_write(field, value, definition, names)?}));
            continue;
        }
        let Some(attribute) = attributes().into_iter().find(|a| a.id == field) else {
            return Err(format!("no field `{field}`"));
        };
        let written = match attribute.id {
            "status" => json!(name_id(field, value, &names.statuses, "status")?),
            "priority" => json!(name_id(field, value, &names.priorities, "priority")?),
            "assigned_to" => match value.as_str() {
                None => Value::String(String::new()),
                Some(login) => json!(user_id(field, login, names)?),
            },
            // Redmine clears a text with "" and a date or number with null.
            "subject" | "description" => Value::String(value.as_str().unwrap_or("").to_owned()),
            _ => value.clone(),
        };
        body.insert(attribute.column.to_owned(), written);
    }
    if !custom.is_empty() {
        body.insert("custom_fields".to_owned(), Value::Array(custom));
    }
    Ok(body)
}

fn custom_write(
    field: &str,
    value: &Value,
    definition: Option<&CustomField>,
    names: &Names,
) -> Result<Value, WriteError> {
    let one = |item: &Value| -> Result<Value, WriteError> {
        let text = match item {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => if *flag { "1" } else { "0" }.to_owned(),
            other => return Err(format!("`{field}` cannot hold {other}")),
        };
        let Some(definition) = definition else {
            return Ok(Value::String(text));
        };
        if definition.format == "user" && !text.is_empty() {
            return Ok(Value::String(user_id(field, &text, names)?.to_string()));
        }
        if definition.format == "list"
            && !text.is_empty()
            && !definition.possible_values.is_empty()
            && !definition.possible_values.contains(&text)
        {
            return Err(format!(
                "`{field}` ({}) takes one of {}, not `{text}`",
                definition.name,
                definition.possible_values.join(", ")
            ));
        }
        Ok(Value::String(text))
    };
    match value {
        Value::Array(items) => Ok(Value::Array(
            items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        )),
        // A multi-value field is cleared with an empty list.
        Value::Null if definition.is_some_and(|field| field.multiple) => Ok(json!([])),
        single => one(single),
    }
}

fn name_id(
    field: &str,
    value: &Value,
    table: &BTreeMap<u64, String>,
    what: &str,
) -> Result<u64, WriteError> {
    let name = value
        .as_str()
        .ok_or_else(|| format!("`{field}` takes a {what} name, not {value}"))?;
    Names::id_of(table, name).ok_or_else(|| {
        format!(
            "`{field}`: Redmine has no {what} `{name}` (it has: {})",
            table.values().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

fn user_id(field: &str, login: &str, names: &Names) -> Result<u64, WriteError> {
    names.user_id(login).ok_or_else(|| {
        if names.users_complete {
            format!("`{field}`: Redmine has no user with login or e-mail `{login}`")
        } else {
            format!(
                "`{field}`: user `{login}` cannot be looked up: the API key may not read \
                 the user directory (an admin key is needed to write users)"
            )
        }
    })
}

/// A text as fieldsync holds it: Redmine's empty text is `null`, and its line ends
/// (Redmine stores `\r\n`) are `\n`, so a value written and read back is the same.
fn non_empty(raw: &Value) -> Value {
    match raw {
        Value::String(text) if text.is_empty() => Value::Null,
        Value::String(text) if text.contains('\r') => Value::String(text.replace("\r\n", "\n")),
        other => other.clone(),
    }
}

/// A number, integral when it has no fraction (so `5` and `"5.0"` compare equal).
pub fn number(raw: &Value) -> Value {
    let parsed = match raw {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(value) if value.fract() == 0.0 && value.abs() < 9.0e15 => {
            Value::Number(Number::from(value as i64))
        }
        Some(value) => Number::from_f64(value).map_or(Value::Null, Value::Number),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_back_as_written() {
        assert_eq!(non_empty(&json!("a\r\nb")), json!("a\nb"));
        assert_eq!(non_empty(&json!("")), Value::Null);
    }

    #[test]
    fn numbers_compare_equal_however_redmine_writes_them() {
        assert_eq!(number(&json!("5.0")), json!(5));
        assert_eq!(number(&json!("5.5")), json!(5.5));
        assert_eq!(number(&json!(3)), json!(3));
        assert_eq!(number(&json!("")), Value::Null);
    }

    #[test]
    fn list_values_are_checked_against_the_possible_values() {
        let team = CustomField {
            id: 2,
            name: "Team".into(),
            format: "list".into(),
            multiple: false,
            is_filter: true,
            possible_values: vec!["Alpha".into(), "Beta".into()],
            tracker_ids: vec![1],
        };
        let mut names = Names::default();
        names.custom_fields.insert(2, team);
        let fields = project_fields(&[2], &names, None);
        let refused = write_body(
            &BTreeMap::from([("cf_2".to_owned(), json!("Omega"))]),
            &names,
            &fields,
        )
        .unwrap_err();
        assert_eq!(
            refused,
            "`cf_2` (Team) takes one of Alpha, Beta, not `Omega`"
        );
        let body = write_body(
            &BTreeMap::from([("cf_2".to_owned(), json!("Beta"))]),
            &names,
            &fields,
        )
        .unwrap();
        assert_eq!(body["custom_fields"], json!([{"id": 2, "value": "Beta"}]));
    }
}
