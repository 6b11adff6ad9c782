//! Where issues and sync state live.
//!
//! Two traits split the job: [`Tracker`] is what an issue tracker offers (projects,
//! issues, history, create, update); [`SyncLedger`] is what fieldsync remembers beside
//! it (links between partner issues, queue cursors, messages, applied sequence
//! numbers, failures, rounds). [`SqliteStore`] implements both in one SQLite file, and
//! [`AtomicApply`] besides: it can apply a message and record it in one transaction.
//! A remote tracker (Redmine, ...) keeps its ledger in a SQLite file of fieldsync's,
//! and the engine rebuilds the same guarantees step by step (see the engine's docs).

mod records;
mod schema;
mod sqlite;

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use crate::message::{IssueSyncMessage, Side};
use crate::model::{HistoryEntry, Issue, NewIssue, ProjectDef, Timestamp, User};

pub use records::{
    shortened, FailedStep, Failure, FailureCause, FailureContext, FailureQuery, FailureRecord,
    QueueCounts, RoundRecord, RunningSlowCalls, SkippedFailure, SlowCall,
};
pub use sqlite::{SqliteStore, CREATED_FIELD};

/// Why a store operation failed. Every variant names the store file.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("{store}: {source}")]
    Sqlite {
        /// The store file.
        store: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file exists but is not a fieldsync store (or is from a newer fieldsync).
    #[error("{store}: {message}")]
    NotAStore {
        /// The store file.
        store: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such project or issue.
    #[error("{store}: {what} not found")]
    NotFound {
        /// The store file.
        store: String,
        /// What was looked for, e.g. "issue `A-9`".
        what: String,
    },
    /// The request is not acceptable: a bad value, an unknown field or issue type.
    #[error("{store}: {message}")]
    Invalid {
        /// The store file.
        store: String,
        /// What is wrong.
        message: String,
    },
    /// Stored data could not be read back (a damaged row).
    #[error("{store}: {message}")]
    Corrupt {
        /// The store file.
        store: String,
        /// Which row and why.
        message: String,
    },
    /// The tracker cannot be reached or does not serve now (connection refused, a
    /// time-out, a 5xx, rate limiting), or refuses every request (a wrong key); or a
    /// store file cannot be used (a full disk, a read-only file, an I/O error, a
    /// damaged file). This is the round's failure, not an issue's: no attempt of any
    /// issue is used up, and the work is done again once the cause is gone.
    #[error("{store}: {message}")]
    Unavailable {
        /// The tracker (its URL).
        store: String,
        /// What happened.
        message: String,
    },
    /// A write of a group begun with [`SyncLedger::begin_fast_group`] failed, so the
    /// group was dropped whole: nothing of it was stored. Its work is to be done
    /// again in an ordinary group, where the failing write is undone alone.
    #[error("{store}: a write of a fast write group failed; nothing of the group was stored")]
    GroupUndone {
        /// The store file.
        store: String,
    },
}

impl StoreError {
    /// Whether the failure is the round's (the tracker or store is unavailable), not
    /// the data's: such a failure never counts as an attempt of an issue.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// Where a tracker's change detection stands, as the tracker writes it: opaque to the
/// engine and the ledger, which only keep it. Empty means "from the beginning".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerCursor(pub String);

/// What one scan for changes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeScan {
    /// Issues that may have changed, oldest change first. A tracker may report an
    /// issue that has no new change (an overlap window): the engine reads its history
    /// and finds nothing to send.
    pub issues: Vec<ChangedIssue>,
    /// History positions after this one are new for every issue the scan reports
    /// (`None`: positions are kept per issue in the ledger, see `history_to`).
    pub history_after: Option<i64>,
    /// History up to this position is handled this round; later entries wait for the
    /// next scan (`i64::MAX`: no global bound).
    pub history_upper: i64,
    /// The cursor to store once the round's messages are stored.
    pub next: TrackerCursor,
}

/// An issue whose history may have moved past a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedIssue {
    /// Its key.
    pub key: String,
}

