//! The JSON documents exchanged through the functions of the root module and the
//! `#[sabi_trait]`s.
//!
//! This is where the interface grows: add fields with `#[serde(default)]`, never
//! remove or rename one while [`ABI_VERSION`](crate::ABI_VERSION) stays the same.
//! Hosts serialize the borrowed `*Ref` forms, plugins read the owned forms. (The SDK
//! and the loader read and write the same bytes faster when a document has the
//! layout these types give it, and are tested to agree with them.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::vocabulary::{FieldUpdate, IssueInfo, MappingSetup, Trigger};

pub use super::vocabulary::PluginManifest as Manifest;

/// What the host tells a plugin in `init`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Name of the host program.
    #[serde(default)]
    pub host: String,
    /// Version of the host program.
    #[serde(default)]
    pub host_version: String,
    /// The ABI version the host was built with.
    #[serde(default)]
    pub abi_version: String,
    /// Most verbose log level the host wants: 0 off, 1 error … 5 trace.
    #[serde(default = "default_log_level")]
    pub max_log_level: u32,
}

fn default_log_level() -> u32 {
    3
}

/// Asks a plugin to build one mapping for one field relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstructRequest {
    /// Which mapping of the plugin.
    pub mapping_id: String,
    /// The relationship's options for this mapping, `null` when none were given.
    #[serde(default)]
    pub options: Value,
    /// Where the mapping is built (relationship, side, project, field); absent from
    /// hosts older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<MappingSetup>,
}

/// One outgoing mapping call, as the host writes it.
#[derive(Debug, Serialize)]
pub struct OutgoingCallRef<'a> {
    /// The source issue.
    pub issue: &'a IssueInfo,
    /// The source field.
    pub field: &'a str,
    /// The field's current value.
    pub value: &'a Value,
    /// Why the field is being sent.
    pub trigger: &'a Trigger,
}

/// One outgoing mapping call, as the plugin reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutgoingCall {
    /// The source issue.
    pub issue: IssueInfo,
    /// The source field.
    pub field: String,
    /// The field's current value.
    #[serde(default)]
    pub value: Value,
    /// Why the field is being sent.
    pub trigger: Trigger,
}

/// What an outgoing mapping returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingResult {
    /// The data stored in the sync message for this relationship.
    #[serde(default)]
    pub data: Value,
}

/// One incoming mapping call, as the host writes it.
#[derive(Debug, Serialize)]
pub struct IncomingCallRef<'a> {
    /// The target issue, absent while it is being created.
    pub target: Option<&'a IssueInfo>,
    /// The target field.
    pub field: &'a str,
    /// The data the outgoing side put into the message.
    pub data: &'a Value,
}

/// One incoming mapping call, as the plugin reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IncomingCall {
    /// The target issue, absent while it is being created.
    #[serde(default)]
    pub target: Option<IssueInfo>,
    /// The target field.
    pub field: String,
    /// The data the outgoing side put into the message.
    #[serde(default)]
    pub data: Value,
}

/// What an incoming mapping returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingResult {
    /// What to do with the target field.
    pub update: FieldUpdate,
}

/// Requests a plugin may send through `FfiIssueView::request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViewRequest {
    /// The ids of all fields the issue has; answered with a JSON array of strings.
    FieldIds,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_host_form_of_a_call_reads_back_as_the_plugin_form() {
        let issue = IssueInfo {
            key: "A-1".into(),
            project: "A".into(),
            issue_type: "Story".into(),
        };
        let trigger = Trigger::Changed {
            old: json!(1),
            new: json!(5),
        };
        let text = serde_json::to_string(&OutgoingCallRef {
            issue: &issue,
            field: "points",
            value: &json!(5),
            trigger: &trigger,
        })
        .unwrap();
        let call: OutgoingCall = serde_json::from_str(&text).unwrap();
        assert_eq!(call.issue, issue);
        assert_eq!(call.field, "points");
        assert_eq!(call.value, json!(5));
        assert_eq!(call.trigger, trigger);

        let text = serde_json::to_string(&IncomingCallRef {
            target: None,
            field: "size",
            data: &json!("M"),
        })
        .unwrap();
        let call: IncomingCall = serde_json::from_str(&text).unwrap();
        assert_eq!(call.target, None);
        assert_eq!(call.data, json!("M"));
    }

    #[test]
    fn documents_from_a_newer_peer_with_extra_fields_still_read() {
        let info: HostInfo =
            serde_json::from_str(r#"{"host":"x","shiny_new_thing":true}"#).unwrap();
        assert_eq!(info.max_log_level, 3);
        let request: ConstructRequest =
            serde_json::from_str(r#"{"mapping_id":"a.b","relationship":"r1"}"#).unwrap();
        assert_eq!(request.options, Value::Null);
    }
}
