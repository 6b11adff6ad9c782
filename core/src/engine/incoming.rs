//! The incoming queue of one side: messages from the partner → created and updated
//! issues.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use fieldsync_plugin_api::{
    FieldUpdate, IncomingContext, IncomingFieldMapping, IssueFields, IssueInfo, TargetIssue,
};
use serde_json::Value;

use super::pool::map_parallel;
use super::report::{AppliedIssue, DirectionReport, FieldChange, IssueFailure, Stage};
use super::watch::CallSite;
use super::{BuiltMapping, Pass, RelationshipRuntime, SyncRuntime};
use crate::config::FlowDirection;
use crate::message::{Entry, IssueSyncMessage, Side};
use crate::store::{
    shortened, AppliedStep, ApplyStep, ApplyTarget, ConflictGuard, Failure, FailureContext,
    FieldWrite, PendingMessage, StoreError, CREATED_FIELD,
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
pub(super) fn run(sync: &SyncRuntime, source: Side, pass: &Pass<'_>, report: &mut DirectionReport) {
    let pending = match sync.side(source).store.pending_messages(&sync.id, source) {
        Ok(pending) => pending,
        Err(error) => {
            report.failures.push(IssueFailure::of_queue(
                Stage::Incoming,
                &sync.side(source).project.key,
                error.to_string(),
            ));
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
    // A group whose first message failed before waits for its retry time, or for a
    // person when it is parked; the messages behind it wait with it.
    groups.retain(|group| {
        let head = &group[0];
        if head.parked {
            report.parked += 1;
            false
        } else if head.next_attempt_at.is_some_and(|at| at > pass.now) {
            report.waiting_for_retry += 1;
            false
        } else {
            true
        }
    });
    let outcomes = map_parallel(groups, pass.workers, |group| {
        apply_group(sync, source, group, pass)
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
    pass: &Pass<'_>,
) -> GroupOutcome {
    let source_store = &sync.side(source).store;
    let target_store = &sync.side(source.other()).store;
    let mut outcome = GroupOutcome::default();
    for pending in group {
        if pass.stop.load(Ordering::SeqCst) {
            break;
        }
        let message = pending.message.clone().map_err(|error| Failure {
            error,
            // Retrying cannot mend a damaged row; a person can skip it.
            permanent: true,
            ..Failure::default()
        });
        let result = message.and_then(|message| {
            let applied_seq = target_store
                .applied_seq(&sync.id, &message.source_key)
                .map_err(|error| Failure::new(error.to_string()))?;
            if message.seq <= applied_seq {
                return Ok(None);
            }
            apply_message(sync, source, &message, pass, &mut outcome.mappings_called)
        });
        match result {
            Ok(applied) => {
                match applied {
                    Some(applied) => outcome.applied.push(applied),
                    None => outcome.duplicates += 1,
                }
                outcome.delivered.push(pending.row);
            }
            Err(failure) => {
                let attempts = pending.attempts + 1;
                let next_attempt_at = pass.next_attempt(attempts, failure.permanent);
                if let Err(store_error) =
                    source_store.message_failed(pending.row, &failure, attempts, next_attempt_at)
                {
                    log::error!("{store_error} (while recording: {})", failure.error);
                }
                outcome.failure = Some(IssueFailure {
                    stage: Stage::Incoming,
                    issue_key: pending.source_key,
                    error: failure.error,
                    attempts,
                    next_attempt_at,
                    parked: next_attempt_at.is_none(),
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
    pass: &Pass<'_>,
    mappings_called: &mut usize,
) -> Result<Option<AppliedIssue>, Failure> {
    let target_side = sync.side(source.other());
    let target = source.other();
    let entries = relationships_of(sync, source, message)?;
    let store_error = |error: StoreError| Failure::new(error.to_string());

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
                if !mapping.identity.builtin || !screen.contains(&end.field) {
                    continue;
                }
                on_create.insert(relationship.id.as_str());
                *mappings_called += 1;
                let context = IncomingContext::new(None, &end.field, &entry.data);
                let call = MappingCall {
                    sync,
                    source,
                    pass,
                    relationship,
                    mapping,
                    source_key: &message.source_key,
                    target_key: None,
                };
                if let Some(value) = call.import(&context)? {
                    writes.push(FieldWrite {
                        field: end.field.clone(),
                        value,
                        guard: None,
                    });
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
                    Failure::new(format!(
                        "creating the partner of {}: {error}",
                        message.source_key
                    ))
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
            Failure::new(format!(
                "{}: partner issue `{key}` no longer exists",
                target_side.store.location()
            ))
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
        let call = MappingCall {
            sync,
            source,
            pass,
            relationship,
            mapping,
            source_key: &message.source_key,
            target_key: Some(&key),
        };
        let Some(value) = call.import(&context)? else {
            continue;
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
        .map_err(|error| Failure {
            error: format!("updating {key}: {error}"),
            context: Box::new(FailureContext {
                target_key: Some(key.clone()),
                ..FailureContext::default()
            }),
            permanent: false,
        })?;
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
                permanent: false,
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
        let failure = |error: &dyn std::fmt::Display| Failure {
            error: format!("{}: {error}", self.relationship.describe(self.source)),
            context: Box::new(FailureContext {
                target_key: self.target_key.map(str::to_owned),
                relationship: Some(self.relationship.id.clone()),
                field: Some(field.clone()),
                mapping: Some(self.mapping.identity.id.clone()),
                plugin: Some(self.mapping.identity.plugin.clone()),
                data: None,
            }),
            permanent: false,
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
                        failure(&format!(
                            "mapping `{}` gave {problem}",
                            self.mapping.identity.id
                        ))
                    })?;
                Ok(Some(value))
            }
            Ok(_) => Ok(None),
            Err(error) => Err(failure(&error)),
        }
    }
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
