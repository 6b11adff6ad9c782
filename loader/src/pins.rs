//! Pins: plugin ids bound to the SHA-256 digest of the file that may provide them.
//!
//! A lock file (JSON, written by `fieldsync plugins pin`) lists each pinned plugin
//! with its digest and the file name it had:
//!
//! ```json
//! { "pins": { "example.story-points": { "sha256": "…64 hex digits…", "file": "libfieldsync_story_points.so" } } }
//! ```
//!
//! A file named like a pinned one whose digest differs is refused before any of its
//! code runs. A file under another name is only known to provide a pinned id once its
//! manifest has been read, which runs its initialisation; it is then refused all the
//! same, before any mapping of it is used. Plugins that are not pinned load as usual.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cache::Sha256Digest;
use crate::error::LoadError;

/// The pins of one lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginPins {
    /// Pinned plugin ids.
    pub pins: BTreeMap<String, Pin>,
}

/// What a pinned plugin id must come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The digest of the file, 64 hex digits.
    pub sha256: String,
    /// The file's name in the plugin folder when it was pinned.
    pub file: String,
}

/// A lock file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("plugin pins {}: {reason}", file.display())]
pub struct PinsError {
    /// The lock file.
    pub file: std::path::PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl PluginPins {
    /// Reads a lock file.
    pub fn load(file: &Path) -> Result<PluginPins, PinsError> {
        let error = |reason: String| PinsError {
            file: file.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(file).map_err(|e| error(e.to_string()))?;
        let pins: PluginPins = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        for (id, pin) in &pins.pins {
            if Sha256Digest::parse(&pin.sha256).is_none() {
                return Err(error(format!(
                    "pins.{id}.sha256 is not 64 hex digits: `{}`",
                    pin.sha256
                )));
            }
        }
        Ok(pins)
    }

    /// Writes the lock file (pretty JSON, keys in order, so that a diff shows what
    /// changed).
    pub fn save(&self, file: &Path) -> Result<(), PinsError> {
        let text = serde_json::to_string_pretty(self).expect("pins serialize") + "\n";
        std::fs::write(file, text).map_err(|e| PinsError {
            file: file.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Refuses a file named like a pinned plugin's file whose digest differs, before
    /// it is loaded.
    pub(crate) fn check_file(
        &self,
        file_name: &str,
        found: &Sha256Digest,
    ) -> Result<(), LoadError> {
        match self
            .pins
            .iter()
            .find(|(_, pin)| pin.file == file_name && !same_digest(&pin.sha256, found))
        {
            Some((plugin_id, pin)) => Err(mismatch(plugin_id, pin, found)),
            None => Ok(()),
        }
    }

    /// Refuses a loaded plugin whose id is pinned to another digest.
    pub(crate) fn check_plugin(
        &self,
        plugin_id: &str,
        found: &Sha256Digest,
    ) -> Result<(), LoadError> {
        match self.pins.get(plugin_id) {
            Some(pin) if !same_digest(&pin.sha256, found) => Err(mismatch(plugin_id, pin, found)),
            _ => Ok(()),
        }
    }
}

fn same_digest(pinned: &str, found: &Sha256Digest) -> bool {
    pinned.eq_ignore_ascii_case(found.as_str())
}

fn mismatch(plugin_id: &str, pin: &Pin, found: &Sha256Digest) -> LoadError {
    LoadError::PinMismatch {
        plugin_id: plugin_id.to_owned(),
        expected: pin.sha256.to_ascii_lowercase(),
        found: found.to_string(),
    }
}
