//! Builds every plugin library the tests load (the example plugins, the fixtures under
//! `fixtures/`, and the plugin built with the frozen ABI 0.1 SDK under `frozen/`) and
//! records where each one is, in `$OUT_DIR/plugin_libraries.rs`: the tests read paths
//! the build reported instead of guessing where cargo puts dev-dependencies.
//!
//! The libraries are built by a nested cargo into `<target>/fixtures`, a target folder
//! of their own: the outer build holds the lock of its own folder meanwhile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages of this workspace whose cdylibs the tests load.
const WORKSPACE_LIBRARIES: &[&str] = &[
    "fieldsync-story-points",
    "fieldsync-markup",
    "fixture-not-a-plugin",
    "fixture-old-abi",
    "fixture-newer-abi",
    "fixture-layout-mismatch",
    "fixture-misbehaving",
    "fixture-panicking-init",
    "fixture-bad-manifest",
    "fixture-impostor",
    "fixture-older-sdk",
    "fixture-strict-story-points",
];

/// The plugin built with the ABI 0.1 SDK, in the workspace `frozen/abi-0.1`.
const FROZEN_LIBRARY: &str = "fixture-abi-0-1";

fn main() {
    let tests = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = tests
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = fixture_target_dir(&out_dir);

    for watched in [
        root.join("Cargo.lock"),
        root.join("plugin-abi"),
        root.join("plugin-api"),
        root.join("plugins"),
        tests.join("fixtures"),
        tests.join("frozen"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    // Benches (the release profiles) measure plugin calls, so their plugins are
    // optimised like the host; tests load debug builds, which build faster.
    let profile = match env::var("PROFILE").as_deref() {
        Ok("release") => Profile::Release,
        _ => Profile::Debug,
    };
    let mut packages = Vec::new();
    for name in WORKSPACE_LIBRARIES {
        packages.extend(["-p", name]);
    }
    cargo_build(&root.join("Cargo.toml"), &packages, &target_dir, profile);
    cargo_build(
        &tests.join("frozen/abi-0.1/Cargo.toml"),
        &["-p", FROZEN_LIBRARY],
        &target_dir,
        profile,
    );

    let built = target_dir.join(profile.folder());
    let mut entries = String::new();
    for name in WORKSPACE_LIBRARIES.iter().chain([&FROZEN_LIBRARY]) {
        let file = built.join(library_file(name));
        assert!(file.is_file(), "{} was not built", file.display());
        entries.push_str(&format!(
            "    ({name:?}, {:?}),\n",
            file.display().to_string()
        ));
    }
    let generated = format!(
        "/// Where the plugin libraries of the tests are built.\n\
         pub const PLUGIN_TARGET_DIR: &str = {:?};\n\n\
         /// Each plugin library the tests load: package name, library file.\n\
         pub const PLUGIN_LIBRARIES: &[(&str, &str)] = &[\n{entries}];\n",
        target_dir.display().to_string()
    );
    std::fs::write(out_dir.join("plugin_libraries.rs"), generated).expect("OUT_DIR is writable");
}

/// `<target>/fixtures`, found from `OUT_DIR` (`<target>/<profile>/build/<pkg>/out`),
/// which also follows `CARGO_TARGET_DIR`.
fn fixture_target_dir(out_dir: &Path) -> PathBuf {
    let target = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is <target>/<profile>/build/<package>/out");
    target.join("fixtures")
}

fn library_file(package: &str) -> String {
    format!(
        "{}{}{}",
        env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        env::consts::DLL_SUFFIX
    )
}

#[derive(Clone, Copy)]
enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The folder under the target folder cargo builds this profile into.
    fn folder(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

fn cargo_build(manifest: &Path, packages: &[&str], target_dir: &Path, profile: Profile) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .args(packages)
        .arg("--target-dir")
        .arg(target_dir);
    if let Profile::Release = profile {
        command.arg("--release");
    }
    // Flags cargo hands this build script are meant for it, not for a nested build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key == "CARGO_ENCODED_RUSTFLAGS"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key.starts_with("CARGO_PKG_")
            || key == "CARGO_MANIFEST_DIR"
            || key == "CARGO_MANIFEST_PATH"
        {
            command.env_remove(key.as_ref());
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run cargo to build the test plugins: {error}"));
    if !output.status.success() {
        panic!(
            "building the test plugins ({}) failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
