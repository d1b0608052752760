/*!
The `mysql` source: `mariadb-dump` (or `mysqldump`) with the careful DBA's flags; the 0600
options file every client call reads (the password never in argv or the environment); the
pre-flight query (server version, table engines, grants); the consistency policy
(`single-transaction` or `lock-tables`, decided by the engines); the lock probe and the stall
hook that ends the dump's waiting sessions; and the client's errors in words.
*/

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::backup::grants::{self, GrantCheck};
use crate::backup::manifest::ConsistencyInfo;
use crate::backup::stall::{self, BoundedError};
use crate::config::{Consistency, DbAddress, MysqlSource};
use crate::util::find_tool;

use super::{collect_stderr, first_lines, Kind, Running, SourceError, SourceInfo};

/// Engines whose tables `--single-transaction` dumps consistently.
const TRANSACTIONAL_ENGINES: &[&str] = &["InnoDB", "XtraDB", "RocksDB", "TokuDB"];

impl Kind for MysqlSource {
    fn start(
        &self,
        name: &str,
        runtime_dir: &Path,
        stall: Duration,
    ) -> Result<Running, SourceError> {
        start_mysql(name, self, runtime_dir, stall)
    }

    fn check_connection(&self, name: &str, runtime_dir: &Path) -> Result<String, SourceError> {
        let m = self;
        let client = find_tool(&["mariadb", "mysql"]).ok_or(SourceError::ToolMissing {
            tool: "mariadb".into(),
            package: "mariadb-client".into(),
        })?;
        find_tool(&["mariadb-dump", "mysqldump"]).ok_or(SourceError::ToolMissing {
            tool: "mariadb-dump".into(),
            package: "mariadb-client".into(),
        })?;
        let options = write_options_file(name, m, runtime_dir)?;
        let defaults = options.argument();
        let address = m.address.to_string();
        let (pre, consistency) =
            checked_preflight(&client, &defaults, m, &address, Duration::from_secs(120))?;
        Ok(format!(
            "OK: {} at {address}, {} table(s) in {}, grants complete, dump mode {} ({} non-transactional table(s))",
            pre.version.as_deref().unwrap_or("server"),
            pre.engines.len(),
            m.databases.join(", "),
            consistency.mode,
            consistency.non_transactional_tables.len()
        ))
    }
}

/// The longest the dump may wait for a table lock another session holds (the lock probe, see
/// docs/mysql-dump.md): SIMDONDAR's own writes queue behind a waiting lock request.
pub fn lock_wait_bound(stall: Duration) -> Duration {
    stall.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// The MariaDB error code on a client's stderr (`ERROR 1205 (HY000) …`).
fn client_error_codes(stderr: &str) -> impl Iterator<Item = u32> + '_ {
    stderr.lines().filter_map(|l| {
        l.trim()
            .split_once("ERROR ")
            .or_else(|| l.split_once("Got error: "))
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<u32>().ok())
    })
}

