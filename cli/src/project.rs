//! `fieldsync project add|list` and `fieldsync user add`: set up a store by hand.

use std::path::Path;

use fieldsync_core::model::{ProjectDef, User};
use fieldsync_core::{SqliteStore, Tracker};

use crate::table;
use crate::CliError;

/// Declares a project from a JSON definition file, creating the store if needed.
pub fn add(store: &Path, definition: &Path) -> Result<u8, CliError> {
    let text = std::fs::read_to_string(definition)
        .map_err(|error| format!("{}: {error}", definition.display()))?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let project: ProjectDef =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            format!(
                "{}: {}: {}",
                definition.display(),
                error.path(),
                error.inner()
            )
        })?;
    let store = SqliteStore::open(store).map_err(|error| error.to_string())?;
    store
        .add_project(&project)
        .map_err(|error| error.to_string())?;
    println!(
        "{}: project {} with {} fields and issue types {}",
        store.location(),
        project.key,
        project.fields.len(),
        project.issue_types.join(", ")
    );
    Ok(0)
}

/// Lists the projects of a store with their fields.
pub fn list(store: &Path) -> Result<u8, CliError> {
    let store = SqliteStore::open_existing(store).map_err(|error| error.to_string())?;
    let projects = store.projects().map_err(|error| error.to_string())?;
    let rows: Vec<Vec<String>> = projects
        .iter()
        .flat_map(|project| {
            project.fields.iter().map(move |field| {
                let on_create = project.create_screen.contains(&field.id);
                vec![
                    project.key.clone(),
                    field.id.clone(),
                    field.field_type.to_string(),
                    if on_create { "yes" } else { "" }.to_owned(),
                    field.name.clone(),
                ]
            })
        })
        .collect();
    print!(
        "{}",
        table::render(
            &["PROJECT", "FIELD", "TYPE", "CREATE SCREEN", "NAME"],
            &rows
        )
    );
    Ok(0)
}

/// Adds or replaces a user of the store's instance.
pub fn add_user(store: &Path, username: &str, email: &str, name: &str) -> Result<u8, CliError> {
    let store = SqliteStore::open_existing(store).map_err(|error| error.to_string())?;
    store
        .put_user(&User {
            username: username.to_owned(),
            email: email.to_owned(),
            display_name: name.to_owned(),
        })
        .map_err(|error| error.to_string())?;
    println!("{}: user {username} <{email}>", store.location());
    Ok(0)
}
