//! The incoming queue of one side: messages from the partner → created and updated
//! issues.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use fieldsync_plugin_api::{
    FieldUpdate, IncomingContext, IncomingFieldMapping, IssueFields, IssueInfo, TargetIssue,
};
use serde_json::Value;

use super::pool::map_parallel;
use super::report::{
    AppliedIssue, DirectionReport, FailedSubject, FieldChange, IssueFailure, NextAttempt,
};
use super::watch::CallSite;
use super::{BuiltMapping, Pass, RelationshipRuntime, SyncRuntime};
use crate::config::FlowDirection;
use crate::message::{Entry, IssueSyncMessage, Side};
use crate::model::{project_of_key, same_value, HistoryEntry, Issue, NewIssue, Timestamp};
use crate::store::{
    shortened, AppliedStep, ApplyStep, ApplyTarget, ConflictGuard, Due, FailedStep, Failure,
    FailureCause, FailureContext, FieldWrite, PendingMessage, StoreError, SyncLedger, WriteOrigins,
    Written, CREATED_FIELD,
};

/// What happened to the messages of one source issue.
#[derive(Default)]
struct GroupOutcome {
    /// The source issue.
    source_key: String,
    /// Every message of the group went through (else later ones wait behind it).
    all_delivered: bool,
    applied: Vec<AppliedIssue>,
    duplicates: usize,
    mappings_called: usize,
    failure: Option<IssueFailure>,
    /// The tracker or a store did not answer: the round's failure.
    unavailable: Option<String>,
    /// Outbox rows to mark delivered.
    delivered: Vec<i64>,
    /// Links the source records once for the chunk (see [`SourceLinks`]).
    links: Vec<(String, String)>,
}

/// Links of source issues to the partners made for them. Where the chunk has a write
/// group on the source, they are recorded once for the whole chunk before the group
/// ends (nothing reads them sooner, and they commit with the group as before);
/// otherwise at once.
enum SourceLinks {
    Now,
    ForTheChunk(Vec<(String, String)>),
}

impl SourceLinks {
    fn record(
        &mut self,
        sync: &SyncRuntime,
        source: Side,
        source_key: &str,
        partner_key: &str,
    ) -> Result<(), StoreError> {
        match self {
            SourceLinks::Now => {
                sync.side(source)
                    .ledger()
                    .record_link(&sync.id, source_key, partner_key)
            }
            SourceLinks::ForTheChunk(links) => {
                links.push((source_key.to_owned(), partner_key.to_owned()));
                Ok(())
            }
        }
    }
}

/// Messages read from the outbox at a time: a queue of any length (the initial sync
/// of a large project) is applied without holding it in memory.
const PAGE_MESSAGES: usize = 2_000;

/// Applies the pending messages sent from `source` to the other side.
pub(super) fn run(sync: &SyncRuntime, source: Side, pass: &Pass<'_>, report: &mut DirectionReport) {
    // Issues whose earlier message did not go through this round: their later
    // messages, on later pages too, wait behind it.
    let mut held: HashSet<String> = HashSet::new();
    let mut after_row = 0;
    loop {
        let page = match sync.side(source).ledger().pending_messages(
            &sync.id,
            source,
            after_row,
            PAGE_MESSAGES,
        ) {
            Ok(page) => page,
            Err(error) => {
                report.failures.push(IssueFailure::of_queue(
                    FailedStep::Apply,
                    &sync.side(source).project.key,
                    error.to_string(),
                ));
                return;
            }
        };
        let Some(last) = page.last() else { return };
        after_row = last.row;
        let full_page = page.len() == PAGE_MESSAGES;
        let finished = apply_page(sync, source, page, &mut held, pass, report);
        if !finished || !full_page {
            return;
        }
    }
}

/// Applies one page of the queue; false when the round stops here (asked to stop,
/// or the target does not answer).
fn apply_page(
    sync: &SyncRuntime,
    source: Side,
    page: Vec<PendingMessage>,
    held: &mut HashSet<String>,
    pass: &Pass<'_>,
    report: &mut DirectionReport,
) -> bool {
    // One group per source issue, in the order of its first message: groups run in
    // parallel, the messages of a group strictly in order.
    let mut groups: Vec<Vec<PendingMessage>> = Vec::new();
    let mut group_of: BTreeMap<String, usize> = BTreeMap::new();
    for message in page {
        if held.contains(&message.source_key) {
            continue;
        }
        let index = *group_of
            .entry(message.source_key.clone())
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[index].push(message);
    }
    // A group whose first message failed before waits for its retry time, or for a
    // person when it is parked; the messages behind it wait with it.
    groups.retain(|group| {
        let head = &group[0];
        let waits = match head.due {
            Due::Parked => {
                report.parked += 1;
                true
            }
            Due::At(at) if at > pass.now => {
                report.waiting_for_retry += 1;
                true
            }
            Due::At(_) | Due::Now => false,
        };
        if waits {
            held.insert(head.source_key.clone());
        }
        !waits
    });
    // Once the target does not answer, the groups still waiting do not try: each
    // would only wait out its own retries (a round must stay short while a tracker
    // is down for an hour).
    let target_down = AtomicBool::new(false);
    let queued: usize = groups.iter().map(Vec::len).sum();
    pass.progress
        .messages_queued
        .fetch_add(queued, Ordering::Relaxed);
    let mut delivered = Vec::new();
    for chunk in chunks(groups, write_group_size(sync, source)) {
        if target_down.load(Ordering::SeqCst) || pass.stop.load(Ordering::SeqCst) {
            break;
        }
        let outcomes = match apply_chunk(sync, source, &chunk, pass, &target_down) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                // Nothing of the chunk was stored: it comes again next round.
                target_down.store(true, Ordering::SeqCst);
                report.unavailable.get_or_insert(error.to_string());
                break;
            }
        };
        for outcome in outcomes {
            if !outcome.all_delivered {
                held.insert(outcome.source_key);
            }
            for applied in outcome.applied {
                report.record_applied(applied);
            }
            report.duplicates_skipped += outcome.duplicates;
            report.mappings_called += outcome.mappings_called;
            report.failures.extend(outcome.failure);
            if report.unavailable.is_none() {
                report.unavailable = outcome.unavailable;
            }
            delivered.extend(outcome.delivered);
        }
    }
    // One write for the page's marks; should it be lost, the messages come again and
    // are skipped by their applied sequence numbers.
    if let Err(error) = sync.side(source).ledger().messages_delivered(&delivered) {
        log::warn!("{error} (marking messages delivered; they will be skipped when seen again)");
    }
    !target_down.load(Ordering::SeqCst) && !pass.stop.load(Ordering::SeqCst)
}

