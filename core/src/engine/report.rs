//! What a sync round did, for people (Display) and programs (serde).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::message::Side;
use crate::model::{preview, Timestamp};
use crate::store::{FailedStep, SlowCall};

/// One round of every synchronization.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoundReport {
    /// Per synchronization and direction.
    pub directions: Vec<DirectionReport>,
    /// How long the round took.
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// Whether the round stopped early because a stop was requested.
    pub interrupted: bool,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}

impl RoundReport {
    /// Messages built by every outgoing queue.
    pub fn messages_sent(&self) -> usize {
        self.directions.iter().map(|d| d.messages_sent).sum()
    }

    /// Issues created on either side.
    pub fn created(&self) -> usize {
        self.directions.iter().map(|d| d.created_count).sum()
    }

    /// Messages applied on either side.
    pub fn applied_count(&self) -> usize {
        self.directions.iter().map(|d| d.applied_count).sum()
    }

    /// The issues messages were applied to, in detail: up to [`APPLIED_DETAIL`] per
    /// direction (see [`RoundReport::applied_count`] for all).
    pub fn applied(&self) -> impl Iterator<Item = &AppliedIssue> {
        self.directions.iter().flat_map(|d| d.applied.iter())
    }

    /// Every failure.
    pub fn failures(&self) -> impl Iterator<Item = &IssueFailure> {
        self.directions.iter().flat_map(|d| d.failures.iter())
    }

    /// The first tracker or store that did not answer in this round, if any.
    pub fn unavailable(&self) -> Option<&str> {
        self.directions
            .iter()
            .find_map(|direction| direction.unavailable.as_deref())
    }
}

/// One direction (A → B or B → A) of one synchronization in one round.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionReport {
    /// The synchronization.
    pub sync_id: String,
    /// The source side.
    pub from: Side,
    /// Source project key.
    pub from_project: String,
    /// Target project key.
    pub to_project: String,
    /// Messages the source's outgoing queue built.
    pub messages_sent: usize,
    /// Field mappings called (outgoing and incoming).
    pub mappings_called: usize,
    /// The first [`APPLIED_DETAIL`] messages applied to target issues, in detail
    /// (a round of any size keeps its report small).
    pub applied: Vec<AppliedIssue>,
    /// Messages applied to target issues.
    pub applied_count: usize,
    /// Issues created.
    pub created_count: usize,
    /// Issues updated with at least one change.
    pub updated_count: usize,
    /// Messages delivered again and skipped because they were applied before.
    pub duplicates_skipped: usize,
    /// Issues that failed this round.
    pub failures: Vec<IssueFailure>,
    /// Issues held back until their retry time comes.
    pub waiting_for_retry: usize,
    /// Issues held back by a parked failure, until a person retries or skips it.
    pub parked: usize,
    /// Mapping calls that ran longer than the configured limit.
    pub slow_calls: Vec<SlowCall>,
    /// A tracker or store that did not answer: the round's failure, not an issue's.
    /// Nothing was charged to any issue; the work is done again next round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl DirectionReport {
    /// A report of nothing done yet, from `from` to the other side.
    pub(super) fn empty(sync_id: &str, from: Side, from_project: &str, to_project: &str) -> Self {
        DirectionReport {
            sync_id: sync_id.to_owned(),
            from,
            from_project: from_project.to_owned(),
            to_project: to_project.to_owned(),
            messages_sent: 0,
            mappings_called: 0,
            applied: Vec::new(),
            applied_count: 0,
            created_count: 0,
            updated_count: 0,
            duplicates_skipped: 0,
            failures: Vec::new(),
            waiting_for_retry: 0,
            parked: 0,
            slow_calls: Vec::new(),
            unavailable: None,
        }
    }
}

/// Applied issues a direction's report lists in detail; beyond, it counts them.
pub const APPLIED_DETAIL: usize = 1_000;

impl DirectionReport {
    /// Counts an applied message, and keeps its detail while there is room.
    pub(super) fn record_applied(&mut self, issue: AppliedIssue) {
        self.applied_count += 1;
        if issue.created {
            self.created_count += 1;
        } else if !issue.changes.is_empty() {
            self.updated_count += 1;
        }
        if self.applied.len() < APPLIED_DETAIL {
            self.applied.push(issue);
        }
    }
}

/// A message applied to a target issue.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedIssue {
    /// Source issue.
    pub source_key: String,
    /// Target issue.
    pub target_key: String,
    /// Whether the target was created.
    pub created: bool,
    /// Fields written.
    pub changes: Vec<FieldChange>,
    /// Fields left alone because the target changed them later (newer change wins).
    pub kept_newer: Vec<String>,
}

/// One field written to a target issue.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    /// Field id.
    pub field: String,
    /// Value before.
    pub old: Value,
    /// Value after.
    pub new: Value,
}

/// Something that could not be synced this round: one issue, or a whole queue.
#[derive(Debug, Clone, Serialize)]
pub struct IssueFailure {
    /// Which step failed: sending (building the message) or applying it; the same
    /// word the failure records (`fieldsync errors list`) use.
    pub step: FailedStep,
    /// What failed.
    pub subject: FailedSubject,
    /// Why, naming relationship, mapping and plugin.
    pub error: String,
    /// What happens to it next.
    pub next: NextAttempt,
}

/// What a failure stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailedSubject {
    /// One source issue.
    Issue {
        /// Its key.
        key: String,
    },
    /// The whole queue of a project (its store could not be read, say).
    Queue {
        /// The project.
        project: String,
    },
}

