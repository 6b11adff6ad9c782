//! The host's side of the documents a loaded mapping call exchanges: writes the call,
//! byte for byte what serde writes for [`OutgoingCallRef`] and [`IncomingCallRef`] (the
//! tests hold it to that) with the keys as constants, and reads the reply in one pass
//! when it has the layout the SDK writes, with serde otherwise. A derived serializer
//! escapes every key and buffers the tagged trigger; on calls that take a few hundred
//! nanoseconds that was most of the host's share.

use fieldsync_plugin_api::abi::wire::{
    IncomingCallRef, IncomingResult, OutgoingCallRef, OutgoingResult,
};
use fieldsync_plugin_api::canonical;
use fieldsync_plugin_api::{ErrorKind, FieldUpdate, IssueInfo, MappingError, Trigger};
use serde_json::Value;

/// Room for a typical call, so that the buffer does not grow while it is written.
const TYPICAL_CALL_BYTES: usize = 256;

/// `{"issue":…,"field":…,"value":…,"trigger":…}`
pub(crate) fn outgoing_call(call: &OutgoingCallRef<'_>) -> Result<String, MappingError> {
    let mut out = Vec::with_capacity(TYPICAL_CALL_BYTES);
    out.extend_from_slice(b"{\"issue\":");
    write_issue(&mut out, call.issue)?;
    out.extend_from_slice(b",\"field\":");
    write_json(&mut out, call.field)?;
    out.extend_from_slice(b",\"value\":");
    write_json(&mut out, call.value)?;
    out.extend_from_slice(b",\"trigger\":");
    write_trigger(&mut out, call.trigger)?;
    out.push(b'}');
    into_text(out)
}

/// `{"target":…,"field":…,"data":…}`
pub(crate) fn incoming_call(call: &IncomingCallRef<'_>) -> Result<String, MappingError> {
    let mut out = Vec::with_capacity(TYPICAL_CALL_BYTES);
    out.extend_from_slice(b"{\"target\":");
    match call.target {
        Some(issue) => write_issue(&mut out, issue)?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"field\":");
    write_json(&mut out, call.field)?;
    out.extend_from_slice(b",\"data\":");
    write_json(&mut out, call.data)?;
    out.push(b'}');
    into_text(out)
}

