//! Loading plugin folders: good plugins load, every kind of bad file is rejected
//! with its own reason, and the others keep working.

use std::path::Path;

use fieldsync_loader::{LoadError, LoadReport, PluginCache, PluginLoader};
use fieldsync_plugin_api::serde_json::{json, Map, Value};
use fieldsync_plugin_api::{
    Direction, ErrorKind, FieldUpdate, IncomingContext, IssueInfo, MappingProvider, NoFields,
    OutgoingContext, PluginOrigin, TargetIssue, Trigger,
};
use fieldsync_tests::{copy_library, plugin_dir, write_file, write_library_version};

const STORY_POINTS: &str = "fieldsync-story-points";
const MISBEHAVING: &str = "fixture-misbehaving";

fn load(dir: &Path) -> LoadReport {
    PluginLoader::new()
        .load_dir(dir)
        .expect("the folder is readable")
}

fn export_with(
    report: &LoadReport,
    mapping_id: &str,
    value: Value,
) -> Result<Value, fieldsync_plugin_api::MappingError> {
    let available = report
        .mapping(mapping_id, Direction::Outgoing)
        .expect("mapping is registered");
    let mapping = available.provider.new_outgoing(mapping_id, &Value::Null)?;
    let issue = IssueInfo {
        key: "A-7".into(),
        project: "A".into(),
        issue_type: "Story".into(),
    };
    let mut fields = Map::new();
    fields.insert("summary".into(), json!("Login is slow"));
    mapping.export(&OutgoingContext::new(
        &issue,
        "points",
        &value,
        &Trigger::NewIssue,
        &fields,
    ))
}

fn rejection_of<'a>(report: &'a LoadReport, file_name: &str) -> &'a LoadError {
    report
        .rejected
        .iter()
        .find(|rejected| matches!(&rejected.origin, PluginOrigin::File(path) if path.ends_with(file_name)))
        .map(|rejected| &rejected.error)
        .unwrap_or_else(|| panic!("{file_name} was not rejected; rejected: {:?}", report.rejected))
}

#[test]
fn different_plugins_load_side_by_side_and_all_work() {
    let dir = plugin_dir(&[STORY_POINTS, MISBEHAVING, "fieldsync-markup"]);
    let report = load(dir.path());
    assert!(
        report.is_clean(),
        "rejected: {:?} conflicts: {:?}",
        report.rejected,
        report.conflicts
    );
    let ids: Vec<&str> = report
        .plugins
        .iter()
        .map(|p| p.provider.manifest().id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["example.markup", "example.story-points", "test.misbehaving"],
        "loaded in file name order"
    );
    assert_eq!(
        export_with(&report, "example.wiki-to-markdown", json!("h1. Fix *now*")).unwrap(),
        json!("# Fix **now**")
    );

    assert_eq!(
        export_with(&report, "example.points-to-size", json!(4)).unwrap(),
        json!("M")
    );
    let chatty = export_with(&report, "test.chatty", Value::Null).unwrap();
    assert_eq!(
        chatty["summary"],
        json!("Login is slow"),
        "fields are read through the host's view"
    );
    assert_eq!(chatty["fields"], json!(["summary"]));

    let incoming = report
        .mapping("example.size-to-points", Direction::Incoming)
        .unwrap();
    let mapping = incoming
        .provider
        .new_incoming("example.size-to-points", &Value::Null)
        .unwrap();
    let target = IssueInfo {
        key: "B-3".into(),
        ..IssueInfo::default()
    };
    let mut fields = Map::new();
    fields.insert("points".into(), json!(4));
    let data = json!("M");
    let keep = mapping
        .import(&IncomingContext::new(
            Some(TargetIssue {
                info: &target,
                fields: &fields,
            }),
            "points",
            &data,
        ))
        .unwrap();
    assert_eq!(keep, FieldUpdate::Unchanged, "4 points already are an M");
    let create = mapping
        .import(&IncomingContext::new(None, "points", &json!("L")))
        .unwrap();
    assert_eq!(create, FieldUpdate::Set(json!(8)));
}

