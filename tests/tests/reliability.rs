//! A failing issue never stops the rest, nothing is lost, and what failed is visible:
//! retries with backoff, parking, skip and retry, damaged queue rows, panicking and
//! wrong-typed plugin mappings, multi-megabyte values, slow mapping calls.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fieldsync_core::engine::NextAttempt;
use fieldsync_core::store::{FailedStep, FailureQuery};
use fieldsync_core::{ControlError, SyncLedger, Tracker};
use fieldsync_demo::StoreLayout;
use fieldsync_tests::scenario::{
    edit, engine, issue, partner, round, setup, setup_with, setup_with_plugins, Setup, DEMO_PLUGINS,
};
use serde_json::{json, Value};

const MISBEHAVING: &str = "fixture-misbehaving";

/// The demo's priority map without its default: a priority missing from the table
/// is then an error of the incoming mapping.
fn without_priority_default(config: &mut Value) {
    let options = &mut config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"];
    options.as_object_mut().unwrap().remove("default");
}

fn retry(attempts: u32, first: f64, max: f64) -> Value {
    json!({"attempts": attempts, "first_delay_seconds": first, "max_delay_seconds": max})
}

fn title_of_partner(setup: &Setup, key: &str) -> Value {
    partner(setup, key).value("title").clone()
}

