//! The sync engine: builds every mapping a configuration names, then runs rounds of
//! the outgoing and incoming queues.
//!
//! A round, per synchronization: the outgoing queues of both sides build their
//! messages first, then each incoming queue applies the other side's messages. Both
//! sides are read before either is written, so an edit made on each side of a `both`
//! relationship meets the other in the incoming step, where the newer change wins:
//! the source's change time travels in the message, and the target keeps its value
//! when one of its own users (anyone but the sync user) changed the field later and
//! the source had not seen that change when it built the message. On a tie, side A
//! wins. "Seen" is exact, not a matter of clocks: each message says how many of the
//! partner's messages its issue had applied, and each side remembers up to which
//! history position each of its own messages reported. A target change the source
//! had already applied is older than the source's change whatever the clocks say;
//! one it had not seen competes, and both sides compare the same two change times,
//! so exactly one wins.

mod build;
mod incoming;
mod outgoing;
mod pool;
pub mod report;
mod sides;
mod watch;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_plugin_api::{IncomingFieldMapping, OutgoingFieldMapping};
use thiserror::Error;

use crate::config::{ConfigError, FlowDirection, RetryPolicy, SyncConfig};
use crate::control::{ControlledSync, SyncControl};
use crate::message::Side;
use crate::model::{project_of_key, ProjectDef, Timestamp};
use crate::registry::MappingRegistry;
use crate::store::{FailureCause, RoundRecord, SlowCall, StoreError};
use pool::Workers;
use watch::CallWatch;

pub use report::{
    AppliedIssue, DirectionReport, FailedSubject, FieldChange, IssueFailure, NextAttempt,
    RoundReport,
};

pub(crate) use sides::{sqlite_stores, sqlite_stores_for_reading, SideOpener};
pub use sides::{Connector, Connectors, SideStores, StoreOpener};

/// Why the engine could not start or act.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The configuration does not fit the stores or the mappings available.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A resync request names an issue or field no synchronization covers.
    #[error("{0}")]
    Resync(String),
    /// A tracker did not answer while the engine started: the configuration may well
    /// be right; try again once it answers.
    #[error("{0}")]
    Unavailable(ConfigError),
}

/// A configured, ready-to-run sync.
pub struct Engine {
    syncs: Vec<SyncRuntime>,
    workers: Workers,
    retry: RetryPolicy,
    slow_call_limit: Duration,
    retention: Duration,
    /// When delivered messages were last pruned (`None`: not yet by this engine).
    pruned_at: parking_lot::Mutex<Option<Instant>>,
    progress: Arc<RoundProgress>,
}

/// What the queues of one round share.
struct Pass<'a> {
    pub workers: Workers,
    pub retry: &'a RetryPolicy,
    pub watch: &'a CallWatch,
    pub stop: &'a AtomicBool,
    /// When the round started: failures due before it are retried.
    pub now: Timestamp,
    pub progress: &'a RoundProgress,
}

/// How far the round running now has got, for a host that shows progress (see
/// [`Engine::progress`]). Counts start at 0 with every round.
#[derive(Debug, Default)]
pub struct RoundProgress {
    /// Issues looked at by the outgoing queues.
    pub issues_read: std::sync::atomic::AtomicUsize,
    /// Messages handled by the incoming queues (applied or failed).
    pub messages_handled: std::sync::atomic::AtomicUsize,
    /// Messages waiting for the incoming queues when they started.
    pub messages_queued: std::sync::atomic::AtomicUsize,
}

impl RoundProgress {
    fn reset(&self) {
        self.issues_read.store(0, Ordering::Relaxed);
        self.messages_handled.store(0, Ordering::Relaxed);
        self.messages_queued.store(0, Ordering::Relaxed);
    }
}

