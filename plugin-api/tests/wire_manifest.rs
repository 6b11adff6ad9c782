//! The manifest the SDK builds from a `Plugin` definition is the document pinned with
//! the ABI (`plugin-abi/tests/wire/manifest.json`): what crosses the boundary cannot
//! change with an SDK release.

use fieldsync_plugin_api::{
    FieldType, MappingDescriptor, MappingError, OutgoingContext, OutgoingFieldMapping, Plugin,
};
use serde_json::Value;

struct Echo;

impl OutgoingFieldMapping for Echo {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        Ok(ctx.value().clone())
    }
}

#[test]
fn the_sdk_writes_the_pinned_manifest() {
    let plugin = Plugin::new("example.points", "Points")
        .version("1.2.0")
        .vendor("Example")
        .description("Story points")
        .outgoing(
            MappingDescriptor::new("example.to-size", "To size")
                .accepts([FieldType::Number])
                .reads(["labels"]),
            |_| Ok(Echo),
        );
    let written = serde_json::to_string_pretty(plugin.manifest()).unwrap() + "\n";
    let pinned_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugin-abi/tests/wire/manifest.json"
    );
    let pinned = std::fs::read_to_string(pinned_file).unwrap();
    assert_eq!(written, pinned, "see {pinned_file}");
}
