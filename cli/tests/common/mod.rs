//! What the CLI test binaries share: running `fieldsync`, the demo folder.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use fieldsync_tests::plugin_dir;
use tempfile::TempDir;

pub const PLUGINS: &[&str] = &["fieldsync-story-points", "fieldsync-markup"];

pub fn fieldsync(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(args)
        .env_remove("FIELDSYNC_PLUGIN_DIR")
        .env_remove("FIELDSYNC_CONFIG")
        .env_remove("FIELDSYNC_STORE")
        .env_remove("FIELDSYNC_USER")
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
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path(dir: &Path) -> &str {
    dir.to_str().expect("temporary paths are UTF-8")
}

/// A demo folder set up and synced once, and its plugin folder.
pub fn demo() -> (TempDir, TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(PLUGINS);
    let output = fieldsync(&[
        "demo",
        "--dir",
        path(dir.path()),
        "--plugins",
        path(plugins.path()),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let config = dir.path().join("sync.json").to_str().unwrap().to_owned();
    (dir, plugins, config)
}
