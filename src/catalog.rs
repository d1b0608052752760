/*!
The catalog: an SQLite database in `state_dir` that records every run and every copy.

Opened in WAL mode with `synchronous=FULL`, so a committed record survives a power cut. The schema
evolves through numbered migrations kept in [`MIGRATIONS`] and tracked with `PRAGMA user_version`;
a catalog written by a newer program is refused rather than misread.
*/

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

mod offsite;
pub use offsite::{NewUpload, OffsiteAttempt, PartRow, UploadRow, UploadState};

/// The catalog's file name inside `state_dir`.
pub const FILE_NAME: &str = "catalog.sqlite";

/// Schema migrations, applied in order; entry `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs and copies
    "CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        source        TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        trigger       TEXT    NOT NULL,
        started_at    TEXT    NOT NULL,
        started_unix  INTEGER NOT NULL,
        finished_at   TEXT,
        status        TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
        reason        TEXT,
        bytes_raw     INTEGER,
        bytes_stored  INTEGER,
        sha256        TEXT,
        copies_ok     INTEGER NOT NULL DEFAULT 0,
        copies_total  INTEGER NOT NULL DEFAULT 0,
        warnings      TEXT,
        pid           INTEGER NOT NULL
    );
    CREATE INDEX runs_by_source ON runs (source, started_unix);
    CREATE TABLE copies (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER NOT NULL REFERENCES runs (id),
        target       TEXT    NOT NULL,
        path         TEXT,
        role         TEXT,
        status       TEXT    NOT NULL CHECK (status IN ('ok', 'failed')),
        reason       TEXT,
        bytes        INTEGER,
        recorded_at  TEXT    NOT NULL
    );
    CREATE INDEX copies_by_run ON copies (run_id);",
    // 2: verifications and retention deletions
    "CREATE TABLE verifications (
        id           INTEGER PRIMARY KEY,
        target       TEXT    NOT NULL,
        path         TEXT    NOT NULL,
        ok           INTEGER NOT NULL,
        problem      TEXT,
        verified_at  TEXT    NOT NULL
    );
    CREATE TABLE pruned (
        id          INTEGER PRIMARY KEY,
        target      TEXT    NOT NULL,
        path        TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        started_at  TEXT,
        pruned_at   TEXT    NOT NULL
    );",
    // 3: restore tests and the tamper-evident audit log
    "CREATE TABLE restore_tests (
        id          INTEGER PRIMARY KEY,
        tested_at   TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        backup      TEXT    NOT NULL,
        passed      INTEGER NOT NULL,
        detail      TEXT    NOT NULL
    );
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          TEXT    NOT NULL,
        actor       TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        detail      TEXT    NOT NULL,
        prev_hash   TEXT    NOT NULL,
        hash        TEXT    NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 4: the typed kind of a failed run and of a failed copy (crate::kinds, stable names)
    "ALTER TABLE runs ADD COLUMN failure TEXT;
    ALTER TABLE copies ADD COLUMN failure TEXT;",
    // 5: key-custody challenges (crate::keycheck): only a salted hash of the words
    "CREATE TABLE key_checks (
        id           TEXT    PRIMARY KEY,
        recipient    TEXT    NOT NULL,
        issued_at    TEXT    NOT NULL,
        disk         TEXT    NOT NULL,
        file         TEXT    NOT NULL,
        words_sha256 TEXT    NOT NULL,
        confirmed_at TEXT
    );",
    // 6: off-site uploads (crate::offsite): the journal of each multipart upload and its parts,
    // the sampled read-backs of remote copies, and each pass's outcome per store
    "CREATE TABLE offsite_uploads (
        id          INTEGER PRIMARY KEY,
        offsite     TEXT    NOT NULL,
        key         TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        started_at  TEXT    NOT NULL,
        local_path  TEXT    NOT NULL,
        staged      INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        sha256      TEXT    NOT NULL,
        part_size   INTEGER NOT NULL,
        manifest    TEXT    NOT NULL,
        upload_id   TEXT,
        created_at  TEXT    NOT NULL,
        state       TEXT    NOT NULL CHECK (state IN ('uploading', 'verified', 'abandoned')),
        finished_at TEXT,
        verified_at TEXT,
        UNIQUE (offsite, key)
    );
    CREATE TABLE offsite_parts (
        upload      INTEGER NOT NULL REFERENCES offsite_uploads (id),
        number      INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        md5         TEXT    NOT NULL,
        sha256      TEXT    NOT NULL,
        etag        TEXT,
        PRIMARY KEY (upload, number)
    );
    CREATE TABLE offsite_checks (
        id          INTEGER PRIMARY KEY,
        upload      INTEGER NOT NULL REFERENCES offsite_uploads (id),
        checked_at  TEXT    NOT NULL,
        ok          INTEGER NOT NULL,
        failure     TEXT,
        detail      TEXT
    );
    CREATE TABLE offsite_attempts (
        id          INTEGER PRIMARY KEY,
        offsite     TEXT    NOT NULL,
        at          TEXT    NOT NULL,
        ok          INTEGER NOT NULL,
        failure     TEXT,
        detail      TEXT,
        pending     INTEGER NOT NULL DEFAULT 0
    );",
];

