//! The host side of the boundary: what the host lends to a plugin.

use std::sync::Arc;

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use fieldsync_plugin_api::abi::wire::ViewRequest;
use fieldsync_plugin_api::abi::{error_kind, FfiError, FfiHost, FfiIssueView};
use fieldsync_plugin_api::IssueFields;
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
        let level = level_from_ffi(level);
        let target = format!("plugin::{}", self.label.read());
        let logger = log::logger();
        let metadata = log::Metadata::builder()
            .level(level)
            .target(&target)
            .build();
        if logger.enabled(&metadata) {
            logger.log(
                &log::Record::builder()
                    .metadata(metadata)
                    // Keeps the plugin's own module path for loggers that show it.
                    .module_path(Some(target_in_plugin.as_str()))
                    .args(format_args!("{}", message.as_str()))
                    .build(),
            );
        }
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

/// Lends an issue's fields to a plugin for the duration of one call.
pub(crate) struct IssueView<'a> {
    pub(crate) fields: &'a dyn IssueFields,
}

impl FfiIssueView for IssueView<'_> {
    fn field(&self, field_id: RStr<'_>) -> ROption<RString> {
        match self.fields.field(field_id.as_str()) {
            Ok(Some(value)) => ROption::RSome(value.to_string().into()),
            Ok(None) => ROption::RNone,
            Err(error) => {
                // The ABI has no error channel here; the plugin sees an absent field.
                log::warn!(
                    "cannot read field `{}` for a plugin: {error}",
                    field_id.as_str()
                );
                ROption::RNone
            }
        }
    }

    fn request(&self, request: RStr<'_>) -> RResult<RString, FfiError> {
        let answer = match serde_json::from_str::<ViewRequest>(request.as_str()) {
            Ok(ViewRequest::FieldIds) => self
                .fields
                .field_ids()
                .map(|ids| serde_json::Value::from(ids).to_string())
                .map_err(FfiError::from),
            Err(error) => Err(FfiError {
                kind: error_kind::UNSUPPORTED,
                message: format!("unsupported issue view request: {error}").into(),
            }),
        };
        answer.map(RString::from).into()
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
        let view = IssueView { fields: &fields };
        assert_eq!(
            view.field("points".into())
                .into_option()
                .map(|s| s.into_string()),
            Some("5".into())
        );
        assert!(view.field("nope".into()).is_none());
        let ids = view.request(r#"{"kind":"field_ids"}"#.into()).unwrap();
        assert_eq!(ids.as_str(), r#"["points"]"#);
        let error = view.request(r#"{"kind":"teleport"}"#.into()).unwrap_err();
        assert_eq!(error.kind, error_kind::UNSUPPORTED);
    }
}
