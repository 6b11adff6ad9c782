//! Why a plugin file could not be used.

use std::path::PathBuf;

use abi_stable::library::{LibraryError, RootModuleError};
use fieldsync_plugin_api::abi::{ABI_NAME, ABI_VERSION};
use thiserror::Error;

/// The reason one plugin (file) was rejected. The other plugins load regardless.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    /// The file is empty.
    #[error("empty file, not a shared library")]
    Empty,
    /// The folder entry has a library's name but is no file: a dangling symbolic
    /// link, a directory, a named pipe...
    #[error("not a file: {0}")]
    NotAFile(String),
    /// The file is not a shared library of this platform at all.
    #[error("not a shared library: {0}")]
    NotALibrary(String),
    /// The dynamic linker refused the file (truncated, wrong architecture, missing
    /// dependency…).
    #[error("cannot be loaded as a shared library: {0}")]
    Unloadable(String),
    /// A loadable library without a plugin root module.
    #[error("a shared library, but not a fieldsync plugin (it exports no plugin root module)")]
    NotAPlugin,
    /// A library built with abi_stable for some other program.
    #[error("an abi_stable library of `{0}`, not a fieldsync plugin")]
    ForeignModule(String),
    /// Built with an abi_stable release this host cannot talk to.
    #[error("built with an incompatible abi_stable release: {0}")]
    AbiStableMismatch(String),
    /// Built against another plugin ABI version, older or newer.
    #[error(
        "built against plugin ABI {found}, but this host speaks plugin ABI {expected}: {}",
        version_advice(.expected, .found)
    )]
    IncompatibleVersion {
        /// The ABI version this host speaks.
        expected: String,
        /// The ABI version the plugin was built with.
        found: String,
    },
    /// Same ABI version, but the types do not match (a plugin-api built from
    /// modified sources, or a host/plugin mismatch abi_stable could not catch earlier).
    #[error("its ABI layout does not match this host's: {}", .0.join("; "))]
    LayoutMismatch(Vec<String>),
    /// The plugin's initialisation returned an error or panicked.
    #[error("plugin initialisation failed: {0}")]
    InitFailed(String),
    /// The manifest is missing, unreadable or invalid.
    #[error("invalid manifest: {}", .0.join("; "))]
    InvalidManifest(Vec<String>),
    /// Another plugin has the same plugin id.
    #[error("plugin id `{plugin_id}` is also provided by {others}; none of them is loaded")]
    DuplicatePlugin {
        /// The contested plugin id.
        plugin_id: String,
        /// Where the other plugins with this id come from (the first few, and how
        /// many more).
        others: String,
    },
    /// The file, or the folder it is in, may be changed by someone other than the
    /// user running fieldsync or root.
    #[error("refused: {0}")]
    Untrusted(String),
    /// The plugin id is pinned to another file digest.
    #[error(
        "plugin `{plugin_id}` is pinned to sha256 {expected}, but this file's sha256 is \
         {found}; if the new file is the one you want, run `fieldsync plugins pin` again"
    )]
    PinMismatch {
        /// The pinned plugin id.
        plugin_id: String,
        /// The digest in the lock file.
        expected: String,
        /// The file's digest.
        found: String,
    },
}

/// `major.minor` of a version string.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether a plugin built for ABI `found` can be loaded by a host of ABI `expected`:
/// the same `0.y` (abi_stable reads `0.y` as a major version), or for `x.y` with
/// x ≥ 1 the same `x` and a plugin minor at least the host's.
pub(crate) fn abi_compatible(expected: &str, found: &str) -> bool {
    match (major_minor(expected), major_minor(found)) {
        (Some((0, minor)), Some((0, found_minor))) => minor == found_minor,
        (Some((major, minor)), Some((found_major, found_minor))) => {
            major == found_major && found_minor >= minor
        }
        _ => false,
    }
}

/// What to do about a version mismatch, depending on which side is behind.
fn version_advice(expected: &str, found: &str) -> String {
    match (major_minor(expected), major_minor(found)) {
        (Some(host), Some(plugin)) if plugin > host => format!(
            "the plugin is newer than this host; upgrade fieldsync to a release with \
             plugin ABI {found}, or use a release of the plugin built for ABI {expected}"
        ),
        _ => {
            format!("rebuild the plugin against a fieldsync-plugin-api release with ABI {expected}")
        }
    }
}

/// The plugin folder itself cannot be used: nothing in it is loaded.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The folder could not be read.
    #[error("cannot read plugin folder {}: {source}", path.display())]
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Someone other than the user running fieldsync (or root) may write to it.
    #[error("plugin folder refused: {reason}")]
    Untrusted {
        /// The folder.
        path: PathBuf,
        /// Why, and how to fix it.
        reason: String,
    },
}