/// What an issue tracker offers the engine. [`SqliteStore`] is one (fieldsync's own
/// model of a tracker); a connector crate adds a real one. Issue keys are
/// `PROJECT-N`; history positions are the tracker's own numbers (ordered within an
/// issue, 0 before everything).
pub trait Tracker: Send + Sync {
    /// The tracker's name in messages (its file or URL).
    fn location(&self) -> &str;
    /// A project's declaration: fields with their types, issue types, create screens.
    fn project(&self, key: &str) -> Result<ProjectDef, StoreError>;
    /// Every project the tracker shows.
    fn projects(&self) -> Result<Vec<ProjectDef>, StoreError>;
    /// Every user (the directory e-mail user matching reads).
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// The fields that may be set when creating an issue of `issue_type` in `project`.
    fn create_screen(&self, project: &str, issue_type: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.project(project)?.create_screen(issue_type).to_vec())
    }
    /// Issues of `project` changed since `cursor` by anyone but `except_author`,
    /// oldest change first, and the cursor to continue from. (The sync skips its own
    /// writes; after it created thousands of issues, the next round should not read
    /// them all again to find that out, where the tracker can tell without reading:
    /// one that cannot — Redmine — reports them, and their history shows the rest.)
    fn scan_changes(
        &self,
        project: &str,
        cursor: &TrackerCursor,
        except_author: &str,
    ) -> Result<ChangeScan, StoreError>;
    /// The history of an issue after position `after_seq`, oldest first; with
    /// `after_seq` 0, the whole history, its creation included.
    fn history_since(&self, key: &str, after_seq: i64) -> Result<Vec<HistoryEntry>, StoreError>;
    /// An issue, or `None`.
    fn get(&self, key: &str) -> Result<Option<Issue>, StoreError>;
    /// Every issue of a project, by number.
    fn issues(&self, project: &str) -> Result<Vec<Issue>, StoreError>;
    /// Creates an issue; every initial value is recorded in its history by `author`.
    /// Only fields on the create screen may be set (see [`create_and_edit`]).
    fn create(&self, issue: &NewIssue, author: &str) -> Result<Issue, StoreError>;
    /// Sets fields (`null` clears one); only values that differ are written and
    /// recorded. Returns the recorded changes.
    fn update(
        &self,
        key: &str,
        changes: &BTreeMap<String, Value>,
        author: &str,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// The issue of `project` that was created with `correlation` in its correlation
    /// field (see [`Tracker::create_correlated`]), if any. A tracker without a
    /// correlation field answers `None`.
    fn find_correlated(
        &self,
        project: &str,
        correlation: &str,
    ) -> Result<Option<String>, StoreError> {
        let _ = (project, correlation);
        Ok(None)
    }
    /// Creates an issue carrying `correlation` in its correlation field, in the
    /// creating request itself: a creation whose answer was lost (a crash, a
    /// time-out) is then found by [`Tracker::find_correlated`] instead of being made
    /// twice.
    fn create_correlated(
        &self,
        issue: &NewIssue,
        author: &str,
        correlation: &str,
    ) -> Result<Issue, StoreError> {
        let _ = correlation;
        self.create(issue, author)
    }
}

/// What the engine remembers about one issue in one synchronization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueSyncState {
    /// The partner issue on the other side, once known.
    pub partner: Option<String>,
    /// Sequence number of the last message sent for this issue (0: never sent).
    pub last_sent_seq: i64,
    /// When it was sent.
    pub last_sent_at: Option<Timestamp>,
    /// When a message from the partner was last applied to this issue.
    pub last_received_at: Option<Timestamp>,
    /// The history position up to which the last message sent for this issue read
    /// (0: none sent). Where a tracker keeps positions per issue, the next message
    /// reads from here.
    pub history_to: i64,
}

/// When a failed message or send is tried again. In JSON: `{"state": "now"}`,
/// `{"state": "at", "at": "2026-12-05T10:00:00Z"}` or `{"state": "parked"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "at", rename_all = "snake_case")]
pub enum Due {
    /// With the next round.
    Now,
    /// Not before this time (backing off).
    At(Timestamp),
    /// Not until a person retries or skips it.
    Parked,
}

impl Due {
    /// What a stored `next_attempt_at` and `parked_at` say.
    pub(crate) fn of_row(next_attempt_at: Option<i64>, parked_at: Option<i64>) -> Due {
        match (parked_at, next_attempt_at) {
            (Some(_), _) => Due::Parked,
            (None, Some(at)) => Due::At(Timestamp(at)),
            (None, None) => Due::Now,
        }
    }

    /// After a failed attempt: tried again at `at`, or parked (`None`).
    pub fn retry_at(at: Option<Timestamp>) -> Due {
        at.map_or(Due::Parked, Due::At)
    }

    /// The time to store as `next_attempt_at`.
    pub(crate) fn stored_time(self) -> Option<i64> {
        match self {
            Due::At(at) => Some(at.0),
            Due::Now | Due::Parked => None,
        }
    }
}

