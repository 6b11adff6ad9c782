//! Opens one plugin library (a private copy of a plugin file) and checks it, down to a
//! valid manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{lib_header_from_path, RootModule};
use abi_stable::sabi_trait::TD_Opaque;
use fieldsync_plugin_api::abi::wire::{ConstructRequest, HostInfo};
use fieldsync_plugin_api::abi::{FfiHostBox, FfiHost_TO, PluginModuleRef, ABI_VERSION};
use fieldsync_plugin_api::{
    mapping_context, IncomingFieldMapping, MappingError, MappingProvider, MappingSetup,
    OutgoingFieldMapping, PluginManifest, PluginOrigin, ReadManifest,
};
use parking_lot::RwLock;
use serde_json::Value;

use crate::adapter::{LoadedIncoming, LoadedOutgoing};
use crate::cache::Sha256Digest;
use crate::error::{abi_compatible, LoadError};
use crate::host::{ffi_max_level, HostServices};
use crate::precheck::check_library_file;

/// One version of a plugin library, loaded from its private copy. Libraries are
/// never unloaded: a Rust cdylib cannot be unloaded safely.
pub(crate) struct Library {
    module: CheckedModule,
    digest: Sha256Digest,
    /// The private copy the dynamic linker mapped.
    copy: PathBuf,
}

impl Library {
    /// Loads and checks the library in `copy` (a private copy, see [`crate::cache`]);
    /// `name` is the file name in the folder, which the plugin's logs carry until its
    /// manifest names it.
    pub(crate) fn load(
        copy: &Path,
        digest: Sha256Digest,
        name: &str,
        host_info: &HostInfo,
    ) -> Result<Library, LoadError> {
        check_library_file(copy)?;
        let header =
            lib_header_from_path(copy).map_err(|error| LoadError::from_library_error(&error))?;
        let consts = header.root_mod_consts();
        if consts.base_name().as_str() != PluginModuleRef::BASE_NAME {
            return Err(LoadError::ForeignModule(consts.name().as_str().to_owned()));
        }
        // abi_stable would let a plugin of a newer 0.y through to its layout check and
        // report a confusing layout mismatch; say plainly which side is behind.
        let found = header.version_strings().version.as_str();
        if !abi_compatible(ABI_VERSION, found) {
            return Err(LoadError::IncompatibleVersion {
                expected: ABI_VERSION.to_owned(),
                found: found.to_owned(),
            });
        }
        let module = header
            .init_root_module::<PluginModuleRef>()
            .map_err(|error| LoadError::from_library_error(&error))?;

        let label = Arc::new(RwLock::new(name.to_owned()));
        let host = FfiHost_TO::from_value(
            HostServices {
                label: Arc::clone(&label),
            },
            TD_Opaque,
        );
        let module = CheckedModule::init(module, host, host_info, name)?;
        *label.write() = module.manifest.id.clone();
        log::debug!(
            "loaded plugin `{}` {} from {name} (sha256 {}, private copy {})",
            module.manifest.id,
            module.manifest.version,
            digest.short(),
            copy.display()
        );
        Ok(Library {
            module,
            digest,
            copy: copy.to_owned(),
        })
    }

    pub(crate) fn manifest(&self) -> &PluginManifest {
        &self.module.manifest
    }
}

/// A plugin's root module after `init`, with a manifest that passed the host's
/// checks: what builds mappings, whether the module came from a file or is linked
/// into the program (see [`crate::InProcessPlugin`]).
pub(crate) struct CheckedModule {
    pub(crate) manifest: PluginManifest,
    /// Manifest entries this host could not read (from a newer SDK).
    pub(crate) skipped: Vec<String>,
    module: PluginModuleRef,
}

impl CheckedModule {
    /// Calls the module's `init` with `host` and checks the manifest it answers;
    /// `name` is what messages call the plugin until its manifest names it.
    pub(crate) fn init(
        module: PluginModuleRef,
        host: FfiHostBox,
        host_info: &HostInfo,
        name: &str,
    ) -> Result<CheckedModule, LoadError> {
        let host_info =
            serde_json::to_string(host_info).map_err(|e| LoadError::InitFailed(e.to_string()))?;
        let manifest = (module.init())(host, host_info.as_str().into())
            .into_result()
            .map_err(|error| LoadError::InitFailed(MappingError::from(error).to_string()))?;
        let read = PluginManifest::from_json_lenient(manifest.as_str()).map_err(|error| {
            LoadError::InvalidManifest(vec![format!("unreadable JSON: {error}")])
        })?;
        let problems = read.problems();
        if !problems.is_empty() {
            return Err(LoadError::InvalidManifest(problems));
        }
        let ReadManifest {
            manifest, skipped, ..
        } = read;
        for entry in &skipped {
            log::warn!("{name}: skipped a mapping this host cannot read, {entry}");
        }
        Ok(CheckedModule {
            manifest,
            skipped,
            module,
        })
    }

