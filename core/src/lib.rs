//! # fieldsync-core
//!
//! The sync engine. So far it holds the mapping [`registry`]: the one place the
//! engine looks up a mapping by id, whether a plugin library or the host itself
//! provides it.

#![warn(missing_docs)]

pub mod builtin;
pub mod registry;

pub use registry::{MappingRegistry, RegisteredMapping, RegistryError};