/// An issue whose outgoing step failed: it is retried from `since_seq` once due.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingFailure {
    /// The issue.
    pub key: String,
    /// The history position its next attempt reads from.
    pub since_seq: i64,
    /// The history position the failed attempt read up to.
    pub tried_to: i64,
    /// Why it failed.
    pub failure: Failure,
    /// Failed attempts, this one included.
    pub attempts: i64,
    /// When it is tried again.
    pub due: Due,
}

/// An issue whose next send does not follow the round's scan: it reads the issue's
/// history from `since_seq` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSend {
    /// The issue.
    pub key: String,
    /// The history position its next attempt reads from.
    pub since_seq: i64,
    /// The history position the last failed attempt read up to.
    pub tried_to: i64,
    /// Why it is held.
    pub state: HeldSendState,
}

/// Why an issue's send is held (see [`HeldSend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldSendState {
    /// Its sends failed: tried again once due.
    Failing {
        /// Failed attempts so far.
        attempts: i64,
        /// When it is tried again.
        due: Due,
    },
    /// A person skipped its failed sends: the changes they carried are dropped, the
    /// edits made after the last attempt are read with the next round.
    Skipped,
}

/// A request to send some fields of an issue again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncRequest {
    /// Row id, to mark it done.
    pub id: i64,
    /// The issue.
    pub key: String,
    /// Relationship ids to send.
    pub relationships: Vec<String>,
    /// When a person asked: the values resent compete with edits as changes made then.
    pub requested_at: Timestamp,
}

/// Everything one outgoing round of one side writes, in one transaction.
#[derive(Debug)]
pub struct OutgoingBatch {
    /// The synchronization.
    pub sync_id: String,
    /// The side whose outgoing queue ran.
    pub side: Side,
    /// The new cursor.
    pub cursor: TrackerCursor,
    /// Issues whose history was read to a position with nothing to send, where a
    /// tracker keeps positions per issue: the next read starts there.
    pub read_to: Vec<(String, i64)>,
    /// The messages built.
    pub messages: Vec<IssueSyncMessage>,
    /// Issues that failed (retried later).
    pub failures: Vec<OutgoingFailure>,
    /// Issues that went through, whose earlier failure is forgotten.
    pub recovered: Vec<String>,
    /// Resync requests handled.
    pub resyncs_done: Vec<i64>,
}

impl OutgoingBatch {
    /// Whether the batch holds nothing to record but its cursor.
    pub fn is_empty(&self) -> bool {
        self.read_to.is_empty()
            && self.messages.is_empty()
            && self.failures.is_empty()
            && self.recovered.is_empty()
            && self.resyncs_done.is_empty()
    }
}

/// A message waiting in the outbox of its source store.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    /// Outbox row id.
    pub row: i64,
    /// Source issue key (readable even when the body is not).
    pub source_key: String,
    /// Its sequence number.
    pub seq: i64,
    /// The message, or why its stored body cannot be read.
    pub message: Result<IssueSyncMessage, String>,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it may be tried again.
    pub due: Due,
}

/// How a field write is guarded against overwriting a newer edit on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictGuard {
    /// When the source side changed the field.
    pub changed_at: Timestamp,
    /// Whether the source wins when both changed at the same microsecond.
    pub source_wins_ties: bool,
    /// Only target changes after this history position compete: the ones the source
    /// had not seen when it built the message. Older ones reached the source before,
    /// so its change came after them.
    pub target_changes_after: i64,
    /// The newest change of this field the target itself sent and the source had not
    /// seen, when it is not in the target's history (a resync sends the value as it
    /// is, as a change made when it was asked for).
    pub target_sent_at: Option<Timestamp>,
}

impl ConflictGuard {
    /// Whether the target's own change, made at `theirs` (the newest by anyone but
    /// the sync after `target_changes_after`, if any), beats the source's.
    pub fn target_wins(&self, theirs: Option<Timestamp>) -> bool {
        let theirs = theirs.max(self.target_sent_at);
        theirs.is_some_and(|theirs| {
            theirs > self.changed_at || (theirs == self.changed_at && !self.source_wins_ties)
        })
    }
}

/// One value to write while applying a message.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldWrite {
    /// Target field.
    pub field: String,
    /// New value.
    pub value: Value,
    /// Skip the write when the target's own users changed the field later.
    pub guard: Option<ConflictGuard>,
}

