//! A Redmine project as a fieldsync [`Tracker`].
//!
//! - Keys are `IDENTIFIER-ID` (`dev-42` is issue #42, synced as part of project
//!   `dev`); history positions are journal ids (0: the issue's creation).
//! - Change detection lists the project's issues updated since the cursor (the
//!   server's clock, less an overlap: Redmine's time filter has second resolution),
//!   ordered by id so that paging never skips an issue updated meanwhile. Reading the
//!   same change twice is harmless: the engine reads each issue's journals after the
//!   position its last message covered.
//! - Writes act as the synchronization's user (`X-Redmine-Switch-User` when the key
//!   is another's), so the journals they leave are recognised and never sent back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use fieldsync_core::model::{
    same_value, FieldDef, HistoryEntry, Issue, NewIssue, ProjectDef, Timestamp, User,
};
use fieldsync_core::store::{ChangeScan, ChangedIssue, CREATED_FIELD};
use fieldsync_core::{StoreError, Tracker};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::catalog::{text, Catalog, Names};
use crate::client::{Client, HttpError, Request};
use crate::cursor::ScanCursor;
use crate::fields::{journal_change, project_fields, read_values, write_body};

/// How far before the newest `updated_on` of its page an issue's must be for the page
/// to prove that a later change of it would show a later `updated_on` (the overlap the
/// cursor allows for commits that land after their time stamp).
const PROOF_MARGIN: Duration = Duration::from_secs(3);

/// How long an issue read stays good for the history and diff reads that follow it
/// in the same step.
const FRESH: Duration = Duration::from_secs(1);

pub struct RedmineTracker {
    client: Client,
    catalog: Catalog,
    /// The login of the key's own user (writes by it need no switch).
    me: String,
    /// The custom field holding the source key of issues fieldsync created.
    correlation: Option<u64>,
    projects: Mutex<BTreeMap<String, ProjectDef>>,
    /// Issues read moments ago, with their history.
    recent: Mutex<BTreeMap<u64, RecentRead>>,
    /// Per project, a lower bound of the server's clock and when it was seen.
    server_clock: Mutex<BTreeMap<String, (SystemTime, Instant)>>,
}

/// An issue and its history as read at a moment.
struct RecentRead {
    at: Instant,
    issue: Issue,
    history: Vec<HistoryEntry>,
}

impl RedmineTracker {
    pub fn new(client: Client, me: String, correlation: Option<u64>) -> Self {
        RedmineTracker {
            client,
            catalog: Catalog::new(),
            me,
            correlation,
            projects: Mutex::new(BTreeMap::new()),
            recent: Mutex::new(BTreeMap::new()),
            server_clock: Mutex::new(BTreeMap::new()),
        }
    }

    /// A lower bound of the server's clock now, from what a scan of `project` saw
    /// before in this process (Redmine sends no clock of its own).
    fn server_clock_since(&self, project: &str) -> Option<SystemTime> {
        let clock = self.server_clock.lock();
        let (seen, at) = clock.get(project)?;
        seen.checked_add(at.elapsed())
    }

    /// Records that the server's clock had reached `stamp` by now.
    fn saw_server_clock(&self, project: &str, stamp: SystemTime) {
        let lower = self.server_clock_since(project).max(Some(stamp));
        if let Some(lower) = lower {
            self.server_clock
                .lock()
                .insert(project.to_owned(), (lower, Instant::now()));
        }
    }

    /// The same tracker, writing the source of created issues into `field`.
    pub fn with_correlation(mut self, field: u64) -> Self {
        self.correlation = Some(field);
        self
    }