#[test]
fn a_failing_message_backs_off_then_parks_while_the_rest_syncs_and_skip_releases_its_issue() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        without_priority_default(config);
        config["retry"] = retry(3, 2.0, 3.0);
    });
    assert_eq!(round(&setup).failures().count(), 0);
    edit(
        &setup.support,
        "SUP-2",
        json!({"priority": "Blocker"}),
        "alice",
    );

    let report = round(&setup);
    let failure = report.failures().next().expect("SUP-2 fails");
    let NextAttempt::Retry {
        attempts,
        at: retry_at,
    } = failure.next
    else {
        panic!("a retry is planned: {failure:?}");
    };
    assert_eq!((failure.issue_key(), attempts), (Some("SUP-2"), 1));

    // Before the retry time: SUP-2 waits, with the later change queued behind the
    // failed one; every other issue keeps syncing.
    edit(
        &setup.support,
        "SUP-2",
        json!({"summary": "Second change waits"}),
        "alice",
    );
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "Others keep moving"}),
        "alice",
    );
    let report = round(&setup);
    assert_eq!(report.failures().count(), 0, "not tried before its time");
    assert_eq!(report.directions[0].waiting_for_retry, 1);
    assert_eq!(
        title_of_partner(&setup, "SUP-1"),
        json!("Others keep moving")
    );
    assert_ne!(
        title_of_partner(&setup, "SUP-2"),
        json!("Second change waits")
    );

    // Retried with a doubling delay (capped at 3 s), parked after the third attempt.
    std::thread::sleep(Duration::from_millis(2100));
    let report = round(&setup);
    let failure = report.failures().next().expect("tried again");
    let NextAttempt::Retry {
        attempts: 2,
        at: second_retry_at,
    } = failure.next
    else {
        panic!("a second retry is planned: {failure:?}");
    };
    let waited = Duration::from_micros((second_retry_at.0 - retry_at.0) as u64);
    assert!(waited >= Duration::from_millis(3000), "{waited:?}");
    std::thread::sleep(Duration::from_millis(3100));
    let failure = round(&setup).failures().next().cloned().expect("third try");
    assert_eq!(failure.next, NextAttempt::Parked { attempts: 3 });
    assert!(
        round(&setup).failures().next().is_none(),
        "parked: no more tries"
    );

    // Everything an operator needs to decide, in one record.
    let control = setup.engine.control();
    let errors = control.failures().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let parked = &errors[0];
    let dev_key = partner(&setup, "SUP-2").key;
    assert_eq!(parked.id, "support-dev:SUP-2:2");
    assert_eq!(parked.step, FailedStep::Apply);
    assert!(parked.parked());
    assert_eq!(parked.attempts, 3);
    assert_eq!(parked.context.target_key.as_deref(), Some(dev_key.as_str()));
    assert_eq!(parked.context.relationship.as_deref(), Some("priority"));
    assert_eq!(parked.context.field.as_deref(), Some("priority"));
    assert_eq!(
        parked.context.mapping.as_deref(),
        Some("fieldsync.value-map")
    );
    assert_eq!(parked.context.plugin.as_deref(), Some("fieldsync.builtin"));
    assert_eq!(parked.context.data, Some(json!("Blocker")));
    assert!(parked
        .error
        .contains("relationship `priority` (A.priority → B.priority)"));
    assert!(parked.first_failed_at.unwrap() < parked.last_failed_at.unwrap());
    assert_eq!(
        parked.waiting_behind, 1,
        "the summary change waits behind it"
    );

    let status = control.status().unwrap();
    let support_to_dev = &status[0].directions[0];
    assert_eq!(
        (support_to_dev.queue.pending, support_to_dev.queue.parked),
        (2, 1)
    );
    let last_round = status[0].last_round.as_ref().expect("rounds are recorded");
    assert_eq!(last_round.rounds, 6);

    // Skipping records who and when, and lets the waiting message through.
    let skipped = control.skip(&parked.id, "olivia").unwrap();
    assert_eq!(
        (skipped.skipped_by.as_str(), skipped.released),
        ("olivia", 1)
    );
    let connection = rusqlite::Connection::open(&setup.files.support_store).unwrap();
    let (by, at): (String, i64) = connection
        .query_row(
            "SELECT skipped_by, skipped_at FROM outbox WHERE message_id = ?1",
            [&parked.id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((by.as_str(), at), ("olivia", skipped.skipped_at.0));
    assert!(round(&setup).failures().next().is_none());
    assert_eq!(
        title_of_partner(&setup, "SUP-2"),
        json!("Second change waits")
    );
    assert_ne!(
        partner(&setup, "SUP-2").value("priority"),
        &json!("Blocker")
    );
    assert!(control.failures().unwrap().is_empty());
    let queue = control.status().unwrap()[0].directions[0].queue;
    assert_eq!((queue.pending, queue.parked), (0, 0));
    assert!(matches!(
        control.skip(&parked.id, "olivia"),
        Err(ControlError::UnknownError { .. })
    ));
}

#[test]
fn retry_brings_back_a_parked_message_once_the_cause_is_fixed() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        without_priority_default(config);
        config["retry"] = retry(1, 60.0, 60.0);
    });
    round(&setup);
    edit(
        &setup.support,
        "SUP-2",
        json!({"priority": "Blocker"}),
        "alice",
    );
    let failure = round(&setup).failures().next().cloned().unwrap();
    assert!(failure.parked(), "one attempt allowed");

    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.files.config).unwrap()).unwrap();
    config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"]["unmapped"] =
        json!("keep");
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let fixed = engine(&setup.files.config, setup.plugins.path()).unwrap();
    assert_eq!(fixed.run_round().failures().count(), 0, "still parked");
    assert_ne!(
        partner(&setup, "SUP-2").value("priority"),
        &json!("Blocker")
    );

    let unknown = fixed.control().retry("support-dev:SUP-9:1").unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("no failure `support-dev:SUP-9:1` is waiting"),
        "{unknown}"
    );
    assert_eq!(fixed.control().retry("support-dev:SUP-2:2").unwrap(), 1);
    let report = fixed.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    assert_eq!(
        partner(&setup, "SUP-2").value("priority"),
        &json!("Blocker")
    );
    assert!(fixed.control().failures().unwrap().is_empty());
}

