//! The failure and round bookkeeping of [`SqliteStore`]: parked and retrying
//! messages, failed sends, skips, round records.

use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::message::{IssueSyncMessage, Side};
use crate::model::Timestamp;
use crate::store::{
    shortened, Due, FailedStep, Failure, FailureContext, FailureQuery, FailureRecord, QueueCounts,
    RoundRecord, RunningSlowCalls, SkippedFailure, SlowCall, StoreError,
};

/// Slow calls kept per round record.
const SLOW_CALLS_KEPT: usize = 20;

/// The id of a failed send (a failed apply is known by its message id).
pub(crate) fn send_error_id(sync_id: &str, key: &str) -> String {
    format!("{sync_id}:{key}:send")
}

/// The side stored in column `index` ("a" or "b").
fn side_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Side> {
    match row.get_ref(index)?.as_str()? {
        "a" => Ok(Side::A),
        "b" => Ok(Side::B),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("`{other}` is not a side (a or b)").into(),
        )),
    }
}

pub(super) fn context_of(text: Option<String>) -> FailureContext {
    text.and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub(super) fn context_json(failure: &Failure) -> String {
    serde_json::to_string(&failure.context).unwrap_or_else(|_| "{}".to_owned())
}

const APPLY_COLUMNS: &str = "row, message_id, sync_id, source_side, source_key, last_error, \
     failure, attempts, first_failed_at, last_failed_at, next_attempt_at, parked_at, body";

/// Which outbox rows an [`FailureQuery`] selects; `?1`..`?4` are [`filter_params`].
const OUTBOX_FILTER: &str = "(?1 IS NULL OR sync_id = ?1) AND (?2 IS NULL OR source_side = ?2) \
     AND (?3 IS NULL OR source_key = ?3) AND (?4 IS NULL OR message_id = ?4)";

/// Which failed sends an [`FailureQuery`] selects; `?1`..`?4` are [`filter_params`].
/// (A row with no attempts is a skipped send whose later edits are still to be read:
/// not a failure.)
const SEND_FILTER: &str =
    "state = 'failing' AND (?1 IS NULL OR sync_id = ?1) AND (?2 IS NULL OR side = ?2) \
     AND (?3 IS NULL OR key = ?3) AND (?4 IS NULL OR sync_id || ':' || key || ':send' = ?4)";

fn filter_params<'q>(query: &'q FailureQuery<'_>) -> [Option<&'q str>; 4] {
    [
        query.sync_id,
        query.side.map(Side::as_str),
        query.source_key,
        query.id,
    ]
}

