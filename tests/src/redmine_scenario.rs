//! A SQLite project (`SUP`) synced with a project on the test Redmine, every kind of
//! field related both ways, for the engine tests of the Redmine connector.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fieldsync_core::model::{Issue, NewIssue, ProjectDef, User};
use fieldsync_core::{
    Connectors, Engine, RoundReport, SqliteStore, SyncConfig, SyncLedger, Tracker,
};
use fieldsync_redmine::RedmineConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::redmine::{server, RedmineServer};
use crate::{plugin_dir, registry_with_plugins};

/// The synchronization's id.
pub const SYNC: &str = "sup-rm";

/// Custom field ids on the test server (created by `scripts/redmine-server.sh`).
pub mod cf {
    /// Story points (float).
    pub const POINTS: u64 = 1;
    /// Team (list: Alpha, Beta, Gamma).
    pub const TEAM: u64 = 2;
    /// Components (multiple list: UI, API, DB).
    pub const COMPONENTS: u64 = 3;
    /// Customer (string).
    pub const CUSTOMER: u64 = 4;
    /// Estimate (int).
    pub const ESTIMATE: u64 = 5;
    /// Review date (date).
    pub const REVIEW: u64 = 6;
    /// Reviewer (user).
    pub const REVIEWER: u64 = 7;
    /// Correlation key (string).
    pub const CORRELATION: u64 = 8;
    /// Size (list: XS, S, M, L, XL).
    pub const SIZE: u64 = 9;
}

/// The scenario: a store, a Redmine project, a configuration, an engine.
pub struct RedmineSetup {
    /// Holds the store, the ledger, the key file and the configuration.
    pub dir: TempDir,
    /// The plugin folder.
    pub plugins: TempDir,
    /// The configuration file.
    pub config: PathBuf,
    /// The SQLite side (A).
    pub store: SqliteStore,
    /// The Redmine project's identifier (side B).
    pub project: String,
    /// The engine.
    pub engine: Engine,
}

/// The SQLite project: one field for each kind of Redmine field.
pub fn sup_project() -> ProjectDef {
    serde_json::from_value(json!({
        "key": "SUP", "name": "Support",
        "issue_types": ["Bug", "Feature", "Support"],
        "fields": [
            {"id": "summary", "type": "text"},
            {"id": "details", "type": "text"},
            {"id": "status", "type": "status"},
            {"id": "priority", "type": "priority"},
            {"id": "assignee", "type": "user"},
            {"id": "due", "type": "date"},
            {"id": "points", "type": "number"},
            {"id": "team", "type": "option"},
            {"id": "components", "type": "options"},
            {"id": "customer", "type": "text"},
            {"id": "estimate", "type": "number"},
            {"id": "review", "type": "date"},
            {"id": "reviewer", "type": "user"}
        ],
        "create_screen": ["summary", "details", "status", "priority", "assignee", "due",
                          "points", "team", "components", "customer", "estimate", "review",
                          "reviewer"]
    }))
    .unwrap()
}

/// The relationships: every field both ways (users matched by e-mail: SQLite's `ann`
/// and `ben` are Redmine's `alice` and `bob`), story points
/// to Redmine's Story points, and to Size through the example plugin.
pub fn relationships() -> Value {
    let both = |id: &str, a: &str, b: &str| json!({"id": id, "direction": "both", "a": {"field": a}, "b": {"field": b}});
    let by_email = json!({"mapping": "fieldsync.user-map", "options": {"by": "email"}});
    let users = |field: &str| json!({"field": field, "outgoing": by_email, "incoming": by_email});
    json!([
        both("summary", "summary", "subject"),
        both("details", "details", "description"),
        both("status", "status", "status"),
        both("priority", "priority", "priority"),
        {"id": "assignee", "direction": "both", "a": users("assignee"), "b": users("assigned_to")},
        both("due", "due", "due_date"),
        {"id": "points", "direction": "a-to-b", "a": {"field": "points"},
         "b": {"field": format!("cf_{}", cf::POINTS)}},
        {"id": "size", "direction": "both",
         "a": {"field": "points", "outgoing": {"mapping": "example.points-to-size"},
               "incoming": {"mapping": "example.size-to-points"}},
         "b": {"field": format!("cf_{}", cf::SIZE)}},
        both("team", "team", &format!("cf_{}", cf::TEAM)),
        both("components", "components", &format!("cf_{}", cf::COMPONENTS)),
        both("customer", "customer", &format!("cf_{}", cf::CUSTOMER)),
        both("estimate", "estimate", &format!("cf_{}", cf::ESTIMATE)),
        both("review", "review", &format!("cf_{}", cf::REVIEW)),
        {"id": "reviewer", "direction": "both", "a": users("reviewer"),
         "b": users(&format!("cf_{}", cf::REVIEWER))}
    ])
}