#[test]
fn panicking_plugin_mappings_are_parked_naming_the_plugin_and_the_host_goes_on() {
    let plugins = [DEMO_PLUGINS, &[MISBEHAVING]].concat();
    let setup = setup_with_plugins(StoreLayout::TwoFiles, &plugins, |config| {
        config["retry"] = retry(1, 1.0, 1.0);
        let fields = &mut config["synchronizations"][0]["fields"];
        // Outgoing: panics unless the summary reads "calm".
        fields[0]["a"]["outgoing"] = json!({"mapping": "test.panics"});
        // Incoming: the status relationship (B → A) always panics.
        fields[6]["a"]["incoming"] = json!({"mapping": "test.panics"});
    });
    for key in ["SUP-1", "SUP-2"] {
        edit(&setup.support, key, json!({"summary": "calm"}), "alice");
    }
    let report = round(&setup);
    let failed: Vec<&str> = report.failures().filter_map(|f| f.issue_key()).collect();
    assert_eq!(failed, ["SUP-3", "DEV-1"], "{report}");
    assert_eq!(
        setup.dev.issues("DEV").unwrap().len(),
        3,
        "DEV-1 plus the partners of the two calm issues"
    );

    let errors = setup.engine.control().failures().unwrap();
    let send = errors.iter().find(|e| e.source_key == "SUP-3").unwrap();
    assert_eq!(send.id, "support-dev:SUP-3:send");
    assert_eq!(send.step, FailedStep::Send);
    assert!(send.parked());
    assert_eq!(send.context.plugin.as_deref(), Some("test.misbehaving"));
    assert_eq!(send.context.mapping.as_deref(), Some("test.panics"));
    assert_eq!(send.context.relationship.as_deref(), Some("summary"));
    assert_eq!(
        send.context.data.as_ref(),
        Some(issue(&setup.support, "SUP-3").value("summary"))
    );
    assert!(
        send.error.contains("panicked: mapping exploded on SUP-3"),
        "{}",
        send.error
    );

    let apply = errors.iter().find(|e| e.source_key == "DEV-1").unwrap();
    assert_eq!(apply.step, FailedStep::Apply);
    assert_eq!(apply.context.plugin.as_deref(), Some("test.misbehaving"));
    assert_eq!(apply.context.relationship.as_deref(), Some("status"));
    assert!(
        apply.error.contains("incoming mapping exploded"),
        "{}",
        apply.error
    );

    // Parked, not retried: the next round is quiet and nothing synced is lost.
    let report = round(&setup);
    assert_eq!(report.failures().count(), 0);
    assert_eq!(report.directions[0].parked + report.directions[1].parked, 2);
    assert_eq!(title_of_partner(&setup, "SUP-1"), json!("calm"));
}

#[test]
fn a_plugin_value_of_the_wrong_type_is_refused_before_anything_is_written() {
    let plugins = [DEMO_PLUGINS, &[MISBEHAVING]].concat();
    let setup = setup_with_plugins(StoreLayout::TwoFiles, &plugins, |config| {
        config["retry"] = retry(1, 1.0, 1.0);
        // Exports an object for a text field.
        config["synchronizations"][0]["fields"][0]["a"]["outgoing"] =
            json!({"mapping": "test.chatty"});
    });
    let report = round(&setup);
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 3, "every support issue: {report}");
    let error = &failures[0].error;
    for part in [
        "relationship `summary` (A.summary → B.title)",
        "incoming mapping `fieldsync.copy` returned a value that does not fit: field `title` of project DEV is of type `text`",
        "`fieldsync.copy` passes the data on as is, so the value is what the outgoing mapping `test.chatty` of plugin `test.misbehaving` on the A side sent",
    ] {
        assert!(error.contains(part), "`{part}` in: {error}");
    }
    assert_eq!(
        setup.dev.issues("DEV").unwrap().len(),
        1,
        "no half-made issue: refused before creating"
    );
    assert_eq!(
        setup.support.issues("SUP").unwrap().len(),
        4,
        "DEV-1 arrived"
    );
}

/// Inserts a row into the outbox of a store file, as if a sync had written it.
fn inject(store: &std::path::Path, message_id: &str, key: &str, seq: i64, body: &str) {
    let connection = rusqlite::Connection::open(store).unwrap();
    connection
        .execute(
            "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, body, created_at) \
             VALUES (?1, 'support-dev', 'a', ?2, ?3, 0, ?4, 0)",
            rusqlite::params![message_id, key, seq, body],
        )
        .unwrap();
}

