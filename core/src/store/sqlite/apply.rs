//! Applying a message step and recording it in one transaction: the SQLite model's
//! tracker and ledger share the file.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::super::{AppliedStep, ApplyStep, ApplyTarget, AtomicApply, StoreError};
use super::ledger::{record_applied_seq, record_written_in};
use super::*;
use crate::model::{NewIssue, Timestamp};

impl AtomicApply for SqliteStore {
    fn apply(&self, step: &ApplyStep<'_>) -> Result<AppliedStep, StoreError> {
        self.write(|tx| {
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
                    let (created, changes) = self.create_in(tx, &new_issue, step.author)?;
                    let key = created.key.clone();
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
                record_applied_seq(tx, step.sync_id, step.source_key, step.seq)
                    .map_err(self.err())?;
            }
            Ok(AppliedStep {
                key,
                created,
                changes,
                kept_newer,
                already_applied: false,
                issue,
            })
        })
    }
}
