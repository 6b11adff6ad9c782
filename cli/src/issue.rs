//! `fieldsync issue create|edit|list|show`: act as a user of a project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldsync_core::config::{SideSource, SyncConfig, TrackerSpec};
use fieldsync_core::model::{preview, project_of_key, Issue, NewIssue, ProjectDef};
use fieldsync_core::store::{
    create_and_edit, FailedStep, FailureQuery, FailureRecord, IssueSyncState,
};
use fieldsync_core::{SideStores, SqliteStore, Tracker};
use fieldsync_plugin_api::FieldType;
use serde::Serialize;
use serde_json::Value;

use crate::table;
use crate::CliError;

/// Where the issue commands find their store.
pub struct StoreChoice<'a> {
    /// An explicit store file.
    pub store: Option<&'a Path>,
    /// A sync configuration naming the store of each project.
    pub config: Option<&'a Path>,
}

/// Where a project's issues live, as the store choice finds it.
enum Place {
    /// A SQLite store file.
    Store(PathBuf),
    /// A tracker of a configuration, with the folder its paths are relative to.
    Tracker {
        spec: TrackerSpec,
        ledger: PathBuf,
        folder: PathBuf,
    },
}

impl StoreChoice<'_> {
    /// The tracker holding `project` and the ledger beside it: the store file for
    /// both, or (from a configuration) a tracker reached through its connector.
    fn open_side(&self, project: &str) -> Result<SideStores, String> {
        match self.place(project)? {
            Place::Store(path) => {
                let store =
                    SqliteStore::open_for_reading(&path).map_err(|error| error.to_string())?;
                Ok(SideStores::of_store(Arc::new(store)))
            }
            Place::Tracker {
                spec,
                ledger,
                folder,
            } => {
                let tracker = crate::host::connectors()
                    .open(&spec, &folder)
                    .map_err(|error| error.to_string())?;
                let ledger = SqliteStore::open(&ledger).map_err(|error| error.to_string())?;
                Ok(SideStores {
                    tracker,
                    ledger: Arc::new(ledger),
                    atomic: None,
                })
            }
        }
    }

    /// Opens the SQLite store holding `project`; a project on a tracker is refused
    /// (people edit its issues in the tracker).
    fn open(&self, project: &str) -> Result<SqliteStore, String> {
        match self.place(project)? {
            Place::Store(path) => {
                SqliteStore::open_existing(&path).map_err(|error| error.to_string())
            }
            Place::Tracker { spec, .. } => Err(format!(
                "project `{project}` is on a `{}` tracker; this command works on \
                 fieldsync's SQLite stores only (edit the issue in the tracker itself)",
                spec.kind
            )),
        }
    }

    fn place(&self, project: &str) -> Result<Place, String> {
        if let Some(store) = self.store {
            return Ok(Place::Store(store.to_owned()));
        }
        let Some(config) = self.config else {
            return Err("say where the issues are: --store FILE or --config FILE \
                        (or FIELDSYNC_STORE / FIELDSYNC_CONFIG)"
                .to_owned());
        };
        let config = SyncConfig::load(config).map_err(|error| error.to_string())?;
        let side = config
            .synchronizations
            .iter()
            .flat_map(|sync| [&sync.a, &sync.b])
            .find(|side| side.project == project)
            .ok_or_else(|| {
                format!(
                    "{}: no synchronization has project `{project}`",
                    config.file.display()
                )
            })?;
        match config.side_source(side) {
            Some(SideSource::Store(path)) => Ok(Place::Store(path)),
            Some(SideSource::Tracker(spec, ledger)) => Ok(Place::Tracker {
                spec: spec.clone(),
                ledger,
                folder: config.file.parent().unwrap_or(Path::new(".")).to_owned(),
            }),
            None => Err(format!(
                "{}: project `{project}` names no store",
                config.file.display()
            )),
        }
    }
}

fn project_of(key: &str) -> Result<&str, String> {
    project_of_key(key).ok_or_else(|| format!("`{key}` is not an issue key like `SUP-12`"))
}

