//! A plugin as an author wrote it with the SDK of ABI 0.1: options, another field read
//! through the issue view, a log record, an incoming mapping that looks at the
//! target's current value, and a panic. Today's host must load it and get the same
//! answers.

use fieldsync_plugin_api::{
    export_plugin, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping,
    MappingDescriptor, MappingError, OutgoingContext, OutgoingFieldMapping, Plugin,
};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Options {
    #[serde(default = "default_suffix")]
    suffix: String,
}

fn default_suffix() -> String {
    "!".to_owned()
}

/// Text + suffix, and ` (customer)` when the issue's `labels` hold `customer`.
struct Shout {
    suffix: String,
}

impl OutgoingFieldMapping for Shout {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        let text = ctx
            .value()
            .as_str()
            .ok_or_else(|| MappingError::new(format!("{} holds no text", ctx.issue().key)))?;
        if text == "panic" {
            panic!("asked to panic");
        }
        let customer = ctx
            .other_field("labels")?
            .and_then(|labels| labels.as_array().cloned())
            .is_some_and(|labels| labels.contains(&json!("customer")));
        log::info!("shouting {} of {}", ctx.field_id(), ctx.issue().key);
        let tag = if customer { " (customer)" } else { "" };
        Ok(json!(format!("{text}{}{tag}", self.suffix)))
    }
}

/// Keeps the target's text when it already ends with the data.
struct Keep;

impl IncomingFieldMapping for Keep {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let data = ctx.data().as_str().unwrap_or_default().to_owned();
        match ctx.current_value()? {
            Some(Value::String(current)) if current.ends_with(&data) => Ok(FieldUpdate::Unchanged),
            _ => Ok(FieldUpdate::Set(json!(data))),
        }
    }
}

fn plugin() -> Plugin {
    Plugin::new("frozen.abi-0-1", "Built with the ABI 0.1 SDK")
        .version("0.1.0")
        .outgoing(
            MappingDescriptor::new("frozen.shout", "Shout").accepts([FieldType::Text]),
            |options| {
                let options: Options = options.parse()?;
                Ok(Shout {
                    suffix: options.suffix,
                })
            },
        )
        .incoming(
            MappingDescriptor::new("frozen.keep", "Keep").accepts([FieldType::Text]),
            |_| Ok(Keep),
        )
}

export_plugin!(plugin);