#[test]
fn loaded_and_statically_linked_mappings_answer_alike() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let report = load(dir.path());
    let loaded = report
        .mapping("example.points-to-size", Direction::Outgoing)
        .unwrap();
    let options = json!({"scale": [{"size": "small", "up_to": 2}, {"size": "big", "points": 5}]});
    let loaded = loaded
        .provider
        .new_outgoing("example.points-to-size", &options)
        .unwrap();
    let linked = fieldsync_story_points::plugin()
        .new_outgoing("example.points-to-size", &options)
        .unwrap();
    let issue = IssueInfo {
        key: "A-1".into(),
        ..IssueInfo::default()
    };
    for value in [
        json!(0),
        json!(2),
        json!(2.5),
        json!(100),
        Value::Null,
        json!("x"),
        json!(-3),
    ] {
        let ctx = OutgoingContext::new(&issue, "points", &value, &Trigger::Resync, &NoFields);
        let from_file = loaded.export(&ctx);
        let from_binary = linked.export(&ctx);
        match (&from_file, &from_binary) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "value {value}"),
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind());
                assert_eq!(a.to_string(), b.to_string());
            }
            _ => panic!("value {value}: loaded gave {from_file:?}, linked gave {from_binary:?}"),
        }
    }
}

#[test]
fn bad_options_fail_at_construction_naming_plugin_and_mapping() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let report = load(dir.path());
    let provider = &report
        .mapping("example.points-to-size", Direction::Outgoing)
        .unwrap()
        .provider;
    let error = provider
        .new_outgoing("example.points-to-size", &json!({"scale": "big"}))
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidOptions);
    let text = error.to_string();
    assert!(
        text.starts_with(
            "plugin `example.story-points` mapping `example.points-to-size`: invalid options:"
        ),
        "{text}"
    );
}

#[test]
fn a_text_file_named_like_a_library_is_rejected() {
    let dir = plugin_dir(&[STORY_POINTS]);
    write_file(dir.path(), "x.so", b"this is not a library\n");
    let report = load(dir.path());
    let error = rejection_of(&report, "x.so");
    assert!(matches!(error, LoadError::NotALibrary(_)), "{error}");
    assert!(
        error.to_string().starts_with("not a shared library"),
        "{error}"
    );
    assert!(
        report
            .mapping("example.points-to-size", Direction::Outgoing)
            .is_some(),
        "the good plugin still loads"
    );
}

#[test]
fn an_empty_file_is_rejected() {
    let dir = plugin_dir(&[]);
    write_file(dir.path(), "empty.so", b"");
    let report = load(dir.path());
    assert_eq!(rejection_of(&report, "empty.so"), &LoadError::Empty);
}

#[test]
fn a_truncated_library_is_rejected_before_the_dynamic_linker_maps_it() {
    let dir = plugin_dir(&[]);
    let library = std::fs::read(fieldsync_tests::built_library(STORY_POINTS)).unwrap();
    write_file(dir.path(), "truncated.so", &library[..4096]);
    let report = load(dir.path());
    let error = rejection_of(&report, "truncated.so");
    assert!(matches!(error, LoadError::Unloadable(_)), "{error}");
    assert!(
        error.to_string().contains("the file is truncated"),
        "{error}"
    );
}

#[test]
fn a_library_that_is_not_a_plugin_is_rejected() {
    let dir = plugin_dir(&["fixture-not-a-plugin", STORY_POINTS]);
    let report = load(dir.path());
    assert_eq!(
        rejection_of(&report, "libfixture_not_a_plugin.so"),
        &LoadError::NotAPlugin
    );
    assert_eq!(report.plugins.len(), 1);
}

#[test]
fn a_plugin_built_against_an_older_abi_is_rejected_with_both_versions() {
    let dir = plugin_dir(&["fixture-old-abi"]);
    let report = load(dir.path());
    let error = rejection_of(&report, "libfixture_old_abi.so");
    assert_eq!(
        error,
        &LoadError::IncompatibleVersion {
            expected: fieldsync_plugin_api::abi::ABI_VERSION.to_owned(),
            found: "0.0.7".to_owned()
        }
    );
    assert!(error.to_string().contains("rebuild the plugin"), "{error}");
}

