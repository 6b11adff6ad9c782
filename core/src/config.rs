//! The sync configuration: one JSON file with one or more synchronizations.
//!
//! ```json
//! {
//!   "synchronizations": [{
//!     "id": "support-dev",
//!     "a": { "project": "SUP", "store": "support.db", "issue_type_map": { "Bug": "Incident" } },
//!     "b": { "project": "DEV", "store": "dev.db", "issue_type_map": { "Incident": "Bug" } },
//!     "issue_types": ["Incident", "Bug", "Task"],
//!     "sync_user": "fieldsync",
//!     "interval_seconds": 30,
//!     "fields": [
//!       { "id": "summary", "direction": "both",
//!         "a": { "field": "summary" }, "b": { "field": "title" } },
//!       { "id": "priority", "direction": "a-to-b",
//!         "a": { "field": "priority" },
//!         "b": { "field": "priority",
//!                "incoming": { "mapping": "fieldsync.value-map",
//!                              "options": { "map": { "High": "P1", "Low": "P3" } } } } }
//!     ]
//!   }]
//! }
//! ```
//!
//! Store paths are relative to the configuration file. A side's `outgoing` mapping
//! runs when that side is the source of a relationship, its `incoming` mapping when
//! it is the target; both default to `fieldsync.copy`. Reading checks the shape of the
//! file and everything that needs no store or plugin; [`crate::engine::Engine::new`]
//! checks projects, fields, field types and mapping ids, and reports problems with
//! the same JSON paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::message::Side;

/// The configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The synchronizations to run.
    pub synchronizations: Vec<Synchronization>,
    /// Worker threads per queue. Default: for a side in the local database one
    /// applying messages (its one connection serialises the writes) and up to four
    /// reading a large batch of changed issues; the number of CPUs for a remote
    /// tracker.
    #[serde(default)]
    pub workers: Option<usize>,
    /// What happens to a message that fails: automatic retries, then parked.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// A mapping call running longer than this many milliseconds is reported in the
    /// log (while it runs) and in `fieldsync status`.
    #[serde(default = "default_slow_mapping_call_ms")]
    pub slow_mapping_call_ms: u64,
    /// How long delivered messages and the record of skipped ones are kept, in days
    /// (fractions allowed; default 30). The newest message of each issue is always
    /// kept: the conflict rule reads it.
    #[serde(default = "default_retention_days")]
    pub retention_days: f64,
    /// The file it was read from; store paths are relative to its folder.
    #[serde(skip)]
    pub file: PathBuf,
}

/// Two projects kept in sync.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synchronization {
    /// Unique id, used in messages and sync state: renaming it starts over.
    pub id: String,
    /// The first project.
    pub a: SideConfig,
    /// The second project.
    pub b: SideConfig,
    /// Only issues of these types are synced (all when empty).
    #[serde(default)]
    pub issue_types: Vec<String>,
    /// The user the sync writes as; its own changes are never sent back.
    #[serde(default = "default_sync_user")]
    pub sync_user: String,
    /// Seconds between rounds of `fieldsync sync` (fractions allowed).
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// The field relationships.
    pub fields: Vec<Relationship>,
}

fn default_sync_user() -> String {
    "fieldsync".to_owned()
}

fn default_interval() -> f64 {
    60.0
}

/// The longest interval or retry delay accepted: a year. (Longer ones are typos, and
/// far longer ones do not fit a `Duration`.)
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// `seconds` as a duration, within 0..=[`MAX_SECONDS`] whatever the number.
fn seconds(seconds: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(seconds.clamp(0.0, MAX_SECONDS))
        .unwrap_or(std::time::Duration::ZERO)
}

fn default_slow_mapping_call_ms() -> u64 {
    5_000
}

fn default_retention_days() -> f64 {
    30.0
}

impl SyncConfig {
    /// How long delivered messages are kept.
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::try_from_secs_f64(self.retention_days * 86_400.0)
            .unwrap_or(std::time::Duration::MAX)
    }
}

/// Automatic retries of a failed message, with exponential backoff: the first retry
/// waits `first_delay_seconds`, each further one twice as long, at most
/// `max_delay_seconds`. After `attempts` failed attempts the message is parked until
/// a person retries or skips it (`fieldsync errors retry|skip`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Failed attempts (the first one included) before the message is parked.
    pub attempts: u32,
    /// Wait after the first failure, in seconds.
    pub first_delay_seconds: f64,
    /// The longest wait, in seconds.
    pub max_delay_seconds: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay_seconds: 30.0,
            max_delay_seconds: 3600.0,
        }
    }
}

