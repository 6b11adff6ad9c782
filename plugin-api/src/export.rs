//! The plugin side of the boundary: turns a [`Plugin`] into the root module that
//! [`export_plugin!`](crate::export_plugin) exports, runs every call inside
//! `catch_unwind`, and forwards the plugin's `log` records to the host.
//!
//! Nothing here is meant to be used by hand; it is public only for the macro.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{OnceLock, RwLock};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{ROption, RResult, RStr, RString};
use serde_json::Value;

use crate::abi::wire::{ConstructRequest, HostInfo, IncomingResult, OutgoingResult, ViewRequest};
use crate::abi::{
    FfiError, FfiHostBox, FfiIncomingBox, FfiIncomingMapping, FfiIncomingMapping_TO,
    FfiIssueViewRef, FfiOutgoingBox, FfiOutgoingMapping, FfiOutgoingMapping_TO, PluginModule,
    PluginModuleRef,
};
use crate::call_reading::{IncomingCallIn, OutgoingCallIn};
use crate::canonical;
use crate::error::{record_panic_location, ErrorKind, MappingError};
use crate::mapping::{
    IncomingContext, IncomingFieldMapping, IssueFields, MappingOptions, OutgoingContext,
    OutgoingFieldMapping, TargetIssue,
};
use crate::plugin::Plugin;

/// The plugin definition, built on first use; an error if building it failed.
pub type PluginCell = OnceLock<Result<Plugin, String>>;

/// Implemented by the type [`export_plugin!`](crate::export_plugin) generates.
pub trait PluginEntry: 'static {
    /// Builds the author's plugin definition.
    fn definition() -> Plugin;
    /// The static that keeps the definition once built.
    fn cell() -> &'static PluginCell;
}

/// The root module for the plugin described by `E`.
pub fn root_module<E: PluginEntry>() -> PluginModuleRef {
    PluginModule {
        init: init::<E>,
        new_outgoing: new_outgoing::<E>,
        new_incoming: new_incoming::<E>,
        request: plugin_request,
    }
    .leak_into_prefix()
}

/// Runs `work` so that neither an error nor a panic can cross the boundary unhandled.
fn ffi_guard<T>(work: impl FnOnce() -> Result<T, MappingError>) -> RResult<T, FfiError> {
    let _call = CallGuard::enter();
    let outcome = catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|payload| Err(MappingError::from_panic(payload.as_ref())));
    outcome.map_err(FfiError::from).into()
}

