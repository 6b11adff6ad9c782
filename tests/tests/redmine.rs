//! The engine against a real Redmine (started by the test kit on 127.0.0.1): a SQLite
//! project synced with a Redmine project, every kind of field, both ways.

use fieldsync_core::SyncLedger;
use fieldsync_tests::redmine::{server, RedmineServer};
use fieldsync_tests::redmine_scenario::{cf, setup, setup_with, SYNC};
use serde_json::{json, Value};

fn custom(issue: &Value, id: u64) -> Value {
    RedmineServer::custom(issue, id)
}

#[test]
fn a_new_sqlite_issue_is_created_in_redmine_with_every_field_then_nothing_echoes() {
    let setup = setup("create");
    let key = setup
        .create(
            json!({
                "summary": "Checkout fails", "details": "Steps: pay", "status": "In Progress",
                "priority": "High", "assignee": "ann", "due": "2099-12-24", "points": 5,
                "team": "Beta", "components": ["UI", "DB"], "customer": "ACME",
                "estimate": 8, "review": "2099-12-20", "reviewer": "ben"
            }),
            "alice",
        )
        .key;
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.created(), 1);

    let id = setup.partner_id(&key);
    let issue = server().issue(id);
    assert_eq!(issue["subject"], "Checkout fails");
    assert_eq!(issue["description"], "Steps: pay");
    assert_eq!(issue["status"]["name"], "In Progress");
    assert_eq!(issue["priority"]["name"], "High");
    assert_eq!(
        issue["assigned_to"]["name"], "Alice Example",
        "ann is alice by e-mail"
    );
    assert_eq!(issue["due_date"], "2099-12-24");
    assert_eq!(custom(&issue, cf::POINTS), "5");
    assert_eq!(
        custom(&issue, cf::SIZE),
        "M",
        "the plugin maps 5 points to M"
    );
    assert_eq!(custom(&issue, cf::TEAM), "Beta");
    assert_eq!(custom(&issue, cf::COMPONENTS), json!(["UI", "DB"]));
    assert_eq!(custom(&issue, cf::CUSTOMER), "ACME");
    assert_eq!(custom(&issue, cf::ESTIMATE), "8");
    assert_eq!(custom(&issue, cf::REVIEW), "2099-12-20");
    assert_eq!(
        custom(&issue, cf::REVIEWER),
        "7",
        "ben is bob (user 7) by e-mail"
    );
    assert_eq!(
        custom(&issue, cf::CORRELATION),
        format!("{SYNC}:{key}"),
        "the creating request carries the source key"
    );
    assert_eq!(issue["author"]["name"], "Field Sync");
    // Every field goes in the creating request; Redmine keeps a new issue's initial
    // status whatever it is sent, so the status follows in one edit.
    let journals = issue["journals"].as_array().unwrap();
    assert_eq!(journals.len(), 1, "{issue}");
    assert_eq!(
        journals[0]["details"],
        json!([{"name": "status_id", "new_value": "2", "old_value": "1", "property": "attr"}])
    );

    // The issue the sync created is never sent back, and nothing else moves.
    let again = setup.round();
    assert_eq!(again.messages_sent(), 0, "{again}");
    assert_eq!(again.failures().count(), 0, "{again}");
    let third = setup.round();
    assert_eq!(third.messages_sent(), 0, "{third}");
}