impl RetryPolicy {
    /// How long to wait after the `failures`-th failed attempt, or `None` when the
    /// message is to be parked.
    pub fn delay_after(&self, failures: i64) -> Option<std::time::Duration> {
        if failures >= i64::from(self.attempts) {
            return None;
        }
        let doublings = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let wait =
            (self.first_delay_seconds * 2f64.powi(doublings.min(64))).min(self.max_delay_seconds);
        Some(seconds(wait))
    }

    fn problems(&self, problem: &mut dyn FnMut(String, String)) {
        if self.attempts == 0 {
            problem("retry.attempts".into(), "must be at least 1".into());
        }
        let valid = |seconds: f64| (0.0..=MAX_SECONDS).contains(&seconds);
        if !valid(self.first_delay_seconds) {
            problem(
                "retry.first_delay_seconds".into(),
                format!("must be a number of seconds from 0 to {MAX_SECONDS}"),
            );
        }
        if !valid(self.max_delay_seconds) || self.max_delay_seconds < self.first_delay_seconds {
            problem(
                "retry.max_delay_seconds".into(),
                format!("must be a number of seconds from first_delay_seconds to {MAX_SECONDS}"),
            );
        }
    }
}

impl Synchronization {
    /// The time between rounds.
    pub fn interval(&self) -> std::time::Duration {
        seconds(self.interval_seconds)
    }

    /// The configuration of one side.
    pub fn side(&self, side: Side) -> &SideConfig {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

/// One project of a synchronization: in a SQLite store file (`store`), or on a
/// tracker reached through a connector (`tracker`, with its `ledger`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideConfig {
    /// Project key (a Redmine project's identifier).
    pub project: String,
    /// The store file holding it (relative to the configuration file).
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// The tracker holding it, when it is not a store file.
    #[serde(default)]
    pub tracker: Option<TrackerSpec>,
    /// Where fieldsync keeps what it remembers about a tracker's project (links,
    /// cursors, messages): a SQLite file, relative to the configuration file.
    /// Default: [`DEFAULT_LEDGER`] beside the configuration. A store file is its own
    /// ledger.
    #[serde(default)]
    pub ledger: Option<PathBuf>,
    /// Issue type of the other side → issue type created here (same name otherwise).
    #[serde(default)]
    pub issue_type_map: BTreeMap<String, String>,
}

/// The ledger file of tracker sides that name none, beside the configuration.
pub const DEFAULT_LEDGER: &str = "fieldsync-ledger.db";

/// A tracker reached through a connector:
/// `{"kind": "redmine", "url": "https://redmine.example.com", "api_key_env": "REDMINE_API_KEY"}`.
/// Every key but `kind` is the connector's to read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TrackerSpec {
    /// Which connector serves it (`redmine`).
    pub kind: String,
    /// The connector's settings.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, Value>,
}

/// Where a side's data lives, as the configuration says.
#[derive(Debug, Clone, PartialEq)]
pub enum SideSource<'a> {
    /// A SQLite store file (tracker and ledger in one), resolved.
    Store(PathBuf),
    /// A tracker and the ledger file kept for it, resolved.
    Tracker(&'a TrackerSpec, PathBuf),
}

/// Which way a relationship syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FlowDirection {
    /// From side A to side B only.
    #[serde(rename = "a-to-b")]
    AToB,
    /// From side B to side A only.
    #[serde(rename = "b-to-a")]
    BToA,
    /// Both ways; the newer change wins.
    #[serde(rename = "both")]
    Both,
}

impl fmt::Display for FlowDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowDirection::AToB => "a-to-b",
            FlowDirection::BToA => "b-to-a",
            FlowDirection::Both => "both",
        })
    }
}

impl FlowDirection {
    /// Whether data flows from `source` to the other side.
    pub fn flows_from(self, source: Side) -> bool {
        matches!(
            (self, source),
            (FlowDirection::Both, _)
                | (FlowDirection::AToB, Side::A)
                | (FlowDirection::BToA, Side::B)
        )
    }
}

/// A field relationship: a field on each side and how it is mapped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    /// Unique id within the synchronization; it keys the data in messages.
    pub id: String,
    /// Which way it syncs.
    pub direction: FlowDirection,
    /// The field on side A and its mappings.
    pub a: FieldEnd,
    /// The field on side B and its mappings.
    pub b: FieldEnd,
    /// Only for source issues of these types (all when empty).
    #[serde(default)]
    pub issue_types: Vec<String>,
}

