/*!
The restore test (issue 7): prove that a database backup really restores, by loading it into a
throw-away MariaDB server and comparing every table's `COUNT(*)` with the row counts the manifest
recorded while the dump streamed (`tables`, filled by [`crate::backup::rowcount`]).

This module owns the test from start to finish and its report; [`scratch`] the throw-away server
(and the work directory it lives in), [`compare`] the verdict on the counts:

- The server lives in a fresh directory under the caller's work directory (`mariadb-install-db`
  then `mariadbd`, both with `--no-defaults`), listens only on a Unix socket inside that
  directory (`--skip-networking`), runs no events (`--event-scheduler=OFF`: they load, they never fire), and is killed
  and its directory removed whatever happens (a drop guard; and `PR_SET_PDEATHSIG`, so it dies
  with the agent). Every client call names that socket with `--no-defaults --protocol=SOCKET`:
  no option file or default can point it at another server.
- `root@localhost` authenticates by `unix_socket` (`--auth-root-authentication-method=socket`):
  normal grants, so the dump's `DEFINER=root@localhost` routines, triggers and views load as they
  would on the real server (no `--skip-grant-tables`, under which `CREATE USER`/`GRANT` fail).
- The backup is read through [`crate::backup::restore::restore`], which checks every stored byte
  against the manifest and the `.sha256` sidecar before it decompresses anything.
- PASS only when the load exited 0 and every table in the manifest's `tables` exists with exactly
  that many rows (and no restored table is missing from the manifest). A damaged copy, a failed
  load, a missing table or any difference is a FAIL that names the table and both numbers. A
  manifest without `tables` (backups made before row counting) is a FAIL, never a vacuous PASS.

Errors ([`RestoreTestError`]) are reserved for tests that could not be carried out: MariaDB not
installed, the server not starting, no room in the work directory, an encrypted backup (the
appliance holds only public keys), a backup that is not a database dump.
*/

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::backup::busy;
use crate::backup::inventory;
use crate::backup::restore::{self, RestoreError};
use crate::backup::sandbox::{self, Identity, Limits, SandboxError, Stop, Watch, Watched};
use crate::catalog::RestoreTestRow;

mod compare;
mod scratch;

use compare::compare_tables;
use scratch::{
    client_error, describe_status, prepare_work_dir, remove_stale, Scratch, Tools, DEATH_GRACE,
};

/// How long the throw-away server may take to answer (a Raspberry Pi initialising InnoDB on an
/// SD card is slow).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Bytes kept of a program's stderr for messages.
const STDERR_KEEP: usize = 16 * 1024;

/// The longest Unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A restored table: its schema and name, as the server's bytes.
type TableName = (Vec<u8>, Vec<u8>);

/// The problem recorded for a backup whose manifest has no row counts.
pub const NO_ROW_COUNTS: &str =
    "this backup has no row counts; it was made before row counting; take a new backup";

/// One table: the rows the backup says it holds, and the rows found after the restore
/// (`None`: the table is missing, or could not be counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// `db.table`
    pub table: String,
    pub expected: u64,
    pub actual: Option<u64>,
}

impl TableCheck {
    /// Whether the restored table has exactly the rows the backup says.
    pub fn ok(&self) -> bool {
        self.actual == Some(self.expected)
    }
}

/// The outcome of one restore test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreTestReport {
    /// The backup's data file.
    pub backup: PathBuf,
    /// The source named in its manifest.
    pub source: String,
    pub passed: bool,
    /// Every table of the manifest, in its order (`db.table`).
    pub tables: Vec<TableCheck>,
    /// Why it failed, one sentence each (empty when passed).
    pub problems: Vec<String>,
    /// How long the test took.
    pub seconds: f64,
    /// When the test started.
    pub tested_at: DateTime<Utc>,
}

