//! End to end through the engine API: the demo projects in real SQLite files, the
//! example plugins loaded from a folder, rounds of both queues.

use std::path::Path;

use fieldsync_core::store::FailureQuery;
use fieldsync_core::{SyncLedger, Tracker};
use fieldsync_demo::{self as demo, StoreLayout};
use fieldsync_tests::plugin_dir;
use fieldsync_tests::scenario::{
    edit, engine, issue, partner, round, setup, setup_with, DEMO_PLUGINS,
};
use serde_json::{json, Value};

#[test]
fn a_new_issue_appears_on_the_other_side_with_mapped_values() {
    let setup = setup(StoreLayout::TwoFiles);
    let report = round(&setup);
    assert!(report.failures().next().is_none());
    assert_eq!(
        report.created(),
        4,
        "3 support issues to dev, 1 dev issue to support"
    );

    let dev = partner(&setup, "SUP-1");
    assert_eq!(
        dev.issue_type, "Bug",
        "issue_type_map turns an Incident into a Bug"
    );
    assert_eq!(dev.value("title"), &json!("Checkout fails with error 500"));
    assert_eq!(dev.value("priority"), &json!("P1"), "value map");
    assert_eq!(
        dev.value("size"),
        &json!("M"),
        "5 points through the loaded plugin"
    );
    assert_eq!(
        dev.value("owner"),
        &json!("amoreau"),
        "user matched by e-mail"
    );
    assert_eq!(dev.value("labels"), &json!(["checkout", "customer"]));
    assert_eq!(
        dev.value("body"),
        &json!("## Steps\n1. Add an item\n1. Press **Pay**\n\nSee `orders.log`."),
        "wiki markup → Markdown by the loaded plugin"
    );
    let trimmed = partner(&setup, "SUP-2");
    assert_eq!(
        trimmed.value("title"),
        &json!("Invoice PDF shows wrong VAT")
    );
    assert_eq!(trimmed.value("owner"), &json!("bokafor"));

    // The dev issue went the other way; status flows b-to-a through a value map.
    let support = issue(&setup.support, "SUP-4");
    assert_eq!(support.value("summary"), &json!("Upgrade the payment SDK"));
    assert_eq!(support.value("priority"), &json!("High"));
    assert_eq!(support.value("points"), &json!(5), "size M → 5 points");
    assert_eq!(support.value("status"), &json!("In progress"));
    assert_eq!(
        support.value("description"),
        &json!("Version *4.2* fixes the {{timeout}} bug.")
    );
}

#[test]
fn create_screen_fields_are_set_at_creation_and_the_rest_by_update() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    // SUP's create screen has summary, description, priority, labels; description is
    // mapped by a plugin, which never runs while creating.
    let history = setup.support.history_since("SUP-4", 0).unwrap();
    let seq_of = |field: &str| {
        history
            .iter()
            .find(|entry| entry.field == field)
            .unwrap_or_else(|| panic!("{field} was written"))
            .seq
    };
    let created = seq_of(fieldsync_core::store::CREATED_FIELD);
    for field in ["summary", "priority", "labels"] {
        assert_eq!(
            seq_of(field) - created,
            history
                .iter()
                .position(|e| e.field == field)
                .map(|p| p as i64)
                .unwrap(),
            "{field} is written in the creating transaction"
        );
    }
    let creation_end = ["summary", "priority", "labels"]
        .map(seq_of)
        .into_iter()
        .max()
        .unwrap();
    for field in ["description", "points", "status"] {
        assert!(
            seq_of(field) > creation_end,
            "{field} is set by the update after creation"
        );
    }
    assert!(history.iter().all(|entry| entry.author == "fieldsync"));
}

#[test]
fn an_edit_sends_only_the_changed_field() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let before = setup.dev.last_seq().unwrap();
    edit(&setup.support, "SUP-1", json!({"priority": "Low"}), "alice");

    let report = round(&setup);
    assert_eq!(report.messages_sent(), 1);
    let to_dev = &report.directions[0];
    assert_eq!(
        to_dev.mappings_called, 2,
        "one outgoing and one incoming call"
    );
    let dev = partner(&setup, "SUP-1");
    assert_eq!(dev.value("priority"), &json!("P4"));
    let changes = setup.dev.history_since(&dev.key, before).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].field, "priority");
    assert_eq!(changes[0].author, "fieldsync");

    let quiet = round(&setup);
    assert_eq!(
        quiet.messages_sent(),
        0,
        "the sync's own write is not echoed back"
    );
}

