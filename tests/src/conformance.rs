//! What every [`Tracker`] must do for the engine, as one suite that the SQLite model
//! and each connector pass (`tests/tests/tracker_conformance.rs`): a new tracker is
//! held to the same rules before the engine ever runs on it.

use std::collections::BTreeMap;

use fieldsync_core::model::NewIssue;
use fieldsync_core::store::{TrackerCursor, CREATED_FIELD};
use fieldsync_core::Tracker;
use serde_json::{json, Value};

/// A project of the tracker under test and what the suite may write into it.
pub struct Subject<'a> {
    /// The tracker.
    pub tracker: &'a dyn Tracker,
    /// A project key the tracker has (empty of issues).
    pub project: &'a str,
    /// An issue type of the project.
    pub issue_type: &'a str,
    /// Two text fields.
    pub text_fields: [&'a str; 2],
    /// An option field and two values it takes.
    pub option_field: (&'a str, [&'a str; 2]),
    /// The user the suite writes as (the sync user), and another (a person).
    pub authors: [&'a str; 2],
    /// Whether the tracker keeps a correlation field.
    pub correlates: bool,
}

/// Runs every rule; panics naming the first one broken.
pub fn check(subject: &Subject<'_>) {
    let tracker = subject.tracker;
    let [text, other_text] = subject.text_fields;
    let (option, [first_option, second_option]) = subject.option_field;
    let [sync_user, person] = subject.authors;

    // The project declares its fields with types and the issue types.
    let project = tracker
        .project(subject.project)
        .expect("project() reads it");
    assert_eq!(project.key, subject.project);
    assert!(project.issue_types.iter().any(|t| t == subject.issue_type));
    for field in [text, other_text, option] {
        assert!(project.field(field).is_some(), "project declares `{field}`");
    }
    assert!(
        tracker.project("no-such-project-here").is_err(),
        "an unknown project is an error"
    );

    // The first scan sees nothing yet.
    let empty = tracker
        .scan_changes(subject.project, &TrackerCursor::default(), sync_user)
        .expect("scan_changes on an empty project");
    assert!(empty.issues.is_empty(), "no issues yet: {:?}", empty.issues);
    // A first issue, found by a scan whose cursor then stands after it.
    let seed = tracker
        .create(
            &NewIssue {
                project: subject.project.to_owned(),
                issue_type: subject.issue_type.to_owned(),
                fields: [(text.to_owned(), json!("Seed"))].into(),
            },
            person,
        )
        .expect("create()");
    let seeded = tracker
        .scan_changes(subject.project, &empty.next, sync_user)
        .unwrap();
    assert!(
        seeded.issues.iter().any(|changed| changed.key == seed.key),
        "a new issue by a person is found: {:?}",
        seeded.issues
    );
    let cursor = seeded.next;
    assert_ne!(cursor, TrackerCursor::default(), "the cursor moved");

    // Create: what was set reads back, the history starts with the creation.
    let fields: BTreeMap<String, Value> = [
        (text.to_owned(), json!("Conformance")),
        (option.to_owned(), json!(first_option)),
    ]
    .into();
    let screen = tracker
        .create_screen(subject.project, subject.issue_type)
        .unwrap();
    assert!(
        screen.iter().any(|field| field == text),
        "`{text}` can be set when creating"
    );
    let created = tracker
        .create(
            &NewIssue {
                project: subject.project.to_owned(),
                issue_type: subject.issue_type.to_owned(),
                fields: fields
                    .iter()
                    .filter(|(field, _)| screen.contains(field))
                    .map(|(field, value)| (field.clone(), value.clone()))
                    .collect(),
            },
            person,
        )
        .expect("create()");
    let key = created.key.clone();
    assert_eq!(created.project, subject.project);
    assert_eq!(created.issue_type, subject.issue_type);
    assert_eq!(created.value(text), &json!("Conformance"));
    let read = tracker
        .get(&key)
        .unwrap()
        .expect("get() finds a created issue");
    assert_eq!(read.value(text), &json!("Conformance"));
    assert_eq!(
        read.value(other_text),
        &Value::Null,
        "an empty field reads as null"
    );
    let history = tracker.history_since(&key, 0).unwrap();
    assert!(
        history
            .iter()
            .any(|entry| entry.field == CREATED_FIELD && entry.author == person),
        "history after 0 holds the creation by its author: {history:?}"
    );

    // A scan from a cursor that stood after the first issue lists the second.
    let scan = tracker
        .scan_changes(subject.project, &cursor, sync_user)
        .unwrap();
    assert!(
        scan.issues.iter().any(|changed| changed.key == key),
        "an issue created after the cursor is found: {:?}",
        scan.issues
    );
    let cursor = scan.next;
    let position = history.iter().map(|entry| entry.seq).max().unwrap_or(0);

    // Update: only differing values are written and recorded, by their author.
    let changes: BTreeMap<String, Value> = [
        (text.to_owned(), json!("Conformance")),
        (other_text.to_owned(), json!("Second text")),
        (option.to_owned(), json!(second_option)),
    ]
    .into();
    let recorded = tracker.update(&key, &changes, person).expect("update()");
    let mut recorded_fields: Vec<&str> =
        recorded.iter().map(|entry| entry.field.as_str()).collect();
    recorded_fields.sort_unstable();
    let mut expected = vec![other_text, option];
    expected.sort_unstable();
    assert_eq!(recorded_fields, expected, "only what differs is written");
    let read = tracker.get(&key).unwrap().unwrap();
    assert_eq!(read.value(other_text), &json!("Second text"));
    assert_eq!(read.value(option), &json!(second_option));
    let later = tracker.history_since(&key, position).unwrap();
    for field in [other_text, option] {
        assert!(
            later.iter().any(|entry| entry.field == field
                && entry.author == person
                && entry.seq > position),
            "the change of `{field}` is in the history after {position}, by {person}: {later:?}"
        );
    }
    assert!(
        !later.iter().any(|entry| entry.field == text),
        "an unchanged value leaves no history: {later:?}"
    );
    let scan = tracker
        .scan_changes(subject.project, &cursor, sync_user)
        .unwrap();
    assert!(
        scan.issues.iter().any(|changed| changed.key == key),
        "an edit is found"
    );

    // Writing the same values again changes nothing.
    let position = later
        .iter()
        .map(|entry| entry.seq)
        .max()
        .unwrap_or(position);
    assert!(tracker
        .update(&key, &changes, sync_user)
        .unwrap()
        .is_empty());
    assert!(tracker.history_since(&key, position).unwrap().is_empty());

    // Clearing a field.
    let cleared: BTreeMap<String, Value> = [(other_text.to_owned(), Value::Null)].into();
    tracker.update(&key, &cleared, sync_user).unwrap();
    assert_eq!(
        tracker.get(&key).unwrap().unwrap().value(other_text),
        &Value::Null
    );
    let sync_edits = tracker.history_since(&key, position).unwrap();
    assert!(
        sync_edits
            .iter()
            .any(|entry| entry.field == other_text && entry.author == sync_user),
        "the sync's writes are recorded as the sync user's: {sync_edits:?}"
    );
    // Positions only grow within an issue.
    let all = tracker.history_since(&key, 0).unwrap();
    assert!(
        all.windows(2).all(|pair| pair[0].seq <= pair[1].seq),
        "{all:?}"
    );

    // An unknown issue is `None`, not an error.
    let missing = format!("{}-999999", subject.project);
    assert!(tracker.get(&missing).unwrap().is_none(), "get({missing})");

    // The users the user map reads.
    assert!(tracker
        .users()
        .unwrap()
        .iter()
        .any(|user| user.username == person));

    if subject.correlates {
        assert_eq!(
            tracker
                .find_correlated(subject.project, "conformance:X-1")
                .unwrap(),
            None
        );
        let correlated = tracker
            .create_correlated(
                &NewIssue {
                    project: subject.project.to_owned(),
                    issue_type: subject.issue_type.to_owned(),
                    fields: [(text.to_owned(), json!("Correlated"))].into(),
                },
                sync_user,
                "conformance:X-1",
            )
            .unwrap();
        assert_eq!(
            tracker
                .find_correlated(subject.project, "conformance:X-1")
                .unwrap(),
            Some(correlated.key.clone())
        );
        assert_eq!(
            tracker
                .find_correlated(subject.project, "conformance:X-10")
                .unwrap(),
            None,
            "the look-up is exact"
        );
    }
}