/// The data of an outgoing mapping's reply, `{"data":…}`.
pub(crate) fn outgoing_reply(text: &str) -> Result<Value, MappingError> {
    canonical::read_with(text, |cursor| {
        cursor.literal(r#"{"data":"#)?;
        let data = cursor.value()?;
        cursor.last("}")?;
        Some(OutgoingResult { data })
    })
    .map(|reply| reply.data)
    .map_err(unreadable_reply)
}

/// The update of an incoming mapping's reply, `{"update":"unchanged"}` or
/// `{"update":{"set":…}}`.
pub(crate) fn incoming_reply(text: &str) -> Result<FieldUpdate, MappingError> {
    canonical::read_with(text, |cursor| {
        cursor.literal(r#"{"update":"#)?;
        let update = if cursor.literal(r#""unchanged""#).is_some() {
            FieldUpdate::Unchanged
        } else {
            cursor.literal(r#"{"set":"#)?;
            let value = cursor.value()?;
            cursor.literal("}")?;
            FieldUpdate::Set(value)
        };
        cursor.last("}")?;
        Some(IncomingResult { update })
    })
    .map(|reply| reply.update)
    .map_err(unreadable_reply)
}

fn unreadable_reply(error: serde_json::Error) -> MappingError {
    MappingError::with_kind(
        ErrorKind::InvalidInput,
        format!("the plugin returned unreadable JSON: {error}"),
    )
}

fn write_issue(out: &mut Vec<u8>, issue: &IssueInfo) -> Result<(), MappingError> {
    out.extend_from_slice(b"{\"key\":");
    write_json(out, &issue.key)?;
    out.extend_from_slice(b",\"project\":");
    write_json(out, &issue.project)?;
    out.extend_from_slice(b",\"issue_type\":");
    write_json(out, &issue.issue_type)?;
    out.push(b'}');
    Ok(())
}

fn write_trigger(out: &mut Vec<u8>, trigger: &Trigger) -> Result<(), MappingError> {
    match trigger {
        Trigger::NewIssue => out.extend_from_slice(b"{\"kind\":\"new_issue\"}"),
        Trigger::Resync => out.extend_from_slice(b"{\"kind\":\"resync\"}"),
        Trigger::Changed { old, new } => {
            out.extend_from_slice(b"{\"kind\":\"changed\",\"old\":");
            write_json(out, old)?;
            out.extend_from_slice(b",\"new\":");
            write_json(out, new)?;
            out.push(b'}');
        }
        // Kinds added after this writer: serde's own form.
        other => write_json(out, other)?,
    }
    Ok(())
}

fn write_json(
    out: &mut Vec<u8>,
    value: &(impl serde::Serialize + ?Sized),
) -> Result<(), MappingError> {
    serde_json::to_writer(out, value).map_err(|error| {
        MappingError::with_kind(
            ErrorKind::InvalidInput,
            format!("cannot encode the call: {error}"),
        )
    })
}

fn into_text(out: Vec<u8>) -> Result<String, MappingError> {
    String::from_utf8(out).map_err(|error| {
        MappingError::with_kind(
            ErrorKind::InvalidInput,
            format!("cannot encode the call: {error}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues() -> Vec<IssueInfo> {
        vec![
            IssueInfo {
                key: "A-123".into(),
                project: "A".into(),
                issue_type: "Story".into(),
            },
            IssueInfo {
                key: "A-\"1\"\\\n\u{1}".into(),
                project: "Ä\u{1F600}".into(),
                issue_type: String::new(),
            },
        ]
    }

    fn values() -> Vec<Value> {
        vec![
            Value::Null,
            json!(4),
            json!(-2.5),
            json!("text with \"quotes\"\t"),
            json!({"nested": [1, {"a": null}], "b": true}),
        ]
    }

    fn triggers() -> Vec<Trigger> {
        let mut triggers = vec![Trigger::NewIssue, Trigger::Resync, Trigger::Other];
        for (old, new) in values().into_iter().zip(values().into_iter().rev()) {
            triggers.push(Trigger::Changed { old, new });
        }
        triggers
    }

    #[test]
    fn outgoing_calls_are_written_as_serde_writes_them() {
        for issue in issues() {
            for value in values() {
                for trigger in triggers() {
                    for field in ["points", "cf_\"x\""] {
                        let call = OutgoingCallRef {
                            issue: &issue,
                            field,
                            value: &value,
                            trigger: &trigger,
                        };
                        assert_eq!(
                            outgoing_call(&call).unwrap(),
                            serde_json::to_string(&call).unwrap()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn replies_read_as_serde_reads_them() {
        for data in values() {
            let text = serde_json::to_string(&OutgoingResult { data: data.clone() }).unwrap();
            assert_eq!(outgoing_reply(&text).unwrap(), data, "{text}");
            for update in [FieldUpdate::Set(data.clone()), FieldUpdate::Unchanged] {
                let text = serde_json::to_string(&IncomingResult {
                    update: update.clone(),
                })
                .unwrap();
                assert_eq!(incoming_reply(&text).unwrap(), update, "{text}");
            }
        }
        // Other layouts (a newer SDK's extra field, whitespace) are read by serde.
        assert_eq!(
            outgoing_reply(r#"{ "later": 1, "data" : [1] }"#).unwrap(),
            json!([1])
        );
        assert_eq!(
            incoming_reply(r#"{"update": {"set": "M"}, "note": "x"}"#).unwrap(),
            FieldUpdate::Set(json!("M"))
        );
        assert_eq!(outgoing_reply("{}").unwrap(), Value::Null);
        for error in [
            outgoing_reply(r#"{"data":1"#).unwrap_err(),
            outgoing_reply("").unwrap_err(),
            incoming_reply(r#"{"update":"sometimes"}"#).unwrap_err(),
            incoming_reply(r#"{"update":{"set":1}"#).unwrap_err(),
        ] {
            assert!(error.message().contains("unreadable JSON"), "{error}");
        }
    }

    #[test]
    fn incoming_calls_are_written_as_serde_writes_them() {
        let issues = issues();
        let targets = issues.iter().map(Some).chain([None]);
        for target in targets {
            for data in values() {
                let call = IncomingCallRef {
                    target,
                    field: "size",
                    data: &data,
                };
                assert_eq!(
                    incoming_call(&call).unwrap(),
                    serde_json::to_string(&call).unwrap()
                );
            }
        }
    }
}
