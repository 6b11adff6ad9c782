//! # fieldsync-plugin-test
//!
//! Tests a fieldsync plugin from its own `cargo test`, through the real plugin
//! boundary: the plugin's root module is initialised and its manifest checked as the
//! host checks a file, every call goes through the same JSON documents and host-side
//! adapters as in `fieldsync sync`, a panic comes back as the error the host would
//! report (with where it happened), and the plugin's `log` records are captured.
//!
//! Add it as a dev-dependency of the plugin crate and test from a module inside the
//! crate (a `cdylib`'s integration tests cannot link it):
//!
//! ```toml
//! [dev-dependencies]
//! fieldsync-plugin-test = "0.1"
//! ```
//!
//! In the crate's `src/lib.rs`, below `export_plugin!(plugin);`, tests take the
//! crate's own plugin with [`this_plugin!`] (here as a doctest, so without the
//! `#[cfg(test)] mod tests { ... }` around it):
//!
//! ```
//! use fieldsync_plugin_api::{export_plugin, MappingDescriptor, MappingError, Plugin};
//! use fieldsync_plugin_api::{OutgoingContext, OutgoingFieldMapping};
//! use fieldsync_plugin_test::{this_plugin, TestIssue};
//! use serde_json::{json, Value};
//!
//! struct Severity;
//!
//! impl OutgoingFieldMapping for Severity {
//!     fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
//!         log::debug!("priority of {} is {}", ctx.issue().key, ctx.value());
//!         Ok(json!(if ctx.value() == "High" { "Critical" } else { "Minor" }))
//!     }
//! }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("acme.severity", "Severity")
//!         .outgoing(MappingDescriptor::new("acme.severity", "Priority → severity"), |_| {
//!             Ok(Severity)
//!         })
//! }
//!
//! export_plugin!(plugin);
//!
//! // #[test]
//! fn high_priority_becomes_critical() {
//!     let plugin = this_plugin!();
//!     let outgoing = plugin.outgoing("acme.severity", json!({})).unwrap();
//!     let issue = TestIssue::new("SUP-1").with("priority", "High");
//!     assert_eq!(outgoing.export_new(&issue, "priority").unwrap(), json!("Critical"));
//!     assert!(plugin.take_logs().iter().any(|r| r.message == r#"priority of SUP-1 is "High""#));
//! }
//! # fn main() { high_priority_becomes_critical() }
//! ```
//!
//! Issues follow the host's empty-field rule: a field set to `null` is empty, reads
//! as `None` and is not listed among the issue's fields.
#![warn(missing_docs)]

mod capture;
mod issue;
mod mappings;

use fieldsync_loader::InProcessPlugin;
use fieldsync_plugin_api::abi::PluginModuleRef;
use fieldsync_plugin_api::{
    FieldType, MappingError, MappingProvider, MappingSetup, PluginManifest,
};
use serde_json::Value;

pub use capture::LogRecord;
pub use fieldsync_loader::LoadError;
pub use issue::TestIssue;
pub use mappings::{check_update, Incoming, Outgoing};

/// Loads the plugin of the crate this is called in (the one whose `src/lib.rs` has
/// `export_plugin!`), panicking with the host's reason when it would be refused.
// `crate` is meant: the plugin is the crate the macro is called in.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! this_plugin {
    () => {
        $crate::PluginUnderTest::load(crate::fieldsync_root_module())
            .unwrap_or_else(|error| panic!("the host would refuse this plugin: {error}"))
    };
}

/// A plugin initialised through the plugin boundary, as the host would initialise the
/// library file.
#[derive(Debug)]
pub struct PluginUnderTest {
    plugin: InProcessPlugin,
}

impl PluginUnderTest {
    /// Initialises `module` (from `crate::fieldsync_root_module()`, see
    /// [`this_plugin!`]) and checks its manifest as the host does.
    pub fn load(module: PluginModuleRef) -> Result<PluginUnderTest, LoadError> {
        let plugin = InProcessPlugin::init(module, capture::host(), capture::TRACE)?;
        Ok(PluginUnderTest { plugin })
    }

    /// The manifest the plugin answered.
    pub fn manifest(&self) -> &PluginManifest {
        self.plugin.manifest()
    }

    /// Builds the outgoing mapping `mapping_id` with `options`, as a host that does
    /// not say where (the constructor's [`MappingOptions::setup`] is `None`).
    ///
    /// [`MappingOptions::setup`]: fieldsync_plugin_api::MappingOptions::setup
    pub fn outgoing(&self, mapping_id: &str, options: Value) -> Result<Outgoing, MappingError> {
        self.plugin
            .new_outgoing(mapping_id, &options)
            .map(Outgoing::new)
    }

    /// Builds the outgoing mapping `mapping_id` for the field `setup` describes, as
    /// `fieldsync sync` builds it for a relationship (see [`setup_for`]).
    pub fn outgoing_for(
        &self,
        mapping_id: &str,
        options: Value,
        setup: &MappingSetup,
    ) -> Result<Outgoing, MappingError> {
        self.plugin
            .new_outgoing_for(mapping_id, &options, setup)
            .map(Outgoing::new)
    }

    /// Builds the incoming mapping `mapping_id` with `options`, without a setup.
    pub fn incoming(&self, mapping_id: &str, options: Value) -> Result<Incoming, MappingError> {
        self.plugin
            .new_incoming(mapping_id, &options)
            .map(Incoming::new)
    }

    /// Builds the incoming mapping `mapping_id` for the field `setup` describes.
    pub fn incoming_for(
        &self,
        mapping_id: &str,
        options: Value,
        setup: &MappingSetup,
    ) -> Result<Incoming, MappingError> {
        self.plugin
            .new_incoming_for(mapping_id, &options, setup)
            .map(Incoming::new)
    }

    /// Every log record made on this thread since the last call, oldest first: the
    /// plugin's records (which the host shows under `plugin::<plugin id>`) and any
    /// other record of this test binary, since an in-process plugin shares its `log`
    /// state. Capturing needs the plugin's logger: a test that installs a logger of
    /// its own before loading the plugin sees nothing here.
    pub fn take_logs(&self) -> Vec<LogRecord> {
        capture::take()
    }
}

/// The setup `fieldsync sync` gives a mapping built for `field` of type `field_type`
/// on side `a` of project `TEST`, whose fields are `project_fields` (and `field`).
pub fn setup_for(field: &str, field_type: FieldType, project_fields: &[&str]) -> MappingSetup {
    let mut fields: Vec<String> = project_fields.iter().map(|id| (*id).to_owned()).collect();
    if !fields.iter().any(|id| id == field) {
        fields.push(field.to_owned());
    }
    MappingSetup {
        sync: "test".to_owned(),
        relationship: format!("test-{field}"),
        side: "a".to_owned(),
        project: "TEST".to_owned(),
        field: field.to_owned(),
        field_type: Some(field_type),
        project_fields: fields,
    }
}