/// Quotes an identifier for MariaDB.
fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// With `--lock-tables`, takes and releases the same read locks the dump will take, with a
/// session `lock_wait_timeout`: when another session holds one (a long write, an open
/// `LOCK TABLES … WRITE`), the run fails at once instead of queueing SIMDONDAR's writes behind a
/// dump that waits up to the server's default (a day). mariadb-dump itself has no option to set
/// the session's `lock_wait_timeout` (no `--init-command`, option files refuse it).
fn lock_probe(
    client: &Path,
    defaults: &str,
    m: &MysqlSource,
    tables: &[&String],
    bound: Duration,
) -> Result<(), SourceError> {
    for db in &m.databases {
        let prefix = format!("{db}.");
        let list: Vec<String> = tables
            .iter()
            .filter_map(|t| t.strip_prefix(&prefix))
            .map(|t| format!("{}.{} READ LOCAL", quote_ident(db), quote_ident(t)))
            .collect();
        if list.is_empty() {
            continue;
        }
        let sql = format!(
            "SET SESSION lock_wait_timeout = {}; LOCK TABLES {}; UNLOCK TABLES;",
            bound.as_secs().max(1),
            list.join(", ")
        );
        let mut cmd = client_command(client, defaults);
        cmd.args(["--batch", "--connect-timeout=15", "-e", &sql]);
        let out = bounded(
            &mut cmd,
            client,
            "the lock probe",
            bound + Duration::from_secs(15),
        )?;
        if out.status.success() {
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if client_error_codes(&stderr).any(|c| c == 1205) {
            return Err(SourceError::LockWait {
                databases: db.clone(),
                after: bound,
            });
        }
        return Err(
            classify_client_error(&stderr, &m.address.to_string(), &m.user).unwrap_or(
                SourceError::Query {
                    detail: first_lines(&stderr, 3),
                },
            ),
        );
    }
    Ok(())
}

/// Runs a client call within `limit`.
fn bounded(
    cmd: &mut Command,
    client: &Path,
    what: &str,
    limit: Duration,
) -> Result<std::process::Output, SourceError> {
    let tool = client
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| client.display().to_string());
    stall::output_within(cmd, limit).map_err(|e| match e {
        BoundedError::Spawn(e) => SourceError::Spawn {
            tool: client.display().to_string(),
            detail: e.to_string(),
        },
        BoundedError::TimedOut(after) => SourceError::NoAnswer {
            tool,
            what: what.to_string(),
            after,
        },
    })
}

/// When the dump stops producing bytes, the server-side session that waits for a lock must end
/// too (a killed client leaves it waiting, and SIMDONDAR's writes behind it): the backup user's
/// own sessions that wait for a table lock are killed (a user may always kill its own).
fn kill_lock_waiters(client: PathBuf, defaults: String) -> stall::OnStall {
    Box::new(move || {
        let find = "SELECT ID FROM information_schema.PROCESSLIST                     WHERE USER = SUBSTRING_INDEX(USER(), '@', 1) AND ID <> CONNECTION_ID()                     AND (STATE LIKE 'Waiting for%lock%' OR INFO LIKE 'LOCK TABLES%'                     OR INFO LIKE 'FLUSH TABLES%')";
        let mut cmd = client_command(&client, &defaults);
        cmd.args([
            "--batch",
            "--skip-column-names",
            "--connect-timeout=5",
            "-e",
            find,
        ]);
        let Ok(out) = stall::output_within(&mut cmd, Duration::from_secs(10)) else {
            log::error!("cannot list the dump's waiting sessions on the database server");
            return;
        };
        let ids: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        for id in ids {
            let mut cmd = client_command(&client, &defaults);
            cmd.args([
                "--connect-timeout=5",
                "-e",
                &format!("KILL CONNECTION {id}"),
            ]);
            match stall::output_within(&mut cmd, Duration::from_secs(10)) {
                Ok(o) if o.status.success() => {
                    log::warn!("ended the dump's waiting session {id} on the database server")
                }
                _ => log::error!("cannot end the dump's waiting session {id}"),
            }
        }
    })
}

// ---- mysql ---------------------------------------------------------------------------------

/// The 0600 options file holding the connection settings and password; removed when dropped.
pub(super) struct OptionsFile {
    path: PathBuf,
}

impl OptionsFile {
    /// The first argument of every client call: this file and no other option file.
    fn argument(&self) -> String {
        format!("--defaults-file={}", self.path.display())
    }
}

