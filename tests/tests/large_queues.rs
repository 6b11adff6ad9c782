//! Queues longer than a page: thousands of issues sync in bounded pieces (chunks of
//! outgoing messages, pages of the incoming queue, write groups), and an issue's later
//! message on a later page still waits behind its failed one.

use fieldsync_core::model::NewIssue;
use fieldsync_core::{SyncLedger, Tracker};
use fieldsync_demo::StoreLayout;
use fieldsync_tests::scenario::{edit, partner, round, setup_with};
use serde_json::{json, Value};

const BULK: usize = 2_500;

fn issue_count(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM issues", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn thousands_of_issues_sync_in_pieces_and_a_later_message_waits_behind_its_failed_one() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        // A priority missing from the map fails to apply; one attempt, then parked.
        let options = &mut config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"];
        options.as_object_mut().unwrap().remove("default");
        config["retry"] =
            json!({"attempts": 1, "first_delay_seconds": 60, "max_delay_seconds": 60});
    });
    round(&setup);
    let dev_before = issue_count(&setup.files.dev_store);
    let mut keys = Vec::new();
    for n in 0..BULK {
        let fields = json!({"summary": format!("Bulk issue {n}"), "priority": "High"});
        let created = setup
            .support
            .create(
                &NewIssue {
                    project: "SUP".into(),
                    issue_type: "Task".into(),
                    fields: serde_json::from_value(fields).unwrap(),
                },
                "alice",
            )
            .unwrap();
        keys.push(created.key);
    }

    let report = round(&setup);
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.created(), BULK, "{report}");
    assert_eq!(
        issue_count(&setup.files.dev_store),
        dev_before + BULK as i64,
        "one partner each, none twice"
    );
    assert_eq!(round(&setup).messages_sent(), 0, "nothing left over");

    // The issue whose messages are sent last (keys go out in order) fails first; then
    // every bulk issue changes, so that its next message lands on the queue's second
    // page, behind its parked one on the first.
    let last = keys.iter().max().unwrap().clone();
    edit(
        &setup.support,
        &last,
        json!({"priority": "Blocker"}),
        "alice",
    );
    let report = round(&setup);
    assert_eq!(report.failures().count(), 1, "{report}");
    let title_before = partner(&setup, &last).value("title").clone();
    for key in &keys {
        edit(
            &setup.support,
            key,
            json!({"summary": format!("{key} changed")}),
            "alice",
        );
    }
    let report = round(&setup);
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(report.directions[0].parked, 1, "{report}");
    assert_eq!(
        report.applied_count(),
        BULK - 1,
        "every other issue went through: {report}"
    );
    assert_eq!(
        partner(&setup, &last).value("title"),
        &title_before,
        "the later message waits behind the parked one"
    );
    assert_eq!(
        partner(&setup, &keys[0]).value("title"),
        &Value::String(format!("{} changed", keys[0]))
    );

    // Skipping the parked message releases the one behind it.
    let failure = setup
        .engine
        .control()
        .failures()
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    setup.engine.control().skip(&failure.id, "olivia").unwrap();
    let report = round(&setup);
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(
        partner(&setup, &last).value("title"),
        &Value::String(format!("{last} changed"))
    );
    let pending = setup
        .support
        .pending_messages("support-dev", fieldsync_core::message::Side::A, 0, 10)
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}
