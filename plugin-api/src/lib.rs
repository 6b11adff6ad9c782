//! # fieldsync-plugin-api
//!
//! Everything needed to write a fieldsync field-mapping plugin in safe Rust, and the
//! stable binary interface ([`abi`]) through which the host loads it.
//!
//! A plugin is a `cdylib` that provides **outgoing** mappings (export a field of a
//! source issue into the sync message) and/or **incoming** mappings (import message
//! data into a field of the target issue). Each mapping is built once per field
//! relationship from that relationship's JSON options, then called per issue.
//!
//! ## A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "acme-upper"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! fieldsync-plugin-api = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use fieldsync_plugin_api::{
//!     export_plugin, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping,
//!     MappingDescriptor, MappingError, OutgoingContext, OutgoingFieldMapping, Plugin,
//! };
//! use serde::Deserialize;
//! use serde_json::Value;
//!
//! /// Sends text fields in upper case, with an optional prefix.
//! struct Upper {
//!     prefix: String,
//! }
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct UpperOptions {
//!     #[serde(default)]
//!     prefix: String,
//! }
//!
//! impl OutgoingFieldMapping for Upper {
//!     fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
//!         match ctx.value() {
//!             Value::Null => Ok(Value::Null),
//!             Value::String(text) => Ok(format!("{}{}", self.prefix, text.to_uppercase()).into()),
//!             other => Err(MappingError::new(format!("expected text, got {other}"))),
//!         }
//!     }
//! }
//!
//! /// Writes the received text unless the target already holds it.
//! struct Keep;
//!
//! impl IncomingFieldMapping for Keep {
//!     fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
//!         if ctx.current_value()?.as_ref() == Some(ctx.data()) {
//!             return Ok(FieldUpdate::Unchanged);
//!         }
//!         Ok(FieldUpdate::Set(ctx.data().clone()))
//!     }
//! }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("acme.upper", "Acme upper case")
//!         .version(env!("CARGO_PKG_VERSION"))
//!         .vendor("Acme")
//!         .outgoing(
//!             MappingDescriptor::new("acme.upper", "Upper case text")
//!                 .description("Sends the text in upper case")
//!                 .accepts([FieldType::Text]),
//!             |options| {
//!                 let options: UpperOptions = options.parse()?;
//!                 Ok(Upper { prefix: options.prefix })
//!             },
//!         )
//!         .incoming(
//!             MappingDescriptor::new("acme.keep", "Keep text").accepts([FieldType::Text]),
//!             |_options| Ok(Keep),
//!         )
//! }
//!
//! export_plugin!(plugin);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release`, drop `target/release/libacme_upper.so`
//! (`.dll` on Windows, `.dylib` on macOS) into the plugin folder, and
//! `fieldsync plugins list --dir <folder>` lists its mappings.
//!
//! ## What the SDK does for you
//!
//! - Every call into the plugin runs inside `catch_unwind`: a panic becomes an error
//!   naming the plugin and the mapping, and the host keeps running.
//! - `log` records of the plugin are forwarded to the host's logger (each library has
//!   its own `log` state), where they appear under the target `plugin::<plugin id>`.
//! - Options are handed over as JSON; [`MappingOptions::parse`] reads them into a
//!   typed struct and reports bad options as [`ErrorKind::InvalidOptions`], so a bad
//!   configuration fails at start-up, when the mapping is built, before anything
//!   syncs.
//! - Other fields of the issue are read on demand through the context
//!   ([`OutgoingContext::other_field`], [`IncomingContext::target_field`]); only the
//!   mapped field's own data is serialized for each call.
//!
//! ## Compatibility
//!
//! Plugins and hosts agree on [`abi::ABI_VERSION`], not on this crate's version.
//! A plugin built against any `fieldsync-plugin-api` release with the same ABI version
//! loads on any host with that ABI version; see [`abi`] for the rules that keep it so.
#![warn(missing_docs)]

/// The binary interface to plugin libraries and the JSON documents that travel through
/// it ([`abi::wire`]): the crate `fieldsync-plugin-abi`, with the rules that keep it
/// compatible. Plugin authors never use it directly.
#[doc(inline)]
pub use fieldsync_plugin_abi as abi;
mod call_reading;
#[doc(hidden)]
pub mod canonical;
mod error;
#[doc(hidden)]
pub mod export;
mod mapping;
mod model;
mod plugin;

pub use error::{panic_message, ErrorKind, MappingError};
pub use mapping::{
    IncomingContext, IncomingFieldMapping, IssueFields, MappingOptions, NoFields, OutgoingContext,
    OutgoingFieldMapping, TargetIssue,
};
pub use model::{
    check_id, Direction, FieldType, FieldUpdate, IssueInfo, MappingDescriptor, MappingSetup,
    PluginManifest, ReadManifest, Trigger, MAX_ID_LEN,
};
pub use plugin::{mapping_context, MappingProvider, Plugin, PluginOrigin};

/// Re-exported so plugins need no direct dependency on it.
pub use serde_json;

/// Items used by [`export_plugin!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{root_module, PluginCell, PluginEntry};
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };

    /// The header abi_stable looks for in a plugin library.
    pub const fn lib_header(constructor: extern "C" fn() -> RootModuleResult) -> LibHeader {
        // SAFETY: `constructor` is the function generated by `export_plugin!`, which
        // returns a `PluginModuleRef`, the module type named here.
        unsafe {
            LibHeader::from_constructor::<crate::abi::PluginModuleRef>(
                constructor,
                CheckTypeLayout::Yes,
            )
        }
    }

    /// The symbol name abi_stable 0.11 loads the header from; `export_plugin!` spells it
    /// out because `#[no_mangle]` needs an identifier (a test checks it matches).
    pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";
}

