//! # fieldsync-plugin-abi
//!
//! The frozen binary interface between the fieldsync host and a plugin library.
//!
//! Everything in this crate crosses the FFI boundary. Plugin authors never use it
//! directly: `fieldsync-plugin-api` re-exports it as `fieldsync_plugin_api::abi`,
//! its `export_plugin!` builds the root module, and `fieldsync-loader` consumes it.
//!
//! It is a crate of its own because abi_stable records the *crate* name and version
//! in every type layout it checks: if these types lived in the SDK crate, every SDK
//! release with a new minor version would make all installed plugins unloadable.
//! Here the crate version is the ABI version, so the SDK can move on freely.
//!
//! # Evolution rules
//!
//! abi_stable checks the layout of every type reachable from the root module when a
//! plugin is loaded. A prefix type (the root module, a `#[sabi_trait]` vtable) in the
//! *plugin* may have more fields than the host expects, never fewer. Adding a field or
//! a trait method on the host side would therefore make every installed plugin
//! unloadable. So:
//!
//! 1. The types in this crate are frozen while [`ABI_VERSION`] stays the same: no new
//!    fields, no new trait methods, no changed signatures, no renames.
//! 2. Anything that may grow travels as JSON text (the documents in
//!    `fieldsync_plugin_api::abi::wire`): new JSON fields carry `#[serde(default)]`,
//!    so that both an older plugin and an older host read the newer text, and unknown
//!    fields are ignored.
//! 3. New calls go through the `request` entries as new JSON request kinds, never as
//!    new fields or methods: [`PluginModule::request`], [`FfiOutgoingMapping::request`]
//!    and [`FfiIncomingMapping::request`] (host → plugin), [`FfiHost::request`] and
//!    [`FfiIssueView::request`] (plugin → host). A side that does not know a request
//!    answers with an [`FfiError`] of kind [`error_kind::UNSUPPORTED`], and the asking
//!    side falls back.
//! 4. When a layout really must change, bump the *minor* number of [`ABI_VERSION`]
//!    and of this crate together (abi_stable treats `0.y` as the major version) and say
//!    in the changelog that every plugin must be rebuilt.
//!
//! The version of the `fieldsync-plugin-api` crate is independent from [`ABI_VERSION`]:
//! the SDK can gain helpers, builder methods and JSON fields without touching the ABI.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString},
    StableAbi,
};

/// The version of the binary interface, checked by abi_stable when a plugin loads.
///
/// Plugins built against an ABI `0.y.*` load on hosts that speak `0.y.*` and no other.
/// Always equal to this crate's version.
pub const ABI_VERSION: &str = "0.1.0";

/// The name abi_stable uses for this interface in its own error messages.
pub const ABI_NAME: &str = "fieldsync-plugin";

/// Error kinds carried in [`FfiError::kind`]. Unknown kinds are read as [`error_kind::MAPPING`].
pub mod error_kind {
    /// The mapping could not map this value.
    pub const MAPPING: u32 = 0;
    /// The options given to a mapping constructor are invalid.
    pub const INVALID_OPTIONS: u32 = 1;
    /// The JSON handed over by the other side could not be read.
    pub const INVALID_INPUT: u32 = 2;
    /// Plugin code panicked; the message is the panic payload.
    pub const PANIC: u32 = 3;
    /// The plugin does not provide the requested mapping.
    pub const UNKNOWN_MAPPING: u32 = 4;
    /// The request is not supported by this side of the boundary.
    pub const UNSUPPORTED: u32 = 5;
    /// The plugin failed to initialise.
    pub const PLUGIN: u32 = 6;
}

/// An error that crosses the boundary: a kind from [`error_kind`] and a message.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    /// One of the constants in [`error_kind`].
    pub kind: u32,
    /// Human readable explanation.
    pub message: RString,
}

/// Services the host offers to a plugin. Created by the host, called by the plugin.
#[sabi_trait]
pub trait FfiHost: Send + Sync + 'static {
    /// Forwards one log record. `level` is 1 (error) to 5 (trace), like `log::Level`.
    fn log(&self, level: u32, target: RStr<'_>, message: RStr<'_>);

    /// Generic JSON request for host services added after this ABI was frozen.
    #[sabi(last_prefix_field)]
    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError>;
}

