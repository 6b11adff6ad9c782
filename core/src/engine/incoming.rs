//! The incoming queue of one side: messages from the partner → created and updated
//! issues.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use fieldsync_plugin_api::{FieldUpdate, IncomingContext, IssueFields, IssueInfo, TargetIssue};

use super::pool::map_parallel;
use super::report::{AppliedIssue, DirectionReport, FieldChange, IssueFailure, Stage};
use super::{RelationshipRuntime, SyncRuntime};
use crate::config::FlowDirection;
use crate::message::{Entry, IssueSyncMessage, Side};
use crate::store::{
    AppliedStep, ApplyStep, ApplyTarget, ConflictGuard, FieldWrite, PendingMessage, StoreError,
    CREATED_FIELD,
};

/// What happened to the messages of one source issue.
#[derive(Default)]
struct GroupOutcome {
    applied: Vec<AppliedIssue>,
    duplicates: usize,
    mappings_called: usize,
    failure: Option<IssueFailure>,
    /// Outbox rows to mark delivered.
    delivered: Vec<i64>,
}

/// Applies the pending messages sent from `source` to the other side.
pub(super) fn run(
    sync: &SyncRuntime,
    source: Side,
    workers: usize,
    stop: &AtomicBool,
    report: &mut DirectionReport,
) {
    let pending = match sync.side(source).store.pending_messages(&sync.id, source) {
        Ok(pending) => pending,
        Err(error) => {
            report.failures.push(IssueFailure {
                stage: Stage::Incoming,
                issue_key: format!("(project {})", sync.side(source).project.key),
                error: error.to_string(),
            });
            return;
        }
    };
    // One group per source issue, in the order of its first message: groups run in
    // parallel, the messages of a group strictly in order.
    let mut groups: Vec<Vec<PendingMessage>> = Vec::new();
    let mut group_of: BTreeMap<String, usize> = BTreeMap::new();
    for message in pending {
        let index = *group_of
            .entry(message.source_key.clone())
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[index].push(message);
    }
    let outcomes = map_parallel(groups, workers, |group| {
        apply_group(sync, source, group, stop)
    });
    let mut delivered = Vec::new();
    for outcome in outcomes {
        report.applied.extend(outcome.applied);
        report.duplicates_skipped += outcome.duplicates;
        report.mappings_called += outcome.mappings_called;
        report.failures.extend(outcome.failure);
        delivered.extend(outcome.delivered);
    }
    // One write for all the marks; should it be lost, the messages come again and are
    // skipped by their applied sequence numbers.
    if let Err(error) = sync.side(source).store.messages_delivered(&delivered) {
        log::warn!("{error} (marking messages delivered; they will be skipped when seen again)");
    }
}

fn apply_group(
    sync: &SyncRuntime,
    source: Side,
    group: Vec<PendingMessage>,
    stop: &AtomicBool,
) -> GroupOutcome {
    let source_store = &sync.side(source).store;
    let target_store = &sync.side(source.other()).store;
    let mut outcome = GroupOutcome::default();
    for pending in group {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let result = pending.message.clone().and_then(|message| {
            let applied_seq = target_store
                .applied_seq(&sync.id, &message.source_key)
                .map_err(|error| error.to_string())?;
            if message.seq <= applied_seq {
                return Ok(None);
            }
            apply_message(sync, source, &message, &mut outcome.mappings_called)
        });
        match result {
            Ok(applied) => {
                match applied {
                    Some(applied) => outcome.applied.push(applied),
                    None => outcome.duplicates += 1,
                }
                outcome.delivered.push(pending.row);
            }
            Err(error) => {
                if let Err(store_error) = source_store.message_failed(pending.row, &error) {
                    log::error!("{store_error} (while recording: {error})");
                }
                outcome.failure = Some(IssueFailure {
                    stage: Stage::Incoming,
                    issue_key: pending.source_key,
                    error,
                });
                // Later messages of this issue wait behind the failed one.
                break;
            }
        }
    }
    outcome
}