#[test]
fn a_plugin_built_against_a_newer_abi_is_rejected_asking_for_a_newer_host() {
    let dir = plugin_dir(&["fixture-newer-abi"]);
    let report = load(dir.path());
    let error = rejection_of(&report, "libfixture_newer_abi.so");
    assert!(
        matches!(error, LoadError::IncompatibleVersion { found, .. } if found == "0.2.0"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("the plugin is newer than this host"),
        "{error}"
    );
}

#[test]
fn a_layout_mismatch_is_reported_by_its_error_lines_only() {
    // The fixture's root module is its own type of another shape; abi_stable stops at
    // the first difference it meets, the package the type comes from.
    let dir = plugin_dir(&["fixture-layout-mismatch"]);
    let report = load(dir.path());
    let error = rejection_of(&report, "libfixture_layout_mismatch.so");
    let LoadError::LayoutMismatch(lines) = error else {
        panic!("expected a layout mismatch, got {error}")
    };
    assert_eq!(
        lines,
        &vec![
            "mismatched package (expected `fieldsync-plugin-abi`, found `fixture-layout-mismatch`)"
                .to_owned()
        ]
    );
    assert_eq!(error.to_string().lines().count(), 1, "{error}");
}

#[test]
fn a_plugin_whose_definition_panics_is_rejected_with_the_panic_message() {
    let dir = plugin_dir(&["fixture-panicking-init", STORY_POINTS]);
    let report = load(dir.path());
    let error = rejection_of(&report, "libfixture_panicking_init.so");
    assert!(matches!(error, LoadError::InitFailed(_)), "{error}");
    assert!(
        error.to_string().contains("cannot find my configuration"),
        "{error}"
    );
    assert_eq!(report.plugins.len(), 1);
}

#[test]
fn an_invalid_manifest_is_rejected_with_every_problem() {
    let dir = plugin_dir(&["fixture-bad-manifest"]);
    let report = load(dir.path());
    let error = rejection_of(&report, "libfixture_bad_manifest.so").to_string();
    assert!(error.contains("plugin id `Bad Plugin`"), "{error}");
    assert!(error.contains("plugin name is empty"), "{error}");
    assert!(error.contains("mapping id `nodot`"), "{error}");
}

#[test]
fn two_plugins_exporting_one_mapping_id_register_neither_and_name_both_files() {
    let dir = plugin_dir(&[STORY_POINTS, "fixture-impostor"]);
    let report = load(dir.path());
    assert_eq!(report.conflicts.len(), 1);
    let conflict = &report.conflicts[0];
    assert_eq!(conflict.mapping_id, "example.points-to-size");
    let text = conflict.to_string();
    assert!(
        text.contains("libfieldsync_story_points.so") && text.contains("libfixture_impostor.so"),
        "{text}"
    );
    assert!(
        report
            .mapping("example.points-to-size", Direction::Outgoing)
            .is_none(),
        "neither wins"
    );
    assert!(report
        .mapping("example.size-to-points", Direction::Incoming)
        .is_some());
    assert!(report
        .mapping("test.constant", Direction::Outgoing)
        .is_some());
}

#[test]
fn a_byte_identical_copy_is_the_same_plugin_loaded_once_not_a_rival() {
    let dir = plugin_dir(&[STORY_POINTS]);
    copy_library(STORY_POINTS, dir.path(), Some("libstory_points_copy.so"));
    let report = load(dir.path());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.plugins.len(), 1);
    assert!(report
        .mapping("example.points-to-size", Direction::Outgoing)
        .is_some());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = &report.warnings[0];
    assert!(warning
        .origin
        .to_string()
        .ends_with("libstory_points_copy.so"));
    assert!(
        warning
            .message
            .starts_with("a byte-identical copy, the same library as ")
            && warning.message.contains("libfieldsync_story_points.so"),
        "{}",
        warning.message
    );
}