#[test]
fn damaged_and_unknown_messages_in_the_queue_are_parked_not_fatal() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        config["retry"] = retry(3, 0.0, 0.0);
    });
    assert_eq!(round(&setup).failures().count(), 0);
    let dev_before = setup.dev.issues("DEV").unwrap();

    inject(
        &setup.files.support_store,
        "support-dev:SUP-3:2",
        "SUP-3",
        2,
        "{\"id\": broken",
    );
    let unknown = json!({
        "id": "support-dev:SUP-1:2", "sync_id": "support-dev", "source_side": "a",
        "source_key": "SUP-1", "issue_type": "Incident", "seq": 2, "is_new": false,
        "entries": {"colour": {"data": "teal"}}, "sent_at": 0
    });
    inject(
        &setup.files.support_store,
        "support-dev:SUP-1:2",
        "SUP-1",
        2,
        &unknown.to_string(),
    );
    edit(
        &setup.support,
        "SUP-2",
        json!({"summary": "Still moving"}),
        "alice",
    );

    let report = round(&setup);
    assert_eq!(report.failures().count(), 2, "{report}");
    assert_eq!(title_of_partner(&setup, "SUP-2"), json!("Still moving"));

    let errors = setup.engine.control().failures().unwrap();
    let broken = errors.iter().find(|e| e.source_key == "SUP-3").unwrap();
    assert!(broken.parked(), "retrying cannot mend a damaged row");
    assert!(
        broken.error.contains("unreadable message"),
        "{}",
        broken.error
    );
    assert!(
        broken
            .error
            .contains(&setup.files.support_store.display().to_string()),
        "names the store: {}",
        broken.error
    );
    let stray = errors.iter().find(|e| e.source_key == "SUP-1").unwrap();
    assert!(!stray.parked(), "the configuration may be fixed: retried");
    assert!(
        stray.error.contains(
            "names relationship `colour`, which synchronization `support-dev` does not have"
        ),
        "{}",
        stray.error
    );
    assert_eq!(stray.context.data, Some(json!("teal")));

    for error in &errors {
        setup.engine.control().skip(&error.id, "olivia").unwrap();
    }
    assert_eq!(round(&setup).failures().count(), 0);
    assert_eq!(
        setup.dev.issues("DEV").unwrap().len(),
        dev_before.len(),
        "nothing created, nothing lost"
    );
    // The damaged row holds the id SUP-3's next message would get: it is sent under
    // the next free one instead of stopping the queue.
    edit(
        &setup.support,
        "SUP-3",
        json!({"summary": "After the skip"}),
        "alice",
    );
    assert_eq!(round(&setup).failures().count(), 0);
    assert_eq!(title_of_partner(&setup, "SUP-3"), json!("After the skip"));
}

#[test]
fn values_of_several_megabytes_sync_intact_and_failures_about_them_stay_short() {
    let setup = setup_with(StoreLayout::TwoFiles, |config| {
        without_priority_default(config);
        config["retry"] = retry(1, 1.0, 1.0);
    });
    round(&setup);
    let big = format!("{}end", "word ".repeat(1_000_000));
    edit(&setup.support, "SUP-1", json!({"summary": big}), "alice");
    let huge_priority = "P".repeat(3_000_000);
    edit(
        &setup.support,
        "SUP-2",
        json!({"priority": huge_priority}),
        "alice",
    );

    let report = round(&setup);
    assert_eq!(
        title_of_partner(&setup, "SUP-1"),
        json!(big),
        "5 MB arrive intact"
    );
    let failure = report
        .failures()
        .next()
        .expect("the unmapped priority fails");
    assert!(failure.error.len() < 1_000, "{} bytes", failure.error.len());
    let errors = setup.engine.control().failures().unwrap();
    let data = serde_json::to_string(&errors[0].context.data).unwrap();
    assert!(data.len() < 1_000, "the record shows a preview: {data}");

    // A value the field cannot hold is refused by the store, naming the field.
    let refused = setup
        .support
        .update(
            "SUP-1",
            &[("points".to_owned(), json!("x".repeat(2_000_000)))].into(),
            "alice",
        )
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("field `points`"),
        "{}",
        &refused[..200.min(refused.len())]
    );
    assert!(refused.len() < 1_000);
    assert_eq!(issue(&setup.support, "SUP-1").value("summary"), &json!(big));
}