/// Parses `field=value` assignments by the field types of `project`. An empty value
/// clears the field; list fields take comma-separated values.
fn parse_assignments(
    project: &ProjectDef,
    assignments: &[String],
) -> Result<BTreeMap<String, Value>, String> {
    let mut values = BTreeMap::new();
    for assignment in assignments {
        let Some((field, text)) = assignment.split_once('=') else {
            return Err(format!("--set `{assignment}`: expected FIELD=VALUE"));
        };
        let definition = project.field(field).ok_or_else(|| {
            format!(
                "--set `{assignment}`: project {} has no field `{field}` (fields: {})",
                project.key,
                project
                    .fields
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let value = parse_value(&definition.field_type, text)
            .map_err(|expected| format!("--set `{assignment}`: `{field}` takes {expected}"))?;
        values.insert(field.to_owned(), value);
    }
    Ok(values)
}

fn parse_value(field_type: &FieldType, text: &str) -> Result<Value, &'static str> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match field_type {
        FieldType::Number => {
            let number = text.trim();
            if let Ok(integer) = number.parse::<i64>() {
                return Ok(Value::from(integer));
            }
            number
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("a number")
        }
        FieldType::Options | FieldType::Users | FieldType::Labels => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(Value::from)
                .collect(),
        )),
        FieldType::Text
        | FieldType::Option
        | FieldType::User
        | FieldType::Status
        | FieldType::Priority
        | FieldType::Date
        | FieldType::DateTime => Ok(Value::from(text)),
        // A type the CLI cannot know: JSON if it parses, text otherwise.
        _ => Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))),
    }
}

/// `fieldsync issue create`.
pub fn create(
    choice: &StoreChoice<'_>,
    project: &str,
    issue_type: &str,
    assignments: &[String],
    author: &str,
) -> Result<u8, CliError> {
    let store = choice.open(project)?;
    let definition = store.project(project).map_err(|error| error.to_string())?;
    let fields = parse_assignments(&definition, assignments)?;
    let issue = create_and_edit(
        &store,
        &NewIssue {
            project: project.to_owned(),
            issue_type: issue_type.to_owned(),
            fields,
        },
        author,
    )
    .map_err(|error| error.to_string())?;
    println!("created {}", issue.key);
    Ok(0)
}

/// `fieldsync issue edit`.
pub fn edit(
    choice: &StoreChoice<'_>,
    key: &str,
    assignments: &[String],
    author: &str,
) -> Result<u8, CliError> {
    if assignments.is_empty() {
        return Err("nothing to change: give --set FIELD=VALUE".into());
    }
    let project = project_of(key)?;
    let store = choice.open(project)?;
    let definition = store.project(project).map_err(|error| error.to_string())?;
    let changes = parse_assignments(&definition, assignments)?;
    let recorded = store
        .update(key, &changes, author)
        .map_err(|error| error.to_string())?;
    if recorded.is_empty() {
        println!("{key}: unchanged (the values were already set)");
    }
    for change in recorded {
        println!(
            "{key}: {}: {} → {}",
            change.field,
            preview(&change.old),
            preview(&change.new)
        );
    }
    Ok(0)
}

#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    issue: &'a Issue,
    sync: Vec<SyncStatusJson>,
}

#[derive(Serialize)]
struct SyncStatusJson {
    synchronization: String,
    partner: Option<String>,
    last_sent: Option<String>,
    last_sent_seq: i64,
    last_received: Option<String>,
    /// Failed sends and applies of this issue, retrying or parked.
    errors: Vec<FailureRecord>,
}

/// `fieldsync issue show`: the fields and the sync status.
/// An issue's sync state, as `issue list` filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListState {
    /// Linked to a partner, nothing failing.
    Synced,
    /// Never sent nor received.
    NotSynced,
    /// A failure waits (for its retry or a person).
    Failing,
}

/// What `issue list` lists.
pub struct ListQuery<'a> {
    pub project: &'a str,
    pub updated_since: Option<&'a str>,
    pub state: Option<ListState>,
}

#[derive(Serialize)]
struct ListedIssue<'a> {
    key: &'a str,
    issue_type: &'a str,
    updated: String,
    state: ListState,
    /// `sync id: partner key`, per synchronization with a partner.
    partners: Vec<String>,
    failures: usize,
}

