//! `fieldsync demo`, `issue`, `sync` and `resync` as an operator runs them.

mod common;

use std::process::Command;

use common::{demo, fieldsync, path, text, KillOnDrop, PLUGINS};
use fieldsync_tests::{copy_library, plugin_dir};
use serde_json::Value;

#[test]
fn the_demo_syncs_both_ways_and_prints_field_by_field() {
    let (dir, plugins, _) = demo();
    let output = fieldsync(&[
        "demo",
        "--dir",
        path(dir.path()),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a second run replaces the first"
    );
    let out = text(&output.stdout);
    assert!(
        out.contains("round: 4 messages, 4 issues created, 0 updated, 0 failed"),
        "{out}"
    );
    assert!(out.contains("  SUP-1 → DEV-2 created\n"), "{out}");
    assert!(out.contains("      size: null → \"M\""), "{out}");
    assert!(out.contains("  DEV-2 → SUP-1 updated\n"), "{out}");
    assert!(out.contains("      points: 5 → 8"), "{out}");
    assert!(
        out.contains("round: 0 messages"),
        "round 3 has nothing to send: {out}"
    );

    let one_store = tempfile::tempdir().unwrap();
    let output = fieldsync(&[
        "demo",
        "--one-store",
        "--dir",
        path(one_store.path()),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(one_store.path().join("demo.db").is_file());
    assert!(text(&output.stdout).contains("4 issues created"));
}

#[test]
fn the_demo_explains_missing_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let output = fieldsync(&[
        "demo",
        "--dir",
        path(dir.path()),
        "--plugins",
        path(empty.path()),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert!(
        err.contains("no outgoing mapping `example.wiki-to-markdown` is available"),
        "{err}"
    );
    assert!(err.contains("cargo build --release"), "{err}");
}

#[test]
fn a_user_edit_is_synced_by_the_next_round_and_shown_with_its_status() {
    let (_dir, plugins, config) = demo();
    let plugins = path(plugins.path());
    let output = fieldsync(&[
        "issue",
        "edit",
        "DEV-2",
        "--set",
        "priority=P4",
        "--set",
        "labels=a, b",
        "--as",
        "amoreau",
        "--config",
        &config,
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("DEV-2: priority: \"P1\" → \"P4\""));

    let output = fieldsync(&["sync", "--once", "--config", &config, "--plugins", plugins]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("DEV-2 → SUP-1 updated"));

    let output = fieldsync(&["issue", "show", "SUP-1", "--json", "--config", &config]);
    assert_eq!(output.status.code(), Some(0));
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["fields"]["priority"], "Low");
    assert_eq!(shown["fields"]["labels"], serde_json::json!(["a", "b"]));
    let status = &shown["sync"][0];
    assert_eq!(status["synchronization"], "support-dev");
    assert_eq!(status["partner"], "DEV-2");
    assert!(status["last_sent"]
        .as_str()
        .unwrap()
        .contains("(message 1)"));
    assert!(status["last_received"].is_string());

    let output = fieldsync(&["issue", "show", "SUP-1", "--config", &config]);
    let out = text(&output.stdout);
    assert!(
        out.contains("sync support-dev: partner DEV-2, last sent "),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("priority") && l.ends_with("Low")),
        "{out}"
    );
}

#[test]
fn issues_created_on_the_command_line_are_synced() {
    let (_dir, plugins, config) = demo();
    let output = fieldsync(&[
        "issue",
        "create",
        "--project",
        "SUP",
        "--type",
        "Task",
        "--set",
        "summary=From the CLI",
        "--set",
        "points=3",
        "--as",
        "alice",
        "--config",
        &config,
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout).trim(), "created SUP-5");
    let output = fieldsync(&[
        "sync",
        "--once",
        "--json",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let applied = &report["directions"][0]["applied"][0];
    assert_eq!(applied["source_key"], "SUP-5");
    assert_eq!(applied["created"], true);
    let output = fieldsync(&[
        "issue",
        "show",
        applied["target_key"].as_str().unwrap(),
        "--json",
        "--config",
        &config,
    ]);
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["fields"]["title"], "From the CLI");
    assert_eq!(shown["fields"]["size"], "S");
}

#[test]
fn resync_queues_the_selected_fields_for_the_next_round() {
    let (_dir, plugins, config) = demo();
    let plugins = path(plugins.path());
    // A repair made as the sync user is not detected as a change...
    fieldsync(&[
        "issue",
        "edit",
        "DEV-4",
        "--set",
        "title=drifted",
        "--as",
        "fieldsync",
        "--config",
        &config,
    ]);
    let output = fieldsync(&[
        "resync",
        "SUP-3",
        "--fields",
        "summary",
        "--config",
        &config,
        "--plugins",
        plugins,
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("SUP-3: resync queued in support-dev: summary"));
    // ...a resync sends it again.
    fieldsync(&["sync", "--once", "--config", &config, "--plugins", plugins]);
    let output = fieldsync(&["issue", "show", "DEV-4", "--json", "--config", &config]);
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["fields"]["title"], "Document the refund process");

    let output = fieldsync(&[
        "resync",
        "SUP-3",
        "--fields",
        "nope",
        "--config",
        &config,
        "--plugins",
        plugins,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("sends no field `nope`"));
}

#[test]
fn bad_input_is_refused_with_a_precise_message() {
    let (dir, plugins, config) = demo();
    let plugins = path(plugins.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "issue",
                "edit",
                "SUP-1",
                "--set",
                "points=many",
                "--config",
                &config,
            ],
            "--set `points=many`: `points` takes a number",
        ),
        (
            &[
                "issue",
                "edit",
                "SUP-1",
                "--set",
                "colour=red",
                "--config",
                &config,
            ],
            "project SUP has no field `colour`",
        ),
        (
            &["issue", "show", "SUP-99", "--config", &config],
            "no issue `SUP-99`",
        ),
        (&["issue", "show", "SUP-1"], "--store FILE or --config FILE"),
        (
            &[
                "issue",
                "create",
                "--project",
                "SUP",
                "--type",
                "Epic",
                "--config",
                &config,
            ],
            "project SUP has no issue type `Epic` (types: Incident, Task)",
        ),
    ];
    for (args, expected) in cases {
        let output = fieldsync(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(expected),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }

    let bad = dir.path().join("bad.json");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&bad, original.replacen("\"both\"", "\"sideways\"", 1)).unwrap();
    let output = fieldsync(&[
        "sync",
        "--once",
        "--config",
        path(&bad),
        "--plugins",
        plugins,
    ]);
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert!(
        err.contains(&format!(
            "{}: synchronizations[0].fields[0].direction: unknown variant `sideways`",
            bad.display()
        )),
        "{err}"
    );
}

/// The demo's configuration with the summary arriving on DEV through `test.slow`
/// (which sleeps N ms on `slow:N`) and slow calls reported after 100 ms, and the
/// plugin providing it dropped into the demo's plugin folder.
fn slow_summary_config(dir: &std::path::Path, plugins: &std::path::Path) -> std::path::PathBuf {
    copy_library("fixture-misbehaving", plugins, None);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sync.json")).unwrap()).unwrap();
    config["slow_mapping_call_ms"] = serde_json::json!(100);
    config["synchronizations"][0]["fields"][0]["b"]["incoming"] =
        serde_json::json!({"mapping": "test.slow"});
    let file = dir.join("slow.json");
    std::fs::write(&file, config.to_string()).unwrap();
    file
}

#[test]
fn a_running_sync_stops_cleanly_on_sigint_and_sigterm_finishing_the_message_in_hand() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let (dir, plugins, _) = demo();
    // The summary arrives through a mapping that takes 1.5 s on `slow:1500`.
    let config_file = slow_summary_config(dir.path(), plugins.path());
    let config = path(&config_file);
    for (signal, key) in [("-INT", "SUP-1"), ("-TERM", "SUP-2")] {
        let value = "summary=slow:1500";
        let edit = fieldsync(&[
            "issue", "edit", key, "--set", value, "--as", "alice", "--config", config,
        ]);
        assert_eq!(edit.status.code(), Some(0));
        let child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args([
                "sync",
                "--config",
                config,
                "--plugins",
                path(plugins.path()),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fieldsync starts");
        let mut child = KillOnDrop(child);
        let child = &mut child.0;
        // Signalled while the slow call runs: the watchdog says so on stderr. (Lines
        // are read on a thread until the child ends, so a missing one cannot hang
        // the test and the child never writes to a closed pipe.)
        let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let next_line = || {
            received
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("fieldsync writes the expected line within 30 s")
        };
        let banner = next_line();
        assert!(
            banner.contains("syncing support-dev every 10 s"),
            "{banner}"
        );
        let running = std::iter::repeat_with(next_line)
            .find(|line| line.contains("still running after"))
            .unwrap();
        assert!(running.contains(key), "{running}");
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fieldsync did not stop on {signal}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0), "exit code after {signal}");
        let notice = std::iter::repeat_with(next_line)
            .find(|line| line.contains("stopping after the message in hand"))
            .unwrap();
        assert!(notice.contains("again"), "{notice}");
        // The message in hand was finished: its partner has the new summary.
        let show = fieldsync(&["issue", "show", key, "--json", "--config", config]);
        let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
        let partner = shown["sync"][0]["partner"].as_str().unwrap().to_owned();
        let show = fieldsync(&["issue", "show", &partner, "--json", "--config", config]);
        let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(shown["fields"]["title"], serde_json::json!("slow:1500"));
    }
}

/// A second signal while a hung plugin call holds the round stops the sync at once
/// (exit code 130); the message it was applying comes again with the next run.
#[test]
fn a_second_signal_stops_a_sync_held_by_a_hung_call_at_once_and_nothing_is_lost() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let (dir, plugins, _) = demo();
    let config_file = slow_summary_config(dir.path(), plugins.path());
    let config = path(&config_file);
    // 60 s: as good as hung.
    let edit = fieldsync(&[
        "issue",
        "edit",
        "SUP-1",
        "--set",
        "summary=slow:60000",
        "--as",
        "alice",
        "--config",
        config,
    ]);
    assert_eq!(edit.status.code(), Some(0));
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args([
                "sync",
                "--config",
                config,
                "--plugins",
                path(plugins.path()),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fieldsync starts"),
    );
    let stderr = BufReader::new(child.0.stderr.take().expect("stderr is piped"));
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str| {
        std::iter::repeat_with(|| {
            received
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("fieldsync writes the expected line within 30 s")
        })
        .find(|line| line.contains(needle))
        .unwrap()
    };
    wait_for("still running after");
    let signal = |name: &str| {
        let sent = Command::new("kill")
            .args([name, &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-INT");
    wait_for("press Ctrl-C again");
    let started = std::time::Instant::now();
    signal("-INT");
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the second signal did not stop it"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));

    // The message it was applying is still there: fixed value, next run applies it.
    let edit = fieldsync(&[
        "issue",
        "edit",
        "SUP-1",
        "--set",
        "summary=done",
        "--as",
        "alice",
        "--config",
        config,
    ]);
    assert_eq!(edit.status.code(), Some(0));
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_file).unwrap()).unwrap();
    config["synchronizations"][0]["fields"][0]["b"]
        .as_object_mut()
        .unwrap()
        .remove("incoming");
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, config.to_string()).unwrap();
    let once = fieldsync(&[
        "sync",
        "--once",
        "--config",
        path(&plain),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stdout));
    let show = fieldsync(&["issue", "show", "DEV-2", "--json", "--config", path(&plain)]);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["fields"]["title"], serde_json::json!("done"));
}

#[test]
fn the_demo_finds_the_example_plugins_beside_the_program_and_loads_nothing_else() {
    // A program folder as `cargo build` leaves it, plus a broken plugin that offers
    // an example mapping id too: the demo must load only the two examples.
    let program_dir = tempfile::tempdir().unwrap();
    let program = program_dir.path().join("fieldsync");
    std::fs::copy(env!("CARGO_BIN_EXE_fieldsync"), &program).unwrap();
    for name in [
        "fieldsync-story-points",
        "fieldsync-markup",
        "fixture-impostor",
    ] {
        copy_library(name, program_dir.path(), None);
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(&program)
        .args(["demo", "--dir", path(dir.path())])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(dir.path().join("plugins/libfieldsync_markup.so").is_file());
    assert!(!dir.path().join("plugins/libfixture_impostor.so").exists());
    assert!(text(&output.stdout).contains("4 issues created"));
    assert!(text(&output.stderr).is_empty(), "{}", text(&output.stderr));
}

#[test]
fn the_demo_loads_no_library_it_did_not_put_into_its_plugin_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    copy_library("fixture-impostor", &dir.path().join("plugins"), None);
    let output = fieldsync(&["demo", "--dir", path(dir.path())]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr)
            .contains("holds `libfixture_impostor.so`, which the demo did not put there"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_demo_never_replaces_files_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sync.json"), "{ \"mine\": true }").unwrap();
    let plugins = plugin_dir(PLUGINS);
    let output = fieldsync(&[
        "demo",
        "--dir",
        path(dir.path()),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr)
        .contains("already holds sync.json and was not set up by `fieldsync demo`"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sync.json")).unwrap(),
        "{ \"mine\": true }"
    );
}

#[test]
fn an_operator_sets_up_stores_by_hand_and_syncs_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let project = |key: &str| {
        serde_json::json!({"key": key, "name": format!("Project {key}"), "issue_types": ["Task"],
            "fields": [{"id": "summary", "type": "text"}, {"id": "owner", "type": "user"}],
            "create_screen": ["summary"]})
        .to_string()
    };
    std::fs::write(root.join("a.json"), project("A")).unwrap();
    std::fs::write(root.join("b.json"), project("B")).unwrap();
    let a_store = root.join("a.db");
    let b_store = root.join("b.db");
    for (store, definition) in [(&a_store, "a.json"), (&b_store, "b.json")] {
        let output = fieldsync(&[
            "project",
            "add",
            "--store",
            path(store),
            path(&root.join(definition)),
        ]);
        assert_eq!(output.status.code(), Some(0));
    }
    fieldsync(&[
        "user",
        "add",
        "--store",
        path(&a_store),
        "ann",
        "--email",
        "ann@example.com",
    ]);
    fieldsync(&[
        "user",
        "add",
        "--store",
        path(&b_store),
        "a.smith",
        "--email",
        "ANN@example.com",
    ]);
    let output = fieldsync(&["project", "list", "--store", path(&a_store)]);
    assert!(text(&output.stdout)
        .lines()
        .any(|l| l.starts_with("A ") && l.contains("summary") && l.contains("yes")));

    let config = serde_json::json!({"synchronizations": [{
    "id": "a-b", "a": {"project": "A", "store": "a.db"}, "b": {"project": "B", "store": "b.db"},
    "fields": [
        {"id": "summary", "direction": "both", "a": {"field": "summary"}, "b": {"field": "summary"}},
        {"id": "owner", "direction": "a-to-b",
         "a": {"field": "owner", "outgoing": {"mapping": "fieldsync.user-map", "options": {"by": "email"}}},
         "b": {"field": "owner", "incoming": {"mapping": "fieldsync.user-map", "options": {"by": "email"}}}}
    ]}]});
    let config_file = root.join("sync.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let config = path(&config_file);
    fieldsync(&[
        "issue",
        "create",
        "--project",
        "A",
        "--type",
        "Task",
        "--set",
        "summary=Hello",
        "--set",
        "owner=ann",
        "--as",
        "ann",
        "--config",
        config,
    ]);
    let output = fieldsync(&["sync", "--once", "--config", config]);
    assert_eq!(output.status.code(), Some(0));
    let output = fieldsync(&["issue", "show", "B-1", "--json", "--config", config]);
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["fields"]["summary"], "Hello");
    assert_eq!(shown["fields"]["owner"], "a.smith");

    let bad = root.join("bad.json");
    std::fs::write(&bad, r#"{"key": "C", "issue_types": ["Task"], "fields": [{"id": "x", "type": "text", "colour": 1}]}"#).unwrap();
    let output = fieldsync(&["project", "add", "--store", path(&a_store), path(&bad)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("bad.json: fields[0].colour: unknown field `colour`"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn issue_show_says_why_an_issue_cannot_be_sent() {
    let (dir, plugins, _) = demo();
    let config_file = dir.path().join("numbers.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sync.json")).unwrap())
            .unwrap();
    let summary = &mut config["synchronizations"][0]["fields"][0];
    summary["direction"] = serde_json::json!("a-to-b");
    summary["a"] =
        serde_json::json!({"field": "summary", "outgoing": {"mapping": "fieldsync.number"}});
    summary["b"] = serde_json::json!({"field": "title"});
    std::fs::write(&config_file, config.to_string()).unwrap();
    let config = path(&config_file);
    fieldsync(&[
        "issue",
        "edit",
        "SUP-1",
        "--set",
        "summary=not a number",
        "--as",
        "alice",
        "--config",
        config,
    ]);
    let output = fieldsync(&[
        "sync",
        "--once",
        "--config",
        config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(output.status.code(), Some(1), "a failed issue");
    let output = fieldsync(&["issue", "show", "SUP-1", "--config", config]);
    let out = text(&output.stdout);
    for part in [
        "FAILED to send (support-dev:SUP-1:send, attempt 1, retried at ",
        "): relationship `summary` (A.summary → B.title)",
    ] {
        assert!(out.contains(part), "`{part}` in: {out}");
    }
}