    /// HTTP requests this tracker has sent (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.client.requests_sent()
    }

    pub fn names(&self) -> Result<Names, StoreError> {
        self.catalog
            .names(&self.client)
            .map_err(|error| self.error(error))
    }

    pub fn error(&self, error: HttpError) -> StoreError {
        store_error(self.client.base(), error)
    }

    /// The error of a request about one issue. A 403 or a 5xx may be that issue's (a
    /// private issue, a closed project, an issue the server cannot render) or every
    /// request's (a revoked permission, an overloaded server): the server is asked a
    /// question every request depends on, and if it answers, the failure is the
    /// issue's — retried, then parked, while the other issues go on.
    fn issue_error(&self, error: HttpError) -> StoreError {
        match error {
            HttpError::Forbidden(message) | HttpError::ServerError(message)
                if self.client.get("/users/current.json", &[]).is_ok() =>
            {
                self.invalid(message)
            }
            other => self.error(other),
        }
    }

    fn invalid(&self, message: String) -> StoreError {
        StoreError::Invalid {
            store: self.client.base().to_owned(),
            message,
        }
    }

    fn act_as<'a>(&self, author: &'a str) -> Option<&'a str> {
        (author != self.me).then_some(author)
    }

    /// `dev-42` → (`dev`, 42).
    fn parse_key<'k>(&self, key: &'k str) -> Result<(&'k str, u64), StoreError> {
        key.rsplit_once('-')
            .and_then(|(project, id)| Some((project, id.parse().ok()?)))
            .ok_or_else(|| {
                self.invalid(format!("`{key}` is not a Redmine issue key like `dev-42`"))
            })
    }

    fn fields_of(&self, project: &str) -> Result<Vec<FieldDef>, StoreError> {
        Ok(self.project(project)?.fields)
    }

    /// Reads an issue with its journals, and keeps it for the reads that follow.
    fn fetch(
        &self,
        project: &str,
        id: u64,
    ) -> Result<Option<(Issue, Vec<HistoryEntry>)>, StoreError> {
        let answer = match self.client.get(
            &format!("/issues/{id}.json"),
            &[("include", "journals".to_owned())],
        ) {
            Ok(answer) => answer,
            Err(HttpError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(self.issue_error(error)),
        };
        let raw = answer
            .get("issue")
            .ok_or_else(|| self.invalid(format!("issue #{id}: no `issue` in the answer")))?;
        let fields = self.fields_of(project)?;
        let names = self.names_knowing(raw)?;
        let issue = convert_issue(raw, project, &names, &fields)?;
        let history = history_of(raw, &issue, &names, &fields);
        self.recent.lock().insert(
            id,
            RecentRead {
                at: Instant::now(),
                issue: issue.clone(),
                history: history.clone(),
            },
        );
        Ok(Some((issue, history)))
    }

    /// The catalog, read again when the issue names an id it does not know yet.
    fn names_knowing(&self, raw: &Value) -> Result<Names, StoreError> {
        let names = self.names()?;
        let known = |key: &str, table: &BTreeMap<u64, String>| {
            raw.get(key)
                .and_then(|value| value.get("id"))
                .and_then(Value::as_u64)
                .is_none_or(|id| table.contains_key(&id))
        };
        if known("status", &names.statuses)
            && known("priority", &names.priorities)
            && known("tracker", &names.trackers)
        {
            return Ok(names);
        }
        self.catalog
            .refresh_if_stale(&self.client)
            .map_err(|error| self.error(error))
    }

    fn recent(&self, id: u64) -> Option<(Issue, Vec<HistoryEntry>)> {
        let recent = self.recent.lock();
        let read = recent.get(&id)?;
        (read.at.elapsed() < FRESH).then(|| (read.issue.clone(), read.history.clone()))
    }

    fn forget(&self, id: u64) {
        self.recent.lock().remove(&id);
    }

    /// The request body setting `values`. A status, priority, user or tracker name the
    /// tables do not know is looked up again first (an administrator may have just
    /// added it).
    fn body_for(
        &self,
        values: &BTreeMap<String, Value>,
        fields: &[FieldDef],
        doing: &str,
    ) -> Result<(Names, serde_json::Map<String, Value>), StoreError> {
        let names = self.names()?;
        if let Ok(body) = write_body(values, &names, fields) {
            return Ok((names, body));
        }
        let names = self
            .catalog
            .refresh_if_stale(&self.client)
            .map_err(|error| self.error(error))?;
        let body = write_body(values, &names, fields)
            .map_err(|message| self.invalid(format!("{doing}: {message}")))?;
        Ok((names, body))
    }

    /// A correlation field Redmine does not take for a project or tracker is dropped
    /// from creating requests without a word, and the look-up finds nothing: refused
    /// at start instead.
    fn check_correlation_in(
        &self,
        key: &str,
        raw: &Value,
        custom_ids: &[u64],
        names: &Names,
        correlation: u64,
    ) -> Result<(), StoreError> {
        let name = names
            .custom_fields
            .get(&correlation)
            .map_or_else(|| format!("cf_{correlation}"), |field| field.name.clone());
        if !custom_ids.contains(&correlation) {
            return Err(self.invalid(format!(
                "project `{key}` does not use the correlation field `{name}`: enable it in \
                 the project's settings (Issue tracking → custom fields), or make it \
                 \"for all projects\""
            )));
        }
        let enabled = names
            .custom_fields
            .get(&correlation)
            .map(|field| field.tracker_ids.clone())
            .unwrap_or_default();
        let missing: Vec<String> = raw
            .get("trackers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|tracker| {
                tracker
                    .get("id")
                    .and_then(Value::as_u64)
                    .is_some_and(|id| !enabled.contains(&id))
            })
            .filter_map(|tracker| text(tracker, "name"))
            .collect();
        if !missing.is_empty() {
            return Err(self.invalid(format!(
                "the correlation field `{name}` is not enabled for tracker {} of project \
                 `{key}`: tick {} in the field's settings",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            )));
        }
        Ok(())
    }

    fn create_with(
        &self,
        issue: &NewIssue,
        author: &str,
        correlation: Option<&str>,
    ) -> Result<Issue, StoreError> {
        let names = self.names()?;
        let fields = self.fields_of(&issue.project)?;
        let mut body = write_body(&issue.fields, &names, &fields).map_err(|message| {
            self.invalid(format!(
                "creating an issue in `{}`: {message}",
                issue.project
            ))
        })?;
        let tracker_id = Names::id_of(&names.trackers, &issue.issue_type).ok_or_else(|| {
            self.invalid(format!(
                "project `{}`: Redmine has no tracker `{}` (it has: {})",
                issue.project,
                issue.issue_type,
                names
                    .trackers
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        body.insert("project_id".to_owned(), json!(issue.project));
        body.insert("tracker_id".to_owned(), json!(tracker_id));
        if let (Some(field), Some(value)) = (self.correlation, correlation) {
            let custom = body
                .entry("custom_fields")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(custom) = custom {
                custom.push(json!({"id": field, "value": value}));
            }
        }
        let answer = self
            .client
            .send(
                "POST",
                "/issues.json",
                &Request {
                    body: Some(&json!({ "issue": body })),
                    act_as: self.act_as(author),
                    ..Request::default()
                },
            )
            .map_err(|error| self.issue_error(error))?;
        let raw = answer.get("issue").ok_or_else(|| {
            self.invalid("creating an issue: no `issue` in the answer".to_owned())
        })?;
        if let (Some(field), Some(value)) = (self.correlation, correlation) {
            let stored = raw
                .get("custom_fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|custom| {
                    custom.get("id").and_then(Value::as_u64) == Some(field)
                        && custom.get("value").and_then(Value::as_str) == Some(value)
                });
            if !stored {
                log::error!(
                    "{}: Redmine created issue #{} without its correlation value `{value}`: \
                     a creation whose answer is lost could be repeated (is the correlation \
                     field visible to the sync user?)",
                    self.client.base(),
                    raw.get("id").and_then(Value::as_u64).unwrap_or(0)
                );
            }
        }
        convert_issue(raw, &issue.project, &names, &fields)
    }
}

impl Tracker for RedmineTracker {
    fn location(&self) -> &str {
        self.client.base()
    }

    fn project(&self, key: &str) -> Result<ProjectDef, StoreError> {
        if let Some(project) = self.projects.lock().get(key) {
            return Ok(project.clone());
        }
        let answer = self
            .client
            .get(
                &format!("/projects/{key}.json"),
                &[("include", "trackers,issue_custom_fields".to_owned())],
            )
            .map_err(|error| match error {
                HttpError::NotFound(_) => StoreError::NotFound {
                    store: self.client.base().to_owned(),
                    what: format!("project `{key}` (or the key's user is not a member)"),
                },
                other => self.error(other),
            })?;
        let raw = answer
            .get("project")
            .ok_or_else(|| self.invalid(format!("project `{key}`: no `project` in the answer")))?;
        let names = self.names()?;
        let list = |name: &str| -> Vec<&Value> {
            raw.get(name)
                .and_then(Value::as_array)
                .map(|items| items.iter().collect())
                .unwrap_or_default()
        };
        let custom_ids: Vec<u64> = list("issue_custom_fields")
            .into_iter()
            .filter_map(|field| field.get("id")?.as_u64())
            .collect();
        if let Some(correlation) = self.correlation {
            self.check_correlation_in(key, raw, &custom_ids, &names, correlation)?;
        }
        let fields = project_fields(&custom_ids, &names, self.correlation);
        // Redmine has no create screen: every field can be set when creating.
        let create_screen = fields.iter().map(|field| field.id.clone()).collect();
        let project = ProjectDef {
            key: key.to_owned(),
            name: text(raw, "name").unwrap_or_default(),
            issue_types: list("trackers")
                .into_iter()
                .filter_map(|tracker| text(tracker, "name"))
                .collect(),
            fields,
            create_screen,
            create_screens: BTreeMap::new(),
        };
        self.projects.lock().insert(key.to_owned(), project.clone());
        Ok(project)
    }

    fn projects(&self) -> Result<Vec<ProjectDef>, StoreError> {
        let all = self
            .client
            .get_all("/projects.json", "projects", &[])
            .map_err(|error| self.error(error))?;
        all.iter()
            .filter_map(|project| text(project, "identifier"))
            .map(|identifier| self.project(&identifier))
            .collect()
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        Ok(self
            .names()?
            .users
            .into_values()
            .map(|user| User {
                username: user.login,
                email: user.mail,
                display_name: user.name,
            })
            .collect())
    }

    fn scan_changes(
        &self,
        project: &str,
        cursor: &fieldsync_core::store::TrackerCursor,
        _except_author: &str,
    ) -> Result<ChangeScan, StoreError> {
        let cursor = ScanCursor::parse(cursor).map_err(|message| self.invalid(message))?;
        let mut query = vec![
            ("project_id", project.to_owned()),
            ("subproject_id", "!*".to_owned()),
            ("status_id", "*".to_owned()),
            ("sort", "id".to_owned()),
        ];
        if let Some(filter) = cursor.updated_filter() {
            query.push(("updated_on", filter));
        }
        let started = Instant::now();
        let mut issues = Vec::new();
        let mut unchanged = BTreeMap::new();
        let mut newest: Option<SystemTime> = None;
        let mut offset = 0;
        let mut listed_total: Option<u64> = None;
        let mut seen = std::collections::BTreeSet::new();
        let mut restarts = 0;
        loop {
            let mut paged = query.clone();
            paged.push(("offset", offset.to_string()));
            paged.push(("limit", crate::client::PAGE.to_string()));
            let page = self
                .client
                .get("/issues.json", &paged)
                .map_err(|error| self.error(error))?;
            let listed: Vec<(u64, String)> = page
                .get("issues")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|raw| Some((raw.get("id")?.as_u64()?, text(raw, "updated_on")?)))
                .collect();
            let total = page.get("total_count").and_then(Value::as_u64).unwrap_or(0);
            // An issue that left the list while it was paged (deleted, moved, made
            // private) shifts the rest one place left: one could be skipped. List
            // again from the start (issues seen twice are read once).
            if listed_total.is_some_and(|before| total < before) && restarts < 3 {
                restarts += 1;
                offset = 0;
                listed_total = Some(total);
                continue;
            }
            listed_total = Some(total);
            offset += listed.len();
            // One page is one query: an issue updated in an earlier second than the
            // page's newest was read after the server's clock had passed it.
            let page_newest = listed.iter().filter_map(|(_, at)| seconds(at)).max();
            newest = newest.max(page_newest);
            // The server's clock is at least the newest stamp on the page, and at least
            // what an earlier scan saw plus the time since (clocks tick alike).
            let server_clock = page_newest.max(self.server_clock_since(project));
            for (id, updated_on) in listed {
                // Kept only where proven: the same `updated_on` means no change since.
                let same_as_last_time = cursor.unchanged.get(&id) == Some(&updated_on);
                if !same_as_last_time {
                    // Every other listed issue is a candidate, those only the sync
                    // touched included: their journals, read once, show the sync's
                    // own writes, which are never sent back.
                    if seen.insert(id) {
                        issues.push(ChangedIssue {
                            key: format!("{project}-{id}"),
                        });
                    }
                }
                // Proven unchanged only well before the server's clock at the page's
                // query: an update may commit a moment after the time it is stamped with.
                let proven = seconds(&updated_on)
                    .zip(server_clock)
                    .is_some_and(|(at, clock)| at + PROOF_MARGIN < clock);
                if proven || same_as_last_time {
                    unchanged.insert(id, updated_on);
                }
            }
            if offset == 0 || offset as u64 >= total || page_newest.is_none() {
                break;
            }
        }
        if let Some(newest) = newest {
            self.saw_server_clock(project, newest);
        }
        let since = match newest {
            Some(newest) => {
                let began = newest.checked_sub(started.elapsed()).unwrap_or(newest);
                cursor.since.max(Some(began))
            }
            None => cursor.since,
        };
        let mut next = ScanCursor { since, unchanged };
        next.forget_unlisted();
        Ok(ChangeScan {
            issues,
            history_after: None,
            history_upper: i64::MAX,
            next: next.write(),
        })
    }

    fn history_since(&self, key: &str, after_seq: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let (project, id) = self.parse_key(key)?;
        let history = match self.recent(id) {
            Some((_, history)) => history,
            None => match self.fetch(project, id)? {
                Some((_, history)) => history,
                None => Vec::new(),
            },
        };
        Ok(history
            .into_iter()
            .filter(|entry| entry.seq > after_seq || (after_seq == 0 && entry.seq == 0))
            .collect())
    }

    fn get(&self, key: &str) -> Result<Option<Issue>, StoreError> {
        let (project, id) = self.parse_key(key)?;
        Ok(self.fetch(project, id)?.map(|(issue, _)| issue))
    }

    fn issues(&self, project: &str) -> Result<Vec<Issue>, StoreError> {
        let names = self.names()?;
        let fields = self.fields_of(project)?;
        let listed = self
            .client
            .get_all(
                "/issues.json",
                "issues",
                &[
                    ("project_id", project.to_owned()),
                    ("subproject_id", "!*".to_owned()),
                    ("status_id", "*".to_owned()),
                    ("sort", "id".to_owned()),
                ],
            )
            .map_err(|error| self.error(error))?;
        listed
            .iter()
            .map(|raw| convert_issue(raw, project, &names, &fields))
            .collect()
    }

    fn create(&self, issue: &NewIssue, author: &str) -> Result<Issue, StoreError> {
        self.create_with(issue, author, None)
    }

    fn update(
        &self,
        key: &str,
        changes: &BTreeMap<String, Value>,
        author: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let (project, id) = self.parse_key(key)?;
        let current = match self.recent(id) {
            Some((issue, _)) => issue,
            None => self
                .fetch(project, id)?
                .map(|(issue, _)| issue)
                .ok_or_else(|| StoreError::NotFound {
                    store: self.client.base().to_owned(),
                    what: format!("issue `{key}`"),
                })?,
        };
        // Only what differs: a PUT that changes nothing still touches `updated_on`.
        let differing: BTreeMap<String, Value> = changes
            .iter()
            .filter(|(field, value)| !same_value(current.value(field), value))
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        if differing.is_empty() {
            return Ok(Vec::new());
        }
        let fields = self.fields_of(project)?;
        let (_, body) = self.body_for(&differing, &fields, &format!("updating {key}"))?;
        self.forget(id);
        self.client
            .send(
                "PUT",
                &format!("/issues/{id}.json"),
                &Request {
                    body: Some(&json!({ "issue": body })),
                    act_as: self.act_as(author),
                    ..Request::default()
                },
            )
            .map_err(|error| self.issue_error(error))?;
        // Redmine answers 204 also when it drops a value the user may not set (its
        // role's permissions, the workflow of the tracker and status): read back,
        // or the two sides would part without a word.
        let written = self.fetch(project, id)?.map(|(issue, _)| issue);
        let ignored: Vec<&str> = differing
            .iter()
            .filter(|(field, value)| {
                written
                    .as_ref()
                    .is_some_and(|issue| !same_values(issue.value(field), value))
            })
            .map(|(field, _)| field.as_str())
            .collect();
        if !ignored.is_empty() {
            return Err(self.invalid(format!(
                "updating {key}: Redmine accepted the request but left {} unchanged: user \
                 `{author}` may not set {} (its role's permissions in project `{project}`, \
                 or the workflow of this tracker and status)",
                ignored.join(", "),
                if ignored.len() == 1 { "it" } else { "them" }
            )));
        }
        let now = Timestamp::now();
        Ok(differing
            .into_iter()
            .map(|(field, new)| HistoryEntry {
                seq: 0,
                issue_key: key.to_owned(),
                time: now,
                author: author.to_owned(),
                old: current.value(&field).clone(),
                field,
                new,
            })
            .collect())
    }

    fn find_correlated(
        &self,
        project: &str,
        correlation: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(field) = self.correlation else {
            return Ok(None);
        };
        let found = self
            .client
            .get(
                "/issues.json",
                &[
                    ("project_id", project.to_owned()),
                    ("status_id", "*".to_owned()),
                    (&format!("cf_{field}"), correlation.to_owned()),
                    ("limit", "2".to_owned()),
                ],
            )
            .map_err(|error| self.issue_error(error))?;
        // Checked here too: a filter Redmine does not apply returns every issue.
        let matching = found
            .get("issues")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|raw| {
                raw.get("custom_fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|custom| {
                        custom.get("id").and_then(Value::as_u64) == Some(field)
                            && custom.get("value").and_then(Value::as_str) == Some(correlation)
                    })
            })
            .filter_map(|raw| raw.get("id")?.as_u64())
            .next();
        Ok(matching.map(|id| format!("{project}-{id}")))
    }

    fn create_correlated(
        &self,
        issue: &NewIssue,
        author: &str,
        correlation: &str,
    ) -> Result<Issue, StoreError> {
        self.create_with(issue, author, Some(correlation))
    }
}