/// Messages applied in one write group where the target applies atomically: a
/// thousand small transactions cost one commit. Bounded so that other writers of the
/// store (a person's edit, `fieldsync errors retry`) wait briefly at most.
const WRITE_GROUP_MESSAGES: usize = 500;

/// How many messages go into one write group: where the target is a remote tracker,
/// its writes cannot be grouped (and a ledger transaction must not wait on its
/// requests), so every message is written by itself.
fn write_group_size(sync: &SyncRuntime, source: Side) -> usize {
    match sync.side(source.other()).stores.atomic {
        Some(_) => WRITE_GROUP_MESSAGES,
        None => usize::MAX,
    }
}

/// The groups of messages cut into chunks of about `size` messages, a source issue's
/// messages always in one chunk (they are applied in order by one worker).
fn chunks(groups: Vec<Vec<PendingMessage>>, size: usize) -> Vec<Vec<Vec<PendingMessage>>> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<Vec<PendingMessage>> = Vec::new();
    let mut messages = 0;
    for group in groups {
        messages += group.len();
        chunk.push(group);
        if messages >= size {
            chunks.push(std::mem::take(&mut chunk));
            messages = 0;
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// Applies a chunk of messages in one write group per store. The target's group is
/// fast first (no savepoint per step); should a step fail in it, nothing of the chunk
/// was stored, and the chunk is applied again in a careful group, where the failing
/// step is undone alone and recorded as that message's failure. Mappings are called
/// again then, as for any retry (they answer the same for the same input).
fn apply_chunk(
    sync: &SyncRuntime,
    source: Side,
    chunk: &[Vec<PendingMessage>],
    pass: &Pass<'_>,
    target_down: &AtomicBool,
) -> Result<Vec<GroupOutcome>, StoreError> {
    let workers = pass.workers.for_side(&sync.side(source.other()).stores);
    let handled_before = pass.progress.messages_handled.load(Ordering::Relaxed);
    let mut mode = GroupMode::Fast;
    loop {
        let groups = WriteGroups::begin(sync, source, chunk.len() > 1, mode)?;
        let links_for_the_chunk = groups.source.is_some();
        let mut outcomes = map_parallel(chunk.iter().collect(), workers, |group| {
            apply_group(sync, source, group, pass, target_down, links_for_the_chunk)
        });
        let links: Vec<(String, String)> = outcomes
            .iter_mut()
            .flat_map(|outcome| std::mem::take(&mut outcome.links))
            .collect();
        if let Err(error) = sync.side(source).ledger().record_links(&sync.id, &links) {
            // As if the round had stopped between the two commits: the next round's
            // duplicate check writes them again (see `heal_link`).
            log::warn!("{error} (recording the links of the partners just made)");
        }
        match groups.end() {
            Err(StoreError::GroupUndone { store }) if mode == GroupMode::Fast => {
                log::debug!("{store}: a step failed in a fast write group; applying its messages again step by step");
                // The first try's failures (and the stop they caused) were dropped with it.
                target_down.store(false, Ordering::SeqCst);
                pass.progress
                    .messages_handled
                    .store(handled_before, Ordering::Relaxed);
                mode = GroupMode::Careful;
            }
            ended => return ended.map(|()| outcomes),
        }
    }
}

/// Whether a chunk's write group on the target has a savepoint per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupMode {
    Fast,
    Careful,
}

/// The write groups of a chunk on the target (its issues, applied steps) and the
/// source (links, failures). Ended target first: a crash between the two commits
/// leaves applied messages whose links the source lacks, which the next round's
/// duplicate check writes again (see `heal_link`); never a link to nothing.
struct WriteGroups<'a> {
    target: Option<&'a dyn SyncLedger>,
    source: Option<&'a dyn SyncLedger>,
}

