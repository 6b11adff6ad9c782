//! Reads the host's call documents on the plugin side, doing no more work than the
//! mapping needs: strings are borrowed from the document, the trigger is read in one
//! pass, and the issue a call is about is built once for a run of calls on it.
//!
//! The documents are the ones `fieldsync-plugin-abi` defines ([`OutgoingCall`] and
//! [`IncomingCall`] are their reference readers); the tests below hold these readers
//! to the same answers. A mapping call costs a few hundred nanoseconds, so what a
//! generic reader spends here (serde buffers an internally tagged enum before it can
//! pick the variant; every string becomes an allocation) is most of it.
//!
//! [`OutgoingCall`]: crate::abi::wire::OutgoingCall
//! [`IncomingCall`]: crate::abi::wire::IncomingCall

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::canonical::{self, Cursor};
use crate::model::{IssueInfo, Trigger};

/// One outgoing call as the plugin reads it.
#[derive(Deserialize)]
pub(crate) struct OutgoingCallIn<'a> {
    #[serde(borrow)]
    issue: IssueInfoIn<'a>,
    #[serde(borrow)]
    pub(crate) field: Cow<'a, str>,
    #[serde(default)]
    pub(crate) value: Value,
    #[serde(deserialize_with = "read_trigger")]
    pub(crate) trigger: Trigger,
}

impl<'a> OutgoingCallIn<'a> {
    /// Reads a call, in one pass over the host's usual layout when it has it.
    pub(crate) fn read(text: &'a str) -> serde_json::Result<Self> {
        canonical::read_with(text, Self::read_canonical)
    }

