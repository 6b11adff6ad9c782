//! A plugin definition: its manifest and the constructors of its mappings.
//!
//! The same [`Plugin`] value serves a plugin library (through
//! [`export_plugin!`](crate::export_plugin)) and a statically linked plugin registered
//! directly with a host: a built-in mapping is just a plugin that is linked in.

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{ErrorKind, MappingError};
use crate::mapping::{
    IncomingContext, IncomingFieldMapping, MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use crate::model::{Direction, FieldUpdate, MappingDescriptor, PluginManifest};

type Constructor<T> = Box<dyn Fn(MappingOptions) -> Result<Box<T>, MappingError> + Send + Sync>;

/// Where a host got a plugin from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginOrigin {
    /// Linked into the host program.
    Static,
    /// Loaded from a library file.
    File(std::path::PathBuf),
}

impl fmt::Display for PluginOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginOrigin::Static => f.write_str("built-in"),
            PluginOrigin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What a host needs from a plugin, whether it is linked in or loaded from a file.
pub trait MappingProvider: Send + Sync {
    /// The plugin's manifest.
    fn manifest(&self) -> &PluginManifest;

    /// Where the plugin came from, for messages.
    fn origin(&self) -> PluginOrigin;

    /// Builds the outgoing mapping `mapping_id` with a relationship's options.
    fn new_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError>;

    /// Builds the incoming mapping `mapping_id` with a relationship's options.
    fn new_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError>;
}

/// A plugin: who it is and how to build each of its mappings.
///
/// ```
/// use fieldsync_plugin_api::{
///     FieldType, MappingDescriptor, MappingError, OutgoingContext, OutgoingFieldMapping, Plugin,
/// };
/// use serde_json::Value;
///
/// struct Upper;
/// impl OutgoingFieldMapping for Upper {
///     fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
///         Ok(ctx.value().as_str().map(str::to_uppercase).into())
///     }
/// }
///
/// let plugin = Plugin::new("acme.text", "Acme text tools")
///     .version("1.2.0")
///     .vendor("Acme")
///     .outgoing(
///         MappingDescriptor::new("acme.upper", "Upper case").accepts([FieldType::Text]),
///         |_options| Ok(Upper),
///     );
/// assert_eq!(plugin.manifest().mappings.len(), 1);
/// ```
pub struct Plugin {
    manifest: PluginManifest,
    outgoing: HashMap<String, Constructor<dyn OutgoingFieldMapping>>,
    incoming: HashMap<String, Constructor<dyn IncomingFieldMapping>>,
}

