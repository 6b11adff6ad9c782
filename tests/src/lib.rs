//! Helpers for the end-to-end tests: find the plugin libraries the build script built
//! for the tests and lay them out in temporary plugin folders.

pub mod conformance;
pub mod redmine;
pub mod redmine_scenario;
pub mod scenario;
pub mod throughput;
pub mod timing;

use std::path::{Path, PathBuf};

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::MappingRegistry;
use fieldsync_loader::PluginLoader;
use tempfile::TempDir;

include!(concat!(env!("OUT_DIR"), "/plugin_libraries.rs"));

/// The library of the package `crate_name` (`fieldsync-story-points`), as the build
/// script built and recorded it (see `build.rs`).
pub fn built_library(crate_name: &str) -> PathBuf {
    let Some((_, file)) = PLUGIN_LIBRARIES
        .iter()
        .find(|(name, _)| *name == crate_name)
    else {
        panic!(
            "no plugin library `{crate_name}` is built for the tests; add it to \
             WORKSPACE_LIBRARIES in tests/build.rs (built: {:?})",
            PLUGIN_LIBRARIES
                .iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
        );
    };
    PathBuf::from(file)
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