thread_local! {
    /// How many calls from the host this thread is inside (a mapping may call back
    /// into the host, which may call into the plugin again).
    static CALL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current thread as running a call from the host, for the panic hook.
struct CallGuard;

impl CallGuard {
    fn enter() -> CallGuard {
        CALL_DEPTH.with(|depth| depth.set(depth.get() + 1));
        CallGuard
    }

    fn active() -> bool {
        CALL_DEPTH.with(|depth| depth.get() > 0)
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        CALL_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn plugin<E: PluginEntry>() -> Result<&'static Plugin, MappingError> {
    E::cell()
        .get_or_init(|| {
            catch_unwind(E::definition).map_err(|payload| {
                let error = MappingError::from_panic(payload.as_ref());
                format!(
                    "building the plugin definition panicked: {}",
                    error.message()
                )
            })
        })
        .as_ref()
        .map_err(|message| MappingError::with_kind(ErrorKind::Plugin, message.clone()))
}

fn read_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, MappingError> {
    serde_json::from_str(text).map_err(unreadable(what))
}

fn unreadable(what: &str) -> impl FnOnce(serde_json::Error) -> MappingError + '_ {
    move |error| {
        MappingError::with_kind(
            ErrorKind::InvalidInput,
            format!("cannot read {what}: {error}"),
        )
    }
}

fn write_json(value: &impl serde::Serialize) -> Result<RString, MappingError> {
    serde_json::to_string(value)
        .map(RString::from)
        .map_err(|error| {
            MappingError::with_kind(
                ErrorKind::Plugin,
                format!("cannot write the result as JSON: {error}"),
            )
        })
}

extern "C" fn init<E: PluginEntry>(
    host: FfiHostBox,
    host_info: RStr<'_>,
) -> RResult<RString, FfiError> {
    ffi_guard(|| {
        let info: HostInfo = read_json("host info", host_info.as_str())?;
        install_host_logger(host, info.max_log_level);
        install_panic_hook();
        write_json(plugin::<E>()?.manifest())
    })
}

extern "C" fn new_outgoing<E: PluginEntry>(request: RStr<'_>) -> RResult<FfiOutgoingBox, FfiError> {
    ffi_guard(|| {
        let request: ConstructRequest = read_json("construct request", request.as_str())?;
        let mapping = plugin::<E>()?.build_outgoing(
            &request.mapping_id,
            MappingOptions::new(request.options).with_setup(request.setup),
        )?;
        Ok(FfiOutgoingMapping_TO::from_value(
            OutgoingExport {
                mapping: Some(mapping),
            },
            TD_Opaque,
        ))
    })
}

extern "C" fn new_incoming<E: PluginEntry>(request: RStr<'_>) -> RResult<FfiIncomingBox, FfiError> {
    ffi_guard(|| {
        let request: ConstructRequest = read_json("construct request", request.as_str())?;
        let mapping = plugin::<E>()?.build_incoming(
            &request.mapping_id,
            MappingOptions::new(request.options).with_setup(request.setup),
        )?;
        Ok(FfiIncomingMapping_TO::from_value(
            IncomingExport {
                mapping: Some(mapping),
            },
            TD_Opaque,
        ))
    })
}

/// No plugin-level requests exist yet; a newer host asking one learns so and falls back.
extern "C" fn plugin_request(request: RStr<'_>) -> RResult<RString, FfiError> {
    ffi_guard(|| Err(unsupported(request.as_str())))
}

fn unsupported(request: &str) -> MappingError {
    MappingError::with_kind(
        ErrorKind::Unsupported,
        format!("this plugin's SDK does not know the request {request}"),
    )
}

/// An author's outgoing mapping behind the ABI trait.
struct OutgoingExport {
    /// `None` only while being dropped.
    mapping: Option<Box<dyn OutgoingFieldMapping>>,
}

impl OutgoingExport {
    fn mapping(&self) -> Result<&dyn OutgoingFieldMapping, MappingError> {
        self.mapping.as_deref().ok_or_else(dropped)
    }
}

fn dropped() -> MappingError {
    MappingError::with_kind(ErrorKind::Plugin, "the mapping was already dropped")
}

/// abi_stable aborts the process if a destructor unwinds across the boundary, so the
/// author's `Drop` runs behind a guard too.
fn drop_guarded<T: ?Sized>(mapping: Option<Box<T>>) {
    if catch_unwind(AssertUnwindSafe(move || drop(mapping))).is_err() {
        log::error!("a mapping panicked while being dropped");
    }
}

impl Drop for OutgoingExport {
    fn drop(&mut self) {
        drop_guarded(self.mapping.take());
    }
}

impl FfiOutgoingMapping for OutgoingExport {
    fn export(&self, call: RStr<'_>, issue: FfiIssueViewRef<'_>) -> RResult<RString, FfiError> {
        ffi_guard(|| {
            let call = OutgoingCallIn::read(call.as_str()).map_err(unreadable("outgoing call"))?;
            let fields = HostIssueFields { view: &issue };
            let source = call.issue();
            let ctx =
                OutgoingContext::new(&source, &call.field, &call.value, &call.trigger, &fields);
            let data = self.mapping()?.export(&ctx)?;
            write_json(&OutgoingResult { data })
        })
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        ffi_guard(|| Err(unsupported(request.as_str())))
    }
}

/// An author's incoming mapping behind the ABI trait.
struct IncomingExport {
    /// `None` only while being dropped.
    mapping: Option<Box<dyn IncomingFieldMapping>>,
}

impl IncomingExport {
    fn mapping(&self) -> Result<&dyn IncomingFieldMapping, MappingError> {
        self.mapping.as_deref().ok_or_else(dropped)
    }
}

impl Drop for IncomingExport {
    fn drop(&mut self) {
        drop_guarded(self.mapping.take());
    }
}

impl FfiIncomingMapping for IncomingExport {
    fn import(
        &self,
        call: RStr<'_>,
        target: ROption<FfiIssueViewRef<'_>>,
    ) -> RResult<RString, FfiError> {
        ffi_guard(|| {
            let call = IncomingCallIn::read(call.as_str()).map_err(unreadable("incoming call"))?;
            let view = target.into_option();
            let fields = view.as_ref().map(|view| HostIssueFields { view });
            let info = call.target();
            let target = match (&info, &fields) {
                (Some(info), Some(fields)) => Some(TargetIssue { info, fields }),
                _ => None,
            };
            let ctx = IncomingContext::new(target, &call.field, &call.data);
            let update = self.mapping()?.import(&ctx)?;
            write_json(&IncomingResult { update })
        })
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        ffi_guard(|| Err(unsupported(request.as_str())))
    }
}

/// The host's issue view, seen by the author as [`IssueFields`].
struct HostIssueFields<'v, 'a> {
    view: &'v FfiIssueViewRef<'a>,
}

impl IssueFields for HostIssueFields<'_, '_> {
    fn field(&self, field_id: &str) -> Result<Option<Value>, MappingError> {
        let answer = self.view.field(field_id.into()).into_result()?;
        match answer.into_option() {
            Some(json) => canonical::read_value(json.as_str())
                .map(Some)
                .map_err(unreadable("field value from host")),
            None => Ok(None),
        }
    }

    fn field_ids(&self) -> Result<Vec<String>, MappingError> {
        let request = write_json(&ViewRequest::FieldIds)?;
        let answer = self
            .view
            .request(request.as_rstr())
            .into_result()
            .map_err(MappingError::from)?;
        read_json("field ids from host", answer.as_str())
    }
}

/// The host this plugin forwards its log records to.
static HOST: RwLock<Option<FfiHostBox>> = RwLock::new(None);

struct ForwardToHost;

impl log::Log for ForwardToHost {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Ok(host) = HOST.read() {
            if let Some(host) = host.as_ref() {
                let message = record.args().to_string();
                host.log(
                    record.level() as u32,
                    record.target().into(),
                    message.as_str().into(),
                );
            }
        }
    }

    fn flush(&self) {}
}

