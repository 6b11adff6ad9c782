//! What the ledger keeps about failures and rounds, for people and programs
//! (`fieldsync errors`, `fieldsync status`, integrators).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Due;
use crate::message::Side;
use crate::model::{preview, Timestamp};

/// Data larger than this (as JSON) is kept shortened in error records.
const DATA_LIMIT: usize = 4096;

/// `data`, or a short text standing for it when it is large: error records keep the
/// context of a failure, not a second copy of a multi-megabyte value.
pub fn shortened(data: &Value) -> Value {
    if data.to_string().len() > DATA_LIMIT {
        Value::String(preview(data))
    } else {
        data.clone()
    }
}

/// What is known about a failure besides its text: where in the configuration and in
/// which plugin it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailureContext {
    /// The target issue, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key: Option<String>,
    /// The relationship id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    /// The field being written or read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The mapping id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// The plugin providing the mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The data being mapped: the source value of a failed send, the message's entry
    /// of a failed apply. Large values are shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A failed attempt to send or apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    /// What went wrong, naming relationship, mapping and plugin.
    pub error: String,
    /// The same, as data (boxed: a failure travels in `Result`s on the hot path).
    pub context: Box<FailureContext>,
    /// Whose failure it is, which decides what happens next.
    pub cause: FailureCause,
}

/// Whose failure it is, which decides what happens next: the issue's (retried with
/// backoff, then parked, blocking only this issue), a message that can never be
/// applied (parked at once), or the round's (nothing counted, nothing parks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureCause {
    /// The issue's data, e.g. a store refusing a value for this issue. Retried, then
    /// parked.
    #[default]
    IssueData,
    /// A mapping failed: an error or a panic in it. Retried (a plugin may be fixed
    /// meanwhile), then parked.
    Mapping,
    /// A value the target field or tracker refuses. Retried (the target may change),
    /// then parked.
    RefusedValue,
    /// A queued message that cannot be read: retrying cannot help, parked at once
    /// for a person to skip.
    DamagedMessage,
    /// A tracker or store that cannot be used now (down, full, damaged): the round's,
    /// not the issue's. No attempt is counted, nothing parks; the work is done again
    /// once the cause is gone.
    Unavailable,
}

impl FailureCause {
    /// Whether trying again later may help.
    pub fn may_pass_later(self) -> bool {
        !matches!(self, FailureCause::DamagedMessage)
    }
}

impl Failure {
    /// A failure known only by its text.
    pub fn new(error: impl Into<String>) -> Self {
        Failure {
            error: error.into(),
            ..Failure::default()
        }
    }

    /// A failure of a store or tracker: the round's when it is unavailable, the
    /// issue's otherwise.
    pub fn of_store(error: &super::StoreError, doing: impl std::fmt::Display) -> Self {
        Failure {
            error: format!("{doing}{error}"),
            cause: if error.is_unavailable() {
                FailureCause::Unavailable
            } else {
                FailureCause::IssueData
            },
            ..Failure::default()
        }
    }
}

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailedStep {
    /// Building the message on the source side (an outgoing mapping).
    Send,
    /// Applying the message to the target (an incoming mapping, the target store).
    Apply,
}

/// A failure waiting for a retry, or parked until a person acts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureRecord {
    /// What `fieldsync errors retry|skip` take: the message id
    /// (`sync:KEY:seq`) of a failed apply, `sync:KEY:send` of a failed send.
    pub id: String,
    /// The synchronization.
    pub sync_id: String,
    /// Which step failed.
    pub step: FailedStep,
    /// The side the issue is on.
    pub source_side: Side,
    /// The source issue.
    pub source_key: String,
    /// The last error.
    pub error: String,
    /// Where it happened.
    pub context: FailureContext,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it first failed.
    pub first_failed_at: Option<Timestamp>,
    /// When it last failed.
    pub last_failed_at: Option<Timestamp>,
    /// When it is tried again: parked means no more automatic retries, it waits
    /// for `fieldsync errors retry` or `skip`.
    pub due: Due,
    /// Later messages of the same issue held up behind this one.
    pub waiting_behind: i64,
}

impl FailureRecord {
    /// Where it stands: `parked after 3 attempts`, `attempt 2, retried at ...`.
    pub fn state(&self) -> String {
        match self.due {
            Due::Parked => {
                let plural = if self.attempts == 1 { "" } else { "s" };
                format!("parked after {} attempt{plural}", self.attempts)
            }
            Due::At(at) => format!("attempt {}, retried at {at}", self.attempts),
            Due::Now => format!("attempt {}, retried with the next round", self.attempts),
        }
    }

    /// No more automatic retries: it waits for a person.
    pub fn parked(&self) -> bool {
        self.due == Due::Parked
    }
}

/// Which failures a query is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureQuery<'a> {
    /// Only this synchronization.
    pub sync_id: Option<&'a str>,
    /// Only issues of this side.
    pub side: Option<Side>,
    /// Only this issue.
    pub source_key: Option<&'a str>,
    /// Only this error id.
    pub id: Option<&'a str>,
}

/// A failure a person skipped, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedFailure {
    /// The failure as it was.
    pub error: FailureRecord,
    /// Who skipped it.
    pub skipped_by: String,
    /// When.
    pub skipped_at: Timestamp,
    /// Later messages of the issue that may now go ahead.
    pub released: i64,
}

/// The queue of one direction of a synchronization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Messages not yet applied (including those below).
    pub pending: i64,
    /// Messages that failed and will be retried automatically.
    pub retrying: i64,
    /// Messages parked until a person acts.
    pub parked: i64,
    /// Issues whose message could not be built, retried automatically.
    pub send_retrying: i64,
    /// Issues whose message could not be built, parked.
    pub send_parked: i64,
}

/// A mapping call that took longer than the configured limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowCall {
    /// The issue being mapped.
    pub issue_key: String,
    /// The relationship id.
    pub relationship: String,
    /// The mapping id.
    pub mapping: String,
    /// The plugin providing it.
    pub plugin: String,
    /// How long it ran, in milliseconds.
    pub millis: u64,
}

impl std::fmt::Display for SlowCall {
    /// Which call: `mapping `m` of plugin `p` on SUP-3 (relationship `r`)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mapping `{}` of plugin `{}` on {} (relationship `{}`)",
            self.mapping, self.plugin, self.issue_key, self.relationship
        )
    }
}

/// Mapping calls over the limit that were running when the watchdog last looked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunningSlowCalls {
    /// The calls, with their time so far.
    pub calls: Vec<SlowCall>,
    /// When the watchdog wrote them (a sync that died leaves them behind).
    pub as_of: Option<Timestamp>,
}

/// What the last round of a synchronization did, kept for `fieldsync status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoundRecord {
    /// Rounds recorded so far (this one included).
    pub rounds: i64,
    /// When the round started.
    pub started_at: Option<Timestamp>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Messages built.
    pub messages_sent: usize,
    /// Messages applied.
    pub applied: usize,
    /// Issues that failed.
    pub failures: usize,
    /// Whether a stop request cut it short.
    pub interrupted: bool,
    /// Mapping calls over the limit (the first few).
    pub slow_calls: Vec<SlowCall>,
    /// A tracker or store that did not answer in this round (its error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Since when rounds have met it unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_since: Option<Timestamp>,
}

impl RoundRecord {
    /// A round that found nothing to do and met no problem.
    pub fn is_idle(&self) -> bool {
        self.messages_sent == 0
            && self.applied == 0
            && self.failures == 0
            && !self.interrupted
            && self.slow_calls.is_empty()
            && self.unavailable.is_none()
    }
}
