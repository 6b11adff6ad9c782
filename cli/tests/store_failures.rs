//! When the store fails, not the data: a full disk and a damaged file fail the round,
//! charge no issue, park nothing, are shown by `status` and `errors list`, and the
//! work resumes by itself once the cause is gone (a damaged store once a person
//! restored it).

mod common;

use common::{demo, fieldsync, fieldsync_with, path, text};
use serde_json::Value;

fn sync_once(
    config: &str,
    plugins: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    fieldsync_with(
        &[
            "sync",
            "--once",
            "--config",
            config,
            "--plugins",
            path(plugins),
        ],
        env,
    )
}

fn title_of_partner(config: &str) -> Value {
    let shown = fieldsync(&["issue", "show", "DEV-2", "--config", config, "--json"]);
    let issue: Value = serde_json::from_slice(&shown.stdout).unwrap();
    issue["fields"]["title"].clone()
}

#[test]
fn a_full_disk_fails_the_round_not_the_issue_and_the_work_resumes() {
    let (_dir, plugins, config) = demo();
    // Values large enough that storing the round's message needs new pages.
    let long = "x".repeat(20_000);
    let edit = fieldsync(&[
        "issue",
        "edit",
        "SUP-1",
        "--set",
        &format!("summary=Long {long}"),
        "--as",
        "alice",
        "--config",
        &config,
    ]);
    assert_eq!(edit.status.code(), Some(0));

    for round in 0..3 {
        let full = sync_once(
            &config,
            plugins.path(),
            &[("FIELDSYNC_FAILPOINT", "store-full")],
        );
        assert_eq!(
            full.status.code(),
            Some(3),
            "round {round}: the round's failure"
        );
        let said = text(&full.stdout);
        assert!(said.contains("the disk is full"), "{said}");
        assert!(said.contains("no issue is charged"), "{said}");
    }
    let status = fieldsync(&["status", "--config", &config]);
    assert_eq!(
        status.status.code(),
        Some(3),
        "status says the rounds do not complete"
    );
    let shown = text(&status.stdout);
    assert!(shown.contains("UNAVAILABLE since"), "{shown}");
    assert!(
        shown.contains(
            "SUP → DEV: 0 queued (0 retrying, 0 parked); sends failing: 0 retrying, 0 parked"
        ),
        "{shown}"
    );
    let errors = fieldsync(&["errors", "list", "--config", &config]);
    let listed = text(&errors.stdout);
    assert!(!listed.contains("every message was sent"), "{listed}");
    assert!(listed.contains("the disk is full"), "{listed}");
    assert_ne!(
        title_of_partner(&config),
        Value::from(format!("Long {long}"))
    );

    // Space again: the edit goes through, nothing needed a person.
    let back = sync_once(&config, plugins.path(), &[]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stdout));
    assert_eq!(
        title_of_partner(&config),
        Value::from(format!("Long {long}"))
    );
    assert_eq!(
        fieldsync(&["status", "--config", &config]).status.code(),
        Some(0)
    );
}

#[test]
fn a_damaged_store_is_found_when_opened_and_never_written_again_until_restored() {
    let (dir, plugins, config) = demo();
    let store = dir.path().join("support.db");
    let backup = dir.path().join("support.backup");
    std::fs::copy(&store, &backup).unwrap();
    // One page in the middle overwritten with garbage.
    let mut bytes = std::fs::read(&store).unwrap();
    let page = 4096 * (bytes.len() / 4096 / 2);
    bytes[page..page + 4096].fill(0xff);
    std::fs::write(&store, &bytes).unwrap();

    let damaged = sync_once(&config, plugins.path(), &[]);
    assert_eq!(damaged.status.code(), Some(3), "not bad input: the file");
    let said = text(&damaged.stderr);
    assert!(said.contains("the store is damaged"), "{said}");
    assert!(said.contains("restore it from a backup"), "{said}");
    let marker = dir.path().join("support.db-damaged");
    assert!(marker.is_file(), "marked");
    assert_eq!(
        std::fs::read(&store).unwrap(),
        bytes,
        "nothing was written to it"
    );

    // Marked: refused at once, whatever a check would say now.
    let again = sync_once(&config, plugins.path(), &[]);
    assert_eq!(again.status.code(), Some(3));
    assert!(
        text(&again.stderr).contains(path(&marker)),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        fieldsync(&["status", "--config", &config]).status.code(),
        Some(3)
    );

    // A person restores the file and removes the mark: it works again.
    std::fs::copy(&backup, &store).unwrap();
    std::fs::remove_file(&marker).unwrap();
    let restored = sync_once(&config, plugins.path(), &[]);
    assert_eq!(
        restored.status.code(),
        Some(0),
        "{}",
        text(&restored.stderr)
    );
}