static FORWARD_TO_HOST: ForwardToHost = ForwardToHost;

/// Routes this library's `log` records to the host. Each cdylib has its own `log`
/// state, so without this the plugin's records would vanish.
fn install_host_logger(host: FfiHostBox, max_level: u32) {
    if let Ok(mut slot) = HOST.write() {
        *slot = Some(host);
    }
    // Fails only if the author installed a logger of their own; theirs then stays.
    let _ = log::set_logger(&FORWARD_TO_HOST);
    log::set_max_level(level_filter(max_level));
}

fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// This library's std has its own panic hook, which would print to the host's stderr
/// behind its back; instead, a panic during a call from the host has its location kept
/// for the error and logged. Panics elsewhere (a thread of the plugin's own, or an
/// author's failing assertion when the plugin is tested in-process) still reach the
/// hook that was there before.
fn install_panic_hook() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CallGuard::active() {
                return previous(info);
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            log::debug!(
                "panic at {}",
                location.as_deref().unwrap_or("unknown location")
            );
            record_panic_location(location);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{FfiHost, FfiHost_TO, FfiIssueView, FfiIssueView_TO};
    use crate::model::{FieldUpdate, MappingDescriptor};
    use serde_json::json;

    struct Double;
    impl OutgoingFieldMapping for Double {
        fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
            let factor = ctx
                .other_field("factor")?
                .and_then(|v| v.as_f64())
                .unwrap_or(2.0);
            let value = ctx
                .value()
                .as_f64()
                .ok_or_else(|| MappingError::new("not a number"))?;
            log::info!("doubling {value}");
            Ok(json!(value * factor))
        }
    }

    struct Boom;
    impl IncomingFieldMapping for Boom {
        fn import(&self, _ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
            panic!("boom")
        }
    }

    struct Entry;
    impl PluginEntry for Entry {
        fn definition() -> Plugin {
            Plugin::new("test.glue", "Glue")
                .outgoing(MappingDescriptor::new("test.double", "Double"), |_| {
                    Ok(Double)
                })
                .incoming(MappingDescriptor::new("test.boom", "Boom"), |_| Ok(Boom))
        }
        fn cell() -> &'static PluginCell {
            static CELL: PluginCell = OnceLock::new();
            &CELL
        }
    }

    struct BrokenEntry;
    impl PluginEntry for BrokenEntry {
        fn definition() -> Plugin {
            panic!("definition exploded")
        }
        fn cell() -> &'static PluginCell {
            static CELL: PluginCell = OnceLock::new();
            &CELL
        }
    }

    struct NullHost;
    impl FfiHost for NullHost {
        fn log(&self, _level: u32, _target: RStr<'_>, _message: RStr<'_>) {}
        fn request(&self, _request: RStr<'_>) -> RResult<RString, FfiError> {
            RResult::RErr(FfiError {
                kind: 5,
                message: "unsupported".into(),
            })
        }
    }

    struct View(serde_json::Map<String, Value>);
    impl FfiIssueView for View {
        fn field(&self, field_id: RStr<'_>) -> RResult<ROption<RString>, FfiError> {
            RResult::ROk(
                self.0
                    .get(field_id.as_str())
                    .map(|v| RString::from(v.to_string()))
                    .into(),
            )
        }
        fn request(&self, _request: RStr<'_>) -> RResult<RString, FfiError> {
            RResult::ROk(
                serde_json::to_string(&self.0.keys().collect::<Vec<_>>())
                    .unwrap()
                    .into(),
            )
        }
    }

    fn host() -> FfiHostBox {
        FfiHost_TO::from_value(NullHost, TD_Opaque)
    }

    #[test]
    fn init_returns_the_manifest_json() {
        let module = root_module::<Entry>();
        let manifest = (module.init())(host(), r#"{"max_log_level":4}"#.into()).unwrap();
        let manifest: crate::PluginManifest = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest.id, "test.glue");
        assert_eq!(manifest.mappings.len(), 2);
    }

    #[test]
    fn a_panicking_definition_is_an_init_error() {
        let module = root_module::<BrokenEntry>();
        let error = (module.init())(host(), "{}".into()).unwrap_err();
        assert_eq!(error.kind, crate::abi::error_kind::PLUGIN);
        assert!(
            error.message.contains("definition exploded"),
            "{}",
            error.message
        );
    }

    #[test]
    fn calls_cross_as_json_and_read_fields_through_the_view() {
        let module = root_module::<Entry>();
        let mapping = (module.new_outgoing())(r#"{"mapping_id":"test.double"}"#.into()).unwrap();
        let mut fields = serde_json::Map::new();
        fields.insert("factor".into(), json!(3));
        let view = View(fields);
        let call =
            r#"{"issue":{"key":"A-1"},"field":"points","value":5,"trigger":{"kind":"new_issue"}}"#;
        let result = mapping
            .export(call.into(), FfiIssueView_TO::from_ptr(&view, TD_Opaque))
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&result).unwrap(),
            json!({"data": 15.0})
        );

        let error = mapping
            .export(r#"{"issue":{"key":"A-1"},"field":"points","value":"x","trigger":{"kind":"resync"}}"#.into(), FfiIssueView_TO::from_ptr(&view, TD_Opaque))
            .unwrap_err();
        assert_eq!(error.message.as_str(), "not a number");
        let error = mapping
            .export(
                "not json".into(),
                FfiIssueView_TO::from_ptr(&view, TD_Opaque),
            )
            .unwrap_err();
        assert_eq!(error.kind, crate::abi::error_kind::INVALID_INPUT);
    }

    #[test]
    fn a_panic_in_an_incoming_mapping_is_returned_as_an_error() {
        let module = root_module::<Entry>();
        let mapping =
            (module.new_incoming())(r#"{"mapping_id":"test.boom","options":null}"#.into()).unwrap();
        let call = r#"{"target":null,"field":"size","data":"M"}"#;
        let error = mapping.import(call.into(), ROption::RNone).unwrap_err();
        assert_eq!(error.kind, crate::abi::error_kind::PANIC);
        assert!(error.message.contains("boom"));
        let error = (module.new_incoming())(r#"{"mapping_id":"test.none"}"#.into())
            .err()
            .unwrap();
        assert_eq!(error.kind, crate::abi::error_kind::UNKNOWN_MAPPING);
    }
}
