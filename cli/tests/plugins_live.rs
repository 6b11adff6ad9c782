//! Plugins that arrive, change and break while `fieldsync sync` runs, and the trust
//! and pin commands an operator uses on a plugin folder.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{demo, fieldsync, fieldsync_with, path, text, KillOnDrop};
use fieldsync_tests::{built_library, copy_library, plugin_dir, write_library_version};
use serde_json::Value;

const STORY_POINTS_FILE: &str = "libfieldsync_story_points.so";

fn stderr_lines(child: &mut std::process::Child) -> Receiver<String> {
    let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            println!("[fieldsync sync] {line}");
            let _ = lines.send(line);
        }
    });
    received
}

/// `fieldsync sync EXTRA --config CONFIG --plugins PLUGINS` running, killed when the
/// test ends, and the lines it writes to stderr.
fn running_sync(extra: &[&str], config: &str, plugins: &Path) -> (KillOnDrop, Receiver<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .arg("sync")
        .args(extra)
        .args(["--config", config, "--plugins"])
        .arg(plugins)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fieldsync starts");
    let mut child = KillOnDrop(child);
    let lines = stderr_lines(&mut child.0);
    (child, lines)
}

/// `fieldsync plugins pin --dir PLUGINS --pins PINS`.
fn pin_folder(plugins: &Path, pins: &Path) -> std::process::Output {
    fieldsync(&[
        "plugins",
        "pin",
        "--dir",
        path(plugins),
        "--pins",
        path(pins),
    ])
}

fn line_with(lines: &Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => continue,
            Err(_) => panic!("no line with `{needle}` within 30 s"),
        }
    }
}

/// The size of SUP-1's partner in the DEV project.
fn partner_size(config: &str) -> Value {
    let show = fieldsync(&["issue", "show", "SUP-1", "--json", "--config", config]);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    let partner = shown["sync"][0]["partner"].as_str().unwrap().to_owned();
    let show = fieldsync(&["issue", "show", &partner, "--json", "--config", config]);
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    shown["fields"]["size"].clone()
}