/// A MariaDB client program (`mariadb`, `mariadb-dump`) that reads its options only from
/// `defaults` (`--defaults-file=…`, which must be the first argument) and sees no environment
/// but `PATH`: libmariadb also takes `MYSQL_HOST`, `MYSQL_TCP_PORT`, `MYSQL_UNIX_PORT` and
/// `MYSQL_PWD` from the environment.
fn client_command(program: &Path, defaults: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg(defaults).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// The name of a source's options file written by process `pid`.
fn options_file_name(source: &str, pid: u32) -> String {
    format!("mysql-{source}-{pid}.cnf")
}

/// The pid in `name` when `name` is exactly an options file of `source` (`mysql-SOURCE-PID.cnf`):
/// `mysql-pmi-x-12.cnf` belongs to source `pmi-x`, never to `pmi`.
fn options_file_owner(name: &str, source: &str) -> Option<u32> {
    let pid = name
        .strip_prefix("mysql-")?
        .strip_suffix(".cnf")?
        .strip_prefix(source)?
        .strip_prefix('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    (options_file_name(source, pid) == name).then_some(pid)
}

/// Whether process `pid` still exists (EPERM: it exists, owned by someone else).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the options files of `source` left by runs that were killed: exactly this source's
/// names, and only those whose writing process is gone (a concurrent run's file stays).
fn remove_stale_options_files(runtime_dir: &Path, source: &str) {
    let Ok(rd) = std::fs::read_dir(runtime_dir) else {
        return;
    };
    let me = std::process::id();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| options_file_owner(n, source)) else {
            continue;
        };
        if pid != me && !process_alive(pid) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => log::info!(
                    "removed the options file {} left by a run that was stopped",
                    e.path().display()
                ),
                Err(err) => log::warn!("cannot remove {}: {err}", e.path().display()),
            }
        }
    }
}

impl Drop for OptionsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Quotes a value for a MariaDB option file.
fn option_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn read_password(path: &Path) -> Result<String, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|e| SourceError::PasswordFile {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_string())
}

fn write_options_file(
    name: &str,
    m: &MysqlSource,
    runtime_dir: &Path,
) -> Result<OptionsFile, SourceError> {
    let rt_err = |e: io::Error| SourceError::RuntimeDir {
        path: runtime_dir.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(runtime_dir).map_err(rt_err)?;
    let mut text = String::from("[client]\n");
    text.push_str(&format!("user={}\n", option_value(&m.user)));
    if let Some(pf) = &m.password_file {
        text.push_str(&format!("password={}\n", option_value(&read_password(pf)?)));
    }
    match &m.address {
        DbAddress::Socket(s) => {
            text.push_str(&format!(
                "protocol=SOCKET\nsocket={}\n",
                option_value(&s.to_string_lossy())
            ));
        }
        DbAddress::Tcp { host, port } => {
            text.push_str(&format!(
                "host={}\nport={port}\nprotocol=TCP\n",
                option_value(host)
            ));
        }
    }
    // A killed run of this source may have left its file behind.
    remove_stale_options_files(runtime_dir, name);
    let path = runtime_dir.join(options_file_name(name, std::process::id()));
    let _ = std::fs::remove_file(&path);
    let guard = OptionsFile { path: path.clone() };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(rt_err)?;
    f.write_all(text.as_bytes()).map_err(rt_err)?;
    f.sync_all().map_err(rt_err)?;
    Ok(guard)
}

/// Reads a client error from stderr and names it in words.
pub(super) fn classify_client_error(
    stderr: &str,
    address: &str,
    user: &str,
) -> Option<SourceError> {
    for line in stderr.lines() {
        let l = line.trim();
        let code = l
            .split_once("ERROR ")
            .or_else(|| l.split_once("Got error: "))
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<u32>().ok());
        let detail = l.to_string();
        match code {
            Some(2002) | Some(2003) | Some(2005) | Some(2006) | Some(2013) => {
                let why = match trailing_errno(l) {
                    // 115 (EINPROGRESS) is how MariaDB's client reports a refused TCP connect.
                    Some(111) | Some(115) => "connection refused".to_string(),
                    Some(2) => "the socket does not exist (the server is not running)".to_string(),
                    Some(110) => "no answer (timed out)".to_string(),
                    Some(113) => {
                        "no route to host (check the network cable and the IP address)".to_string()
                    }
                    Some(101) => "network unreachable (check the appliance's network)".to_string(),
                    _ if code == Some(2005) => "unknown host name".to_string(),
                    _ => detail,
                };
                return Some(SourceError::Unreachable {
                    address: address.to_string(),
                    detail: why,
                });
            }
            Some(1045) => {
                return Some(SourceError::AccessDenied {
                    user: user.to_string(),
                    detail: "wrong password or no such user".to_string(),
                })
            }
            Some(1049) => {
                let db = l.split('\'').nth(1).unwrap_or("?").to_string();
                return Some(SourceError::UnknownDatabase {
                    database: db,
                    address: address.to_string(),
                });
            }
            Some(1044) | Some(1142) | Some(1227) | Some(1143) => {
                return Some(SourceError::MissingGrant { detail })
            }
            _ => {}
        }
    }
    None
}