/// Whose fault: a server that does not answer, or refuses the key, is the round's
/// (unavailable); a refused value or a missing issue is the issue's.
pub(crate) fn store_error(base: &str, error: HttpError) -> StoreError {
    let store = base.to_owned();
    match error {
        HttpError::Unavailable(message)
        | HttpError::Denied(message)
        | HttpError::Forbidden(message)
        | HttpError::ServerError(message) => StoreError::Unavailable { store, message },
        HttpError::NotFound(message) => StoreError::NotFound {
            store,
            what: message,
        },
        HttpError::Refused(message) | HttpError::Unexpected(message) => {
            StoreError::Invalid { store, message }
        }
    }
}

fn convert_issue(
    raw: &Value,
    project: &str,
    names: &Names,
    fields: &[FieldDef],
) -> Result<Issue, StoreError> {
    let id = raw.get("id").and_then(Value::as_u64).unwrap_or(0);
    Ok(Issue {
        key: format!("{project}-{id}"),
        project: project.to_owned(),
        issue_type: raw
            .pointer("/tracker/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        fields: read_values(raw, names, fields),
        created: time_of(raw.get("created_on")),
        updated: time_of(raw.get("updated_on")),
    })
}

/// The creation (position 0, by the issue's author), then every journal detail.
fn history_of(raw: &Value, issue: &Issue, names: &Names, fields: &[FieldDef]) -> Vec<HistoryEntry> {
    let author = |user: Option<&Value>| {
        user.and_then(|user| user.get("id"))
            .and_then(Value::as_u64)
            .map_or_else(String::new, |id| names.login(id))
    };
    let mut history = vec![HistoryEntry {
        seq: 0,
        issue_key: issue.key.clone(),
        time: issue.created,
        author: author(raw.get("author")),
        field: CREATED_FIELD.to_owned(),
        old: Value::Null,
        new: Value::String(issue.issue_type.clone()),
    }];
    for journal in raw
        .get("journals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(seq) = journal.get("id").and_then(Value::as_i64) else {
            continue;
        };
        let by = author(journal.get("user"));
        // Redmine's times have seconds: an edit counts as made at the end of its
        // second, the same on both sides, so one rule decides a conflict within it.
        let time = Timestamp(time_of(journal.get("created_on")).0 + 999_999);
        for detail in journal
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some((field, old, new)) = journal_change(detail, names, fields) {
                history.push(HistoryEntry {
                    seq,
                    issue_key: issue.key.clone(),
                    time,
                    author: by.clone(),
                    field,
                    old,
                    new,
                });
            }
        }
    }
    history
}

/// Whether a value read back is the one written; a list in any order (Redmine keeps a
/// multi-value field's values in its own order).
fn same_values(read: &Value, written: &Value) -> bool {
    match (read, written) {
        (Value::Array(read), Value::Array(written)) => {
            let sorted = |items: &[Value]| {
                let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
                items.sort();
                items
            };
            read.len() == written.len() && sorted(read) == sorted(written)
        }
        _ => same_value(read, written),
    }
}

/// A listed `updated_on` as a point in time (Redmine gives seconds).
fn seconds(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

fn time_of(value: Option<&Value>) -> Timestamp {
    value
        .and_then(Value::as_str)
        .and_then(|text| humantime::parse_rfc3339(text).ok())
        .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(Timestamp(0), |since| {
            Timestamp(i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        })
}
