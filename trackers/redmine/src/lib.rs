//! # fieldsync-redmine
//!
//! A Redmine 5 project as one side of a fieldsync synchronization, through Redmine's
//! REST API. A side of a configuration names it so:
//!
//! ```json
//! { "project": "dev",
//!   "tracker": { "kind": "redmine", "url": "https://redmine.example.com",
//!                "api_key_env": "REDMINE_API_KEY",
//!                "correlation_field": "Correlation key" } }
//! ```
//!
//! - `url`: the server; `api_key_env` (an environment variable) or `api_key_file`
//!   (a file, relative to the configuration) holds the API key, which never appears in
//!   the configuration, an error or `status`. The HTTP layer (`ureq_proto`) dumps the
//!   bytes it sends at trace level, the key's header included: the `fieldsync`
//!   program drops those records whatever `RUST_LOG` says, and a host that embeds the
//!   connector must do the same.
//! - `correlation_field`: an issue custom field (name or `cf_N`; format text, "used as
//!   a filter") where fieldsync writes the source issue of every issue it creates, in
//!   the creating request, and which it looks up before creating: a creation whose
//!   answer was lost is found instead of being made twice.
//! - `timeout_seconds` (default 30): the longest a request may take.
//!
//! The synchronization's `sync_user` is the Redmine login the sync writes as: the
//! key's own user, or another (then the key must be an administrator's, and writes
//! carry `X-Redmine-Switch-User`). Its journals are never sent back.

mod catalog;
mod client;
mod cursor;
mod fields;
mod tracker;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::config::TrackerSpec;
use fieldsync_core::{Connector, StoreError, Tracker};
use serde::Deserialize;
use serde_json::Value;

pub use catalog::{CustomField, Names};
pub use client::HttpError;
pub use tracker::RedmineTracker;

use client::Client;

/// The connector: `"kind": "redmine"`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedmineConnector;

/// A side's `tracker` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedmineSettings {
    /// The server, e.g. `https://redmine.example.com`.
    pub url: String,
    /// An environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A file holding the API key (relative to the configuration file).
    #[serde(default)]
    pub api_key_file: Option<std::path::PathBuf>,
    /// The custom field (name or `cf_N`) holding the source key of created issues.
    #[serde(default)]
    pub correlation_field: Option<String>,
    /// The longest one request may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
}

fn default_timeout() -> f64 {
    30.0
}

impl RedmineSettings {
    /// Reads the settings of a configuration's `tracker` object.
    pub fn from_spec(spec: &TrackerSpec) -> Result<Self, String> {
        let settings: RedmineSettings =
            serde_json::from_value(Value::Object(spec.settings.clone()))
                .map_err(|error| error.to_string())?;
        if !(settings.url.starts_with("http://") || settings.url.starts_with("https://")) {
            return Err(format!(
                "url `{}` must start with http:// or https://",
                settings.url
            ));
        }
        if !(0.1..=3600.0).contains(&settings.timeout_seconds) {
            return Err("timeout_seconds must be from 0.1 to 3600".to_owned());
        }
        Ok(settings)
    }

    /// The API key, from the variable or file named (never from the configuration).
    pub fn api_key(&self, config_dir: &Path) -> Result<String, String> {
        let key = match (&self.api_key_env, &self.api_key_file) {
            (Some(variable), None) => std::env::var(variable).map_err(|_| {
                format!("api_key_env: environment variable `{variable}` is not set")
            })?,
            (None, Some(file)) => {
                let path = if file.is_relative() {
                    config_dir.join(file)
                } else {
                    file.clone()
                };
                std::fs::read_to_string(&path).map_err(|error| {
                    format!("api_key_file: cannot read `{}`: {error}", path.display())
                })?
            }
            (Some(_), Some(_)) => {
                return Err("name the API key once: api_key_env or api_key_file".to_owned())
            }
            (None, None) => {
                return Err(
                    "no API key: set api_key_env (an environment variable) or api_key_file"
                        .to_owned(),
                )
            }
        };
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err("the API key is empty".to_owned());
        }
        Ok(key)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }
}

impl Connector for RedmineConnector {
    fn kind(&self) -> &str {
        "redmine"
    }

    fn open(&self, spec: &TrackerSpec, config_dir: &Path) -> Result<Arc<dyn Tracker>, StoreError> {
        Ok(Arc::new(connect(spec, config_dir)?))
    }
}

