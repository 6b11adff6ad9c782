//! A plugin folder as an operator lives with it: files loaded from private copies,
//! owners and modes checked, pins, links, and a folder that changes while the host
//! runs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fieldsync_loader::{
    LivePlugins, LoadError, LoadReport, PermissionChecks, Pin, PluginLoader, PluginPins, ScanError,
    Sha256Digest,
};
use fieldsync_plugin_api::serde_json::{json, Map, Value};
use fieldsync_plugin_api::{Direction, IssueInfo, OutgoingContext, PluginOrigin, Trigger};
use fieldsync_tests::{built_library, copy_library, plugin_dir, write_file, write_library_version};

const STORY_POINTS: &str = "fieldsync-story-points";
const MARKUP: &str = "fieldsync-markup";
const MISBEHAVING: &str = "fixture-misbehaving";
const STORY_POINTS_FILE: &str = "libfieldsync_story_points.so";

fn points_to_size(report: &LoadReport, points: i64) -> Value {
    let available = report
        .mapping("example.points-to-size", Direction::Outgoing)
        .expect("the story points plugin is in use");
    let mapping = available
        .provider
        .new_outgoing("example.points-to-size", &Value::Null)
        .unwrap();
    let issue = IssueInfo::default();
    let value = json!(points);
    mapping
        .export(&OutgoingContext::new(
            &issue,
            "points",
            &value,
            &Trigger::NewIssue,
            &Map::new(),
        ))
        .unwrap()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn rejection<'a>(report: &'a LoadReport, file_name: &str) -> &'a LoadError {
    report
        .rejected
        .iter()
        .find(|r| r.origin.to_string().ends_with(file_name))
        .map(|r| &r.error)
        .unwrap_or_else(|| panic!("{file_name} not rejected: {:?}", report.rejected))
}

#[test]
fn a_loaded_plugin_runs_from_a_private_copy_so_overwriting_its_file_cannot_touch_it() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let loader = PluginLoader::new();
    let report = loader.load_dir(dir.path()).unwrap();
    assert_eq!(points_to_size(&report, 4), json!("M"));
    let plugin = loader
        .load_file(&dir.path().join(STORY_POINTS_FILE))
        .unwrap();
    let original = std::fs::read(built_library(STORY_POINTS)).unwrap();
    assert_eq!(plugin.digest(), &Sha256Digest::of(&original));
    assert!(plugin
        .loaded_copy()
        .ends_with(format!("{}.so", plugin.digest())));
    assert_ne!(plugin.loaded_copy(), plugin.path());

    // What `cp other.so plugins/x.so` does: the same inode, rewritten in place. A
    // library mapped from that file would now run the other code (or crash).
    std::fs::write(
        dir.path().join(STORY_POINTS_FILE),
        std::fs::read(built_library(MARKUP)).unwrap(),
    )
    .unwrap();
    for points in [1, 4, 13] {
        let size = points_to_size(&report, points);
        assert!(size.is_string(), "still the story points code: {size}");
    }
    std::fs::remove_file(dir.path().join(STORY_POINTS_FILE)).unwrap();
    assert_eq!(points_to_size(&report, 4), json!("M"));
}

#[test]
fn files_and_folders_others_may_write_are_refused_with_how_to_fix_it() {
    let dir = plugin_dir(&[STORY_POINTS, MARKUP]);
    let markup = dir.path().join("libfieldsync_markup.so");
    chmod(&markup, 0o666);
    let report = PluginLoader::new().load_dir(dir.path()).unwrap();
    let error = rejection(&report, "libfieldsync_markup.so").to_string();
    assert!(
        error.starts_with("refused: the plugin file")
            && error.contains("may be written by its group and all users (mode 0666)")
            && error.contains("fix: `chmod go-w"),
        "{error}"
    );
    assert_eq!(report.plugins.len(), 1, "the other plugin loads");

    chmod(dir.path(), 0o777);
    let error = PluginLoader::new().load_dir(dir.path()).err().unwrap();
    assert!(matches!(error, ScanError::Untrusted { .. }), "{error}");
    assert!(
        error.to_string().contains("may be written by all users")
            || error.to_string().contains("its group and all users"),
        "{error}"
    );

    // The development opt-out loads both.
    let report = PluginLoader::new()
        .with_permission_checks(PermissionChecks::Off)
        .load_dir(dir.path())
        .unwrap();
    assert_eq!(report.plugins.len(), 2, "{:?}", report.rejected);
    chmod(dir.path(), 0o700);
}

#[test]
fn a_pinned_plugin_whose_file_changed_is_refused_with_both_digests() {
    let dir = plugin_dir(&[STORY_POINTS]);
    let good = Sha256Digest::of(&std::fs::read(dir.path().join(STORY_POINTS_FILE)).unwrap());
    let mut pins = PluginPins::default();
    pins.pins.insert(
        "example.story-points".into(),
        Pin {
            sha256: good.to_string(),
            file: STORY_POINTS_FILE.into(),
        },
    );
    let pinned = |dir: &Path| {
        PluginLoader::new()
            .with_pins(pins.clone())
            .load_dir(dir)
            .unwrap()
    };
    assert_eq!(points_to_size(&pinned(dir.path()), 4), json!("M"));

    // Same name, other bytes: refused before any of its code runs.
    write_library_version(STORY_POINTS, dir.path(), STORY_POINTS_FILE, "rebuilt");
    let report = pinned(dir.path());
    let error = rejection(&report, STORY_POINTS_FILE);
    let LoadError::PinMismatch {
        plugin_id,
        expected,
        found,
    } = error
    else {
        panic!("{error}")
    };
    assert_eq!(plugin_id, "example.story-points");
    assert_eq!(expected, good.as_str());
    assert_ne!(found, good.as_str());
    assert!(error
        .to_string()
        .contains("run `fieldsync plugins pin` again"));

    // Another name for the pinned id: refused once its manifest names it.
    std::fs::remove_file(dir.path().join(STORY_POINTS_FILE)).unwrap();
    write_library_version(STORY_POINTS, dir.path(), "renamed.so", "other build");
    let report = pinned(dir.path());
    assert!(matches!(
        rejection(&report, "renamed.so"),
        LoadError::PinMismatch { .. }
    ));
    assert!(report.mappings().next().is_none());
}

