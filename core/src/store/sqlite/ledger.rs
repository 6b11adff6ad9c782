//! The ledger half of [`SqliteStore`]: cursors, links, the outbox, applied sequence
//! numbers (failures and rounds are in `failures`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{
    Due, Failure, FailureQuery, FailureRecord, HeldSend, HeldSendState, IssueSyncState,
    OutgoingBatch, PendingMessage, QueueCounts, ResyncRequest, RoundRecord, RunningSlowCalls,
    SkippedFailure, SlowCall, StoreError, SyncLedger, TrackerCursor, WriteOrigins, Written,
};
use super::group::GroupMode;
use super::*;
use crate::message::{IssueSyncMessage, Side};
use crate::model::{HistoryEntry, Timestamp};

impl SqliteStore {
    /// Adds `message` to the outbox. A message whose id is taken already (its issue's
    /// sync state was lost or restored from an older copy) gets the next free sequence
    /// number of its issue: refusing it would stop the whole outgoing queue of the
    /// side. Returns the message as stored.
    pub(super) fn insert_outgoing<'m>(
        &self,
        tx: &Connection,
        message: &'m IssueSyncMessage,
        side: &str,
        now: i64,
    ) -> Result<Cow<'m, IssueSyncMessage>, StoreError> {
        if self.insert_into_outbox(tx, message, side, now)? {
            return Ok(Cow::Borrowed(message));
        }
        let highest: i64 = tx
            .query_row(
                "SELECT max(seq) FROM outbox WHERE sync_id = ?1 AND source_key = ?2",
                params![message.sync_id, message.source_key],
                |row| row.get(0),
            )
            .map_err(self.err())?;
        let mut renumbered = message.clone();
        renumbered.seq = highest + 1;
        renumbered.id =
            IssueSyncMessage::make_id(&message.sync_id, &message.source_key, renumbered.seq);
        log::warn!(
            "{}: message id {} is taken already; sent as {}",
            self.location,
            message.id,
            renumbered.id
        );
        if !self.insert_into_outbox(tx, &renumbered, side, now)? {
            return Err(self.corrupt(format!(
                "message id {} is taken, and so is {}, the next after the highest of {}",
                message.id, renumbered.id, message.source_key
            )));
        }
        Ok(Cow::Owned(renumbered))
    }

    /// Inserts the outbox row of `message`; false when its id is taken. (Inserting
    /// first costs one statement per message; the taken id is the rare case.)
    fn insert_into_outbox(
        &self,
        tx: &Connection,
        message: &IssueSyncMessage,
        side: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(message)
            .map_err(|error| self.invalid(format!("message {}: {error}", message.id)))?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO outbox (message_id, sync_id, source_side, source_key, seq, covers, body, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (message_id) DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    message.id,
                    message.sync_id,
                    side,
                    message.source_key,
                    message.seq,
                    message.covers_history_to,
                    body,
                    now
                ])
            })
            .map_err(self.err())?;
        Ok(inserted == 1)
    }

    fn link_in(
        &self,
        tx: &Connection,
        sync_id: &str,
        local_key: &str,
        partner_key: &str,
    ) -> Result<(), StoreError> {
        // The issue has its state row already when it sent the message the partner
        // was made for: updating it is cheaper than an upsert.
        let updated = tx
            .prepare_cached("UPDATE sync_issues SET partner = ?3 WHERE sync_id = ?1 AND key = ?2")
            .and_then(|mut stmt| stmt.execute(params![sync_id, local_key, partner_key]))
            .map_err(self.err())?;
        if updated == 0 {
            self.upsert_state(tx, sync_id, local_key, Some(partner_key), None)?;
        }
        Ok(())
    }

    pub(super) fn upsert_state(
        &self,
        tx: &Connection,
        sync_id: &str,
        key: &str,
        partner: Option<&str>,
        received_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO sync_issues (sync_id, key, partner, last_received_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (sync_id, key) DO UPDATE SET \
               partner = coalesce(excluded.partner, partner), \
               last_received_at = coalesce(excluded.last_received_at, last_received_at)",
        )
        .and_then(|mut stmt| stmt.execute(params![sync_id, key, partner, received_at.map(|t| t.0)]))
        .map_err(self.err())?;
        Ok(())
    }
}

