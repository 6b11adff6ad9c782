//! The JSON that crosses the plugin boundary is part of the frozen contract: each
//! document kind is pinned here byte for byte (one file per kind under `tests/wire/`),
//! so a serde change that would change what crosses fails this test
//! instead of installed plugins. Documents as the first frozen ABI (0.1) wrote them
//! must still read.
//!
//! A deliberate change (a new field with a serde default) is accepted by running the
//! test with `UPDATE_WIRE_GOLDEN=1` and reviewing the diff of `tests/wire/`.

use std::path::PathBuf;

use fieldsync_plugin_abi::wire::{
    ConstructRequest, Direction, FieldType, FieldUpdate, HostInfo, IncomingCall, IncomingCallRef,
    IncomingResult, IssueInfo, Manifest, MappingDescriptor, MappingSetup, OutgoingCall,
    OutgoingCallRef, OutgoingResult, Trigger, ViewRequest,
};
use serde::Serialize;
use serde_json::json;

fn golden(kind: &str, document: &impl Serialize) {
    let text = serde_json::to_string_pretty(document).unwrap() + "\n";
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wire")
        .join(format!("{kind}.json"));
    if std::env::var_os("UPDATE_WIRE_GOLDEN").is_some() {
        std::fs::write(&file, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    assert_eq!(
        text,
        pinned,
        "the `{kind}` document changed: what crosses the plugin boundary is frozen \
         (see {})",
        file.display()
    );
}

fn issue() -> IssueInfo {
    IssueInfo {
        key: "SUP-7".into(),
        project: "SUP".into(),
        issue_type: "Incident".into(),
    }
}

#[test]
fn every_document_kind_is_written_exactly_as_pinned() {
    golden(
        "host_info",
        &HostInfo {
            host: "fieldsync".into(),
            host_version: "0.1.0".into(),
            abi_version: "0.1.0".into(),
            max_log_level: 3,
        },
    );
    golden(
        "construct_request",
        &ConstructRequest {
            mapping_id: "example.points-to-size".into(),
            options: json!({"scale": [{"size": "S", "up_to": 3}]}),
            setup: Some(MappingSetup {
                sync: "support-dev".into(),
                relationship: "points".into(),
                side: "a".into(),
                project: "SUP".into(),
                field: "points".into(),
                field_type: Some(FieldType::Number),
                project_fields: vec!["points".into(), "summary".into()],
            }),
        },
    );
    let issue = issue();
    let trigger = Trigger::Changed {
        old: json!(3),
        new: json!(5),
    };
    golden(
        "outgoing_call",
        &OutgoingCallRef {
            issue: &issue,
            field: "points",
            value: &json!(5),
            trigger: &trigger,
        },
    );
    golden("outgoing_result", &OutgoingResult { data: json!("M") });
    golden(
        "incoming_call",
        &IncomingCallRef {
            target: Some(&issue),
            field: "size",
            data: &json!("M"),
        },
    );
    golden(
        "incoming_result",
        &IncomingResult {
            update: FieldUpdate::Set(json!(5)),
        },
    );
    golden(
        "incoming_result_unchanged",
        &IncomingResult {
            update: FieldUpdate::Unchanged,
        },
    );
    golden("view_request", &ViewRequest::FieldIds);
    golden("manifest", &manifest());
}

/// The manifest the SDK's own test builds with `Plugin::new(..)` too (it must give
/// the same document).
fn manifest() -> Manifest {
    let mut mapping = MappingDescriptor::new("example.to-size", "To size")
        .accepts([FieldType::Number])
        .reads(["labels"]);
    mapping.direction = Direction::Outgoing;
    Manifest {
        id: "example.points".into(),
        name: "Points".into(),
        version: "1.2.0".into(),
        vendor: "Example".into(),
        description: "Story points".into(),
        mappings: vec![mapping],
    }
}

/// Documents as a host or plugin of the first frozen ABI wrote them: without the
/// fields added since (`setup`, `reads`, ...).
#[test]
fn documents_of_abi_0_1_still_read() {
    let request: ConstructRequest =
        serde_json::from_str(r#"{"mapping_id":"a.b","options":{"x":1}}"#).unwrap();
    assert_eq!(request.setup, None);
    assert_eq!(request.options, json!({"x": 1}));
    let call: OutgoingCall = serde_json::from_str(
        r#"{"issue":{"key":"A-1","project":"A","issue_type":"Story"},"field":"points","value":5,"trigger":{"kind":"new_issue"}}"#,
    )
    .unwrap();
    assert_eq!(call.trigger, Trigger::NewIssue);
    let call: IncomingCall = serde_json::from_str(r#"{"field":"size","data":"M"}"#).unwrap();
    assert_eq!(call.target, None);
    let manifest: Manifest = serde_json::from_str(
        r#"{"id":"a.b","name":"B","version":"0.1.0","vendor":"","mappings":[{"id":"a.m","name":"M","direction":"outgoing","field_types":["number"]}]}"#,
    )
    .unwrap();
    assert!(manifest.mappings[0].reads.is_empty());
    assert!(manifest.mappings[0].reads_from_options.is_empty());
}