impl SqliteStore {
    pub(super) fn record_message_failure(
        &self,
        row: i64,
        failure: &Failure,
        attempts: i64,
        due: Due,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().0;
        let parked_at = (due == Due::Parked).then_some(now);
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = ?2, last_error = ?3, failure = ?4, \
                   first_failed_at = coalesce(first_failed_at, ?5), last_failed_at = ?5, \
                   next_attempt_at = ?6, parked_at = ?7 WHERE row = ?1",
                params![
                    row,
                    attempts,
                    failure.error,
                    context_json(failure),
                    now,
                    due.stored_time(),
                    parked_at
                ],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    pub(super) fn list_failures(
        &self,
        query: &FailureQuery<'_>,
    ) -> Result<Vec<FailureRecord>, StoreError> {
        let mut records = self.send_errors(query)?;
        records.extend(self.apply_errors(query)?);
        Ok(records)
    }

    fn apply_errors(&self, query: &FailureQuery<'_>) -> Result<Vec<FailureRecord>, StoreError> {
        let sql = format!(
            "SELECT {APPLY_COLUMNS}, \
               (SELECT count(*) FROM outbox AS later WHERE later.sync_id = outbox.sync_id \
                  AND later.source_key = outbox.source_key AND later.row > outbox.row \
                  AND later.delivered_at IS NULL AND later.skipped_at IS NULL) \
             FROM outbox WHERE delivered_at IS NULL AND skipped_at IS NULL \
               AND last_error IS NOT NULL AND {OUTBOX_FILTER} ORDER BY row"
        );
        self.read(|c| {
            c.prepare(&sql)?
                .query_map(filter_params(query), apply_error_row)?
                .collect()
        })
    }

    fn send_errors(&self, query: &FailureQuery<'_>) -> Result<Vec<FailureRecord>, StoreError> {
        let sql = format!(
            "SELECT sync_id, side, key, error, context, attempts, first_at, last_at, \
               next_attempt_at, parked_at FROM outgoing_failures \
             WHERE {SEND_FILTER} ORDER BY first_at"
        );
        self.read(|c| {
            c.prepare(&sql)?
                .query_map(filter_params(query), |row| {
                    let sync_id: String = row.get(0)?;
                    let key: String = row.get(2)?;
                    Ok(FailureRecord {
                        id: send_error_id(&sync_id, &key),
                        sync_id,
                        step: FailedStep::Send,
                        source_side: side_at(row, 1)?,
                        source_key: key,
                        error: row.get(3)?,
                        context: context_of(row.get(4)?),
                        attempts: row.get(5)?,
                        first_failed_at: row.get::<_, Option<i64>>(6)?.map(Timestamp),
                        last_failed_at: row.get::<_, Option<i64>>(7)?.map(Timestamp),
                        due: Due::of_row(row.get(8)?, row.get(9)?),
                        waiting_behind: 0,
                    })
                })?
                .collect()
        })
    }

    pub(super) fn retry_matching(&self, query: &FailureQuery<'_>) -> Result<usize, StoreError> {
        self.write(|tx| {
            let applies = tx
                .execute(
                    &format!(
                        "UPDATE outbox SET next_attempt_at = NULL, parked_at = NULL \
                         WHERE delivered_at IS NULL AND skipped_at IS NULL \
                           AND last_error IS NOT NULL AND {OUTBOX_FILTER}"
                    ),
                    filter_params(query),
                )
                .map_err(self.err())?;
            let sends = tx
                .execute(
                    &format!(
                        "UPDATE outgoing_failures SET next_attempt_at = NULL, parked_at = NULL \
                         WHERE {SEND_FILTER}"
                    ),
                    filter_params(query),
                )
                .map_err(self.err())?;
            Ok(applies + sends)
        })
    }

    pub(super) fn skip(&self, id: &str, by: &str) -> Result<Option<SkippedFailure>, StoreError> {
        let query = FailureQuery {
            id: Some(id),
            ..FailureQuery::default()
        };
        let Some(error) = self.list_failures(&query)?.into_iter().next() else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let changed = self.write(|tx| {
            let changed = match error.step {
                FailedStep::Apply => tx.execute(
                    "UPDATE outbox SET skipped_at = ?2, skipped_by = ?3 \
                     WHERE message_id = ?1 AND delivered_at IS NULL AND skipped_at IS NULL",
                    params![id, now.0, by],
                ),
                // The changes the failed attempts carried are dropped; edits made
                // after the last attempt (held back behind it) are read again from
                // where it stopped, and sent.
                FailedStep::Send => tx
                    .execute(
                        "INSERT INTO skipped_sends (sync_id, side, key, since_seq, error, context, \
                           attempts, first_at, last_at, skipped_at, skipped_by) \
                         SELECT sync_id, side, key, since_seq, error, context, attempts, first_at, \
                           last_at, ?3, ?4 FROM outgoing_failures \
                         WHERE sync_id = ?1 AND key = ?2 AND state = 'failing'",
                        params![error.sync_id, error.source_key, now.0, by],
                    )
                    .and_then(|_| {
                        tx.execute(
                            "UPDATE outgoing_failures SET state = 'skipped', \
                               since_seq = coalesce(tried_to, since_seq), attempts = 0, \
                               error = '', context = NULL, next_attempt_at = NULL, parked_at = NULL \
                             WHERE sync_id = ?1 AND key = ?2 AND state = 'failing'",
                            params![error.sync_id, error.source_key],
                        )
                    }),
            }
            .map_err(self.err())?;
            Ok(changed)
        })?;
        // Delivered or skipped by another process in between: nothing to skip.
        if changed == 0 {
            return Ok(None);
        }
        Ok(Some(SkippedFailure {
            released: error.waiting_behind,
            error,
            skipped_by: by.to_owned(),
            skipped_at: now,
        }))
    }

    pub(super) fn count_queue(
        &self,
        sync_id: &str,
        source_side: Side,
    ) -> Result<QueueCounts, StoreError> {
        let side = source_side.as_str();
        self.read(|c| {
            let (pending, retrying, parked) = c
                .prepare_cached(
                    "SELECT count(*), \
                       count(*) FILTER (WHERE last_error IS NOT NULL AND parked_at IS NULL), \
                       count(*) FILTER (WHERE parked_at IS NOT NULL) \
                     FROM outbox WHERE sync_id = ?1 AND source_side = ?2 \
                       AND delivered_at IS NULL AND skipped_at IS NULL",
                )?
                .query_row(params![sync_id, side], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
            let (send_retrying, send_parked) = c
                .prepare_cached(
                    "SELECT count(*) FILTER (WHERE parked_at IS NULL), \
                       count(*) FILTER (WHERE parked_at IS NOT NULL) \
                     FROM outgoing_failures \
                     WHERE sync_id = ?1 AND side = ?2 AND state = 'failing'",
                )?
                .query_row(params![sync_id, side], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(QueueCounts {
                pending,
                retrying,
                parked,
                send_retrying,
                send_parked,
            })
        })
    }

    pub(super) fn save_round(&self, sync_id: &str, round: &RoundRecord) -> Result<(), StoreError> {
        let mut round = round.clone();
        round.slow_calls.truncate(SLOW_CALLS_KEPT);
        self.write(|tx| {
            let rounds: i64 = tx
                .query_row(
                    "SELECT rounds FROM sync_rounds WHERE sync_id = ?1",
                    [sync_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(self.err())?
                .unwrap_or(0);
            round.rounds = rounds + 1;
            let last = serde_json::to_string(&round)
                .map_err(|error| self.invalid(format!("round record: {error}")))?;
            tx.execute(
                "INSERT INTO sync_rounds (sync_id, rounds, last) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (sync_id) DO UPDATE SET rounds = excluded.rounds, last = excluded.last",
                params![sync_id, round.rounds, last],
            )
            .map_err(self.err())?;
            tx.execute(
                "DELETE FROM slow_calls_running WHERE sync_id = ?1",
                [sync_id],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    pub(super) fn load_round(&self, sync_id: &str) -> Result<Option<RoundRecord>, StoreError> {
        let last: Option<String> = self.read(|c| {
            c.query_row(
                "SELECT last FROM sync_rounds WHERE sync_id = ?1",
                [sync_id],
                |row| row.get(0),
            )
            .optional()
        })?;
        last.map(|text| {
            serde_json::from_str(&text)
                .map_err(|error| self.corrupt(format!("round record of `{sync_id}`: {error}")))
        })
        .transpose()
    }

    pub(super) fn save_running_slow_calls(
        &self,
        sync_id: &str,
        calls: &[SlowCall],
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(calls)
            .map_err(|error| self.invalid(format!("slow calls: {error}")))?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO slow_calls_running (sync_id, calls, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (sync_id) DO UPDATE SET calls = excluded.calls, \
                   updated_at = excluded.updated_at",
                params![sync_id, text, Timestamp::now().0],
            )
            .map_err(self.err())?;
            Ok(())
        })
    }

    pub(super) fn load_running_slow_calls(
        &self,
        sync_id: &str,
    ) -> Result<RunningSlowCalls, StoreError> {
        let row: Option<(String, i64)> = self.read(|c| {
            c.query_row(
                "SELECT calls, updated_at FROM slow_calls_running WHERE sync_id = ?1",
                [sync_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })?;
        let Some((text, updated_at)) = row else {
            return Ok(RunningSlowCalls::default());
        };
        let calls = serde_json::from_str(&text)
            .map_err(|error| self.corrupt(format!("running slow calls of `{sync_id}`: {error}")))?;
        Ok(RunningSlowCalls {
            calls,
            as_of: Some(Timestamp(updated_at)),
        })
    }
}

fn apply_error_row(row: &Row<'_>) -> rusqlite::Result<FailureRecord> {
    let mut context = context_of(row.get(6)?);
    if context.data.is_none() {
        // The data is in the message itself; a damaged body simply has none to show.
        let body: String = row.get(12)?;
        if let (Some(relationship), Ok(message)) = (
            &context.relationship,
            serde_json::from_str::<IssueSyncMessage>(&body),
        ) {
            context.data = message
                .entries
                .get(relationship)
                .map(|entry| shortened(&entry.data));
        }
    }
    Ok(FailureRecord {
        id: row.get(1)?,
        sync_id: row.get(2)?,
        step: FailedStep::Apply,
        source_side: side_at(row, 3)?,
        source_key: row.get(4)?,
        error: row.get(5)?,
        context,
        attempts: row.get(7)?,
        first_failed_at: row.get::<_, Option<i64>>(8)?.map(Timestamp),
        last_failed_at: row.get::<_, Option<i64>>(9)?.map(Timestamp),
        due: Due::of_row(row.get(10)?, row.get(11)?),
        waiting_behind: row.get(13)?,
    })
}
