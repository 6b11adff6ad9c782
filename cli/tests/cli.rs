//! The `fieldsync plugins` commands as an operator runs them.

mod common;

use std::process::Output;

use common::{demo, fieldsync, fieldsync_with, path, text};
use fieldsync_tests::{plugin_dir, write_file};
use serde_json::Value;

fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

#[test]
fn list_shows_every_mapping_of_a_dropped_in_plugin_and_exits_0() {
    let dir = plugin_dir(&["fieldsync-story-points"]);
    let output = fieldsync(&["plugins", "list", "--dir", path(dir.path())]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    let header = text.lines().next().unwrap();
    for column in ["PLUGIN", "VERSION", "MAPPING", "NAME", "DIRECTION", "FILE"] {
        assert!(header.contains(column), "{header}");
    }
    let row = text
        .lines()
        .find(|line| line.contains("example.points-to-size"))
        .expect("outgoing mapping row");
    assert!(row.starts_with("example.story-points"), "{row}");
    assert!(
        row.contains("outgoing")
            && row.contains("0.1.0")
            && row.contains("libfieldsync_story_points.so"),
        "{row}"
    );
    assert!(text
        .lines()
        .any(|line| line.contains("example.size-to-points") && line.contains("incoming")));
    assert!(!text.contains("rejected"));
}

#[test]
fn list_json_reports_plugins_and_rejected_files_and_exits_1() {
    let dir = plugin_dir(&["fieldsync-story-points", "fixture-not-a-plugin"]);
    write_file(dir.path(), "notes.so", b"shopping list");
    let output = fieldsync(&["plugins", "list", "--dir", path(dir.path()), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON");
    let plugins = json["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["id"], "example.story-points");
    assert_eq!(plugins[0]["version"], "0.1.0");
    assert!(plugins[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("libfieldsync_story_points.so"));
    let mapping_ids: Vec<&str> = plugins[0]["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        mapping_ids,
        vec!["example.points-to-size", "example.size-to-points"]
    );
    assert_eq!(plugins[0]["mappings"][0]["direction"], "outgoing");
    assert_eq!(
        plugins[0]["mappings"][0]["field_types"],
        serde_json::json!(["number"])
    );

    let rejected = json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert!(rejected[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("libfixture_not_a_plugin.so"));
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a fieldsync plugin"));
    assert!(rejected[1]["file"].as_str().unwrap().ends_with("notes.so"));
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not a shared library"));
}

#[test]
fn list_names_both_files_of_a_mapping_id_conflict() {
    let dir = plugin_dir(&["fieldsync-story-points", "fixture-impostor"]);
    let output = fieldsync(&["plugins", "list", "--dir", path(dir.path())]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let conflict = text
        .lines()
        .find(|line| line.contains("is not registered"))
        .expect("a conflict line");
    assert!(
        conflict.contains("libfieldsync_story_points.so")
            && conflict.contains("libfixture_impostor.so"),
        "{conflict}"
    );

    let output = fieldsync(&["plugins", "list", "--dir", path(dir.path()), "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["conflicts"][0]["mapping"], "example.points-to-size");
    assert_eq!(json["conflicts"][0]["files"].as_array().unwrap().len(), 2);
    assert_eq!(json["plugins"][0]["mappings"][0]["available"], false);
    assert_eq!(json["plugins"][0]["mappings"][1]["available"], true);
}

#[test]
fn the_plugin_folder_can_come_from_the_environment() {
    let dir = plugin_dir(&["fieldsync-story-points"]);
    let output = fieldsync_with(
        &["plugins", "list", "--json"],
        &[("FIELDSYNC_PLUGIN_DIR", path(dir.path()))],
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("example.story-points"));
}

#[test]
fn usage_errors_exit_2() {
    let missing_dir = fieldsync(&["plugins", "list"]);
    assert_eq!(missing_dir.status.code(), Some(2));
    let no_such_dir = fieldsync(&["plugins", "list", "--dir", "/no/such/folder"]);
    assert_eq!(no_such_dir.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_such_dir.stderr).contains("/no/such/folder"));
    let no_such_file = fieldsync(&["plugins", "check", "/no/such/plugin.so"]);
    assert_eq!(no_such_file.status.code(), Some(2));
    assert_eq!(fieldsync(&["plugins", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn check_describes_a_usable_plugin() {
    let dir = plugin_dir(&["fieldsync-story-points"]);
    let file = dir.path().join("libfieldsync_story_points.so");
    let output = fieldsync(&["plugins", "check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("usable plugin"), "{text}");
    assert!(
        text.contains("example.story-points") && text.contains("example.size-to-points"),
        "{text}"
    );

    let output = fieldsync(&["plugins", "check", file.to_str().unwrap(), "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["usable"], true);
    assert_eq!(json["plugin"]["id"], "example.story-points");
}

#[test]
fn check_explains_why_a_file_is_not_usable() {
    let dir = plugin_dir(&[]);
    let file = write_file(dir.path(), "broken.so", b"\x7fELF but not really");
    let output = fieldsync(&["plugins", "check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("broken.so: not usable:"), "{text}");

    let output = fieldsync(&["plugins", "check", file.to_str().unwrap(), "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["usable"], false);
    assert!(json["reason"].as_str().unwrap().len() > 10);
}

#[test]
fn loader_diagnostics_follow_rust_log() {
    let dir = plugin_dir(&["fieldsync-story-points"]);
    let output = fieldsync_with(
        &["plugins", "list", "--dir", path(dir.path())],
        &[("RUST_LOG", "debug")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loaded plugin `example.story-points`"),
        "{stderr}"
    );
    let quiet = fieldsync(&["plugins", "list", "--dir", path(dir.path())]);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
}

#[test]
fn mappings_a_plugin_declares_beyond_this_host_are_reported_not_hidden() {
    let dir = plugin_dir(&["fixture-older-sdk"]);
    let output = fieldsync(&["plugins", "list", "--dir", path(dir.path()), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["plugins"][0]["id"], "old.sdk");
    let warning = json["warnings"][0]["message"].as_str().unwrap();
    assert!(warning.contains("old.both"), "{warning}");

    let file = dir.path().join("libfixture_older_sdk.so");
    let output = fieldsync(&["plugins", "check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("warning: skipped a mapping"),
        "{}",
        stdout(&output)
    );
}

/// `issue list`: a project's issues with their sync state, filtered by state and by
/// the time of their last change.
#[test]
fn issue_list_shows_sync_states_and_filters() {
    let (_dir, _plugins, config) = demo();
    let created = fieldsync(&[
        "issue",
        "create",
        "--project",
        "SUP",
        "--type",
        "Task",
        "--set",
        "summary=Fresh",
        "--as",
        "alice",
        "--config",
        &config,
    ]);
    assert_eq!(created.status.code(), Some(0));
    let all = fieldsync(&["issue", "list", "--project", "SUP", "--config", &config]);
    assert_eq!(all.status.code(), Some(0));
    let table = text(&all.stdout);
    assert!(table.contains("support-dev: DEV-"), "{table}");
    assert!(table.contains("5 issue(s)"), "{table}");

    let json = |args: &[&str]| -> serde_json::Value {
        let mut full = vec![
            "issue",
            "list",
            "--project",
            "SUP",
            "--json",
            "--config",
            &config,
        ];
        full.extend_from_slice(args);
        serde_json::from_slice(&fieldsync(&full).stdout).unwrap()
    };
    let fresh = json(&["--state", "not-synced"]);
    assert_eq!(fresh.as_array().unwrap().len(), 1, "{fresh}");
    assert_eq!(fresh[0]["key"], "SUP-5");
    assert_eq!(fresh[0]["state"], "not_synced");
    assert_eq!(json(&["--state", "synced"]).as_array().unwrap().len(), 4);
    assert_eq!(
        json(&["--updated-since", "2999-01-01"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let bad = fieldsync(&[
        "issue",
        "list",
        "--project",
        "SUP",
        "--updated-since",
        "soon",
        "--config",
        &config,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("--updated-since"),
        "{}",
        text(&bad.stderr)
    );
}

/// `--quiet` prints only the round's summary; without a terminal there is no progress
/// line either (it is drawn on a terminal only).
#[test]
fn sync_quiet_prints_one_summary_line_per_round() {
    let (_dir, plugins, config) = demo();
    for key in ["SUP-1", "SUP-2", "SUP-3"] {
        let edit = fieldsync(&[
            "issue",
            "edit",
            key,
            "--set",
            "summary=Quiet edit",
            "--as",
            "alice",
            "--config",
            &config,
        ]);
        assert_eq!(edit.status.code(), Some(0));
    }
    let quiet = fieldsync(&[
        "sync",
        "--once",
        "--quiet",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(quiet.status.code(), Some(0));
    let out = text(&quiet.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("round: 3 messages, 0 issues created, 3 updated, 0 failed"),
        "{out}"
    );
    assert!(text(&quiet.stderr).is_empty(), "{}", text(&quiet.stderr));
    let both = fieldsync(&["sync", "--once", "--quiet", "--json", "--config", &config]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "--quiet and --json exclude each other"
    );
}