/// `fieldsync issue list`.
pub fn list(choice: &StoreChoice<'_>, query: &ListQuery<'_>, json: bool) -> Result<u8, CliError> {
    let since = query
        .updated_since
        .map(|text| {
            fieldsync_core::model::Timestamp::parse(text)
                .map_err(|error| format!("--updated-since: {error}"))
        })
        .transpose()?;
    let SideStores {
        tracker, ledger, ..
    } = choice.open_side(query.project)?;
    let mut issues = tracker
        .issues(query.project)
        .map_err(|error| error.to_string())?;
    issues.retain(|issue| since.is_none_or(|since| issue.updated >= since));
    issues.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.key.cmp(&b.key)));
    let mut listed = Vec::new();
    for issue in &issues {
        let states = ledger
            .sync_states(&issue.key)
            .map_err(|error| error.to_string())?;
        let failures = ledger
            .failures(&FailureQuery {
                source_key: Some(&issue.key),
                ..FailureQuery::default()
            })
            .map_err(|error| error.to_string())?
            .len();
        let partners: Vec<String> = states
            .iter()
            .filter_map(|(sync_id, state)| Some(format!("{sync_id}: {}", state.partner.as_ref()?)))
            .collect();
        let state = if failures > 0 {
            ListState::Failing
        } else if partners.is_empty() {
            ListState::NotSynced
        } else {
            ListState::Synced
        };
        if query.state.is_some_and(|wanted| wanted != state) {
            continue;
        }
        listed.push(ListedIssue {
            key: &issue.key,
            issue_type: &issue.issue_type,
            updated: issue.updated.to_string(),
            state,
            partners,
            failures,
        });
    }
    if json {
        let text = serde_json::to_string_pretty(&listed).map_err(|error| error.to_string())?;
        println!("{text}");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|issue| {
            let state = match issue.state {
                ListState::Synced => "synced".to_owned(),
                ListState::NotSynced => "not synced".to_owned(),
                ListState::Failing => format!("FAILING ({})", issue.failures),
            };
            vec![
                issue.key.to_owned(),
                issue.issue_type.to_owned(),
                issue.updated.clone(),
                state,
                issue.partners.join(", "),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["issue", "type", "updated", "sync", "partners"], &rows)
    );
    println!("{} issue(s)", listed.len());
    Ok(0)
}

pub fn show(choice: &StoreChoice<'_>, key: &str, json: bool) -> Result<u8, CliError> {
    let project = project_of(key)?;
    let SideStores {
        tracker, ledger, ..
    } = choice.open_side(project)?;
    let issue = tracker
        .get(key)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("{}: no issue `{key}`", tracker.location()))?;
    let mut states = ledger.sync_states(key).map_err(|error| error.to_string())?;
    let errors = ledger
        .failures(&FailureQuery {
            source_key: Some(key),
            ..FailureQuery::default()
        })
        .map_err(|error| error.to_string())?;
    for error in &errors {
        // An issue that failed before its first message has no state yet.
        if !states.iter().any(|(id, _)| id == &error.sync_id) {
            states.push((error.sync_id.clone(), IssueSyncState::default()));
        }
    }
    let sync: Vec<SyncStatusJson> = states
        .into_iter()
        .map(|(sync_id, state)| status_json(sync_id, state, &errors))
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&ShowJson {
            issue: &issue,
            sync,
        })
        .map_err(|error| error.to_string())?;
        println!("{text}");
        return Ok(0);
    }
    let definition = tracker
        .project(project)
        .map_err(|error| error.to_string())?;
    println!(
        "{} ({}, project {})",
        issue.key, issue.issue_type, issue.project
    );
    println!("created {}, updated {}", issue.created, issue.updated);
    let rows: Vec<Vec<String>> = definition
        .fields
        .iter()
        .map(|field| {
            vec![
                field.id.clone(),
                field.field_type.to_string(),
                display_value(issue.value(&field.id)),
            ]
        })
        .collect();
    print!("{}", table::render(&["field", "type", "value"], &rows));
    if sync.is_empty() {
        println!("sync: not synced yet");
    }
    for status in &sync {
        println!(
            "sync {}: partner {}, last sent {}, last received {}",
            status.synchronization,
            status.partner.as_deref().unwrap_or("(none yet)"),
            status.last_sent.as_deref().unwrap_or("never"),
            status.last_received.as_deref().unwrap_or("never"),
        );
        for error in &status.errors {
            let step = match error.step {
                FailedStep::Send => "FAILED to send",
                FailedStep::Apply => "FAILED to apply",
            };
            println!(
                "  {step} ({}, {}): {}",
                error.id,
                error.state(),
                error.error
            );
        }
    }
    Ok(0)
}

fn status_json(sync_id: String, state: IssueSyncState, errors: &[FailureRecord]) -> SyncStatusJson {
    SyncStatusJson {
        errors: errors
            .iter()
            .filter(|error| error.sync_id == sync_id)
            .cloned()
            .collect(),
        synchronization: sync_id,
        partner: state.partner,
        last_sent: state
            .last_sent_at
            .map(|time| format!("{time} (message {})", state.last_sent_seq)),
        last_sent_seq: state.last_sent_seq,
        last_received: state.last_received_at.map(|time| time.to_string()),
    }
}

/// A value in one table cell: lists joined, line breaks shown, long text cut.
fn display_value(value: &Value) -> String {
    const WIDTH: usize = 70;
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => text.replace('\n', "⏎"),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    match text.char_indices().nth(WIDTH) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
