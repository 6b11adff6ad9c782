//! The outgoing queue of one side: changed issues → one message each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use fieldsync_plugin_api::{IssueInfo, OutgoingContext, Trigger};
use serde_json::Value;

use super::pool::map_parallel;
use super::report::{DirectionReport, FailedSubject, IssueFailure, NextAttempt};
use super::watch::CallSite;
use super::{Pass, SyncRuntime};
use crate::message::{Entry, IssueSyncMessage, Side};
use crate::model::{HistoryEntry, Issue, Timestamp};
use crate::store::{
    shortened, Due, FailedStep, Failure, FailureCause, FailureContext, HeldSendState,
    IssueSyncState, OutgoingBatch, OutgoingFailure, StoreError, SyncLedger, TrackerCursor,
    CREATED_FIELD,
};

/// An issue to look at this round.
struct Candidate {
    key: String,
    /// History after this position is read for changes (`None`: after where the
    /// issue's last message read, for a tracker that keeps positions per issue).
    from_seq: Option<i64>,
    /// Relationships a person asked to send again.
    resync: Vec<String>,
    resync_requests: Vec<i64>,
    /// When the newest of those requests was made.
    resync_at: Option<Timestamp>,
    /// Failed attempts before this one (0: none).
    failed_before: i64,
    /// The issue has a held send in the ledger, to clear when it goes through.
    held_row: bool,
}

enum Outcome {
    /// Nothing to send (filtered out, or gone).
    Nothing,
    /// The history was read up to this position and holds nothing to send (only the
    /// sync's own writes, or fields no relationship sends).
    NothingNew { read_to: i64 },
    Message {
        message: Box<IssueSyncMessage>,
        mappings_called: usize,
    },
    /// With the history positions the attempt read from and up to.
    Failed {
        failure: Failure,
        read_from: i64,
        tried_to: i64,
    },
    /// The tracker did not answer: the round's failure, not the issue's.
    Unavailable(StoreError),
    /// Not read: the tracker had stopped answering (the batch is dropped).
    Skipped,
}

/// Runs the outgoing queue of `source`; problems land in `report`.
pub(super) fn run(sync: &SyncRuntime, source: Side, pass: &Pass<'_>, report: &mut DirectionReport) {
    if let Err(error) = try_run(sync, source, pass, report) {
        if error.is_unavailable() {
            report.unavailable = Some(error.to_string());
            return;
        }
        report.failures.push(IssueFailure::of_queue(
            FailedStep::Send,
            &sync.side(source).project.key,
            error.to_string(),
        ));
    }
}