impl<'a> WriteGroups<'a> {
    fn begin(
        sync: &'a SyncRuntime,
        source: Side,
        wanted: bool,
        mode: GroupMode,
    ) -> Result<Self, StoreError> {
        let mut groups = WriteGroups {
            target: None,
            source: None,
        };
        if !wanted || sync.side(source.other()).stores.atomic.is_none() {
            return Ok(groups);
        }
        let target = sync.side(source.other()).ledger();
        match mode {
            GroupMode::Fast => target.begin_fast_group()?,
            GroupMode::Careful => target.begin_group()?,
        }
        groups.target = Some(target);
        let source = sync.side(source).ledger();
        if let Err(error) = source.begin_group() {
            let _ = target.end_group(false);
            return Err(error);
        }
        groups.source = Some(source);
        Ok(groups)
    }

    fn end(self) -> Result<(), StoreError> {
        let target = self.target.map_or(Ok(()), |target| target.end_group(true));
        if self.source.is_some() {
            crate::failpoint::hit("between-group-commits");
        }
        let source = self
            .source
            .map_or(Ok(()), |source| source.end_group(target.is_ok()));
        target.and(source)
    }
}

fn apply_group(
    sync: &SyncRuntime,
    source: Side,
    group: &[PendingMessage],
    pass: &Pass<'_>,
    target_down: &AtomicBool,
    links_for_the_chunk: bool,
) -> GroupOutcome {
    let source_ledger = sync.side(source).ledger();
    let mut links = if links_for_the_chunk {
        SourceLinks::ForTheChunk(Vec::new())
    } else {
        SourceLinks::Now
    };
    let target_ledger = sync.side(source.other()).ledger();
    let messages = group.len();
    let mut outcome = GroupOutcome {
        source_key: group[0].source_key.clone(),
        ..GroupOutcome::default()
    };
    for pending in group {
        if pass.stop.load(Ordering::SeqCst) || target_down.load(Ordering::SeqCst) {
            break;
        }
        let message = pending.message.as_ref().map_err(|error| Failure {
            error: error.clone(),
            // Retrying cannot mend a damaged row; a person can skip it.
            cause: FailureCause::DamagedMessage,
            ..Failure::default()
        });
        pass.progress
            .messages_handled
            .fetch_add(1, Ordering::Relaxed);
        let result = message.and_then(|message| {
            if !checked_by_apply(sync, source, message) {
                let applied_seq = target_ledger
                    .applied_seq(&sync.id, &message.source_key)
                    .map_err(|error| Failure::of_store(&error, ""))?;
                if message.seq <= applied_seq {
                    heal_link(sync, source, message)
                        .map_err(|error| Failure::of_store(&error, ""))?;
                    return Ok(None);
                }
            }
            apply_message(
                sync,
                source,
                message,
                pass,
                &mut outcome.mappings_called,
                &mut links,
            )
        });
        match result {
            Ok(applied) => {
                match applied {
                    Some(applied) => outcome.applied.push(applied),
                    None => outcome.duplicates += 1,
                }
                outcome.delivered.push(pending.row);
            }
            Err(failure) if failure.cause == FailureCause::Unavailable => {
                // Not this issue's fault: no attempt is counted and the message stays
                // due; the rest of the group waits for the tracker with it.
                target_down.store(true, Ordering::SeqCst);
                outcome.unavailable = Some(failure.error);
                break;
            }
            Err(failure) => {
                let attempts = pending.attempts + 1;
                let next_attempt_at = pass.next_attempt(attempts, failure.cause);
                if let Err(store_error) = source_ledger.message_failed(
                    pending.row,
                    &failure,
                    attempts,
                    Due::retry_at(next_attempt_at),
                ) {
                    log::error!("{store_error} (while recording: {})", failure.error);
                }
                outcome.failure = Some(IssueFailure {
                    step: FailedStep::Apply,
                    subject: FailedSubject::Issue {
                        key: pending.source_key.clone(),
                    },
                    error: failure.error,
                    next: NextAttempt::after(attempts, next_attempt_at),
                });
                // Later messages of this issue wait behind the failed one.
                break;
            }
        }
    }
    outcome.all_delivered = outcome.delivered.len() == messages;
    if let SourceLinks::ForTheChunk(links) = links {
        outcome.links = links;
    }
    outcome
}

/// Whether the message's partner and applied sequence number are left to the atomic
/// apply, which checks both inside its transaction anyway: for a new issue's message
/// (its partner almost never exists yet) to a store no other synchronization writes
/// to (where an issue standing for the same one is looked for first). An existing
/// partner is then found by the create step, a message applied before by either step.
fn checked_by_apply(sync: &SyncRuntime, source: Side, message: &IssueSyncMessage) -> bool {
    let target_side = sync.side(source.other());
    message.is_new && target_side.stores.atomic.is_some() && !target_side.shared
}

/// A message applied before whose source may lack the link to its partner: the
/// source's write can be lost after the target's was stored (a crash between the two
/// commits of a write group). Without the link the source would take the partner's
/// next message for a new issue and create a duplicate.
fn heal_link(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
) -> Result<(), StoreError> {
    if message.source_has_partner {
        return Ok(());
    }
    let partner = sync
        .side(source.other())
        .ledger()
        .local_partner(&sync.id, &message.source_key)?;
    match partner {
        Some(key) => sync
            .side(source)
            .ledger()
            .record_link(&sync.id, &message.source_key, &key),
        None => Ok(()),
    }
}

