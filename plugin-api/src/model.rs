//! The data shared by the host and plugins lives with the plugin ABI (its wire
//! vocabulary), so that what crosses the boundary cannot change with an SDK release.

pub use crate::abi::wire::{
    check_id, Direction, FieldType, FieldUpdate, IssueInfo, MappingDescriptor, MappingSetup,
    PluginManifest, ReadManifest, Trigger, MAX_ID_LEN,
};