fn try_run(
    sync: &SyncRuntime,
    source: Side,
    pass: &Pass<'_>,
    report: &mut DirectionReport,
) -> Result<(), StoreError> {
    let side = sync.side(source);
    let ledger = side.ledger();
    let cursor = ledger.cursor(&sync.id, source)?;
    // On a project other synchronizations write to, their writes (by the same sync
    // user, perhaps) are changes to pass on: the scan must not leave them out.
    let except_author = if side.shared {
        ""
    } else {
        sync.sync_user.as_str()
    };
    let scan = side
        .tracker()
        .scan_changes(&side.project.key, &cursor, except_author)?;
    let upper = scan.history_upper;
    let mut candidates: BTreeMap<String, Candidate> = BTreeMap::new();
    // An issue whose failure waits for its retry time (or a person) sends nothing:
    // its later changes join the retry, which reads history from the failed one on.
    let mut held = BTreeSet::new();
    for held_send in ledger.held_sends(&sync.id, source)? {
        let failed_before = match held_send.state {
            HeldSendState::Failing {
                due: Due::Parked, ..
            } => {
                report.parked += 1;
                held.insert(held_send.key);
                continue;
            }
            HeldSendState::Failing {
                due: Due::At(at), ..
            } if at > pass.now => {
                report.waiting_for_retry += 1;
                held.insert(held_send.key);
                continue;
            }
            HeldSendState::Failing { attempts, .. } => attempts,
            HeldSendState::Skipped => 0,
        };
        let entry = candidate(&mut candidates, &held_send.key, Some(held_send.since_seq));
        entry.failed_before = failed_before;
        entry.held_row = true;
    }
    let cursor_after = scan.history_after;
    let per_issue_positions = cursor_after.is_none();
    for changed in scan.issues {
        if !held.contains(&changed.key) {
            candidate(&mut candidates, &changed.key, cursor_after);
        }
    }
    for request in ledger.resync_requests(&sync.id, source)? {
        if held.contains(&request.key) {
            continue;
        }
        let entry = candidate(&mut candidates, &request.key, cursor_after);
        entry.resync.extend(request.relationships);
        entry.resync_requests.push(request.id);
        entry.resync_at = entry.resync_at.max(Some(request.requested_at));
    }

    // Built and stored a chunk at a time, so that a project of any size is sent
    // without holding all its messages in memory. The cursor moves with the last
    // chunk: should the round stop before, the issues already sent are scanned again
    // and find nothing new after what their messages covered. While a chunk is
    // stored (on a thread of its own), the next one is built: the chunks hold
    // different issues, and building only reads. The last is stored in turn.
    let sending = Sending {
        sync,
        source,
        pass,
        upper,
        per_issue_positions,
    };
    let mut candidates = candidates.into_values().peekable();
    std::thread::scope(|scope| {
        let mut storing = None;
        loop {
            let chunk: Vec<Candidate> = candidates.by_ref().take(SEND_CHUNK).collect();
            let last = candidates.peek().is_none();
            let chunk_cursor = if last {
                scan.next.clone()
            } else {
                cursor.clone()
            };
            let built = build_chunk(&sending, chunk, chunk_cursor);
            if let Some(stored) = storing.take() {
                stored_chunk(stored)?.report_to(report);
            }
            let built = built?;
            if last || pass.stop.load(Ordering::SeqCst) {
                return built
                    .store(ledger, &cursor)
                    .map(|built| built.report_to(report));
            }
            storing = Some(scope.spawn(|| built.store(ledger, &cursor)));
        }
    })
}

/// What storing a chunk on its own thread came to.
fn stored_chunk(
    storing: std::thread::ScopedJoinHandle<'_, Result<BuiltChunk, StoreError>>,
) -> Result<BuiltChunk, StoreError> {
    storing
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Issues read, mapped and stored as one outgoing batch.
const SEND_CHUNK: usize = 1_000;

/// Candidates of a chunk from which it is read in a read session.
const READ_SESSION_FROM: usize = 200;

/// What every chunk of a side's outgoing step shares.
struct Sending<'a> {
    sync: &'a SyncRuntime,
    source: Side,
    pass: &'a Pass<'a>,
    /// The newest history position the round handles.
    upper: i64,
    /// The tracker keeps history positions per issue, not one cursor.
    per_issue_positions: bool,
}

/// A chunk's messages, built, with what the round report says of them once they
/// are stored.
struct BuiltChunk {
    batch: OutgoingBatch,
    failures: Vec<IssueFailure>,
    mappings_called: usize,
}

impl BuiltChunk {
    /// Stores the batch (not when it holds nothing, not even a new cursor: an idle
    /// round writes nothing, so a sync running for months does not grow its store's
    /// write-ahead log while nothing changes).
    fn store(self, ledger: &dyn SyncLedger, cursor: &TrackerCursor) -> Result<Self, StoreError> {
        if !self.batch.is_empty() || self.batch.cursor != *cursor {
            ledger.record_outgoing(&self.batch)?;
        }
        Ok(self)
    }

    /// Counted once stored: a round whose batch could not be written sent nothing.
    fn report_to(self, report: &mut DirectionReport) {
        report.failures.extend(self.failures);
        report.mappings_called += self.mappings_called;
        report.messages_sent += self.batch.messages.len();
    }
}

