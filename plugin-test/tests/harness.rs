//! The harness as a plugin author uses it: a plugin exported in this test crate,
//! called through the real boundary.

use fieldsync_plugin_api::{
    export_plugin, ErrorKind, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping,
    MappingDescriptor, MappingError, MappingOptions, OutgoingContext, OutgoingFieldMapping, Plugin,
    Trigger,
};
use fieldsync_plugin_test::{check_update, setup_for, this_plugin, TestIssue};
use serde_json::{json, Value};

/// Priority → severity; `escalate_label` (a field read besides the mapped one)
/// raises it one step.
struct Severity {
    escalate_label: String,
}

impl OutgoingFieldMapping for Severity {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        let priority = match ctx.value() {
            Value::Null => return Ok(Value::Null),
            Value::String(priority) => priority.clone(),
            other => return Err(MappingError::new(format!("not a priority: {other}"))),
        };
        let labels = ctx.other_field("labels")?;
        let escalated = labels
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|labels| labels.iter().any(|l| l == &json!(self.escalate_label)));
        log::info!("{} has priority {priority}", ctx.issue().key);
        let severity = match (priority.as_str(), escalated) {
            ("High", _) | (_, true) => "Critical",
            _ => "Minor",
        };
        Ok(json!(severity))
    }
}

struct Panics;

impl IncomingFieldMapping for Panics {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        if ctx.data() == &json!("boom") {
            panic!("cannot take {}", ctx.data());
        }
        match ctx.current_value()? {
            Some(current) => Ok(FieldUpdate::Set(json!(format!("{current}+{}", ctx.data())))),
            None => Ok(FieldUpdate::Set(ctx.data().clone())),
        }
    }
}

#[derive(serde::Deserialize)]
struct SeverityOptions {
    #[serde(default = "customer")]
    escalate_label: String,
}

fn customer() -> String {
    "customer".to_owned()
}

fn severity(options: MappingOptions) -> Result<Severity, MappingError> {
    let parsed: SeverityOptions = options.parse()?;
    if let Some(setup) = options.setup() {
        if setup.field_type != Some(FieldType::Priority) {
            return Err(MappingError::invalid_options(format!(
                "`{}` is not a priority field",
                setup.field
            )));
        }
    }
    Ok(Severity {
        escalate_label: parsed.escalate_label,
    })
}

fn plugin() -> Plugin {
    Plugin::new("test.harness", "Harness test plugin")
        .outgoing(
            MappingDescriptor::new("test.severity", "Priority to severity").reads(["labels"]),
            severity,
        )
        .incoming(MappingDescriptor::new("test.append", "Append"), |_| {
            Ok(Panics)
        })
}

export_plugin!(plugin);

#[test]
fn the_manifest_is_read_as_the_host_reads_it() {
    let plugin = this_plugin!();
    assert_eq!(plugin.manifest().id, "test.harness");
    let ids: Vec<&str> = plugin
        .manifest()
        .mappings
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(ids, ["test.severity", "test.append"]);
}

#[test]
fn an_outgoing_mapping_reads_other_fields_through_the_boundary() {
    let plugin = this_plugin!();
    let outgoing = plugin.outgoing("test.severity", json!({})).unwrap();
    let issue = TestIssue::new("SUP-1").with("priority", "Low");
    assert_eq!(
        outgoing.export_new(&issue, "priority").unwrap(),
        json!("Minor")
    );
    let escalated = issue.clone().with("labels", json!(["customer"]));
    assert_eq!(
        outgoing
            .export_change(&escalated, "priority", "Low")
            .unwrap(),
        json!("Critical")
    );
    // An empty field is empty for the mapping too, as in the host.
    let emptied = issue
        .with("labels", Value::Null)
        .with("priority", Value::Null);
    assert_eq!(
        outgoing
            .export(&emptied, "priority", Trigger::Resync)
            .unwrap(),
        Value::Null
    );
}