#[test]
fn edits_on_both_sides_converge_on_the_newer_one_without_echo() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let dev_key = partner(&setup, "SUP-1").key;
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "Older edit"}),
        "alice",
    );
    edit(
        &setup.dev,
        &dev_key,
        json!({"title": "Newer edit", "labels": ["x"]}),
        "amoreau",
    );

    let report = round(&setup);
    assert_eq!(report.messages_sent(), 2);
    assert_eq!(
        issue(&setup.support, "SUP-1").value("summary"),
        &json!("Newer edit")
    );
    assert_eq!(
        issue(&setup.dev, &dev_key).value("title"),
        &json!("Newer edit")
    );
    assert_eq!(
        issue(&setup.support, "SUP-1").value("labels"),
        &json!(["x"])
    );
    let kept: Vec<&String> = report.applied().flat_map(|a| &a.kept_newer).collect();
    assert_eq!(kept, ["title"], "dev kept its newer title");

    for _ in 0..2 {
        assert_eq!(round(&setup).messages_sent(), 0, "no echo messages");
    }
}

/// The failures the support side records for messages from `source_key`.
fn recorded_failures(
    setup: &fieldsync_tests::scenario::Setup,
    source_key: &str,
) -> Vec<fieldsync_core::store::FailureRecord> {
    setup
        .support
        .failures(&FailureQuery {
            source_key: Some(source_key),
            ..FailureQuery::default()
        })
        .unwrap()
}

/// Sets the time of the newest history entry of `field` of `key`, as a store whose
/// clock runs differently would have written it.
fn set_change_time(store_file: &Path, key: &str, field: &str, micros: i64) {
    let raw = rusqlite::Connection::open(store_file).unwrap();
    let changed = raw
        .execute(
            "UPDATE history SET time = ?3 WHERE seq = \
             (SELECT max(seq) FROM history WHERE issue_key = ?1 AND field = ?2)",
            rusqlite::params![key, field, micros],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_change_already_synced_never_beats_a_later_one_whatever_the_clocks_say() {
    // One file or two: the outbox lookup of the conflict rule must hold in both.
    for layout in [StoreLayout::TwoFiles, StoreLayout::OneFile] {
        let setup = setup(layout);
        round(&setup);
        let dev_key = partner(&setup, "SUP-1").key;
        edit(
            &setup.dev,
            &dev_key,
            json!({"title": "From dev"}),
            "amoreau",
        );
        round(&setup);
        assert_eq!(
            issue(&setup.support, "SUP-1").value("summary"),
            &json!("From dev")
        );
        // Later, support edits the field, but its clock is an hour behind dev's.
        edit(
            &setup.support,
            "SUP-1",
            json!({"summary": "From support"}),
            "alice",
        );
        let dev_history = setup.dev.history_since(&dev_key, 0).unwrap();
        let dev_change = dev_history
            .iter()
            .rev()
            .find(|e| e.field == "title")
            .unwrap()
            .time
            .0;
        set_change_time(
            &setup.files.support_store,
            "SUP-1",
            "summary",
            dev_change - 3_600_000_000,
        );
        round(&setup);
        assert_eq!(
            issue(&setup.dev, &dev_key).value("title"),
            &json!("From support")
        );
        assert_eq!(
            issue(&setup.support, "SUP-1").value("summary"),
            &json!("From support")
        );
    }
}

#[test]
fn on_an_exact_tie_side_a_wins() {
    // One file or two: the outbox lookup of the conflict rule must hold in both.
    for layout in [StoreLayout::TwoFiles, StoreLayout::OneFile] {
        let setup = setup(layout);
        round(&setup);
        let dev_key = partner(&setup, "SUP-1").key;
        edit(
            &setup.support,
            "SUP-1",
            json!({"summary": "A says"}),
            "alice",
        );
        edit(&setup.dev, &dev_key, json!({"title": "B says"}), "amoreau");
        set_change_time(&setup.files.support_store, "SUP-1", "summary", 1_000);
        set_change_time(&setup.files.dev_store, &dev_key, "title", 1_000);
        round(&setup);
        assert_eq!(
            issue(&setup.support, "SUP-1").value("summary"),
            &json!("A says")
        );
        assert_eq!(issue(&setup.dev, &dev_key).value("title"), &json!("A says"));
        assert_eq!(round(&setup).messages_sent(), 0);
    }
}

#[test]
fn a_one_way_field_never_flows_back() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let dev_key = partner(&setup, "SUP-1").key;
    // owner only flows support → dev; status only dev → support.
    edit(&setup.dev, &dev_key, json!({"owner": "bokafor"}), "amoreau");
    edit(
        &setup.support,
        "SUP-1",
        json!({"status": "Closed"}),
        "alice",
    );
    let report = round(&setup);
    assert_eq!(report.messages_sent(), 0);
    assert_eq!(
        issue(&setup.support, "SUP-1").value("assignee"),
        &json!("alice")
    );
    assert_eq!(issue(&setup.dev, &dev_key).value("state"), &json!(null));

    edit(&setup.dev, &dev_key, json!({"state": "Done"}), "amoreau");
    round(&setup);
    assert_eq!(
        issue(&setup.support, "SUP-1").value("status"),
        &json!("Resolved")
    );
}

#[test]
fn the_example_plugin_maps_both_ways_in_the_loop() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let dev_key = partner(&setup, "SUP-1").key;
    edit(&setup.dev, &dev_key, json!({"size": "L"}), "amoreau");
    round(&setup);
    assert_eq!(issue(&setup.support, "SUP-1").value("points"), &json!(8));
    edit(&setup.support, "SUP-1", json!({"points": 1}), "alice");
    round(&setup);
    assert_eq!(issue(&setup.dev, &dev_key).value("size"), &json!("XS"));
}

