//! Every tracker passes the same suite (`fieldsync_tests::conformance`): the SQLite
//! model and a real Redmine.

use fieldsync_core::config::TrackerSpec;
use fieldsync_core::model::User;
use fieldsync_core::SqliteStore;
use fieldsync_tests::conformance::{check, Subject};
use fieldsync_tests::redmine::server;
use fieldsync_tests::redmine_scenario::sup_project;

#[test]
fn the_sqlite_model_is_a_tracker() {
    let store = SqliteStore::in_memory().unwrap();
    store.add_project(&sup_project()).unwrap();
    store
        .put_user(&User {
            username: "alice".into(),
            email: "alice@example.net".into(),
            display_name: "Alice".into(),
        })
        .unwrap();
    check(&Subject {
        tracker: &store,
        project: "SUP",
        issue_type: "Bug",
        text_fields: ["summary", "details"],
        option_field: ("team", ["Alpha", "Beta"]),
        authors: ["fieldsync", "alice"],
        correlates: false,
    });
}

#[test]
fn redmine_is_a_tracker() {
    let server = server();
    let project = server.project("conformance");
    let dir = tempfile::tempdir().unwrap();
    let spec: TrackerSpec =
        serde_json::from_value(server.tracker_spec(&dir.path().join("key"))).unwrap();
    let tracker = fieldsync_redmine::connect(&spec, dir.path()).expect("connects");
    check(&Subject {
        tracker: &tracker,
        project: &project,
        issue_type: "Bug",
        text_fields: ["subject", "description"],
        option_field: ("cf_2", ["Alpha", "Beta"]),
        authors: ["fieldsync", "alice"],
        correlates: true,
    });
}
