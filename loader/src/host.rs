//! The host side of the boundary: what the host lends to a plugin.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use fieldsync_plugin_api::abi::wire::ViewRequest;
use fieldsync_plugin_api::abi::{error_kind, FfiError, FfiHost, FfiIssueView};
use fieldsync_plugin_api::{ErrorKind, IssueFields, MappingError};
use parking_lot::RwLock;

/// Receives a plugin's log records and hands them to the host's `log` logger under
/// the target `plugin::<plugin id>`.
pub(crate) struct HostServices {
    /// The plugin id once the manifest is known, the file name before.
    pub(crate) label: Arc<RwLock<String>>,
}

fn level_from_ffi(level: u32) -> log::Level {
    match level {
        0 | 1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

/// The host's log level as the plugin ABI counts it (0 off … 5 trace).
pub(crate) fn ffi_max_level() -> u32 {
    log::max_level() as u32
}

impl FfiHost for HostServices {
    fn log(&self, level: u32, target_in_plugin: RStr<'_>, message: RStr<'_>) {
        // abi_stable aborts the process if a callback unwinds into the plugin: a
        // panicking logger costs the record, never the host.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.forward(level, target_in_plugin.as_str(), message.as_str())
        }));
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        RResult::RErr(FfiError {
            kind: error_kind::UNSUPPORTED,
            message: format!(
                "this host answers no host requests yet (asked: {})",
                request.as_str()
            )
            .into(),
        })
    }
}

impl HostServices {
    fn forward(&self, level: u32, target_in_plugin: &str, message: &str) {
        let target = format!("plugin::{}", self.label.read());
        let logger = log::logger();
        let metadata = log::Metadata::builder()
            .level(level_from_ffi(level))
            .target(&target)
            .build();
        if logger.enabled(&metadata) {
            logger.log(
                &log::Record::builder()
                    .metadata(metadata)
                    // Keeps the plugin's own module path for loggers that show it.
                    .module_path(Some(target_in_plugin))
                    .args(format_args!("{message}"))
                    .build(),
            );
        }
    }
}

/// Lends an issue's fields to a plugin for the duration of one call.
///
/// A failure of the host's own code (the engine's issue store, say) is returned to the
/// plugin as an error, never unwound into it, and also kept here: the call then fails
/// with the host's error whatever the plugin answers, so a plugin that ignores the
/// error cannot turn "could not read" into "empty".
pub(crate) struct IssueView<'a> {
    fields: &'a dyn IssueFields,
    failure: RefCell<Option<MappingError>>,
}

impl<'a> IssueView<'a> {
    pub(crate) fn new(fields: &'a dyn IssueFields) -> Self {
        IssueView {
            fields,
            failure: RefCell::new(None),
        }
    }

    /// The first host failure during the call, if any.
    pub(crate) fn take_failure(&self) -> Option<MappingError> {
        self.failure.borrow_mut().take()
    }

    /// Runs host code for the plugin, keeping the first failure.
    fn guarded<T>(
        &self,
        what: std::fmt::Arguments<'_>,
        work: impl FnOnce() -> Result<T, MappingError>,
    ) -> RResult<T, FfiError> {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|payload| Err(MappingError::from_panic(payload.as_ref())));
        if let Err(error) = &outcome {
            let mut failure = self.failure.borrow_mut();
            if failure.is_none() {
                *failure = Some(error.clone().context(what));
            }
        }
        outcome.map_err(FfiError::from).into()
    }
}

impl FfiIssueView for IssueView<'_> {
    fn field(&self, field_id: RStr<'_>) -> RResult<ROption<RString>, FfiError> {
        let field_id = field_id.as_str();
        self.guarded(format_args!("reading field `{field_id}`"), || {
            let value = self.fields.field(field_id)?;
            Ok(value.map(|value| RString::from(value.to_string())).into())
        })
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        match serde_json::from_str::<ViewRequest>(request.as_str()) {
            Ok(ViewRequest::FieldIds) => {
                self.guarded(format_args!("reading the field ids"), || {
                    let ids = self.fields.field_ids()?;
                    Ok(RString::from(serde_json::Value::from(ids).to_string()))
                })
            }
            // Not a host failure: the plugin asked for something this host lacks.
            Err(error) => RResult::RErr(FfiError::from(MappingError::with_kind(
                ErrorKind::Unsupported,
                format!("unsupported issue view request: {error}"),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    #[test]
    fn the_view_serves_fields_and_field_ids() {
        let mut fields = Map::new();
        fields.insert("points".into(), json!(5));
        let view = IssueView::new(&fields);
        let points = view.field("points".into()).unwrap().into_option();
        assert_eq!(points.map(|s| s.into_string()), Some("5".into()));
        assert!(view.field("nope".into()).unwrap().is_none());
        let ids = view.request(r#"{"kind":"field_ids"}"#.into()).unwrap();
        assert_eq!(ids.as_str(), r#"["points"]"#);
        let error = view.request(r#"{"kind":"teleport"}"#.into()).unwrap_err();
        assert_eq!(error.kind, error_kind::UNSUPPORTED);
    }

    struct Broken;
    impl IssueFields for Broken {
        fn field(&self, field_id: &str) -> Result<Option<serde_json::Value>, MappingError> {
            if field_id == "panics" {
                panic!("store exploded");
            }
            Err(MappingError::new("database is locked"))
        }
        fn field_ids(&self) -> Result<Vec<String>, MappingError> {
            panic!("store exploded")
        }
    }

    #[test]
    fn host_failures_reach_the_plugin_as_errors_not_as_empty_fields_or_unwinding() {
        let view = IssueView::new(&Broken);
        let error = view.field("points".into()).unwrap_err();
        assert_eq!(error.message.as_str(), "database is locked");
        let failure = view.take_failure().expect("the host failure is kept");
        assert_eq!(
            failure.to_string(),
            "reading field `points`: database is locked"
        );
        let error = view.field("panics".into()).unwrap_err();
        assert_eq!(error.kind, error_kind::PANIC);
        let error = view.request(r#"{"kind":"field_ids"}"#.into()).unwrap_err();
        assert_eq!(error.kind, error_kind::PANIC);
        let failure = view.take_failure().unwrap();
        assert_eq!(
            failure.to_string(),
            "reading field `panics`: panicked: store exploded"
        );
        assert!(view.take_failure().is_none());
        let unsupported = view.request(r#"{"kind":"teleport"}"#.into()).unwrap_err();
        assert_eq!(unsupported.kind, error_kind::UNSUPPORTED);
        assert!(
            view.take_failure().is_none(),
            "an unknown request is no host failure"
        );
    }
}