/// One message being applied: what its steps share.
struct Applying<'a> {
    sync: &'a SyncRuntime,
    source: Side,
    message: &'a IssueSyncMessage,
    pass: &'a Pass<'a>,
    entries: Vec<(&'a RelationshipRuntime, &'a Entry)>,
}

impl Applying<'_> {
    fn target(&self) -> Side {
        self.source.other()
    }

    fn call<'b>(
        &'b self,
        relationship: &'b RelationshipRuntime,
        mapping: &'b BuiltMapping<dyn IncomingFieldMapping>,
        target_key: Option<&'b str>,
    ) -> MappingCall<'b> {
        MappingCall {
            sync: self.sync,
            source: self.source,
            pass: self.pass,
            relationship,
            mapping,
            source_key: &self.message.source_key,
            target_key,
        }
    }
}

/// Applies one message: finds or creates the partner, then writes what differs.
fn apply_message(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
    pass: &Pass<'_>,
    mappings_called: &mut usize,
    links: &mut SourceLinks,
) -> Result<Option<AppliedIssue>, Failure> {
    let applying = Applying {
        sync,
        source,
        message,
        pass,
        entries: relationships_of(sync, source, message)?,
    };
    let target_side = sync.side(source.other());
    let store_error = |error: StoreError| Failure::of_store(&error, "");

    let mut changes = Vec::new();
    let mut on_create = BTreeSet::new();
    let origins = target_side
        .shared
        .then(|| write_origins(&applying, message));
    let partner = if checked_by_apply(sync, source, message) {
        None
    } else {
        match target_side
            .ledger()
            .local_partner(&sync.id, &message.source_key)
            .map_err(store_error)?
        {
            Some(key) => Some(key),
            None => match &origins {
                Some(origins) => adopt_partner(&applying, &origins.issue).map_err(store_error)?,
                None => None,
            },
        }
    };
    let (key, created, created_issue) = match partner {
        Some(key) => (key, false, None),
        None => {
            let issue_type = target_side
                .issue_type_map
                .get(&message.issue_type)
                .unwrap_or(&message.issue_type)
                .clone();
            let writes = creation_writes(&applying, &issue_type, &mut on_create, mappings_called)?;
            let step = create_partner(sync, source, message, issue_type, writes, origins.as_ref())?;
            if step.already_applied {
                // Applied by another run meanwhile (or, when not read first, before):
                // its link may be missing on the source.
                heal_link(sync, source, message).map_err(store_error)?;
                return Ok(None);
            }
            if !step.created {
                // Found, made by an attempt that died before recording it: which of its
                // values that attempt wrote is unknown, so every relationship is
                // written as to an existing partner (only what differs).
                on_create.clear();
            }
            links
                .record(sync, source, &message.source_key, &step.key)
                .map_err(store_error)?;
            collect(&mut changes, step.changes);
            (step.key, step.created, step.issue)
        }
    };

    // A partner just created with every value this message carries needs no read
    // back, only the record that the message is applied.
    let nothing_left = applying.entries.iter().all(|(relationship, _)| {
        on_create.contains(relationship.id.as_str())
            || relationship.end(applying.target()).incoming.is_none()
    });
    if created && nothing_left {
        record_applied_only(sync, source, message, &key, origins.as_ref()).map_err(store_error)?;
        return Ok(Some(AppliedIssue {
            source_key: message.source_key.clone(),
            target_key: key,
            created,
            changes,
            kept_newer: Vec::new(),
        }));
    }

    // An issue the store handed back as it created it is not read again.
    let issue = match created_issue {
        Some(issue) => Some(issue),
        None => target_side.tracker().get(&key).map_err(store_error)?,
    };
    let issue = issue.ok_or_else(|| {
        Failure::new(format!(
            "{}: partner issue `{key}` no longer exists",
            target_side.tracker().location()
        ))
    })?;
    let unseen = Unseen {
        history_after: unseen_after(&applying, &key).map_err(store_error)?,
        // What the target sent that the source had not seen: a resync of the target
        // is a change with no history of its own. (A partner this message just
        // created has sent nothing.)
        sent: if created {
            Default::default()
        } else {
            target_side
                .ledger()
                .sent_after(&sync.id, &key, message.partner_messages_applied)
                .map_err(store_error)?
        },
    };
    let writes = update_writes(&applying, &issue, &on_create, &unseen, mappings_called)?;
    let step = update_partner(sync, source, message, &issue, writes, origins.as_ref()).map_err(
        |error| {
            let mut failure = Failure::of_store(&error, format_args!("updating {key}: "));
            failure.context = Box::new(FailureContext {
                target_key: Some(key.clone()),
                ..FailureContext::default()
            });
            failure
        },
    )?;
    if step.already_applied {
        return Ok(None);
    }
    collect(&mut changes, step.changes);

    if !created && !message.source_has_partner {
        // The link written after creation may have been lost (a crash, a busy store):
        // without it the source would take the next message from this issue for a
        // new one and create a duplicate.
        links
            .record(sync, source, &message.source_key, &key)
            .map_err(store_error)?;
    }
    Ok(Some(AppliedIssue {
        source_key: message.source_key.clone(),
        target_key: key,
        created,
        changes,
        kept_newer: step.kept_newer,
    }))
}