impl Relationship {
    /// One end.
    pub fn end(&self, side: Side) -> &FieldEnd {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

/// One end of a relationship.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldEnd {
    /// The field id in that side's project.
    pub field: String,
    /// Mapping used when this side is the source.
    #[serde(default)]
    pub outgoing: MappingChoice,
    /// Mapping used when this side is the target.
    #[serde(default)]
    pub incoming: MappingChoice,
}

/// A mapping id and its options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingChoice {
    /// Mapping id (built-in or from a plugin).
    pub mapping: String,
    /// Options for the mapping.
    #[serde(default)]
    pub options: Value,
}

impl Default for MappingChoice {
    fn default() -> Self {
        MappingChoice {
            mapping: DEFAULT_MAPPING.to_owned(),
            options: Value::Null,
        }
    }
}

/// The most worker threads a configuration may ask for.
pub const MAX_WORKERS: usize = 64;

/// The mapping used where a side names none: the built-in copy.
pub const DEFAULT_MAPPING: &str = "fieldsync.copy";

/// Problems found in a configuration file, each with its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong where.
    pub problems: Vec<ConfigProblem>,
}

/// One problem at one place of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// JSON path, e.g. `synchronizations[0].fields[3].direction` (`.` for the file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: ", self.file.display())?;
            if problem.path != "." {
                write!(f, "{}: ", problem.path)?;
            }
            f.write_str(&problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// One problem.
    pub fn single(file: &Path, path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            problems: vec![ConfigProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl SyncConfig {
    /// Reads and checks a configuration file.
    pub fn load(file: impl AsRef<Path>) -> Result<SyncConfig, ConfigError> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file)
            .map_err(|error| ConfigError::single(file, ".", format!("cannot read: {error}")))?;
        Self::parse(&text, file)
    }

    /// Reads and checks configuration text as if it came from `file`.
    pub fn parse(text: &str, file: &Path) -> Result<SyncConfig, ConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut config: SyncConfig =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                // A syntax error has no path ("?"): the line and column say where.
                let path = match error.path().to_string() {
                    path if path == "?" => ".".to_owned(),
                    path => path,
                };
                ConfigError::single(file, path, error.into_inner().to_string())
            })?;
        config.file = file.to_owned();
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                file: file.to_owned(),
                problems,
            })
        }
    }

    /// The path of a store file as written in the configuration.
    pub fn store_path(&self, store: &Path) -> PathBuf {
        match self.file.parent() {
            Some(folder) if store.is_relative() => folder.join(store),
            _ => store.to_owned(),
        }
    }

    /// Where a side's data lives, paths resolved against the configuration's folder
    /// (`None` when the side names neither a store nor a tracker, which
    /// [`SyncConfig::parse`] refuses).
    pub fn side_source<'a>(&self, side: &'a SideConfig) -> Option<SideSource<'a>> {
        match (&side.store, &side.tracker) {
            (Some(store), None) => Some(SideSource::Store(self.store_path(store))),
            (None, Some(tracker)) => {
                let ledger = side
                    .ledger
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_LEDGER));
                Some(SideSource::Tracker(tracker, self.store_path(&ledger)))
            }
            _ => None,
        }
    }

    /// The SQLite file holding a side's sync state: its store, or its ledger.
    pub fn ledger_path(&self, side: &SideConfig) -> Option<PathBuf> {
        match self.side_source(side)? {
            SideSource::Store(path) | SideSource::Tracker(_, path) => Some(path),
        }
    }

    /// Everything wrong that can be seen without opening stores or loading plugins.
    fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |path: String, message: String| problems.push(ConfigProblem { path, message });
        if self.synchronizations.is_empty() {
            problem("synchronizations".into(), "is empty".into());
        }
        if let Some(workers) = self.workers {
            if !(1..=MAX_WORKERS).contains(&workers) {
                problem("workers".into(), format!("must be 1 to {MAX_WORKERS}"));
            }
        }
        self.retry.problems(&mut problem);
        if self.slow_mapping_call_ms == 0 {
            problem("slow_mapping_call_ms".into(), "must be at least 1".into());
        }
        if !(self.retention_days.is_finite() && self.retention_days > 0.0) {
            problem(
                "retention_days".into(),
                "must be a number of days above 0".into(),
            );
        }
        let mut sync_ids = BTreeSet::new();
        for (index, sync) in self.synchronizations.iter().enumerate() {
            let at = format!("synchronizations[{index}]");
            if sync.id.trim().is_empty() || sync.id.contains(':') {
                problem(
                    format!("{at}.id"),
                    "must be non-empty and without `:`".into(),
                );
            }
            if !sync_ids.insert(&sync.id) {
                problem(format!("{at}.id"), format!("`{}` is used twice", sync.id));
            }
            if sync.sync_user.trim().is_empty() {
                problem(format!("{at}.sync_user"), "is empty".into());
            }
            if !(0.001..=MAX_SECONDS).contains(&sync.interval_seconds) {
                problem(
                    format!("{at}.interval_seconds"),
                    format!("must be a number of seconds from 0.001 to {MAX_SECONDS}"),
                );
            }
            for side in [Side::A, Side::B] {
                let end = sync.side(side);
                let at = format!("{at}.{side}");
                match (&end.store, &end.tracker) {
                    (Some(_), Some(_)) => problem(
                        format!("{at}.tracker"),
                        "a side is either a `store` file or a `tracker`, not both".into(),
                    ),
                    (None, None) => problem(
                        format!("{at}.store"),
                        "is missing: name the store file holding the project, or a `tracker`"
                            .into(),
                    ),
                    (Some(_), None) if end.ledger.is_some() => problem(
                        format!("{at}.ledger"),
                        "a store file keeps its own sync state; `ledger` is for a `tracker`".into(),
                    ),
                    _ => {}
                }
            }
            let (source_a, source_b) = (self.side_source(&sync.a), self.side_source(&sync.b));
            if sync.a.project == sync.b.project && source_a == source_b {
                problem(
                    format!("{at}.b.project"),
                    format!(
                        "both sides are project `{}` of the same store",
                        sync.a.project
                    ),
                );
            } else if sync.a.project == sync.b.project
                && matches!((&source_a, &source_b),
                    (Some(SideSource::Tracker(_, a)), Some(SideSource::Tracker(_, b))) if a == b)
            {
                // Issue keys are `PROJECT-N`: the two sides' issues would share keys.
                problem(
                    format!("{at}.b.ledger"),
                    format!(
                        "both sides are a project `{}` (of two trackers) and would keep their \
                         sync state in one ledger file, where their issue keys clash: give \
                         one side a `ledger` of its own",
                        sync.a.project
                    ),
                );
            }
            if sync.fields.is_empty() {
                problem(format!("{at}.fields"), "is empty".into());
            }
            let mut relationship_ids = BTreeSet::new();
            for (field_index, relationship) in sync.fields.iter().enumerate() {
                let at = format!("{at}.fields[{field_index}]");
                if relationship.id.trim().is_empty() {
                    problem(format!("{at}.id"), "is empty".into());
                }
                if !relationship_ids.insert(&relationship.id) {
                    problem(
                        format!("{at}.id"),
                        format!(
                            "`{}` is used twice in this synchronization",
                            relationship.id
                        ),
                    );
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<SyncConfig, String> {
        SyncConfig::parse(text, Path::new("sync.json")).map_err(|error| error.to_string())
    }

    const GOOD: &str = r#"{ "synchronizations": [{
        "id": "s", "a": {"project": "A", "store": "a.db"}, "b": {"project": "B", "store": "b.db"},
        "fields": [
          {"id": "summary", "direction": "both", "a": {"field": "summary"}, "b": {"field": "title"}},
          {"id": "prio", "direction": "a-to-b", "a": {"field": "priority"},
           "b": {"field": "priority", "incoming": {"mapping": "fieldsync.value-map", "options": {"map": {"High": "P1"}}}}}
        ] }] }"#;

    #[test]
    fn a_good_file_reads_with_defaults() {
        let config = parse(GOOD).unwrap();
        let sync = &config.synchronizations[0];
        assert_eq!(sync.sync_user, "fieldsync");
        assert_eq!(sync.interval_seconds, 60.0);
        assert_eq!(sync.fields[0].a.outgoing.mapping, "fieldsync.copy");
        assert_eq!(sync.fields[1].b.incoming.mapping, "fieldsync.value-map");
        assert!(sync.fields[1].direction.flows_from(Side::A));
        assert!(!sync.fields[1].direction.flows_from(Side::B));
        assert_eq!(config.store_path(Path::new("a.db")), Path::new("a.db"));
    }

    #[test]
    fn shape_errors_name_the_file_and_json_path() {
        let bad = GOOD.replace(r#""direction": "a-to-b""#, r#""direction": "sideways""#);
        let error = parse(&bad).unwrap_err();
        assert!(
            error.starts_with("sync.json: synchronizations[0].fields[1].direction: unknown variant `sideways`, expected one of `a-to-b`, `b-to-a`, `both`"),
            "{error}"
        );
        let bad = GOOD.replace(r#""field": "title""#, r#""feild": "title""#);
        let error = parse(&bad).unwrap_err();
        assert!(
            error.starts_with("sync.json: synchronizations[0].fields[0].b.feild: unknown field `feild`, expected one of `field`"),
            "{error}"
        );
        let error = parse("{ not json").unwrap_err();
        assert!(
            error.starts_with("sync.json: key must be a string"),
            "{error}"
        );
    }

    #[test]
    fn semantic_problems_are_all_listed() {
        let bad = GOOD
            .replace(r#""id": "prio""#, r#""id": "summary""#)
            .replace(
                r#""project": "B", "store": "b.db""#,
                r#""project": "A", "store": "a.db""#,
            );
        let error = parse(&bad).unwrap_err();
        assert_eq!(
            error,
            "sync.json: synchronizations[0].b.project: both sides are project `A` of the same store\n\
             sync.json: synchronizations[0].fields[1].id: `summary` is used twice in this synchronization"
        );
    }

    #[test]
    fn two_trackers_with_one_project_key_need_a_ledger_each() {
        let side = |url: &str, ledger: Option<&str>| {
            let mut side = json!({"project": "dev", "tracker": {"kind": "redmine", "url": url}});
            if let Some(ledger) = ledger {
                side["ledger"] = json!(ledger);
            }
            side
        };
        let config = |b_ledger: Option<&str>| {
            json!({"synchronizations": [{
                "id": "s", "a": side("http://one", None), "b": side("http://two", b_ledger),
                "fields": [{"id": "subject", "direction": "both",
                            "a": {"field": "subject"}, "b": {"field": "subject"}}]
            }]})
            .to_string()
        };
        let error = parse(&config(None)).unwrap_err();
        assert!(
            error.starts_with(
                "sync.json: synchronizations[0].b.ledger: both sides are a project `dev`"
            ),
            "{error}"
        );
        assert!(parse(&config(Some("two.db"))).is_ok());
    }

    #[test]
    fn retries_double_up_to_the_limit_then_park() {
        let policy = RetryPolicy {
            attempts: 5,
            first_delay_seconds: 10.0,
            max_delay_seconds: 25.0,
        };
        let delays: Vec<Option<u64>> = (1..=5)
            .map(|failures| policy.delay_after(failures).map(|d| d.as_secs()))
            .collect();
        assert_eq!(delays, [Some(10), Some(20), Some(25), Some(25), None]);
        assert_eq!(RetryPolicy::default().delay_after(1).unwrap().as_secs(), 30);
    }

    #[test]
    fn retry_and_timing_settings_are_checked() {
        let bad = GOOD.replacen(
            "{",
            r#"{ "retry": {"attempts": 0, "first_delay_seconds": 60, "max_delay_seconds": 5},
                 "slow_mapping_call_ms": 0,"#,
            1,
        );
        let bad = bad.replace(
            r#""synchronizations": [{"#,
            r#""synchronizations": [{ "interval_seconds": -1,"#,
        );
        let error = parse(&bad).unwrap_err();
        for line in [
            "sync.json: retry.attempts: must be at least 1",
            "sync.json: retry.max_delay_seconds: must be a number of seconds from first_delay_seconds to 31536000",
            "sync.json: slow_mapping_call_ms: must be at least 1",
            "sync.json: synchronizations[0].interval_seconds: must be a number of seconds from 0.001 to 31536000",
        ] {
            assert!(error.contains(line), "`{line}` in:\n{error}");
        }
        let huge = GOOD.replacen(
            "{",
            r#"{ "retry": {"first_delay_seconds": 1e20, "max_delay_seconds": 1e300},"#,
            1,
        );
        let huge = huge.replace(
            r#""synchronizations": [{"#,
            r#""synchronizations": [{ "interval_seconds": 1e20,"#,
        );
        let error = parse(&huge).unwrap_err();
        for path in [
            "retry.first_delay_seconds",
            "retry.max_delay_seconds",
            "synchronizations[0].interval_seconds",
        ] {
            assert!(
                error.contains(&format!("sync.json: {path}: must be")),
                "{path}:\n{error}"
            );
        }
        let typo = GOOD.replacen("{", r#"{ "retry": {"atempts": 3},"#, 1);
        let error = parse(&typo).unwrap_err();
        assert!(
            error.starts_with("sync.json: retry.atempts: unknown field"),
            "{error}"
        );
    }
}