#[test]
fn two_versions_of_one_plugin_are_both_rejected_and_a_hundred_stay_a_short_report() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..100 {
        write_library_version(
            STORY_POINTS,
            dir.path(),
            &format!("v{index:03}.so"),
            &format!("build {index}"),
        );
    }
    // 100 private copies of a debug build are 1.7 GB: kept out of the user's cache.
    let cache = tempfile::tempdir().unwrap();
    let report = PluginLoader::new()
        .with_cache(PluginCache::new(cache.path()))
        .load_dir(dir.path())
        .unwrap();
    assert_eq!(report.rejected.len(), 100);
    assert!(report.plugins.is_empty());
    let first = report.rejected[0].error.to_string();
    assert_eq!(
        first,
        format!(
            "plugin id `example.story-points` is also provided by {d}/v001.so, {d}/v002.so, {d}/v003.so and 96 more; none of them is loaded",
            d = dir.path().canonicalize().unwrap().display()
        )
    );
    let total: usize = report
        .rejected
        .iter()
        .map(|r| r.error.to_string().len())
        .sum();
    assert!(
        total < 100 * 400,
        "the report grows linearly: {total} bytes"
    );
}

#[test]
fn a_panicking_mapping_returns_an_error_naming_the_plugin_and_the_host_goes_on() {
    let dir = plugin_dir(&[MISBEHAVING]);
    let report = load(dir.path());
    for _ in 0..3 {
        let error = export_with(&report, "test.panics", json!(1)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Panic);
        let text = error.to_string();
        assert!(text.starts_with("plugin `test.misbehaving` mapping `test.panics`: panicked: mapping exploded on A-7"), "{text}");
        assert!(
            text.contains("src/lib.rs"),
            "the panic location is kept: {text}"
        );
    }
    assert_eq!(
        export_with(&report, "test.panics", json!("calm")).unwrap(),
        json!("calm"),
        "the next call works"
    );

    let incoming = report.mapping("test.panics", Direction::Incoming).unwrap();
    let mapping = incoming
        .provider
        .new_incoming("test.panics", &Value::Null)
        .unwrap();
    let error = mapping
        .import(&IncomingContext::new(None, "f", &json!(1)))
        .unwrap_err();
    assert!(
        error.to_string().contains("incoming mapping exploded"),
        "{error}"
    );

    let error = export_with(&report, "test.fails", json!(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `test.misbehaving` mapping `test.fails`: this value cannot be mapped"
    );

    let provider = &report
        .mapping("test.panicking-constructor", Direction::Outgoing)
        .unwrap()
        .provider;
    let error = provider
        .new_outgoing("test.panicking-constructor", &Value::Null)
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(
        error.to_string().contains("constructor exploded"),
        "{error}"
    );
}

#[test]
fn unknown_mapping_ids_are_refused_by_the_plugin() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let report = load(dir.path());
    let provider = &report.plugins[0].provider;
    let error = provider
        .new_outgoing("example.size-to-points", &Value::Null)
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::UnknownMapping);
}

#[test]
fn only_library_files_in_the_folder_itself_are_loaded() {
    let dir = plugin_dir(&[]);
    write_file(
        dir.path(),
        "README.txt",
        b"not a plugin, not even named like one",
    );
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    copy_library(STORY_POINTS, &dir.path().join("nested"), None);
    let report = load(dir.path());
    assert!(report.plugins.is_empty() && report.rejected.is_empty());
}

#[test]
fn static_plugins_go_through_the_same_checks_as_loaded_ones() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let report = PluginLoader::new()
        .with_static(fieldsync_story_points::plugin())
        .load_dir(dir.path())
        .unwrap();
    assert_eq!(
        report.rejected.len(),
        2,
        "same plugin id built in and in a file: {:?}",
        report.rejected
    );
    assert!(report
        .rejected
        .iter()
        .any(|r| r.origin == PluginOrigin::Static));
}

