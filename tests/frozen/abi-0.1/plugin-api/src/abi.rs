//! The binary interface to plugin libraries ([`fieldsync_plugin_abi`], re-exported)
//! and the JSON documents that travel through it ([`wire`]).
//!
//! Plugin authors never use this directly; see the crate docs. The rules that keep
//! the interface compatible are in the docs of [`fieldsync_plugin_abi`].

pub use fieldsync_plugin_abi::*;

pub mod wire;
