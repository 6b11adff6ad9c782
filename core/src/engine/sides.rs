//! Opens what each side of a synchronization runs on: a SQLite store file (tracker and
//! ledger in one), or a tracker reached through a connector plus the SQLite ledger
//! file kept for it. Each file and each tracker is opened once, however many sides
//! use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{SideConfig, SideSource, SyncConfig, TrackerSpec};
use crate::store::{AtomicApply, SqliteStore, StoreError, SyncLedger, SyncStore, Tracker};

/// What one side runs on.
#[derive(Clone)]
pub struct SideStores {
    /// The issues.
    pub tracker: Arc<dyn Tracker>,
    /// What fieldsync remembers about them.
    pub ledger: Arc<dyn SyncLedger>,
    /// Set when tracker and ledger are one database: a message step is then applied
    /// and recorded in one transaction.
    pub atomic: Option<Arc<dyn AtomicApply>>,
}

impl SideStores {
    /// A store that is tracker, ledger and atomic applier at once.
    pub fn of_store(store: Arc<dyn SyncStore>) -> Self {
        SideStores {
            tracker: Arc::clone(&store) as Arc<dyn Tracker>,
            ledger: Arc::clone(&store) as Arc<dyn SyncLedger>,
            atomic: Some(store as Arc<dyn AtomicApply>),
        }
    }
}

/// A kind of tracker fieldsync can talk to (`redmine`), provided by a connector crate
/// and handed to [`crate::Engine::with_connectors`].
pub trait Connector: Send + Sync {
    /// The `kind` it serves in a configuration's `tracker`.
    fn kind(&self) -> &str;
    /// Connects to the tracker a configuration describes; `config_dir` resolves
    /// relative paths (a key file). Errors name the setting at fault.
    fn open(&self, spec: &TrackerSpec, config_dir: &Path) -> Result<Arc<dyn Tracker>, StoreError>;
}

/// The connectors a host offers, by kind.
#[derive(Default, Clone)]
pub struct Connectors(Vec<Arc<dyn Connector>>);

impl Connectors {
    /// None: only SQLite store files.
    pub fn none() -> Self {
        Connectors::default()
    }

    /// Adds a connector.
    pub fn with(mut self, connector: impl Connector + 'static) -> Self {
        self.0.push(Arc::new(connector));
        self
    }

    /// Connects to the tracker `spec` describes (`config_dir` resolves its paths).
    pub fn open(
        &self,
        spec: &TrackerSpec,
        config_dir: &Path,
    ) -> Result<Arc<dyn Tracker>, StoreError> {
        let connector = self.find(&spec.kind).ok_or_else(|| StoreError::Invalid {
            store: spec.kind.clone(),
            message: format!(
                "no connector for trackers of kind `{}` (available: {})",
                spec.kind,
                self.kinds()
            ),
        })?;
        connector.open(spec, config_dir)
    }

    fn find(&self, kind: &str) -> Option<&Arc<dyn Connector>> {
        self.0.iter().find(|connector| connector.kind() == kind)
    }

