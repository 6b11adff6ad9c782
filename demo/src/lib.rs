//! # fieldsync-demo
//!
//! A ready-made setup: a support project and a development project with sample
//! issues, and a configuration that syncs them with built-in mappings and the example
//! plugins. `fieldsync demo` runs it; tests and benchmarks build on it. A fixture, not
//! engine API: it lives outside `fieldsync-core`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use fieldsync_core::model::{NewIssue, ProjectDef, User};
use fieldsync_core::store::{create_and_edit, SqliteStore, StoreError};

/// Key of the support project (side A).
pub const SUPPORT: &str = "SUP";
/// Key of the development project (side B).
pub const DEV: &str = "DEV";
/// The user sample issues are created by.
pub const DEMO_USER: &str = "alice";

/// The file that marks a folder as written by [`create`], so that a new demo may
/// replace the old one without ever touching files a person put there.
pub const MARKER: &str = ".fieldsync-demo";

/// Whether both projects share one store file or each has its own (two instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreLayout {
    /// `demo.db` holds both projects.
    OneFile,
    /// `support.db` and `dev.db`.
    TwoFiles,
}

/// The files a demo setup consists of.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    /// The sync configuration.
    pub config: PathBuf,
    /// Store of the support project.
    pub support_store: PathBuf,
    /// Store of the development project.
    pub dev_store: PathBuf,
}

/// The support project: wiki markup descriptions and story points.
pub fn support_project() -> ProjectDef {
    project(json!({
        "key": SUPPORT, "name": "Customer support",
        "issue_types": ["Incident", "Task"],
        "fields": [
            {"id": "summary", "name": "Summary", "type": "text"},
            {"id": "description", "name": "Description (wiki markup)", "type": "text"},
            {"id": "priority", "name": "Priority", "type": "priority"},
            {"id": "points", "name": "Story points", "type": "number"},
            {"id": "labels", "name": "Labels", "type": "labels"},
            {"id": "assignee", "name": "Assignee", "type": "user"},
            {"id": "status", "name": "Status", "type": "status"}
        ],
        "create_screen": ["summary", "description", "priority", "labels"]
    }))
}

/// The development project: Markdown descriptions and t-shirt sizes.
pub fn dev_project() -> ProjectDef {
    project(json!({
        "key": DEV, "name": "Development",
        "issue_types": ["Bug", "Task"],
        "fields": [
            {"id": "title", "name": "Title", "type": "text"},
            {"id": "body", "name": "Body (Markdown)", "type": "text"},
            {"id": "priority", "name": "Priority", "type": "priority"},
            {"id": "size", "name": "Size", "type": "option"},
            {"id": "labels", "name": "Labels", "type": "labels"},
            {"id": "owner", "name": "Owner", "type": "user"},
            {"id": "state", "name": "State", "type": "status"}
        ],
        "create_screen": ["title", "priority", "labels", "owner"]
    }))
}

fn project(value: Value) -> ProjectDef {
    // The definitions above are fixed data, checked by a test.
    serde_json::from_value(value).unwrap_or_else(|error| unreachable!("demo project: {error}"))
}

