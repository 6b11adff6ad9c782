//! Built mappings, called the way the engine calls them.

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingError, OutgoingContext,
    OutgoingFieldMapping, TargetIssue, Trigger,
};
use serde_json::Value;

use crate::TestIssue;

/// An outgoing mapping built through the plugin boundary.
#[derive(Debug)]
pub struct Outgoing {
    mapping: Box<dyn OutgoingFieldMapping>,
}

impl Outgoing {
    pub(crate) fn new(mapping: Box<dyn OutgoingFieldMapping>) -> Outgoing {
        Outgoing { mapping }
    }

    /// What the mapping sends for `field` of an issue never synced before (every
    /// mapped field of a new issue is sent with [`Trigger::NewIssue`]).
    pub fn export_new(&self, issue: &TestIssue, field: &str) -> Result<Value, MappingError> {
        self.export(issue, field, Trigger::NewIssue)
    }

    /// What the mapping sends after `field` changed from `old` to its value in
    /// `issue`. A mapping that declared reads of other fields is also called this way
    /// when one of them changed, with `old` equal to the current value.
    pub fn export_change(
        &self,
        issue: &TestIssue,
        field: &str,
        old: impl Into<Value>,
    ) -> Result<Value, MappingError> {
        let new = issue.value(field).cloned().unwrap_or(Value::Null);
        self.export(
            issue,
            field,
            Trigger::Changed {
                old: old.into(),
                new,
            },
        )
    }

    /// What the mapping sends for `field` with any trigger.
    pub fn export(
        &self,
        issue: &TestIssue,
        field: &str,
        trigger: Trigger,
    ) -> Result<Value, MappingError> {
        let value = issue.value(field).cloned().unwrap_or(Value::Null);
        let context = OutgoingContext::new(issue.info(), field, &value, &trigger, issue.fields());
        self.mapping.export(&context)
    }
}

/// An incoming mapping built through the plugin boundary.
#[derive(Debug)]
pub struct Incoming {
    mapping: Box<dyn IncomingFieldMapping>,
}

impl Incoming {
    pub(crate) fn new(mapping: Box<dyn IncomingFieldMapping>) -> Incoming {
        Incoming { mapping }
    }

    /// What the mapping writes into `field` of a partner being created from `data`:
    /// there is no target issue yet. A tracker on a server (Redmine) calls every
    /// incoming mapping this way and creates the issue with the answers; the
    /// embedded SQLite tracker creates the issue with the built-in mappings first and
    /// then calls the others with the new issue as target ([`Incoming::import_into`]).
    pub fn import_creating(&self, field: &str, data: &Value) -> Result<FieldUpdate, MappingError> {
        self.mapping
            .import(&IncomingContext::new(None, field, data))
    }

    /// What the mapping writes into `field` of the existing issue `target`.
    pub fn import_into(
        &self,
        target: &TestIssue,
        field: &str,
        data: &Value,
    ) -> Result<FieldUpdate, MappingError> {
        let target = TargetIssue {
            info: target.info(),
            fields: target.fields(),
        };
        self.mapping
            .import(&IncomingContext::new(Some(target), field, data))
    }
}

/// Whether the host would write `update` into a field of `field_type`, with the
/// host's reason when it would refuse it.
pub fn check_update(update: &FieldUpdate, field_type: &FieldType) -> Result<(), String> {
    match update {
        FieldUpdate::Set(value) => field_type
            .check_value(value)
            .map_err(|takes| format!("a field of type `{field_type}` takes {takes}, not {value}")),
        _ => Ok(()),
    }
}
