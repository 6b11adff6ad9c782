//! A plugin the host would refuse is refused by the harness too, with the host's
//! reason.

use fieldsync_plugin_api::{export_plugin, MappingDescriptor, Plugin};
use fieldsync_plugin_test::{LoadError, PluginUnderTest};

fn plugin() -> Plugin {
    Plugin::new("NotAnId", "Bad id").outgoing(MappingDescriptor::new("test.x", "X"), |_| {
        Ok(fieldsync_plugin_api_copy())
    })
}

struct Copy;

impl fieldsync_plugin_api::OutgoingFieldMapping for Copy {
    fn export(
        &self,
        ctx: &fieldsync_plugin_api::OutgoingContext<'_>,
    ) -> Result<serde_json::Value, fieldsync_plugin_api::MappingError> {
        Ok(ctx.value().clone())
    }
}

fn fieldsync_plugin_api_copy() -> Copy {
    Copy
}

export_plugin!(plugin);

#[test]
fn a_manifest_the_host_would_refuse_fails_to_load() {
    let error = PluginUnderTest::load(crate::fieldsync_root_module()).unwrap_err();
    assert!(matches!(error, LoadError::InvalidManifest(_)), "{error:?}");
    assert!(error.to_string().contains("NotAnId"), "{error}");
}