impl RestoreTestReport {
    /// The catalog's record of this test; `tested_at` in UTC (see [`Self::to_row_in`]), `detail`
    /// a JSON object with `tables` (`table`, `expected`, `actual`), `problems` and `seconds`.
    pub fn to_row(&self) -> RestoreTestRow {
        self.to_row_in(&Utc)
    }

    /// Like [`Self::to_row`], with `tested_at` in the given time zone (the configured one).
    pub fn to_row_in<Tz: chrono::TimeZone>(&self, tz: &Tz) -> RestoreTestRow
    where
        Tz::Offset: fmt::Display,
    {
        let detail = serde_json::json!({
            "tables": self.tables,
            "problems": self.problems,
            "seconds": (self.seconds * 10.0).round() / 10.0,
        });
        RestoreTestRow {
            tested_at: self
                .tested_at
                .with_timezone(tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            source: self.source.clone(),
            backup: self.backup.display().to_string(),
            passed: self.passed,
            detail: detail.to_string(),
        }
    }

    /// A few lines for a person: the verdict, then each problem.
    pub fn summary(&self) -> String {
        let rows: u64 = self.tables.iter().map(|t| t.expected).sum();
        let mut s = if self.passed {
            format!(
                "PASS {}: {} tables, {rows} rows restored exactly as backed up ({:.1} s)\n",
                self.backup.display(),
                self.tables.len(),
                self.seconds
            )
        } else {
            format!(
                "FAIL {}: {} problem(s) ({:.1} s)\n",
                self.backup.display(),
                self.problems.len(),
                self.seconds
            )
        };
        for p in &self.problems {
            s.push_str("  ");
            s.push_str(p);
            s.push('\n');
        }
        s
    }
}

/// Why a restore test could not be carried out (a backup that does not restore is not an error
/// but a failed [`RestoreTestReport`]).
#[derive(Debug)]
pub enum RestoreTestError {
    /// A MariaDB program is not installed.
    ToolMissing { tool: String },
    /// The backup's files cannot be found or read.
    Backup(RestoreError),
    /// No manifest next to the data file: not a complete backup, nothing to compare with.
    NoManifest { data: PathBuf },
    /// The backup is not a database dump.
    NotDatabase { data: PathBuf, kind: String },
    /// The backup is encrypted; the appliance holds only public keys.
    Encrypted { data: PathBuf },
    /// The work directory cannot hold the throw-away server.
    WorkDir { path: PathBuf, detail: String },
    /// A program could not be started.
    Spawn { tool: String, detail: String },
    /// `mariadb-install-db` failed.
    InstallDb { detail: String },
    /// The throw-away server did not come up; `log` is the end of its error log.
    ServerStart { detail: String, log: String },
    /// Asking the restored server for its tables failed.
    Query { detail: String },
    /// The sandbox cannot be set up (no sandbox user, an unreachable work directory, no room).
    Sandbox(SandboxError),
    /// A backup runs or started: the restore test gave way and runs again later.
    Yielded,
}

impl fmt::Display for RestoreTestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreTestError::ToolMissing { tool } => write!(
                f,
                "{tool} is not installed: the restore test needs a MariaDB server on the appliance; install it with `apt-get install mariadb-server`"
            ),
            RestoreTestError::Backup(e) => write!(f, "{e}"),
            RestoreTestError::NoManifest { data } => write!(
                f,
                "{} has no manifest (.json) next to it: it is not a complete backup, and there are no row counts to compare with",
                data.display()
            ),
            RestoreTestError::NotDatabase { data, kind } => write!(
                f,
                "{} is a backup of a {kind:?} source, not a database dump: only mysql backups can be restore-tested",
                data.display()
            ),
            RestoreTestError::Encrypted { data } => write!(
                f,
                "{} is encrypted and the appliance holds no private key: test it on a machine with the key (`simdondar-backup restore --identity KEYFILE`), or test an unencrypted copy",
                data.display()
            ),
            RestoreTestError::WorkDir { path, detail } => write!(
                f,
                "cannot prepare the restore test in {}: {detail}",
                path.display()
            ),
            RestoreTestError::Spawn { tool, detail } => {
                write!(f, "cannot run {tool}: {detail}")
            }
            RestoreTestError::InstallDb { detail } => write!(
                f,
                "mariadb-install-db could not create the test server's data directory: {detail}"
            ),
            RestoreTestError::ServerStart { detail, log } => write!(
                f,
                "the throw-away MariaDB server for the restore test did not start: {detail}\n--- its error log ---\n{log}"
            ),
            RestoreTestError::Query { detail } => write!(
                f,
                "the restored test server did not answer: {detail}"
            ),
            RestoreTestError::Sandbox(e) => write!(f, "{e}"),
            RestoreTestError::Yielded => write!(
                f,
                "a backup is running: the restore test gave way to it and will run again later"
            ),
        }
    }
}