#[test]
fn a_resync_sends_the_selected_fields_again() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let dev_key = partner(&setup, "SUP-1").key;
    // Someone "repaired" the dev issue as the sync user: no change is detected.
    edit(
        &setup.dev,
        &dev_key,
        json!({"title": "drifted", "priority": "P4"}),
        "fieldsync",
    );
    assert_eq!(round(&setup).messages_sent(), 0);

    let queued = setup
        .engine
        .request_resync("SUP-1", &["summary".to_owned()])
        .unwrap();
    assert_eq!(queued, ["support-dev: summary"]);
    let report = round(&setup);
    assert_eq!(report.messages_sent(), 1);
    assert_eq!(
        report.directions[0].mappings_called, 2,
        "only summary is sent"
    );
    let dev = issue(&setup.dev, &dev_key);
    assert_eq!(dev.value("title"), &json!("Checkout fails with error 500"));
    assert_eq!(
        dev.value("priority"),
        &json!("P4"),
        "not selected, not sent"
    );
    assert_eq!(round(&setup).messages_sent(), 0, "the request is done");

    let error = setup
        .engine
        .request_resync("SUP-1", &["nope".to_owned()])
        .unwrap_err();
    assert!(
        error.to_string().contains("sends no field `nope` from SUP"),
        "{error}"
    );
}

#[test]
fn a_mapping_error_fails_one_issue_and_the_others_keep_syncing() {
    // Without a default, a priority missing from the table is an error.
    let without_default = |config: &mut Value| {
        let options = &mut config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"];
        options.as_object_mut().unwrap().remove("default");
    };
    let setup = setup_with(StoreLayout::TwoFiles, without_default);
    edit(
        &setup.support,
        "SUP-2",
        json!({"priority": "Blocker"}),
        "alice",
    );
    let report = round(&setup);
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].issue_key(), Some("SUP-2"));
    let error = &failures[0].error;
    for part in [
        "relationship `priority` (A.priority → B.priority)",
        "fieldsync.value-map",
        "Blocker",
    ] {
        assert!(error.contains(part), "`{part}` in: {error}");
    }
    assert_eq!(report.created(), 3, "the other issues went through");
    let failed = recorded_failures(&setup, "SUP-2");
    assert_eq!(failed.len(), 1, "the failure is recorded with the message");
    assert_eq!(failed[0].context.relationship.as_deref(), Some("priority"));
    assert_eq!(
        failed[0].context.plugin.as_deref(),
        Some("fieldsync.builtin")
    );

    // Still failing next round, nothing else moves.
    assert_eq!(round(&setup).failures().count(), 1);

    // With the configuration fixed, the waiting message goes through.
    let mut config = demo::config_json(StoreLayout::TwoFiles);
    config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"]["unmapped"] =
        json!("keep");
    without_default(&mut config);
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let fixed = engine(&setup.files.config, setup.plugins.path()).unwrap();
    let report = fixed.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(
        partner(&setup, "SUP-2").value("priority"),
        &json!("Blocker")
    );
    assert!(setup
        .support
        .failures(&FailureQuery::default())
        .unwrap()
        .is_empty());
}