    fn kinds(&self) -> String {
        if self.0.is_empty() {
            return "none in this host".to_owned();
        }
        self.0
            .iter()
            .map(|connector| format!("`{}`", connector.kind()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens the SQLite store at a configured path (resolved against the configuration
/// file's folder).
pub type StoreOpener<'a> = dyn FnMut(&Path) -> Result<Arc<dyn SyncStore>, StoreError> + 'a;

/// Opens existing SQLite stores, each file once however many projects or
/// synchronizations use it.
pub(crate) fn sqlite_stores() -> impl FnMut(&Path) -> Result<Arc<dyn SyncStore>, StoreError> {
    let mut opened: BTreeMap<PathBuf, Arc<dyn SyncStore>> = BTreeMap::new();
    move |path: &Path| {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Some(store) = opened.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn SyncStore> = Arc::new(SqliteStore::open_existing(path)?);
        opened.insert(key, Arc::clone(&store));
        Ok(store)
    }
}

/// Opens existing SQLite stores to read them (also where they cannot be written),
/// each file once.
pub(crate) fn sqlite_stores_for_reading(
) -> impl FnMut(&Path) -> Result<Arc<dyn SyncStore>, StoreError> {
    let mut opened: BTreeMap<PathBuf, Arc<dyn SyncStore>> = BTreeMap::new();
    move |path: &Path| {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Some(store) = opened.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn SyncStore> = Arc::new(SqliteStore::open_for_reading(path)?);
        opened.insert(key, Arc::clone(&store));
        Ok(store)
    }
}

/// A problem opening one side: the key of the side's configuration at fault.
pub(crate) struct OpenProblem {
    pub setting: &'static str,
    pub error: String,
}

impl OpenProblem {
    fn of(setting: &'static str, error: &StoreError) -> Self {
        OpenProblem {
            setting,
            error: error.to_string(),
        }
    }
}

/// Opens sides, remembering what it opened.
pub(crate) struct SideOpener<'a> {
    stores: &'a mut StoreOpener<'a>,
    connectors: &'a Connectors,
    /// Whether trackers are connected; status and error commands only need ledgers.
    connect: bool,
    trackers: BTreeMap<String, Arc<dyn Tracker>>,
    ledgers: BTreeMap<PathBuf, Arc<SqliteStore>>,
    /// A tracker that did not answer: the configuration may be right, try later.
    pub unavailable: Option<String>,
}

impl<'a> SideOpener<'a> {
    pub fn new(stores: &'a mut StoreOpener<'a>, connectors: &'a Connectors, connect: bool) -> Self {
        SideOpener {
            stores,
            connectors,
            connect,
            trackers: BTreeMap::new(),
            ledgers: BTreeMap::new(),
            unavailable: None,
        }
    }

    /// The ledger of a side, and its tracker unless this opener does not connect.
    pub fn open(
        &mut self,
        config: &SyncConfig,
        side: &SideConfig,
    ) -> Result<(Arc<dyn SyncLedger>, Option<SideStores>), OpenProblem> {
        match config.side_source(side) {
            None => Err(OpenProblem {
                setting: "store",
                error: "names neither a store file nor a tracker".to_owned(),
            }),
            Some(SideSource::Store(path)) => {
                let store = (self.stores)(&path).map_err(|error| {
                    // A full disk or a damaged file: not the configuration's fault.
                    if error.is_unavailable() {
                        self.unavailable.get_or_insert_with(|| error.to_string());
                    }
                    OpenProblem::of("store", &error)
                })?;
                let stores = SideStores::of_store(store);
                Ok((Arc::clone(&stores.ledger), Some(stores)))
            }
            Some(SideSource::Tracker(spec, ledger_path)) => {
                let ledger = self.ledger(&ledger_path)?;
                if !self.connect {
                    return Ok((ledger, None));
                }
                let tracker = self.tracker(spec, config)?;
                Ok((
                    Arc::clone(&ledger),
                    Some(SideStores {
                        tracker,
                        ledger,
                        atomic: None,
                    }),
                ))
            }
        }
    }

    fn ledger(&mut self, path: &Path) -> Result<Arc<dyn SyncLedger>, OpenProblem> {
        // By its folder: the file itself may not exist before the first open, and one
        // file must be one store (one connection) however its sides name it.
        let key = match (path.parent(), path.file_name()) {
            (Some(folder), Some(name)) => folder
                .canonicalize()
                .map_or_else(|_| path.to_owned(), |folder| folder.join(name)),
            _ => path.to_owned(),
        };
        if let Some(ledger) = self.ledgers.get(&key) {
            return Ok(Arc::clone(ledger) as Arc<dyn SyncLedger>);
        }
        // The ledger of a tracker is fieldsync's own file: made on first use (a
        // status command only reads, and finds an empty one).
        // Read-only commands (no trackers connected) read an existing ledger even
        // where it cannot be written.
        let opened = if !self.connect && path.exists() {
            SqliteStore::open_for_reading(path)
        } else {
            SqliteStore::open(path)
        };
        let ledger = Arc::new(opened.map_err(|error| {
            if error.is_unavailable() {
                self.unavailable.get_or_insert_with(|| error.to_string());
            }
            OpenProblem::of("ledger", &error)
        })?);
        self.ledgers.insert(key, Arc::clone(&ledger));
        Ok(ledger as Arc<dyn SyncLedger>)
    }

    fn tracker(
        &mut self,
        spec: &TrackerSpec,
        config: &SyncConfig,
    ) -> Result<Arc<dyn Tracker>, OpenProblem> {
        let identity = format!("{}:{:?}", spec.kind, spec.settings);
        if let Some(tracker) = self.trackers.get(&identity) {
            return Ok(Arc::clone(tracker));
        }
        let folder = config.file.parent().unwrap_or(Path::new("."));
        let tracker = match self.connectors.open(spec, folder) {
            Ok(tracker) => tracker,
            Err(error) => {
                if error.is_unavailable() {
                    self.unavailable.get_or_insert_with(|| error.to_string());
                }
                return Err(OpenProblem::of("tracker", &error));
            }
        };
        self.trackers.insert(identity, Arc::clone(&tracker));
        Ok(tracker)
    }
}