/// Create a target issue, or update one.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyTarget {
    /// Create an issue of this project and type with the writes.
    Create {
        /// Project key.
        project: String,
        /// Issue type.
        issue_type: String,
    },
    /// Update this issue.
    Update(String),
}

/// One step of applying a message to the target store, run in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyStep<'a> {
    /// The synchronization.
    pub sync_id: &'a str,
    /// The source issue (the partner of the target).
    pub source_key: &'a str,
    /// The message's sequence number, recorded as applied when `completes_message`.
    pub seq: i64,
    /// What to change.
    pub target: ApplyTarget,
    /// The values.
    pub writes: Vec<FieldWrite>,
    /// The sync user, author of the changes; its own changes never count as conflicts.
    pub author: &'a str,
    /// Whether this is the message's last step.
    pub completes_message: bool,
    /// Where the values come from, to record with them (`None`: not recorded; only
    /// a project other synchronizations send from needs it).
    pub origins: Option<&'a WriteOrigins>,
}

/// A value the sync wrote into an issue, and where the change was first made: a
/// project in several synchronizations (a hub) passes changes on from one to the
/// others, and "newest wins" compares the original edit times across hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The history position of the write.
    pub seq: i64,
    /// The field written.
    pub field: String,
    /// The synchronization that wrote it.
    pub sync_id: String,
    /// The project the change was first made in, `<tracker location>#<project>`.
    pub origin: String,
    /// When it was made there.
    pub origin_at: Timestamp,
}

/// Where the values of an apply step come from (recorded with the writes on a side
/// other synchronizations also send from).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteOrigins {
    /// Target field → the project its change was first made in, and when.
    pub fields: BTreeMap<String, (String, Timestamp)>,
    /// The issue a created issue stands for, `<tracker location>#<key>`.
    pub issue: String,
}

/// What an apply step did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedStep {
    /// The target issue.
    pub key: String,
    /// Whether it was created.
    pub created: bool,
    /// The changes recorded.
    pub changes: Vec<HistoryEntry>,
    /// Fields left alone because the target changed them after the source did.
    pub kept_newer: Vec<String>,
    /// The message had been applied already (by another run): nothing was written.
    pub already_applied: bool,
    /// The issue as the step left it, when the store hands it back (a creation in
    /// the SQLite model): the engine need not read it again.
    pub issue: Option<Issue>,
}

/// Creates an issue the way a person does: the fields on the create screen with the
/// issue, every other field by an edit right after, both by `author`.
pub fn create_and_edit(
    store: &dyn Tracker,
    issue: &NewIssue,
    author: &str,
) -> Result<Issue, StoreError> {
    let project = store.project(&issue.project)?;
    // Every value is checked before anything is written: a bad one must not leave
    // a half-made issue behind.
    for (field, value) in &issue.fields {
        project
            .check_value(field, value)
            .map_err(|message| StoreError::Invalid {
                store: store.location().to_owned(),
                message,
            })?;
    }
    let screen = project.create_screen(&issue.issue_type).to_vec();
    let (on_screen, later): (BTreeMap<String, Value>, BTreeMap<String, Value>) = issue
        .fields
        .clone()
        .into_iter()
        .partition(|(field, _)| screen.contains(field));
    let created = store.create(
        &NewIssue {
            fields: on_screen,
            ..issue.clone()
        },
        author,
    )?;
    if later.is_empty() {
        return Ok(created);
    }
    store.update(&created.key, &later, author)?;
    store
        .get(&created.key)?
        .ok_or_else(|| StoreError::NotFound {
            store: store.location().to_owned(),
            what: format!("issue `{}`", created.key),
        })
}