impl Plugin {
    /// A plugin with an id in `vendor.name` style and a display name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Plugin {
            manifest: PluginManifest {
                id: id.into(),
                name: name.into(),
                version: String::new(),
                vendor: String::new(),
                description: String::new(),
                mappings: Vec::new(),
            },
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
        }
    }

    /// The plugin's own version, usually `env!("CARGO_PKG_VERSION")`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.manifest.version = version.into();
        self
    }

    /// Who made the plugin.
    pub fn vendor(mut self, vendor: impl Into<String>) -> Self {
        self.manifest.vendor = vendor.into();
        self
    }

    /// What the plugin is for.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.manifest.description = description.into();
        self
    }

    /// Adds an outgoing mapping. `construct` runs once per field relationship with its
    /// options and should reject bad options with [`MappingError::invalid_options`].
    pub fn outgoing<M, F>(mut self, mut descriptor: MappingDescriptor, construct: F) -> Self
    where
        M: OutgoingFieldMapping + 'static,
        F: Fn(MappingOptions) -> Result<M, MappingError> + Send + Sync + 'static,
    {
        descriptor.direction = Direction::Outgoing;
        let constructor: Constructor<dyn OutgoingFieldMapping> =
            Box::new(move |options| Ok(Box::new(construct(options)?)));
        self.outgoing.insert(descriptor.id.clone(), constructor);
        self.manifest.mappings.push(descriptor);
        self
    }

    /// Adds an incoming mapping; see [`outgoing`](Self::outgoing).
    pub fn incoming<M, F>(mut self, mut descriptor: MappingDescriptor, construct: F) -> Self
    where
        M: IncomingFieldMapping + 'static,
        F: Fn(MappingOptions) -> Result<M, MappingError> + Send + Sync + 'static,
    {
        descriptor.direction = Direction::Incoming;
        let constructor: Constructor<dyn IncomingFieldMapping> =
            Box::new(move |options| Ok(Box::new(construct(options)?)));
        self.incoming.insert(descriptor.id.clone(), constructor);
        self.manifest.mappings.push(descriptor);
        self
    }

    /// The manifest built from the calls above.
    pub fn manifest(&self) -> &PluginManifest {
        &self.manifest
    }

    /// Builds an outgoing mapping. Panics in the constructor and in every later call
    /// of the mapping come back as [`ErrorKind::Panic`] errors.
    pub fn build_outgoing(
        &self,
        mapping_id: &str,
        options: MappingOptions,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        let construct = self
            .outgoing
            .get(mapping_id)
            .ok_or_else(|| unknown_mapping(Direction::Outgoing))?;
        let inner = guard(|| construct(options))?;
        Ok(Box::new(PanicGuard { inner }))
    }

    /// Builds an incoming mapping; see [`build_outgoing`](Self::build_outgoing).
    pub fn build_incoming(
        &self,
        mapping_id: &str,
        options: MappingOptions,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        let construct = self
            .incoming
            .get(mapping_id)
            .ok_or_else(|| unknown_mapping(Direction::Incoming))?;
        let inner = guard(|| construct(options))?;
        Ok(Box::new(PanicGuard { inner }))
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

/// Callers put the plugin and mapping in front (see [`Plugin::context`]).
fn unknown_mapping(direction: Direction) -> MappingError {
    MappingError::with_kind(
        ErrorKind::UnknownMapping,
        format!("the plugin has no {direction} mapping of this id"),
    )
}

/// Runs `work`, turning a panic into an [`ErrorKind::Panic`] error.
pub(crate) fn guard<T>(work: impl FnOnce() -> Result<T, MappingError>) -> Result<T, MappingError> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|payload| Err(MappingError::from_panic(payload.as_ref())))
}

/// Keeps a panicking mapping from unwinding into the engine.
struct PanicGuard<T: ?Sized> {
    inner: Box<T>,
}

impl OutgoingFieldMapping for PanicGuard<dyn OutgoingFieldMapping> {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        guard(|| self.inner.export(ctx))
    }
}

impl IncomingFieldMapping for PanicGuard<dyn IncomingFieldMapping> {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        guard(|| self.inner.import(ctx))
    }
}

impl MappingProvider for Plugin {
    fn manifest(&self) -> &PluginManifest {
        &self.manifest
    }

    fn origin(&self) -> PluginOrigin {
        PluginOrigin::Static
    }

    fn new_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        let context = self.context(mapping_id);
        let inner = self
            .build_outgoing(mapping_id, MappingOptions::new(options.clone()))
            .map_err(|error| error.context(&context))?;
        Ok(Box::new(InContext { inner, context }))
    }

    fn new_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        let context = self.context(mapping_id);
        let inner = self
            .build_incoming(mapping_id, MappingOptions::new(options.clone()))
            .map_err(|error| error.context(&context))?;
        Ok(Box::new(InContext { inner, context }))
    }
}

impl Plugin {
    /// What errors of `mapping_id` are prefixed with, the same for linked and loaded
    /// plugins: ``plugin `x` mapping `y` ``.
    pub fn context(&self, mapping_id: &str) -> String {
        format!("plugin `{}` mapping `{mapping_id}`", self.manifest.id)
    }
}