/// The values of a new partner, and (in `on_create`) the relationships they come
/// from. A tracker that applies atomically has create screens and runs custom
/// mappings after creation, like Backbone's; a remote tracker takes every mapped field
/// in the creating request (required fields included).
fn creation_writes<'a>(
    applying: &Applying<'a>,
    issue_type: &str,
    on_create: &mut BTreeSet<&'a str>,
    mappings_called: &mut usize,
) -> Result<Vec<FieldWrite>, Failure> {
    let target_side = applying.sync.side(applying.target());
    let screen = target_side.project.create_screen(issue_type);
    let atomic = target_side.stores.atomic.is_some();
    let mut writes = Vec::new();
    for (relationship, entry) in &applying.entries {
        let end = relationship.end(applying.target());
        let Some(mapping) = &end.incoming else {
            continue;
        };
        if !screen.contains(&end.field) || (atomic && !mapping.identity.builtin) {
            continue;
        }
        on_create.insert(relationship.id.as_str());
        *mappings_called += 1;
        let context = IncomingContext::new(None, &end.field, &entry.data);
        if let Some(value) = applying
            .call(relationship, mapping, None)
            .import(&context)?
        {
            writes.push(FieldWrite {
                field: end.field.clone(),
                value,
                guard: None,
            });
        }
    }
    Ok(writes)
}

/// The history position of the target issue after which its changes had not reached
/// the source when it built the message: only they compete with it.
fn unseen_after(applying: &Applying<'_>, key: &str) -> Result<i64, StoreError> {
    let target_side = applying.sync.side(applying.target());
    let seen = applying.message.partner_messages_applied;
    if seen == 0 {
        return Ok(0);
    }
    Ok(
        match target_side
            .ledger()
            .message_covers(&applying.sync.id, key, seen)?
        {
            Some(position) => position,
            None => {
                log::warn!(
                    "{}: no record of message {seen} of {key}; every change on {key} \
                     competes with {} by time alone",
                    target_side.tracker().location(),
                    applying.message.id
                );
                0
            }
        },
    )
}

/// The values to write into an existing partner: every relationship not set while
/// creating it, mapped, where it differs, with the conflict guard of `both`
/// relationships.
/// What of the target's own changes the source had not seen when it built the
/// message: those compete with the message's changes.
struct Unseen {
    /// History positions after this one.
    history_after: i64,
    /// Per relationship, the newest change time of the target's own messages.
    sent: BTreeMap<String, Timestamp>,
}

fn update_writes(
    applying: &Applying<'_>,
    issue: &Issue,
    on_create: &BTreeSet<&str>,
    unseen: &Unseen,
    mappings_called: &mut usize,
) -> Result<Vec<FieldWrite>, Failure> {
    let (sync, message) = (applying.sync, applying.message);
    let info = IssueInfo {
        key: issue.key.clone(),
        project: issue.project.clone(),
        issue_type: issue.issue_type.clone(),
    };
    let fields: &dyn IssueFields = &issue.fields;
    // A target value that this relationship never sends back must not be kept, or
    // the two sides would stay apart.
    let flows_back = |relationship: &RelationshipRuntime| {
        sync.syncs_issue_type(&issue.issue_type) && relationship.applies_to(&issue.issue_type)
    };
    let mut writes = Vec::new();
    for (relationship, entry) in &applying.entries {
        if on_create.contains(relationship.id.as_str()) {
            continue;
        }
        let end = relationship.end(applying.target());
        let Some(mapping) = &end.incoming else {
            continue;
        };
        *mappings_called += 1;
        let context = IncomingContext::new(
            Some(TargetIssue {
                info: &info,
                fields,
            }),
            &end.field,
            &entry.data,
        );
        let Some(value) = applying
            .call(relationship, mapping, Some(&issue.key))
            .import(&context)?
        else {
            continue;
        };
        // An empty field of a new issue is "not set", not "cleared": a partner
        // created by an earlier attempt keeps the defaults its tracker gave it
        // (Redmine cannot clear a priority).
        if same_value(issue.value(&end.field), &value) || (message.is_new && value.is_null()) {
            touch_if_newer(applying, issue, &end.field, entry)?;
            continue;
        }
        let guard = match (relationship.direction, entry.changed_at) {
            (FlowDirection::Both, Some(changed_at)) if flows_back(relationship) => {
                Some(ConflictGuard {
                    changed_at,
                    source_wins_ties: applying.source == Side::A,
                    target_changes_after: unseen.history_after,
                    target_sent_at: unseen.sent.get(&relationship.id).copied(),
                })
            }
            _ => None,
        };
        writes.push(FieldWrite {
            field: end.field.clone(),
            value,
            guard,
        });
    }
    Ok(writes)
}