/// What the engine keeps beside the issues.
pub trait SyncLedger: Send + Sync {
    /// Until the matching [`end_reads`](Self::end_reads), the store's reads (its
    /// tracker's too, where the store is both) may see it as it was when each
    /// reading thread first read: the engine asks for this while it only reads (it
    /// builds a large chunk's messages), and a store may then read on several threads
    /// at once, each in one read transaction. Calls nest. By default, nothing changes.
    fn begin_reads(&self) {}
    /// Ends what [`begin_reads`](Self::begin_reads) began, once its reads are done:
    /// later reads see every commit made before them.
    fn end_reads(&self) {}
    /// The file a process running rounds on this ledger locks (see
    /// [`crate::runner`]); `None` for a ledger no other process can reach (in memory).
    fn runner_lock(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Groups this ledger's writes (and the tracker's, where both are one database)
    /// into one transaction until [`SyncLedger::end_group`]: many small steps then
    /// cost one commit, each still kept whole or undone whole. A ledger that cannot
    /// group writes each step at once.
    fn begin_group(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Like [`SyncLedger::begin_group`], but the group's writes are not kept or
    /// undone one by one (a savepoint each costs SQLite a copy of every page a write
    /// touches): the first write that fails spoils the whole group, which then ends
    /// with [`StoreError::GroupUndone`]. For work that rarely fails and can be done
    /// again. A ledger without the distinction begins an ordinary group.
    fn begin_fast_group(&self) -> Result<(), StoreError> {
        self.begin_group()
    }
    /// Ends a group begun by [`SyncLedger::begin_group`]: commits it, or (`commit`
    /// false) drops everything written since. An error says nothing of the group was
    /// stored.
    fn end_group(&self, commit: bool) -> Result<(), StoreError> {
        let _ = commit;
        Ok(())
    }
    /// The change-detection cursor of one side (empty at first).
    fn cursor(&self, sync_id: &str, side: Side) -> Result<TrackerCursor, StoreError>;
    /// The state of an issue in a synchronization.
    fn sync_state(&self, sync_id: &str, key: &str) -> Result<Option<IssueSyncState>, StoreError>;
    /// The state of an issue in every synchronization it takes part in.
    fn sync_states(&self, key: &str) -> Result<Vec<(String, IssueSyncState)>, StoreError>;
    /// The issue of this store that is the partner of `partner_key`.
    fn local_partner(&self, sync_id: &str, partner_key: &str)
        -> Result<Option<String>, StoreError>;
    /// Records that `local_key` and `partner_key` are partners.
    fn record_link(
        &self,
        sync_id: &str,
        local_key: &str,
        partner_key: &str,
    ) -> Result<(), StoreError>;
    /// Records several links, `(local key, partner key)`, in one write.
    fn record_links(&self, sync_id: &str, links: &[(String, String)]) -> Result<(), StoreError> {
        links
            .iter()
            .try_for_each(|(local, partner)| self.record_link(sync_id, local, partner))
    }
    /// Issues whose outgoing step failed earlier, or whose failure a person skipped.
    fn held_sends(&self, sync_id: &str, side: Side) -> Result<Vec<HeldSend>, StoreError>;
    /// Asks for some relationships of an issue to be sent again.
    fn request_resync(
        &self,
        sync_id: &str,
        side: Side,
        key: &str,
        relationships: &[String],
    ) -> Result<(), StoreError>;
    /// Open resync requests.
    fn resync_requests(&self, sync_id: &str, side: Side) -> Result<Vec<ResyncRequest>, StoreError>;
    /// Writes an outgoing round: messages, issue states, failures and cursor, at once.
    fn record_outgoing(&self, batch: &OutgoingBatch) -> Result<(), StoreError>;
    /// Undelivered messages from `source_side` written after outbox row `after_row`,
    /// in the order they were written, at most `limit` (a queue of any length is read
    /// a page at a time).
    fn pending_messages(
        &self,
        sync_id: &str,
        source_side: Side,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<PendingMessage>, StoreError>;
    /// Up to which history position of this store the message `seq` about `key`
    /// reported changes (`None` when there is no such message).
    fn message_covers(&self, sync_id: &str, key: &str, seq: i64)
        -> Result<Option<i64>, StoreError>;
    /// Per relationship, the newest change time the messages about `key` after
    /// message `after_seq` carry: what this side sent that a partner which had
    /// applied `after_seq` of them had not seen.
    fn sent_after(
        &self,
        sync_id: &str,
        key: &str,
        after_seq: i64,
    ) -> Result<BTreeMap<String, Timestamp>, StoreError>;
    /// Marks outbox messages delivered. (Marks may lag behind the applies they
    /// follow: a message delivered again is recognised by its applied sequence number.)
    fn messages_delivered(&self, rows: &[i64]) -> Result<(), StoreError>;
    /// Records a failed delivery attempt: the message's `attempts`-th, tried again
    /// as `due` says.
    fn message_failed(
        &self,
        row: i64,
        failure: &Failure,
        attempts: i64,
        due: Due,
    ) -> Result<(), StoreError>;
    /// Failures of this store's issues: failed sends, then failed applies of the
    /// messages in its outbox, each oldest first.
    fn failures(&self, query: &FailureQuery<'_>) -> Result<Vec<FailureRecord>, StoreError>;
    /// Makes the failures matching `query` due at once, parked ones included.
    /// Returns how many.
    fn retry_failures(&self, query: &FailureQuery<'_>) -> Result<usize, StoreError>;
    /// Gives up on one failure, recording who and when: a failed apply is never
    /// applied and the later messages of its issue go ahead; a failed send is
    /// forgotten (the changes it carried are not sent, later ones are).
    fn skip_failure(&self, id: &str, by: &str) -> Result<Option<SkippedFailure>, StoreError>;
    /// The queue of messages from `source_side`.
    fn queue_counts(&self, sync_id: &str, source_side: Side) -> Result<QueueCounts, StoreError>;
    /// Records a finished round (the round counter is kept by the store).
    fn record_round(&self, sync_id: &str, round: &RoundRecord) -> Result<(), StoreError>;
    /// The last recorded round.
    fn last_round(&self, sync_id: &str) -> Result<Option<RoundRecord>, StoreError>;
    /// Replaces the mapping calls over the limit that are running now (cleared by
    /// [`SyncLedger::record_round`]).
    fn record_running_slow_calls(
        &self,
        sync_id: &str,
        calls: &[SlowCall],
    ) -> Result<(), StoreError>;
    /// The mapping calls over the limit running in the current round.
    fn running_slow_calls(&self, sync_id: &str) -> Result<RunningSlowCalls, StoreError>;
    /// Replaces what the running host says of itself under `note` (the host decides
    /// the text; `fieldsync sync` keeps its plugins there).
    fn record_host_note(&self, sync_id: &str, note: &str, value: &str) -> Result<(), StoreError>;
    /// The host's last `note`, and when it was written.
    fn host_note(
        &self,
        sync_id: &str,
        note: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError>;
    /// The highest sequence number applied from `source_key` (0: none).
    fn applied_seq(&self, sync_id: &str, source_key: &str) -> Result<i64, StoreError>;
    /// Records, after the tracker took a message's writes, that `target_key` is the
    /// partner of `source_key` and, with `seq`, that the message is applied. Used for
    /// trackers that cannot share a transaction with the ledger: a crash before this
    /// record makes the message come again, and applying it again changes nothing.
    fn record_applied(
        &self,
        sync_id: &str,
        target_key: &str,
        source_key: &str,
        seq: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Records where the values `changes` (the history entries of a write into `key`
    /// by `sync_id`) came from, and, for an issue the write created, which issue it
    /// stands for.
    fn record_written(
        &self,
        sync_id: &str,
        key: &str,
        changes: &[HistoryEntry],
        origins: &WriteOrigins,
        created: bool,
    ) -> Result<(), StoreError>;
    /// The records of values the sync wrote into `key` after history position
    /// `after_seq`.
    fn written_since(&self, key: &str, after_seq: i64) -> Result<Vec<Written>, StoreError>;
    /// The newest change the value of `field` of `key` stands for, as recorded with
    /// the sync's writes: the project it was first made in, and when.
    fn field_version(
        &self,
        key: &str,
        field: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError>;
    /// Records that the value of `field` of `key` stands for a newer change than
    /// recorded (it arrived again, equal), and asks `resyncs` (synchronization,
    /// side, relationships) to send it on, as a change made then.
    fn touch_field(
        &self,
        key: &str,
        field: &str,
        version: (&str, Timestamp),
        resyncs: &[(String, Side, Vec<String>)],
    ) -> Result<(), StoreError>;
    /// Deletes delivered messages and records of skipped ones made before `before`,
    /// except each issue's newest message; returns how many rows went.
    fn prune(&self, before: Timestamp) -> Result<usize, StoreError>;
    /// The issue `key` stands for, if the sync created it from one elsewhere.
    fn issue_origin(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// The issue of this store the sync created to stand for `origin`, if any.
    fn issue_for_origin(&self, origin: &str) -> Result<Option<String>, StoreError>;
}

/// A tracker whose ledger lives in the same database: a message step is applied and
/// recorded in one transaction ([`SqliteStore`]).
pub trait AtomicApply: Send + Sync {
    /// Applies one step of a message in one transaction.
    fn apply(&self, step: &ApplyStep<'_>) -> Result<AppliedStep, StoreError>;
}

/// A store that is tracker, ledger and atomic applier at once (the SQLite model).
pub trait SyncStore: Tracker + SyncLedger + AtomicApply {}

impl<T: Tracker + SyncLedger + AtomicApply> SyncStore for T {}