impl SyncLedger for SqliteStore {
    fn begin_reads(&self) {
        self.readers.begin_session();
    }

    fn end_reads(&self) {
        self.readers.end_session();
    }

    fn begin_group(&self) -> Result<(), StoreError> {
        self.open_group(GroupMode::Careful)
    }

    fn begin_fast_group(&self) -> Result<(), StoreError> {
        self.open_group(GroupMode::Fast)
    }

    fn end_group(&self, commit: bool) -> Result<(), StoreError> {
        SqliteStore::end_group(self, commit)
    }

    fn runner_lock(&self) -> Option<std::path::PathBuf> {
        if self.location == ":memory:" {
            return None;
        }
        // One name per file, however the configuration spelled its path.
        let store = std::path::Path::new(&self.location);
        let store = store.canonicalize().unwrap_or_else(|_| store.to_owned());
        let mut name = store.file_name()?.to_os_string();
        name.push("-runner");
        Some(store.with_file_name(name))
    }

    fn cursor(&self, sync_id: &str, side: Side) -> Result<TrackerCursor, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT cursor, position FROM sync_cursors WHERE sync_id = ?1 AND side = ?2",
                params![sync_id, side.as_str()],
                |row| {
                    let position: Option<String> = row.get(1)?;
                    let cursor: i64 = row.get(0)?;
                    Ok(TrackerCursor(
                        position.unwrap_or_else(|| cursor.to_string()),
                    ))
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    fn sync_state(&self, sync_id: &str, key: &str) -> Result<Option<IssueSyncState>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT partner, last_sent_seq, last_sent_at, last_received_at, history_to \
                 FROM sync_issues WHERE sync_id = ?1 AND key = ?2",
            )?
            .query_row(params![sync_id, key], sync_state_row)
            .optional()
        })
    }

    fn sync_states(&self, key: &str) -> Result<Vec<(String, IssueSyncState)>, StoreError> {
        self.read(|c| {
            c.prepare(
                "SELECT partner, last_sent_seq, last_sent_at, last_received_at, history_to, sync_id \
                 FROM sync_issues WHERE key = ?1 ORDER BY sync_id",
            )?
            .query_map([key], |row| Ok((row.get(5)?, sync_state_row(row)?)))?
            .collect()
        })
    }

    fn local_partner(
        &self,
        sync_id: &str,
        partner_key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT key FROM sync_issues WHERE sync_id = ?1 AND partner = ?2")?
                .query_row(params![sync_id, partner_key], |row| row.get(0))
                .optional()
        })
    }

    fn record_link(
        &self,
        sync_id: &str,
        local_key: &str,
        partner_key: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| self.link_in(tx, sync_id, local_key, partner_key))
    }

    fn record_links(&self, sync_id: &str, links: &[(String, String)]) -> Result<(), StoreError> {
        if links.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            links
                .iter()
                .try_for_each(|(local, partner)| self.link_in(tx, sync_id, local, partner))
        })
    }

    fn held_sends(&self, sync_id: &str, side: Side) -> Result<Vec<HeldSend>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT key, since_seq, coalesce(tried_to, since_seq), state, attempts, \
                   next_attempt_at, parked_at \
                 FROM outgoing_failures WHERE sync_id = ?1 AND side = ?2 ORDER BY first_at",
            )?
            .query_map(params![sync_id, side.as_str()], |row| {
                let state = match row.get::<_, String>(3)?.as_str() {
                    "skipped" => HeldSendState::Skipped,
                    _ => HeldSendState::Failing {
                        attempts: row.get(4)?,
                        due: Due::of_row(row.get(5)?, row.get(6)?),
                    },
                };
                Ok(HeldSend {
                    key: row.get(0)?,
                    since_seq: row.get(1)?,
                    tried_to: row.get(2)?,
                    state,
                })
            })?
            .collect()
        })
    }

    fn request_resync(
        &self,
        sync_id: &str,
        side: Side,
        key: &str,
        relationships: &[String],
    ) -> Result<(), StoreError> {
        let relationships = serde_json::to_string(relationships).unwrap_or_default();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO resync_requests (sync_id, side, key, relationships, requested_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sync_id,
                    side.as_str(),
                    key,
                    relationships,
                    Timestamp::now().0
                ],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn resync_requests(&self, sync_id: &str, side: Side) -> Result<Vec<ResyncRequest>, StoreError> {
        let rows: Vec<ResyncRow> = self.read(|c| {
            c.prepare_cached(
                "SELECT id, key, relationships, requested_at FROM resync_requests \
                 WHERE sync_id = ?1 AND side = ?2 ORDER BY id",
            )?
            .query_map(params![sync_id, side.as_str()], |row| {
                Ok(ResyncRow {
                    id: row.get(0)?,
                    key: row.get(1)?,
                    relationships: row.get(2)?,
                    requested_at: row.get(3)?,
                })
            })?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(
                |ResyncRow {
                     id,
                     key,
                     relationships,
                     requested_at,
                 }| {
                    match serde_json::from_str(&relationships) {
                        Ok(relationships) => Some(ResyncRequest {
                            requested_at: Timestamp(requested_at),
                            id,
                            key,
                            relationships,
                        }),
                        Err(error) => {
                            // One damaged request must not stop the whole queue.
                            log::error!(
                                "{}: resync request {id} for {key} is unreadable, ignored: {error}",
                                self.location
                            );
                            None
                        }
                    }
                },
            )
            .collect())
    }

    fn record_outgoing(&self, batch: &OutgoingBatch) -> Result<(), StoreError> {
        let side = batch.side.as_str();
        let now = Timestamp::now().0;
        self.write(|tx| {
            for message in &batch.messages {
                let message = self.insert_outgoing(tx, message, side, now)?;
                tx.prepare_cached(
                    "INSERT INTO sync_issues (sync_id, key, last_sent_seq, last_sent_at, history_to) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (sync_id, key) DO UPDATE SET \
                       last_sent_seq = excluded.last_sent_seq, last_sent_at = excluded.last_sent_at, \
                       history_to = max(history_to, excluded.history_to)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        batch.sync_id,
                        message.source_key,
                        message.seq,
                        message.sent_at.0,
                        message.covers_history_to
                    ])
                })
                .map_err(self.err())?;
            }
            for (key, read_to) in &batch.read_to {
                tx.prepare_cached(
                    "INSERT INTO sync_issues (sync_id, key, history_to) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (sync_id, key) DO UPDATE SET \
                       history_to = max(history_to, excluded.history_to)",
                )
                .and_then(|mut stmt| stmt.execute(params![batch.sync_id, key, read_to]))
                .map_err(self.err())?;
            }
            for key in &batch.recovered {
                tx.prepare_cached(
                    "DELETE FROM outgoing_failures WHERE sync_id = ?1 AND side = ?2 AND key = ?3",
                )
                .and_then(|mut stmt| stmt.execute(params![batch.sync_id, side, key]))
                .map_err(self.err())?;
            }
            // The update is left out when the row changed since the round read it (a
            // person skipped the failure meanwhile: the skip wins).
            for failure in &batch.failures {
                tx.prepare_cached(
                    "INSERT INTO outgoing_failures (sync_id, side, key, since_seq, error, context, \
                       attempts, first_at, last_at, next_attempt_at, parked_at, tried_to) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (sync_id, side, key) DO UPDATE SET \
                       since_seq = min(since_seq, excluded.since_seq), error = excluded.error, \
                       context = excluded.context, attempts = excluded.attempts, \
                       first_at = CASE WHEN state = 'skipped' THEN excluded.first_at \
                         ELSE first_at END, \
                       last_at = excluded.last_at, next_attempt_at = excluded.next_attempt_at, \
                       parked_at = excluded.parked_at, tried_to = excluded.tried_to, \
                       state = 'failing' \
                     WHERE (state = 'failing' AND attempts = excluded.attempts - 1) \
                        OR (state = 'skipped' AND excluded.attempts = 1)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        batch.sync_id,
                        side,
                        failure.key,
                        failure.since_seq,
                        failure.failure.error,
                        failures::context_json(&failure.failure),
                        failure.attempts,
                        now,
                        failure.due.stored_time(),
                        (failure.due == Due::Parked).then_some(now),
                        failure.tried_to
                    ])
                })
                .map_err(self.err())?;
            }
            for id in &batch.resyncs_done {
                tx.execute("DELETE FROM resync_requests WHERE id = ?1", [id])
                    .map_err(self.err())?;
            }
            // A number (the SQLite model's history position) only ever grows; any
            // other tracker's cursor is its own text, kept as written.
            let (number, text) = match batch.cursor.0.parse::<i64>() {
                Ok(number) => (number, None),
                Err(_) => (0, Some(batch.cursor.0.as_str())),
            };
            tx.execute(
                "INSERT INTO sync_cursors (sync_id, side, cursor, position) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sync_id, side) DO UPDATE SET \
                   cursor = max(cursor, excluded.cursor), position = excluded.position",
                params![batch.sync_id, side, number, text],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn pending_messages(
        &self,
        sync_id: &str,
        source_side: Side,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        type Row = (
            i64,
            String,
            i64,
            String,
            i64,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = self.read(|c| {
            c.prepare_cached(
                "SELECT row, source_key, seq, body, attempts, last_error, next_attempt_at, parked_at \
                 FROM outbox WHERE sync_id = ?1 AND source_side = ?2 \
                   AND delivered_at IS NULL AND skipped_at IS NULL AND row > ?3 \
                 ORDER BY row LIMIT ?4",
            )?
            .query_map(
                params![
                    sync_id,
                    source_side.as_str(),
                    after_row,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
                },
            )?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(row, source_key, seq, body, attempts, last_error, next_attempt_at, parked_at)| {
                    PendingMessage {
                        message: serde_json::from_str::<IssueSyncMessage>(&body).map_err(|error| {
                            format!(
                                "outbox row {row} of {}: unreadable message: {error}",
                                self.location
                            )
                        }),
                        row,
                        source_key,
                        seq,
                        attempts,
                        last_error,
                        due: Due::of_row(next_attempt_at, parked_at),
                    }
                },
            )
            .collect())
    }

    fn message_covers(
        &self,
        sync_id: &str,
        key: &str,
        seq: i64,
    ) -> Result<Option<i64>, StoreError> {
        let message_id = IssueSyncMessage::make_id(sync_id, key, seq);
        self.read(|c| {
            c.prepare_cached("SELECT covers FROM outbox WHERE message_id = ?1")?
                .query_row([message_id], |row| row.get(0))
                .optional()
        })
    }

    fn record_written(
        &self,
        sync_id: &str,
        key: &str,
        changes: &[HistoryEntry],
        origins: &WriteOrigins,
        created: bool,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            record_written_in(tx, sync_id, key, changes, origins, created).map_err(self.err())
        })
    }

    fn written_since(&self, key: &str, after_seq: i64) -> Result<Vec<Written>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT seq, field, sync_id, origin, origin_at FROM written \
                 WHERE key = ?1 AND seq > ?2 ORDER BY seq",
            )?
            .query_map(params![key, after_seq], |row| {
                Ok(Written {
                    seq: row.get(0)?,
                    field: row.get(1)?,
                    sync_id: row.get(2)?,
                    origin: row.get(3)?,
                    origin_at: Timestamp(row.get(4)?),
                })
            })?
            .collect()
        })
    }

    fn field_version(
        &self,
        key: &str,
        field: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT origin, origin_at FROM field_versions WHERE key = ?1 AND field = ?2",
            )?
            .query_row(params![key, field], |row| {
                Ok((row.get(0)?, Timestamp(row.get(1)?)))
            })
            .optional()
        })
    }

    fn touch_field(
        &self,
        key: &str,
        field: &str,
        version: (&str, Timestamp),
        resyncs: &[(String, Side, Vec<String>)],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            upsert_field_version(tx, key, field, version.0, version.1).map_err(self.err())?;
            for (sync_id, side, relationships) in resyncs {
                let relationships = serde_json::to_string(relationships)
                    .map_err(|error| self.invalid(error.to_string()))?;
                tx.prepare_cached(
                    "INSERT INTO resync_requests (sync_id, side, key, relationships, requested_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![sync_id, side.as_str(), key, relationships, version.1 .0])
                })
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    fn prune(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.write(|tx| {
            let messages = tx
                .execute(
                    "DELETE FROM outbox WHERE created_at < ?1 \
                       AND (delivered_at IS NOT NULL OR skipped_at IS NOT NULL) \
                       AND seq < (SELECT max(newer.seq) FROM outbox AS newer \
                                  WHERE newer.sync_id = outbox.sync_id \
                                    AND newer.source_key = outbox.source_key)",
                    [before.0],
                )
                .map_err(self.err())?;
            let sends = tx
                .execute(
                    "DELETE FROM skipped_sends WHERE skipped_at < ?1",
                    [before.0],
                )
                .map_err(self.err())?;
            Ok(messages + sends)
        })
    }

    fn issue_origin(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT origin FROM issue_origins WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()
        })
    }

    fn issue_for_origin(&self, origin: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT key FROM issue_origins WHERE origin = ?1 ORDER BY key LIMIT 1",
            )?
            .query_row([origin], |row| row.get(0))
            .optional()
        })
    }

    fn sent_after(
        &self,
        sync_id: &str,
        key: &str,
        after_seq: i64,
    ) -> Result<BTreeMap<String, Timestamp>, StoreError> {
        let bodies: Vec<String> = self.read(|c| {
            c.prepare_cached(
                "SELECT body FROM outbox WHERE sync_id = ?1 AND source_key = ?2 AND seq > ?3",
            )?
            .query_map(params![sync_id, key, after_seq], |row| row.get(0))?
            .collect()
        })?;
        let mut newest: BTreeMap<String, Timestamp> = BTreeMap::new();
        for body in bodies {
            let message: IssueSyncMessage = serde_json::from_str(&body)
                .map_err(|error| self.invalid(format!("a message about {key}: {error}")))?;
            for (relationship, entry) in message.entries {
                if let Some(at) = entry.changed_at {
                    let slot = newest.entry(relationship).or_insert(at);
                    *slot = (*slot).max(at);
                }
            }
        }
        Ok(newest)
    }

    fn messages_delivered(&self, rows: &[i64]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now().0;
        self.write(|tx| {
            // A queue applied in order is marked a range at a time (an initial sync:
            // one statement for thousands of rows).
            for (first, last) in runs(rows) {
                tx.prepare_cached(
                    "UPDATE outbox SET delivered_at = ?3, last_error = NULL \
                     WHERE row BETWEEN ?1 AND ?2",
                )
                .and_then(|mut stmt| stmt.execute(params![first, last, now]))
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    fn message_failed(
        &self,
        row: i64,
        failure: &Failure,
        attempts: i64,
        due: Due,
    ) -> Result<(), StoreError> {
        self.record_message_failure(row, failure, attempts, due)
    }

    fn failures(&self, query: &FailureQuery<'_>) -> Result<Vec<FailureRecord>, StoreError> {
        self.list_failures(query)
    }

    fn retry_failures(&self, query: &FailureQuery<'_>) -> Result<usize, StoreError> {
        self.retry_matching(query)
    }

    fn skip_failure(&self, id: &str, by: &str) -> Result<Option<SkippedFailure>, StoreError> {
        self.skip(id, by)
    }

    fn queue_counts(&self, sync_id: &str, source_side: Side) -> Result<QueueCounts, StoreError> {
        self.count_queue(sync_id, source_side)
    }

    fn record_round(&self, sync_id: &str, round: &RoundRecord) -> Result<(), StoreError> {
        self.save_round(sync_id, round)
    }

    fn last_round(&self, sync_id: &str) -> Result<Option<RoundRecord>, StoreError> {
        self.load_round(sync_id)
    }

    fn record_running_slow_calls(
        &self,
        sync_id: &str,
        calls: &[SlowCall],
    ) -> Result<(), StoreError> {
        self.save_running_slow_calls(sync_id, calls)
    }

    fn running_slow_calls(&self, sync_id: &str) -> Result<RunningSlowCalls, StoreError> {
        self.load_running_slow_calls(sync_id)
    }

    fn record_host_note(&self, sync_id: &str, note: &str, value: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO host_notes (sync_id, note, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sync_id, note) DO UPDATE SET value = excluded.value, \
                   updated_at = excluded.updated_at",
                params![sync_id, note, value, Timestamp::now().0],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    fn host_note(
        &self,
        sync_id: &str,
        note: &str,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT value, updated_at FROM host_notes WHERE sync_id = ?1 AND note = ?2",
                params![sync_id, note],
                |row| Ok((row.get(0)?, Timestamp(row.get(1)?))),
            )
            .optional()
        })
    }

    fn applied_seq(&self, sync_id: &str, source_key: &str) -> Result<i64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT seq FROM applied WHERE sync_id = ?1 AND source_key = ?2")?
                .query_row(params![sync_id, source_key], |row| row.get(0))
                .optional()
                .map(|seq| seq.unwrap_or(0))
        })
    }

    fn record_applied(
        &self,
        sync_id: &str,
        target_key: &str,
        source_key: &str,
        seq: Option<i64>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            self.upsert_state(
                tx,
                sync_id,
                target_key,
                Some(source_key),
                seq.map(|_| Timestamp::now()),
            )?;
            if let Some(seq) = seq {
                record_applied_seq(tx, sync_id, source_key, seq).map_err(self.err())?;
            }
            Ok(())
        })
    }
}

