//! What an operator does between rounds: list failures, retry or skip them, and see
//! how each synchronization is doing. Needs only the configuration and the stores,
//! not the plugins: a broken plugin folder must not hide the errors it causes.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::config::{ConfigError, ConfigProblem, SyncConfig};
use crate::engine::{sqlite_stores_for_reading, Connectors, SideOpener};
use crate::message::Side;
use crate::model::{project_of_key, Timestamp};
use crate::runner::RunnerInfo;
use crate::store::{
    FailureQuery, FailureRecord, QueueCounts, RoundRecord, RunningSlowCalls, SkippedFailure,
    StoreError, SyncLedger,
};

/// Why an operator's request failed.
#[derive(Debug, Error)]
pub enum ControlError {
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A store cannot be used now (damaged, a full disk): the configuration may well
    /// be right.
    #[error("{0}")]
    Unavailable(ConfigError),
    /// No failure has this id.
    #[error("no failure `{id}` is waiting{hint}")]
    UnknownError {
        /// The id asked for.
        id: String,
        /// What to do instead.
        hint: String,
    },
}

/// One synchronization's stores, as the control sees them.
pub(crate) struct ControlledSync {
    pub id: String,
    pub interval: Duration,
    /// Project key and store of side A, then of side B.
    pub sides: [(String, Arc<dyn SyncLedger>); 2],
}

impl ControlledSync {
    fn side(&self, side: Side) -> &(String, Arc<dyn SyncLedger>) {
        match side {
            Side::A => &self.sides[0],
            Side::B => &self.sides[1],
        }
    }
}

/// The state of one synchronization, for `fieldsync status`.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    /// The synchronization.
    pub sync_id: String,
    /// Seconds between rounds.
    pub interval_seconds: f64,
    /// Its two directions.
    pub directions: Vec<DirectionStatus>,
    /// The last round recorded (none before the first).
    pub last_round: Option<RoundRecord>,
    /// Mapping calls over the limit that were running when the watchdog last looked.
    pub running_slow_calls: RunningSlowCalls,
    /// What the host running this synchronization last said of its plugins (see
    /// [`SyncControl::record_host_note`]); `None` before a host wrote it.
    pub plugins: Option<HostNote>,
    /// The process running rounds on its stores now, if any (see [`crate::runner`]).
    pub runner: Option<RunnerInfo>,
}

/// A note the running host keeps in the store for `fieldsync status`.
#[derive(Debug, Clone, Serialize)]
pub struct HostNote {
    /// The note, as the host wrote it (JSON).
    pub value: serde_json::Value,
    /// When it was written.
    pub updated_at: Timestamp,
}

/// The note under which `fieldsync sync` describes its plugins.
pub const PLUGINS_NOTE: &str = "plugins";

impl SyncStatus {
    /// Messages and sends that failed and wait, for their retry or for a person, both
    /// directions.
    pub fn failing(&self) -> i64 {
        self.directions
            .iter()
            .map(|direction| {
                let queue = &direction.queue;
                queue.retrying + queue.parked + queue.send_retrying + queue.send_parked
            })
            .sum()
    }

    /// Messages and sends parked, both directions.
    pub fn parked(&self) -> i64 {
        self.directions
            .iter()
            .map(|direction| direction.queue.parked + direction.queue.send_parked)
            .sum()
    }
}

/// One direction of a synchronization.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionStatus {
    /// The source side.
    pub from: Side,
    /// Source project.
    pub from_project: String,
    /// Target project.
    pub to_project: String,
    /// Its queue.
    pub queue: QueueCounts,
}

/// Failures, queues and rounds of the synchronizations of one configuration.
pub struct SyncControl {
    syncs: Vec<ControlledSync>,
}

impl SyncControl {
    pub(crate) fn new(syncs: Vec<ControlledSync>) -> Self {
        SyncControl { syncs }
    }

    /// Opens the stores a configuration names (they must exist); every store that
    /// cannot be opened is reported with its place in the configuration.
    pub fn open(config: &SyncConfig) -> Result<Self, ControlError> {
        let mut stores = sqlite_stores_for_reading();
        let connectors = Connectors::none();
        // Only the ledgers: errors and queues are fieldsync's own records, readable
        // while a tracker is down.
        let mut open = SideOpener::new(&mut stores, &connectors, false);
        let mut syncs = Vec::new();
        let mut problems = Vec::new();
        for (index, sync) in config.synchronizations.iter().enumerate() {
            let mut sides = Vec::new();
            for side in [Side::A, Side::B] {
                let end = sync.side(side);
                match open.open(config, end) {
                    Ok((ledger, _)) => sides.push((end.project.clone(), ledger)),
                    Err(problem) => problems.push(ConfigProblem {
                        path: format!("synchronizations[{index}].{side}.{}", problem.setting),
                        message: problem.error,
                    }),
                }
            }
            if let Ok(sides) = <[(String, Arc<dyn SyncLedger>); 2]>::try_from(sides) {
                syncs.push(ControlledSync {
                    id: sync.id.clone(),
                    interval: sync.interval(),
                    sides,
                });
            }
        }
        if !problems.is_empty() {
            let error = ConfigError {
                file: config.file.clone(),
                problems,
            };
            return Err(if open.unavailable.is_some() {
                ControlError::Unavailable(error)
            } else {
                ControlError::Config(error)
            });
        }
        Ok(SyncControl { syncs })
    }