#[test]
fn pins_round_trip_through_their_file_and_a_bad_digest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugins.lock");
    let mut pins = PluginPins::default();
    pins.pins.insert(
        "a.b".into(),
        Pin {
            sha256: "ab".repeat(32),
            file: "x.so".into(),
        },
    );
    pins.save(&file).unwrap();
    assert_eq!(PluginPins::load(&file).unwrap(), pins);
    write_file(
        dir.path(),
        "plugins.lock",
        br#"{"pins": {"a.b": {"sha256": "xyz", "file": "x.so"}}}"#,
    );
    let error = PluginPins::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("pins.a.b.sha256 is not 64 hex digits"),
        "{error}"
    );
    assert!(error.contains("plugins.lock"), "{error}");
}

#[test]
fn a_link_to_a_plugin_of_the_same_folder_is_named_as_such_and_the_plugin_loads() {
    let dir = plugin_dir(&[STORY_POINTS]);
    std::os::unix::fs::symlink(STORY_POINTS_FILE, dir.path().join("points.so")).unwrap();
    let report = PluginLoader::new().load_dir(dir.path()).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.plugins.len(), 1);
    assert!(report.plugins[0]
        .provider
        .origin()
        .to_string()
        .ends_with(STORY_POINTS_FILE));
    let warning = &report.warnings[0];
    assert!(warning.origin.to_string().ends_with("points.so"));
    assert!(
        warning.message.starts_with("a symbolic link to ")
            && warning.message.contains(STORY_POINTS_FILE)
            && warning.message.contains("loaded once"),
        "{}",
        warning.message
    );

    // A link alone (to a file outside the folder) is the plugin, named as in the
    // folder with its target beside it.
    let other = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        dir.path().join(STORY_POINTS_FILE),
        other.path().join("sp.so"),
    )
    .unwrap();
    let report = PluginLoader::new().load_dir(other.path()).unwrap();
    let entry = &report.plugins[0];
    assert!(entry.provider.origin().to_string().ends_with("sp.so"));
    let target = entry.file.as_ref().unwrap().target.as_ref().unwrap();
    assert!(target.ends_with(STORY_POINTS_FILE));
}

#[test]
fn a_running_host_picks_up_new_replaced_and_removed_plugins_and_keeps_what_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let mut live = LivePlugins::new(PluginLoader::new(), dir.path());
    let report = live.scan().unwrap();
    assert!(report.plugins.is_empty());

    // Dropped in.
    write_library_version(STORY_POINTS, dir.path(), "points.so", "v1");
    let report = live.scan().unwrap();
    assert_eq!(points_to_size(&report, 4), json!("M"));
    let v1 = report.plugins[0].file.clone().unwrap().digest;

    // Replaced by a new version: used from now on, and both versions stay loaded.
    write_library_version(STORY_POINTS, dir.path(), "points.so", "v2");
    let report = live.scan().unwrap();
    let v2 = report.plugins[0].file.clone().unwrap().digest;
    assert_ne!(v1, v2);
    assert_eq!(live.loaded_versions(), 2);
    assert!(report.is_clean());

    // Replaced by a broken file: rejected with its reason, v2 keeps running.
    write_file(dir.path(), "points.so", b"\x7fELF truncated");
    let report = live.scan().unwrap();
    assert!(matches!(
        rejection(&report, "points.so"),
        LoadError::NotALibrary(_) | LoadError::Unloadable(_)
    ));
    assert_eq!(report.plugins[0].file.as_ref().unwrap().digest, v2);
    assert_eq!(points_to_size(&report, 4), json!("M"));
    assert!(
        report.warnings[0]
            .message
            .starts_with("its new version was rejected (see above); plugin `example.story-points`"),
        "{:?}",
        report.warnings
    );

    // Removed: its mappings keep working until restart, and the report says so.
    std::fs::remove_file(dir.path().join("points.so")).unwrap();
    let report = live.scan().unwrap();
    assert_eq!(points_to_size(&report, 4), json!("M"));
    assert!(report.warnings[0]
        .message
        .starts_with("the file was removed from the folder; plugin `example.story-points`"));

    // Renamed to a new file name: the new file takes over, no conflict with the kept one.
    write_library_version(STORY_POINTS, dir.path(), "points-v3.so", "v3");
    let report = live.scan().unwrap();
    assert!(
        report.is_clean(),
        "{:?} {:?}",
        report.rejected,
        report.warnings
    );
    assert_eq!(report.plugins.len(), 1);
    assert!(report.plugins[0]
        .provider
        .origin()
        .to_string()
        .ends_with("points-v3.so"));
    assert_eq!(live.loaded_versions(), 3);

    // Another plugin next to it, and every entry stays accounted for.
    copy_library(MISBEHAVING, dir.path(), None);
    let report = live.scan().unwrap();
    assert_eq!(report.plugins.len(), 2);
    assert!(matches!(
        report.plugins[1].provider.origin(),
        PluginOrigin::File(_)
    ));
}