/// A key-custody challenge ([`crate::keycheck`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCheckRow {
    pub id: String,
    pub recipient: String,
    pub issued_at: String,
    /// The target root it was written to.
    pub disk: String,
    /// Its path below that root.
    pub file: String,
    pub words_sha256: String,
    pub confirmed_at: Option<String>,
}

/// The hash an audit entry carries: SHA-256 over the previous hash and the entry's fields.
pub fn audit_hash(prev: &str, id: i64, at: &str, actor: &str, kind: &str, detail: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [prev, &id.to_string(), at, actor, kind, detail] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    crate::util::hex(&h.finalize())
}

/// The hash the first audit entry chains to.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One restore test, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreTestRow {
    pub tested_at: String,
    pub source: String,
    pub backup: String,
    pub passed: bool,
    /// JSON with the per-table numbers.
    pub detail: String,
}

/// An audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The catalog cannot be opened or written.
#[derive(Debug)]
pub enum CatalogError {
    /// SQLite reported an error.
    Sqlite { path: PathBuf, detail: String },
    /// The state directory cannot be created.
    StateDir { path: PathBuf, detail: String },
    /// The catalog was written by a newer version of this program.
    TooNew { path: PathBuf, version: i64 },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Sqlite { path, detail } => write!(
                f,
                "the catalog {} cannot be used: {detail} (check that state_dir is writable and the disk is not full)",
                path.display()
            ),
            CatalogError::StateDir { path, detail } => write!(
                f,
                "cannot create the state directory {}: {detail}",
                path.display()
            ),
            CatalogError::TooNew { path, version } => write!(
                f,
                "the catalog {} has schema version {version}, newer than this program knows ({}): install the newer simdondar-backup again",
                path.display(),
                MIGRATIONS.len()
            ),
        }
    }
}

impl std::error::Error for CatalogError {}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun<'a> {
    pub source: &'a str,
    pub kind: &'a str,
    pub trigger: &'a str,
    pub started_at: &'a str,
    pub started_unix: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunEnd {
    pub ok: bool,
    pub finished_at: String,
    pub reason: Option<String>,
    /// The failure's kind ([`crate::kinds::RunFailure::as_str`]), when not ok.
    pub failure: Option<String>,
    pub bytes_raw: Option<u64>,
    pub bytes_stored: Option<u64>,
    pub sha256: Option<String>,
    pub copies_ok: u32,
    pub copies_total: u32,
    pub warnings: Vec<String>,
}

/// One copy's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyRow {
    pub run_id: i64,
    pub target: String,
    pub path: Option<String>,
    pub role: Option<String>,
    pub ok: bool,
    pub reason: Option<String>,
    /// The failure's kind ([`crate::kinds::CopyFailure::as_str`]), when not ok.
    pub failure: Option<String>,
    pub bytes: Option<u64>,
    pub recorded_at: String,
}

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub source: String,
    pub kind: String,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub bytes_raw: Option<u64>,
    pub bytes_stored: Option<u64>,
    pub sha256: Option<String>,
    pub copies_ok: u32,
    pub copies_total: u32,
    /// The failure's kind, when the run failed (older runs: unknown).
    pub failure: Option<crate::kinds::RunFailure>,
}

/// An open catalog.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

const RUN_COLUMNS: &str = "id, source, kind, trigger, started_at, finished_at, status, reason, \
                           bytes_raw, bytes_stored, sha256, copies_ok, copies_total, failure";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        source: r.get(1)?,
        kind: r.get(2)?,
        trigger: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        status: r.get(6)?,
        reason: r.get(7)?,
        bytes_raw: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        bytes_stored: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        sha256: r.get(10)?,
        copies_ok: r.get(11)?,
        copies_total: r.get(12)?,
        failure: r
            .get::<_, Option<String>>(13)?
            .as_deref()
            .and_then(crate::kinds::RunFailure::parse),
    })
}

