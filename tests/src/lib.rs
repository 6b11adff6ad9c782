//! Helpers for the end-to-end tests: find the plugin libraries cargo built for the
//! current test run and lay them out in temporary plugin folders.

pub mod conformance;
pub mod redmine;
pub mod redmine_scenario;
pub mod scenario;

use std::path::{Path, PathBuf};

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::MappingRegistry;
use fieldsync_loader::PluginLoader;
use tempfile::TempDir;

/// The library cargo built for the crate `crate_name` (`fieldsync-story-points`) in
/// this test run. Crates listed as dev-dependencies are built into `deps/`, next to
/// the test executable, as `lib<name>.so` without a hash.
pub fn built_library(crate_name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a folder")
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name != "deps") {
        dir = dir.join("deps");
    }
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "{} was not built: list `{crate_name}` as a dev-dependency of the test crate",
        path.display()
    );
    path
}

/// A fresh plugin folder holding copies of the libraries of `crate_names`.
pub fn plugin_dir(crate_names: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for name in crate_names {
        copy_library(name, dir.path(), None);
    }
    dir
}

/// Copies the library of `crate_name` into `dir`, under `file_name` if given (its own
/// file name otherwise), and returns the new path.
pub fn copy_library(crate_name: &str, dir: &Path, file_name: Option<&str>) -> PathBuf {
    let source = built_library(crate_name);
    let target = dir.join(match file_name {
        Some(name) => name.to_owned(),
        None => source
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned(),
    });
    std::fs::copy(&source, &target).expect("copy the library");
    target
}

/// Writes the library of `crate_name` into `dir` as `file_name` with `tag` appended:
/// the same code under another digest, as a rebuilt version of a plugin would be
/// (the dynamic linker ignores bytes after the last section). Written in place, not
/// renamed, like `cp` over an existing file.
pub fn write_library_version(crate_name: &str, dir: &Path, file_name: &str, tag: &str) -> PathBuf {
    let mut bytes = std::fs::read(built_library(crate_name)).expect("read the library");
    bytes.extend_from_slice(tag.as_bytes());
    write_file(dir, file_name, &bytes)
}

/// Writes a file with `contents` into `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write the file");
    path
}

/// The registry a host builds: the built-in mappings plus every plugin in `dir`.
/// Panics when a plugin is rejected: the tests' plugin folders hold good plugins.
pub fn registry_with_plugins(dir: &Path) -> MappingRegistry {
    let report = PluginLoader::new()
        .with_static(builtin_plugin())
        .load_dir(dir)
        .expect("the plugin folder is readable");
    assert!(report.rejected.is_empty(), "a test plugin was rejected");
    let mut registry = MappingRegistry::new();
    for available in report.mappings() {
        registry
            .register(available.descriptor.clone(), available.provider.clone())
            .expect("mapping ids are unique");
    }
    registry
}