#[test]
fn edits_in_redmine_reach_sqlite_including_cleared_fields() {
    let setup = setup("redmine-edit");
    let key = setup
        .create(
            json!({"summary": "Slow search", "status": "New", "priority": "Normal",
                   "team": "Alpha", "customer": "ACME", "components": ["API"], "points": 2}),
            "alice",
        )
        .key;
    setup.round();
    let id = setup.partner_id(&key);

    server().update_issue(
        id,
        json!({"subject": "Search is slow", "status_id": 3, "priority_id": 4, "assigned_to_id": 6,
               "custom_fields": [
                   {"id": cf::TEAM, "value": "Gamma"},
                   {"id": cf::CUSTOMER, "value": ""},
                   {"id": cf::COMPONENTS, "value": ["API", "UI"]},
                   {"id": cf::SIZE, "value": "L"},
                   {"id": cf::ESTIMATE, "value": "13"}]}),
        Some("bob"),
    );
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let issue = setup.issue(&key);
    assert_eq!(issue.fields["summary"], "Search is slow");
    assert_eq!(issue.fields["status"], "Resolved");
    assert_eq!(issue.fields["priority"], "Urgent");
    assert_eq!(
        issue.fields["assignee"], "ann",
        "Redmine's alice (user 6) is ann, matched by e-mail"
    );
    assert_eq!(issue.fields["team"], "Gamma");
    assert_eq!(issue.value("customer"), &Value::Null, "cleared in Redmine");
    assert_eq!(issue.fields["components"], json!(["API", "UI"]));
    assert_eq!(
        issue.fields["points"],
        json!(8),
        "size L maps back to 8 points"
    );
    assert_eq!(issue.fields["estimate"], json!(13));

    // What the sync wrote into SQLite goes nowhere, and the points it changed reach
    // Redmine's Story points one way only.
    let after = setup.round();
    assert_eq!(after.failures().count(), 0, "{after}");
    let after_that = setup.round();
    assert_eq!(after_that.messages_sent(), 0, "{after_that}");
}

#[test]
fn edits_in_sqlite_update_only_what_changed_in_redmine() {
    let setup = setup("sqlite-edit");
    let key = setup
        .create(
            json!({"summary": "Export broken", "details": "CSV", "priority": "Low",
                   "team": "Alpha", "due": "2099-12-01"}),
            "alice",
        )
        .key;
    setup.round();
    let id = setup.partner_id(&key);

    setup.edit(
        &key,
        json!({"priority": "Immediate", "details": null, "due": null, "team": "Beta"}),
        "bob",
    );
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.messages_sent(), 1);
    let issue = server().issue(id);
    assert_eq!(issue["priority"]["name"], "Immediate");
    assert_eq!(issue["description"], "", "cleared");
    assert_eq!(issue["due_date"], Value::Null, "cleared");
    assert_eq!(custom(&issue, cf::TEAM), "Beta");
    assert_eq!(issue["subject"], "Export broken");
    let journals = issue["journals"].as_array().unwrap();
    assert_eq!(journals.len(), 1, "one update: {journals:?}");
    let changed: Vec<&str> = journals[0]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| detail["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed.len(),
        4,
        "only the changed fields are written: {changed:?}"
    );

    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn an_issue_created_in_redmine_is_created_in_sqlite() {
    let setup = setup("redmine-create");
    let id = server().create_issue(
        &setup.project,
        json!({"subject": "From Redmine", "tracker_id": 2, "priority_id": 3,
               "custom_fields": [{"id": cf::TEAM, "value": "Alpha"}, {"id": cf::SIZE, "value": "S"}]}),
        Some("alice"),
    );
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.created(), 1);
    let issue = setup.partner_of(id);
    assert_eq!(issue.issue_type, "Feature");
    assert_eq!(issue.fields["summary"], "From Redmine");
    assert_eq!(issue.fields["priority"], "High");
    assert_eq!(issue.fields["team"], "Alpha");
    assert_eq!(issue.fields["points"], json!(3));
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn a_conflict_on_a_both_field_goes_to_the_newer_edit() {
    let setup = setup("conflict");
    let key = setup
        .create(json!({"summary": "Original", "team": "Alpha"}), "alice")
        .key;
    setup.round();
    let id = setup.partner_id(&key);

    // SQLite first, Redmine a second later (Redmine's clock has seconds): Redmine's
    // edit is the newer one and wins on both sides.
    setup.edit(&key, json!({"summary": "Older, from SQLite"}), "alice");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server().update_issue(id, json!({"subject": "Newer, from Redmine"}), Some("bob"));
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(setup.issue(&key).fields["summary"], "Newer, from Redmine");
    assert_eq!(server().issue(id)["subject"], "Newer, from Redmine");
    setup.round();
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
    assert_eq!(setup.issue(&key).fields["summary"], "Newer, from Redmine");
    assert_eq!(server().issue(id)["subject"], "Newer, from Redmine");
}