#[test]
fn the_engine_registry_serves_built_in_and_loaded_mappings_alike() {
    use std::sync::Arc;

    use fieldsync_core::{MappingRegistry, RegistryError};
    use fieldsync_plugin_api::{
        FieldType, MappingDescriptor, MappingError, OutgoingFieldMapping, Plugin,
    };

    struct Upper;
    impl OutgoingFieldMapping for Upper {
        fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
            Ok(ctx.value().as_str().map(str::to_uppercase).into())
        }
    }
    let built_in = Plugin::new("fieldsync.builtin", "Built-in").outgoing(
        MappingDescriptor::new("fieldsync.upper", "Upper case").accepts([FieldType::Text]),
        |_| Ok(Upper),
    );
    let dir = plugin_dir(&[STORY_POINTS]);
    let report = PluginLoader::new()
        .with_static(built_in)
        .load_dir(dir.path())
        .unwrap();
    let mut registry = MappingRegistry::new();
    for available in report.mappings() {
        registry
            .register(available.descriptor.clone(), Arc::clone(available.provider))
            .unwrap();
    }

    let issue = IssueInfo {
        key: "A-1".into(),
        ..IssueInfo::default()
    };
    let title = json!("fix it");
    let points = json!(7);
    let upper = registry
        .outgoing("fieldsync.upper", "summary", &FieldType::Text, &Value::Null)
        .unwrap();
    let size = registry
        .outgoing(
            "example.points-to-size",
            "points",
            &FieldType::Number,
            &Value::Null,
        )
        .unwrap();
    let ctx = |value| OutgoingContext::new(&issue, "f", value, &Trigger::NewIssue, &NoFields);
    assert_eq!(upper.export(&ctx(&title)).unwrap(), json!("FIX IT"));
    assert_eq!(size.export(&ctx(&points)).unwrap(), json!("L"));

    let origin = registry
        .get("example.points-to-size", Direction::Outgoing)
        .unwrap()
        .origin();
    assert!(
        matches!(origin, PluginOrigin::File(path) if path.ends_with("libfieldsync_story_points.so"))
    );
    let refused = registry.outgoing(
        "example.points-to-size",
        "summary",
        &FieldType::Text,
        &Value::Null,
    );
    assert!(matches!(refused, Err(RegistryError::WrongFieldType { .. })));
}

#[test]
fn a_plugin_speaking_another_sdks_json_loads_and_works_minus_what_it_cannot_read() {
    let dir = plugin_dir(&["fixture-older-sdk"]);
    let report = load(dir.path());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0]
            .message
            .contains("mappings[1] (`old.both`): unknown variant `both`"),
        "{:?}",
        report.warnings
    );
    assert!(
        !report.is_clean(),
        "a partly loaded plugin is worth a warning"
    );
    assert_eq!(report.mappings().count(), 1);
    let mapping = report
        .mapping("old.copy", Direction::Outgoing)
        .expect("registered");
    assert_eq!(
        mapping.descriptor.field_types,
        vec![fieldsync_plugin_api::FieldType::Any],
        "absent fields take defaults"
    );
    assert_eq!(mapping.provider.manifest().vendor, "");
    assert_eq!(
        export_with(&report, "old.copy", json!(["a", "b"])).unwrap(),
        json!(["a", "b"])
    );
}

/// Built with the SDK and ABI crate exactly as ABI 0.1 was released (a frozen copy in
/// `tests/frozen/abi-0.1`, its own workspace): proven to load and work, not assumed.
#[test]
fn a_plugin_built_with_the_first_frozen_abi_loads_and_works_on_todays_host() {
    let dir = plugin_dir(&["fixture-abi-0-1"]);
    let report = load(dir.path());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let shout = report
        .mapping("frozen.shout", Direction::Outgoing)
        .expect("registered");
    let mapping = shout
        .provider
        .new_outgoing("frozen.shout", &json!({"suffix": "?!"}))
        .unwrap();
    let issue = IssueInfo {
        key: "A-1".into(),
        project: "A".into(),
        issue_type: "Task".into(),
    };
    let mut fields = Map::new();
    fields.insert("labels".into(), json!(["customer"]));
    let call = |value: &Value| {
        mapping.export(&OutgoingContext::new(
            &issue,
            "summary",
            value,
            &Trigger::NewIssue,
            &fields,
        ))
    };
    assert_eq!(call(&json!("hi")).unwrap(), json!("hi?! (customer)"));
    let panic = call(&json!("panic")).unwrap_err();
    assert_eq!(panic.kind(), ErrorKind::Panic);
    assert!(panic.to_string().contains("asked to panic"), "{panic}");
    let options = shout
        .provider
        .new_outgoing("frozen.shout", &json!({"suffix": 3}))
        .unwrap_err();
    assert_eq!(options.kind(), ErrorKind::InvalidOptions);

    let keep = report
        .mapping("frozen.keep", Direction::Incoming)
        .expect("registered")
        .provider
        .new_incoming("frozen.keep", &Value::Null)
        .unwrap();
    let mut target_fields = Map::new();
    target_fields.insert("summary".into(), json!("well, hi?!"));
    let target = TargetIssue {
        info: &issue,
        fields: &target_fields,
    };
    let data = json!("hi?!");
    assert_eq!(
        keep.import(&IncomingContext::new(Some(target), "summary", &data))
            .unwrap(),
        FieldUpdate::Unchanged
    );
    assert_eq!(
        keep.import(&IncomingContext::new(None, "summary", &data))
            .unwrap(),
        FieldUpdate::Set(data.clone())
    );
}