/// Builds the messages of `candidates`, to be stored with `next_cursor`.
fn build_chunk(
    sending: &Sending<'_>,
    candidates: Vec<Candidate>,
    next_cursor: TrackerCursor,
) -> Result<BuiltChunk, StoreError> {
    let Sending {
        sync,
        source,
        pass,
        upper,
        per_issue_positions,
    } = *sending;
    let ledger = sync.side(source).ledger();
    // Once the tracker does not answer, the candidates still waiting are not read:
    // the whole batch is dropped anyway, and each read would wait out its retries.
    let tracker_down = AtomicBool::new(false);
    // A large chunk is read in a read session, on several threads where the side
    // lives in a local database; opening the read connections would cost a small
    // round more than they save.
    let stores = &sync.side(source).stores;
    let (reads, workers) = if candidates.len() >= READ_SESSION_FROM {
        (
            Some(ReadSession::begin(ledger)),
            pass.workers.for_reads(stores),
        )
    } else {
        (None, pass.workers.for_side(stores))
    };
    let outcomes = map_parallel(candidates, workers, |candidate| {
        if tracker_down.load(Ordering::SeqCst) {
            return (candidate, Outcome::Skipped);
        }
        let outcome = build_message(sync, source, &candidate, upper, pass);
        pass.progress.issues_read.fetch_add(1, Ordering::Relaxed);
        if matches!(outcome, Outcome::Unavailable(_)) {
            tracker_down.store(true, Ordering::SeqCst);
        }
        (candidate, outcome)
    });
    drop(reads);
    // The tracker stopped answering while messages were built: nothing of this round
    // is stored, so the next round scans from the same cursor and no issue is charged
    // an attempt for it.
    let mut unavailable = None;
    let outcomes: Vec<(Candidate, Outcome)> = outcomes
        .into_iter()
        .filter_map(|(candidate, outcome)| match outcome {
            Outcome::Unavailable(error) => {
                unavailable.get_or_insert(error);
                None
            }
            outcome => Some((candidate, outcome)),
        })
        .collect();
    if let Some(error) = unavailable {
        return Err(error);
    }

    let mut batch = OutgoingBatch {
        sync_id: sync.id.clone(),
        side: source,
        cursor: next_cursor,
        read_to: Vec::new(),
        messages: Vec::new(),
        failures: Vec::new(),
        recovered: Vec::new(),
        resyncs_done: Vec::new(),
    };
    let mut failures = Vec::new();
    let mut mappings_called_in_chunk = 0;
    for (candidate, outcome) in outcomes {
        match outcome {
            Outcome::Failed {
                failure,
                read_from,
                tried_to,
            } => {
                let attempts = candidate.failed_before + 1;
                let next_attempt_at = pass.next_attempt(attempts, failure.cause);
                failures.push(IssueFailure {
                    step: FailedStep::Send,
                    subject: FailedSubject::Issue {
                        key: candidate.key.clone(),
                    },
                    error: failure.error.clone(),
                    next: NextAttempt::after(attempts, next_attempt_at),
                });
                batch.failures.push(OutgoingFailure {
                    key: candidate.key,
                    since_seq: read_from,
                    tried_to,
                    failure,
                    attempts,
                    due: Due::retry_at(next_attempt_at),
                });
                continue;
            }
            Outcome::Message {
                message,
                mappings_called,
            } => {
                mappings_called_in_chunk += mappings_called;
                batch.messages.push(*message);
            }
            Outcome::NothingNew { read_to } => {
                // Where positions are kept per issue, what was read is not read again
                // (a skipped send stays skipped; the sync's own writes are passed).
                if per_issue_positions {
                    batch.read_to.push((candidate.key.clone(), read_to));
                }
            }
            Outcome::Nothing | Outcome::Unavailable(_) | Outcome::Skipped => {}
        }
        if candidate.held_row {
            batch.recovered.push(candidate.key);
        }
        batch.resyncs_done.extend(candidate.resync_requests);
    }
    Ok(BuiltChunk {
        batch,
        failures,
        mappings_called: mappings_called_in_chunk,
    })
}

/// The ledger's read session while a chunk's messages are built (they only read),
/// ended however the building ends.
struct ReadSession<'a>(&'a dyn SyncLedger);

impl<'a> ReadSession<'a> {
    fn begin(ledger: &'a dyn SyncLedger) -> Self {
        ledger.begin_reads();
        ReadSession(ledger)
    }
}

impl Drop for ReadSession<'_> {
    fn drop(&mut self) {
        self.0.end_reads();
    }
}

/// The candidate for `key`, reading history from the earliest position asked for.
fn candidate<'a>(
    candidates: &'a mut BTreeMap<String, Candidate>,
    key: &str,
    from_seq: Option<i64>,
) -> &'a mut Candidate {
    let entry = candidates
        .entry(key.to_owned())
        .or_insert_with(|| Candidate {
            key: key.to_owned(),
            from_seq,
            resync: Vec::new(),
            resync_requests: Vec::new(),
            resync_at: None,
            failed_before: 0,
            held_row: false,
        });
    entry.from_seq = match (entry.from_seq, from_seq) {
        (Some(held), Some(new)) => Some(held.min(new)),
        (held, new) => held.or(new),
    };
    entry
}

