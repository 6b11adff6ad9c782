//! A plugin's `log` records reach the host's logger, tagged with the plugin id.
//! (Its own test binary: it installs the process-wide logger.)

use std::sync::Mutex;

use fieldsync_loader::PluginLoader;
use fieldsync_plugin_api::serde_json::Value;
use fieldsync_plugin_api::{Direction, IssueInfo, NoFields, OutgoingContext, Trigger};

struct Capture(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn plugin_log_records_reach_the_host_tagged_with_the_plugin_id_and_filtered_by_level() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);

    let dir = fieldsync_tests::plugin_dir(&["fixture-misbehaving"]);
    let report = PluginLoader::new().load_dir(dir.path()).unwrap();
    let provider = &report
        .mapping("test.chatty", Direction::Outgoing)
        .unwrap()
        .provider;
    let mapping = provider.new_outgoing("test.chatty", &Value::Null).unwrap();
    let issue = IssueInfo {
        key: "A-9".into(),
        ..IssueInfo::default()
    };
    mapping
        .export(&OutgoingContext::new(
            &issue,
            "f",
            &Value::Null,
            &Trigger::NewIssue,
            &NoFields,
        ))
        .unwrap();

    let records = CAPTURE.0.lock().unwrap().clone();
    let from_plugin: Vec<_> = records
        .iter()
        .filter(|(_, target, _)| target == "plugin::test.misbehaving")
        .collect();
    assert!(
        from_plugin
            .iter()
            .any(|(level, _, message)| *level == log::Level::Error
                && message == "chatty error for A-9"),
        "{records:#?}"
    );
    assert!(from_plugin
        .iter()
        .any(|(level, _, message)| *level == log::Level::Info && message == "chatty info for A-9"));
    assert!(
        !records
            .iter()
            .any(|(_, _, message)| message.contains("chatty trace")),
        "the host's level applies inside the plugin"
    );
}