/// The number in a trailing `(N)` of a client error line: the OS error.
fn trailing_errno(line: &str) -> Option<i32> {
    let inner = line.trim_end().strip_suffix(')')?;
    let open = inner.rfind('(')?;
    inner[open + 1..].trim().parse().ok()
}

/// The pre-flight query, the consistency decision and the grant check.
fn checked_preflight(
    client: &Path,
    defaults: &str,
    m: &MysqlSource,
    address: &str,
    limit: Duration,
) -> Result<(Preflight, ConsistencyInfo), SourceError> {
    let pre = preflight(client, defaults, m, address, limit)?;
    let consistency = decide_consistency(m.consistency, &pre.engines);
    match grants::check(&pre.grants, &m.databases, consistency.mode == "lock-tables") {
        GrantCheck::Complete => {}
        GrantCheck::Unknown => log::warn!(
            "the backup user '{}' gets privileges through a role; cannot check that the dump will be complete",
            m.user
        ),
        GrantCheck::Missing(missing) => {
            return Err(SourceError::MissingGrant {
                detail: format!(
                    "user '{}' needs {}; without it the dump would silently be incomplete",
                    m.user,
                    missing.join(", ")
                ),
            })
        }
    }
    Ok((pre, consistency))
}

fn start_mysql(
    name: &str,
    m: &MysqlSource,
    runtime_dir: &Path,
    stall: Duration,
) -> Result<Running, SourceError> {
    let address = m.address.to_string();
    let dump = match &m.dump_tool {
        Some(p) => p.clone(),
        None => find_tool(&["mariadb-dump", "mysqldump"]).ok_or(SourceError::ToolMissing {
            tool: "mariadb-dump".into(),
            package: "mariadb-client".into(),
        })?,
    };
    let client = find_tool(&["mariadb", "mysql"]).ok_or(SourceError::ToolMissing {
        tool: "mariadb".into(),
        package: "mariadb-client".into(),
    })?;
    let options = write_options_file(name, m, runtime_dir)?;
    let defaults = options.argument();
    let (pre, consistency) = checked_preflight(&client, &defaults, m, &address, stall)?;
    if consistency.mode == "lock-tables" {
        let tables: Vec<&String> = pre.engines.keys().collect();
        lock_probe(&client, &defaults, m, &tables, lock_wait_bound(stall))?;
    }

    let tool = dump
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mariadb-dump".into());
    let dump_version = Command::new(&dump)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|s| s.trim().to_string())
        });

    let mut cmd = client_command(&dump, &defaults);
    cmd.args(dump_args(&consistency.mode));
    cmd.arg("--databases").args(&m.databases);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| SourceError::Spawn {
        tool: tool.clone(),
        detail: e.to_string(),
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take().map(collect_stderr);
    let on_stall = kill_lock_waiters(client.clone(), defaults.clone());
    let running = Running {
        tool,
        child,
        stdout,
        stderr,
        needs_trailer: true,
        ssh: None,
        info: SourceInfo {
            databases: m.databases.clone(),
            server_version: pre.version,
            dump_tool: dump_version,
            consistency: Some(consistency),
            extension: "sql".into(),
            warnings: Vec::new(),
        },
        watch: None,
        _options: Some(options),
    };
    Ok(running.watch(stall, Some(on_stall)))
}

/// The dump flags (after `--defaults-file`, before `--databases`). See docs/mysql-dump.md.
pub fn dump_args(mode: &str) -> Vec<&'static str> {
    let mut v = vec![
        "--routines",
        "--events",
        "--triggers",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--quick",
        "--max-allowed-packet=1G",
        "--add-drop-table",
        "--comments",
        "--dump-date",
        "--tz-utc",
    ];
    if mode == "lock-tables" {
        v.insert(0, "--lock-tables");
    } else {
        v.insert(0, "--single-transaction");
        v.insert(1, "--skip-lock-tables");
    }
    v
}