/// Creates the partner of the message's source issue with `writes`, and links it.
///
/// Atomically where the tracker shares the ledger's transaction. Elsewhere the
/// creating request carries the source key in the tracker's correlation field, and is
/// preceded by a look-up of that key: a crash between the creation and the link
/// finds the issue made before instead of making a second one.
fn create_partner(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
    issue_type: String,
    writes: Vec<FieldWrite>,
    origins: Option<&WriteOrigins>,
) -> Result<AppliedStep, Failure> {
    let target_side = sync.side(source.other());
    let creating = |error: StoreError| {
        Failure::of_store(
            &error,
            format_args!("creating the partner of {}: ", message.source_key),
        )
    };
    if let Some(atomic) = &target_side.stores.atomic {
        return atomic
            .apply(&ApplyStep {
                sync_id: &sync.id,
                source_key: &message.source_key,
                seq: message.seq,
                target: ApplyTarget::Create {
                    project: target_side.project.key.clone(),
                    issue_type,
                },
                writes,
                author: &sync.sync_user,
                completes_message: false,
                origins,
            })
            .map_err(creating);
    }
    let tracker = target_side.tracker();
    let correlation = correlation_key(sync, message);
    let found = tracker
        .find_correlated(&target_side.project.key, &correlation)
        .map_err(creating)?;
    let link = |key: &str| {
        target_side
            .ledger()
            .record_applied(&sync.id, key, &message.source_key, None)
            .map_err(creating)
    };
    let (key, created, changes) = match found {
        Some(key) => {
            log::info!(
                "{}: {key} was created for {} before (found by its correlation field); \
                 linking it instead of creating another",
                tracker.location(),
                message.source_key
            );
            link(&key)?;
            (key, false, Vec::new())
        }
        None => {
            // A new issue is empty already; a tracker may not take an empty value for
            // a field it requires (Redmine's status), and uses its default then.
            let fields: BTreeMap<String, Value> = writes
                .into_iter()
                .filter(|write| !write.value.is_null())
                .map(|write| (write.field, write.value))
                .collect();
            let issue = tracker
                .create_correlated(
                    &NewIssue {
                        project: target_side.project.key.clone(),
                        issue_type,
                        fields: fields.clone(),
                    },
                    &sync.sync_user,
                    &correlation,
                )
                .map_err(creating)?;
            crate::failpoint::hit("after-tracker-create");
            link(&issue.key)?;
            // A tracker may leave a value out of a creation without a word (Redmine
            // keeps the initial status its workflow allows): set those by an edit.
            let left_out: BTreeMap<String, Value> = fields
                .into_iter()
                .filter(|(field, value)| !same_value(issue.value(field), value))
                .collect();
            let mut changes = initial_values(&issue, &sync.sync_user);
            if !left_out.is_empty() {
                changes.retain(|change| !left_out.contains_key(&change.field));
                changes.extend(
                    tracker
                        .update(&issue.key, &left_out, &sync.sync_user)
                        .map_err(creating)?,
                );
            }
            if let Some(origins) = origins {
                // The tracker's own record of the creation, with its positions.
                let history = tracker.history_since(&issue.key, 0).map_err(creating)?;
                target_side
                    .ledger()
                    .record_written(&sync.id, &issue.key, &history, origins, true)
                    .map_err(creating)?;
            }
            (issue.key, true, changes)
        }
    };
    Ok(AppliedStep {
        key,
        created,
        changes,
        kept_newer: Vec::new(),
        already_applied: false,
        issue: None,
    })
}

/// On a project other synchronizations send from: a value that arrives equal to the
/// target's but standing for a newer change than the target's value is known to, is
/// recorded as that newer version and sent on by the other synchronizations (as a
/// change made then). Otherwise they would never learn of it, and an older change
/// from one of them could win over it.
fn touch_if_newer(
    applying: &Applying<'_>,
    issue: &Issue,
    field: &str,
    entry: &Entry,
) -> Result<(), Failure> {
    let target_side = applying.sync.side(applying.target());
    let Some(changed_at) = entry.changed_at.filter(|_| target_side.shared) else {
        return Ok(());
    };
    let store_error = |error: StoreError| Failure::of_store(&error, "");
    let ledger = target_side.ledger();
    let known = ledger
        .field_version(&issue.key, field)
        .map_err(store_error)?;
    if known.is_some_and(|(_, at)| at >= changed_at) {
        return Ok(());
    }
    let origin = entry
        .origin
        .clone()
        .unwrap_or_else(|| applying.sync.side(applying.source).origin_id());
    let resyncs: Vec<(String, Side, Vec<String>)> = target_side
        .siblings
        .iter()
        .filter_map(|sibling| {
            let relationships = sibling.sends.get(field)?;
            Some((sibling.sync_id.clone(), sibling.side, relationships.clone()))
        })
        .collect();
    ledger
        .touch_field(&issue.key, field, (&origin, changed_at), &resyncs)
        .map_err(store_error)
}

/// Where each value of `message` was first made, as the target records it.
fn write_origins(applying: &Applying<'_>, message: &IssueSyncMessage) -> WriteOrigins {
    let source_side = applying.sync.side(applying.source);
    let source_project = source_side.origin_id();
    let fields = applying
        .entries
        .iter()
        .map(|(relationship, entry)| {
            (
                relationship.end(applying.target()).field.clone(),
                (
                    entry
                        .origin
                        .clone()
                        .unwrap_or_else(|| source_project.clone()),
                    entry.changed_at.unwrap_or(message.sent_at),
                ),
            )
        })
        .collect();
    WriteOrigins {
        fields,
        issue: message
            .origin
            .clone()
            .unwrap_or_else(|| source_side.issue_origin_id(&message.source_key)),
    }
}