/// Warnings logged by this test binary (the engine's slow-call watchdog).
fn logged_warnings() -> &'static Mutex<Vec<String>> {
    static WARNINGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    WARNINGS.get_or_init(|| {
        struct Capture;
        impl log::Log for Capture {
            fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
                metadata.level() <= log::Level::Warn
            }
            fn log(&self, record: &log::Record<'_>) {
                if self.enabled(record.metadata()) {
                    logged_warnings()
                        .lock()
                        .unwrap()
                        .push(record.args().to_string());
                }
            }
            fn flush(&self) {}
        }
        log::set_boxed_logger(Box::new(Capture)).expect("the only logger of this binary");
        log::set_max_level(log::LevelFilter::Warn);
        Mutex::new(Vec::new())
    })
}

#[test]
fn a_slow_mapping_call_is_logged_while_it_runs_and_the_other_issues_move_on() {
    let warnings = logged_warnings();
    let plugins = [DEMO_PLUGINS, &[MISBEHAVING]].concat();
    let setup = setup_with_plugins(StoreLayout::TwoFiles, &plugins, |config| {
        config["workers"] = json!(2);
        config["slow_mapping_call_ms"] = json!(150);
        config["synchronizations"][0]["fields"][0]["b"]["incoming"] =
            json!({"mapping": "test.slow"});
    });
    round(&setup);
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "slow:2000"}),
        "alice",
    );
    edit(
        &setup.support,
        "SUP-2",
        json!({"summary": "fast two"}),
        "alice",
    );
    edit(
        &setup.support,
        "SUP-3",
        json!({"summary": "fast three"}),
        "alice",
    );
    // While the call hangs, `status` shows it.
    let control = setup.engine.control();
    let (report, seen_running) = std::thread::scope(|scope| {
        let round = scope.spawn(|| round(&setup));
        let mut seen = Vec::new();
        while seen.is_empty() && !round.is_finished() {
            std::thread::sleep(Duration::from_millis(50));
            seen = control.status().unwrap()[0]
                .running_slow_calls
                .calls
                .clone();
        }
        (round.join().unwrap(), seen)
    });
    assert_eq!(seen_running.len(), 1, "seen by status while running");
    assert_eq!(seen_running[0].issue_key, "SUP-1");
    assert!(seen_running[0].millis >= 150);
    assert_eq!(report.failures().count(), 0, "{report}");

    let slow: Vec<_> = report
        .directions
        .iter()
        .flat_map(|d| &d.slow_calls)
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(
        (
            slow[0].issue_key.as_str(),
            slow[0].mapping.as_str(),
            slow[0].plugin.as_str()
        ),
        ("SUP-1", "test.slow", "test.misbehaving")
    );
    assert!(slow[0].millis >= 2000);
    let logged = warnings.lock().unwrap().clone();
    assert!(
        logged
            .iter()
            .any(|line| line.contains("still running after")
                && line.contains("`test.slow`")
                && line.contains("SUP-1")),
        "{logged:?}"
    );

    // The other worker applied SUP-2 and SUP-3 while SUP-1's call was running.
    let applied_at = |support_key: &str| {
        let key = partner(&setup, support_key).key;
        let history = setup.dev.history_since(&key, 0).unwrap();
        history
            .iter()
            .rev()
            .find(|entry| entry.field == "title")
            .map(|entry| entry.time.0)
            .unwrap()
    };
    let slow_done = applied_at("SUP-1");
    for key in ["SUP-2", "SUP-3"] {
        let ahead = Duration::from_micros((slow_done - applied_at(key)) as u64);
        assert!(
            ahead >= Duration::from_millis(1000),
            "{key} only {ahead:?} ahead"
        );
    }

    let status = setup.engine.control().status().unwrap();
    let recorded = &status[0].last_round.as_ref().unwrap().slow_calls;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].issue_key, "SUP-1");
    assert!(
        status[0].running_slow_calls.calls.is_empty(),
        "cleared with the round"
    );
}