struct Preflight {
    version: Option<String>,
    /// `db.table` → engine
    engines: BTreeMap<String, String>,
    /// The backup user's `SHOW GRANTS` lines.
    grants: Vec<String>,
}

fn preflight(
    client: &Path,
    defaults: &str,
    m: &MysqlSource,
    address: &str,
    limit: Duration,
) -> Result<Preflight, SourceError> {
    let list = m
        .databases
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT 'version', VERSION(), '';\
         SELECT 'schema', SCHEMA_NAME, '' FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({list});\
         SELECT 'table', CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), IFNULL(ENGINE, '') FROM information_schema.TABLES \
         WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN ({list});\
         SHOW GRANTS;"
    );
    let mut cmd = client_command(client, defaults);
    cmd.args([
        "--batch",
        "--skip-column-names",
        "--connect-timeout=15",
        "-e",
        &sql,
    ]);
    let out = bounded(&mut cmd, client, "the query before the dump", limit)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(classify_client_error(&stderr, address, &m.user).unwrap_or(
            SourceError::Query {
                detail: first_lines(&stderr, 3),
            },
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut version = None;
    let mut schemas = Vec::new();
    let mut engines = BTreeMap::new();
    let mut grants = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("GRANT ") {
            grants.push(line.to_string());
            continue;
        }
        let mut f = line.split('\t');
        match (f.next(), f.next(), f.next()) {
            (Some("version"), Some(v), _) => version = Some(v.to_string()),
            (Some("schema"), Some(s), _) => schemas.push(s.to_string()),
            (Some("table"), Some(t), Some(e)) => {
                engines.insert(t.to_string(), e.to_string());
            }
            _ => {}
        }
    }
    if let Some(missing) = m.databases.iter().find(|d| !schemas.contains(d)) {
        return Err(SourceError::UnknownDatabase {
            database: missing.clone(),
            address: address.to_string(),
        });
    }
    Ok(Preflight {
        version,
        engines,
        grants,
    })
}

