//! # fieldsync-core
//!
//! The sync engine: the issue [`model`], the [`store`] (SQLite by default), the sync
//! [`config`], the [`message`] the queues exchange, the [`engine`] running the
//! outgoing and incoming queues, the [`builtin`] mappings and the mapping
//! [`registry`]; [`control`] lists, retries and skips failures and reports status.

#![warn(missing_docs)]

pub mod builtin;
pub mod config;
pub mod control;
pub mod engine;
pub mod failpoint;
pub mod message;
pub mod model;
pub mod registry;
pub mod runner;
pub mod store;

pub use config::SyncConfig;
pub use control::{ControlError, HostNote, SyncControl, PLUGINS_NOTE};
pub use engine::{Connector, Connectors, SideStores};
pub use engine::{Engine, EngineError, RoundReport};
pub use registry::{MappingRegistry, RegisteredMapping, RegistryError};
pub use runner::{ClaimError, RunnerClaim, RunnerInfo};
pub use store::{AtomicApply, SqliteStore, StoreError, SyncLedger, SyncStore, Tracker};