impl Catalog {
    /// Opens (creating and migrating as needed) the catalog in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Catalog, CatalogError> {
        std::fs::create_dir_all(state_dir).map_err(|e| CatalogError::StateDir {
            path: state_dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        Catalog::open_path(&state_dir.join(FILE_NAME))
    }

    /// Opens the catalog at an explicit path.
    pub fn open_path(path: &Path) -> Result<Catalog, CatalogError> {
        let err = |what: &'static str| {
            move |e: rusqlite::Error| CatalogError::Sqlite {
                path: path.to_path_buf(),
                detail: format!("{what}: {e}"),
            }
        };
        let conn = Connection::open(path).map_err(err("opening"))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(err("setting the busy timeout"))?;
        // WAL is kept in the file; switching to it takes a lock SQLite does not wait for, so a
        // process opening a fresh catalog beside another one retries (up to the busy timeout).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mode: Result<String, _> =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0));
            match mode {
                Ok(_) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(err("switching to WAL")(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err("synchronous = FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err("foreign keys"))?;
        let mut cat = Catalog {
            conn,
            path: path.to_path_buf(),
        };
        cat.migrate()?;
        Ok(cat)
    }

    fn err(&self, e: rusqlite::Error) -> CatalogError {
        CatalogError::Sqlite {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    /// The schema version now in the file.
    pub fn schema_version(&self) -> Result<i64, CatalogError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Brings the schema up to date, one migration per write transaction taken up front: processes
    /// opening a fresh catalog at the same moment wait for each other, and each step reads the
    /// version inside its own transaction, so no migration runs twice.
    fn migrate(&mut self) -> Result<(), CatalogError> {
        let target = MIGRATIONS.len() as i64;
        loop {
            let path = self.path.clone();
            let err = |step: i64| {
                let path = path.clone();
                move |e: rusqlite::Error| CatalogError::Sqlite {
                    path: path.clone(),
                    detail: format!("migration to schema version {step}: {e}"),
                }
            };
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )
            .map_err(err(0))?;
            let current: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(err(0))?;
            if current > target {
                return Err(CatalogError::TooNew {
                    path: self.path.clone(),
                    version: current,
                });
            }
            let Some(sql) = MIGRATIONS.get(current as usize) else {
                return Ok(());
            };
            let step = current + 1;
            tx.execute_batch(sql).map_err(err(step))?;
            tx.pragma_update(None, "user_version", step)
                .map_err(err(step))?;
            tx.commit().map_err(err(step))?;
        }
    }

    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, run: &NewRun<'_>) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO runs (source, kind, trigger, started_at, started_unix, status, pid)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6)",
                params![
                    run.source,
                    run.kind,
                    run.trigger,
                    run.started_at,
                    run.started_unix,
                    std::process::id()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&self, id: i64, end: &RunEnd) -> Result<(), CatalogError> {
        let warnings = if end.warnings.is_empty() {
            None
        } else {
            Some(end.warnings.join("\n"))
        };
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, reason = ?4, bytes_raw = ?5,
                 bytes_stored = ?6, sha256 = ?7, copies_ok = ?8, copies_total = ?9, warnings = ?10,
                 failure = ?11
                 WHERE id = ?1",
                params![
                    id,
                    if end.ok { "ok" } else { "failed" },
                    end.finished_at,
                    end.reason,
                    end.bytes_raw.map(|v| v as i64),
                    end.bytes_stored.map(|v| v as i64),
                    end.sha256,
                    end.copies_ok,
                    end.copies_total,
                    warnings,
                    end.failure
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records one copy.
    pub fn record_copy(&self, copy: &CopyRow) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO copies (run_id, target, path, role, status, reason, bytes, recorded_at,
                 failure)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    copy.run_id,
                    copy.target,
                    copy.path,
                    copy.role,
                    if copy.ok { "ok" } else { "failed" },
                    copy.reason,
                    copy.bytes.map(|v| v as i64),
                    copy.recorded_at,
                    copy.failure
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks runs of `source` still shown as running as failed: their process is gone (the
    /// caller holds the source's lock, so no live process can own them).
    pub fn mark_interrupted(&self, source: &str, now: &str) -> Result<usize, CatalogError> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?2,
                 reason = 'interrupted: the agent stopped (killed, crashed or power cut) during this run; a copy it had not finished publishing was removed at the next start, a copy it had already verified and published is kept', failure = 'cancelled'
                 WHERE source = ?1 AND status = 'running'",
                params![source, now],
            )
            .map_err(|e| self.err(e))
    }

    /// The newest runs first.
    pub fn recent_runs(&self, limit: u32) -> Result<Vec<RunRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([limit], run_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The newest run of a source, and the newest successful one.
    pub fn last_runs(
        &self,
        source: &str,
    ) -> Result<(Option<RunRow>, Option<RunRow>), CatalogError> {
        let last = self
            .conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE source = ?1 ORDER BY id DESC LIMIT 1"
                ),
                [source],
                run_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let ok = self
            .conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE source = ?1 AND status = 'ok' ORDER BY id DESC LIMIT 1"
                ),
                [source],
                run_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok((last, ok))
    }

    /// The copies of a run.
    pub fn copies_of(&self, run_id: i64) -> Result<Vec<CopyRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, target, path, role, status, reason, bytes, recorded_at, failure
                 FROM copies WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(CopyRow {
                    run_id: r.get(0)?,
                    target: r.get(1)?,
                    path: r.get(2)?,
                    role: r.get(3)?,
                    ok: r.get::<_, String>(4)? == "ok",
                    reason: r.get(5)?,
                    bytes: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                    recorded_at: r.get(7)?,
                    failure: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Records one verification of a stored copy.
    pub fn record_verification(
        &self,
        target: &str,
        path: &str,
        ok: bool,
        problem: Option<&str>,
        at: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO verifications (target, path, ok, problem, verified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![target, path, ok, problem, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a backup removed by retention.
    pub fn record_pruned(
        &self,
        target: &str,
        path: &str,
        source: &str,
        started_at: &str,
        at: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO pruned (target, path, source, started_at, pruned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![target, path, source, started_at, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// When the newest verified copy on a manual-role disk was recorded.
    pub fn last_manual_copy(&self) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row(
                "SELECT recorded_at FROM copies WHERE role = 'manual' AND status = 'ok'
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Read-only access for reports (queries only; writes go through the methods here).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Records a restore test.
    pub fn record_restore_test(&self, t: &RestoreTestRow) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO restore_tests (tested_at, source, backup, passed, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.tested_at, t.source, t.backup, t.passed, t.detail],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest restore test.
    pub fn last_restore_test(&self) -> Result<Option<RestoreTestRow>, CatalogError> {
        self.conn
            .query_row(
                "SELECT tested_at, source, backup, passed, detail FROM restore_tests ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(RestoreTestRow {
                        tested_at: r.get(0)?,
                        source: r.get(1)?,
                        backup: r.get(2)?,
                        passed: r.get(3)?,
                        detail: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records a key-custody challenge.
    pub fn record_key_check(&self, k: &KeyCheckRow) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO key_checks (id, recipient, issued_at, disk, file, words_sha256, confirmed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![k.id, k.recipient, k.issued_at, k.disk, k.file, k.words_sha256, k.confirmed_at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Marks a challenge confirmed (once).
    pub fn confirm_key_check(&self, id: &str, at: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE key_checks SET confirmed_at = ?2 WHERE id = ?1 AND confirmed_at IS NULL",
                params![id, at],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every key-custody challenge, oldest first.
    pub fn key_checks(&self) -> Result<Vec<KeyCheckRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, recipient, issued_at, disk, file, words_sha256, confirmed_at
                 FROM key_checks ORDER BY issued_at, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(KeyCheckRow {
                    id: r.get(0)?,
                    recipient: r.get(1)?,
                    issued_at: r.get(2)?,
                    disk: r.get(3)?,
                    file: r.get(4)?,
                    words_sha256: r.get(5)?,
                    confirmed_at: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The catalog's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry to the audit log, chained to the previous one by its hash.
    pub fn audit(&self, actor: &str, kind: &str, detail: &str) -> Result<(), CatalogError> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.audit_at(&at, actor, kind, detail)
    }

    /// Appends an audit entry that happened at `at` (RFC 3339). The write lock is taken up front
    /// (`BEGIN IMMEDIATE`): two writers never both read the same last entry, and a busy catalog
    /// is waited for (the busy timeout) instead of failing at the commit.
    pub fn audit_at(
        &self,
        at: &str,
        actor: &str,
        kind: &str,
        detail: &str,
    ) -> Result<(), CatalogError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        let (prev_id, prev): (i64, String) = tx
            .query_row(
                "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .unwrap_or((0, AUDIT_GENESIS.to_string()));
        let id = prev_id + 1;
        let hash = audit_hash(&prev, id, at, actor, kind, detail);
        tx.execute(
            "INSERT INTO audit (id, at, actor, kind, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, at, actor, kind, detail, prev, hash],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The hash of the first audit entry (which names the chain) and the newest entry's id, time
    /// and hash; `None` while the log is empty.
    pub fn audit_ends(&self) -> Result<Option<(String, i64, String, String)>, CatalogError> {
        let first: Option<String> = self
            .conn
            .query_row("SELECT hash FROM audit WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(first) = first else {
            return Ok(None);
        };
        let newest: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT id, at, hash FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(newest.map(|(id, at, hash)| (first, id, at, hash)))
    }

    /// When the oldest run started (Unix seconds), if there is any.
    pub fn first_run_unix(&self) -> Result<Option<i64>, CatalogError> {
        self.conn
            .query_row("SELECT MIN(started_unix) FROM runs", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// The hash of audit entry `id`, if the catalog holds it.
    pub fn audit_hash_of(&self, id: i64) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row("SELECT hash FROM audit WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every audit entry, oldest first.
    pub fn audit_entries(&self) -> Result<Vec<AuditRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare("SELECT id, at, actor, kind, detail, prev_hash, hash FROM audit ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    detail: r.get(4)?,
                    prev_hash: r.get(5)?,
                    hash: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Paths removed by retention from `target`, oldest first.
    pub fn pruned_paths(&self, target: &str) -> Result<Vec<String>, CatalogError> {
        let mut st = self
            .conn
            .prepare("SELECT path FROM pruned WHERE target = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([target], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// (ok, problem) of every verification of copies at `target`, oldest first.
    pub fn verifications(
        &self,
        target: &str,
    ) -> Result<Vec<(String, bool, Option<String>)>, CatalogError> {
        let mut st = self
            .conn
            .prepare("SELECT path, ok, problem FROM verifications WHERE target = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([target], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Bytes stored by the newest run of a source that got that far (to estimate the next one).
    pub fn last_stream_bytes(&self, source: &str) -> Result<Option<u64>, CatalogError> {
        self.conn
            .query_row(
                "SELECT bytes_stored FROM runs WHERE source = ?1 AND bytes_stored IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [source],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.map(|b| b.max(0) as u64))
            .map_err(|e| self.err(e))
    }

    /// Bytes stored by the newest successful run of a source (to estimate the next one).
    pub fn last_stored_bytes(&self, source: &str) -> Result<Option<u64>, CatalogError> {
        Ok(self.last_runs(source)?.1.and_then(|r| r.bytes_stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_opening_a_fresh_catalog_at_once_all_succeed() {
        for _ in 0..5 {
            let d = tempfile::tempdir().expect("tempdir");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let dir = d.path().to_path_buf();
                    let b = barrier.clone();
                    std::thread::spawn(move || {
                        b.wait();
                        Catalog::open(&dir).map(|c| c.schema_version())
                    })
                })
                .collect();
            for o in openers {
                let v = o.join().expect("thread");
                assert!(
                    matches!(v, Ok(Ok(n)) if n == MIGRATIONS.len() as i64),
                    "{v:?}"
                );
            }
        }
    }

    #[test]
    fn migrates_records_and_reopens() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Catalog::open(d.path()).expect("open");
        assert_eq!(c.schema_version().expect("v"), MIGRATIONS.len() as i64);
        let journal: String = c
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("pragma");
        assert_eq!(journal, "wal");
        let id = c
            .begin_run(&NewRun {
                source: "pmi",
                kind: "mysql",
                trigger: "cli",
                started_at: "2026-11-26T10:00:00+07:00",
                started_unix: 1,
            })
            .expect("begin");
        c.record_copy(&CopyRow {
            run_id: id,
            target: "/t".into(),
            path: Some("SIMDONDAR-BACKUP/pmi/x".into()),
            role: Some("auto".into()),
            ok: true,
            reason: None,
            failure: None,
            bytes: Some(10),
            recorded_at: "now".into(),
        })
        .expect("copy");
        drop(c);
        let c = Catalog::open(d.path()).expect("reopen");
        assert_eq!(c.mark_interrupted("pmi", "later").expect("mark"), 1);
        let (last, ok) = c.last_runs("pmi").expect("last");
        let last = last.expect("a run");
        assert_eq!(last.status, "failed");
        assert!(last.reason.unwrap_or_default().contains("interrupted"));
        assert!(ok.is_none());
        assert_eq!(c.copies_of(id).expect("copies").len(), 1);
    }

    #[test]
    fn refuses_newer_schema() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join(FILE_NAME);
        {
            let conn = Connection::open(&p).expect("open");
            conn.pragma_update(None, "user_version", 99)
                .expect("pragma");
        }
        let e = Catalog::open_path(&p).expect_err("too new");
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
