//! A plugin linked into the running program, called through the plugin boundary as
//! if it had been loaded from a file: how a plugin's own tests exercise the real
//! boundary (JSON documents, panic capture, log forwarding) without building and
//! loading a library.

use fieldsync_plugin_api::abi::wire::HostInfo;
use fieldsync_plugin_api::abi::{FfiHostBox, PluginModuleRef};
use fieldsync_plugin_api::{
    IncomingFieldMapping, MappingError, MappingProvider, MappingSetup, OutgoingFieldMapping,
    PluginManifest, PluginOrigin,
};
use serde_json::Value;

use crate::error::LoadError;
use crate::library::{default_host_info, CheckedModule};

/// A plugin whose root module is linked into this program, initialised and checked
/// the way [`crate::PluginLoader`] checks a file (its manifest included), with mappings
/// built and called through the same host-side adapters.
pub struct InProcessPlugin {
    module: CheckedModule,
}

impl std::fmt::Debug for InProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessPlugin")
            .field("manifest", &self.module.manifest)
            .finish()
    }
}

impl InProcessPlugin {
    /// Runs the module's `init` with `host` (which receives the plugin's log records)
    /// and checks its manifest. `max_log_level` is the most verbose level the plugin
    /// is asked to forward (0 off, 1 error … 5 trace).
    ///
    /// The plugin shares this program's `log` state: `host` must keep the records it
    /// gets, not log them again, or they would come straight back to it.
    pub fn init(
        module: PluginModuleRef,
        host: FfiHostBox,
        max_log_level: u32,
    ) -> Result<InProcessPlugin, LoadError> {
        let host_info = HostInfo {
            max_log_level,
            ..default_host_info()
        };
        let module = CheckedModule::init(module, host, &host_info, "the linked plugin")?;
        Ok(InProcessPlugin { module })
    }

    /// Mapping entries of the manifest this host left out because it cannot read them.
    pub fn skipped_mappings(&self) -> &[String] {
        &self.module.skipped
    }
}

impl MappingProvider for InProcessPlugin {
    fn manifest(&self) -> &PluginManifest {
        &self.module.manifest
    }

    fn origin(&self) -> PluginOrigin {
        PluginOrigin::Static
    }

    fn new_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        self.module.build_outgoing(mapping_id, options, None)
    }

    fn new_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        self.module.build_incoming(mapping_id, options, None)
    }

    fn new_outgoing_for(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: &MappingSetup,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        self.module.build_outgoing(mapping_id, options, Some(setup))
    }

    fn new_incoming_for(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: &MappingSetup,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        self.module.build_incoming(mapping_id, options, Some(setup))
    }
}
