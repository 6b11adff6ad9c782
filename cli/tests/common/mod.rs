//! What the CLI test binaries share: running `fieldsync`, the demo folder.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use fieldsync_tests::plugin_dir;
use tempfile::TempDir;

pub const PLUGINS: &[&str] = &["fieldsync-story-points", "fieldsync-markup"];

pub fn fieldsync(args: &[&str]) -> Output {
    fieldsync_with(args, &[])
}

/// `fieldsync ARGS` with the environment variables `env` set (and none of the
/// variables fieldsync reads inherited from the test's environment).
pub fn fieldsync_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fieldsync"));
    command.args(args);
    for variable in [
        "FIELDSYNC_PLUGIN_DIR",
        "FIELDSYNC_CONFIG",
        "FIELDSYNC_STORE",
        "FIELDSYNC_USER",
        "FIELDSYNC_FAILPOINT",
        "FIELDSYNC_PLUGIN_PINS",
        "FIELDSYNC_INSECURE_PLUGIN_PERMISSIONS",
        "RUST_LOG",
    ] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("fieldsync runs");
    let shown_env: String = env.iter().map(|(name, _)| format!("{name}=… ")).collect();
    println!(
        "$ {shown_env}fieldsync {}\n{}{}",
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

/// A child process that is killed when the test ends or fails before it does.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