#[test]
fn loading_the_same_file_twice_gives_two_working_handles_on_one_library() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let file = dir.path().join("libfieldsync_story_points.so");
    let loader = PluginLoader::new();
    let first = loader.load_file(&file).unwrap();
    let second = loader.load_file(&file).unwrap();
    assert_eq!(first.manifest(), second.manifest());
    let issue = IssueInfo::default();
    let value = json!(2);
    for plugin in [&first, &second] {
        let mapping = plugin
            .new_outgoing("example.points-to-size", &Value::Null)
            .unwrap();
        let ctx = OutgoingContext::new(&issue, "points", &value, &Trigger::NewIssue, &NoFields);
        assert_eq!(mapping.export(&ctx).unwrap(), json!("S"));
    }
}

/// An issue store that fails: one field cannot be read, another read panics.
struct FailingStore;

impl fieldsync_plugin_api::IssueFields for FailingStore {
    fn field(&self, field_id: &str) -> Result<Option<Value>, fieldsync_plugin_api::MappingError> {
        if field_id == "summary" {
            panic!("the store panicked");
        }
        Err(fieldsync_plugin_api::MappingError::new(
            "database is locked",
        ))
    }

    fn field_ids(&self) -> Result<Vec<String>, fieldsync_plugin_api::MappingError> {
        Ok(vec!["summary".into(), "points".into()])
    }
}

#[test]
fn a_failing_host_store_fails_the_call_alike_for_loaded_and_linked_mappings() {
    let dir = plugin_dir(&[MISBEHAVING, STORY_POINTS]);
    let report = load(dir.path());
    let issue = IssueInfo {
        key: "A-5".into(),
        ..IssueInfo::default()
    };
    let data = json!("M");
    let loaded = report
        .mapping("example.size-to-points", Direction::Incoming)
        .unwrap()
        .provider
        .new_incoming("example.size-to-points", &Value::Null)
        .unwrap();
    let linked = fieldsync_story_points::plugin()
        .new_incoming("example.size-to-points", &Value::Null)
        .unwrap();
    let mut errors = Vec::new();
    for mapping in [&loaded, &linked] {
        // The mapping reads the current points; the store cannot answer. That must not
        // look like an empty field, which would overwrite the stored points.
        let target = TargetIssue {
            info: &issue,
            fields: &FailingStore,
        };
        let ctx = IncomingContext::new(Some(target), "points", &data);
        errors.push(mapping.import(&ctx).unwrap_err().to_string());
    }
    assert_eq!(
        errors[0],
        "plugin `example.story-points` mapping `example.size-to-points`: reading field `points`: database is locked"
    );
    assert_eq!(errors[0], errors[1]);
}

#[test]
fn a_plugin_cannot_hide_a_host_failure_by_ignoring_the_error() {
    let dir = plugin_dir(&[MISBEHAVING]);
    let report = load(dir.path());
    let swallows = report
        .mapping("test.swallows", Direction::Outgoing)
        .unwrap()
        .provider
        .new_outgoing("test.swallows", &Value::Null)
        .unwrap();
    let issue = IssueInfo::default();
    let ctx = OutgoingContext::new(&issue, "f", &Value::Null, &Trigger::NewIssue, &FailingStore);
    let error = swallows.export(&ctx).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `test.misbehaving` mapping `test.swallows`: reading field `summary`: panicked: the store panicked"
    );
}

