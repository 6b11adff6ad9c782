//! `fieldsync` against a real Redmine (started by the test kit on 127.0.0.1): crashes
//! between a Redmine write and the ledger's record, a wrong key, `redmine describe`,
//! `status` and `errors` on a Redmine configuration.

mod common;

use std::process::Output;

use common::{fieldsync, fieldsync_with, path, text};
use fieldsync_core::SyncLedger;
use fieldsync_tests::redmine::{server, RedmineServer};
use fieldsync_tests::redmine_scenario::{cf, setup, RedmineSetup, SYNC};
use serde_json::json;

/// `fieldsync sync --once` on the scenario, with a fail point armed when given.
fn sync_once(setup: &RedmineSetup, fail_point: Option<&str>) -> Output {
    let args = [
        "sync",
        "--once",
        "--config",
        path(&setup.config),
        "--plugins",
        path(setup.plugins.path()),
    ];
    match fail_point {
        Some(point) => fieldsync_with(&args, &[("FIELDSYNC_FAILPOINT", point)]),
        None => fieldsync(&args),
    }
}

fn crashed(output: &Output) -> bool {
    // Aborted: no exit code on Unix (a signal ended it).
    output.status.code().is_none() && text(&output.stderr).contains("fail point")
}

#[test]
fn a_crash_right_after_a_redmine_create_leaves_exactly_one_partner() {
    // One worker: the crash comes right after the first creation (with more, another
    // worker's creation may be under way at that moment).
    let setup = fieldsync_tests::redmine_scenario::setup_with("crash-create", |config| {
        config["workers"] = json!(1);
    });
    let keys: Vec<String> = (1..=3)
        .map(|n| {
            // "In Progress" is no status Redmine starts an issue with: it is set by an
            // edit right after the creation — which the crash comes before.
            setup
                .create(
                    json!({"summary": format!("Crash {n}"), "status": "In Progress"}),
                    "alice",
                )
                .key
        })
        .collect();
    let output = sync_once(&setup, Some("after-tracker-create"));
    assert!(crashed(&output), "the fail point was hit");
    let made = server().issues(&setup.project);
    println!(
        "fail point hits: 1; issues in Redmine after the crash: {}",
        made.len()
    );
    assert_eq!(
        made.len(),
        1,
        "the crash came right after the first creation"
    );
    for key in &keys {
        assert_eq!(
            setup
                .store
                .sync_state(SYNC, key)
                .unwrap()
                .and_then(|state| state.partner),
            None,
            "the ledger never heard of it"
        );
    }

    let output = sync_once(&setup, None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let issues = server().issues(&setup.project);
    assert_eq!(issues.len(), 3, "one partner each, none twice");
    let mut partners: Vec<u64> = keys.iter().map(|key| setup.partner_id(key)).collect();
    assert!(
        partners.contains(&made[0]["id"].as_u64().unwrap()),
        "the first is linked again"
    );
    partners.sort_unstable();
    partners.dedup();
    assert_eq!(partners.len(), 3);
    for id in &partners {
        assert_eq!(
            server().issue(*id)["status"]["name"],
            "In Progress",
            "every value written, the one made before the crash included"
        );
    }
    for issue in &issues {
        let correlation = RedmineServer::custom(issue, cf::CORRELATION);
        assert!(correlation
            .as_str()
            .unwrap()
            .starts_with(&format!("{SYNC}:SUP-")));
    }
    let output = sync_once(&setup, None);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stdout).contains("round: 0 messages"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_crash_after_a_redmine_update_changes_nothing_when_the_message_comes_again() {
    let setup = setup("crash-update");
    let key = setup
        .create(json!({"summary": "First", "team": "Alpha"}), "alice")
        .key;
    assert_eq!(sync_once(&setup, None).status.code(), Some(0));
    let id = setup.partner_id(&key);

    setup.edit(&key, json!({"summary": "Second", "team": "Beta"}), "alice");
    let output = sync_once(&setup, Some("after-tracker-update"));
    assert!(crashed(&output), "the fail point was hit");
    let written = server().issue(id);
    assert_eq!(written["subject"], "Second", "the values were written");
    let journals = written["journals"].as_array().unwrap().len();

    // Meanwhile someone edits one of those fields in Redmine: newer, it must stay.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server().update_issue(
        id,
        json!({"custom_fields": [{"id": cf::TEAM, "value": "Gamma"}]}),
        Some("bob"),
    );

    let output = sync_once(&setup, None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let after = server().issue(id);
    assert_eq!(after["subject"], "Second");
    assert_eq!(
        RedmineServer::custom(&after, cf::TEAM),
        "Gamma",
        "the newer edit stays"
    );
    assert_eq!(
        after["journals"].as_array().unwrap().len(),
        journals + 1,
        "only bob's edit: applying the message again wrote nothing"
    );
    assert_eq!(
        setup.issue(&key).fields["team"],
        "Gamma",
        "bob's edit reached SQLite"
    );
}

/// Whether `text` holds any 10 characters of `secret` in a row (a hex dump of
/// traffic shows it in 16-byte rows).
fn shows_part_of(text: &str, secret: &str) -> bool {
    secret
        .as_bytes()
        .windows(10)
        .any(|piece| text.contains(std::str::from_utf8(piece).unwrap()))
}

#[test]
fn a_wrong_api_key_is_named_without_showing_the_key() {
    let setup = setup("wrong-key");
    let key_file = setup.dir.path().join("redmine.key");
    let wrong = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(&key_file, wrong).unwrap();
    // Even with every log on.
    let output = fieldsync_with(
        &[
            "sync",
            "--once",
            "--config",
            path(&setup.config),
            "--plugins",
            path(setup.plugins.path()),
        ],
        &[("RUST_LOG", "trace,ureq_proto::util=trace")],
    );
    assert_eq!(output.status.code(), Some(2), "bad input exits 2");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains("API key is not accepted"), "{stderr}");
    assert!(
        stderr.contains(&server().url),
        "the server is named: {stderr}"
    );
    assert!(stderr.contains("synchronizations[0].b.tracker"), "{stderr}");
    assert!(
        !shows_part_of(&stderr, wrong),
        "the key never appears: {stderr}"
    );
    assert!(!shows_part_of(&text(&output.stdout), wrong));
}

#[test]
fn redmine_describe_lists_what_a_configuration_needs() {
    let server = server();
    let project = server.project("describe");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, &server.sync_key).unwrap();
    let output = fieldsync(&[
        "redmine",
        "describe",
        "--url",
        &server.url,
        "--api-key-file",
        path(&key_file),
        "--project",
        &project,
    ]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for expected in [
        "API key of `fieldsync`",
        "issue types (trackers): Bug, Feature, Support",
        "subject          text       Subject",
        "status           status     Status",
        "assigned_to      user       Assignee",
        "cf_2             option     Team",
        "cf_3             options    Components",
        "cf_7             user       Reviewer",
        "statuses: New, In Progress, Resolved, Feedback, Closed, Rejected",
        "priorities: Low, Normal, High, Urgent, Immediate",
        "values: Alpha, Beta, Gamma",
        "users: admin, fieldsync, alice, bob",
    ] {
        assert!(stdout.contains(expected), "`{expected}` in:\n{stdout}");
    }
    assert!(!stdout.contains(&server.sync_key));

    let json_output = fieldsync(&[
        "redmine",
        "describe",
        "--url",
        &server.url,
        "--api-key-file",
        path(&key_file),
        "--json",
    ]);
    let described: serde_json::Value = serde_json::from_slice(&json_output.stdout).unwrap();
    assert_eq!(described["custom_fields"][1]["id"], "cf_2");
    assert_eq!(described["custom_fields"][1]["field_type"], "option");

    let unreachable = fieldsync(&[
        "redmine",
        "describe",
        "--url",
        "http://127.0.0.1:9",
        "--api-key-file",
        path(&key_file),
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(
        text(&unreachable.stderr).contains("no answer"),
        "{}",
        text(&unreachable.stderr)
    );
}

#[test]
fn status_errors_and_issue_commands_work_on_a_redmine_configuration() {
    let setup = setup("commands");
    let key = setup
        .create(json!({"summary": "Status", "team": "Omega"}), "alice")
        .key;
    let output = sync_once(&setup, None);
    assert_eq!(output.status.code(), Some(1), "an issue failed");
    let config = path(&setup.config);

    let status = fieldsync(&["status", "--config", config]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "a failure waits for its retry"
    );
    let stdout = text(&status.stdout);
    assert!(
        stdout.contains(&format!("SUP → {}", setup.project)),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 queued (1 retrying, 0 parked)"),
        "{stdout}"
    );

    let errors = fieldsync(&["errors", "list", "--config", config]);
    let listed = text(&errors.stdout);
    assert!(listed.contains(&format!("{SYNC}:{key}:1")), "{listed}");
    assert!(listed.contains("Alpha, Beta, Gamma"), "{listed}");

    let edit = fieldsync(&[
        "issue",
        "edit",
        &format!("{}-1", setup.project),
        "--set",
        "subject=x",
        "--config",
        config,
    ]);
    assert_eq!(edit.status.code(), Some(2));
    assert!(
        text(&edit.stderr).contains("is on a `redmine` tracker"),
        "{}",
        text(&edit.stderr)
    );
}

/// The configuration README.md shows in "sync with Redmine".
fn readme_example() -> serde_json::Value {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## For operators: sync with Redmine")
        .nth(1)
        .expect("README has the Redmine section");
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section shows a configuration");
    serde_json::from_str(block).expect("the README's configuration is JSON")
}

#[test]
fn the_readme_redmine_example_works_as_written() {
    let server = server();
    let mut config = readme_example();
    // Only where the server is and which project: everything else as written.
    let side = &mut config["synchronizations"][0]["b"];
    assert_eq!(side["tracker"]["url"], "https://redmine.example.com");
    side["tracker"]["url"] = json!(server.url);
    let project = server.project("readme");
    side["project"] = json!(project);

    let dir = tempfile::tempdir().unwrap();
    let store = fieldsync_core::SqliteStore::open(dir.path().join("support.db")).unwrap();
    store
        .add_project(&fieldsync_tests::redmine_scenario::sup_project())
        .unwrap();
    store
        .put_user(&fieldsync_core::model::User {
            username: "ann".into(),
            email: "alice@example.net".into(),
            display_name: "Ann".into(),
        })
        .unwrap();
    drop(store);
    let config_file = dir.path().join("sync.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let plugins = fieldsync_tests::plugin_dir(&[]);
    let created = fieldsync(&[
        "issue",
        "create",
        "--project",
        "SUP",
        "--type",
        "Bug",
        "--set",
        "summary=From the README",
        "--set",
        "assignee=ann",
        "--set",
        "team=Gamma",
        "--set",
        "priority=High",
        "--as",
        "ann",
        "--config",
        path(&config_file),
    ]);
    assert_eq!(created.status.code(), Some(0));

    let key_variable = [("REDMINE_API_KEY", server.sync_key.as_str())];
    let output = fieldsync_with(
        &[
            "sync",
            "--once",
            "--config",
            path(&config_file),
            "--plugins",
            path(plugins.path()),
        ],
        &key_variable,
    );
    assert_eq!(output.status.code(), Some(0));
    let issues = server.issues(&project);
    assert_eq!(issues.len(), 1);
    let issue = server.issue(issues[0]["id"].as_u64().unwrap());
    assert_eq!(issue["subject"], "From the README");
    assert_eq!(issue["priority"]["name"], "High");
    assert_eq!(
        issue["assigned_to"]["name"], "Alice Example",
        "matched by e-mail"
    );
    assert_eq!(RedmineServer::custom(&issue, cf::TEAM), "Gamma");
    assert!(
        dir.path().join("fieldsync-ledger.db").is_file(),
        "the default ledger"
    );

    // `issue show` reads a Redmine issue and its sync state from the ledger.
    let key = format!("{project}-{}", issue["id"]);
    let shown = fieldsync_with(
        &["issue", "show", &key, "--config", path(&config_file)],
        &key_variable,
    );
    assert_eq!(shown.status.code(), Some(0));
    let stdout = text(&shown.stdout);
    for expected in [
        format!("{key} (Bug, project {project})"),
        "subject".to_owned(),
        "From the README".to_owned(),
        "assigned_to".to_owned(),
        "alice".to_owned(),
        "sync support-redmine: partner SUP-1".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "`{expected}` in:\n{stdout}");
    }
}

#[test]
fn a_redmine_that_does_not_answer_is_exit_code_3_not_bad_input() {
    let setup = setup("down");
    // The same configuration, pointed at a port nobody listens on.
    let text_of_config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        text_of_config.replace(&server().url, "http://127.0.0.1:9"),
    )
    .unwrap();
    let output = sync_once(&setup, None);
    assert_eq!(output.status.code(), Some(3), "unavailable, not bad input");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("http://127.0.0.1:9"), "{stderr}");
    assert!(stderr.contains("no answer after 3 tries"), "{stderr}");

    // A round that met Redmine down is what `status` reports, with exit code 3.
    // (Rounds are recorded in side A's ledger, here the SQLite store.)
    let now = fieldsync_core::model::Timestamp::now();
    setup
        .store
        .record_round(
            SYNC,
            &fieldsync_core::store::RoundRecord {
                started_at: Some(now),
                unavailable: Some("http://127.0.0.1:9: Redmine GET /issues.json: no answer".into()),
                unavailable_since: Some(now),
                ..Default::default()
            },
        )
        .unwrap();
    let config = path(&setup.config);
    let status = fieldsync(&["status", "--config", config]);
    assert_eq!(status.status.code(), Some(3));
    let stdout = text(&status.stdout);
    assert!(
        stdout.contains(&format!("UNAVAILABLE since {now}")),
        "{stdout}"
    );
    assert!(stdout.contains("syncing resumes by itself"), "{stdout}");
}

#[test]
fn a_running_sync_shows_redmine_down_in_status_and_resumes_by_itself() {
    // A server of this test's own: it is stopped and started again.
    let own = fieldsync_tests::redmine::RedmineServer::start();
    let setup = fieldsync_tests::redmine_scenario::setup_on(&own, "daemon", |config| {
        config["synchronizations"][0]["interval_seconds"] = json!(0.2);
    });
    let config = path(&setup.config).to_owned();
    let (_child, said) = running_sync(&setup);
    let child_said = || std::fs::read_to_string(&said).unwrap();
    let status = |expected: i32| {
        let started = std::time::Instant::now();
        loop {
            let output = fieldsync(&["status", "--config", &config]);
            // A round recorded since the sync started: "none yet" is no round.
            let stdout = text(&output.stdout);
            if output.status.code() == Some(expected)
                && stdout.contains("last round: ")
                && !stdout.contains("last round: none yet")
            {
                return stdout;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "status never exited {expected}; `fieldsync sync` said:\n{}",
                child_said()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    status(0);

    own.stop();
    let key = setup
        .create(json!({"summary": "Made during the outage"}), "ann")
        .key;
    let down = status(3);
    assert!(down.contains("UNAVAILABLE since"), "{down}");
    assert!(down.contains(&own.url), "{down}");

    own.restart();
    let started = std::time::Instant::now();
    while own.issues(&setup.project).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never synced"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let up = status(0);
    assert!(!up.contains("UNAVAILABLE"), "{up}");
    assert!(setup
        .store
        .sync_state(SYNC, &key)
        .unwrap()
        .unwrap()
        .partner
        .is_some());
}

#[test]
fn a_sync_started_while_redmine_is_down_waits_for_it_and_then_syncs() {
    let own = fieldsync_tests::redmine::RedmineServer::start();
    let setup = fieldsync_tests::redmine_scenario::setup_on(&own, "late", |config| {
        config["synchronizations"][0]["interval_seconds"] = json!(0.2);
    });
    own.stop();
    let config = path(&setup.config).to_owned();
    let (mut child, said) = running_sync(&setup);
    let wait_for = |what: &dyn Fn() -> bool, description: &str| {
        let started = std::time::Instant::now();
        while !what() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(90),
                "{description}; `fieldsync sync` said:\n{}",
                std::fs::read_to_string(&said).unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    wait_for(
        &|| {
            std::fs::read_to_string(&said)
                .unwrap()
                .contains("asking again in 5 s")
        },
        "the sync never said it waits",
    );
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "it waits, it does not exit"
    );
    let key = setup
        .create(json!({"summary": "Made before Redmine was up"}), "ann")
        .key;
    own.restart();
    wait_for(
        &|| {
            let show = fieldsync(&["issue", "show", &key, "--json", "--config", &config]);
            let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap_or_default();
            shown["sync"][0]["partner"].is_string()
        },
        "the issue never reached Redmine",
    );
}

/// `fieldsync sync` running on the setup's configuration (killed when the test ends),
/// and the file its stderr goes to.
fn running_sync(setup: &RedmineSetup) -> (common::KillOnDrop, std::path::PathBuf) {
    let said = setup.dir.path().join("sync.stderr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args([
            "sync",
            "--config",
            path(&setup.config),
            "--plugins",
            path(setup.plugins.path()),
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&said).unwrap())
        .spawn()
        .unwrap();
    (common::KillOnDrop(child), said)
}