/// On a project other synchronizations write to: the issue that already stands for
/// the message's origin issue (or is it), made by another synchronization, becomes
/// the partner instead of a new one (around a triangle, an issue arrives by two ways).
fn adopt_partner(applying: &Applying<'_>, origin: &str) -> Result<Option<String>, StoreError> {
    let (sync, message) = (applying.sync, applying.message);
    let target_side = sync.side(applying.target());
    let own = origin
        .strip_prefix(&target_side.issue_origin_id(""))
        .filter(|key| project_of_key(key) == Some(target_side.project.key.as_str()));
    let candidate = match own {
        // The origin is an issue of the target project itself.
        Some(key) => target_side.tracker().get(key)?.map(|issue| issue.key),
        None => target_side.ledger().issue_for_origin(origin)?,
    };
    let Some(key) = candidate else {
        return Ok(None);
    };
    let taken = target_side
        .ledger()
        .sync_state(&sync.id, &key)?
        .is_some_and(|state| state.partner.is_some());
    if taken {
        return Ok(None);
    }
    log::info!(
        "{}: {key} stands for {origin} already; it becomes the partner of {} in `{}`",
        target_side.tracker().location(),
        message.source_key,
        sync.id
    );
    target_side
        .ledger()
        .record_applied(&sync.id, &key, &message.source_key, None)?;
    sync.side(applying.source)
        .ledger()
        .record_link(&sync.id, &message.source_key, &key)?;
    Ok(Some(key))
}

/// What a tracker's correlation field holds for the partner of the message's source
/// issue: unique across synchronizations, so a project synced with several others
/// never takes one source's issue for another's.
fn correlation_key(sync: &SyncRuntime, message: &IssueSyncMessage) -> String {
    format!("{}:{}", sync.id, message.source_key)
}

/// The values an issue was created with, as changes for the round report.
fn initial_values(issue: &Issue, author: &str) -> Vec<HistoryEntry> {
    issue
        .fields
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(field, value)| HistoryEntry {
            seq: 0,
            issue_key: issue.key.clone(),
            time: issue.created,
            author: author.to_owned(),
            field: field.clone(),
            old: Value::Null,
            new: value.clone(),
        })
        .collect()
}

/// Records a message as applied to `key` with nothing to write.
fn record_applied_only(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
    key: &str,
    origins: Option<&WriteOrigins>,
) -> Result<(), StoreError> {
    let target_side = sync.side(source.other());
    match &target_side.stores.atomic {
        Some(atomic) => atomic
            .apply(&ApplyStep {
                sync_id: &sync.id,
                source_key: &message.source_key,
                seq: message.seq,
                target: ApplyTarget::Update(key.to_owned()),
                writes: Vec::new(),
                author: &sync.sync_user,
                completes_message: true,
                origins,
            })
            .map(|_| ()),
        None => target_side.ledger().record_applied(
            &sync.id,
            key,
            &message.source_key,
            Some(message.seq),
        ),
    }
}

/// Writes the values that differ and records the message as applied.
///
/// Atomically where the tracker shares the ledger's transaction. Elsewhere the values
/// are written first and the sequence number recorded after: a crash between the two
/// brings the message again, and writing the same values again changes nothing
/// (only differing values are written), while the conflict rule keeps protecting
/// edits made on the target meanwhile.
fn update_partner(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
    issue: &Issue,
    writes: Vec<FieldWrite>,
    origins: Option<&WriteOrigins>,
) -> Result<AppliedStep, StoreError> {
    let target_side = sync.side(source.other());
    if let Some(atomic) = &target_side.stores.atomic {
        return atomic.apply(&ApplyStep {
            sync_id: &sync.id,
            source_key: &message.source_key,
            seq: message.seq,
            target: ApplyTarget::Update(issue.key.clone()),
            writes,
            author: &sync.sync_user,
            completes_message: true,
            origins,
        });
    }
    let tracker = target_side.tracker();
    let guarded_after = writes
        .iter()
        .filter_map(|write| write.guard.as_ref())
        .map(|guard| guard.target_changes_after)
        .min();
    // The newest change of each field by the target's own users, after the oldest
    // position any guard asks about (and, on a project other synchronizations write
    // to, by them, as of the first edit).
    let theirs = match guarded_after {
        Some(after) => tracker.history_since(&issue.key, after)?,
        None => Vec::new(),
    };
    let written: BTreeMap<(i64, String), Written> = match guarded_after {
        Some(after) if target_side.shared => target_side
            .ledger()
            .written_since(&issue.key, after)?
            .into_iter()
            .map(|written| ((written.seq, written.field.clone()), written))
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut kept_newer = Vec::new();
    let mut values = BTreeMap::new();
    for write in writes {
        if let Some(guard) = &write.guard {
            let newest = theirs
                .iter()
                .filter(|entry| {
                    entry.field == write.field && entry.seq > guard.target_changes_after
                })
                .filter_map(
                    |entry| match written.get(&(entry.seq, entry.field.clone())) {
                        Some(written) if written.sync_id == sync.id => None,
                        Some(written) => Some(written.origin_at),
                        None if entry.author == sync.sync_user => None,
                        None => Some(entry.time),
                    },
                )
                .max();
            if guard.target_wins(newest) {
                kept_newer.push(write.field);
                continue;
            }
        }
        if !same_value(issue.value(&write.field), &write.value) {
            values.insert(write.field, write.value);
        }
    }
    let changes = if values.is_empty() {
        Vec::new()
    } else {
        tracker.update(&issue.key, &values, &sync.sync_user)?
    };
    if let Some(origins) = origins {
        // Not in the update's transaction: lost in a crash right here, these writes
        // count as this synchronization's own (not passed on to the others).
        target_side
            .ledger()
            .record_written(&sync.id, &issue.key, &changes, origins, false)?;
    }
    crate::failpoint::hit("after-tracker-update");
    target_side.ledger().record_applied(
        &sync.id,
        &issue.key,
        &message.source_key,
        Some(message.seq),
    )?;
    Ok(AppliedStep {
        key: issue.key.clone(),
        created: false,
        changes,
        kept_newer,
        already_applied: false,
        issue: None,
    })
}

/// The relationship of every entry; a message naming an unknown relationship, or
/// one that does not flow this way, is refused as a whole (the configuration may
/// have changed since it was sent: fix it, or skip the message).
fn relationships_of<'a>(
    sync: &'a SyncRuntime,
    source: Side,
    message: &'a IssueSyncMessage,
) -> Result<Vec<(&'a RelationshipRuntime, &'a Entry)>, Failure> {
    message
        .entries
        .iter()
        .map(|(id, entry)| {
            let refused = |error: String| Failure {
                error,
                context: Box::new(FailureContext {
                    relationship: Some(id.clone()),
                    data: Some(shortened(&entry.data)),
                    ..FailureContext::default()
                }),
                ..Failure::default()
            };
            let relationship = sync.relationship(id).ok_or_else(|| {
                refused(format!(
                    "message {} names relationship `{id}`, which synchronization `{}` does not have",
                    message.id, sync.id
                ))
            })?;
            if !relationship.direction.flows_from(source) {
                return Err(refused(format!(
                    "message {} carries relationship `{id}` from side {source}, but it does not flow that way",
                    message.id
                )));
            }
            Ok((relationship, entry))
        })
        .collect()
}

