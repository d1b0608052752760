/*!
The restore test (issue 7): prove that a database backup really restores, by loading it into a
throw-away MariaDB server and comparing every table's `COUNT(*)` with the row counts the manifest
recorded while the dump streamed (`tables`, filled by [`crate::backup::rowcount`]).

This module owns the throw-away server and the verdict:

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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::backup::busy;
use crate::backup::inventory;
use crate::backup::restore::{self, RestoreError};
use crate::backup::sandbox::{self, Identity, Limits, SandboxError, Stop, Watch, Watched};
use crate::catalog::RestoreTestRow;

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
    let mut server = Scratch::start(&tools, work_dir, &who, &limits)?;
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

/// Compares the manifest's counts with the restored tables (`(schema, name)` as bytes);
/// `count` returns the rows of the tables asked for (`None` where counting failed).
fn compare_tables(
    expected: &BTreeMap<String, u64>,
    databases: &[String],
    restored: &[TableName],
    count: impl FnOnce(&[TableName]) -> Result<Vec<Option<u64>>, RestoreTestError>,
) -> Result<(Vec<TableCheck>, Vec<String>), RestoreTestError> {
    let key = |(s, t): &TableName| {
        format!(
            "{}.{}",
            String::from_utf8_lossy(s),
            String::from_utf8_lossy(t)
        )
    };
    let by_key: BTreeMap<String, &TableName> = restored.iter().map(|r| (key(r), r)).collect();
    let wanted: Vec<TableName> = expected
        .keys()
        .filter_map(|k| by_key.get(k).map(|r| (*r).clone()))
        .collect();
    let counts = count(&wanted)?;
    let counted: BTreeMap<String, Option<u64>> = wanted
        .iter()
        .zip(counts)
        .map(|(r, n)| (key(r), n))
        .collect();

    let mut checks = Vec::new();
    let mut problems = Vec::new();
    for (table, &n) in expected {
        let actual = counted.get(table).copied().flatten();
        match (by_key.contains_key(table), actual) {
            (false, _) => problems.push(format!(
                "{table}: backup says {n} rows, but the table is missing after the restore"
            )),
            (true, None) => problems.push(format!(
                "{table}: backup says {n} rows, but the restored table could not be counted"
            )),
            (true, Some(a)) if a != n => {
                problems.push(format!("{table}: backup says {n} rows, restored {a}"))
            }
            _ => {}
        }
        checks.push(TableCheck {
            table: table.clone(),
            expected: n,
            actual,
        });
    }
    // Tables that came back but that the backup's counts do not know: the counts cannot vouch
    // for them.
    let mut scope: BTreeSet<String> = databases.iter().cloned().collect();
    if scope.is_empty() {
        scope = restored
            .iter()
            .filter(|r| expected.contains_key(&key(r)))
            .map(|(s, _)| String::from_utf8_lossy(s).into_owned())
            .collect();
    }
    for r in restored {
        let k = key(r);
        if scope.contains(String::from_utf8_lossy(&r.0).as_ref()) && !expected.contains_key(&k) {
            problems.push(format!(
                "{k}: restored, but the backup's row counts do not list it"
            ));
        }
    }
    Ok((checks, problems))
}

/// The MariaDB programs.
struct Tools {
    install_db: PathBuf,
    server: PathBuf,
    client: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools, RestoreTestError> {
        let dirs = search_dirs();
        Ok(Tools {
            install_db: find_in(&["mariadb-install-db", "mysql_install_db"], &dirs)?,
            server: find_in(&["mariadbd", "mysqld"], &dirs)?,
            client: find_in(&["mariadb", "mysql"], &dirs)?,
        })
    }
}

/// PATH, then the usual sbin and bin folders (`mariadbd` is in `/usr/sbin`, which a service's
/// PATH may lack).
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The first of `names` found as an executable file in `dirs`.
fn find_in(names: &[&str], dirs: &[PathBuf]) -> Result<PathBuf, RestoreTestError> {
    for name in names {
        for d in dirs {
            let p = d.join(name);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Ok(p);
                }
            }
        }
    }
    Err(RestoreTestError::ToolMissing {
        tool: names.first().copied().unwrap_or("mariadb").to_string(),
    })
}

/// What loading the dump amounted to.
struct Load {
    /// The restore's verdict (checksums, decompression, size).
    restore: Result<restore::Restored, RestoreError>,
    /// Bytes of the dump that reached the client.
    bytes_sent: u64,
    /// The client's exit status and stderr.
    client: ExitStatus,
    stderr: String,
}

/// Counts what is written through it.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The account the dump is loaded as: everything a `mariadb-dump` needs (tables, views,
/// routines, triggers, events, and `SET USER` for their `DEFINER`s), nothing that reaches files
/// or the server's settings (no `FILE`, `SUPER`, `PROCESS`, `RELOAD`, `SHUTDOWN`, `CREATE USER`,
/// grant option). The administrator accounts are cut down to `SELECT` before the load, so that a
/// routine whose definer is `root` gains nothing either.
const LOADER: &str = "loader";
const LOADER_GRANTS: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, \
     ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
     CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, SET USER";

/// The throw-away server: its directory and process. Dropping it kills the server and removes
/// the directory.
/// How long a server that stopped answering is given to exit, so that its end says why.
const DEATH_GRACE: Duration = Duration::from_secs(2);

struct Scratch {
    dir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
    client: PathBuf,
    /// The administrator account (`root`, by unix_socket as the OS user of the same name; the
    /// agent's own user when it is not root). Only the agent's own queries use it.
    user: String,
    /// Who the server and the loading client run as.
    who: Identity,
    limits: Limits,
    /// The loading client's option file (the loader account and its password), 0600, the
    /// sandbox user's.
    loader_cnf: PathBuf,
    child: Option<Child>,
    /// Held for the test's life: a directory whose lock can be taken is left over
    /// ([`remove_stale`]), whatever process now has the pid in its name.
    _lock: Option<nix::fcntl::Flock<File>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    /// Creates the directory, installs a data directory and starts the server as the sandbox
    /// user, confined; creates the loader account; returns once it answers.
    fn start(
        tools: &Tools,
        work_dir: &Path,
        who: &Identity,
        limits: &Limits,
    ) -> Result<Scratch, RestoreTestError> {
        let stamp = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir = work_dir.join(format!("{DIR_PREFIX}{}-{stamp}", std::process::id()));
        let work_err = |e: io::Error| RestoreTestError::WorkDir {
            path: work_dir.to_path_buf(),
            detail: e.to_string(),
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(work_err)?;
        let lock = File::create(dir.join(LOCK_FILE))
            .map_err(work_err)
            .and_then(|f| {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
                    .map_err(|(_, e)| work_err(io::Error::from(e)))
            });
        let lock = match lock {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let user = if who.switch {
            "root".to_string()
        } else {
            who.name.clone()
        };
        // From here on the guard removes the directory whatever happens.
        let mut s = Scratch {
            socket: dir.join("s.sock"),
            error_log: dir.join("error.log"),
            loader_cnf: dir.join("loader.cnf"),
            client: tools.client.clone(),
            user,
            who: who.clone(),
            limits: *limits,
            child: None,
            _lock: Some(lock),
            dir,
        };
        if s.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(RestoreTestError::WorkDir {
                path: work_dir.to_path_buf(),
                detail: format!(
                    "its path is too long for the server's Unix socket ({} bytes, at most {MAX_SOCKET_PATH}); use a shorter work directory",
                    s.socket.as_os_str().len()
                ),
            });
        }
        let datadir = s.dir.join("data");
        let tmpdir = s.dir.join("tmp");
        // The only folder the server may read or write files in (`secure_file_priv`), and an
        // empty plugin folder: no `CREATE FUNCTION … SONAME` or `INSTALL SONAME` finds a library.
        let files = s.dir.join("files");
        let plugins = s.dir.join("plugins");
        for d in [&tmpdir, &files, &plugins] {
            std::fs::create_dir(d).map_err(work_err)?;
        }
        for p in [&s.dir, &tmpdir, &files] {
            who.own(p).map_err(work_err)?;
        }

        let mut install = Command::new(&tools.install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--auth-root-authentication-method=socket")
            // The administrator is the agent's user; no account for the sandbox user.
            .arg(format!("--auth-root-socket-user={}", s.user))
            .arg("--skip-test-db")
            .arg("--skip-name-resolve")
            // Its bootstrap server's temporary tables too: never the shared /tmp, where anything
            // else on the machine may clean up under it.
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .stdin(Stdio::null());
        who.confine(&mut install, &s.dir, limits.cpu_seconds, limits.disk);
        let out = install.output().map_err(|e| RestoreTestError::Spawn {
            tool: tools.install_db.display().to_string(),
            detail: e.to_string(),
        })?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            return Err(RestoreTestError::InstallDb {
                detail: format!(
                    "{}: {}",
                    describe_status(&out.status),
                    last_lines(&text, 20)
                ),
            });
        }

        let mut cmd = Command::new(&tools.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", s.socket.display()))
            .arg("--skip-networking")
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--skip-slave-start")
            // OFF, not DISABLED: with DISABLED the dump's CREATE EVENT fails (error 1577). OFF loads
            // the events but never runs them, so none can change the rows being counted.
            .arg("--event-scheduler=OFF")
            .arg(format!("--secure-file-priv={}", files.display()))
            .arg(format!("--plugin-dir={}", plugins.display()))
            .arg("--local-infile=0")
            // DATA/INDEX DIRECTORY are ignored (with a warning): no table file outside the
            // data directory, where neither secure_file_priv nor the watch would see it.
            .arg("--skip-symbolic-links")
            .arg("--max-connections=8")
            .arg(format!("--log-error={}", s.error_log.display()))
            .arg(format!(
                "--pid-file={}",
                s.dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .arg("--max-allowed-packet=1G")
            .arg("--innodb-buffer-pool-size=128M")
            // Thrown away afterwards: durability against a crash is not needed.
            .arg("--innodb-flush-log-at-trx-commit=0")
            .arg("--innodb-doublewrite=0");
        let output = File::create(s.dir.join("mariadbd.out")).map_err(work_err)?;
        let output2 = output.try_clone().map_err(work_err)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(output2));
        // The server dies with the thread that started it (PR_SET_PDEATHSIG): this one, which
        // waits for it (restore_test is synchronous).
        who.confine(&mut cmd, &s.dir, limits.cpu_seconds, limits.disk);
        let child = cmd.spawn().map_err(|e| RestoreTestError::Spawn {
            tool: tools.server.display().to_string(),
            detail: e.to_string(),
        })?;
        sandbox::oom_first(child.id());
        s.child = Some(child);
        s.wait_ready()?;
        s.create_loader()?;
        Ok(s)
    }

    /// The server's process id (0 once it has ended).
    fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map(|c| c.id() as i32)
            .unwrap_or_default()
    }

    /// Creates the loader account with a random password and writes the client's option file.
    fn create_loader(&self) -> Result<(), RestoreTestError> {
        let password = random_hex(16).map_err(|e| RestoreTestError::WorkDir {
            path: self.dir.clone(),
            detail: format!("no random password for the loader account: {e}"),
        })?;
        let cnf = format!(
            "[client]\nuser={LOADER}\npassword={password}\nsocket={}\nprotocol=SOCKET\n",
            self.socket.display()
        );
        let work_err = |e: io::Error| RestoreTestError::WorkDir {
            path: self.loader_cnf.clone(),
            detail: e.to_string(),
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.loader_cnf)
            .map_err(work_err)?;
        f.write_all(cnf.as_bytes()).map_err(work_err)?;
        drop(f);
        self.who.own(&self.loader_cnf).map_err(work_err)?;
        // The dump may name any account as a definer (`SET USER`), and a definer's routine runs
        // with that account's privileges: so no account keeps FILE or SUPER while it loads. The
        // administrators keep SELECT, enough to list and count the tables (this session keeps its
        // own privileges until it ends; new ones get only these).
        let admin = self.user.replace('\'', "''");
        let mut sql = format!(
            "CREATE USER '{LOADER}'@'localhost' IDENTIFIED BY '{password}';\n\
             GRANT {LOADER_GRANTS} ON *.* TO '{LOADER}'@'localhost';\n\
             REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'root'@'localhost';\n"
        );
        if admin != "root" {
            sql.push_str(&format!(
                "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{admin}'@'localhost';\n"
            ));
        }
        sql.push_str(&format!("GRANT SELECT ON *.* TO '{admin}'@'localhost';\n"));
        let (_, err, status) = self.query(sql.as_bytes(), false)?;
        if !status.success() {
            return Err(RestoreTestError::Query {
                detail: format!("creating the loader account: {}", first_lines(&err, 3)),
            });
        }
        Ok(())
    }

    /// `mariadb --no-defaults --protocol=SOCKET --socket=… -u<admin>`: only ever this server.
    fn client(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("--no-defaults")
            .arg("--protocol=SOCKET")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("-u{}", self.user))
            .arg("--default-character-set=utf8mb4");
        c
    }

    /// The client that feeds the untrusted dump: the sandbox user, the loader account from its
    /// option file (no other option file), `--sandbox` (no `\!` shell escape, no `source`, no
    /// `tee`), no `LOAD DATA LOCAL`, binary mode, confined like the server.
    fn loading_client(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg(format!("--defaults-file={}", self.loader_cnf.display()))
            .arg("--sandbox")
            .arg("--local-infile=0")
            .arg("--default-character-set=utf8mb4")
            .args(["--max-allowed-packet=1G", "--binary-mode", "--batch"]);
        self.who
            .confine(&mut c, &self.dir, self.limits.cpu_seconds, 0);
        c
    }

    /// When the server was killed by the kernel for its CPU time (`SIGXCPU`/`SIGKILL` at the
    /// hard limit), the sentence that says so.
    /// Whether the server was killed for its CPU time (or by the kernel's OOM killer), waiting
    /// up to `grace` for it to exit.
    fn died_of_cpu_limit(&mut self, cpu_seconds: u64, grace: Duration) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + grace;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        };
        self.child = None;
        let sig = status.signal()?;
        match sig {
            libc::SIGXCPU => Some(format!(
                "the restore test was stopped: the test server used up its {cpu_seconds} s of CPU time"
            )),
            libc::SIGKILL => Some(format!(
                "the restore test was stopped: the kernel killed the test server (its {cpu_seconds} s of CPU time ran out, or memory did)"
            )),
            _ => None,
        }
    }

    fn wait_ready(&mut self) -> Result<(), RestoreTestError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(RestoreTestError::ServerStart {
                        detail: format!("mariadbd exited ({})", describe_status(&status)),
                        log: self.log_tail(),
                    });
                }
            }
            if self.socket.exists() {
                match self
                    .client()
                    .args(["--connect-timeout=5", "-N", "-B", "-e", "SELECT 1"])
                    .stdin(Stdio::null())
                    .output()
                {
                    Ok(o) if o.status.success() => return Ok(()),
                    Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => {
                        return Err(RestoreTestError::Spawn {
                            tool: self.client.display().to_string(),
                            detail: e.to_string(),
                        })
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(RestoreTestError::ServerStart {
                    detail: format!(
                        "no answer within {} s{}",
                        START_TIMEOUT.as_secs(),
                        if last.is_empty() {
                            String::new()
                        } else {
                            format!(" (last client error: {last})")
                        }
                    ),
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        last_lines(
            &std::fs::read_to_string(&self.error_log).unwrap_or_default(),
            30,
        )
    }

    /// Pipes the checked, decompressed dump into the client.
    fn load(&self, data: &Path) -> Result<Load, RestoreTestError> {
        let mut child = self
            .loading_client()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RestoreTestError::Spawn {
                tool: self.client.display().to_string(),
                detail: e.to_string(),
            })?;
        // A huge statement is buffered by the client too: it goes before the agent, never after.
        sandbox::oom_first(child.id());
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        let (restored, sent, err_text) = std::thread::scope(|scope| {
            let err_reader = scope.spawn(move || read_kept(stderr));
            let (restored, sent) = match stdin {
                Some(stdin) => {
                    let mut out = Counting { inner: stdin, n: 0 };
                    let r = restore::restore(data, None, &mut out);
                    // Dropping stdin ends the client's input.
                    (r, out.n)
                }
                None => (
                    Err(RestoreError::Output {
                        detail: "the client's standard input is not available".into(),
                    }),
                    0,
                ),
            };
            (restored, sent, err_reader.join().unwrap_or_default())
        });
        let status = child.wait().map_err(|e| RestoreTestError::Spawn {
            tool: self.client.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Load {
            restore: restored,
            bytes_sent: sent,
            client: status,
            stderr: err_text,
        })
    }

    /// Runs SQL given on stdin in batch mode; stdout, or the client's error.
    fn query(
        &self,
        sql: &[u8],
        force: bool,
    ) -> Result<(String, String, ExitStatus), RestoreTestError> {
        let mut cmd = self.client();
        cmd.args(["-N", "-B"]);
        if force {
            cmd.arg("--force");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RestoreTestError::Spawn {
                tool: self.client.display().to_string(),
                detail: e.to_string(),
            })?;
        let stdin = child.stdin.take();
        // Written from a thread while the output is read: a client blocked on a full stdout
        // stops reading its input.
        let (written, out) = std::thread::scope(|scope| {
            let w = scope.spawn(move || match stdin {
                Some(mut s) => s.write_all(sql),
                None => Err(io::Error::other("no stdin")),
            });
            let out = child.wait_with_output();
            let written = w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
            (written, out)
        });
        let out = out.map_err(|e| RestoreTestError::Spawn {
            tool: self.client.display().to_string(),
            detail: e.to_string(),
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Err(e) = written {
            return Err(RestoreTestError::Query {
                detail: format!("{e}; {}", first_lines(&stderr, 3)),
            });
        }
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            out.status,
        ))
    }

    /// Every base table outside the server's own schemas, as `(schema, name)` bytes.
    fn tables(&self) -> Result<Vec<TableName>, RestoreTestError> {
        let (out, err, status) = self.query(
            b"SELECT HEX(TABLE_SCHEMA), HEX(TABLE_NAME) FROM information_schema.TABLES \
              WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
              AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql') \
              ORDER BY 1, 2;\n",
            false,
        )?;
        if !status.success() {
            return Err(RestoreTestError::Query {
                detail: first_lines(&err, 5),
            });
        }
        let mut v = Vec::new();
        for line in out.lines() {
            let parsed = line
                .split_once('\t')
                .and_then(|(s, t)| Some((unhex(s)?, unhex(t)?)));
            match parsed {
                Some(p) => v.push(p),
                None => {
                    return Err(RestoreTestError::Query {
                        detail: format!("unexpected line {line:?} in the list of tables"),
                    })
                }
            }
        }
        Ok(v)
    }

    /// `COUNT(*)` of each table; `None` where it failed.
    fn count(&self, tables: &[TableName]) -> Result<Vec<Option<u64>>, RestoreTestError> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Vec::new();
        for (i, (s, t)) in tables.iter().enumerate() {
            sql.extend_from_slice(format!("SELECT {i}, COUNT(*) FROM ").as_bytes());
            push_ident(&mut sql, s);
            sql.push(b'.');
            push_ident(&mut sql, t);
            sql.extend_from_slice(b";\n");
        }
        let (out, _err, _status) = self.query(&sql, true)?;
        let mut counts = vec![None; tables.len()];
        for line in out.lines() {
            if let Some((i, n)) = line.split_once('\t') {
                if let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<u64>()) {
                    if let Some(slot) = counts.get_mut(i) {
                        *slot = Some(n);
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Kills the server (its data is thrown away) and waits for it. Idempotent.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Creates the work directory and makes it passable for the sandbox user, whatever the umask
/// (the agent's is 0027): the work directory 0711, and the agent's own state directory, when the
/// work directory is in it, gains search permission for others (0751 as the package installs
/// it: others may pass through, never list or read). Folders the agent does not own are left as
/// they are; [`Identity::can_reach`] then names the one in the way.
fn prepare_work_dir(work_dir: &Path, state_dir: Option<&Path>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(work_dir)?;
    let me = nix::unistd::geteuid().as_raw();
    // Sets the mode `want` gives from the current one, on a folder of the agent's own.
    let set = |d: &Path, want: &dyn Fn(u32) -> u32| -> io::Result<()> {
        let m = std::fs::symlink_metadata(d)?;
        let mode = m.mode() & 0o7777;
        if m.is_dir() && m.uid() == me && want(mode) != mode {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(want(mode)))?;
        }
        Ok(())
    };
    set(work_dir, &|_| 0o711)?;
    if let Some(s) = state_dir.filter(|s| work_dir.parent() == Some(*s)) {
        set(s, &|mode| mode | 0o001)?;
    }
    Ok(())
}

/// `n` random bytes from the kernel, as hex.
fn random_hex(n: usize) -> io::Result<String> {
    let mut b = vec![0u8; n];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(crate::util::hex(&b))
}

/// The prefix of the throw-away server's directory in the work directory.
const DIR_PREFIX: &str = "restore-test-";

/// The lock file in a scratch directory, held while its test runs.
const LOCK_FILE: &str = ".lock";

/// Removes directories left by restore tests that are over (the agent was killed or the power
/// cut; its server died with it through `PR_SET_PDEATHSIG`): those whose lock can be taken, or,
/// without a lock file, whose process is gone. Only names this module makes are touched; a pid
/// reused after a reboot keeps nothing alive.
fn remove_stale(work_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(work_dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, stamp)) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(pid) || !digits(stamp) {
            continue;
        }
        let over = match File::open(e.path().join(LOCK_FILE)) {
            Ok(f) => {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
            }
            Err(_) => !Path::new("/proc").join(pid).exists(),
        };
        if !over {
            continue;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A quoted identifier from raw bytes.
fn push_ident(sql: &mut Vec<u8>, name: &[u8]) {
    sql.push(b'`');
    for &b in name {
        if b == b'`' {
            sql.push(b'`');
        }
        sql.push(b);
    }
    sql.push(b'`');
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads a pipe to its end, keeping the first [`STDERR_KEEP`] bytes.
fn read_kept(r: Option<impl Read>) -> String {
    let Some(mut r) = r else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// The client's error lines (`ERROR 1064 (42000) at line 6: …`), without the failed statement it
/// echoes in batch mode.
fn client_error(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ERROR"))
        .take(3)
        .collect();
    if errors.is_empty() {
        first_lines(stderr, 5)
    } else {
        errors.join(" / ")
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect();
    if lines.is_empty() {
        "no error message".to_string()
    } else {
        lines.join(" / ")
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
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
    fn hex_names_decode() {
        assert_eq!(unhex("706D69"), Some(b"pmi".to_vec()));
        assert_eq!(unhex(""), Some(Vec::new()));
        assert_eq!(unhex("7"), None);
        assert_eq!(unhex("ZZ"), None);
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