    /// `{"issue":…,"field":…,"value":…,"trigger":{"kind":…}}` as hosts write it.
    fn read_canonical(cursor: &mut Cursor<'a>) -> Option<Self> {
        cursor.literal(r#"{"issue":"#)?;
        let issue = IssueInfoIn::read_canonical(cursor)?;
        cursor.literal(r#","field":"#)?;
        let field = cursor.plain_string()?.into();
        cursor.literal(r#","value":"#)?;
        let value = cursor.value()?;
        cursor.literal(r#","trigger":{"kind":"#)?;
        let trigger = match cursor.plain_string()? {
            "new_issue" => Trigger::NewIssue,
            "resync" => Trigger::Resync,
            "changed" => {
                cursor.literal(r#","old":"#)?;
                let old = cursor.value()?;
                cursor.literal(r#","new":"#)?;
                let new = cursor.value()?;
                Trigger::Changed { old, new }
            }
            // A kind this SDK does not know may come with fields it does not know.
            _ => return None,
        };
        cursor.last("}}")?;
        Some(OutgoingCallIn {
            issue,
            field,
            value,
            trigger,
        })
    }

    /// The source issue, shared with the previous call when it was about the same one.
    pub(crate) fn issue(&self) -> Rc<IssueInfo> {
        self.issue.shared()
    }
}

/// One incoming call as the plugin reads it.
#[derive(Deserialize)]
pub(crate) struct IncomingCallIn<'a> {
    #[serde(borrow, default)]
    target: Option<IssueInfoIn<'a>>,
    #[serde(borrow)]
    pub(crate) field: Cow<'a, str>,
    #[serde(default)]
    pub(crate) data: Value,
}

impl<'a> IncomingCallIn<'a> {
    /// Reads a call, in one pass over the host's usual layout when it has it.
    pub(crate) fn read(text: &'a str) -> serde_json::Result<Self> {
        canonical::read_with(text, Self::read_canonical)
    }

    /// `{"target":…,"field":…,"data":…}` as hosts write it.
    fn read_canonical(cursor: &mut Cursor<'a>) -> Option<Self> {
        cursor.literal(r#"{"target":"#)?;
        let target = match cursor.literal("null") {
            Some(()) => None,
            None => Some(IssueInfoIn::read_canonical(cursor)?),
        };
        cursor.literal(r#","field":"#)?;
        let field = cursor.plain_string()?.into();
        cursor.literal(r#","data":"#)?;
        let data = cursor.value()?;
        cursor.last("}")?;
        Some(IncomingCallIn {
            target,
            field,
            data,
        })
    }

    /// The target issue, `None` while it is being created.
    pub(crate) fn target(&self) -> Option<Rc<IssueInfo>> {
        self.target.as_ref().map(IssueInfoIn::shared)
    }
}

#[derive(Deserialize)]
struct IssueInfoIn<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow, default)]
    project: Cow<'a, str>,
    #[serde(borrow, default)]
    issue_type: Cow<'a, str>,
}

thread_local! {
    /// The issue of this thread's last call. The host calls every mapping of an issue
    /// in a row, so most calls find their issue here instead of allocating it again.
    static LAST_ISSUE: RefCell<Option<Rc<IssueInfo>>> = const { RefCell::new(None) };
}

impl<'a> IssueInfoIn<'a> {
    /// `{"key":…,"project":…,"issue_type":…}`
    fn read_canonical(cursor: &mut Cursor<'a>) -> Option<Self> {
        cursor.literal(r#"{"key":"#)?;
        let key = cursor.plain_string()?.into();
        cursor.literal(r#","project":"#)?;
        let project = cursor.plain_string()?.into();
        cursor.literal(r#","issue_type":"#)?;
        let issue_type = cursor.plain_string()?.into();
        cursor.literal("}")?;
        Some(IssueInfoIn {
            key,
            project,
            issue_type,
        })
    }

    fn matches(&self, issue: &IssueInfo) -> bool {
        issue.key == self.key
            && issue.project == self.project
            && issue.issue_type == self.issue_type
    }

    fn shared(&self) -> Rc<IssueInfo> {
        // The borrow ends before the mapping runs, so a mapping that calls back into
        // the host (which may call this plugin again) finds the slot free.
        LAST_ISSUE.with(|last| {
            let mut last = last.borrow_mut();
            if let Some(issue) = last.as_ref().filter(|issue| self.matches(issue)) {
                return Rc::clone(issue);
            }
            let issue = Rc::new(IssueInfo {
                key: self.key.clone().into_owned(),
                project: self.project.clone().into_owned(),
                issue_type: self.issue_type.clone().into_owned(),
            });
            *last = Some(Rc::clone(&issue));
            issue
        })
    }
}

/// Reads a [`Trigger`] (`{"kind": "changed", "old": …, "new": …}`) in one pass, the
/// keys in any order; an unknown kind is [`Trigger::Other`], unknown keys are skipped,
/// as the derived reader does.
fn read_trigger<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Trigger, D::Error> {
    deserializer.deserialize_map(TriggerVisitor)
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum TriggerKey {
    Kind,
    Old,
    New,
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TriggerKind {
    NewIssue,
    Resync,
    Changed,
    #[serde(other)]
    Other,
}

struct TriggerVisitor;

impl<'de> Visitor<'de> for TriggerVisitor {
    type Value = Trigger;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a trigger object with a `kind`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Trigger, A::Error> {
        let mut kind = None;
        let mut old = Value::Null;
        let mut new = Value::Null;
        while let Some(key) = map.next_key()? {
            match key {
                TriggerKey::Kind => kind = Some(map.next_value()?),
                TriggerKey::Old => old = map.next_value()?,
                TriggerKey::New => new = map.next_value()?,
                TriggerKey::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(
            match kind.ok_or_else(|| de::Error::missing_field("kind"))? {
                TriggerKind::NewIssue => Trigger::NewIssue,
                TriggerKind::Resync => Trigger::Resync,
                TriggerKind::Changed => Trigger::Changed { old, new },
                TriggerKind::Other => Trigger::Other,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::wire::{IncomingCall, IncomingCallRef, OutgoingCall, OutgoingCallRef};
    use serde_json::json;

    /// Documents a host may send, hosts older and newer than this SDK included.
    fn outgoing_documents() -> Vec<Value> {
        vec![
            json!({"issue": {"key": "A-1", "project": "A", "issue_type": "Story"},
                   "field": "points", "value": 5,
                   "trigger": {"kind": "changed", "old": 3, "new": 5}}),
            json!({"trigger": {"new": [1, {"x": "y"}], "old": null, "kind": "changed"},
                   "value": null, "field": "f", "issue": {"key": "A-2"}}),
            json!({"issue": {"key": "A-\"3\"\n", "project": "A\u{e9}"}, "field": "f\\g",
                   "trigger": {"kind": "new_issue"}}),
            json!({"issue": {"key": "A-4", "later": 1}, "field": "f", "value": "x",
                   "trigger": {"kind": "resync", "reason": "asked"}, "extra": {"a": [1]}}),
            json!({"issue": {"key": "A-5"}, "field": "f", "value": true,
                   "trigger": {"kind": "split_from", "old": 1}}),
        ]
    }

    /// Calls as hosts write them (fields in declaration order), `plain` when no string
    /// in them needs an escape.
    fn host_documents() -> Vec<(String, bool)> {
        let mut documents = Vec::new();
        let issues = [
            IssueInfo {
                key: "A-1".into(),
                project: "A".into(),
                issue_type: "Story".into(),
            },
            IssueInfo {
                key: "A-\"2\"".into(),
                project: "Ä".into(),
                issue_type: String::new(),
            },
        ];
        let values = [
            json!(null),
            json!(4),
            json!("a \"b\"\n"),
            json!({"x": [1, 2.5]}),
        ];
        let triggers = [
            Trigger::NewIssue,
            Trigger::Resync,
            Trigger::Other,
            Trigger::Changed {
                old: json!(null),
                new: json!({"x": "y"}),
            },
        ];
        for (i, issue) in issues.iter().enumerate() {
            for value in &values {
                for trigger in &triggers {
                    for field in ["points", "cf_\n"] {
                        let text = serde_json::to_string(&OutgoingCallRef {
                            issue,
                            field,
                            value,
                            trigger,
                        })
                        .unwrap();
                        let plain = i == 0 && field == "points" && *trigger != Trigger::Other;
                        documents.push((text, plain));
                    }
                }
            }
            for data in &values {
                for target in [Some(issue), None] {
                    let text = serde_json::to_string(&IncomingCallRef {
                        target,
                        field: "size",
                        data,
                    })
                    .unwrap();
                    documents.push((text, i == 0 || target.is_none()));
                }
            }
        }
        documents
    }

    fn assert_outgoing_read_as_the_reference_reads(text: &str) {
        let reference: OutgoingCall = serde_json::from_str(text).unwrap();
        let read = OutgoingCallIn::read(text).unwrap();
        assert_eq!(*read.issue(), reference.issue, "{text}");
        assert_eq!(read.field, reference.field, "{text}");
        assert_eq!(read.value, reference.value, "{text}");
        assert_eq!(read.trigger, reference.trigger, "{text}");
    }

    fn assert_incoming_read_as_the_reference_reads(text: &str) {
        let reference: IncomingCall = serde_json::from_str(text).unwrap();
        let read = IncomingCallIn::read(text).unwrap();
        assert_eq!(
            read.target().as_deref(),
            reference.target.as_ref(),
            "{text}"
        );
        assert_eq!(read.field, reference.field, "{text}");
        assert_eq!(read.data, reference.data, "{text}");
    }

    #[test]
    fn host_written_calls_without_escapes_are_read_in_one_pass_and_all_read_right() {
        for (text, plain) in host_documents() {
            if text.starts_with(r#"{"issue""#) {
                assert_eq!(
                    OutgoingCallIn::read_canonical(&mut Cursor::new(&text)).is_some(),
                    plain,
                    "{text}"
                );
                assert_outgoing_read_as_the_reference_reads(&text);
            } else {
                assert_eq!(
                    IncomingCallIn::read_canonical(&mut Cursor::new(&text)).is_some(),
                    plain,
                    "{text}"
                );
                assert_incoming_read_as_the_reference_reads(&text);
            }
        }
    }

    #[test]
    fn outgoing_calls_read_as_the_reference_reader_reads_them() {
        for document in outgoing_documents() {
            assert_outgoing_read_as_the_reference_reads(&document.to_string());
        }
    }

    #[test]
    fn incoming_calls_read_as_the_reference_reader_reads_them() {
        for document in [
            json!({"target": {"key": "B-1", "project": "B", "issue_type": "Bug"},
                   "field": "size", "data": "M"}),
            json!({"target": null, "field": "size", "data": {"nested": [1, 2]}}),
            json!({"field": "size"}),
            json!({"data": 1, "field": "s\u{1F600}", "target": {"key": "B-\\2"}, "new": 0}),
        ] {
            assert_incoming_read_as_the_reference_reads(&document.to_string());
        }
    }

    #[test]
    fn documents_the_reference_reader_refuses_are_refused() {
        for text in [
            r#"{"field": "f", "trigger": {"kind": "resync"}}"#,
            r#"{"issue": {"key": "A-1"}, "field": "f", "trigger": {"old": 1}}"#,
            r#"{"issue": {"key": "A-1"}, "field": "f", "trigger": "resync"}"#,
            r#"{"issue": {"key": "A-1"}, "trigger": {"kind": "resync"}}"#,
            r#"{"issue": {"key": 1}, "field": "f", "trigger": {"kind": "resync"}}"#,
            "not json",
        ] {
            assert!(
                serde_json::from_str::<OutgoingCall>(text).is_err(),
                "{text}"
            );
            assert!(OutgoingCallIn::read(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_run_of_calls_on_one_issue_shares_it_and_another_issue_replaces_it() {
        let call = |key: &str| {
            format!(r#"{{"issue":{{"key":"{key}"}},"field":"f","trigger":{{"kind":"resync"}}}}"#)
        };
        let first = call("A-1");
        let second = call("A-2");
        let read = |text: &str| OutgoingCallIn::read(text).unwrap().issue();
        let a = read(&first);
        assert!(Rc::ptr_eq(&a, &read(&first)));
        let b = read(&second);
        assert_eq!(b.key, "A-2");
        assert_eq!(a.key, "A-1", "an issue handed out earlier stays as it was");
        assert!(!Rc::ptr_eq(&a, &read(&first)));
    }
}