impl std::error::Error for RestoreTestError {}

/// Where and how a restore test runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder the scratch server's directory is made in (the sandbox user must be able to
    /// pass through every folder above it).
    pub work_dir: PathBuf,
    /// The state directory whose backups-running lock the test gives way to
    /// ([`crate::backup::busy`]); `None`: it does not look.
    pub state_dir: Option<PathBuf>,
    /// The limits; `None`: [`Limits::for_dump`] of the backup's size.
    pub limits: Option<Limits>,
}

impl Settings {
    /// The appliance's settings: the work directory below the state directory, giving way to
    /// backups, default limits.
    pub fn for_state_dir(state_dir: &Path) -> Settings {
        Settings {
            work_dir: state_dir.join("restore-test"),
            state_dir: Some(state_dir.to_path_buf()),
            limits: None,
        }
    }
}

/// Restores the backup `data_file` belongs to into a throw-away MariaDB started in a new
/// directory under `work_dir`, and compares every table's `COUNT(*)` with the manifest's
/// `tables`; default limits, giving way to no one. See [`restore_test_with`].
pub fn restore_test(
    data_file: &Path,
    work_dir: &Path,
) -> Result<RestoreTestReport, RestoreTestError> {
    restore_test_with(
        data_file,
        &Settings {
            work_dir: work_dir.to_path_buf(),
            state_dir: None,
            limits: None,
        },
    )
}

