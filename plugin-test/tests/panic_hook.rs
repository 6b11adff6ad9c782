//! Loading a plugin in-process must not take the test binary's panic hook away: a
//! failing assertion of the author's test still reports itself, while a panic inside
//! a call from the host becomes the call's error.

use std::sync::atomic::{AtomicUsize, Ordering};

use fieldsync_plugin_api::{
    export_plugin, ErrorKind, MappingDescriptor, MappingError, OutgoingContext,
    OutgoingFieldMapping, Plugin,
};
use fieldsync_plugin_test::{this_plugin, TestIssue};
use serde_json::Value;

struct Panics;

impl OutgoingFieldMapping for Panics {
    fn export(&self, _ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        panic!("inside a call")
    }
}

fn plugin() -> Plugin {
    Plugin::new("test.hook", "Hook")
        .outgoing(MappingDescriptor::new("test.panics", "P"), |_| Ok(Panics))
}

export_plugin!(plugin);

static REPORTED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn panics_outside_calls_still_reach_the_hook_that_was_there() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        REPORTED.fetch_add(1, Ordering::SeqCst);
        default(info)
    }));
    let plugin = this_plugin!();
    let outgoing = plugin.outgoing("test.panics", Value::Null).unwrap();

    let error = outgoing
        .export_new(&TestIssue::new("A-1"), "summary")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert_eq!(
        REPORTED.load(Ordering::SeqCst),
        0,
        "a call's panic is the call's error"
    );

    let outside = std::panic::catch_unwind(|| panic!("an author's failing assertion"));
    assert!(outside.is_err());
    assert_eq!(
        REPORTED.load(Ordering::SeqCst),
        1,
        "reported as without the plugin"
    );
}