/// Connects and checks the key and the correlation field.
pub fn connect(spec: &TrackerSpec, config_dir: &Path) -> Result<RedmineTracker, StoreError> {
    let settings = RedmineSettings::from_spec(spec).map_err(|message| StoreError::Invalid {
        store: spec
            .settings
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("redmine")
            .to_owned(),
        message,
    })?;
    let invalid = |message: String| StoreError::Invalid {
        store: settings.url.clone(),
        message,
    };
    let key = settings.api_key(config_dir).map_err(invalid)?;
    let client = Client::new(&settings.url, key, settings.timeout());
    let login = current_login(&client)?;
    let tracker = RedmineTracker::new(client, login, None);
    let correlation = match &settings.correlation_field {
        None => {
            return Err(invalid(
                "correlation_field: name the issue custom field where fieldsync records the \
                 source of each issue it creates (create one in Administration → Custom \
                 fields → Issues: format Text, \"Used as a filter\", for all projects and \
                 trackers); without it a creation whose answer was lost could be repeated"
                    .to_owned(),
            ))
        }
        Some(name) => correlation_field(&tracker.names()?, name).map_err(invalid)?,
    };
    Ok(tracker.with_correlation(correlation))
}

/// The login of the key's user; a wrong key fails here, before anything else. At
/// start a refused key is the configuration's fault (a person must fix it); a server
/// that does not answer is unavailable (try again later).
fn current_login(client: &Client) -> Result<String, StoreError> {
    let me = client
        .get("/users/current.json", &[])
        .map_err(|error| match error {
            HttpError::Denied(message) => StoreError::Invalid {
                store: client.base().to_owned(),
                message,
            },
            other => tracker::store_error(client.base(), other),
        })?;
    Ok(me
        .pointer("/user/login")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

/// The id of the correlation field, checked: an issue field, text, used as a filter
/// (a filter Redmine does not apply would return every issue).
fn correlation_field(names: &Names, wanted: &str) -> Result<u64, String> {
    if names.custom_fields.is_empty() {
        return Err(format!(
            "correlation_field `{wanted}`: the key may not read the custom fields \
             (an administrator's key is needed to check it)"
        ));
    }
    let field = names
        .custom_fields
        .values()
        .find(|field| field.name == wanted || field.field_id() == wanted)
        .ok_or_else(|| {
            format!(
                "correlation_field: Redmine has no issue custom field `{wanted}` (it has: {})",
                names
                    .custom_fields
                    .values()
                    .map(|field| format!("{} ({})", field.name, field.field_id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    if !matches!(field.format.as_str(), "string" | "text") {
        return Err(format!(
            "correlation_field `{}` has format `{}`; it must be a text field",
            field.name, field.format
        ));
    }
    if !field.is_filter {
        return Err(format!(
            "correlation_field `{}` is not \"Used as a filter\": Redmine would ignore the \
             look-up and answer with every issue (tick it in the field's settings)",
            field.name
        ));
    }
    Ok(field.id)
}

/// Everything a person needs to write a configuration for a Redmine project.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Description {
    pub url: String,
    /// The key's user.
    pub login: String,
    pub project: Option<fieldsync_core::model::ProjectDef>,
    pub trackers: Vec<String>,
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    /// Every issue custom field (`cf_N`, name, format, type).
    pub custom_fields: Vec<DescribedField>,
    /// Logins (as admin: every user).
    pub users: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DescribedField {
    pub id: String,
    pub name: String,
    pub format: String,
    pub field_type: String,
    pub multiple: bool,
    pub used_as_filter: bool,
    pub possible_values: Vec<String>,
}

/// Reads what a server (and, with `project`, a project) offers.
pub fn describe(
    spec: &TrackerSpec,
    config_dir: &Path,
    project: Option<&str>,
) -> Result<Description, StoreError> {
    let settings = RedmineSettings::from_spec(spec).map_err(|message| StoreError::Invalid {
        store: "redmine".to_owned(),
        message,
    })?;
    let key = settings
        .api_key(config_dir)
        .map_err(|message| StoreError::Invalid {
            store: settings.url.clone(),
            message,
        })?;
    let client = Client::new(&settings.url, key, settings.timeout());
    let login = current_login(&client)?;
    let tracker = RedmineTracker::new(client, login.clone(), None);
    let names = tracker.names()?;
    let project = project.map(|key| tracker.project(key)).transpose()?;
    Ok(Description {
        url: settings.url,
        login,
        project,
        trackers: names.trackers.values().cloned().collect(),
        statuses: names.statuses.values().cloned().collect(),
        priorities: names.priorities.values().cloned().collect(),
        custom_fields: names
            .custom_fields
            .values()
            .map(|field| DescribedField {
                id: field.field_id(),
                name: field.name.clone(),
                format: field.format.clone(),
                field_type: field.field_type().name().to_owned(),
                multiple: field.multiple,
                used_as_filter: field.is_filter,
                possible_values: field.possible_values.clone(),
            })
            .collect(),
        users: names
            .users
            .values()
            .map(|user| user.login.clone())
            .collect(),
    })
}
