//! What a Redmine server names by id: trackers (issue types), statuses, priorities,
//! custom fields and users. Read once, and read again when a name or id is unknown
//! (an administrator added a status while the sync runs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fieldsync_plugin_api::FieldType;
use parking_lot::Mutex;
use serde_json::Value;

use crate::client::{Client, HttpError};

/// A custom field as the server declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub id: u64,
    pub name: String,
    /// `string`, `text`, `int`, `float`, `list`, `date`, `bool`, `user`, `version`, `link`, ...
    pub format: String,
    pub multiple: bool,
    pub is_filter: bool,
    pub possible_values: Vec<String>,
    /// The trackers (issue types) it is enabled for, by id.
    pub tracker_ids: Vec<u64>,
}

impl CustomField {
    /// The field id fieldsync uses: `cf_3`.
    pub fn field_id(&self) -> String {
        format!("cf_{}", self.id)
    }

    /// The fieldsync type its values have.
    pub fn field_type(&self) -> FieldType {
        match (self.format.as_str(), self.multiple) {
            ("string" | "text" | "link", _) => FieldType::Text,
            ("int" | "float", _) => FieldType::Number,
            ("list" | "enumeration" | "version", false) => FieldType::Option,
            ("list" | "enumeration" | "version", true) => FieldType::Options,
            ("date", _) => FieldType::Date,
            ("user", false) => FieldType::User,
            ("user", true) => FieldType::Users,
            (other, _) => FieldType::Other(format!("redmine.{other}")),
        }
    }
}

/// Id ↔ name tables of one server.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub trackers: BTreeMap<u64, String>,
    pub statuses: BTreeMap<u64, String>,
    pub priorities: BTreeMap<u64, String>,
    pub custom_fields: BTreeMap<u64, CustomField>,
    /// User id → login (all users when the key is an admin's; else only its own).
    pub users: BTreeMap<u64, UserEntry>,
    /// Whether `users` is the whole directory.
    pub users_complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub login: String,
    pub mail: String,
    pub name: String,
}

impl Names {
    pub fn id_of(table: &BTreeMap<u64, String>, name: &str) -> Option<u64> {
        table
            .iter()
            .find(|(_, known)| known.as_str() == name)
            .map(|(id, _)| *id)
    }

    pub fn user_id(&self, login_or_mail: &str) -> Option<u64> {
        self.users
            .iter()
            .find(|(_, user)| user.login == login_or_mail)
            .or_else(|| {
                self.users.iter().find(|(_, user)| {
                    !user.mail.is_empty() && user.mail.eq_ignore_ascii_case(login_or_mail)
                })
            })
            .map(|(id, _)| *id)
    }

    /// A user's login; `#ID` when the key may not read the directory.
    pub fn login(&self, id: u64) -> String {
        self.users
            .get(&id)
            .map_or_else(|| format!("#{id}"), |user| user.login.clone())
    }
}

/// The tables, refreshed at most this often when something is unknown.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

pub struct Catalog {
    names: Mutex<(Names, Option<Instant>)>,
}

impl Catalog {
    pub fn new() -> Self {
        Catalog {
            names: Mutex::new((Names::default(), None)),
        }
    }

    /// The tables, read on first use.
    pub fn names(&self, client: &Client) -> Result<Names, HttpError> {
        {
            let names = self.names.lock();
            if names.1.is_some() {
                return Ok(names.0.clone());
            }
        }
        self.refresh(client)
    }

    /// Reads the tables again, unless that was done moments ago.
    pub fn refresh_if_stale(&self, client: &Client) -> Result<Names, HttpError> {
        {
            let names = self.names.lock();
            if names
                .1
                .is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY)
            {
                return Ok(names.0.clone());
            }
        }
        self.refresh(client)
    }

    fn refresh(&self, client: &Client) -> Result<Names, HttpError> {
        let fresh = read_names(client)?;
        let mut names = self.names.lock();
        *names = (fresh.clone(), Some(Instant::now()));
        Ok(fresh)
    }
}

fn read_names(client: &Client) -> Result<Names, HttpError> {
    let table = |path: &str, key: &str| -> Result<BTreeMap<u64, String>, HttpError> {
        Ok(client
            .get(path, &[])?
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| Some((item.get("id")?.as_u64()?, text(item, "name")?)))
            .collect())
    };
    let mut names = Names {
        trackers: table("/trackers.json", "trackers")?,
        statuses: table("/issue_statuses.json", "issue_statuses")?,
        priorities: table("/enumerations/issue_priorities.json", "issue_priorities")?,
        ..Names::default()
    };
    // Custom field formats and the user directory are for administrators: without
    // them custom fields count as text and users are known by id (and a correlation
    // field cannot be checked, so the connector refuses to start).
    match client.get("/custom_fields.json", &[]) {
        Ok(answer) => {
            names.custom_fields = answer
                .get("custom_fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|field| {
                    field.get("customized_type").and_then(Value::as_str) == Some("issue")
                })
                .filter_map(custom_field)
                .map(|field| (field.id, field))
                .collect();
        }
        Err(HttpError::Denied(message)) => {
            log::warn!("{message}: custom field formats unknown, their values count as text")
        }
        Err(other) => return Err(other),
    }
    match client.get_all("/users.json", "users", &[("status", String::new())]) {
        Ok(users) => {
            names.users = users.iter().filter_map(user_entry).collect();
            names.users_complete = true;
        }
        Err(HttpError::Denied(_)) => {
            let me = client.get("/users/current.json", &[])?;
            names.users = me.get("user").and_then(user_entry).into_iter().collect();
        }
        Err(other) => return Err(other),
    }
    Ok(names)
}

fn custom_field(field: &Value) -> Option<CustomField> {
    Some(CustomField {
        id: field.get("id")?.as_u64()?,
        name: text(field, "name")?,
        format: text(field, "field_format").unwrap_or_else(|| "string".to_owned()),
        multiple: field
            .get("multiple")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        is_filter: field
            .get("is_filter")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        possible_values: field
            .get("possible_values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|value| text(value, "value"))
            .collect(),
        tracker_ids: field
            .get("trackers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|tracker| tracker.get("id")?.as_u64())
            .collect(),
    })
}

fn user_entry(user: &Value) -> Option<(u64, UserEntry)> {
    let name = [text(user, "firstname"), text(user, "lastname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Some((
        user.get("id")?.as_u64()?,
        UserEntry {
            login: text(user, "login")?,
            mail: text(user, "mail").unwrap_or_default(),
            name,
        },
    ))
}

pub fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}