/// What happens to a failure next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum NextAttempt {
    /// Tried again at this time (after `attempts` failed attempts).
    Retry {
        /// Failed attempts so far.
        attempts: i64,
        /// When.
        at: Timestamp,
    },
    /// No more automatic retries (`fieldsync errors list` lists it).
    Parked {
        /// Failed attempts.
        attempts: i64,
    },
    /// Not recorded: tried again with the next round (a failure of a whole queue).
    NextRound,
}

impl NextAttempt {
    /// After `attempts` failed attempts: tried again at `at`, or parked (`None`).
    pub fn after(attempts: i64, at: Option<Timestamp>) -> NextAttempt {
        match at {
            Some(at) => NextAttempt::Retry { attempts, at },
            None => NextAttempt::Parked { attempts },
        }
    }
}

impl IssueFailure {
    /// A failure that stops a whole queue this round (it is tried again next round).
    pub(super) fn of_queue(step: FailedStep, project: &str, error: String) -> Self {
        IssueFailure {
            step,
            subject: FailedSubject::Queue {
                project: project.to_owned(),
            },
            error,
            next: NextAttempt::NextRound,
        }
    }

    /// The failed issue's key (`None` for a failure of a whole queue).
    pub fn issue_key(&self) -> Option<&str> {
        match &self.subject {
            FailedSubject::Issue { key } => Some(key),
            FailedSubject::Queue { .. } => None,
        }
    }

    /// Whether it is parked.
    pub fn parked(&self) -> bool {
        matches!(self.next, NextAttempt::Parked { .. })
    }
}

/// `1 message`, `2 messages`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl RoundReport {
    /// What the round did in numbers, and what kept it from completing if something
    /// did: one line (`fieldsync sync --quiet` prints only this).
    pub fn summary(&self) -> String {
        match self.unavailable() {
            Some(unavailable) => format!("{}; UNAVAILABLE: {unavailable}", self.counts()),
            None => self.counts(),
        }
    }

    fn counts(&self) -> String {
        format!(
            "round: {}, {} created, {} updated, {} failed in {} ms{}",
            count(self.messages_sent(), "message"),
            count(self.created(), "issue"),
            self.directions
                .iter()
                .map(|d| d.updated_count)
                .sum::<usize>(),
            self.failures().count(),
            self.duration.as_millis(),
            if self.interrupted {
                " (stopped early)"
            } else {
                ""
            }
        )
    }
}

impl fmt::Display for RoundReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for direction in &self.directions {
            write!(f, "{direction}")?;
        }
        f.write_str(&self.counts())
    }
}

impl fmt::Display for DirectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.messages_sent == 0
            && self.applied_count == 0
            && self.failures.is_empty()
            && self.slow_calls.is_empty()
            && self.waiting_for_retry + self.parked == 0
            && self.unavailable.is_none()
        {
            return Ok(());
        }
        writeln!(
            f,
            "[{}] {} → {}: {} sent",
            self.sync_id,
            self.from_project,
            self.to_project,
            count(self.messages_sent, "message")
        )?;
        for issue in &self.applied {
            let verb = if issue.created { "created" } else { "updated" };
            if issue.changes.is_empty() && !issue.created && issue.kept_newer.is_empty() {
                continue;
            }
            writeln!(f, "  {} → {} {verb}", issue.source_key, issue.target_key)?;
            for change in &issue.changes {
                writeln!(
                    f,
                    "      {}: {} → {}",
                    change.field,
                    preview(&change.old),
                    preview(&change.new)
                )?;
            }
            for field in &issue.kept_newer {
                writeln!(
                    f,
                    "      {field}: kept, changed later on {}",
                    issue.target_key
                )?;
            }
        }
        if self.applied_count > self.applied.len() {
            writeln!(
                f,
                "  ... {} more applied ({} created, {} updated in all; the first {} are listed)",
                self.applied_count - self.applied.len(),
                self.created_count,
                self.updated_count,
                self.applied.len()
            )?;
        }
        for failure in &self.failures {
            let next = match failure.next {
                NextAttempt::Parked { attempts } => format!(
                    "; parked after {}: `fieldsync errors list` shows it",
                    count(attempts.try_into().unwrap_or(0), "attempt")
                ),
                NextAttempt::Retry { attempts, at } => {
                    format!("; attempt {attempts}, retried at {at}")
                }
                NextAttempt::NextRound => "; tried again next round".to_owned(),
            };
            let subject = match &failure.subject {
                FailedSubject::Issue { key } => key.clone(),
                FailedSubject::Queue { project } => format!("the queue of {project}"),
            };
            let step = match failure.step {
                FailedStep::Send => "to send",
                FailedStep::Apply => "to apply",
            };
            writeln!(f, "  {subject} FAILED {step}: {}{next}", failure.error)?;
        }
        if self.waiting_for_retry + self.parked > 0 {
            writeln!(
                f,
                "  held back: {} waiting for a retry, {} parked (`fieldsync errors list`)",
                count(self.waiting_for_retry, "issue"),
                count(self.parked, "issue")
            )?;
        }
        for call in &self.slow_calls {
            writeln!(f, "  SLOW: {call} took {} ms", call.millis)?;
        }
        if let Some(error) = &self.unavailable {
            writeln!(
                f,
                "  UNAVAILABLE: {error} (no issue is charged for it; retried next round)"
            )?;
        }
        Ok(())
    }
}
