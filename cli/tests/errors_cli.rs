//! `fieldsync errors` and `fieldsync status` as an operator uses them, and what a
//! malformed configuration file gets.

mod common;

use std::path::Path;

use common::{demo, fieldsync, path, text};
use serde_json::Value;

/// The demo's configuration with a priority map that has no default and one
/// attempt before a failure is parked, written beside the demo's.
fn parking_config(dir: &Path) -> String {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sync.json")).unwrap()).unwrap();
    config["retry"] = serde_json::json!({"attempts": 1});
    let options = &mut config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"];
    options.as_object_mut().unwrap().remove("default");
    let file = dir.join("parking.json");
    std::fs::write(&file, config.to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn an_operator_finds_a_parked_message_retries_it_and_skips_it() {
    let (dir, plugins, _) = demo();
    let config = parking_config(dir.path());
    let sync = || {
        fieldsync(&[
            "sync",
            "--once",
            "--config",
            &config,
            "--plugins",
            path(plugins.path()),
        ])
    };
    let edit = fieldsync(&[
        "issue",
        "edit",
        "SUP-2",
        "--set",
        "priority=Blocker",
        "--as",
        "alice",
        "--config",
        &config,
    ]);
    assert_eq!(edit.status.code(), Some(0));
    assert_eq!(sync().status.code(), Some(1), "a failed issue");

    let status = fieldsync(&["status", "--config", &config]);
    assert_eq!(status.status.code(), Some(1), "a parked message: exit 1");
    let out = text(&status.stdout);
    for part in [
        "support-dev (every 10 s)",
        "SUP → DEV: 1 queued (0 retrying, 1 parked)",
        "DEV → SUP: 0 queued (0 retrying, 0 parked)",
        "1 sent, 0 applied, 1 failed",
    ] {
        assert!(out.contains(part), "`{part}` in: {out}");
    }
    let status = fieldsync(&["status", "--config", &config, "--json"]);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json[0]["directions"][0]["queue"]["parked"], 1);
    assert_eq!(json[0]["last_round"]["failures"], 1);

    let list = fieldsync(&["errors", "list", "--config", &config]);
    assert_eq!(list.status.code(), Some(0));
    let out = text(&list.stdout);
    for part in [
        "support-dev:SUP-2:3  apply  SUP-2 → DEV-",
        "parked after 1 attempt: retry or skip it",
        "at: relationship `priority`, field `priority`, mapping `fieldsync.value-map` (plugin `fieldsync.builtin`)",
        "data: \"Blocker\"",
        "error: relationship `priority` (A.priority → B.priority)",
        "failed: first ",
    ] {
        assert!(out.contains(part), "`{part}` in: {out}");
    }
    let list = fieldsync(&["errors", "list", "--config", &config, "--json"]);
    let json: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["id"], "support-dev:SUP-2:3");
    assert_eq!(json[0]["context"]["plugin"], "fieldsync.builtin");
    assert_eq!(json[0]["due"], serde_json::json!({"state": "parked"}));

    let unknown = fieldsync(&[
        "errors",
        "retry",
        "support-dev:SUP-9:1",
        "--config",
        &config,
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr)
        .contains("no failure `support-dev:SUP-9:1` is waiting (1 are: `fieldsync errors list` shows their ids)"));

    let retry = fieldsync(&["errors", "retry", "--all", "--config", &config]);
    assert!(text(&retry.stdout).contains("1 failure(s) will be tried again"));
    assert_eq!(sync().status.code(), Some(1), "tried again, still failing");
    let list = fieldsync(&["errors", "list", "--config", &config, "--json"]);
    let json: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(json[0]["attempts"], 2);

    let skip = fieldsync(&[
        "errors",
        "skip",
        "support-dev:SUP-2:3",
        "--as",
        "olivia",
        "--config",
        &config,
    ]);
    assert_eq!(skip.status.code(), Some(0));
    let out = text(&skip.stdout);
    assert!(
        out.contains("support-dev:SUP-2:3: skipped by olivia at ")
            && out.contains("its message will not be applied"),
        "{out}"
    );
    assert_eq!(sync().status.code(), Some(0));
    let status = fieldsync(&["status", "--config", &config]);
    assert_eq!(status.status.code(), Some(0));
    assert!(text(&status.stdout).contains("SUP → DEV: 0 queued (0 retrying, 0 parked)"));
    let list = fieldsync(&["errors", "list", "--config", &config]);
    assert!(text(&list.stdout).contains("no failures"));
}