/// The history position a candidate's history is read after: a failed send's own,
/// else the scan's, but never before what the issue's last message read.
fn read_from(candidate: &Candidate, state: &IssueSyncState) -> i64 {
    match candidate.from_seq {
        Some(from) if candidate.held_row => from,
        Some(from) => from.max(state.history_to),
        None => state.history_to,
    }
}

fn build_message(
    sync: &SyncRuntime,
    source: Side,
    candidate: &Candidate,
    upper: i64,
    pass: &Pass<'_>,
) -> Outcome {
    match try_build_message(sync, source, candidate, upper, pass) {
        Ok(outcome) => outcome,
        Err(error) if error.is_unavailable() => Outcome::Unavailable(error),
        Err(error) => {
            // Nothing was read: the next attempt reads from where this one would have.
            let state = sync
                .side(source)
                .ledger()
                .sync_state(&sync.id, &candidate.key)
                .ok()
                .flatten()
                .unwrap_or_default();
            let from = read_from(candidate, &state);
            Outcome::Failed {
                failure: Failure::new(error.to_string()),
                read_from: from,
                tried_to: if upper == i64::MAX { from } else { upper },
            }
        }
    }
}

fn try_build_message(
    sync: &SyncRuntime,
    source: Side,
    candidate: &Candidate,
    upper: i64,
    pass: &Pass<'_>,
) -> Result<Outcome, StoreError> {
    let side = sync.side(source);
    let (tracker, ledger) = (side.tracker(), side.ledger());
    let Some(mut issue) = tracker.get(&candidate.key)? else {
        return Ok(Outcome::Nothing);
    };
    if !sync.syncs_issue_type(&issue.issue_type) {
        return Ok(Outcome::Nothing);
    }
    let state = ledger.sync_state(&sync.id, &issue.key)?.unwrap_or_default();
    let is_new = state.last_sent_seq == 0 && state.partner.is_none();
    let from_seq = read_from(candidate, &state);
    let read = tracker.history_since(&issue.key, from_seq)?;
    let read_to = read
        .iter()
        .map(|entry| entry.seq)
        .filter(|seq| *seq <= upper)
        .fold(from_seq, i64::max);
    // The message covers the history up to `upper`: it carries the values as of there.
    // (An edit made after the scan is sent with the next round, with its own time.)
    rewind_to(&mut issue, &read, upper);
    let history = changes_to_send(sync, source, &issue.key, is_new, from_seq, read, upper)?;
    // Nothing to send, and no progress to record when the read got no further than
    // the last one (an idle round writes nothing).
    let nothing_new = |read_to: i64| {
        if read_to > state.history_to {
            Outcome::NothingNew { read_to }
        } else {
            Outcome::Nothing
        }
    };
    if is_new && history.is_empty() && candidate.resync.is_empty() {
        return Ok(nothing_new(read_to));
    }
    let changes = field_changes(&history);

    let info = IssueInfo {
        key: issue.key.clone(),
        project: issue.project.clone(),
        issue_type: issue.issue_type.clone(),
    };
    let mut entries = BTreeMap::new();
    let mut mappings_called = 0;
    for relationship in &sync.relationships {
        if !relationship.direction.flows_from(source) || !relationship.applies_to(&issue.issue_type)
        {
            continue;
        }
        let end = relationship.end(source);
        let Some(mapping) = &end.outgoing else {
            continue;
        };
        let (trigger, changed_at) = if is_new {
            // On a project other synchronizations send from, the partner may exist
            // already (it is adopted, see the incoming queue): the values then compete
            // by the time of their last change like any others.
            let changed = side
                .shared
                .then(|| changes.get(end.field.as_str()).map(|change| change.time))
                .flatten();
            (Trigger::NewIssue, changed)
        } else if candidate.resync.contains(&relationship.id) {
            // The value is sent as a change made when the resync was asked for: it
            // wins over the partner's earlier edits and loses to later ones, on both
            // sides alike.
            // (An edit since then counts from its own, later time.)
            let edited = changes.get(end.field.as_str()).map(|change| change.time);
            (Trigger::Resync, candidate.resync_at.max(edited))
        } else if let Some(change) = changes.get(end.field.as_str()) {
            (
                Trigger::Changed {
                    old: change.old.clone(),
                    new: change.new.clone(),
                },
                Some(change.time),
            )
        } else if let Some(read_change) = latest_change(&changes, &mapping.reads) {
            // Only a field the mapping reads changed: its own value did not, and the
            // message carries the time of that change.
            let own = issue.value(&end.field).clone();
            (
                Trigger::Changed {
                    old: own.clone(),
                    new: own,
                },
                Some(read_change),
            )
        } else {
            continue;
        };
        let context = OutgoingContext::new(
            &info,
            &end.field,
            issue.value(&end.field),
            &trigger,
            &issue.fields,
        );
        mappings_called += 1;
        let site = CallSite {
            issue_key: &issue.key,
            relationship,
            mapping: &mapping.identity,
        };
        match pass.watch.call(site, || mapping.mapping.export(&context)) {
            Ok(data) => {
                let origin = changes
                    .get(end.field.as_str())
                    .and_then(|change| change.origin.map(str::to_owned));
                entries.insert(
                    relationship.id.clone(),
                    Entry {
                        data,
                        changed_at,
                        origin,
                    },
                );
            }
            Err(error) => {
                return Ok(Outcome::Failed {
                    failure: Failure {
                        error: format!("{}: {error}", relationship.describe(source)),
                        context: Box::new(FailureContext {
                            target_key: state.partner.clone(),
                            relationship: Some(relationship.id.clone()),
                            field: Some(end.field.clone()),
                            mapping: Some(mapping.identity.id.clone()),
                            plugin: Some(mapping.identity.plugin.clone()),
                            data: Some(shortened(issue.value(&end.field))),
                        }),
                        cause: FailureCause::Mapping,
                    },
                    read_from: from_seq,
                    tried_to: if upper == i64::MAX { read_to } else { upper },
                })
            }
        }
    }
    if entries.is_empty() {
        return Ok(nothing_new(read_to));
    }
    // An issue another synchronization created here stands for the one it came from:
    // the partner side may have a partner of that one already (a triangle).
    let origin = if is_new && side.shared {
        ledger.issue_origin(&issue.key)?
    } else {
        None
    };
    let seq = state.last_sent_seq + 1;
    let partner_messages_applied = match &state.partner {
        Some(partner) => ledger.applied_seq(&sync.id, partner)?,
        None => 0,
    };
    Ok(Outcome::Message {
        message: Box::new(IssueSyncMessage {
            id: IssueSyncMessage::make_id(&sync.id, &issue.key, seq),
            sync_id: sync.id.clone(),
            source_side: source,
            source_key: issue.key,
            issue_type: issue.issue_type,
            seq,
            is_new,
            entries,
            // With a global bound, everything up to it was read (the SQLite model's
            // exact position); otherwise as far as this issue's history was read.
            covers_history_to: if upper == i64::MAX { read_to } else { upper },
            source_has_partner: state.partner.is_some(),
            partner_messages_applied,
            sent_at: Timestamp::now(),
            origin,
        }),
        mappings_called,
    })
}

