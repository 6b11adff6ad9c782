//! The plugin shown in README.md ("For plugin authors"), compiled and called: the
//! README's code must be this file's code down to the marker line, byte for byte.

use fieldsync_plugin_api::{
    export_plugin, FieldType, MappingDescriptor, MappingError, OutgoingContext,
    OutgoingFieldMapping, Plugin,
};
use serde::Deserialize;
use serde_json::Value;

/// The options a relationship gives the mapping, e.g. `{"small_up_to": 3}`.
#[derive(Deserialize)]
struct Thresholds {
    small_up_to: f64,
}

struct PointsToSize {
    thresholds: Thresholds,
}

impl OutgoingFieldMapping for PointsToSize {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        let points = ctx
            .value()
            .as_f64()
            .ok_or_else(|| MappingError::new(format!("{} holds no number", ctx.issue().key)))?;
        let size = if points <= self.thresholds.small_up_to {
            "S"
        } else {
            "L"
        };
        Ok(size.into())
    }
}

fn plugin() -> Plugin {
    Plugin::new("example.sizes", "Story points to sizes")
        .version(env!("CARGO_PKG_VERSION"))
        .vendor("fieldsync examples")
        .outgoing(
            MappingDescriptor::new("example.points-to-s-or-l", "Story points → S or L")
                .accepts([FieldType::Number]),
            // Runs once per field relationship, with its options from the sync config;
            // bad options fail at start-up, naming the relationship's `options`.
            |options| {
                Ok(PointsToSize {
                    thresholds: options.parse()?,
                })
            },
        )
    // .incoming(...) likewise, with an IncomingFieldMapping
}

export_plugin!(plugin);
// end of the README snippet

// README test snippet
#[cfg(test)]
mod tests {
    use fieldsync_plugin_api::FieldType;
    use fieldsync_plugin_test::{setup_for, this_plugin, TestIssue};
    use serde_json::json;

    #[test]
    fn small_stories_are_s() {
        let plugin = this_plugin!(); // this crate's `export_plugin!`
        let setup = setup_for("points", FieldType::Number, &[]);
        let mapping = plugin
            .outgoing_for(
                "example.points-to-s-or-l",
                json!({"small_up_to": 3}),
                &setup,
            )
            .unwrap();
        let issue = TestIssue::new("SUP-1").with("points", 2);
        assert_eq!(mapping.export_new(&issue, "points").unwrap(), json!("S"));
        // also: export_change(.., old), incoming(..).import_creating / import_into,
        // plugin.take_logs(), check_update(&update, &FieldType::Priority)
    }
}
// end of the README test snippet

#[test]
fn the_readme_shows_this_plugin_and_it_works() {
    let this = include_str!("readme_plugin.rs");
    let start = this.find("use fieldsync_plugin_api").unwrap();
    let end = this.find("// end of the README snippet").unwrap();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&format!("```rust\n{}```", &this[start..end])),
        "README.md's plugin example differs from plugin-api/tests/readme_plugin.rs"
    );
    let start = this.find("// README test snippet\n").unwrap() + "// README test snippet\n".len();
    let end = this.find("// end of the README test snippet").unwrap();
    assert!(
        readme.contains(&format!("```rust\n{}```", &this[start..end])),
        "README.md's plugin test example differs from plugin-api/tests/readme_plugin.rs"
    );

    use fieldsync_plugin_api::{IssueInfo, MappingProvider, NoFields, Trigger};
    let plugin = plugin();
    let mapping = plugin
        .new_outgoing(
            "example.points-to-s-or-l",
            &serde_json::json!({"small_up_to": 3}),
        )
        .unwrap();
    let issue = IssueInfo::default();
    let value = serde_json::json!(5);
    let size = mapping
        .export(&OutgoingContext::new(
            &issue,
            "points",
            &value,
            &Trigger::NewIssue,
            &NoFields,
        ))
        .unwrap();
    assert_eq!(size, serde_json::json!("L"));
    let error = plugin
        .new_outgoing("example.points-to-s-or-l", &serde_json::json!({"small": 3}))
        .unwrap_err();
    assert!(error.to_string().contains("small_up_to"), "{error}");
}
