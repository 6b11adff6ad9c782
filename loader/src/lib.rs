//! # fieldsync-loader
//!
//! Finds plugin libraries in one folder, checks them and adapts their mappings to the
//! [`fieldsync_plugin_api`] traits, so that a host calls a loaded mapping exactly like
//! a statically linked one.
//!
//! ```no_run
//! use fieldsync_loader::PluginLoader;
//!
//! let report = PluginLoader::new().load_dir("plugins".as_ref())?;
//! for rejected in &report.rejected {
//!     eprintln!("{}: {}", rejected.origin, rejected.error);
//! }
//! for mapping in report.mappings() {
//!     println!("{} {} from {}", mapping.descriptor.id, mapping.descriptor.direction, mapping.provider.origin());
//! }
//! # Ok::<(), fieldsync_loader::ScanError>(())
//! ```
//!
//! Loading a library runs its initialisation code, so the loader only ever loads
//! from the folder or file it is given, never from a search path, and only files
//! that no one but their owner (the user running fieldsync, or root) may change
//! ([`PermissionChecks`]). Each file is read once and loaded from a private copy
//! named by its SHA-256 digest ([`PluginCache`]), so a file overwritten or deleted in
//! the folder never changes code the process has mapped; [`PluginPins`] can bind
//! plugin ids to digests.

#![warn(missing_docs)]

mod adapter;
mod cache;
mod documents;
mod error;
mod host;
mod in_process;
mod library;
mod live;
mod pins;
mod precheck;
mod report;
mod scan;
mod trust;
mod watch;

pub use cache::{PluginCache, Sha256Digest, CACHE_DIR_ENV};
pub use error::{LoadError, ScanError};
pub use in_process::InProcessPlugin;
pub use library::LoadedPlugin;
pub use live::LivePlugins;
pub use pins::{Pin, PinsError, PluginPins};
pub use report::{
    AvailableMapping, Conflict, FileInfo, LoadReport, LoadedEntry, Rejected, Warning,
};
pub use scan::PluginLoader;
pub use trust::{PermissionChecks, INSECURE_PERMISSIONS_ENV};
pub use watch::FolderWatch;

/// The file name suffix of a shared library on this platform (`.so`, `.dylib`, `.dll`).
pub const LIBRARY_SUFFIX: &str = std::env::consts::DLL_SUFFIX;