/// Chooses the dump mode and says what guarantee the dump will have (docs/mysql-dump.md).
pub fn decide_consistency(
    wanted: Consistency,
    engines: &BTreeMap<String, String>,
) -> ConsistencyInfo {
    let non_tx: BTreeMap<String, String> = engines
        .iter()
        .filter(|(_, e)| {
            !TRANSACTIONAL_ENGINES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(e))
        })
        .map(|(t, e)| (t.clone(), e.clone()))
        .collect();
    let mode = match wanted {
        Consistency::SingleTransaction => "single-transaction",
        Consistency::LockTables => "lock-tables",
        Consistency::Auto if non_tx.is_empty() => "single-transaction",
        Consistency::Auto => "lock-tables",
    };
    let guarantee = match (mode, non_tx.is_empty()) {
        ("single-transaction", true) => {
            "consistent snapshot: every table is transactional and was read in one transaction".to_string()
        }
        ("single-transaction", false) => format!(
            "partial: transactional tables come from one snapshot, but {} non-transactional table(s) were read without a lock and may not match them",
            non_tx.len()
        ),
        _ => "per database: each database was read-locked while it was dumped, so each is consistent in itself; writes waited meanwhile".to_string(),
    };
    ConsistencyInfo {
        mode: mode.to_string(),
        guarantee,
        non_transactional_tables: non_tx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn options_file_names_are_matched_exactly() {
        assert_eq!(options_file_owner("mysql-pmi-123.cnf", "pmi"), Some(123));
        assert_eq!(
            options_file_owner("mysql-pmi-x-123.cnf", "pmi-x"),
            Some(123)
        );
        assert_eq!(options_file_owner("mysql-pmi-x-123.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi_2-9.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-12a.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-+12.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-0012.cnf", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-123.cnf.bak", "pmi"), None);
        assert_eq!(options_file_owner("mysql-pmi-99999999999.cnf", "pmi"), None);
    }

    /// A source named `pmi` removes its own stale file and nothing of `pmi-x`, and no file of
    /// a process that still runs.

    #[test]
    fn stale_options_files_are_removed_by_exact_name_when_their_process_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = dir.path();
        let mut live = Command::new("sleep").arg("60").spawn().expect("sleep");
        let mut dead = Command::new("true").spawn().expect("true");
        dead.wait().expect("wait");
        let (live_pid, dead_pid) = (live.id(), dead.id());
        let files = [
            (options_file_name("pmi-x", live_pid), true),
            (options_file_name("pmi-x", dead_pid), true),
            (options_file_name("pmi", live_pid), true),
            (options_file_name("pmi", dead_pid), false),
            (format!("mysql-pmi-{dead_pid}.cnf.keep"), true),
        ];
        for (f, _) in &files {
            std::fs::write(rt.join(f), "[client]\n").expect("write");
        }
        let m = MysqlSource {
            address: DbAddress::Socket("/run/mysqld/mysqld.sock".into()),
            user: "backup".into(),
            password_file: None,
            databases: vec!["pmi".into()],
            consistency: Consistency::Auto,
            dump_tool: None,
        };
        let own = write_options_file("pmi", &m, rt).expect("options file");
        let _ = live.kill();
        let _ = live.wait();
        for (f, kept) in &files {
            assert_eq!(rt.join(f).exists(), *kept, "{f}");
        }
        let text = std::fs::read_to_string(&own.path).expect("read");
        assert!(text.contains("protocol=SOCKET\n"), "{text}");
        let mode = std::fs::metadata(&own.path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(own.argument().starts_with("--defaults-file="));
        let path = own.path.clone();
        drop(own);
        assert!(!path.exists(), "removed when dropped");
    }

    #[test]
    fn option_values_are_quoted() {
        assert_eq!(option_value(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(option_value("p w\n"), "\"p w\\n\"");
    }

    #[test]
    fn client_errors_in_words() {
        let e = classify_client_error(
            "ERROR 2002 (HY000): Can't connect to local server through socket '/x.sock' (2)",
            "socket /x.sock",
            "backup",
        );
        assert!(
            matches!(e, Some(SourceError::Unreachable { ref detail, .. }) if detail.contains("not running"))
        );
        let e = classify_client_error(
            "ERROR 2003 (HY000): Can't connect to MySQL server on '10.0.0.5' (111)",
            "10.0.0.5:3306",
            "backup",
        )
        .expect("classified");
        assert_eq!(
            e.to_string(),
            "database unreachable at 10.0.0.5:3306: connection refused (is MariaDB running and is the address in the config right?)"
        );
        let e = classify_client_error(
            "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)",
            "127.0.0.1:3307",
            "backup",
        )
        .expect("classified");
        assert!(
            e.to_string()
                .starts_with("database unreachable at 127.0.0.1:3307: connection refused"),
            "{e}"
        );
        let e = classify_client_error(
            "ERROR 1045 (28000): Access denied for user 'backup'@'localhost' (using password: YES)",
            "x",
            "backup",
        );
        assert!(matches!(e, Some(SourceError::AccessDenied { .. })));
        let e = classify_client_error(
            "mariadb-dump: Got error: 1049: \"Unknown database 'pmx'\" when selecting the database",
            "x",
            "backup",
        );
        assert!(
            matches!(e, Some(SourceError::UnknownDatabase { ref database, .. }) if database == "pmx" || database == "?")
        );
    }

    #[test]
    fn consistency_auto_chooses_by_engine() {
        let mut e = BTreeMap::new();
        e.insert("pmi.pendonor".to_string(), "InnoDB".to_string());
        let c = decide_consistency(Consistency::Auto, &e);
        assert_eq!(c.mode, "single-transaction");
        assert!(c.non_transactional_tables.is_empty());
        e.insert("pmi.hasilelisa".to_string(), "MyISAM".to_string());
        let c = decide_consistency(Consistency::Auto, &e);
        assert_eq!(c.mode, "lock-tables");
        assert_eq!(c.non_transactional_tables.len(), 1);
        let c = decide_consistency(Consistency::SingleTransaction, &e);
        assert!(c.guarantee.starts_with("partial"));
        assert!(dump_args("lock-tables").contains(&"--lock-tables"));
        assert!(dump_args("single-transaction").contains(&"--single-transaction"));
    }
}