impl Pass<'_> {
    /// When a failure that has now happened `attempts` times is tried again
    /// (`None`: parked).
    pub fn next_attempt(&self, attempts: i64, cause: FailureCause) -> Option<Timestamp> {
        if !cause.may_pass_later() {
            return None;
        }
        let delay = self.retry.delay_after(attempts)?;
        let micros = i64::try_from(delay.as_micros()).unwrap_or(i64::MAX);
        Some(Timestamp(Timestamp::now().0.saturating_add(micros)))
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "synchronizations",
                &self.syncs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            )
            .field("workers", &self.workers)
            .finish()
    }
}

/// One synchronization with its stores and built mappings.
pub(crate) struct SyncRuntime {
    pub id: String,
    pub sync_user: String,
    pub interval: Duration,
    pub issue_types: Vec<String>,
    pub sides: [SideRuntime; 2],
    pub relationships: Vec<RelationshipRuntime>,
}

impl SyncRuntime {
    pub fn side(&self, side: Side) -> &SideRuntime {
        &self.sides[index(side)]
    }

    pub fn relationship(&self, id: &str) -> Option<&RelationshipRuntime> {
        self.relationships.iter().find(|r| r.id == id)
    }

    pub fn syncs_issue_type(&self, issue_type: &str) -> bool {
        self.issue_types.is_empty() || self.issue_types.iter().any(|t| t == issue_type)
    }
}

pub(crate) struct SideRuntime {
    pub side: Side,
    pub project: ProjectDef,
    pub stores: SideStores,
    pub issue_type_map: BTreeMap<String, String>,
    /// Another synchronization of this engine has a side on the same project: the
    /// sync's writes there carry their origin (see [`crate::store::Written`]).
    pub shared: bool,
    /// The other synchronizations with a side on this project: which side, and per
    /// field the relationships that send it from there.
    pub siblings: Vec<Sibling>,
}

/// Another synchronization's side on the same project.
pub(crate) struct Sibling {
    pub sync_id: String,
    pub side: Side,
    /// Field → ids of the relationships sending it from that side.
    pub sends: BTreeMap<String, Vec<String>>,
}

impl SideRuntime {
    /// The project, as origins name it: `<tracker location>#<project>`.
    pub fn origin_id(&self) -> String {
        format!("{}#{}", self.tracker().location(), self.project.key)
    }

    /// An issue of this side, as origins name it: `<tracker location>#<key>`.
    pub fn issue_origin_id(&self, key: &str) -> String {
        format!("{}#{key}", self.tracker().location())
    }

    pub fn tracker(&self) -> &dyn crate::store::Tracker {
        &*self.stores.tracker
    }

    pub fn ledger(&self) -> &dyn crate::store::SyncLedger {
        &*self.stores.ledger
    }
}

pub(crate) struct RelationshipRuntime {
    pub id: String,
    pub direction: FlowDirection,
    pub issue_types: Vec<String>,
    pub ends: [EndRuntime; 2],
}

impl RelationshipRuntime {
    pub fn end(&self, side: Side) -> &EndRuntime {
        &self.ends[index(side)]
    }

    pub fn applies_to(&self, issue_type: &str) -> bool {
        self.issue_types.is_empty() || self.issue_types.iter().any(|t| t == issue_type)
    }

    /// `A.summary → B.title`, for error messages.
    pub fn describe(&self, source: Side) -> String {
        format!(
            "relationship `{}` ({}.{} → {}.{})",
            self.id,
            source.as_str().to_uppercase(),
            self.end(source).field,
            source.other().as_str().to_uppercase(),
            self.end(source.other()).field
        )
    }
}

pub(crate) struct EndRuntime {
    pub field: String,
    /// Built when data flows from this side.
    pub outgoing: Option<BuiltMapping<dyn OutgoingFieldMapping>>,
    /// Built when data flows to this side.
    pub incoming: Option<BuiltMapping<dyn IncomingFieldMapping>>,
}