/// A store in a folder this user may not write (as in a backup, or another user's
/// store): the read-only commands work, and `sync` says what cannot be written, as the
/// round's failure (exit 3), not as a store it cannot read.
#[test]
fn read_only_stores_can_be_looked_at_and_a_sync_says_what_it_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, plugins, config) = demo();
    let cache = tempfile::tempdir().unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let cache_dir = cache.path().join("cache");
    // Root may write anywhere: the commands then run as `nobody`, for whom the demo's
    // files (root's, mode 644, folder 755) are read-only. Anyone else makes them so.
    let root = text(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
        == "0";
    let mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    if root {
        mode(dir.path(), 0o755);
    } else {
        for file in ["support.db", "dev.db"] {
            mode(&dir.path().join(file), 0o444);
        }
        mode(dir.path(), 0o555);
    }
    let run = |args: &[&str]| {
        let mut command = if root {
            let mut command = std::process::Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_fieldsync"));
            command
        } else {
            std::process::Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        };
        let output = command
            .args(args)
            .env("FIELDSYNC_PLUGIN_CACHE", &cache_dir)
            .env_remove("RUST_LOG")
            .output()
            .expect("fieldsync runs");
        println!(
            "$ fieldsync {}\n{}{}",
            args.join(" "),
            text(&output.stdout),
            text(&output.stderr)
        );
        output
    };
    for args in [
        vec!["status", "--config", &config],
        vec!["errors", "list", "--config", &config],
        vec!["issue", "show", "SUP-1", "--config", &config],
        vec!["issue", "list", "--project", "DEV", "--config", &config],
    ] {
        let output = run(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let sync = run(&[
        "sync",
        "--once",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(sync.status.code(), Some(3), "the round's failure");
    let said = text(&sync.stderr);
    assert!(
        said.contains("the store cannot be written: read-only:"),
        "{said}"
    );
    assert!(said.contains("the folder"), "{said}");
    if !root {
        mode(dir.path(), 0o755);
    }
}

/// A crash between the two commits of a write group (the target's issues and applied
/// messages stored, the source's links not): the next run finds the messages applied,
/// writes the missing links instead of creating anything twice, and an edit of a new
/// partner then flows back to its own issue.
#[test]
fn a_crash_between_the_commits_of_a_write_group_loses_no_link_and_makes_no_duplicate() {
    let (_dir, plugins, config) = demo();
    let count = |project: &str| -> usize {
        let listed = fieldsync(&[
            "issue",
            "list",
            "--project",
            project,
            "--config",
            &config,
            "--json",
        ]);
        let issues: Value = serde_json::from_slice(&listed.stdout).unwrap();
        issues.as_array().unwrap().len()
    };
    let (sup_before, dev_before) = (count("SUP"), count("DEV"));
    let mut created = Vec::new();
    for n in 0..3 {
        let output = fieldsync(&[
            "issue",
            "create",
            "--project",
            "SUP",
            "--type",
            "Task",
            "--set",
            &format!("summary=New {n}"),
            "--as",
            "alice",
            "--config",
            &config,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        created.push(text(&output.stdout));
    }

    let crashed = sync_once(
        &config,
        plugins.path(),
        &[("FIELDSYNC_FAILPOINT", "between-group-commits")],
    );
    assert!(
        text(&crashed.stderr).contains("fail point `between-group-commits` reached"),
        "{}",
        text(&crashed.stderr)
    );
    assert_eq!(
        count("DEV"),
        dev_before + 3,
        "the target's group was stored"
    );

    let resumed = sync_once(&config, plugins.path(), &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(count("DEV"), dev_before + 3, "nothing created twice");
    assert_eq!(count("SUP"), sup_before + 3);

    // Each new partner is linked back: its edit reaches its own SUP issue.
    let dev_key = format!("DEV-{}", dev_before + 3);
    let edit = fieldsync(&[
        "issue",
        "edit",
        &dev_key,
        "--set",
        "title=Edited on DEV",
        "--as",
        "amoreau",
        "--config",
        &config,
    ]);
    assert_eq!(edit.status.code(), Some(0), "{}", text(&edit.stderr));
    let back = sync_once(&config, plugins.path(), &[]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stdout));
    assert_eq!(
        count("SUP"),
        sup_before + 3,
        "no issue made for a known partner"
    );
    let listed = fieldsync(&[
        "issue",
        "list",
        "--project",
        "SUP",
        "--config",
        &config,
        "--json",
    ]);
    let issues: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let partner_of_edited = format!("support-dev: {dev_key}");
    let sup_key = issues
        .as_array()
        .unwrap()
        .iter()
        .find(|issue| issue["partners"][0] == partner_of_edited.as_str())
        .map(|issue| issue["key"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{dev_key} is linked back: {issues}"));
    let shown = fieldsync(&["issue", "show", &sup_key, "--config", &config, "--json"]);
    let issue: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(issue["fields"]["summary"], "Edited on DEV", "{issue}");
}