impl LoadError {
    /// Translates abi_stable's error into a reason an operator can act on.
    pub(crate) fn from_library_error(error: &LibraryError) -> LoadError {
        match error {
            LibraryError::OpenError { err, .. } => LoadError::Unloadable(err.to_string()),
            LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin,
            LibraryError::ParseVersionError(err) => LoadError::IncompatibleVersion {
                expected: ABI_VERSION.to_owned(),
                found: format!("(unreadable: {err})"),
            },
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => LoadError::IncompatibleVersion {
                expected: expected_version.to_string(),
                found: actual_version.to_string(),
            },
            LibraryError::RootModule { err, .. } => LoadError::InitFailed(match err {
                RootModuleError::Unwound => "the root module panicked".to_owned(),
                RootModuleError::Returned(err) => err.to_string(),
            }),
            LibraryError::AbiInstability(err) => {
                let dump = err.to_string();
                log::debug!("abi_stable's full layout report: {dump}");
                LoadError::LayoutMismatch(error_lines(&dump))
            }
            LibraryError::InvalidAbiHeader(header) => LoadError::AbiStableMismatch(format!(
                "abi_stable ABI {}.{} in the plugin",
                header.abi_major, header.abi_minor
            )),
            LibraryError::InvalidCAbi { .. } => {
                LoadError::AbiStableMismatch("the C ABI tests of abi_stable failed".to_owned())
            }
            LibraryError::Many(errors) => match errors.first() {
                Some(first) => LoadError::from_library_error(first),
                None => LoadError::Unloadable(format!("{ABI_NAME}: unknown abi_stable error")),
            },
        }
    }
}

/// abi_stable explains a layout mismatch in hundreds of lines; the lines that start
/// with `Error:` say what is wrong, and the `Expected:`/`Found:` values under them
/// say how.
pub(crate) fn error_lines(dump: &str) -> Vec<String> {
    let lines: Vec<&str> = dump.lines().map(str::trim).collect();
    let mut errors: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(what) = line.strip_prefix("Error:").map(str::trim) else {
            continue;
        };
        if what.is_empty() {
            continue;
        }
        let rest = &lines[index + 1..];
        let block = &rest[..rest
            .iter()
            .position(|l| l.starts_with("Error:"))
            .unwrap_or(rest.len())
            .min(12)];
        let value_after = |label: &str| {
            let at = block.iter().position(|l| *l == label)?;
            block
                .get(at + 1)
                .filter(|value| !value.is_empty())
                .map(|value| shorten(value))
        };
        let error = match (value_after("Expected:"), value_after("Found:")) {
            (Some(expected), Some(found)) => {
                format!("{what} (expected `{expected}`, found `{found}`)")
            }
            _ => what.to_owned(),
        };
        if !errors.contains(&error) {
            errors.push(error);
        }
    }
    if errors.is_empty() {
        errors = lines
            .iter()
            .filter(|l| !l.is_empty())
            .take(3)
            .map(|l| (*l).to_owned())
            .collect();
    }
    errors
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_mismatches_say_which_side_to_upgrade() {
        assert!(abi_compatible("0.1.0", "0.1.7"));
        assert!(!abi_compatible("0.1.0", "0.2.0"));
        assert!(!abi_compatible("0.1.0", "0.0.7"));
        assert!(abi_compatible("1.2.0", "1.3.0"));
        assert!(!abi_compatible("1.2.0", "1.1.0"));
        assert!(!abi_compatible("0.1.0", "garbage"));
        let older = LoadError::IncompatibleVersion {
            expected: "0.1.0".into(),
            found: "0.0.7".into(),
        };
        assert!(older
            .to_string()
            .ends_with("rebuild the plugin against a fieldsync-plugin-api release with ABI 0.1.0"));
        let newer = LoadError::IncompatibleVersion {
            expected: "0.1.0".into(),
            found: "0.2.0".into(),
        };
        assert!(
            newer
                .to_string()
                .contains("the plugin is newer than this host; upgrade fieldsync"),
            "{newer}"
        );
    }

    #[test]
    fn only_the_error_lines_of_a_layout_dump_are_kept() {
        let dump = "\nCompared <this>:\n   type_name: Foo\n  lots of noise\nError:field count mismatch\n\
                    more noise\n   Error:mismatched package\nExpected:\n    fieldsync-plugin-api\nFound:\n    \
                    other-crate\n\n  Error:field count mismatch\n";
        assert_eq!(
            error_lines(dump),
            vec![
                "field count mismatch",
                "mismatched package (expected `fieldsync-plugin-api`, found `other-crate`)"
            ]
        );
        assert_eq!(error_lines("\n  something odd\n"), vec!["something odd"]);
    }
}