pub(crate) struct BuiltMapping<M: ?Sized> {
    pub mapping: Box<M>,
    pub identity: MappingIdentity,
    /// Other fields of the issue the mapping declares it reads: a change of one of
    /// them runs it again (outgoing).
    pub reads: Vec<String>,
}

/// Which mapping of which plugin, for errors and slow-call reports.
pub(crate) struct MappingIdentity {
    pub id: String,
    pub plugin: String,
    /// Whether a built-in provides it; custom mappings are never applied while
    /// creating an issue, only in the update that follows.
    pub builtin: bool,
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

impl Engine {
    /// Opens the SQLite stores the configuration names (each file once, however many
    /// projects or synchronizations use it) and builds every mapping.
    pub fn new(config: &SyncConfig, registry: &MappingRegistry) -> Result<Engine, EngineError> {
        Self::with_connectors(config, registry, &Connectors::none())
    }

    /// Like [`Engine::new`], and sides on trackers are reached through `connectors`.
    pub fn with_connectors(
        config: &SyncConfig,
        registry: &MappingRegistry,
        connectors: &Connectors,
    ) -> Result<Engine, EngineError> {
        Self::build(config, registry, &mut sqlite_stores(), connectors)
    }

    /// Like [`Engine::new`], with store files from `open` (given the configured path,
    /// resolved against the configuration file's folder).
    pub fn with_stores(
        config: &SyncConfig,
        registry: &MappingRegistry,
        open: &mut StoreOpener<'_>,
    ) -> Result<Engine, EngineError> {
        Self::build(config, registry, open, &Connectors::none())
    }

    fn build(
        config: &SyncConfig,
        registry: &MappingRegistry,
        open: &mut StoreOpener<'_>,
        connectors: &Connectors,
    ) -> Result<Engine, EngineError> {
        let mut opener = SideOpener::new(open, connectors, true);
        let syncs = match build::build(config, registry, &mut opener) {
            Ok(syncs) => syncs,
            Err(error) if opener.unavailable.is_some() => {
                return Err(EngineError::Unavailable(error))
            }
            Err(error) => return Err(error.into()),
        };
        let workers = Workers {
            configured: config.workers,
            cpus: std::thread::available_parallelism().map_or(2, |threads| threads.get()),
        };
        Ok(Engine {
            syncs,
            workers,
            retry: config.retry.clone(),
            slow_call_limit: Duration::from_millis(config.slow_mapping_call_ms),
            retention: config.retention(),
            pruned_at: parking_lot::Mutex::new(None),
            progress: Arc::default(),
        })
    }

    /// Failures, queues and rounds of this engine's synchronizations.
    pub fn control(&self) -> SyncControl {
        SyncControl::new(
            self.syncs
                .iter()
                .map(|sync| ControlledSync {
                    id: sync.id.clone(),
                    interval: sync.interval,
                    sides: [Side::A, Side::B].map(|side| {
                        (
                            sync.side(side).project.key.clone(),
                            Arc::clone(&sync.side(side).stores.ledger),
                        )
                    }),
                })
                .collect(),
        )
    }

    /// The lock files of every ledger this engine writes, each once: what a process
    /// running its rounds claims ([`crate::runner::RunnerClaim`]).
    pub fn runner_locks(&self) -> Vec<std::path::PathBuf> {
        let locks: std::collections::BTreeSet<std::path::PathBuf> = self
            .syncs
            .iter()
            .flat_map(|sync| &sync.sides)
            .filter_map(|side| side.stores.ledger.runner_lock())
            .collect();
        locks.into_iter().collect()
    }

    /// The progress of the round running now (read it from another thread).
    pub fn progress(&self) -> Arc<RoundProgress> {
        Arc::clone(&self.progress)
    }

    /// Every synchronization's id and interval (how often `fieldsync sync` runs it).
    pub fn schedule(&self) -> Vec<(String, Duration)> {
        self.syncs
            .iter()
            .map(|sync| (sync.id.clone(), sync.interval))
            .collect()
    }

