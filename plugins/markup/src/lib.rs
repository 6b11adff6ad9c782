//! Example plugin: converts rich text between Jira wiki markup and Markdown, so a
//! description written on a Jira-like tracker reads right on a Markdown one.
//!
//! Two mappings, each offered in both directions, for text fields:
//! - `example.wiki-to-markdown`: the text is wiki markup, the other side wants Markdown;
//! - `example.markdown-to-wiki`: the other way round.
//!
//! Use the outgoing one on the source side (the message then carries the converted
//! text) or the incoming one on the target side (the message carries the source
//! text), not both. The incoming mappings leave the field alone when it already holds
//! the converted text. Neither takes options.
//!
//! Converted: headings, bold, italics, strike-through, inline code, code blocks,
//! links, images, quotes, nested bullet and numbered lists, rules and tables.
//! Anything else passes through as it is.

mod inline;
mod markdown;
mod wiki;

use fieldsync_plugin_api::{
    export_plugin, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping,
    MappingDescriptor, MappingError, OutgoingContext, OutgoingFieldMapping, Plugin,
};
use serde::Deserialize;
use serde_json::Value;

pub use markdown::markdown_to_wiki;
pub use wiki::wiki_to_markdown;

/// Plugin id.
pub const PLUGIN_ID: &str = "example.markup";
/// Mapping id: wiki markup → Markdown.
pub const WIKI_TO_MARKDOWN: &str = "example.wiki-to-markdown";
/// Mapping id: Markdown → wiki markup.
pub const MARKDOWN_TO_WIKI: &str = "example.markdown-to-wiki";

/// A text conversion used as an outgoing or an incoming mapping.
#[derive(Clone, Copy)]
pub struct Convert {
    convert: fn(&str) -> String,
}

impl Convert {
    fn apply(&self, value: &Value, field: &str) -> Result<Value, MappingError> {
        match value {
            Value::Null => Ok(Value::Null),
            Value::String(text) => Ok(Value::String((self.convert)(text))),
            other => Err(MappingError::new(format!(
                "field `{field}` holds {other}, expected text"
            ))),
        }
    }
}

impl OutgoingFieldMapping for Convert {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.apply(ctx.value(), ctx.field_id())
    }
}

impl IncomingFieldMapping for Convert {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let converted = self.apply(ctx.data(), ctx.field_id())?;
        if ctx.current_value()?.unwrap_or(Value::Null) == converted {
            return Ok(FieldUpdate::Unchanged);
        }
        Ok(FieldUpdate::Set(converted))
    }
}

/// These mappings take no options; a typo in one should not pass silently.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoOptions {}

fn descriptor(id: &str, name: &str, description: &str) -> MappingDescriptor {
    MappingDescriptor::new(id, name)
        .description(description)
        .accepts([FieldType::Text])
}

/// The plugin definition; also usable as a statically linked plugin.
pub fn plugin() -> Plugin {
    let conversions = [
        (
            WIKI_TO_MARKDOWN,
            "Wiki markup → Markdown",
            "Converts Jira wiki markup to Markdown",
            wiki_to_markdown as fn(&str) -> String,
        ),
        (
            MARKDOWN_TO_WIKI,
            "Markdown → wiki markup",
            "Converts Markdown to Jira wiki markup",
            markdown_to_wiki,
        ),
    ];
    let mut plugin = Plugin::new(PLUGIN_ID, "Wiki markup and Markdown")
        .version(env!("CARGO_PKG_VERSION"))
        .vendor("fieldsync examples")
        .description("Converts rich text between Jira wiki markup and Markdown");
    for (id, name, description, convert) in conversions {
        let mapping = Convert { convert };
        plugin = plugin
            .outgoing(descriptor(id, name, description), move |options| {
                options.parse::<NoOptions>()?;
                Ok(mapping)
            })
            .incoming(descriptor(id, name, description), move |options| {
                options.parse::<NoOptions>()?;
                Ok(mapping)
            });
    }
    plugin
}

export_plugin!(plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_plugin_api::{IssueInfo, MappingProvider, NoFields, TargetIssue, Trigger};
    use serde_json::{json, Map};

    #[test]
    fn outgoing_converts_text_and_keeps_empty_fields_empty() {
        let mapping = plugin()
            .new_outgoing(WIKI_TO_MARKDOWN, &Value::Null)
            .unwrap();
        let issue = IssueInfo::default();
        let value = json!("h2. Steps\n* open *settings*");
        let ctx =
            OutgoingContext::new(&issue, "description", &value, &Trigger::NewIssue, &NoFields);
        assert_eq!(
            mapping.export(&ctx).unwrap(),
            json!("## Steps\n- open **settings**")
        );
        let ctx = OutgoingContext::new(
            &issue,
            "description",
            &Value::Null,
            &Trigger::NewIssue,
            &NoFields,
        );
        assert_eq!(mapping.export(&ctx).unwrap(), Value::Null);
        let number = json!(3);
        let ctx = OutgoingContext::new(
            &issue,
            "description",
            &number,
            &Trigger::NewIssue,
            &NoFields,
        );
        assert!(mapping
            .export(&ctx)
            .unwrap_err()
            .to_string()
            .contains("expected text"));
    }

    #[test]
    fn incoming_leaves_a_field_that_already_matches_alone() {
        let mapping = plugin()
            .new_incoming(MARKDOWN_TO_WIKI, &Value::Null)
            .unwrap();
        let issue = IssueInfo::default();
        let mut fields = Map::new();
        fields.insert("description".into(), json!("*done*"));
        let data = json!("**done**");
        let target = TargetIssue {
            info: &issue,
            fields: &fields,
        };
        let ctx = IncomingContext::new(Some(target), "description", &data);
        assert_eq!(mapping.import(&ctx).unwrap(), FieldUpdate::Unchanged);
        let creating = IncomingContext::new(None, "description", &data);
        assert_eq!(
            mapping.import(&creating).unwrap(),
            FieldUpdate::Set(json!("*done*"))
        );
    }

    #[test]
    fn options_are_refused() {
        let error = plugin()
            .new_outgoing(WIKI_TO_MARKDOWN, &json!({"flavour": "gfm"}))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("unknown field `flavour`"),
            "{error}"
        );
    }
}