#[test]
fn a_panicking_host_store_becomes_an_error_of_the_plugin_call_and_the_host_survives() {
    let dir = plugin_dir(&[MISBEHAVING, STORY_POINTS]);
    let report = load(dir.path());
    let issue = IssueInfo {
        key: "A-5".into(),
        ..IssueInfo::default()
    };

    // The plugin reads `summary` through the host's view; the host's store panics.
    let chatty = report
        .mapping("test.chatty", Direction::Outgoing)
        .unwrap()
        .provider;
    let chatty = chatty.new_outgoing("test.chatty", &Value::Null).unwrap();
    let ctx = OutgoingContext::new(&issue, "f", &Value::Null, &Trigger::NewIssue, &FailingStore);
    let error = chatty.export(&ctx).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert!(error.to_string().contains("the store panicked"), "{error}");

    // The host keeps serving other calls.
    assert_eq!(
        export_with(&report, "example.points-to-size", json!(1)).unwrap(),
        json!("XS")
    );
}

#[test]
fn entries_with_a_library_name_that_are_no_file_are_reported_with_what_they_are() {
    let dir = plugin_dir(&["fieldsync-story-points"]);
    let suffix = std::env::consts::DLL_SUFFIX;
    std::os::unix::fs::symlink(
        dir.path().join("gone.bin"),
        dir.path().join(format!("dangling{suffix}")),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join(format!("folder{suffix}"))).unwrap();
    let fifo = dir.path().join(format!("pipe{suffix}"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo works here");

    let report = load(dir.path());
    assert!(
        report
            .mapping("example.points-to-size", Direction::Outgoing)
            .is_some(),
        "the real plugin still loads"
    );
    for (file, what) in [
        ("dangling", "a symbolic link to "),
        ("folder", "a directory"),
        ("pipe", "a named pipe (FIFO)"),
    ] {
        let error = rejection_of(&report, &format!("{file}{suffix}")).to_string();
        assert!(error.starts_with("not a file: "), "{error}");
        assert!(error.contains(what), "{file}: {error}");
    }
    assert!(rejection_of(&report, &format!("dangling{suffix}"))
        .to_string()
        .contains("which does not exist"));
    assert_eq!(report.rejected.len(), 3, "{:?}", report.rejected);
}

#[test]
fn an_empty_field_is_absent_alike_in_the_sdk_the_host_and_across_the_boundary() {
    use fieldsync_plugin_api::IssueFields;
    let mut fields = Map::new();
    fields.insert("summary".into(), Value::Null);
    fields.insert("points".into(), json!(5));
    // What an author's unit test sees, through the SDK's map implementation.
    assert_eq!(fields.field("summary").unwrap(), None);
    assert_eq!(fields.field_ids().unwrap(), vec!["points".to_owned()]);
    // What the same mapping sees in a real sync, through the loaded library.
    let dir = plugin_dir(&[MISBEHAVING]);
    let report = load(dir.path());
    let mapping = report
        .mapping("test.chatty", Direction::Outgoing)
        .unwrap()
        .provider
        .new_outgoing("test.chatty", &Value::Null)
        .unwrap();
    let issue = IssueInfo::default();
    let seen = mapping
        .export(&OutgoingContext::new(
            &issue,
            "points",
            &json!(5),
            &Trigger::NewIssue,
            &fields,
        ))
        .unwrap();
    assert_eq!(seen, json!({"summary": null, "fields": ["points"]}));
}

#[test]
fn a_mapping_built_for_a_relationship_learns_where_through_the_boundary() {
    let dir = plugin_dir(&[MISBEHAVING]);
    let report = load(dir.path());
    let provider = report
        .mapping("test.setup", Direction::Outgoing)
        .unwrap()
        .provider;
    let setup = fieldsync_plugin_api::MappingSetup {
        project: "SUP".into(),
        field: "summary".into(),
        project_fields: vec!["summary".into()],
        ..Default::default()
    };
    let mapping = provider
        .new_outgoing_for("test.setup", &Value::Null, &setup)
        .unwrap();
    let issue = IssueInfo::default();
    let sent = mapping
        .export(&OutgoingContext::new(
            &issue,
            "summary",
            &json!("x"),
            &Trigger::NewIssue,
            &NoFields,
        ))
        .unwrap();
    assert!(
        sent.as_str().unwrap().contains("\"project\":\"SUP\""),
        "{sent}"
    );
    let error = provider
        .new_outgoing_for("test.setup", &json!({"field": "nope"}), &setup)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidOptions);
}
