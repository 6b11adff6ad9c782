//! The SQLite schema of a store file and its version.

/// Stored in `PRAGMA user_version`; a file with a higher number was written by a
/// newer fieldsync and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 8;

/// The `application_id` that marks a SQLite file as a fieldsync store ("FSYN").
pub const APPLICATION_ID: i64 = 0x4653_594e;

/// The schema of version 1; a new store is created with it and then migrated like
/// any older store, so both paths are the same.
pub const SCHEMA: &str = r#"
CREATE TABLE projects (
    key         TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,
    next_number INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE users (
    username     TEXT PRIMARY KEY,
    email        TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE issues (
    key        TEXT PRIMARY KEY,
    project    TEXT NOT NULL REFERENCES projects(key),
    number     INTEGER NOT NULL,
    issue_type TEXT NOT NULL,
    fields     TEXT NOT NULL,
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX issues_by_number ON issues(project, number);
CREATE TABLE history (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_key TEXT NOT NULL,
    time      INTEGER NOT NULL,
    author    TEXT NOT NULL,
    field     TEXT NOT NULL,
    old       TEXT NOT NULL,
    new       TEXT NOT NULL
);
CREATE INDEX history_by_issue ON history(issue_key, seq);
CREATE INDEX history_by_field ON history(issue_key, field, seq);

-- Sync state.
CREATE TABLE sync_cursors (
    sync_id TEXT NOT NULL,
    side    TEXT NOT NULL,
    cursor  INTEGER NOT NULL,
    PRIMARY KEY (sync_id, side)
);
CREATE TABLE sync_issues (
    sync_id          TEXT NOT NULL,
    key              TEXT NOT NULL,
    partner          TEXT,
    last_sent_seq    INTEGER NOT NULL DEFAULT 0,
    last_sent_at     INTEGER,
    last_received_at INTEGER,
    PRIMARY KEY (sync_id, key)
);
CREATE INDEX sync_issues_by_partner ON sync_issues(sync_id, partner);
CREATE INDEX sync_issues_by_key ON sync_issues(key);
CREATE TABLE outgoing_failures (
    sync_id   TEXT NOT NULL,
    side      TEXT NOT NULL,
    key       TEXT NOT NULL,
    since_seq INTEGER NOT NULL,
    error     TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    first_at  INTEGER NOT NULL,
    last_at   INTEGER NOT NULL,
    PRIMARY KEY (sync_id, side, key)
);
CREATE TABLE resync_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sync_id       TEXT NOT NULL,
    side          TEXT NOT NULL,
    key           TEXT NOT NULL,
    relationships TEXT NOT NULL,
    requested_at  INTEGER NOT NULL
);
CREATE TABLE outbox (
    row         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    sync_id     TEXT NOT NULL,
    source_side TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    covers      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    delivered_at INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX outbox_pending ON outbox(sync_id, source_side, delivered_at, row);
CREATE INDEX outbox_failed ON outbox(source_key) WHERE delivered_at IS NULL AND last_error IS NOT NULL;
CREATE TABLE applied (
    sync_id    TEXT NOT NULL,
    source_key TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (sync_id, source_key)
);
"#;

/// `MIGRATIONS[n]` turns schema `n + 1` into `n + 2`; each runs in the transaction
/// that also sets the new `user_version`.
pub const MIGRATIONS: &[&str] = &[
    // 2: failures are retried with backoff, then parked; people retry or skip them;
    // rounds are recorded for `fieldsync status`.
    r#"
ALTER TABLE outbox ADD COLUMN failure TEXT;
ALTER TABLE outbox ADD COLUMN first_failed_at INTEGER;
ALTER TABLE outbox ADD COLUMN last_failed_at INTEGER;
ALTER TABLE outbox ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE outbox ADD COLUMN parked_at INTEGER;
ALTER TABLE outbox ADD COLUMN skipped_at INTEGER;
ALTER TABLE outbox ADD COLUMN skipped_by TEXT;
ALTER TABLE outgoing_failures ADD COLUMN context TEXT;
ALTER TABLE outgoing_failures ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE outgoing_failures ADD COLUMN parked_at INTEGER;
-- The history position the last attempt read up to: skipping the failure sends the
-- issue's later edits from here.
ALTER TABLE outgoing_failures ADD COLUMN tried_to INTEGER;
-- Schema 1 retried every round: its failures were tried up to the cursor.
UPDATE outgoing_failures SET tried_to = coalesce(
    (SELECT cursor FROM sync_cursors AS c
      WHERE c.sync_id = outgoing_failures.sync_id AND c.side = outgoing_failures.side),
    since_seq);
CREATE TABLE skipped_sends (
    sync_id    TEXT NOT NULL,
    side       TEXT NOT NULL,
    key        TEXT NOT NULL,
    since_seq  INTEGER NOT NULL,
    error      TEXT NOT NULL,
    context    TEXT,
    attempts   INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    skipped_at INTEGER NOT NULL,
    skipped_by TEXT NOT NULL
);
CREATE TABLE sync_rounds (
    sync_id TEXT PRIMARY KEY,
    rounds  INTEGER NOT NULL,
    last    TEXT NOT NULL
);
-- Mapping calls over the limit in the round running now (a hung plugin shows in
-- `fieldsync status` before its round ends); cleared when the round is recorded.
CREATE TABLE slow_calls_running (
    sync_id    TEXT PRIMARY KEY,
    calls      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    // 3: trackers other than the SQLite model: a cursor the tracker writes (text), and
    // per issue the history position its last message read up to.
    r#"
ALTER TABLE sync_cursors ADD COLUMN position TEXT;
ALTER TABLE sync_issues ADD COLUMN history_to INTEGER NOT NULL DEFAULT 0;
"#,
    // 4: what the running host says of itself for `fieldsync status` (the plugins it
    // runs, what it refused), written when that changes, never per round.
    r#"
CREATE TABLE host_notes (
    sync_id    TEXT NOT NULL,
    note       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sync_id, note)
);
"#,
    // 5: the messages about one issue, found without reading the whole outbox (what
    // the partner had not seen when a message crossed it decides conflicts).
    r#"
CREATE INDEX outbox_by_issue ON outbox(sync_id, source_key, seq);
"#,
    // 6: where the values the sync wrote came from, and which issue an issue the sync
    // created stands for: a project in several synchronizations (a hub) passes
    // changes and issues on, without echo and without making an issue twice.
    r#"
CREATE TABLE written (
    key       TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    field     TEXT NOT NULL,
    sync_id   TEXT NOT NULL,
    origin    TEXT NOT NULL,
    origin_at INTEGER NOT NULL,
    PRIMARY KEY (key, seq, field)
);
CREATE TABLE issue_origins (
    key    TEXT PRIMARY KEY,
    origin TEXT NOT NULL
);
CREATE INDEX issue_origins_by_origin ON issue_origins(origin);
-- The newest change each field's value stands for, as far as the sync knows: a value
-- that arrives again, newer but equal, is passed on to the other synchronizations.
CREATE TABLE field_versions (
    key       TEXT NOT NULL,
    field     TEXT NOT NULL,
    origin    TEXT NOT NULL,
    origin_at INTEGER NOT NULL,
    PRIMARY KEY (key, field)
);
"#,
    // 7: a send a person skipped says so, instead of `attempts = 0` standing for it:
    // the row then only holds where the issue's later edits are read from.
    r#"
ALTER TABLE outgoing_failures ADD COLUMN state TEXT NOT NULL DEFAULT 'failing'
    CHECK (state IN ('failing', 'skipped'));
UPDATE outgoing_failures SET state = 'skipped' WHERE attempts = 0;
"#,
    // 8: the partner index holds linked issues only: an issue's state row is written
    // when it first sends, before it has a partner, and the index entry of the empty
    // partner was written and moved again for every issue of a first sync.
    r#"
DROP INDEX sync_issues_by_partner;
CREATE INDEX sync_issues_by_partner ON sync_issues(sync_id, partner) WHERE partner IS NOT NULL;
"#,
];