#[test]
fn a_message_delivered_twice_is_applied_once() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let before = setup.dev.last_seq().unwrap();
    // Pretend the delivery marks were lost (a crash between apply and mark).
    let raw = rusqlite::Connection::open(&setup.files.support_store).unwrap();
    let reset = raw
        .execute("UPDATE outbox SET delivered_at = NULL", [])
        .unwrap();
    assert_eq!(reset, 3);

    let report = round(&setup);
    assert_eq!(report.directions[0].duplicates_skipped, 3);
    assert_eq!(report.applied().count(), 0);
    assert_eq!(
        setup.dev.last_seq().unwrap(),
        before,
        "nothing was written again"
    );
    assert_eq!(setup.dev.issues("DEV").unwrap().len(), 4);
}

#[test]
fn both_projects_in_one_store_file_sync_too() {
    let setup = setup(StoreLayout::OneFile);
    assert_eq!(setup.files.support_store, setup.files.dev_store);
    let report = round(&setup);
    assert_eq!(report.created(), 4);
    assert_eq!(
        partner(&setup, "SUP-3").value("title"),
        &json!("Document the refund process")
    );
    edit(
        &setup.support,
        "SUP-3",
        json!({"summary": "Document refunds"}),
        "alice",
    );
    round(&setup);
    assert_eq!(
        partner(&setup, "SUP-3").value("title"),
        &json!("Document refunds")
    );
    assert_eq!(round(&setup).messages_sent(), 0);
}

#[test]
fn configuration_mistakes_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let files = demo::create(dir.path(), StoreLayout::TwoFiles).unwrap();
    let plugins = plugin_dir(&[]);
    let mut config = demo::config_json(StoreLayout::TwoFiles);
    let fields = &mut config["synchronizations"][0]["fields"];
    fields[1]["a"]["outgoing"]["mapping"] = json!("example.wiki-to-markdown");
    fields[3]["b"]["field"] = json!("sizes");
    fields[4]["a"]["outgoing"] = json!({"mapping": "fieldsync.number"});
    fields[2]["b"]["incoming"]["options"] = json!({"map": "not a map"});
    std::fs::write(&files.config, config.to_string()).unwrap();

    let error = engine(&files.config, plugins.path()).unwrap_err();
    let file = files.config.display();
    let lines: Vec<&str> = error.lines().collect();
    assert_eq!(lines.len(), 7, "every problem at once:\n{error}");
    // Options the mapping refuses are blamed on the options, not on the mapping.
    assert!(
        error.contains(&format!(
            "{file}: synchronizations[0].fields[2].b.incoming.options: "
        )),
        "{error}"
    );
    assert!(lines[0].starts_with(&format!(
        "{file}: synchronizations[0].fields[1].a.outgoing.mapping: no outgoing mapping `example.wiki-to-markdown` is available"
    )), "{error}");
    assert!(lines[1].starts_with(&format!(
        "{file}: synchronizations[0].fields[1].a.incoming.mapping: no incoming mapping `example.markdown-to-wiki`"
    )), "{error}");
    assert!(
        error.contains(&format!(
            "{file}: synchronizations[0].fields[3].b.field: project DEV has no field `sizes`"
        )),
        "{error}"
    );
    assert!(error.contains(&format!(
        "{file}: synchronizations[0].fields[4].a.outgoing.mapping: outgoing mapping `fieldsync.number` does not accept field `labels` of type `labels`"
    )), "{error}");

    std::fs::remove_file(&files.dev_store).unwrap();
    let error = engine(&files.config, plugins.path()).unwrap_err();
    assert!(
        error.contains("synchronizations[0].b.store: ")
            && error.contains("dev.db: store file not found"),
        "{error}"
    );
}