#[test]
fn skipping_a_failed_send_drops_its_changes_and_sends_the_edits_held_behind_it() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    // The summary now goes through the number mapping: text fails to send.
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.files.config).unwrap()).unwrap();
    config["retry"] = retry(1, 60.0, 60.0);
    config["synchronizations"][0]["fields"][0]["a"]["outgoing"] =
        json!({"mapping": "fieldsync.number"});
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let engine = engine(&setup.files.config, setup.plugins.path()).unwrap();
    let title_before = title_of_partner(&setup, "SUP-1");

    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "not a number"}),
        "alice",
    );
    let failure = engine.run_round().failures().next().cloned().unwrap();
    assert!(failure.parked());
    // Held behind the parked send: nothing of SUP-1 goes out.
    edit(&setup.support, "SUP-1", json!({"priority": "Low"}), "alice");
    let report = engine.run_round();
    assert_eq!(report.messages_sent(), 0, "{report}");
    assert_eq!(report.directions[0].parked, 1);

    let skipped = engine
        .control()
        .skip("support-dev:SUP-1:send", "olivia")
        .unwrap();
    assert_eq!(
        skipped.error.context.mapping.as_deref(),
        Some("fieldsync.number")
    );
    assert!(engine.control().failures().unwrap().is_empty());
    let report = engine.run_round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let dev = partner(&setup, "SUP-1");
    assert_eq!(dev.value("priority"), &json!("P4"), "the held edit is sent");
    assert_eq!(
        dev.value("title"),
        &title_before,
        "the skipped change is not"
    );
    let connection = rusqlite::Connection::open(&setup.files.support_store).unwrap();
    let by: String = connection
        .query_row(
            "SELECT skipped_by FROM skipped_sends WHERE key = 'SUP-1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(by, "olivia");
    let rows: i64 = connection
        .query_row("SELECT count(*) FROM outgoing_failures", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(
        rows, 0,
        "the skipped send is cleared once its later edits went out"
    );
    assert_eq!(
        engine.run_round().messages_sent(),
        0,
        "nothing more to send"
    );

    // A new failure of the same issue starts a new count.
    edit(
        &setup.support,
        "SUP-1",
        json!({"summary": "still text"}),
        "alice",
    );
    let failure = engine.run_round().failures().next().cloned().unwrap();
    assert_eq!(failure.next, NextAttempt::Parked { attempts: 1 });
}

/// The edits held behind a skipped send can fail in their turn: that is a new failure
/// of the issue (attempt 1, listed, retried or skipped like any), not a lost send.
#[test]
fn edits_held_behind_a_skipped_send_that_fail_too_are_a_new_failure() {
    let setup = setup(StoreLayout::TwoFiles);
    round(&setup);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.files.config).unwrap()).unwrap();
    config["retry"] = retry(2, 60.0, 60.0);
    config["synchronizations"][0]["fields"][0]["a"]["outgoing"] =
        json!({"mapping": "fieldsync.number"});
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let engine = engine(&setup.files.config, setup.plugins.path()).unwrap();
    let title_before = title_of_partner(&setup, "SUP-1");

    edit(&setup.support, "SUP-1", json!({"summary": "one"}), "alice");
    let report = engine.run_round();
    assert_eq!(report.failures().count(), 1, "{report}");
    edit(&setup.support, "SUP-1", json!({"summary": "two"}), "alice");
    engine
        .control()
        .skip("support-dev:SUP-1:send", "olivia")
        .unwrap();

    let report = engine.run_round();
    let failure = report
        .failures()
        .next()
        .cloned()
        .expect("the held edit fails");
    assert!(
        matches!(failure.next, NextAttempt::Retry { attempts: 1, .. }),
        "a new count: {failure:?}"
    );
    let listed = engine.control().failures().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].attempts, listed[0].parked()), (1, false));
    // Skipped again, nothing of SUP-1 is left to send.
    engine
        .control()
        .skip("support-dev:SUP-1:send", "olivia")
        .unwrap();
    let report = engine.run_round();
    assert_eq!(
        (report.messages_sent(), report.failures().count()),
        (0, 0),
        "{report}"
    );
    assert_eq!(title_of_partner(&setup, "SUP-1"), title_before);
}

