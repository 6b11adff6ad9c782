//! `fieldsync plugins new` writes a plugin crate that builds and passes its own tests
//! as generated, and whose library the host loads and calls.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fieldsync, path, text};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The target folder the test plugins are built in (see tests/build.rs): the
/// generated crate's dependencies are mostly compiled there already. (Not the
/// workspace's own folder: that one is locked while the tests run.)
fn authors_target_dir() -> PathBuf {
    PathBuf::from(fieldsync_tests::PLUGIN_TARGET_DIR)
}

/// Runs cargo in `dir`; panics with its output unless it succeeds.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", authors_target_dir())
        .output()
        .expect("cargo runs");
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "cargo {args:?} failed:\n{all}");
    all
}

#[test]
fn a_generated_plugin_builds_passes_its_tests_and_loads_in_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-sample");
    let sdk = repository();
    let output = fieldsync(&[
        "plugins",
        "new",
        "acme-sample",
        "--dir",
        path(&dir),
        "--id",
        "acme.sample",
        "--sdk",
        path(&sdk),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("created plugin `acme.sample`"));
    // The workspace's lock, so the crate builds with the versions CI already has.
    std::fs::copy(sdk.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let tested = cargo(&dir, &["test"]);
    assert!(
        tested.contains("test result: ok. 3 passed; 0 failed"),
        "{tested}"
    );
    let warnings: Vec<&str> = tested
        .lines()
        .filter(|line| line.starts_with("warning"))
        .collect();
    assert!(warnings.is_empty(), "the generated crate warns:\n{tested}");

    cargo(&dir, &["build"]);
    let library = authors_target_dir().join("debug").join(format!(
        "{}acme_sample{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let checked = fieldsync(&["plugins", "check", path(&library)]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("acme.sample.add-prefix"));
    let tried = fieldsync(&[
        "plugins",
        "try",
        path(&library),
        "--mapping",
        "acme.sample.add-prefix",
        "--options",
        r#"{"prefix": "[SUP] "}"#,
        "--value",
        r#""Login fails""#,
    ]);
    assert!(tried.status.success(), "{}", text(&tried.stderr));
    assert!(
        text(&tried.stdout).contains(r#""[SUP] Login fails""#),
        "{}",
        text(&tried.stdout)
    );
}

#[test]
fn plugins_new_refuses_a_used_folder_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let output = fieldsync(&["plugins", "new", "x-plugin", "--dir", path(tmp.path())]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("exists and is not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "mine"
    );

    let dir = tmp.path().join("new");
    let output = fieldsync(&[
        "plugins",
        "new",
        "ok-name",
        "--dir",
        path(&dir),
        "--id",
        "Bad",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--id `Bad`"),
        "{}",
        text(&output.stderr)
    );
    let output = fieldsync(&["plugins", "new", "9lives", "--dir", path(&dir)]);
    assert!(
        text(&output.stderr).contains("cannot name a crate"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.exists(), "nothing written for a refused request");
}