    /// Runs one full round of every synchronization, both ways.
    pub fn run_round(&self) -> RoundReport {
        self.run_round_until(&AtomicBool::new(false))
    }

    /// Runs one round; when `stop` is set, the messages in hand are finished and the
    /// rest wait for the next run.
    pub fn run_round_until(&self, stop: &AtomicBool) -> RoundReport {
        self.run_syncs_until(&|_| true, stop)
    }

    /// Runs one round of the synchronizations whose id `which` accepts.
    pub fn run_syncs_until(&self, which: &dyn Fn(&str) -> bool, stop: &AtomicBool) -> RoundReport {
        let started = Instant::now();
        let mut report = RoundReport::default();
        self.progress.reset();
        for sync in self.syncs.iter().filter(|sync| which(&sync.id)) {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let sync_started = (Instant::now(), Timestamp::now());
            let watch = CallWatch::new(self.slow_call_limit);
            let pass = Pass {
                workers: self.workers,
                retry: &self.retry,
                watch: &watch,
                stop,
                now: sync_started.1,
                progress: &self.progress,
            };
            let home = &sync.side(Side::A).stores.ledger;
            let report_overdue = |calls: &[SlowCall]| {
                if let Err(error) = home.record_running_slow_calls(&sync.id, calls) {
                    log::warn!("{error} (recording slow mapping calls of `{}`)", sync.id);
                }
            };
            let (directions, interrupted) =
                watch.watching(report_overdue, || self.run_sync(sync, &pass));
            let record = RoundRecord {
                rounds: 0,
                started_at: Some(sync_started.1),
                duration_ms: u64::try_from(sync_started.0.elapsed().as_millis())
                    .unwrap_or(u64::MAX),
                messages_sent: directions.iter().map(|d| d.messages_sent).sum(),
                applied: directions.iter().map(|d| d.applied_count).sum(),
                failures: directions.iter().map(|d| d.failures.len()).sum(),
                interrupted,
                slow_calls: directions
                    .iter()
                    .flat_map(|d| d.slow_calls.iter().cloned())
                    .collect(),
                unavailable: directions.iter().find_map(|d| d.unavailable.clone()),
                unavailable_since: None,
            };
            let last = home.last_round(&sync.id).ok().flatten();
            let record = RoundRecord {
                // Since when: carried over from the round before while it lasts.
                unavailable_since: record.unavailable.as_ref().map(|_| {
                    last.as_ref()
                        .and_then(|last| last.unavailable_since)
                        .unwrap_or(sync_started.1)
                }),
                ..record
            };
            // The round's work is stored already; its record only feeds `status`. Idle
            // rounds after an idle one write nothing (the first says all is quiet).
            let quiet_already = record.is_idle() && last.as_ref().is_some_and(RoundRecord::is_idle);
            if !quiet_already {
                if let Err(error) = home.record_round(&sync.id, &record) {
                    log::warn!("{error} (recording the round of `{}`)", sync.id);
                }
            }
            report.interrupted |= interrupted;
            report.directions.extend(directions);
        }
        report.interrupted |= stop.load(Ordering::SeqCst);
        self.prune_when_due();
        report.duration = started.elapsed();
        report
    }

    /// Deletes what the retention lets go, at most a few times per retention period
    /// (and at most hourly): a sync running for months keeps its stores' size
    /// bounded. A prune that finds nothing writes nothing.
    fn prune_when_due(&self) {
        let every = (self.retention / 4).min(Duration::from_secs(3600));
        {
            let mut pruned_at = self.pruned_at.lock();
            if pruned_at.is_some_and(|at| at.elapsed() < every) {
                return;
            }
            *pruned_at = Some(Instant::now());
        }
        let micros = i64::try_from(self.retention.as_micros()).unwrap_or(i64::MAX);
        let before = Timestamp(Timestamp::now().0.saturating_sub(micros));
        let mut ledgers: Vec<&Arc<dyn crate::store::SyncLedger>> = Vec::new();
        for side in self.syncs.iter().flat_map(|sync| &sync.sides) {
            if !ledgers
                .iter()
                .any(|seen| Arc::ptr_eq(seen, &side.stores.ledger))
            {
                ledgers.push(&side.stores.ledger);
            }
        }
        for ledger in ledgers {
            match ledger.prune(before) {
                Ok(0) => {}
                Ok(rows) => log::debug!("pruned {rows} delivered message(s) older than {before}"),
                Err(error) => log::warn!("{error} (pruning delivered messages)"),
            }
        }
    }