#[test]
fn many_issues_on_several_workers_all_arrive() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        config["workers"] = json!(4);
    });
    for n in 0..120 {
        let fields = json!({"summary": format!("issue {n}"), "points": n % 13, "labels": [format!("l{}", n % 5)]});
        let issue = fieldsync_core::model::NewIssue {
            project: "SUP".into(),
            issue_type: "Task".into(),
            fields: serde_json::from_value(fields).unwrap(),
        };
        fieldsync_core::store::create_and_edit(&setup.support, &issue, "alice").unwrap();
    }
    let report = round(&setup);
    assert_eq!(report.created(), 124);
    for n in 0..120 {
        edit(
            &setup.support,
            &format!("SUP-{}", n + 4),
            json!({"summary": format!("edited {n}")}),
            "bob",
        );
    }
    let report = round(&setup);
    assert_eq!(report.messages_sent(), 120);
    let titles: Vec<Value> = (0..120)
        .map(|n| {
            partner(&setup, &format!("SUP-{}", n + 4))
                .value("title")
                .clone()
        })
        .collect();
    let expected: Vec<Value> = (0..120).map(|n| json!(format!("edited {n}"))).collect();
    assert_eq!(titles, expected);
}

#[test]
fn issue_type_filters_limit_what_is_synced() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        let sync = &mut config["synchronizations"][0];
        sync["issue_types"] = json!(["Incident", "Bug"]);
        sync["fields"][0]["issue_types"] = json!(["Bug"]);
    });
    let report = round(&setup);
    assert_eq!(report.created(), 2, "SUP-3 and DEV-1 are Tasks: {report}");
    assert!(setup
        .support
        .sync_state("support-dev", "SUP-3")
        .unwrap()
        .is_none());
    let dev = partner(&setup, "SUP-1");
    assert_eq!(
        dev.value("title"),
        &json!(null),
        "summary only syncs from Bugs"
    );
    assert_eq!(dev.value("priority"), &json!("P1"));
}

#[test]
fn a_value_the_target_field_refuses_fails_that_issue_with_the_field_named() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        let summary = &mut config["synchronizations"][0]["fields"][0];
        summary["direction"] = json!("a-to-b");
        summary["a"] = json!({"field": "points"});
        summary["b"] = json!({"field": "title"});
    });
    let report = round(&setup);
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 3, "every SUP issue has points: {report}");
    assert!(
        failures[0]
            .error
            .contains("field `title` of project DEV is of type `text` and takes a string, not 5"),
        "{}",
        failures[0].error
    );
    assert_eq!(report.created(), 1, "DEV-1 still reaches SUP");
    assert!(
        setup.dev.issues("DEV").unwrap().len() == 1,
        "nothing half-created on DEV"
    );
}

#[test]
fn a_write_the_target_store_refuses_mid_group_fails_only_its_issue_once() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    // The target store itself refuses one value, while the step is being written
    // (the engine's checks let it through): its write group, applied without a
    // savepoint per step, is dropped whole and applied again step by step.
    rusqlite::Connection::open(&setup.files.dev_store)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON history \
             WHEN NEW.field = 'title' AND NEW.new = '\"poison\"' \
             BEGIN SELECT RAISE(ABORT, 'poisoned title'); END;",
        )
        .unwrap();
    for (key, summary) in [
        ("SUP-1", "first fine"),
        ("SUP-2", "poison"),
        ("SUP-3", "second fine"),
    ] {
        edit(&setup.support, key, json!({ "summary": summary }), "alice");
    }
    let title_before = partner(&setup, "SUP-2").value("title").clone();

    let report = round(&setup);
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0].issue_key(), Some("SUP-2"));
    assert!(
        failures[0].error.contains("poisoned title"),
        "{}",
        failures[0].error
    );
    assert_eq!(report.applied_count(), 2, "{report}");
    assert_eq!(
        partner(&setup, "SUP-1").value("title"),
        &json!("first fine")
    );
    assert_eq!(
        partner(&setup, "SUP-3").value("title"),
        &json!("second fine")
    );
    assert_eq!(partner(&setup, "SUP-2").value("title"), &title_before);
    let failed = recorded_failures(&setup, "SUP-2");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].attempts, 1,
        "the dropped first try is not counted"
    );
    let titles: i64 = rusqlite::Connection::open(&setup.files.dev_store)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM history WHERE field = 'title' AND new IN \
             ('\"first fine\"', '\"second fine\"')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(titles, 2, "each written once");
}