/// Exports a plugin from a `cdylib`: pass the path of a function returning the
/// [`Plugin`]. The function runs once, when the host first loads the library; if it
/// panics the host rejects the file with the panic message.
///
/// ```
/// fn plugin() -> fieldsync_plugin_api::Plugin {
///     fieldsync_plugin_api::Plugin::new("acme.empty", "Nothing yet")
/// }
/// fieldsync_plugin_api::export_plugin!(plugin);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($definition:path) => {
        #[doc(hidden)]
        pub struct FieldsyncPluginEntry;

        impl $crate::__private::PluginEntry for FieldsyncPluginEntry {
            fn definition() -> $crate::Plugin {
                $definition()
            }

            fn cell() -> &'static $crate::__private::PluginCell {
                static CELL: $crate::__private::PluginCell = $crate::__private::PluginCell::new();
                &CELL
            }
        }

        /// This plugin's root module, as the host gets it from the library file. Tests
        /// of the plugin hand it to `fieldsync-plugin-test` to call the plugin through
        /// the real boundary without building and loading the library.
        #[doc(hidden)]
        #[allow(dead_code)]
        pub fn fieldsync_root_module() -> $crate::abi::PluginModuleRef {
            $crate::__private::root_module::<FieldsyncPluginEntry>()
        }

        const _: () = {
            // With `panic = "abort"` no panic can be caught, and one panicking mapping
            // would end the whole host: refuse to build such a plugin.
            #[cfg(panic = "abort")]
            compile_error!(
                "fieldsync plugins must be built with `panic = \"unwind\"` (the default): \
                 with `panic = \"abort\"` a panicking mapping would end the host"
            );

            extern "C" fn fieldsync_erased_module() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader(fieldsync_root_module)
            }

            #[no_mangle]
            #[allow(non_upper_case_globals)]
            pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
                $crate::__private::lib_header(fieldsync_erased_module);
        };
    };
}

#[cfg(test)]
mod tests {
    /// abi_stable compares the package name and version of every checked layout
    /// between host and plugin. Nothing reachable from the root module may come from
    /// this SDK crate, or each SDK release would break every installed plugin.
    #[test]
    fn the_checked_layouts_come_from_the_abi_crate_not_from_the_sdk() {
        use abi_stable::StableAbi;
        let layout = format!("{:#?}", <crate::abi::PluginModuleRef as StableAbi>::LAYOUT);
        assert!(layout.contains("fieldsync-plugin-abi"), "{layout}");
        assert!(!layout.contains(env!("CARGO_PKG_NAME")), "{layout}");
    }

    #[test]
    fn export_plugin_uses_the_symbol_abi_stable_looks_for() {
        assert_eq!(
            crate::__private::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
