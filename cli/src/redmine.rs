//! `fieldsync redmine describe`: what a Redmine server and project offer, to write a
//! configuration from (field ids and the fieldsync type each maps to, trackers,
//! statuses, priorities, users).

use std::path::Path;

use crate::CliError;
use fieldsync_core::config::TrackerSpec;
use fieldsync_redmine::Description;
use serde_json::{json, Map};

/// How to reach the server: the same settings a configuration's `tracker` takes.
pub struct Server<'a> {
    pub url: &'a str,
    pub api_key_env: Option<&'a str>,
    pub api_key_file: Option<&'a Path>,
}

pub fn describe(
    server: &Server<'_>,
    project: Option<&str>,
    json_output: bool,
) -> Result<u8, CliError> {
    let mut settings = Map::new();
    settings.insert("url".into(), json!(server.url));
    if let Some(variable) = server.api_key_env {
        settings.insert("api_key_env".into(), json!(variable));
    }
    if let Some(file) = server.api_key_file {
        settings.insert("api_key_file".into(), json!(file));
    }
    let spec = TrackerSpec {
        kind: "redmine".into(),
        settings,
    };
    let description = fieldsync_redmine::describe(&spec, Path::new("."), project)
        .map_err(|error| error.to_string())?;
    if json_output {
        let text = serde_json::to_string_pretty(&description).map_err(|error| error.to_string())?;
        println!("{text}");
    } else {
        print!("{}", text_of(&description));
    }
    Ok(0)
}

fn text_of(description: &Description) -> String {
    let mut text = format!(
        "Redmine {} (API key of `{}`)\n",
        description.url, description.login
    );
    if let Some(project) = &description.project {
        text += &format!("\nproject `{}` ({})\n", project.key, project.name);
        text += &format!(
            "  issue types (trackers): {}\n",
            project.issue_types.join(", ")
        );
        text += "  fields (id, type, name):\n";
        for field in &project.fields {
            text += &format!(
                "    {:<16} {:<10} {}\n",
                field.id,
                field.field_type.name(),
                field.name
            );
        }
    }
    text += &format!("\nstatuses: {}\n", description.statuses.join(", "));
    text += &format!("priorities: {}\n", description.priorities.join(", "));
    text += &format!("trackers: {}\n", description.trackers.join(", "));
    if description.custom_fields.is_empty() {
        text += "custom fields: not readable with this key (an administrator's key shows them)\n";
    } else {
        text += "custom fields (id, type, format, name):\n";
        for field in &description.custom_fields {
            let mut notes = Vec::new();
            if field.multiple {
                notes.push("multiple".to_owned());
            }
            if field.used_as_filter {
                notes.push("used as a filter".to_owned());
            }
            if !field.possible_values.is_empty() {
                notes.push(format!("values: {}", field.possible_values.join(", ")));
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            text += &format!(
                "    {:<16} {:<10} {:<8} {}{notes}\n",
                field.id, field.field_type, field.format, field.name
            );
        }
    }
    text += &format!("users: {}\n", description.users.join(", "));
    text
}