/// Records where the values of `changes` came from (see [`SyncLedger::record_written`]).
pub(super) fn record_written_in(
    tx: &Connection,
    sync_id: &str,
    key: &str,
    changes: &[HistoryEntry],
    origins: &WriteOrigins,
    created: bool,
) -> rusqlite::Result<()> {
    for change in changes {
        let Some((origin, at)) = origins.fields.get(&change.field) else {
            continue;
        };
        tx.prepare_cached(
            "INSERT OR REPLACE INTO written (key, seq, field, sync_id, origin, origin_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            key,
            change.seq,
            change.field,
            sync_id,
            origin,
            at.0
        ])?;
        upsert_field_version(tx, key, &change.field, origin, *at)?;
    }
    if created {
        tx.prepare_cached("INSERT OR REPLACE INTO issue_origins (key, origin) VALUES (?1, ?2)")?
            .execute(params![key, origins.issue])?;
    }
    Ok(())
}

fn upsert_field_version(
    tx: &Connection,
    key: &str,
    field: &str,
    origin: &str,
    at: Timestamp,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO field_versions (key, field, origin, origin_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key, field) DO UPDATE SET origin = excluded.origin, \
           origin_at = excluded.origin_at WHERE excluded.origin_at > origin_at",
    )?
    .execute(params![key, field, origin, at.0])?;
    Ok(())
}