/// The configuration of the scenario (paths relative to its folder).
pub fn config_json(server: &RedmineServer, dir: &std::path::Path, project: &str) -> Value {
    json!({
        "synchronizations": [{
            "id": SYNC,
            "a": {"project": "SUP", "store": "support.db"},
            "b": {"project": project, "tracker": server.tracker_spec(&dir.join("redmine.key"))},
            "sync_user": "fieldsync",
            "fields": relationships()
        }],
        "retry": {"attempts": 100, "first_delay_seconds": 0, "max_delay_seconds": 0}
    })
}

/// The scenario on a new Redmine project named after `test`.
pub fn setup(test: &str) -> RedmineSetup {
    setup_with(test, |_| {})
}

/// Like [`setup`], with the configuration changed by `edit` first.
pub fn setup_with(test: &str, edit: impl FnOnce(&mut Value)) -> RedmineSetup {
    setup_on(server(), test, edit)
}

/// Like [`setup_with`], on the given server.
pub fn setup_on(server: &RedmineServer, test: &str, edit: impl FnOnce(&mut Value)) -> RedmineSetup {
    let project = server.project(test);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("support.db")).unwrap();
    store.add_project(&sup_project()).unwrap();
    for (login, mail) in [("ann", "alice@example.net"), ("ben", "bob@example.net")] {
        store
            .put_user(&User {
                username: login.into(),
                email: mail.into(),
                display_name: login.into(),
            })
            .unwrap();
    }
    let mut config = config_json(server, dir.path(), &project);
    edit(&mut config);
    let config_file = dir.path().join("sync.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let plugins = plugin_dir(crate::scenario::DEMO_PLUGINS);
    let engine = engine(&config_file, &plugins).expect("the engine starts");
    RedmineSetup {
        dir,
        plugins,
        config: config_file,
        store,
        project,
        engine,
    }
}

/// The engine on a configuration file, with the Redmine connector.
pub fn engine(config: &std::path::Path, plugins: &TempDir) -> Result<Engine, String> {
    let config = SyncConfig::load(config).map_err(|e| e.to_string())?;
    Engine::with_connectors(
        &config,
        &registry_with_plugins(plugins.path()),
        &Connectors::none().with(RedmineConnector),
    )
    .map_err(|e| e.to_string())
}

impl RedmineSetup {
    /// One round, printed; Redmine must have answered (a test of an outage runs its
    /// rounds with `engine.run_round()`).
    pub fn round(&self) -> RoundReport {
        let report = self.engine.run_round();
        println!("{report}");
        assert_eq!(
            report.unavailable(),
            None,
            "Redmine did not answer: {report}"
        );
        report
    }

    /// Creates a SQLite issue as `author`.
    pub fn create(&self, fields: Value, author: &str) -> Issue {
        let fields: BTreeMap<String, Value> = serde_json::from_value(fields).unwrap();
        self.store
            .create(
                &NewIssue {
                    project: "SUP".into(),
                    issue_type: "Bug".into(),
                    fields,
                },
                author,
            )
            .unwrap()
    }

    /// Changes a SQLite issue as `author`.
    pub fn edit(&self, key: &str, changes: Value, author: &str) {
        let changes: BTreeMap<String, Value> = serde_json::from_value(changes).unwrap();
        self.store.update(key, &changes, author).unwrap();
    }

    /// A SQLite issue.
    pub fn issue(&self, key: &str) -> Issue {
        self.store.get(key).unwrap().expect("the issue exists")
    }

    /// The Redmine id of the partner of a SQLite issue.
    pub fn partner_id(&self, key: &str) -> u64 {
        let partner = self
            .store
            .sync_state(SYNC, key)
            .unwrap()
            .and_then(|state| state.partner)
            .unwrap_or_else(|| panic!("{key} has a partner"));
        partner
            .rsplit_once('-')
            .and_then(|(_, id)| id.parse().ok())
            .expect("a Redmine key")
    }

    /// The SQLite partner of a Redmine issue.
    pub fn partner_of(&self, redmine_id: u64) -> Issue {
        let key = self
            .store
            .local_partner(SYNC, &format!("{}-{redmine_id}", self.project))
            .unwrap()
            .unwrap_or_else(|| panic!("#{redmine_id} has a partner"));
        self.issue(&key)
    }
}