/// Restores the backup `data_file` belongs to into a sandboxed throw-away MariaDB
/// ([`crate::backup::sandbox`]) and compares every table's `COUNT(*)` with the manifest's
/// `tables`. The copy is checked by [`restore::restore`] first (it refuses damaged copies).
/// Never touches any other server; the throw-away one and its directory are gone on return.
pub fn restore_test_with(
    data_file: &Path,
    settings: &Settings,
) -> Result<RestoreTestReport, RestoreTestError> {
    let clock = Instant::now();
    let tested_at = Utc::now();
    let work_dir = settings.work_dir.as_path();
    let loc = restore::locate(data_file).map_err(RestoreTestError::Backup)?;
    let data = loc.dir.join(&loc.data_name);
    let Some(manifest) = loc.manifest.clone() else {
        return Err(RestoreTestError::NoManifest { data });
    };
    if manifest.kind != "mysql" {
        return Err(RestoreTestError::NotDatabase {
            data,
            kind: manifest.kind.clone(),
        });
    }
    if manifest.encrypted || loc.data_name.ends_with(".age") {
        return Err(RestoreTestError::Encrypted { data });
    }
    let mut report = RestoreTestReport {
        backup: data.clone(),
        source: manifest.source.clone(),
        passed: false,
        tables: Vec::new(),
        problems: Vec::new(),
        seconds: 0.0,
        tested_at,
    };
    if manifest.tables.is_empty() {
        report.problems.push(NO_ROW_COUNTS.to_string());
        report.seconds = clock.elapsed().as_secs_f64();
        return Ok(report);
    }

    let probe = settings.state_dir.as_deref().map(busy::Probe::new);
    if probe.as_ref().is_some_and(busy::Probe::busy) {
        return Err(RestoreTestError::Yielded);
    }
    let tools = Tools::find()?;
    let who = Identity::find().map_err(RestoreTestError::Sandbox)?;
    let limits = settings
        .limits
        .unwrap_or_else(|| Limits::for_dump(manifest.bytes_raw));
    prepare_work_dir(work_dir, settings.state_dir.as_deref()).map_err(|e| {
        RestoreTestError::WorkDir {
            path: work_dir.to_path_buf(),
            detail: e.to_string(),
        }
    })?;
    who.can_reach(work_dir).map_err(RestoreTestError::Sandbox)?;
    sandbox::check_room(work_dir, &limits, manifest.bytes_raw)
        .map_err(RestoreTestError::Sandbox)?;
    remove_stale(work_dir);
    let mut server = Scratch::start(&tools, work_dir, &who, &limits, probe.as_ref())?;
    let watch = Watch::start(Watched {
        dir: server.dir.clone(),
        pid: server.pid(),
        limits,
        yield_to: probe,
    })
    .map_err(|e| RestoreTestError::Spawn {
        tool: "the restore test's watch".into(),
        detail: e.to_string(),
    })?;
    let load = server.load(&data)?;
    let stopped = watch.stopped();

    let mut compare = stopped.is_none();
    if let Some(stop) = stopped {
        if stop == Stop::Yield {
            return Err(RestoreTestError::Yielded);
        }
        report
            .problems
            .push(format!("the restore test was stopped: {stop}"));
    } else if let Some(why) = server.died_of_cpu_limit(limits.cpu_seconds, Duration::ZERO) {
        report.problems.push(why);
        compare = false;
    } else {
        match (&load.restore, load.client.success()) {
            (Err(e), _) if load.bytes_sent == 0 => {
                report
                    .problems
                    .push(format!("the backup was refused before loading: {e}"));
                compare = false;
            }
            // The client stopped reading: its own error says why.
            (Err(RestoreError::Output { .. }), false) => {}
            (Err(e), _) => report
                .problems
                .push(format!("the backup could not be read back completely: {e}")),
            (Ok(_), _) => {}
        }
        if !load.client.success() {
            report.problems.push(format!(
                "loading the dump into the test server failed ({}): {}",
                describe_status(&load.client),
                client_error(&load.stderr)
            ));
        }
    }
    let compared = if compare {
        let counted = server.tables().and_then(|restored| {
            compare_tables(&manifest.tables, &manifest.databases, &restored, |keys| {
                server.count(keys)
            })
        });
        match counted {
            Ok(c) => Some(c),
            // The watch stopped the server while it was being asked: the stop says why.
            Err(_) if watch.stopped().is_some() => None,
            // The kernel stopped it: its CPU time ran out during the load (its client is told
            // before the server is reaped, so the check after the load may have missed it) or
            // while it was being asked.
            Err(e) => match server.died_of_cpu_limit(limits.cpu_seconds, DEATH_GRACE) {
                Some(why) => {
                    report.problems.push(why);
                    None
                }
                None => return Err(e),
            },
        }
    } else {
        None
    };
    if let Some((checks, problems)) = compared {
        report.tables = checks;
        report.problems.extend(problems);
    } else {
        report.tables = manifest
            .tables
            .iter()
            .map(|(t, n)| TableCheck {
                table: t.clone(),
                expected: *n,
                actual: None,
            })
            .collect();
    }
    // The counting ran under the watch too; a stop during it is a stop.
    if let Some(stop) = watch.finish() {
        if stop == Stop::Yield {
            return Err(RestoreTestError::Yielded);
        }
        if stopped.is_none() {
            report
                .problems
                .push(format!("the restore test was stopped: {stop}"));
        }
    }
    server.stop();
    report.passed = report.problems.is_empty() && report.tables.iter().all(TableCheck::ok);
    report.seconds = clock.elapsed().as_secs_f64();
    Ok(report)
}