#[test]
fn an_issue_created_before_its_update_step_failed_is_never_created_twice() {
    let setup = setup(StoreLayout::TwoFiles);
    // `XXL` is no size of the default scale: size-to-points fails after SUP created
    // the issue (points are not on its create screen).
    edit(&setup.dev, "DEV-1", json!({"size": "XXL"}), "amoreau");
    let report = round(&setup);
    let failure = report.failures().next().expect("DEV-1 fails");
    assert_eq!(failure.issue_key(), Some("DEV-1"));
    assert!(
        failure
            .error
            .contains("relationship `points` (B.size → A.points)"),
        "{}",
        failure.error
    );
    assert_eq!(
        setup.support.issues("SUP").unwrap().len(),
        4,
        "created once"
    );
    round(&setup);
    assert_eq!(
        setup.support.issues("SUP").unwrap().len(),
        4,
        "the retry does not create again"
    );

    // A scale that knows XXL lets the waiting message through, into the same issue.
    let mut config = demo::config_json(StoreLayout::TwoFiles);
    config["synchronizations"][0]["fields"][3]["a"]["incoming"]["options"] = json!({"scale": [
        {"size": "S", "up_to": 3}, {"size": "M", "up_to": 8}, {"size": "XXL", "points": 40}]});
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let fixed = engine(&setup.files.config, setup.plugins.path()).unwrap();
    let report = fixed.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(setup.support.issues("SUP").unwrap().len(), 4);
    assert_eq!(issue(&setup.support, "SUP-4").value("points"), &json!(40));
    let state = setup
        .dev
        .sync_state("support-dev", "DEV-1")
        .unwrap()
        .unwrap();
    assert_eq!(
        state.partner.as_deref(),
        Some("SUP-4"),
        "linked on both sides"
    );
}

#[test]
fn an_outgoing_failure_is_retried_until_the_issue_can_be_sent() {
    // Summaries go through the number mapping: only a numeric one can be sent.
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        let summary = &mut config["synchronizations"][0]["fields"][0];
        summary["direction"] = json!("a-to-b");
        summary["a"] = json!({"field": "summary", "outgoing": {"mapping": "fieldsync.number"}});
        summary["b"] = json!({"field": "title", "incoming": {"mapping": "fieldsync.text"}});
    });
    let report = round(&setup);
    let failed: Vec<&str> = report.failures().filter_map(|f| f.issue_key()).collect();
    assert_eq!(failed, ["SUP-1", "SUP-2", "SUP-3"]);
    assert!(report.failures().all(|f| f
        .error
        .contains("relationship `summary` (A.summary → B.title)")));
    assert_eq!(round(&setup).failures().count(), 3, "retried every round");

    edit(&setup.support, "SUP-2", json!({"summary": "42"}), "alice");
    let report = round(&setup);
    assert_eq!(report.failures().count(), 2);
    let dev = partner(&setup, "SUP-2");
    assert_eq!(dev.value("title"), &json!("42"));
    assert_eq!(
        dev.value("priority"),
        &json!("P3"),
        "sent whole, as a new issue"
    );
}

#[test]
fn issue_types_and_field_targets_are_checked_against_the_projects() {
    let dir = tempfile::tempdir().unwrap();
    let files = demo::create(dir.path(), StoreLayout::TwoFiles).unwrap();
    let plugins = plugin_dir(DEMO_PLUGINS);
    let mut config = demo::config_json(StoreLayout::TwoFiles);
    let sync = &mut config["synchronizations"][0];
    sync["issue_types"] = json!(["Incident", "Bug", "Story"]);
    sync["a"]["issue_type_map"] = json!({});
    sync["fields"][5]["b"]["outgoing"] = json!({"mapping": "fieldsync.text"});
    sync["fields"][6]["a"]["field"] = json!("summary");
    std::fs::write(&files.config, config.to_string()).unwrap();

    let error = engine(&files.config, plugins.path()).unwrap_err();
    let file = files.config.display();
    for expected in [
        format!("{file}: synchronizations[0].issue_types[2]: neither project has issue type `Story`"),
        format!("{file}: synchronizations[0].a.issue_type_map: issues of type `Bug` from DEV would be created as `Bug`, which project SUP does not have"),
        format!("{file}: synchronizations[0].fields[5].b.outgoing: is never used: the relationship's direction is a-to-b"),
        format!("{file}: synchronizations[0].fields[6].a.field: field `summary` is already written by relationship `summary`"),
    ] {
        assert!(error.contains(&expected), "missing `{expected}` in:\n{error}");
    }

    let mut config = demo::config_json(StoreLayout::TwoFiles);
    config["synchronizations"][0]["issue_types"] = json!(["Incident", "Task"]);
    std::fs::write(&files.config, config.to_string()).unwrap();
    let error = engine(&files.config, plugins.path()).unwrap_err();
    assert_eq!(
        error,
        format!("{file}: synchronizations[0].b.issue_type_map.Incident: issues created as `Bug` on DEV would never sync back: `issue_types` has `Incident` but not `Bug`")
    );
}