/// The sync configuration of the demo, with store paths relative to its folder.
pub fn config_json(layout: StoreLayout) -> Value {
    let (support_store, dev_store) = store_names(layout);
    json!({
        // One worker keeps the demo's issue numbers the same on every run: with
        // several, new partner issues are numbered in the order they finish.
        "workers": 1,
        // A failed message is retried after 10 s, 20 s, 40 s, ... (at most 10 min
        // apart), then parked after 5 attempts until `fieldsync errors` acts on it.
        "retry": {"attempts": 5, "first_delay_seconds": 10, "max_delay_seconds": 600},
        "slow_mapping_call_ms": 2000,
        "synchronizations": [{
            "id": "support-dev",
            "a": {"project": SUPPORT, "store": support_store, "issue_type_map": {"Bug": "Incident"}},
            "b": {"project": DEV, "store": dev_store, "issue_type_map": {"Incident": "Bug"}},
            "sync_user": "fieldsync",
            "interval_seconds": 10,
            "fields": [
                {"id": "summary", "direction": "both",
                 "a": {"field": "summary", "outgoing": {"mapping": "fieldsync.text", "options": {"trim": true}}},
                 "b": {"field": "title", "outgoing": {"mapping": "fieldsync.text", "options": {"trim": true}}}},
                {"id": "description", "direction": "both",
                 "a": {"field": "description",
                       "outgoing": {"mapping": "example.wiki-to-markdown"},
                       "incoming": {"mapping": "example.markdown-to-wiki"}},
                 "b": {"field": "body"}},
                {"id": "priority", "direction": "both",
                 "a": {"field": "priority"},
                 "b": {"field": "priority",
                       "incoming": {"mapping": "fieldsync.value-map",
                                    "options": {"map": {"Highest": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
                                                "default": "P3"}},
                       "outgoing": {"mapping": "fieldsync.value-map",
                                    "options": {"map": {"Highest": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
                                                "reverse": true}}}},
                {"id": "points", "direction": "both",
                 "a": {"field": "points",
                       "outgoing": {"mapping": "example.points-to-size"},
                       "incoming": {"mapping": "example.size-to-points"}},
                 "b": {"field": "size"}},
                {"id": "labels", "direction": "both",
                 "a": {"field": "labels", "outgoing": {"mapping": "fieldsync.labels"},
                       "incoming": {"mapping": "fieldsync.labels"}},
                 "b": {"field": "labels", "outgoing": {"mapping": "fieldsync.labels"},
                       "incoming": {"mapping": "fieldsync.labels"}}},
                {"id": "assignee", "direction": "a-to-b",
                 "a": {"field": "assignee", "outgoing": {"mapping": "fieldsync.user-map", "options": {"by": "email"}}},
                 "b": {"field": "owner", "incoming": {"mapping": "fieldsync.user-map", "options": {"by": "email"}}}},
                {"id": "status", "direction": "b-to-a",
                 "a": {"field": "status",
                       "incoming": {"mapping": "fieldsync.value-map",
                                    "options": {"map": {"Open": "Open", "In Progress": "In progress",
                                                        "Done": "Resolved"}, "unmapped": "keep"}}},
                 "b": {"field": "state"}}
            ]
        }]
    })
}

fn store_names(layout: StoreLayout) -> (&'static str, &'static str) {
    match layout {
        StoreLayout::OneFile => ("demo.db", "demo.db"),
        StoreLayout::TwoFiles => ("support.db", "dev.db"),
    }
}

/// The sample issues of the support project.
pub fn sample_support_issues() -> Vec<NewIssue> {
    vec![
        issue(
            SUPPORT,
            "Incident",
            json!({
                "summary": "Checkout fails with error 500",
                "description": "h2. Steps\n# Add an item\n# Press *Pay*\n\nSee {{orders.log}}.",
                "priority": "Highest",
                "points": 5,
                "labels": ["checkout", "customer"],
                "assignee": "alice",
                "status": "Open"
            }),
        ),
        issue(
            SUPPORT,
            "Incident",
            json!({
                "summary": "  Invoice PDF shows wrong VAT  ",
                "description": "The VAT line reads _19%_ instead of _7%_.",
                "priority": "Medium",
                "points": 2,
                "labels": ["billing"],
                "assignee": "bob"
            }),
        ),
        issue(
            SUPPORT,
            "Task",
            json!({
                "summary": "Document the refund process",
                "priority": "Low",
                "points": 8
            }),
        ),
    ]
}

/// The sample issue of the development project.
pub fn sample_dev_issues() -> Vec<NewIssue> {
    vec![issue(
        DEV,
        "Task",
        json!({
            "title": "Upgrade the payment SDK",
            "body": "Version **4.2** fixes the `timeout` bug.",
            "priority": "P2",
            "size": "M",
            "labels": ["payments"],
            "state": "In Progress"
        }),
    )]
}

fn issue(project: &str, issue_type: &str, fields: Value) -> NewIssue {
    let fields: BTreeMap<String, Value> = match fields {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    NewIssue {
        project: project.to_owned(),
        issue_type: issue_type.to_owned(),
        fields,
    }
}

/// The users of both instances: the same people, with different login names on the
/// development side, matched by e-mail.
pub fn users() -> (Vec<User>, Vec<User>) {
    let user = |username: &str, email: &str, name: &str| User {
        username: username.to_owned(),
        email: email.to_owned(),
        display_name: name.to_owned(),
    };
    (
        vec![
            user("alice", "alice@example.com", "Alice Moreau"),
            user("bob", "bob@example.com", "Bob Okafor"),
        ],
        vec![
            user("amoreau", "alice@example.com", "Alice Moreau"),
            user("bokafor", "bob@example.com", "Bob Okafor"),
        ],
    )
}

/// Creates the demo in `dir`: stores with both projects, users, sample issues and
/// `sync.json`. The folder must not hold a demo already.
pub fn create(dir: &Path, layout: StoreLayout) -> Result<DemoFiles, DemoError> {
    std::fs::create_dir_all(dir).map_err(|error| DemoError::Io(dir.to_owned(), error))?;
    let (support_name, dev_name) = store_names(layout);
    let files = DemoFiles {
        config: dir.join("sync.json"),
        support_store: dir.join(support_name),
        dev_store: dir.join(dev_name),
    };
    for path in [&files.config, &files.support_store, &files.dev_store] {
        if path.exists() {
            return Err(DemoError::Exists(path.clone()));
        }
    }
    let support = SqliteStore::open(&files.support_store)?;
    let dev_store_owned;
    let dev: &SqliteStore = if layout == StoreLayout::OneFile {
        &support
    } else {
        dev_store_owned = SqliteStore::open(&files.dev_store)?;
        &dev_store_owned
    };
    support.add_project(&support_project())?;
    dev.add_project(&dev_project())?;
    let (support_users, dev_users) = users();
    for user in &support_users {
        support.put_user(user)?;
    }
    // One instance has one user directory: the dev logins only exist on a second one.
    if layout == StoreLayout::TwoFiles {
        for user in &dev_users {
            dev.put_user(user)?;
        }
    }
    for issue in sample_support_issues() {
        create_and_edit(&support, &issue, DEMO_USER)?;
    }
    for issue in sample_dev_issues() {
        create_and_edit(dev, &issue, "amoreau")?;
    }
    std::fs::write(dir.join(MARKER), "written by `fieldsync demo`\n")
        .map_err(|error| DemoError::Io(dir.join(MARKER), error))?;
    let text = serde_json::to_string_pretty(&config_json(layout)).unwrap_or_default();
    std::fs::write(&files.config, text + "\n")
        .map_err(|error| DemoError::Io(files.config.clone(), error))?;
    Ok(files)
}

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The folder already holds a demo.
    #[error("{0} already exists: choose an empty folder")]
    Exists(PathBuf),
    /// A store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_data_is_valid() {
        assert!(support_project().problems().is_empty());
        assert!(dev_project().problems().is_empty());
        for issue in sample_support_issues() {
            let project = support_project();
            for (field, value) in &issue.fields {
                project.check_value(field, value).unwrap();
            }
        }
        for issue in sample_dev_issues() {
            let project = dev_project();
            for (field, value) in &issue.fields {
                project.check_value(field, value).unwrap();
            }
        }
        let config = serde_json::to_string(&config_json(StoreLayout::TwoFiles)).unwrap();
        fieldsync_core::SyncConfig::parse(&config, Path::new("sync.json")).unwrap();
    }
}