    /// Every failure waiting for a retry or a person, oldest first per store.
    pub fn failures(&self) -> Result<Vec<FailureRecord>, StoreError> {
        let mut records = Vec::new();
        for sync in &self.syncs {
            for side in [Side::A, Side::B] {
                records.extend(sync.side(side).1.failures(&FailureQuery {
                    sync_id: Some(&sync.id),
                    side: Some(side),
                    ..FailureQuery::default()
                })?);
            }
        }
        Ok(records)
    }

    /// Makes one failure due at once (parked or not): the next round tries it.
    pub fn retry(&self, id: &str) -> Result<usize, ControlError> {
        for (sync, side) in self.locate(id) {
            let retried = sync.side(side).1.retry_failures(&FailureQuery {
                sync_id: Some(&sync.id),
                side: Some(side),
                id: Some(id),
                ..FailureQuery::default()
            })?;
            if retried > 0 {
                return Ok(retried);
            }
        }
        Err(self.unknown(id))
    }

    /// Makes every failure due at once. Returns how many.
    pub fn retry_all(&self) -> Result<usize, StoreError> {
        let mut retried = 0;
        for sync in &self.syncs {
            for side in [Side::A, Side::B] {
                retried += sync.side(side).1.retry_failures(&FailureQuery {
                    sync_id: Some(&sync.id),
                    side: Some(side),
                    ..FailureQuery::default()
                })?;
            }
        }
        Ok(retried)
    }

    /// Gives up on one failure, recording `by` and the time; the messages waiting
    /// behind it go ahead in the next round.
    pub fn skip(&self, id: &str, by: &str) -> Result<SkippedFailure, ControlError> {
        for (sync, side) in self.locate(id) {
            if let Some(skipped) = sync.side(side).1.skip_failure(id, by)? {
                return Ok(skipped);
            }
        }
        Err(self.unknown(id))
    }

    /// Queue depth, parked messages and the last round of every synchronization.
    pub fn status(&self) -> Result<Vec<SyncStatus>, StoreError> {
        let mut statuses = Vec::new();
        for sync in &self.syncs {
            let mut directions = Vec::new();
            for side in [Side::A, Side::B] {
                directions.push(DirectionStatus {
                    from: side,
                    from_project: sync.side(side).0.clone(),
                    to_project: sync.side(side.other()).0.clone(),
                    queue: sync.side(side).1.queue_counts(&sync.id, side)?,
                });
            }
            statuses.push(SyncStatus {
                sync_id: sync.id.clone(),
                interval_seconds: sync.interval.as_secs_f64(),
                directions,
                last_round: sync.side(Side::A).1.last_round(&sync.id)?,
                running_slow_calls: sync.side(Side::A).1.running_slow_calls(&sync.id)?,
                plugins: self.host_note(sync, PLUGINS_NOTE)?,
                runner: [Side::A, Side::B]
                    .into_iter()
                    .filter_map(|side| sync.side(side).1.runner_lock())
                    .find_map(|lock| crate::runner::holder(&lock)),
            });
        }
        Ok(statuses)
    }

    /// Keeps `value` (JSON) under `note` in the home store (side A's) of every
    /// synchronization, for `fieldsync status`. Written when the host's state changes,
    /// never once per round.
    pub fn record_host_note(
        &self,
        note: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let text = value.to_string();
        for sync in &self.syncs {
            sync.side(Side::A)
                .1
                .record_host_note(&sync.id, note, &text)?;
        }
        Ok(())
    }

    fn host_note(&self, sync: &ControlledSync, note: &str) -> Result<Option<HostNote>, StoreError> {
        let Some((text, updated_at)) = sync.side(Side::A).1.host_note(&sync.id, note)? else {
            return Ok(None);
        };
        // A note this fieldsync cannot read is shown as the text it is.
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok(Some(HostNote { value, updated_at }))
    }

    /// The synchronizations and sides an error id (`sync:KEY:seq` or
    /// `sync:KEY:send`) may belong to: the sides holding the key's project (both,
    /// when the two stores use the same project key).
    fn locate(&self, id: &str) -> Vec<(&ControlledSync, Side)> {
        let mut parts = id.splitn(3, ':');
        let (Some(sync_id), Some(key)) = (parts.next(), parts.next()) else {
            return Vec::new();
        };
        let project = project_of_key(key).unwrap_or_default();
        self.syncs
            .iter()
            .filter(|sync| sync.id == sync_id)
            .flat_map(|sync| [Side::A, Side::B].map(|side| (sync, side)))
            .filter(|(sync, side)| sync.side(*side).0 == project)
            .collect()
    }

    fn unknown(&self, id: &str) -> ControlError {
        let known = self.failures().map(|errors| errors.len()).unwrap_or(0);
        ControlError::UnknownError {
            id: id.to_owned(),
            hint: match known {
                0 => " (no failure is waiting at all)".to_owned(),
                n => format!(" ({n} are: `fieldsync errors list` shows their ids)"),
            },
        }
    }
}