    /// Both outgoing queues, then both incoming queues, of one synchronization.
    fn run_sync(&self, sync: &SyncRuntime, pass: &Pass<'_>) -> (Vec<DirectionReport>, bool) {
        let mut interrupted = false;
        let mut directions: Vec<DirectionReport> = [Side::A, Side::B]
            .into_iter()
            .map(|source| {
                DirectionReport::empty(
                    &sync.id,
                    source,
                    &sync.side(source).project.key,
                    &sync.side(source.other()).project.key,
                )
            })
            .collect();
        for direction in &mut directions {
            if !pass.stop.load(Ordering::SeqCst) {
                outgoing::run(sync, direction.from, pass, direction);
                direction.slow_calls.extend(pass.watch.take_slow());
            }
        }
        // A message about an issue of a side whose tracker is down could not have been
        // read; its incoming step is tried anyway (the other side may be up).
        for direction in &mut directions {
            if pass.stop.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            incoming::run(sync, direction.from, pass, direction);
            direction.slow_calls.extend(pass.watch.take_slow());
        }
        (directions, interrupted)
    }

    /// Queues a resync of `fields` of issue `key` (field ids of the issue's project, or
    /// relationship ids; all of its relationships when empty) in every
    /// synchronization that sends from its project. Returns what was queued.
    pub fn request_resync(&self, key: &str, fields: &[String]) -> Result<Vec<String>, EngineError> {
        let project = project_of_key(key).unwrap_or_default();
        let mut requests = Vec::new();
        for sync in &self.syncs {
            for source in [Side::A, Side::B] {
                let side = sync.side(source);
                if side.project.key != project {
                    continue;
                }
                if side.tracker().get(key)?.is_none() {
                    return Err(EngineError::Resync(format!(
                        "{}: no issue `{key}`",
                        side.tracker().location()
                    )));
                }
                let sendable: Vec<&RelationshipRuntime> = sync
                    .relationships
                    .iter()
                    .filter(|r| r.direction.flows_from(source))
                    .collect();
                let chosen: Vec<String> = if fields.is_empty() {
                    sendable.iter().map(|r| r.id.clone()).collect()
                } else {
                    let mut chosen = Vec::new();
                    for field in fields {
                        let matching: Vec<String> = sendable
                            .iter()
                            .filter(|r| &r.id == field || &r.end(source).field == field)
                            .map(|r| r.id.clone())
                            .collect();
                        if matching.is_empty() {
                            return Err(EngineError::Resync(format!(
                                "synchronization `{}` sends no field `{field}` from {project} \
                                 (it sends: {})",
                                sync.id,
                                sendable
                                    .iter()
                                    .map(|r| r.end(source).field.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                        chosen.extend(matching);
                    }
                    chosen
                };
                requests.push((sync, source, chosen));
            }
        }
        if requests.is_empty() {
            return Err(EngineError::Resync(format!(
                "no synchronization sends issues of project `{project}`"
            )));
        }
        // Written only once every synchronization accepted the request.
        let mut queued = Vec::new();
        for (sync, source, chosen) in requests {
            sync.side(source)
                .ledger()
                .request_resync(&sync.id, source, key, &chosen)?;
            queued.push(format!("{}: {}", sync.id, chosen.join(", ")));
        }
        Ok(queued)
    }
}
