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
//! from the folder or file it is given, never from a search path.

#![warn(missing_docs)]

mod adapter;
mod error;
mod host;
mod library;
mod precheck;
mod report;

pub use error::{LoadError, ScanError};
pub use library::LoadedPlugin;
pub use report::{
    AvailableMapping, Conflict, LoadReport, LoadedEntry, PluginLoader, Rejected, Warning,
};

/// The file name suffix of a shared library on this platform (`.so`, `.dylib`, `.dll`).
pub const LIBRARY_SUFFIX: &str = std::env::consts::DLL_SUFFIX;