#[test]
fn a_message_held_up_for_rounds_never_overwrites_a_newer_edit_it_had_not_seen() {
    // Without the value map's `keep`, an unknown dev state fails the dev → support
    // message, while support → dev keeps flowing.
    let strict = |config: &mut Value| {
        let options = &mut config["synchronizations"][0]["fields"][6]["a"]["incoming"]["options"];
        options.as_object_mut().unwrap().remove("unmapped");
    };
    let setup = setup_with(StoreLayout::TwoFiles, strict);
    round(&setup);
    let dev_key = partner(&setup, "SUP-1").key;
    edit(
        &setup.dev,
        &dev_key,
        json!({"title": "Older, from dev", "state": "Weird"}),
        "amoreau",
    );
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "Newer, from support"}),
        "alice",
    );
    let report = round(&setup);
    assert_eq!(report.failures().count(), 1, "{report}");
    assert_eq!(
        issue(&setup.dev, &dev_key).value("title"),
        &json!("Newer, from support")
    );

    // Rounds later the held-up message goes through: it must not win.
    round(&setup);
    let mut config = demo::config_json(StoreLayout::TwoFiles);
    strict(&mut config);
    config["synchronizations"][0]["fields"][6]["a"]["incoming"]["options"]["unmapped"] =
        json!("keep");
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let fixed = engine(&setup.files.config, setup.plugins.path()).unwrap();
    let report = fixed.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(
        issue(&setup.support, "SUP-1").value("status"),
        &json!("Weird")
    );
    assert_eq!(
        issue(&setup.support, "SUP-1").value("summary"),
        &json!("Newer, from support")
    );
    assert_eq!(
        issue(&setup.dev, &dev_key).value("title"),
        &json!("Newer, from support")
    );
    assert_eq!(fixed.run_round().messages_sent(), 0);
}

#[test]
fn only_create_screen_fields_may_be_set_when_creating() {
    let setup = setup(StoreLayout::TwoFiles);
    let issue = fieldsync_core::model::NewIssue {
        project: "SUP".into(),
        issue_type: "Task".into(),
        fields: serde_json::from_value(json!({"summary": "x", "points": 3})).unwrap(),
    };
    let error = setup
        .support
        .create(&issue, "alice")
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("field `points` is not on the create screen of SUP Task issues (summary, description, priority, labels): set it once the issue exists"),
        "{error}"
    );
    let mut bad = issue.clone();
    bad.fields.insert("points".into(), json!("three"));
    let before = setup.support.issues("SUP").unwrap().len();
    let error = fieldsync_core::store::create_and_edit(&setup.support, &bad, "alice").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("field `points` of project SUP is of type `number`"),
        "{error}"
    );
    assert_eq!(
        setup.support.issues("SUP").unwrap().len(),
        before,
        "nothing half-made"
    );
    let created = fieldsync_core::store::create_and_edit(&setup.support, &issue, "alice").unwrap();
    assert_eq!(created.value("points"), &json!(3));
    let history = setup.support.history_since(&created.key, 0).unwrap();
    let fields: Vec<&str> = history.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["=created", "summary", "points"],
        "created, then edited"
    );
}

/// A sync left running for months must not write while nothing changes: after the
/// round that says all is quiet, idle rounds commit nothing to either store.
#[test]
fn idle_rounds_write_nothing_to_the_stores() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    round(&setup);
    // `data_version`, read on a connection of its own, changes when another
    // connection commits to the file.
    let watchers: Vec<rusqlite::Connection> = [&setup.files.support_store, &setup.files.dev_store]
        .into_iter()
        .map(|file| rusqlite::Connection::open(file).unwrap())
        .collect();
    let before: Vec<i64> = watchers
        .iter()
        .map(|connection| {
            connection
                .query_row("PRAGMA data_version", [], |row| row.get(0))
                .unwrap()
        })
        .collect();
    for _ in 0..20 {
        let report = round(&setup);
        assert_eq!(report.messages_sent(), 0);
    }
    let after: Vec<i64> = watchers
        .iter()
        .map(|connection| {
            connection
                .query_row("PRAGMA data_version", [], |row| row.get(0))
                .unwrap()
        })
        .collect();
    assert_eq!(before, after, "an idle round committed to a store");

    // An edit is still found and sent, and the next idle rounds are quiet again.
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "Checkout fails (again)"}),
        "alice",
    );
    let report = round(&setup);
    assert_eq!(report.messages_sent(), 1);
    assert_eq!(
        partner(&setup, "SUP-1").value("title"),
        &json!("Checkout fails (again)")
    );
}