fn wait_for_size(config: &str, size: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if partner_size(config) == size {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the partner's size never became {size}");
}

fn edit_points(config: &str, points: &str) {
    let set = format!("points={points}");
    let edit = fieldsync(&[
        "issue", "edit", "SUP-1", "--set", &set, "--as", "alice", "--config", config,
    ]);
    assert_eq!(edit.status.code(), Some(0));
}

/// Puts a file into the folder the way a careful operator does: written beside it,
/// then renamed into place.
fn land(source: &Path, folder: &Path, name: &str) {
    let temp = folder.join(format!(".{name}.incoming"));
    std::fs::copy(source, &temp).unwrap();
    std::fs::rename(&temp, folder.join(name)).unwrap();
}

#[test]
fn plugins_arrive_break_and_change_under_a_running_sync_which_keeps_going() {
    let (dir, _, _) = demo();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sync.json")).unwrap())
            .unwrap();
    config["synchronizations"][0]["interval_seconds"] = serde_json::json!(0.2);
    let config_file = dir.path().join("live.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let config = path(&config_file);
    // The folder lacks the story points plugin the configuration names.
    let plugins = plugin_dir(&["fieldsync-markup"]);

    let refused = fieldsync(&[
        "sync",
        "--once",
        "--config",
        config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "without the option: refused"
    );
    assert!(
        text(&refused.stderr).contains("no outgoing mapping `example.points-to-size` is available")
    );

    let (mut child, lines) = running_sync(&["--wait-for-mappings"], config, plugins.path());
    let waiting = line_with(&lines, "waiting for plugins offering");
    assert!(
        waiting.contains("outgoing `example.points-to-size`, incoming `example.size-to-points`"),
        "{waiting}"
    );
    assert_ne!(partner_size(config), Value::from("XS"));
    edit_points(config, "1");

    // The plugin lands: from the file's arrival to its mapping's value in DEV.
    let landed = Instant::now();
    land(
        &built_library("fieldsync-story-points"),
        plugins.path(),
        STORY_POINTS_FILE,
    );
    wait_for_size(config, "XS");
    println!(
        "FIGURE file landing -> mapping used by the running sync: {} ms",
        landed.elapsed().as_millis()
    );
    line_with(&lines, "every mapping is available now");

    // Overwritten in place with a library that is no plugin (what `cp` does): the
    // host survives, says why, and the version loaded before keeps working.
    std::fs::write(
        plugins.path().join(STORY_POINTS_FILE),
        std::fs::read(built_library("fixture-not-a-plugin")).unwrap(),
    )
    .unwrap();
    line_with(&lines, "not a fieldsync plugin");
    edit_points(config, "4");
    wait_for_size(config, "M");
    assert!(child.0.try_wait().unwrap().is_none(), "the sync still runs");
    let status = fieldsync(&["status", "--config", config]);
    let out = text(&status.stdout);
    assert!(out.contains("plugins of `fieldsync sync` (PID"), "{out}");
    assert!(out.contains("example.story-points 0.1.0 from"), "{out}");
    assert!(
        out.contains(&format!(
            "REJECTED {}",
            plugins
                .path()
                .canonicalize()
                .unwrap()
                .join(STORY_POINTS_FILE)
                .display()
        )),
        "{out}"
    );
    assert!(
        out.contains("keeps running until fieldsync restarts"),
        "{out}"
    );

    // A new version, written in place: used from the next round on.
    write_library_version(
        "fieldsync-story-points",
        plugins.path(),
        STORY_POINTS_FILE,
        "v2",
    );
    line_with(
        &lines,
        "reloaded; plugins in use: example.markup 0.1.0, example.story-points 0.1.0",
    );
    let edited = Instant::now();
    edit_points(config, "8");
    wait_for_size(config, "L");
    // The baseline of the figure above: an edit synced with the plugin in use.
    println!(
        "FIGURE edit -> synced by the running sync, plugin already in use: {} ms",
        edited.elapsed().as_millis()
    );
    let status = fieldsync(&["status", "--config", config, "--json"]);
    let statuses: Value = serde_json::from_slice(&status.stdout).unwrap();
    let note = &statuses[0]["plugins"]["value"];
    assert_eq!(note["loaded_versions"], serde_json::json!(3), "{note}");
    assert_eq!(note["rejected"], serde_json::json!([]), "{note}");
    let digests: Vec<&str> = note["in_use"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|plugin| plugin["sha256"].as_str())
        .collect();
    let v2 = fieldsync_loader::Sha256Digest::of(
        &std::fs::read(plugins.path().join(STORY_POINTS_FILE)).unwrap(),
    );
    assert!(digests.contains(&v2.as_str()), "{note}");

    // A new version whose constructors refuse the relationship's options: the reload
    // is refused with the reason, and the version in use goes on.
    land(
        &built_library("fixture-strict-story-points"),
        plugins.path(),
        STORY_POINTS_FILE,
    );
    let refused = line_with(&lines, "needs the option `scale_v2`");
    assert!(refused.contains("options"), "{refused}");
    edit_points(config, "1");
    wait_for_size(config, "XS");
    let status = fieldsync(&["status", "--config", config]);
    let out = text(&status.stdout);
    assert!(out.contains("RELOAD REFUSED"), "{out}");
    assert!(out.contains("scale_v2"), "{out}");
    write_library_version(
        "fieldsync-story-points",
        plugins.path(),
        STORY_POINTS_FILE,
        "v3",
    );
    line_with(&lines, "reloaded; plugins in use");

    // SIGHUP re-reads the configuration: a broken one is refused and the running one
    // goes on; a good one is used.
    let good = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, good.replacen("\"both\"", "\"sideways\"", 1)).unwrap();
    hang_up(&child.0);
    let refused = line_with(&lines, "SIGHUP, but the result cannot be used");
    assert!(refused.contains("unknown variant `sideways`"), "{refused}");
    let status = fieldsync(&["status", "--config", config]);
    assert_eq!(
        status.status.code(),
        Some(2),
        "the file itself is broken now"
    );
    std::fs::write(config, &good).unwrap();
    let status = fieldsync(&["status", "--config", config]);
    assert!(text(&status.stdout).contains("RELOAD REFUSED"));
    hang_up(&child.0);
    line_with(&lines, "SIGHUP: reloaded");
    edit_points(config, "4");
    wait_for_size(config, "M");

    let stopped = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "fieldsync did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

fn hang_up(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn an_operator_pins_a_folder_and_a_changed_file_is_refused_by_sync() {
    let (dir, plugins, config) = demo();
    let pins = dir.path().join("plugins.lock");
    let pin = pin_folder(plugins.path(), &pins);
    assert_eq!(pin.status.code(), Some(0));
    assert!(text(&pin.stdout).contains("2 plugin(s) pinned"));
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(&pins).unwrap()).unwrap();
    let pinned = lock["pins"]["example.story-points"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        lock["pins"]["example.story-points"]["file"],
        STORY_POINTS_FILE
    );

    // `plugins list` shows each file's digest.
    let list = fieldsync(&["plugins", "list", "--dir", path(plugins.path()), "--json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .any(|plugin| plugin["sha256"] == pinned.as_str()));

    // A rebuilt file: `sync` reads plugins.lock beside its configuration and refuses it.
    write_library_version(
        "fieldsync-story-points",
        plugins.path(),
        STORY_POINTS_FILE,
        "tampered",
    );
    let sync = fieldsync(&[
        "sync",
        "--once",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(sync.status.code(), Some(2));
    let err = text(&sync.stderr);
    assert!(
        err.contains(&format!(
            "plugin `example.story-points` is pinned to sha256 {pinned}, but this file's sha256 is"
        )),
        "{err}"
    );
    // Pinning again accepts the new file.
    let pin = pin_folder(plugins.path(), &pins);
    assert_eq!(pin.status.code(), Some(0));
    let sync = fieldsync(&[
        "sync",
        "--once",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(sync.status.code(), Some(0), "{}", text(&sync.stderr));

    // A running sync refuses an unpinned new version, and takes it once the operator
    // pins it and sends SIGHUP (which re-reads the pins).
    let (child, lines) = running_sync(&[], &config, plugins.path());
    line_with(&lines, "fieldsync: syncing");
    write_library_version(
        "fieldsync-story-points",
        plugins.path(),
        STORY_POINTS_FILE,
        "v3",
    );
    line_with(&lines, "is pinned to sha256");
    let pin = pin_folder(plugins.path(), &pins);
    assert_eq!(pin.status.code(), Some(0));
    hang_up(&child.0);
    line_with(&lines, "SIGHUP: reloaded");
    let status = fieldsync(&["status", "--config", &config, "--json"]);
    let statuses: Value = serde_json::from_slice(&status.stdout).unwrap();
    let v3 = fieldsync_loader::Sha256Digest::of(
        &std::fs::read(plugins.path().join(STORY_POINTS_FILE)).unwrap(),
    );
    assert!(
        statuses[0]["plugins"]["value"]["in_use"]
            .as_array()
            .unwrap()
            .iter()
            .any(|plugin| plugin["sha256"] == v3.as_str()),
        "{statuses}"
    );
}

#[test]
fn a_folder_others_may_write_is_refused_unless_checks_are_turned_off_loudly() {
    use std::os::unix::fs::PermissionsExt;
    let plugins = plugin_dir(&["fieldsync-story-points"]);
    std::fs::set_permissions(plugins.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let list = fieldsync(&["plugins", "list", "--dir", path(plugins.path())]);
    assert_eq!(list.status.code(), Some(2));
    let err = text(&list.stderr);
    assert!(
        err.contains("plugin folder refused") && err.contains("chmod go-w"),
        "{err}"
    );

    let list = fieldsync_with(
        &["plugins", "list", "--dir", path(plugins.path())],
        &[
            ("FIELDSYNC_INSECURE_PLUGIN_PERMISSIONS", "1"),
            ("RUST_LOG", "warn"),
        ],
    );
    assert_eq!(list.status.code(), Some(0));
    assert!(text(&list.stderr).contains("plugin owner and permission checks are OFF"));
    std::fs::set_permissions(plugins.path(), std::fs::Permissions::from_mode(0o700)).unwrap();

    // `plugins check --json` says whose ABI version it shows, and the file's digest.
    let file = copy_library("fixture-not-a-plugin", plugins.path(), None);
    let check = fieldsync(&["plugins", "check", path(&file), "--json"]);
    let checked: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(checked["usable"], Value::from(false));
    assert!(checked.get("abi_version").is_none());
    assert_eq!(
        checked["host_abi_version"],
        Value::from(fieldsync_plugin_api::abi::ABI_VERSION)
    );
    assert_eq!(checked["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn an_author_tries_a_mapping_without_a_sync() {
    let plugins = plugin_dir(&["fieldsync-story-points", "fixture-misbehaving"]);
    let file = plugins.path().join(STORY_POINTS_FILE);
    let file = path(&file);
    let out = fieldsync(&[
        "plugins",
        "try",
        file,
        "--mapping",
        "example.points-to-size",
        "--value",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("data: \"M\"\nlogs:\n"), "{stdout}");
    assert!(
        stdout.contains("DEBUG plugin::example.story-points: TRY-1: 4 points → M"),
        "debug records are shown: {stdout}"
    );

    let out = fieldsync(&[
        "plugins",
        "try",
        file,
        "--mapping",
        "example.size-to-points",
        "--value",
        "\"L\"",
        "--fields",
        r#"{"field": 8}"#,
    ]);
    assert_eq!(text(&out.stdout).lines().next(), Some("unchanged"));

    let out = fieldsync(&[
        "plugins",
        "try",
        file,
        "--mapping",
        "example.points-to-size",
        "--value",
        "4",
        "--options",
        r#"{"scale": 5}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(
        "error: plugin `example.story-points` mapping `example.points-to-size`: invalid options"
    ));

    let misbehaving = plugins.path().join("libfixture_misbehaving.so");
    let out = fieldsync(&[
        "plugins",
        "try",
        path(&misbehaving),
        "--mapping",
        "test.panics",
        "--direction",
        "outgoing",
        "--value",
        "\"x\"",
    ]);
    assert_eq!(out.status.code(), Some(1), "a panic is reported, not fatal");
    assert!(
        text(&out.stdout).contains("panicked"),
        "{}",
        text(&out.stdout)
    );

    let out = fieldsync(&["plugins", "try", file, "--mapping", "nope", "--value", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("offers no mapping `nope`"));
}
