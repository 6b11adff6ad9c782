//! One runner per set of stores, and output that a closed pipe cannot break.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{demo, fieldsync, path, text, KillOnDrop};

/// `fieldsync sync` running on `config`, once it has said it syncs.
fn running_sync(config: &str, plugins: &std::path::Path) -> KillOnDrop {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(["sync", "--config", config, "--plugins"])
            .arg(plugins)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fieldsync starts"),
    );
    let stderr = BufReader::new(child.0.stderr.take().expect("piped"));
    for line in stderr.lines().map_while(Result::ok) {
        println!("[fieldsync sync] {line}");
        if line.contains("fieldsync: syncing") {
            return child;
        }
    }
    panic!("fieldsync sync ended before it synced");
}

#[test]
fn a_second_runner_is_refused_naming_the_first_and_a_killed_one_frees_the_stores() {
    let (dir, plugins, config) = demo();
    let mut first = running_sync(&config, plugins.path());
    let pid = first.0.id();

    let second = fieldsync(&[
        "sync",
        "--once",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(second.status.code(), Some(4), "busy has its own exit code");
    let said = text(&second.stderr);
    assert!(
        said.contains("another fieldsync runs on these stores"),
        "{said}"
    );
    assert!(
        said.contains(&format!("`fieldsync sync` (PID {pid} on ")),
        "{said}"
    );
    assert!(said.contains("since 20"), "{said}");
    assert!(said.contains("-runner"), "{said}");
    let daemon = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(["sync", "--config", &config, "--plugins"])
        .arg(plugins.path())
        .output()
        .unwrap();
    assert_eq!(daemon.status.code(), Some(4), "a second daemon too");

    // Read-only commands work meanwhile.
    for args in [
        vec!["status", "--config", &config],
        vec!["errors", "list", "--config", &config],
        vec!["issue", "show", "SUP-1", "--config", &config],
    ] {
        let output = fieldsync(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
    }

    // A runner that dies without cleaning up leaves nothing held.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let started = Instant::now();
    let after = fieldsync(&[
        "sync",
        "--once",
        "--config",
        &config,
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(dir);
}

/// `fieldsync … | head -1`: the reader goes away; the command finishes its work and
/// exits quietly instead of panicking half-way.
#[test]
fn a_closed_stdout_loses_output_not_work() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = fieldsync_tests::plugin_dir(common::PLUGINS);
    let demo_dir = tmp.path().join("demo");
    let run_closed = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (output.status.code(), text(&output.stderr))
    };
    let (code, stderr) = run_closed(&[
        "demo",
        "--dir",
        path(&demo_dir),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let config = demo_dir.join("sync.json");
    assert!(config.is_file(), "the demo is complete");
    let status = fieldsync(&["status", "--config", path(&config)]);
    assert!(
        text(&status.stdout).contains("last round"),
        "the demo synced"
    );

    let (code, stderr) = run_closed(&[
        "sync",
        "--once",
        "--config",
        path(&config),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