/// A resync asked for after the partner's edit wins over it, on both sides: the sides
/// end equal (they used to end swapped, each holding the other's value, for good).
#[test]
fn a_resync_racing_a_partner_edit_leaves_both_sides_equal() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let dev = partner(&setup, "SUP-3").key;
    edit(
        &setup.dev,
        &dev,
        json!({"title": "Refunds: document them"}),
        "amoreau",
    );
    setup
        .engine
        .request_resync("SUP-3", &["summary".to_owned()])
        .unwrap();
    let report = round(&setup);
    assert!(report.failures().next().is_none(), "{report}");
    let resent = issue(&setup.support, "SUP-3").value("summary").clone();
    assert_eq!(resent, json!("Document the refund process"));
    assert_eq!(partner(&setup, "SUP-3").value("title"), &resent);
    assert_eq!(round(&setup).messages_sent(), 0, "settled");

    // An edit made after the resync was asked for wins over it.
    setup
        .engine
        .request_resync("SUP-3", &["summary".to_owned()])
        .unwrap();
    edit(
        &setup.dev,
        &dev,
        json!({"title": "Refunds, documented"}),
        "amoreau",
    );
    round(&setup);
    assert_eq!(
        issue(&setup.support, "SUP-3").value("summary"),
        &json!("Refunds, documented")
    );
    assert_eq!(
        partner(&setup, "SUP-3").value("title"),
        &json!("Refunds, documented")
    );
}

/// A long run with steady edits keeps the store bounded: delivered messages older
/// than the retention go (each issue's newest stays, the conflict rule reads it).
#[test]
fn delivered_messages_are_pruned_after_the_retention_and_the_store_stays_bounded() {
    // About one second of retention, so that a few seconds are "months".
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        config["retention_days"] = json!(1.0 / 86_400.0);
    });
    round(&setup);
    let outbox_rows = || -> usize {
        let connection = rusqlite::Connection::open(&setup.files.support_store).unwrap();
        connection
            .query_row("SELECT count(*) FROM outbox", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|count| count as usize)
            .unwrap()
    };
    let keys = ["SUP-1", "SUP-2", "SUP-3", "SUP-4"];
    let mut kept = Vec::new();
    let started = std::time::Instant::now();
    let mut edits = 0;
    while started.elapsed() < std::time::Duration::from_secs(6) {
        let key = keys[edits % keys.len()];
        edit(
            &setup.support,
            key,
            json!({"summary": format!("edit {edits}")}),
            "alice",
        );
        let report = round(&setup);
        assert_eq!(report.messages_sent(), 1, "{report}");
        edits += 1;
        // Sampled every half second: from 2 s on, the first messages have aged out.
        let next_sample = std::time::Duration::from_millis(500) * (kept.len() as u32 + 1);
        if started.elapsed() >= next_sample {
            kept.push(outbox_rows());
        }
    }
    let rows = outbox_rows();
    println!("{edits} edits, {rows} outbox rows left; kept over time: {kept:?}");
    assert!(edits > 100, "only {edits} edits in 6 s");
    assert!(rows < edits / 2, "{rows} of {edits} messages still kept");
    // Steady: what is kept stops growing once the first messages age out. (The
    // store file itself keeps growing by the issues' own history, which the SQLite
    // model keeps for ever, as a tracker keeps its journal.)
    let steady = kept[3..7].iter().max().copied().unwrap();
    assert!(
        rows <= steady * 3 / 2 + 20,
        "kept rows grew from {steady} to {rows}"
    );
    // Each issue's newest message stays.
    let connection = rusqlite::Connection::open(&setup.files.support_store).unwrap();
    for key in keys {
        let newest: i64 = connection
            .query_row(
                "SELECT count(*) FROM outbox WHERE source_key = ?1",
                [key],
                |row| row.get(0),
            )
            .unwrap();
        assert!(newest >= 1, "{key} keeps its newest message");
    }
}
