//! Redmine going down in the middle of a round and coming back (a test binary of its
//! own: it stops the server the other tests would share).

use std::time::{Duration, Instant};

use fieldsync_core::SyncLedger;
use fieldsync_tests::redmine::server;
use fieldsync_tests::redmine_scenario::{setup, SYNC};
use serde_json::json;

#[test]
fn a_redmine_that_goes_down_mid_round_charges_no_issue_and_the_sync_resumes_by_itself() {
    let setup = setup("outage");
    let first = setup
        .create(json!({"summary": "Before the outage"}), "alice")
        .key;
    let report = setup.round();
    assert_eq!(report.failures().count(), 0, "{report}");
    let first_id = setup.partner_id(&first);

    // Forty new issues; the server stops while the round creates them.
    let keys: Vec<String> = (0..40)
        .map(|n| {
            setup
                .create(json!({"summary": format!("Issue {n}")}), "alice")
                .key
        })
        .collect();
    setup.edit(
        &first,
        json!({"summary": "Edited during the outage"}),
        "bob",
    );
    let report = std::thread::scope(|scope| {
        let round = scope.spawn(|| setup.engine.run_round());
        let started = Instant::now();
        while server().issues(&setup.project).len() < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no issue was created"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server().stop();
        round.join().unwrap()
    });
    println!("{report}");
    assert_eq!(
        report.failures().count(),
        0,
        "the outage is nobody's fault: {report}"
    );
    let unavailable: Vec<_> = report
        .directions
        .iter()
        .filter_map(|direction| direction.unavailable.as_deref())
        .collect();
    assert!(
        !unavailable.is_empty(),
        "the round says the tracker is down: {report}"
    );
    assert!(
        unavailable
            .iter()
            .all(|error| error.contains(&server().url)),
        "{unavailable:?}"
    );
    let created_before_the_stop = report.created();
    assert!(
        created_before_the_stop < 40,
        "the stop came mid-round: {report}"
    );

    // Another round while it is down: still nobody's fault, and `status` says since
    // when.
    let down = setup.engine.run_round();
    assert!(down.unavailable().is_some(), "{down}");
    assert_eq!(down.failures().count(), 0, "{down}");
    let control = setup.engine.control();
    let status = control.status().unwrap();
    let last = status[0].last_round.clone().expect("a round is recorded");
    assert!(last.unavailable.is_some(), "{last:?}");
    let since = last.unavailable_since.expect("since when");
    assert!(since <= last.started_at.unwrap());
    assert!(
        control.failures().unwrap().is_empty(),
        "nothing parked or retrying"
    );
    assert_eq!(status[0].parked(), 0);

    server().restart();
    let back = setup.round();
    assert_eq!(back.failures().count(), 0, "{back}");
    let recovered = setup.engine.control().status().unwrap()[0]
        .last_round
        .clone()
        .unwrap();
    assert_eq!(recovered.unavailable, None, "{recovered:?}");

    // Nothing lost, nothing twice.
    let issues = server().issues(&setup.project);
    assert_eq!(issues.len(), 41, "every issue exactly once");
    for key in &keys {
        let state = setup.store.sync_state(SYNC, key).unwrap().unwrap();
        assert!(state.partner.is_some(), "{key} has its partner");
    }
    assert_eq!(
        server().issue(first_id)["subject"],
        "Edited during the outage"
    );
    let quiet = setup.round();
    assert_eq!(quiet.messages_sent(), 0, "{quiet}");
    assert_eq!(quiet.failures().count(), 0, "{quiet}");
}