#[test]
fn the_plugins_log_records_are_captured_per_test() {
    let plugin = this_plugin!();
    plugin.take_logs();
    let outgoing = plugin.outgoing("test.severity", json!({})).unwrap();
    outgoing
        .export_new(
            &TestIssue::new("SUP-7").with("priority", "High"),
            "priority",
        )
        .unwrap();
    let logs = plugin.take_logs();
    let record = logs
        .iter()
        .find(|record| record.message == "SUP-7 has priority High")
        .unwrap_or_else(|| panic!("no record of the call among {logs:?}"));
    assert_eq!(record.level, log::Level::Info);
    assert_eq!(record.target, "harness");
    assert!(plugin.take_logs().is_empty(), "taken records are gone");
}

#[test]
fn a_panic_comes_back_as_the_hosts_error_with_where_it_happened() {
    let plugin = this_plugin!();
    let incoming = plugin.incoming("test.append", Value::Null).unwrap();
    let error = incoming
        .import_creating("summary", &json!("boom"))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    let text = error.to_string();
    assert!(
        text.contains("plugin `test.harness` mapping `test.append`"),
        "{text}"
    );
    assert!(text.contains("cannot take \"boom\""), "{text}");
    assert!(text.contains("tests/harness.rs:"), "{text}");
    // The plugin stays usable after a panic, as in the host.
    assert_eq!(
        incoming.import_creating("summary", &json!("ok")).unwrap(),
        FieldUpdate::Set(json!("ok"))
    );
}

#[test]
fn incoming_calls_while_creating_and_into_an_existing_issue() {
    let plugin = this_plugin!();
    let incoming = plugin.incoming("test.append", Value::Null).unwrap();
    assert_eq!(
        incoming.import_creating("summary", &json!("b")).unwrap(),
        FieldUpdate::Set(json!("b"))
    );
    let target = TestIssue::new("DEV-3").with("summary", "a");
    assert_eq!(
        incoming
            .import_into(&target, "summary", &json!("b"))
            .unwrap(),
        FieldUpdate::Set(json!("\"a\"+\"b\""))
    );
    // An empty target field reads as no value at all.
    let empty = TestIssue::new("DEV-3").with("summary", Value::Null);
    assert_eq!(
        incoming
            .import_into(&empty, "summary", &json!("b"))
            .unwrap(),
        FieldUpdate::Set(json!("b"))
    );
}

#[test]
fn options_and_setup_reach_the_constructor_and_refusals_name_the_mapping() {
    let plugin = this_plugin!();
    let error = plugin
        .outgoing("test.severity", json!({"escalate_label": 7}))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidOptions);
    assert!(
        error.to_string().contains("mapping `test.severity`"),
        "{error}"
    );

    let on_priority = setup_for("priority", FieldType::Priority, &["labels"]);
    let outgoing = plugin
        .outgoing_for(
            "test.severity",
            json!({"escalate_label": "vip"}),
            &on_priority,
        )
        .unwrap();
    let issue = TestIssue::new("SUP-2")
        .with("priority", "Low")
        .with("labels", json!(["vip"]));
    assert_eq!(
        outgoing.export_new(&issue, "priority").unwrap(),
        json!("Critical")
    );

    let on_text = setup_for("summary", FieldType::Text, &[]);
    let error = plugin
        .outgoing_for("test.severity", json!({}), &on_text)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`summary` is not a priority field"),
        "{error}"
    );

    let unknown = plugin.incoming("test.nope", Value::Null).unwrap_err();
    assert!(unknown.to_string().contains("test.nope"), "{unknown}");
}

#[test]
fn results_are_checked_against_field_types_as_the_host_checks_them() {
    assert_eq!(
        check_update(&FieldUpdate::Set(json!(3)), &FieldType::Priority),
        Err("a field of type `priority` takes a string, not 3".to_owned())
    );
    assert!(check_update(&FieldUpdate::Set(json!(["a"])), &FieldType::Labels).is_ok());
    assert!(check_update(&FieldUpdate::Set(json!("2026-02-30x")), &FieldType::Date).is_err());
    assert!(check_update(&FieldUpdate::Set(Value::Null), &FieldType::Number).is_ok());
    assert!(check_update(&FieldUpdate::Unchanged, &FieldType::Number).is_ok());
}