/// Borrowed from the history read: most spans are only asked when they changed.
struct FieldChangeSpan<'a> {
    old: &'a Value,
    new: &'a Value,
    time: Timestamp,
    /// The project the last change was first made in, when passed on.
    origin: Option<&'a str>,
}

/// Sets the fields of `issue` (read now) back to their values at history position
/// `upper`, undoing the changes of `read` made after it, newest first.
fn rewind_to(issue: &mut Issue, read: &[HistoryEntry], upper: i64) {
    for entry in read.iter().rev().filter(|entry| entry.seq > upper) {
        if entry.field == CREATED_FIELD {
            continue;
        }
        if entry.old.is_null() {
            issue.fields.remove(&entry.field);
        } else {
            issue.fields.insert(entry.field.clone(), entry.old.clone());
        }
    }
}

/// A change read from the history, with when and where it was first made.
struct ChangeToSend {
    entry: HistoryEntry,
    /// When it was first made (for a change passed on, in its own project).
    time: Timestamp,
    /// The project it was first made in, when another synchronization wrote it here.
    origin: Option<String>,
}

/// The changes of `key`'s history (read after `from_seq`, up to `upper`) that this
/// synchronization sends. The sync's own writes are never sent back: that is what
/// stops ping-pong. Where other synchronizations also write to the project, the
/// record of each write tells whose it is: another synchronization's write is passed
/// on (with the time and project of the first edit) unless it came from the project
/// it would go to.
fn changes_to_send(
    sync: &SyncRuntime,
    source: Side,
    key: &str,
    is_new: bool,
    from_seq: i64,
    read: Vec<HistoryEntry>,
    upper: i64,
) -> Result<Vec<ChangeToSend>, StoreError> {
    let side = sync.side(source);
    let written: BTreeMap<(i64, String), crate::store::Written> = if side.shared {
        side.ledger()
            .written_since(key, from_seq)?
            .into_iter()
            .map(|written| ((written.seq, written.field.clone()), written))
            .collect()
    } else {
        BTreeMap::new()
    };
    let destination = sync.side(source.other()).origin_id();
    let mut changes = Vec::new();
    for entry in read.into_iter().filter(|entry| entry.seq <= upper) {
        let (time, origin) = match written.get(&(entry.seq, entry.field.clone())) {
            Some(written) if written.sync_id == sync.id => continue,
            Some(written) if written.origin == destination => continue,
            Some(written) => (written.origin_at, Some(written.origin.clone())),
            // Unrecorded writes of the sync user: this synchronization's own, except
            // in an issue it never sent, which another synchronization made.
            None if entry.author == sync.sync_user && !(side.shared && is_new) => continue,
            None => (entry.time, None),
        };
        changes.push(ChangeToSend {
            entry,
            time,
            origin,
        });
    }
    Ok(changes)
}