/// The newest backup of each `mysql` source found on these target roots, by the manifests'
/// `started_at` (the same backup on several roots: the first root's copy). Encrypted backups are
/// left out: the appliance cannot decrypt them. Sorted by source.
pub fn newest_backups(roots: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut best: BTreeMap<String, (DateTime<chrono::FixedOffset>, PathBuf)> = BTreeMap::new();
    for root in roots {
        let Ok(entries) = inventory::scan(root) else {
            continue;
        };
        for e in entries {
            // Only a complete copy (not missing, truncated or marked unreadable) is a backup.
            let Some(m) = e.good() else { continue };
            if m.kind != "mysql" || m.encrypted || e.data_name.ends_with(".age") {
                continue;
            }
            let Ok(t) = DateTime::parse_from_rfc3339(&m.started_at) else {
                continue;
            };
            let source = if m.source.is_empty() {
                e.source.clone()
            } else {
                m.source.clone()
            };
            match best.get(&source) {
                Some((b, _)) if *b >= t => {}
                _ => {
                    best.insert(source, (t, e.data_path.clone()));
                }
            }
        }
    }
    best.into_iter().map(|(s, (_, p))| (s, p)).collect()
}

#[cfg(test)]
mod tests {
    use super::scratch::{find_in, push_ident};
    use super::*;
    use crate::backup::manifest::{Manifest, FORMAT};

    fn t(s: &str, n: &str) -> TableName {
        (s.as_bytes().to_vec(), n.as_bytes().to_vec())
    }

    fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn equal_counts_pass_and_every_difference_is_named_with_both_numbers() {
        let exp = expected(&[
            ("pmi.pendonor", 1287),
            ("pmi.hasilelisa", 5),
            ("pmi.tmp_import", 0),
            ("pmi.hilang", 3),
            ("pmi.rusak", 4),
        ]);
        let restored = vec![
            t("pmi", "hasilelisa"),
            t("pmi", "pendonor"),
            t("pmi", "rusak"),
            t("pmi", "tmp_import"),
            t("pmi", "baru"),
            t("lain", "x"),
        ];
        let (checks, problems) = compare_tables(&exp, &["pmi".to_string()], &restored, |asked| {
            Ok(asked
                .iter()
                .map(|(_, n)| match n.as_slice() {
                    b"pendonor" => Some(1100),
                    b"hasilelisa" => Some(5),
                    b"tmp_import" => Some(0),
                    _ => None,
                })
                .collect())
        })
        .expect("compare");
        assert_eq!(checks.len(), 5);
        assert!(checks.iter().any(|c| c.table == "pmi.hasilelisa" && c.ok()));
        assert_eq!(
            problems,
            [
                "pmi.hilang: backup says 3 rows, but the table is missing after the restore",
                "pmi.pendonor: backup says 1287 rows, restored 1100",
                "pmi.rusak: backup says 4 rows, but the restored table could not be counted",
                "pmi.baru: restored, but the backup's row counts do not list it",
            ]
        );
    }