/// One incoming mapping call and what a failure of it is reported with.
struct MappingCall<'a> {
    sync: &'a SyncRuntime,
    source: Side,
    pass: &'a Pass<'a>,
    relationship: &'a RelationshipRuntime,
    mapping: &'a BuiltMapping<dyn IncomingFieldMapping>,
    source_key: &'a str,
    target_key: Option<&'a str>,
}

impl MappingCall<'_> {
    /// The value to write, `None` to leave the field alone. A value the target
    /// field cannot hold is refused here, so the error names the relationship and
    /// the mapping that produced it, not only the field.
    fn import(&self, context: &IncomingContext<'_>) -> Result<Option<Value>, Failure> {
        let target = self.source.other();
        let field = &self.relationship.end(target).field;
        let failure = |error: &dyn std::fmt::Display, cause| Failure {
            error: format!("{}: {error}", self.relationship.describe(self.source)),
            context: Box::new(FailureContext {
                target_key: self.target_key.map(str::to_owned),
                relationship: Some(self.relationship.id.clone()),
                field: Some(field.clone()),
                mapping: Some(self.mapping.identity.id.clone()),
                plugin: Some(self.mapping.identity.plugin.clone()),
                data: None,
            }),
            cause,
        };
        let site = CallSite {
            issue_key: self.source_key,
            relationship: self.relationship,
            mapping: &self.mapping.identity,
        };
        match self
            .pass
            .watch
            .call(site, || self.mapping.mapping.import(context))
        {
            Ok(FieldUpdate::Set(value)) => {
                self.sync
                    .side(target)
                    .project
                    .check_value(field, &value)
                    .map_err(|problem| {
                        failure(&self.unfit_value(&problem), FailureCause::RefusedValue)
                    })?;
                Ok(Some(value))
            }
            Ok(_) => Ok(None),
            Err(error) => Err(failure(&error, FailureCause::Mapping)),
        }
    }
}

impl MappingCall<'_> {
    /// Why a value an incoming mapping returned does not fit the target field, and
    /// whose value it is: `fieldsync.copy` passes the message data on as is, so the
    /// value comes from the other side's outgoing mapping.
    fn unfit_value(&self, problem: &str) -> String {
        let incoming = &self.mapping.identity;
        let mut text = format!(
            "incoming mapping `{}` returned a value that does not fit: {problem}",
            incoming.id
        );
        if incoming.id == crate::builtin::COPY {
            if let Some(outgoing) = &self.relationship.end(self.source).outgoing {
                let by = if outgoing.identity.builtin {
                    String::new()
                } else {
                    format!(" of plugin `{}`", outgoing.identity.plugin)
                };
                text += &format!(
                    "; `{}` passes the data on as is, so the value is what the outgoing \
                     mapping `{}`{by} on the {} side sent",
                    crate::builtin::COPY,
                    outgoing.identity.id,
                    self.source.as_str().to_uppercase()
                );
            }
        }
        text
    }
}

fn collect(changes: &mut Vec<FieldChange>, step_changes: Vec<HistoryEntry>) {
    let fields = step_changes
        .into_iter()
        .filter(|entry| entry.field != CREATED_FIELD);
    changes.extend(fields.map(|entry| FieldChange {
        field: entry.field,
        old: entry.old,
        new: entry.new,
    }));
}