pub(super) fn record_applied_seq(
    tx: &Connection,
    sync_id: &str,
    source_key: &str,
    seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO applied (sync_id, source_key, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (sync_id, source_key) DO UPDATE SET seq = max(seq, excluded.seq)",
    )?
    .execute(params![sync_id, source_key, seq])?;
    Ok(())
}

pub(super) fn sync_state_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IssueSyncState> {
    Ok(IssueSyncState {
        partner: row.get(0)?,
        last_sent_seq: row.get(1)?,
        last_sent_at: row.get::<_, Option<i64>>(2)?.map(Timestamp),
        last_received_at: row.get::<_, Option<i64>>(3)?.map(Timestamp),
        history_to: row.get(4)?,
    })
}

/// A resync request as stored (its relationships as JSON text).
struct ResyncRow {
    id: i64,
    key: String,
    relationships: String,
    requested_at: i64,
}

/// `rows` as runs of consecutive numbers (first, last), in ascending order.
fn runs(rows: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for row in sorted {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == row => *last = row,
            _ => runs.push((row, row)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::store::TrackerCursor;

    fn message(key: &str, seq: i64) -> IssueSyncMessage {
        IssueSyncMessage {
            id: IssueSyncMessage::make_id("s", key, seq),
            sync_id: "s".into(),
            source_side: Side::A,
            source_key: key.into(),
            issue_type: "Task".into(),
            seq,
            is_new: seq == 1,
            entries: BTreeMap::new(),
            covers_history_to: 0,
            source_has_partner: false,
            partner_messages_applied: 0,
            sent_at: Timestamp(1),
            origin: None,
        }
    }

    fn batch(messages: Vec<IssueSyncMessage>) -> OutgoingBatch {
        OutgoingBatch {
            sync_id: "s".into(),
            side: Side::A,
            cursor: TrackerCursor(String::new()),
            read_to: Vec::new(),
            messages,
            failures: Vec::new(),
            recovered: Vec::new(),
            resyncs_done: Vec::new(),
        }
    }

    fn pending(store: &SqliteStore) -> Vec<(String, i64, i64)> {
        store
            .pending_messages("s", Side::A, 0, 100)
            .unwrap()
            .into_iter()
            .map(|pending| {
                let body_seq = pending.message.as_ref().map(|m| m.seq).unwrap();
                (pending.source_key, pending.seq, body_seq)
            })
            .collect()
    }

    #[test]
    fn a_message_whose_id_is_taken_is_stored_with_the_next_free_number() {
        let store = SqliteStore::in_memory().unwrap();
        store
            .record_outgoing(&batch(vec![message("A-1", 1), message("A-1", 2)]))
            .unwrap();
        // The issue's sync state was lost: it numbers its next message 1 again.
        store
            .record_outgoing(&batch(vec![message("A-1", 1), message("A-2", 1)]))
            .unwrap();
        assert_eq!(
            pending(&store),
            vec![
                ("A-1".into(), 1, 1),
                ("A-1".into(), 2, 2),
                ("A-1".into(), 3, 3),
                ("A-2".into(), 1, 1)
            ]
        );
        let state = store.sync_state("s", "A-1").unwrap().unwrap();
        assert_eq!(state.last_sent_seq, 3);
    }

    #[test]
    fn marking_rows_delivered_marks_those_rows_only() {
        let store = SqliteStore::in_memory().unwrap();
        let messages = (1..=6).map(|n| message(&format!("A-{n}"), 1)).collect();
        store.record_outgoing(&batch(messages)).unwrap();
        let rows: Vec<i64> = store
            .pending_messages("s", Side::A, 0, 100)
            .unwrap()
            .iter()
            .map(|pending| pending.row)
            .collect();
        store
            .messages_delivered(&[rows[4], rows[0], rows[1], rows[3]])
            .unwrap();
        let left: Vec<String> = pending(&store).into_iter().map(|(key, ..)| key).collect();
        assert_eq!(left, vec!["A-3", "A-6"]);
    }

    #[test]
    fn rows_are_cut_into_runs_of_consecutive_numbers() {
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(runs(&[7]), vec![(7, 7)]);
        assert_eq!(
            runs(&[5, 3, 4, 9, 10, 12, 4]),
            vec![(3, 5), (9, 10), (12, 12)]
        );
    }
}