/// When the latest change among `fields` was made, if any of them changed.
fn latest_change(
    changes: &BTreeMap<&str, FieldChangeSpan<'_>>,
    fields: &[String],
) -> Option<Timestamp> {
    fields
        .iter()
        .filter_map(|field| changes.get(field.as_str()))
        .map(|span| span.time)
        .max()
}

/// Per field: the value before the first change and after the last, and when and
/// where the last was first made.
fn field_changes(history: &[ChangeToSend]) -> BTreeMap<&str, FieldChangeSpan<'_>> {
    let mut changes: BTreeMap<&str, FieldChangeSpan<'_>> = BTreeMap::new();
    for change in history {
        let entry = &change.entry;
        changes
            .entry(entry.field.as_str())
            .and_modify(|span| {
                span.new = &entry.new;
                span.time = change.time;
                span.origin = change.origin.as_deref();
            })
            .or_insert_with(|| FieldChangeSpan {
                old: &entry.old,
                new: &entry.new,
                time: change.time,
                origin: change.origin.as_deref(),
            });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(seq: i64, field: &str, old: Value, new: Value) -> HistoryEntry {
        HistoryEntry {
            seq,
            issue_key: "A-1".into(),
            time: Timestamp(seq),
            author: "person".into(),
            field: field.into(),
            old,
            new,
        }
    }

    #[test]
    fn a_message_carries_the_values_as_of_the_history_it_covers() {
        // Read now: title "c" (changed at 5 and 7, after the scan's bound 4), note
        // set at 6, summary unchanged since 3.
        let mut issue = Issue {
            key: "A-1".into(),
            project: "A".into(),
            issue_type: "Task".into(),
            fields: [
                ("title".to_owned(), json!("c")),
                ("note".to_owned(), json!("n")),
                ("summary".to_owned(), json!("s")),
            ]
            .into(),
            created: Timestamp(1),
            updated: Timestamp(7),
        };
        let read = [
            entry(3, "summary", Value::Null, json!("s")),
            entry(4, "title", Value::Null, json!("a")),
            entry(5, "title", json!("a"), json!("b")),
            entry(6, "note", Value::Null, json!("n")),
            entry(7, "title", json!("b"), json!("c")),
        ];
        rewind_to(&mut issue, &read, 4);
        assert_eq!(issue.value("title"), &json!("a"));
        assert_eq!(issue.value("note"), &Value::Null);
        assert!(
            !issue.fields.contains_key("note"),
            "empty, as before it was set"
        );
        assert_eq!(issue.value("summary"), &json!("s"));
    }
}