#[test]
fn a_round_after_a_clean_one_sends_nothing_and_records_the_round() {
    let setup = setup(StoreLayout::OneFile);
    round(&setup);
    let report = round(&setup);
    assert_eq!(report.messages_sent(), 0);
    let status = setup.engine.control().status().unwrap();
    let last = status[0].last_round.as_ref().unwrap();
    assert_eq!((last.rounds, last.messages_sent, last.failures), (2, 0, 0));
    assert!(last.started_at.is_some());
    for direction in &status[0].directions {
        assert_eq!(direction.queue.pending, 0, "{direction:?}");
    }
    assert!(setup
        .support
        .failures(&FailureQuery::default())
        .unwrap()
        .is_empty());
}

#[test]
fn a_loaded_mapping_is_built_knowing_its_relationship_and_can_refuse_options_naming_a_missing_field(
) {
    let plugins = [DEMO_PLUGINS, &[MISBEHAVING]].concat();
    let setup = setup_with_plugins(StoreLayout::TwoFiles, &plugins, |config| {
        config["synchronizations"][0]["fields"][0]["a"]["outgoing"] =
            json!({"mapping": "test.setup", "options": {"field": "labels"}});
    });
    round(&setup);
    let title = title_of_partner(&setup, "SUP-1");
    let built: Value = serde_json::from_str(title.as_str().unwrap())
        .unwrap_or_else(|error| panic!("{error}: {title}"));
    assert_eq!(built["sync"], "support-dev");
    assert_eq!(built["relationship"], "summary");
    assert_eq!(built["side"], "a");
    assert_eq!(built["project"], "SUP");
    assert_eq!(built["field"], "summary");
    assert_eq!(built["field_type"], "text");
    assert!(built["project_fields"]
        .as_array()
        .unwrap()
        .contains(&json!("labels")));

    // An option naming a field the project lacks is refused at start, at `.options`.
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.files.config).unwrap()).unwrap();
    config["synchronizations"][0]["fields"][0]["a"]["outgoing"]["options"] =
        json!({"field": "lables"});
    std::fs::write(&setup.files.config, config.to_string()).unwrap();
    let error =
        fieldsync_tests::scenario::engine(&setup.files.config, setup.plugins.path()).unwrap_err();
    assert!(
        error.contains("synchronizations[0].fields[0].a.outgoing.options: ")
            && error.contains("option `field`: project SUP has no field `lables`"),
        "{error}"
    );
}

#[test]
fn a_mapping_runs_again_when_a_field_it_declares_it_reads_changes() {
    let plugins = [DEMO_PLUGINS, &[MISBEHAVING]].concat();
    let setup = setup_with_plugins(StoreLayout::TwoFiles, &plugins, |config| {
        config["synchronizations"][0]["fields"][0]["a"]["outgoing"] =
            json!({"mapping": "test.tagged", "options": {"flag_field": "labels"}});
    });
    round(&setup);
    edit(
        &setup.support,
        "SUP-1",
        json!({"labels": ["customer"]}),
        "alice",
    );
    round(&setup);
    let title = title_of_partner(&setup, "SUP-1");
    assert!(title.as_str().unwrap().ends_with(" [customer]"), "{title}");
    // Only the label changes: the summary's mapping reads it, so it runs again.
    edit(&setup.support, "SUP-1", json!({"labels": []}), "alice");
    round(&setup);
    let title = title_of_partner(&setup, "SUP-1");
    assert!(!title.as_str().unwrap().contains("[customer]"), "{title}");
    assert_eq!(
        &title,
        issue(&setup.support, "SUP-1").value("summary"),
        "back to the summary as it is"
    );
    assert_eq!(round(&setup).messages_sent(), 0, "and nothing echoes");
}