#[test]
fn a_value_redmine_refuses_fails_only_that_issue() {
    let setup = setup("refused");
    let good = setup.create(json!({"summary": "Fine"}), "alice").key;
    // Redmine's subject holds 255 characters: it answers 422.
    let bad = setup
        .create(json!({"summary": "x".repeat(300)}), "alice")
        .key;
    let report = setup.round();
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0].issue_key(), Some(bad.as_str()));
    assert!(
        failures[0].error.contains("Subject is too long"),
        "Redmine's reason is shown: {}",
        failures[0].error
    );
    assert!(
        failures[0].error.contains(&server().url),
        "the server is named: {}",
        failures[0].error
    );
    assert!(setup
        .store
        .sync_state(SYNC, &good)
        .unwrap()
        .unwrap()
        .partner
        .is_some());

    // Retried, refused again: the value has to change. Fixed at the source, and the
    // refused message skipped by a person, the fix goes through.
    let again = setup.round();
    assert_eq!(again.failures().count(), 1, "{again}");
    setup.edit(&bad, json!({"summary": "Now short"}), "alice");
    setup
        .engine
        .control()
        .skip(&format!("{SYNC}:{bad}:1"), "tester")
        .unwrap();
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let id = setup.partner_id(&bad);
    assert_eq!(server().issue(id)["subject"], "Now short");
}

#[test]
fn a_list_value_redmine_does_not_offer_is_refused_naming_the_field() {
    let setup = setup("list-value");
    let key = setup
        .create(json!({"summary": "Bad team", "team": "Omega"}), "alice")
        .key;
    let report = setup.round();
    let failure = report.failures().next().expect("the issue fails");
    assert_eq!(failure.issue_key(), Some(key.as_str()));
    assert!(
        failure.error.contains("Team") && failure.error.contains("Alpha, Beta, Gamma"),
        "{}",
        failure.error
    );
}

#[test]
fn a_resync_sends_the_chosen_fields_again() {
    let setup = setup("resync");
    let key = setup
        .create(json!({"summary": "Resync me", "customer": "ACME"}), "alice")
        .key;
    setup.round();
    let id = setup.partner_id(&key);
    // Someone changes Redmine's copy behind the sync's back, as the sync user (so
    // it is not sent): a resync puts SQLite's value back.
    server().update_issue(
        id,
        json!({"custom_fields": [{"id": cf::CUSTOMER, "value": "Wrong"}]}),
        Some("fieldsync"),
    );
    let queued = setup
        .engine
        .request_resync(&key, &["customer".to_owned()])
        .unwrap();
    assert_eq!(queued, vec![format!("{SYNC}: customer")]);
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(custom(&server().issue(id), cf::CUSTOMER), "ACME");
}