fn apply_message(
    sync: &SyncRuntime,
    source: Side,
    message: &IssueSyncMessage,
    mappings_called: &mut usize,
) -> Result<Option<AppliedIssue>, String> {
    let target_side = sync.side(source.other());
    let target = source.other();
    let entries = relationships_of(sync, source, message)?;
    let store_error = |error: StoreError| error.to_string();

    let mut changes = Vec::new();
    let mut on_create = BTreeSet::new();
    let partner = target_side
        .store
        .local_partner(&sync.id, &message.source_key)
        .map_err(store_error)?;
    let (key, created) = match partner {
        Some(key) => (key, false),
        None => {
            let issue_type = target_side
                .issue_type_map
                .get(&message.issue_type)
                .unwrap_or(&message.issue_type)
                .clone();
            let screen = target_side.project.create_screen(&issue_type);
            let mut writes = Vec::new();
            for (relationship, entry) in &entries {
                let end = relationship.end(target);
                let Some(mapping) = &end.incoming else {
                    continue;
                };
                // Custom mappings run after creation, like Backbone's.
                if !mapping.builtin || !screen.contains(&end.field) {
                    continue;
                }
                on_create.insert(relationship.id.as_str());
                *mappings_called += 1;
                let context = IncomingContext::new(None, &end.field, &entry.data);
                match mapping.mapping.import(&context) {
                    Ok(FieldUpdate::Set(value)) => writes.push(FieldWrite {
                        field: end.field.clone(),
                        value,
                        guard: None,
                    }),
                    Ok(_) => {}
                    Err(error) => {
                        return Err(format!("{}: {error}", relationship.describe(source)))
                    }
                }
            }
            let step = target_side
                .store
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
                })
                .map_err(|error| {
                    format!("creating the partner of {}: {error}", message.source_key)
                })?;
            if step.already_applied {
                return Ok(None);
            }
            sync.side(source)
                .store
                .record_link(&sync.id, &message.source_key, &step.key)
                .map_err(store_error)?;
            collect(&mut changes, &step);
            (step.key, step.created)
        }
    };

    let issue = target_side
        .store
        .get(&key)
        .map_err(store_error)?
        .ok_or_else(|| {
            format!(
                "{}: partner issue `{key}` no longer exists",
                target_side.store.location()
            )
        })?;
    let info = IssueInfo {
        key: issue.key.clone(),
        project: issue.project.clone(),
        issue_type: issue.issue_type.clone(),
    };
    let fields: &dyn IssueFields = &issue.fields;
    // Target changes after this history position had not reached the source when it
    // built the message: only they compete with it.
    let unseen_after = match message.partner_messages_applied {
        0 => 0,
        seen => match target_side
            .store
            .message_covers(&sync.id, &key, seen)
            .map_err(store_error)?
        {
            Some(position) => position,
            None => {
                log::warn!(
                    "{}: no record of message {seen} of {key}; every change on {key} \
                     competes with {} by time alone",
                    target_side.store.location(),
                    message.id
                );
                0
            }
        },
    };
    // A target value that this relationship never sends back must not be kept, or
    // the two sides would stay apart.
    let flows_back = |relationship: &RelationshipRuntime| {
        sync.syncs_issue_type(&issue.issue_type) && relationship.applies_to(&issue.issue_type)
    };
    let mut writes = Vec::new();
    for (relationship, entry) in &entries {
        if on_create.contains(relationship.id.as_str()) {
            continue;
        }
        let end = relationship.end(target);
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
        let value = match mapping.mapping.import(&context) {
            Ok(FieldUpdate::Set(value)) => value,
            Ok(_) => continue,
            Err(error) => return Err(format!("{}: {error}", relationship.describe(source))),
        };
        if issue.value(&end.field) == &value {
            continue;
        }
        let guard = match (relationship.direction, entry.changed_at) {
            (FlowDirection::Both, Some(changed_at)) if flows_back(relationship) => {
                Some(ConflictGuard {
                    changed_at,
                    source_wins_ties: source == Side::A,
                    target_changes_after: unseen_after,
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
    let step = target_side
        .store
        .apply(&ApplyStep {
            sync_id: &sync.id,
            source_key: &message.source_key,
            seq: message.seq,
            target: ApplyTarget::Update(key.clone()),
            writes,
            author: &sync.sync_user,
            completes_message: true,
        })
        .map_err(|error| format!("updating {key}: {error}"))?;
    if step.already_applied {
        return Ok(None);
    }
    collect(&mut changes, &step);

    if !created && !message.source_has_partner {
        // The link written after creation may have been lost (a crash, a busy store):
        // without it the source would take the next message from this issue for a
        // new one and create a duplicate.
        sync.side(source)
            .store
            .record_link(&sync.id, &message.source_key, &key)
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

/// The relationship of every entry; a message naming an unknown relationship, or
/// one that does not flow this way, is refused as a whole.
fn relationships_of<'a>(
    sync: &'a SyncRuntime,
    source: Side,
    message: &'a IssueSyncMessage,
) -> Result<Vec<(&'a RelationshipRuntime, &'a Entry)>, String> {
    message
        .entries
        .iter()
        .map(|(id, entry)| {
            let relationship = sync.relationship(id).ok_or_else(|| {
                format!(
                    "message {} names relationship `{id}`, which synchronization `{}` does not have",
                    message.id, sync.id
                )
            })?;
            if !relationship.direction.flows_from(source) {
                return Err(format!(
                    "message {} carries relationship `{id}` from side {source}, but it does not flow that way",
                    message.id
                ));
            }
            Ok((relationship, entry))
        })
        .collect()
}

fn collect(changes: &mut Vec<FieldChange>, step: &AppliedStep) {
    let fields = step
        .changes
        .iter()
        .filter(|entry| entry.field != CREATED_FIELD);
    changes.extend(fields.map(|entry| FieldChange {
        field: entry.field.clone(),
        old: entry.old.clone(),
        new: entry.new.clone(),
    }));
}
