//! Applying a message step and recording it in one transaction: the SQLite model's
//! tracker and ledger share the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{AppliedStep, ApplyStep, ApplyTarget, AtomicApply, StoreError};
use super::ledger::{record_applied_seq, record_written_in};
use super::*;
use crate::model::{Issue, NewIssue, Timestamp};

/// The partner a message's create step made in the open write group, kept until the
/// store's next write (see `SqliteStore::write_after_creation`): the message's next
/// step (the fields off the create screen) finds it as the group's transaction holds
/// it, and need not check again what the create step checked (nothing else wrote in
/// between) nor read the issue back.
pub(super) struct CreatedInGroup {
    sync_id: String,
    source_key: String,
    seq: i64,
    issue: Issue,
    project: Arc<ProjectDef>,
}

impl CreatedInGroup {
    /// Whether `step` is the next step of the message that created this issue.
    fn continued_by(&self, step: &ApplyStep<'_>) -> bool {
        matches!(&step.target, ApplyTarget::Update(key) if *key == self.issue.key)
            && self.seq == step.seq
            && self.sync_id == step.sync_id
            && self.source_key == step.source_key
    }
}

impl AtomicApply for SqliteStore {
    fn apply(&self, step: &ApplyStep<'_>) -> Result<AppliedStep, StoreError> {
        self.write_after_creation(|tx, created_before| {
            match created_before.filter(|created| created.continued_by(step)) {
                Some(created) => Ok((self.continue_creation(tx, step, created)?, None)),
                None => {
                    let mut created_now = None;
                    let applied = self.apply_in(tx, step, &mut created_now)?;
                    Ok((applied, created_now))
                }
            }
        })
    }
}

impl SqliteStore {
    fn apply_in(
        &self,
        tx: &Connection,
        step: &ApplyStep<'_>,
        created_now: &mut Option<CreatedInGroup>,
    ) -> Result<AppliedStep, StoreError> {
        let now = Timestamp::now();
        let mut kept_newer = Vec::new();
        // Checked again inside the transaction, so that a second process on the
        // same store can neither create a second partner nor apply a message twice.
        let partner: Option<String> = tx
            .prepare_cached("SELECT key FROM sync_issues WHERE sync_id = ?1 AND partner = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![step.sync_id, step.source_key], |row| row.get(0))
                    .optional()
            })
            .map_err(self.err())?;
        let linked = partner.clone();
        let applied: i64 = tx
            .prepare_cached("SELECT seq FROM applied WHERE sync_id = ?1 AND source_key = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![step.sync_id, step.source_key], |row| row.get(0))
                    .optional()
            })
            .map_err(self.err())?
            .unwrap_or(0);
        if step.seq <= applied {
            return Ok(AppliedStep {
                key: partner.unwrap_or_default(),
                created: false,
                changes: Vec::new(),
                kept_newer,
                already_applied: true,
                issue: None,
            });
        }
        let mut issue = None;
        let (key, created, changes) = match &step.target {
            ApplyTarget::Create { .. } if partner.is_some() => {
                (partner.unwrap_or_default(), false, Vec::new())
            }
            ApplyTarget::Create {
                project,
                issue_type,
            } => {
                let new_issue = NewIssue {
                    project: project.clone(),
                    issue_type: issue_type.clone(),
                    fields: step
                        .writes
                        .iter()
                        .map(|write| (write.field.clone(), write.value.clone()))
                        .collect(),
                };
                let (created, changes, project) = self.create_in(tx, new_issue, step.author)?;
                let key = created.key.clone();
                *created_now = Some(CreatedInGroup {
                    sync_id: step.sync_id.to_owned(),
                    source_key: step.source_key.to_owned(),
                    seq: step.seq,
                    issue: created.clone(),
                    project,
                });
                issue = Some(created);
                (key, true, changes)
            }
            ApplyTarget::Update(key) => {
                let mut values = BTreeMap::new();
                for write in &step.writes {
                    if let Some(guard) = &write.guard {
                        let theirs = self.last_change_by_others(
                            tx,
                            key,
                            &write.field,
                            step,
                            guard.target_changes_after,
                        )?;
                        if guard.target_wins(theirs) {
                            kept_newer.push(write.field.clone());
                            continue;
                        }
                    }
                    values.insert(write.field.clone(), write.value.clone());
                }
                let changes = self.update_in(tx, key, &values, step.author)?;
                (key.clone(), false, changes)
            }
        };
        if let Some(origins) = step.origins {
            record_written_in(tx, step.sync_id, &key, &changes, origins, created)
                .map_err(self.err())?;
        }
        if linked.as_deref() == Some(key.as_str()) {
            // The link is there (the message's create step or an earlier message
            // wrote it): only the time changes, which no index holds.
            tx.prepare_cached(
                "UPDATE sync_issues SET last_received_at = ?3 WHERE sync_id = ?1 AND key = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![step.sync_id, key, now.0]))
            .map_err(self.err())?;
        } else {
            self.upsert_state(tx, step.sync_id, &key, Some(step.source_key), Some(now))?;
        }
        if step.completes_message {
            record_applied_seq(tx, step.sync_id, step.source_key, step.seq).map_err(self.err())?;
        }
        Ok(AppliedStep {
            key,
            created,
            changes,
            kept_newer,
            already_applied: false,
            issue,
        })
    }

    /// The step after a message's create step, in the same transaction: the partner,
    /// its link and receive time are as that step wrote them, the message is not yet
    /// applied, and the issue is the one created. Its history is the sync's own
    /// creation, which never competes with a guarded value.
    fn continue_creation(
        &self,
        tx: &Connection,
        step: &ApplyStep<'_>,
        created: CreatedInGroup,
    ) -> Result<AppliedStep, StoreError> {
        let CreatedInGroup {
            mut issue, project, ..
        } = created;
        let mut kept_newer = Vec::new();
        let mut values = BTreeMap::new();
        for write in &step.writes {
            if write
                .guard
                .as_ref()
                .is_some_and(|guard| guard.target_wins(None))
            {
                kept_newer.push(write.field.clone());
                continue;
            }
            values.insert(write.field.clone(), write.value.clone());
        }
        let changes = self.update_read_in(tx, &mut issue, &project, &values, step.author)?;
        if let Some(origins) = step.origins {
            record_written_in(tx, step.sync_id, &issue.key, &changes, origins, false)
                .map_err(self.err())?;
        }
        if step.completes_message {
            record_applied_seq(tx, step.sync_id, step.source_key, step.seq).map_err(self.err())?;
        }
        Ok(AppliedStep {
            key: issue.key,
            created: false,
            changes,
            kept_newer,
            already_applied: false,
            issue: None,
        })
    }
}