#[test]
fn malformed_configuration_files_get_a_clear_error_naming_file_and_place() {
    let (dir, plugins, _) = demo();
    let cases = [
        ("empty.json", "", "EOF while parsing"),
        (
            "text.json",
            "synchronize please",
            "expected value at line 1 column 1",
        ),
        (
            "shape.json",
            r#"{"synchronizations": "all"}"#,
            "synchronizations: invalid type: string \"all\", expected a sequence",
        ),
        (
            "retry.json",
            r#"{"retry": {"attempts": -1}, "synchronizations": []}"#,
            "retry.attempts: invalid value: integer `-1`, expected u32",
        ),
        (
            "store.json",
            r#"{"synchronizations": [{"id": "s", "a": {"project": "SUP", "store": "missing.db"},
                "b": {"project": "DEV", "store": "dev.db"},
                "fields": [{"id": "summary", "direction": "both", "a": {"field": "summary"}, "b": {"field": "title"}}]}]}"#,
            "synchronizations[0].a.store: ",
        ),
    ];
    for (name, contents, expected) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, contents).unwrap();
        for command in [
            vec!["sync", "--once", "--plugins", path(plugins.path())],
            vec!["status"],
            vec!["errors", "list"],
        ] {
            let mut args = command.clone();
            args.extend(["--config", path(&file)]);
            let output = fieldsync(&args);
            assert_eq!(output.status.code(), Some(2), "{args:?}");
            let err = text(&output.stderr);
            assert!(
                err.contains(name) && err.contains(expected),
                "{args:?}: `{expected}` in: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

/// A failure waiting for its retry is a problem monitoring must see: `status` exits 1,
/// and so does a `sync --once` whose round held the issue back.
#[test]
fn a_failure_waiting_for_its_retry_makes_status_and_sync_once_exit_1() {
    let (dir, plugins, _) = demo();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sync.json")).unwrap())
            .unwrap();
    config["retry"] = serde_json::json!({"attempts": 6, "first_delay_seconds": 3600});
    let options = &mut config["synchronizations"][0]["fields"][2]["b"]["incoming"]["options"];
    options.as_object_mut().unwrap().remove("default");
    let file = dir.path().join("retrying.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let config = path(&file);
    let sync = || {
        fieldsync(&[
            "sync",
            "--once",
            "--config",
            config,
            "--plugins",
            path(plugins.path()),
        ])
    };
    let edit = fieldsync(&[
        "issue",
        "edit",
        "SUP-2",
        "--set",
        "priority=Blocker",
        "--as",
        "alice",
        "--config",
        config,
    ]);
    assert_eq!(edit.status.code(), Some(0));
    assert_eq!(sync().status.code(), Some(1), "the round's failure");

    let status = fieldsync(&["status", "--config", config]);
    assert!(
        text(&status.stdout).contains("SUP → DEV: 1 queued (1 retrying, 0 parked)"),
        "{}",
        text(&status.stdout)
    );
    assert_eq!(
        status.status.code(),
        Some(1),
        "retrying, not parked: still exit 1"
    );
    let held = sync();
    assert!(
        text(&held.stdout).contains("held back: 1 issue waiting for a retry"),
        "{}",
        text(&held.stdout)
    );
    assert_eq!(
        held.status.code(),
        Some(1),
        "a round that held an issue back"
    );
}

/// `config check` finds what `sync` would refuse at start — every problem with its
/// JSON path — and runs nothing; `status` alone does not look that far.
#[test]
fn config_check_lists_every_problem_without_running_anything() {
    let (dir, plugins, config) = demo();
    let good = fieldsync(&[
        "config",
        "check",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("usable: 1 synchronization(s): support-dev"));

    let mut broken: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    broken["synchronizations"][0]["fields"][0]["a"]["field"] = "summry".into();
    broken["synchronizations"][0]["fields"][1]["b"]["incoming"] =
        serde_json::json!({"mapping": "nope.x"});
    let file = dir.path().join("broken.json");
    std::fs::write(&file, broken.to_string()).unwrap();
    let before = std::fs::read(dir.path().join("dev.db")).unwrap();
    let checked = fieldsync(&[
        "config",
        "check",
        "--config",
        path(&file),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(checked.status.code(), Some(2));
    let said = text(&checked.stderr);
    assert!(
        said.contains("synchronizations[0].fields[0].a.field: project SUP has no field `summry`"),
        "{said}"
    );
    assert!(
        said.contains(
            "synchronizations[0].fields[1].b.incoming.mapping: no incoming mapping `nope.x`"
        ),
        "{said}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("dev.db")).unwrap(),
        before,
        "nothing ran"
    );
}