/// A boxed [`FfiHost`], as handed to a plugin's `init`.
pub type FfiHostBox = FfiHost_TO<RBox<()>>;

/// Read access to an issue's fields, lent by the host for the duration of one call.
#[sabi_trait]
pub trait FfiIssueView {
    /// The JSON value of a field, `None` when the issue has no such field, or an
    /// error when the host could not read it (a plugin must not take that for empty).
    fn field(&self, field_id: RStr<'_>) -> RResult<ROption<RString>, FfiError>;

    /// Generic JSON request for issue data added after this ABI was frozen
    /// (`fieldsync_plugin_api::abi::wire::ViewRequest`).
    #[sabi(last_prefix_field)]
    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError>;
}

/// A borrowed [`FfiIssueView`].
pub type FfiIssueViewRef<'a> = FfiIssueView_TO<'a, abi_stable::sabi_types::RRef<'a, ()>>;

/// An outgoing mapping instance living in the plugin.
#[sabi_trait]
pub trait FfiOutgoingMapping: Send + Sync {
    /// `call` is a `wire::OutgoingCall`; the result a `wire::OutgoingResult`.
    fn export(&self, call: RStr<'_>, issue: FfiIssueViewRef<'_>) -> RResult<RString, FfiError>;

    /// Generic JSON request for mapping calls added after this ABI was frozen.
    #[sabi(last_prefix_field)]
    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError>;
}

/// A boxed [`FfiOutgoingMapping`].
pub type FfiOutgoingBox = FfiOutgoingMapping_TO<'static, RBox<()>>;

/// An incoming mapping instance living in the plugin.
#[sabi_trait]
pub trait FfiIncomingMapping: Send + Sync {
    /// `call` is a `wire::IncomingCall`; `target` the existing target issue, absent
    /// while the issue is being created; the result a `wire::IncomingResult`.
    fn import(
        &self,
        call: RStr<'_>,
        target: ROption<FfiIssueViewRef<'_>>,
    ) -> RResult<RString, FfiError>;

    /// Generic JSON request for mapping calls added after this ABI was frozen.
    #[sabi(last_prefix_field)]
    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError>;
}

/// A boxed [`FfiIncomingMapping`].
pub type FfiIncomingBox = FfiIncomingMapping_TO<'static, RBox<()>>;

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// Called once after loading (and again if the same file is loaded again).
    /// `host_info` is a `wire::HostInfo`; returns the `wire::Manifest` JSON.
    pub init: extern "C" fn(host: FfiHostBox, host_info: RStr<'_>) -> RResult<RString, FfiError>,

    /// Builds an outgoing mapping from a `wire::ConstructRequest`.
    pub new_outgoing: extern "C" fn(request: RStr<'_>) -> RResult<FfiOutgoingBox, FfiError>,

    /// Builds an incoming mapping from a `wire::ConstructRequest`.
    pub new_incoming: extern "C" fn(request: RStr<'_>) -> RResult<FfiIncomingBox, FfiError>,

    /// Generic JSON request for plugin-level calls added after this ABI was frozen.
    #[sabi(last_prefix_field)]
    pub request: extern "C" fn(request: RStr<'_>) -> RResult<RString, FfiError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "fieldsync_plugin";
    const NAME: &'static str = ABI_NAME;
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abi_version_is_this_crates_version() {
        assert_eq!(ABI_VERSION, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_checked_layouts_belong_to_this_crate_not_to_the_sdk() {
        // abi_stable compares the package and version of these layouts between host
        // and plugin: they must not change when the SDK crate's version does.
        let (package, version) = <FfiError as StableAbi>::LAYOUT.package_and_version();
        assert_eq!(package.as_str(), "fieldsync-plugin-abi");
        assert_eq!(version.version.as_str(), ABI_VERSION);
        let root = format!("{:#?}", <PluginModuleRef as StableAbi>::LAYOUT);
        assert!(root.contains("fieldsync-plugin-abi"), "{root}");
        assert!(!root.contains("fieldsync-plugin-api"), "{root}");
    }
}