    fn construct_request(
        mapping_id: &str,
        options: &Value,
        setup: Option<&MappingSetup>,
    ) -> Result<String, MappingError> {
        serde_json::to_string(&ConstructRequest {
            mapping_id: mapping_id.to_owned(),
            options: options.clone(),
            setup: setup.cloned(),
        })
        .map_err(|error| MappingError::new(error.to_string()))
    }

    pub(crate) fn build_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: Option<&MappingSetup>,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        let context = self.context(mapping_id);
        let request =
            Self::construct_request(mapping_id, options, setup).map_err(|e| e.context(&context))?;
        let inner = (self.module.new_outgoing())(request.as_str().into())
            .into_result()
            .map_err(|error| MappingError::from(error).context(&context))?;
        Ok(Box::new(LoadedOutgoing::new(inner, context)))
    }

    pub(crate) fn build_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: Option<&MappingSetup>,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        let context = self.context(mapping_id);
        let request =
            Self::construct_request(mapping_id, options, setup).map_err(|e| e.context(&context))?;
        let inner = (self.module.new_incoming())(request.as_str().into())
            .into_result()
            .map_err(|error| MappingError::from(error).context(&context))?;
        Ok(Box::new(LoadedIncoming::new(inner, context)))
    }

    fn context(&self, mapping_id: &str) -> String {
        mapping_context(&self.manifest.id, mapping_id)
    }
}

/// A plugin loaded from a library file: one loaded library under the name a folder
/// (or a command line) gave it.
#[derive(Clone)]
pub struct LoadedPlugin {
    library: Arc<Library>,
    /// The file as named in the folder, or as given.
    path: PathBuf,
    /// Where a symbolic link in the folder points.
    target: Option<PathBuf>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("manifest", self.library.manifest())
            .field("path", &self.path)
            .field("sha256", &self.library.digest)
            .finish()
    }
}

impl LoadedPlugin {
    pub(crate) fn new(library: Arc<Library>, path: PathBuf, target: Option<PathBuf>) -> Self {
        LoadedPlugin {
            library,
            path,
            target,
        }
    }

    /// Mapping entries of the manifest this host left out because they use values it
    /// does not know (typically declared with a newer SDK).
    pub fn skipped_mappings(&self) -> &[String] {
        &self.library.module.skipped
    }

    /// The file as named in the plugin folder (or as given to the loader).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file is a symbolic link to, if it is one.
    pub fn target(&self) -> Option<&Path> {
        self.target.as_deref()
    }

    /// The SHA-256 digest of the file's bytes when it was loaded.
    pub fn digest(&self) -> &Sha256Digest {
        &self.library.digest
    }

    /// The private copy the dynamic linker mapped (the folder's file may have changed
    /// or gone since).
    pub fn loaded_copy(&self) -> &Path {
        &self.library.copy
    }
}

/// What this host tells plugins about itself.
pub(crate) fn default_host_info() -> HostInfo {
    HostInfo {
        host: "fieldsync".to_owned(),
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
        abi_version: ABI_VERSION.to_owned(),
        max_log_level: ffi_max_level(),
    }
}

/// The last part of `path`, for messages.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl MappingProvider for LoadedPlugin {
    fn manifest(&self) -> &PluginManifest {
        self.library.manifest()
    }

    fn origin(&self) -> PluginOrigin {
        PluginOrigin::File(self.path.clone())
    }

    fn new_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        self.library
            .module
            .build_outgoing(mapping_id, options, None)
    }

    fn new_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        self.library
            .module
            .build_incoming(mapping_id, options, None)
    }

    fn new_outgoing_for(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: &MappingSetup,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        self.library
            .module
            .build_outgoing(mapping_id, options, Some(setup))
    }

    fn new_incoming_for(
        &self,
        mapping_id: &str,
        options: &Value,
        setup: &MappingSetup,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        self.library
            .module
            .build_incoming(mapping_id, options, Some(setup))
    }
}