#[test]
fn an_issue_created_before_a_crash_lost_its_link_is_found_not_created_again() {
    let setup = setup("correlation");
    let key = setup.create(json!({"summary": "Only once"}), "alice").key;
    setup.round();
    let id = setup.partner_id(&key);
    // What a crash between Redmine's answer and the ledger's write leaves: the issue
    // exists in Redmine, neither ledger knows it, the message is still due.
    let ledger = rusqlite::Connection::open(setup.dir.path().join("fieldsync-ledger.db")).unwrap();
    ledger.execute("DELETE FROM sync_issues", []).unwrap();
    ledger.execute("DELETE FROM applied", []).unwrap();
    let store = rusqlite::Connection::open(setup.dir.path().join("support.db")).unwrap();
    store
        .execute("UPDATE sync_issues SET partner = NULL", [])
        .unwrap();
    store
        .execute("UPDATE outbox SET delivered_at = NULL", [])
        .unwrap();

    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.created(), 0, "{report}");
    let issues = server().issues(&setup.project);
    assert_eq!(issues.len(), 1, "exactly one partner: {issues:?}");
    assert_eq!(setup.partner_id(&key), id, "linked again to the same issue");
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn two_redmine_projects_sync_with_each_other() {
    let server = server();
    let dev = server.project("rr-dev");
    let ops = server.project("rr-ops");
    let setup = setup_with("rr-unused", |config| {
        let key_file = config["synchronizations"][0]["b"]["tracker"]["api_key_file"].clone();
        let tracker = config["synchronizations"][0]["b"]["tracker"].clone();
        assert!(key_file.is_string());
        config["synchronizations"][0]["a"] = json!({"project": dev, "tracker": tracker});
        config["synchronizations"][0]["b"]["project"] = json!(ops);
        config["synchronizations"][0]["fields"] = json!([
            {"id": "subject", "direction": "both", "a": {"field": "subject"}, "b": {"field": "subject"}},
            {"id": "team", "direction": "both", "a": {"field": "cf_2"}, "b": {"field": "cf_2"}},
            {"id": "assignee", "direction": "both", "a": {"field": "assigned_to"}, "b": {"field": "assigned_to"}}
        ]);
    });
    let id = server.create_issue(
        &dev,
        json!({"subject": "Across projects", "assigned_to_id": 7,
               "custom_fields": [{"id": cf::TEAM, "value": "Beta"}]}),
        Some("alice"),
    );
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let copies = server.issues(&ops);
    assert_eq!(copies.len(), 1, "{report}");
    let copy_id = copies[0]["id"].as_u64().unwrap();
    let copy = server.issue(copy_id);
    assert_eq!(copy["subject"], "Across projects");
    assert_eq!(copy["assigned_to"]["id"], 7);
    assert_eq!(custom(&copy, cf::TEAM), "Beta");

    server.update_issue(copy_id, json!({"subject": "Edited in ops"}), Some("bob"));
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(server.issue(id)["subject"], "Edited in ops");
    setup.round();
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn more_issues_than_a_page_changed_within_seconds_are_all_found() {
    let setup = setup("many");
    let server = server();
    // 105 issues, created as fast as Redmine takes them: many share a second, and
    // they do not fit one page of 100.
    let ids: Vec<u64> = (0..105)
        .map(|n| {
            server.create_issue(
                &setup.project,
                json!({"subject": format!("Bulk {n}")}),
                Some("alice"),
            )
        })
        .collect();
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.created(), 105, "{report}");

    for id in &ids {
        server.update_issue(
            *id,
            json!({"subject": format!("Bulk #{id} edited")}),
            Some("bob"),
        );
    }
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    for id in &ids {
        assert_eq!(
            setup.partner_of(*id).fields["summary"],
            json!(format!("Bulk #{id} edited"))
        );
    }
    setup.round();
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

/// A Redmine issue synced to SQLite, then its team set to Gamma by bob in Redmine:
/// a value the team relationship's outgoing mapping refuses. The setup, the Redmine
/// id and the SQLite key.
fn team_gamma_cannot_be_sent(
    test: &str,
) -> (fieldsync_tests::redmine_scenario::RedmineSetup, u64, String) {
    let setup = setup_with(test, |config| {
        let fields = config["synchronizations"][0]["fields"]
            .as_array_mut()
            .unwrap();
        let team = fields.iter_mut().find(|f| f["id"] == "team").unwrap();
        team["b"]["outgoing"] = json!({"mapping": "fieldsync.value-map",
            "options": {"map": {"Alpha": "Alpha", "Beta": "Beta"}, "unmapped": "error"}});
    });
    let server = server();
    let id = server.create_issue(
        &setup.project,
        json!({"subject": "Team change", "custom_fields": [{"id": cf::TEAM, "value": "Alpha"}]}),
        Some("alice"),
    );
    setup.round();
    let key = setup.partner_of(id).key;
    server.update_issue(
        id,
        json!({"custom_fields": [{"id": cf::TEAM, "value": "Gamma"}]}),
        Some("bob"),
    );
    (setup, id, key)
}

#[test]
fn a_redmine_change_that_cannot_be_sent_waits_and_goes_once_fixed() {
    let (setup, id, key) = team_gamma_cannot_be_sent("send-fails");
    let server = server();
    let report = setup.round();
    let failure = report.failures().next().expect("the send fails");
    assert!(failure.error.contains("Gamma"), "{}", failure.error);
    assert_eq!(setup.issue(&key).fields["team"], "Alpha");

    // Held: a later edit waits with it, then both go once the value can be sent.
    server.update_issue(id, json!({"subject": "Team change, later"}), Some("bob"));
    let held = setup.round();
    assert_eq!(held.failures().count(), 1, "{held}");
    server.update_issue(
        id,
        json!({"custom_fields": [{"id": cf::TEAM, "value": "Beta"}]}),
        Some("bob"),
    );
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let issue = setup.issue(&key);
    assert_eq!(issue.fields["team"], "Beta");
    assert_eq!(issue.fields["summary"], "Team change, later");
    assert!(setup.engine.control().failures().unwrap().is_empty());
    setup.round();
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn an_idle_scan_costs_one_request_and_reads_only_what_may_have_changed() {
    let server = server();
    let project = server.project("idle-scan");
    let old: Vec<u64> = (0..30)
        .map(|n| {
            server.create_issue(
                &project,
                json!({"subject": format!("Old {n}")}),
                Some("alice"),
            )
        })
        .collect();
    // Alone at the end, more than the proof margin (3 s) after the others: nothing
    // later proves it unchanged, and the others are proven by it.
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let last = server.create_issue(&project, json!({"subject": "Newest"}), Some("alice"));

    let dir = tempfile::tempdir().unwrap();
    let spec: fieldsync_core::config::TrackerSpec =
        serde_json::from_value(server.tracker_spec(&dir.path().join("key"))).unwrap();
    let tracker = fieldsync_redmine::connect(&spec, dir.path()).unwrap();
    use fieldsync_core::Tracker;
    let first = tracker
        .scan_changes(&project, &Default::default(), "fieldsync")
        .unwrap();
    assert_eq!(first.issues.len(), 31, "a first scan lists every issue");
    let mut cursor = first.next;
    let newest = format!("{project}-{last}");
    let idle_scan = |cursor: &mut fieldsync_core::store::TrackerCursor| {
        let before = tracker.requests_sent();
        let idle = tracker.scan_changes(&project, cursor, "fieldsync").unwrap();
        assert_eq!(tracker.requests_sent() - before, 1, "one list request");
        *cursor = idle.next;
        idle.issues
            .into_iter()
            .map(|issue| issue.key)
            .collect::<Vec<_>>()
    };
    // Right after: only the newest issue may still change under its stamp.
    let keys = idle_scan(&mut cursor);
    assert!(keys.iter().all(|key| key == &newest), "{keys:?}");
    // Once the server's clock has passed it by the margin, it is read a last time,
    // then known unchanged: an idle scan reads nothing.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let keys = idle_scan(&mut cursor);
    assert!(keys.iter().all(|key| key == &newest), "{keys:?}");
    let keys = idle_scan(&mut cursor);
    assert!(keys.is_empty(), "nothing may have changed: {keys:?}");
    // A change is found, also of an issue the cursor had as unchanged.
    let some_old = old[29];
    server.update_issue(some_old, json!({"subject": "Changed"}), Some("bob"));
    let changed = tracker
        .scan_changes(&project, &cursor, "fieldsync")
        .unwrap();
    assert!(
        changed
            .issues
            .iter()
            .any(|issue| issue.key == format!("{project}-{some_old}")),
        "{:?}",
        changed.issues
    );
}

#[test]
fn two_redmine_servers_sync_a_project_of_the_same_name() {
    let one = server();
    let two = fieldsync_tests::redmine::RedmineServer::start();
    let on_one = one.project("twin");
    // The same identifier on the second server.
    two.create_project(&on_one);
    let dir = tempfile::tempdir().unwrap();
    let config = |second_ledger: bool| {
        let mut b = json!({"project": on_one,
                           "tracker": two.tracker_spec(&dir.path().join("two.key"))});
        if second_ledger {
            b["ledger"] = json!("two-ledger.db");
        }
        json!({"synchronizations": [{
            "id": "twins",
            "a": {"project": on_one, "tracker": one.tracker_spec(&dir.path().join("one.key"))},
            "b": b,
            "fields": [{"id": "subject", "direction": "both",
                        "a": {"field": "subject"}, "b": {"field": "subject"}}]
        }]})
    };
    let file = dir.path().join("sync.json");
    let plugins = tempfile::tempdir().unwrap();

    // One ledger for both would mix their `IDENT-N` keys: refused, saying what to do.
    std::fs::write(&file, config(false).to_string()).unwrap();
    let refused = fieldsync_tests::redmine_scenario::engine(&file, &plugins).unwrap_err();
    assert!(
        refused.contains("give one side a `ledger` of its own"),
        "{refused}"
    );

    std::fs::write(&file, config(true).to_string()).unwrap();
    let engine = fieldsync_tests::redmine_scenario::engine(&file, &plugins).unwrap();
    let id = one.create_issue(&on_one, json!({"subject": "Across servers"}), Some("alice"));
    let report = engine.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let copies = two.issues(&on_one);
    assert_eq!(copies.len(), 1, "{report}");
    let copy = copies[0]["id"].as_u64().unwrap();
    assert_eq!(copies[0]["subject"], "Across servers");
    two.update_issue(
        copy,
        json!({"subject": "Edited on server two"}),
        Some("bob"),
    );
    let report = engine.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(one.issue(id)["subject"], "Edited on server two", "{report}");
    engine.run_round();
    let quiet = engine.run_round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
}

#[test]
fn a_value_redmine_drops_silently_is_a_failure_naming_the_field() {
    // bob is not a member of this project: Redmine takes his PUT (204) and changes
    // nothing he may not edit.
    let server = server();
    let project = "pnotamember";
    server.create_project_with(project, &[5, 6]);
    let setup = setup_with("unused-member", |config| {
        config["synchronizations"][0]["b"]["project"] = json!(project);
        config["synchronizations"][0]["sync_user"] = json!("bob");
    });
    let id = server.create_issue(project, json!({"subject": "Owned by alice"}), Some("alice"));
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let key = setup
        .store
        .local_partner(SYNC, &format!("{project}-{id}"))
        .unwrap()
        .expect("the Redmine issue reached SQLite");

    setup.edit(&key, json!({"summary": "Changed in SQLite"}), "ann");
    let report = setup.round();
    let failure = report.failures().next().expect("the update fails");
    assert!(
        failure
            .error
            .contains("left subject unchanged: user `bob` may not set it"),
        "{}",
        failure.error
    );
    assert_eq!(server.issue(id)["subject"], "Owned by alice");
}

#[test]
fn a_skipped_redmine_send_stays_skipped() {
    let (setup, id, key) = team_gamma_cannot_be_sent("skip-send");
    let server = server();
    assert_eq!(setup.round().failures().count(), 1);
    let control = setup.engine.control();
    let failed = control.failures().unwrap();
    assert_eq!(failed.len(), 1);
    control.skip(&failed[0].id, "tester").unwrap();
    let after_skip = setup.round();
    assert_eq!(after_skip.failures().count(), 0, "{after_skip}");

    // A later edit of another field goes; the skipped change does not come back.
    server.update_issue(id, json!({"subject": "Skip, then edit"}), Some("bob"));
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let issue = setup.issue(&key);
    assert_eq!(issue.fields["summary"], "Skip, then edit");
    assert_eq!(
        issue.fields["team"], "Alpha",
        "the skipped value stays unsent"
    );
    assert!(setup.engine.control().failures().unwrap().is_empty());
}