    #[test]
    fn names_with_dots_and_backticks_match_exactly() {
        let exp = expected(&[("a.b.c", 1), ("a.b`c", 2)]);
        let restored = vec![t("a", "b.c"), t("a", "b`c")];
        let (checks, problems) = compare_tables(&exp, &[], &restored, |asked| {
            assert_eq!(asked, [t("a", "b.c"), t("a", "b`c")]);
            Ok(vec![Some(1), Some(2)])
        })
        .expect("compare");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(checks.iter().all(TableCheck::ok));
        let mut sql = Vec::new();
        push_ident(&mut sql, b"b`c");
        assert_eq!(sql, b"`b``c`");
    }

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let e = find_in(
            &["mariadbd-that-does-not-exist"],
            &[PathBuf::from("/nonexistent")],
        )
        .expect_err("missing");
        let msg = e.to_string();
        assert!(msg.contains("apt-get install mariadb-server"), "{msg}");
        assert!(msg.contains("mariadbd-that-does-not-exist"), "{msg}");
    }

    #[test]
    fn the_client_error_without_the_echoed_statement() {
        let stderr = "--------------\nINSERT INTO `a.b` VALUES (1),(2),(3\n--------------\n\n\
            ERROR 1064 (42000) at line 6: You have an error in your SQL syntax\n";
        assert_eq!(
            client_error(stderr),
            "ERROR 1064 (42000) at line 6: You have an error in your SQL syntax"
        );
        assert_eq!(client_error("something odd\n"), "something odd");
        assert_eq!(client_error(""), "no error message");
    }

    #[test]
    fn stale_directories_of_dead_processes_are_removed_and_nothing_else() {
        let work = tempfile::tempdir().expect("tempdir");
        let w = work.path();
        // A pid above the kernel's maximum (4194304) is never alive.
        let dead = w.join("restore-test-99999999-1");
        let alive = w.join(format!("restore-test-{}-1", std::process::id()));
        let other = w.join("restore-test-x-1");
        let mine = w.join("keep");
        for d in [&dead, &alive, &other, &mine] {
            std::fs::create_dir_all(d.join("data")).expect("mkdir");
        }
        remove_stale(w);
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists() && mine.exists());
    }

    #[test]
    fn the_catalog_row_carries_the_numbers() {
        let r = RestoreTestReport {
            backup: PathBuf::from("/m/SIMDONDAR-BACKUP/pmi/2026/11/26/pmi_20261126-100000.sql.zst"),
            source: "pmi".into(),
            passed: false,
            tables: vec![TableCheck {
                table: "pmi.pendonor".into(),
                expected: 1287,
                actual: Some(1100),
            }],
            problems: vec!["pmi.pendonor: backup says 1287 rows, restored 1100".into()],
            seconds: 12.34,
            tested_at: DateTime::parse_from_rfc3339("2026-11-26T03:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
        };
        let row = r.to_row_in(&chrono_tz::Asia::Jakarta);
        assert_eq!(row.tested_at, "2026-11-26T10:00:00+07:00");
        assert_eq!(row.source, "pmi");
        assert!(!row.passed);
        assert!(row.backup.ends_with("pmi_20261126-100000.sql.zst"));
        let d: serde_json::Value = serde_json::from_str(&row.detail).expect("JSON");
        assert_eq!(d["tables"][0]["table"], "pmi.pendonor");
        assert_eq!(d["tables"][0]["expected"], 1287);
        assert_eq!(d["tables"][0]["actual"], 1100);
        assert_eq!(
            d["problems"][0],
            "pmi.pendonor: backup says 1287 rows, restored 1100"
        );
        assert_eq!(r.to_row().tested_at, "2026-11-26T03:00:00+00:00");
        assert!(r.summary().starts_with("FAIL "), "{}", r.summary());
    }

    fn manifest(source: &str, kind: &str, started: &str, data: &str, encrypted: bool) -> Manifest {
        Manifest {
            format: FORMAT,
            source: source.into(),
            kind: kind.into(),
            started_at: started.into(),
            finished_at: started.into(),
            databases: vec![],
            server_version: None,
            compression: "zstd".into(),
            compression_level: None,
            encrypted,
            recipients: vec![],
            bytes_raw: 1,
            bytes_stored: 1,
            sha256: "0".repeat(64),
            parts: vec![data.into()],
            tables: BTreeMap::new(),
            tool_version: "t".into(),
            dump_tool: None,
            consistency: None,
            trigger: None,
            role: None,
            fs_driver: None,
            clock_synchronized: None,
            host: None,
        }
    }

    fn put(root: &Path, m: &Manifest, day: &str) -> PathBuf {
        let dir = root
            .join("SIMDONDAR-BACKUP")
            .join(&m.source)
            .join("2026/11")
            .join(day);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let data = dir.join(&m.parts[0]);
        std::fs::write(&data, b"x").expect("data");
        std::fs::write(dir.join(format!("{}.json", m.parts[0])), m.to_json()).expect("manifest");
        data
    }

    #[test]
    fn newest_backup_of_each_database_source_by_start_time() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        // Same instant written in two offsets: 10:00 WIB is 03:00 UTC; 04:00 UTC is newer.
        put(
            a.path(),
            &manifest(
                "pmi",
                "mysql",
                "2026-11-26T10:00:00+07:00",
                "pmi_20261126-100000.sql.zst",
                false,
            ),
            "26",
        );
        let newer = put(
            b.path(),
            &manifest(
                "pmi",
                "mysql",
                "2026-11-26T04:00:00+00:00",
                "pmi_20261126-110000.sql.zst",
                false,
            ),
            "26",
        );
        // Encrypted (cannot be tested here) and a program backup are left out.
        put(
            a.path(),
            &manifest(
                "pmi",
                "mysql",
                "2026-11-27T10:00:00+07:00",
                "pmi_20261127-100000.sql.zst.age",
                true,
            ),
            "27",
        );
        put(
            a.path(),
            &manifest(
                "program",
                "command",
                "2026-11-27T10:00:00+07:00",
                "program_20261127-100000.tar.zst",
                false,
            ),
            "27",
        );
        let sms = put(
            a.path(),
            &manifest(
                "sms",
                "mysql",
                "2026-11-20T10:00:00+07:00",
                "sms_20261120-100000.sql.zst",
                false,
            ),
            "20",
        );
        let got = newest_backups(&[
            a.path().to_path_buf(),
            b.path().to_path_buf(),
            PathBuf::from("/nonexistent"),
        ]);
        assert_eq!(
            got,
            vec![("pmi".to_string(), newer), ("sms".to_string(), sms)]
        );
    }

    #[test]
    fn refuses_what_it_cannot_test_and_fails_a_backup_without_row_counts() {
        let root = tempfile::tempdir().expect("tempdir");
        let work = tempfile::tempdir().expect("tempdir");
        // A complete, checksummed backup of a tiny dump, but without row counts.
        let dump = b"CREATE TABLE t (x int);\n-- Dump completed on 2026-11-26 10:00:00\n";
        let stored = zstd::stream::encode_all(&dump[..], 3).expect("zstd");
        let mut m = manifest(
            "pmi",
            "mysql",
            "2026-11-26T10:00:00+07:00",
            "pmi_20261126-100000.sql.zst",
            false,
        );
        {
            use sha2::Digest;
            m.sha256 = crate::util::hex(&sha2::Sha256::digest(&stored));
        }
        m.bytes_raw = dump.len() as u64;
        m.bytes_stored = stored.len() as u64;
        let data = put(root.path(), &m, "26");
        std::fs::write(&data, &stored).expect("data");
        let r = restore_test(&data, work.path()).expect("a report");
        assert!(!r.passed);
        assert_eq!(r.problems, [NO_ROW_COUNTS]);
        assert_eq!(r.source, "pmi");

        let mut p = m.clone();
        p.kind = "command".into();
        let pd = put(root.path(), &p, "25");
        assert!(matches!(
            restore_test(&pd, work.path()),
            Err(RestoreTestError::NotDatabase { .. })
        ));
        let mut e = m.clone();
        e.encrypted = true;
        let ed = put(root.path(), &e, "24");
        let err = restore_test(&ed, work.path()).expect_err("encrypted");
        assert!(err.to_string().contains("no private key"), "{err}");
        let lone = root.path().join("lone.sql.zst");
        std::fs::write(&lone, b"x").expect("write");
        std::fs::write(
            root.path().join("lone.sql.zst.sha256"),
            format!("{}  lone.sql.zst\n", "0".repeat(64)),
        )
        .expect("write");
        assert!(matches!(
            restore_test(&lone, work.path()),
            Err(RestoreTestError::NoManifest { .. })
        ));
        // Nothing was started, nothing left behind.
        assert_eq!(std::fs::read_dir(work.path()).expect("ls").count(), 0);
    }
}