/// Names the plugin and mapping in every error of a statically linked mapping, as the
/// loader does for loaded ones.
struct InContext<T: ?Sized> {
    inner: Box<T>,
    context: String,
}

impl OutgoingFieldMapping for InContext<dyn OutgoingFieldMapping> {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.inner
            .export(ctx)
            .map_err(|error| error.context(&self.context))
    }
}

impl IncomingFieldMapping for InContext<dyn IncomingFieldMapping> {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        self.inner
            .import(ctx)
            .map_err(|error| error.context(&self.context))
    }
}

impl<P: MappingProvider + ?Sized> MappingProvider for Arc<P> {
    fn manifest(&self) -> &PluginManifest {
        (**self).manifest()
    }

    fn origin(&self) -> PluginOrigin {
        (**self).origin()
    }

    fn new_outgoing(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn OutgoingFieldMapping>, MappingError> {
        (**self).new_outgoing(mapping_id, options)
    }

    fn new_incoming(
        &self,
        mapping_id: &str,
        options: &Value,
    ) -> Result<Box<dyn IncomingFieldMapping>, MappingError> {
        (**self).new_incoming(mapping_id, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::NoFields;
    use crate::model::{IssueInfo, Trigger};
    use serde_json::json;

    struct Panics;
    impl OutgoingFieldMapping for Panics {
        fn export(&self, _ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
            panic!("mapping exploded")
        }
    }

    struct Keep;
    impl IncomingFieldMapping for Keep {
        fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
            Ok(FieldUpdate::Set(ctx.data().clone()))
        }
    }

    fn plugin() -> Plugin {
        Plugin::new("test.plugin", "Test")
            .outgoing(MappingDescriptor::new("test.panics", "Panics"), |_| {
                Ok(Panics)
            })
            .incoming(MappingDescriptor::new("test.keep", "Keep"), |options| {
                options.parse::<serde_json::Map<String, Value>>()?;
                Ok(Keep)
            })
            .incoming(
                MappingDescriptor::new("test.bad-constructor", "Bad"),
                |_| -> Result<Keep, _> { panic!("constructor exploded") },
            )
    }

    #[test]
    fn the_manifest_lists_each_mapping_with_its_direction() {
        let plugin = plugin();
        let directions: Vec<_> = plugin
            .manifest()
            .mappings
            .iter()
            .map(|m| (m.id.as_str(), m.direction))
            .collect();
        assert_eq!(
            directions,
            vec![
                ("test.panics", Direction::Outgoing),
                ("test.keep", Direction::Incoming),
                ("test.bad-constructor", Direction::Incoming),
            ]
        );
    }

    #[test]
    fn a_panicking_mapping_becomes_an_error_and_the_next_call_still_runs() {
        let mapping = plugin().new_outgoing("test.panics", &Value::Null).unwrap();
        let issue = IssueInfo::default();
        for _ in 0..2 {
            let ctx = OutgoingContext::new(&issue, "f", &Value::Null, &Trigger::Resync, &NoFields);
            let error = mapping.export(&ctx).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Panic);
            assert!(error.message().starts_with("mapping exploded"), "{error}");
        }
    }

    #[test]
    fn constructor_failures_and_unknown_ids_are_errors() {
        let plugin = plugin();
        let error = plugin
            .new_incoming("test.bad-constructor", &Value::Null)
            .err()
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::Panic);
        let error = plugin.new_incoming("test.keep", &json!([1])).err().unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidOptions);
        let error = plugin
            .new_outgoing("test.keep", &Value::Null)
            .err()
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::UnknownMapping);
        assert_eq!(
            error.to_string(),
            "plugin `test.plugin` mapping `test.keep`: the plugin has no outgoing mapping of this id"
        );
        let keep = plugin.new_incoming("test.keep", &Value::Null).unwrap();
        let data = json!("x");
        let update = keep
            .import(&IncomingContext::new(None, "f", &data))
            .unwrap();
        assert_eq!(update, FieldUpdate::Set(json!("x")));
    }
}
