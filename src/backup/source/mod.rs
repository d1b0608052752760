/*!
Sources: the programs whose standard output is a backup, and the checks that decide whether that
output is complete. One file per source kind, each implementing [`Kind`] (how it starts, how it is
reached without a backup):

- [`mysql`]: `mariadb-dump` (or `mysqldump`) with the careful DBA's flags. Every client call reads
  its options only from the agent's own 0600 file in the runtime directory (`--defaults-file`, so
  no `/etc/mysql` or `~/.my.cnf` section can change what is dumped) and runs with an environment of
  `PATH` only (no `MYSQL_HOST`, `MYSQL_PWD`, …). The password is never in argv or the environment.
  The file is removed afterwards; a stale one is removed only by its exact name and only when the
  process that wrote it is gone. A pre-flight query through the `mariadb`
  client reads the server version and the table engines, so `consistency = "auto"` can choose, and
  so an unreachable server or a refused login is reported in words before any file is created.
- [`ssh_tar`]: `ssh … tar -cf - DIR` on a server, with its failures in words.
- [`command`]: any program; its exit status decides.

This file owns what every kind shares: the [`Running`] process and its stall watchdog, the
verdict ([`Running::finish`], `judge`), [`SourceError`] and [`SourceInfo`]. A dump is complete
only when the tool exited 0, its stderr holds no error and (for `mysql`) the output ends with the
`-- Dump completed` trailer (DESIGN.md §4.1).
*/

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backup::manifest::ConsistencyInfo;
use crate::backup::stall::{self, Watch};
use crate::config::{SourceConfig, SourceKind, SshTarSource};
use crate::kinds::RunFailure;

mod command;
mod mysql;
mod ssh_tar;

use mysql::OptionsFile;
pub use mysql::{decide_consistency, dump_args, lock_wait_bound};
pub use ssh_tar::ssh_tar_argv;

/// How much of a tool's stderr is kept for messages.
const STDERR_KEEP: usize = 64 * 1024;

/// Why a source could not produce a complete backup. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The database server did not answer.
    Unreachable { address: String, detail: String },
    /// The server refused the login.
    AccessDenied { user: String, detail: String },
    /// A configured database does not exist on the server.
    UnknownDatabase { database: String, address: String },
    /// The backup user lacks a privilege the dump needs.
    MissingGrant { detail: String },
    /// A program is not installed.
    ToolMissing { tool: String, package: String },
    /// A program could not be started.
    Spawn { tool: String, detail: String },
    /// The password file could not be read.
    PasswordFile { path: PathBuf, detail: String },
    /// The runtime directory (for the options file) is unusable.
    RuntimeDir { path: PathBuf, detail: String },
    /// The tool was killed by a signal.
    Killed { tool: String, signal: i32 },
    /// The tool exited with a non-zero status.
    Failed {
        tool: String,
        code: i32,
        stderr: String,
    },
    /// The tool exited 0 but wrote an error on stderr.
    StderrError { tool: String, line: String },
    /// The dump does not end with the `-- Dump completed` trailer.
    Truncated { tool: String },
    /// Reading the tool's output failed.
    Read { tool: String, detail: String },
    /// The query before the dump failed in an unexpected way.
    Query { detail: String },
    /// The SSH server's host key is not the pinned one.
    HostKey { host: String, known_hosts: PathBuf },
    /// The source produced no bytes for `stall_timeout`; it was stopped (its process group).
    Stalled { tool: String, after: Duration },
    /// A client call before the dump did not answer within its bound.
    NoAnswer {
        tool: String,
        what: String,
        after: Duration,
    },
    /// A table lock the dump needs is held by another session for longer than the bound.
    LockWait { databases: String, after: Duration },
}

impl SourceError {
    /// The kind the panel, the LEDs and the alerts decide on.
    pub fn kind(&self) -> RunFailure {
        match self {
            SourceError::Unreachable { .. } | SourceError::NoAnswer { .. } => {
                RunFailure::DatabaseUnreachable
            }
            SourceError::AccessDenied { .. } => RunFailure::LoginRefused,
            SourceError::UnknownDatabase { .. } => RunFailure::NoSuchDatabase,
            SourceError::MissingGrant { .. } => RunFailure::MissingGrant,
            SourceError::ToolMissing { .. } => RunFailure::ToolMissing,
            SourceError::Stalled { .. } | SourceError::LockWait { .. } => RunFailure::SourceStalled,
            SourceError::Spawn { .. }
            | SourceError::PasswordFile { .. }
            | SourceError::RuntimeDir { .. }
            | SourceError::Killed { .. }
            | SourceError::Failed { .. }
            | SourceError::StderrError { .. }
            | SourceError::Truncated { .. }
            | SourceError::Read { .. }
            | SourceError::Query { .. }
            | SourceError::HostKey { .. } => RunFailure::SourceFailed,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Unreachable { address, detail } => write!(
                f,
                "database unreachable at {address}: {detail} (is MariaDB running and is the address in the config right?)"
            ),
            SourceError::AccessDenied { user, detail } => write!(
                f,
                "database refused the login of user '{user}': {detail} (check password_file and the user's grants, see docs/mariadb-grants.md)"
            ),
            SourceError::UnknownDatabase { database, address } => write!(
                f,
                "database '{database}' does not exist on the server at {address} (check databases = [...] in the config)"
            ),
            SourceError::MissingGrant { detail } => write!(
                f,
                "the backup user lacks a privilege: {detail} (grant what docs/mariadb-grants.md lists)"
            ),
            SourceError::ToolMissing { tool, package } => write!(
                f,
                "{tool} is not installed: install it with `apt-get install {package}`"
            ),
            SourceError::Spawn { tool, detail } => write!(f, "cannot start {tool}: {detail}"),
            SourceError::PasswordFile { path, detail } => write!(
                f,
                "cannot read the password file {}: {detail} (it must exist, be readable by the agent and have mode 0600)",
                path.display()
            ),
            SourceError::RuntimeDir { path, detail } => write!(
                f,
                "cannot use the runtime directory {}: {detail}",
                path.display()
            ),
            SourceError::Killed { tool, signal } => write!(
                f,
                "{tool} was killed by signal {signal} before it finished: the dump is incomplete and was discarded"
            ),
            SourceError::Failed { tool, code, stderr } => {
                write!(f, "{tool} failed with exit code {code}")?;
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            SourceError::StderrError { tool, line } => write!(
                f,
                "{tool} reported an error, so the dump cannot be trusted: {line}"
            ),
            SourceError::Truncated { tool } => write!(
                f,
                "the output of {tool} does not end with \"-- Dump completed\": the dump is incomplete and was discarded"
            ),
            SourceError::Read { tool, detail } => {
                write!(f, "reading the output of {tool} failed: {detail}")
            }
            SourceError::Query { detail } => {
                write!(f, "the query before the dump failed: {detail}")
            }
            SourceError::HostKey { host, known_hosts } => write!(
                f,
                "the SSH host key of {host} does not match the one pinned in {}: refusing to connect (if the server was reinstalled, check its new key's fingerprint with the server's admin and pin it again)",
                known_hosts.display()
            ),
            SourceError::Stalled { tool, after } => write!(
                f,
                "{tool} stopped answering: no bytes for {} s, so it was stopped and the dump discarded (is the database server overloaded, or a table locked?)",
                after.as_secs()
            ),
            SourceError::NoAnswer { tool, what, after } => write!(
                f,
                "database unreachable: {tool} got no answer to {what} within {} s (the server accepts connections but does not answer: is it overloaded or hung?)",
                after.as_secs()
            ),
            SourceError::LockWait { databases, after } => write!(
                f,
                "the backup was not started: another session holds a lock on a table of {databases} for more than {} s (a long query or an open LOCK TABLES); SIMDONDAR's writes would queue behind the dump's lock, so it waits for the next interval",
                after.as_secs()
            ),
        }
    }
}

impl std::error::Error for SourceError {}

/// What the source told us before and while it ran, for the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceInfo {
    pub databases: Vec<String>,
    pub server_version: Option<String>,
    pub dump_tool: Option<String>,
    pub consistency: Option<ConsistencyInfo>,
    /// The extension of the raw stream (`sql`, `tar`, …).
    pub extension: String,
    /// Warnings the tool printed (kept for the catalog).
    pub warnings: Vec<String>,
}

/// The size asked for the pipe from a source (Linux's default is 64 KiB; 1 MiB is the default
/// `fs.pipe-max-size`).
pub const PIPE_BYTES: i32 = 1 << 20;

/// A source process producing the backup stream.
pub struct Running {
    tool: String,
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    needs_trailer: bool,
    /// Set for `ssh-tar`, to name SSH failures in words.
    ssh: Option<SshTarSource>,
    pub info: SourceInfo,
    /// Kills the process group when the source stops producing bytes.
    watch: Option<Watch>,
    _options: Option<OptionsFile>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("tool", &self.tool).finish()
    }
}

impl Running {
    /// The stream to read.
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// The process id (for tests and for stopping it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The program's name, for messages.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Reads the next bytes of the stream (`None`: no stream). The time spent waiting here is
    /// what the stall watchdog bounds.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let out = self.stdout.as_mut()?;
        if let Some(w) = &self.watch {
            w.waiting();
        }
        let r = out.read(buf);
        if let Some(w) = &self.watch {
            w.answered();
        }
        Some(r)
    }

    /// Starts the stall watchdog (`stall_timeout`), with an optional hook run when it fires; and
    /// widens the pipe from the source to [`PIPE_BYTES`], so the dump tool and the agent trade
    /// the stream in fewer, larger steps (best effort: the system may cap pipe sizes).
    fn watch(mut self, timeout: Duration, on_stall: Option<stall::OnStall>) -> Running {
        if let Some(out) = &self.stdout {
            use std::os::fd::AsRawFd;
            let _ = nix::fcntl::fcntl(
                out.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES),
            );
        }
        match Watch::start(self.child.id(), timeout, on_stall) {
            Ok(w) => self.watch = Some(w),
            Err(e) => log::error!("cannot start the source watchdog: {e}"),
        }
        self
    }

    /// Stops the process and everything it started (used when every target failed or the agent
    /// stops).
    pub fn kill(&mut self) {
        stall::kill_group(self.child.id() as i32);
        let _ = self.child.kill();
    }

    /// Waits for the process and decides whether its output was complete. `tail` is the last
    /// bytes of the stream.
    pub fn finish(mut self, tail: &[u8]) -> Result<SourceInfo, SourceError> {
        drop(self.stdout.take());
        let status = self.child.wait().map_err(|e| SourceError::Read {
            tool: self.tool.clone(),
            detail: e.to_string(),
        })?;
        // Helpers the tool started (ssh's, a shell's) must not outlive the run.
        stall::kill_group(self.child.id() as i32);
        let stalled = self.watch.take().filter(|w| w.fired()).map(|w| w.timeout());
        if let Some(after) = stalled {
            if let Some(h) = self.stderr.take() {
                let _ = h.join();
            }
            return Err(SourceError::Stalled {
                tool: self.tool.clone(),
                after,
            });
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        if let (Some(t), Some(code)) = (&self.ssh, status.code()) {
            if code != 0 {
                if let Some(e) = ssh_tar::classify_ssh_error(t, code, &stderr) {
                    return Err(e);
                }
            }
        }
        judge(&self.tool, status, &stderr, tail, self.needs_trailer)?;
        let mut info = self.info.clone();
        info.warnings = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .take(20)
            .collect();
        Ok(info)
    }
}

/// Decides whether a finished tool produced a complete stream.
fn judge(
    tool: &str,
    status: ExitStatus,
    stderr: &str,
    tail: &[u8],
    needs_trailer: bool,
) -> Result<(), SourceError> {
    if let Some(signal) = status.signal() {
        return Err(SourceError::Killed {
            tool: tool.to_string(),
            signal,
        });
    }
    if !status.success() {
        if needs_trailer {
            if let Some(e) = mysql::classify_client_error(stderr, "", "") {
                return Err(e);
            }
        }
        return Err(SourceError::Failed {
            tool: tool.to_string(),
            code: status.code().unwrap_or(-1),
            stderr: first_lines(stderr, 3),
        });
    }
    if needs_trailer {
        if let Some(line) = stderr
            .lines()
            .find(|l| l.to_ascii_lowercase().contains("error"))
        {
            return Err(SourceError::StderrError {
                tool: tool.to_string(),
                line: line.trim().to_string(),
            });
        }
        if !has_dump_trailer(tail) {
            return Err(SourceError::Truncated {
                tool: tool.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether the last non-empty line of a dump is `-- Dump completed…`.
pub fn has_dump_trailer(tail: &[u8]) -> bool {
    let text = String::from_utf8_lossy(tail);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim_start().starts_with("-- Dump completed"))
        .unwrap_or(false)
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect::<Vec<_>>()
        .join(" / ")
}

/// What each source kind provides; one file per kind implements it.
trait Kind {
    /// Starts the program whose stdout is the backup. `stall` bounds every wait on it: the
    /// client calls before the dump, a table lock the dump would wait for, and the gap between
    /// two reads of its output.
    fn start(
        &self,
        name: &str,
        runtime_dir: &Path,
        stall: Duration,
    ) -> Result<Running, SourceError>;
    /// `config check --connect`: reaches the source and checks what a backup needs, without
    /// making one. Returns a one-line summary.
    fn check_connection(&self, name: &str, runtime_dir: &Path) -> Result<String, SourceError>;
}

/// The implementation of a configured source's kind.
fn kind_of(kind: &SourceKind) -> &dyn Kind {
    match kind {
        SourceKind::Mysql(m) => m,
        SourceKind::Command(c) => c,
        SourceKind::SshTar(t) => t,
    }
}

/// Starts a source. `stall` bounds every wait on it: the client calls before the dump, a table
/// lock the dump would wait for, and the gap between two reads of its output.
pub fn start(
    source: &SourceConfig,
    runtime_dir: &Path,
    stall: Duration,
) -> Result<Running, SourceError> {
    kind_of(&source.kind).start(&source.name, runtime_dir, stall)
}

/// `config check --connect`: reaches the source and checks what a backup needs, without
/// making one. Returns a one-line summary.
pub fn check_connection(source: &SourceConfig, runtime_dir: &Path) -> Result<String, SourceError> {
    kind_of(&source.kind).check_connection(&source.name, runtime_dir)
}

/// Collects a tool's stderr on a thread of its own, keeping at most `STDERR_KEEP` bytes.
fn collect_stderr(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = STDERR_KEEP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_detection() {
        assert!(has_dump_trailer(
            b"INSERT ...;\n-- Dump completed on 2026-11-26 10:00:01\n"
        ));
        assert!(has_dump_trailer(b"x\n-- Dump completed\n\n"));
        assert!(!has_dump_trailer(b"INSERT INTO t VALUES (1,"));
        assert!(!has_dump_trailer(b""));
        assert!(!has_dump_trailer(b"-- Dump completed\nINSERT x;\n"));
    }

    #[test]
    fn judge_rules() {
        let ok = ExitStatus::from_raw(0);
        let t = b"-- Dump completed on x\n";
        assert!(judge("d", ok, "", t, true).is_ok());
        assert!(matches!(
            judge("d", ok, "", b"INSERT", true),
            Err(SourceError::Truncated { .. })
        ));
        assert!(matches!(
            judge(
                "d",
                ok,
                "mariadb-dump: Couldn't execute 'x': error 1",
                t,
                true
            ),
            Err(SourceError::StderrError { .. })
        ));
        assert!(judge("d", ok, "Warning: something", t, true).is_ok());
        assert!(matches!(
            judge("d", ExitStatus::from_raw(9), "", t, true),
            Err(SourceError::Killed { signal: 9, .. })
        ));
        assert!(matches!(
            judge("d", ExitStatus::from_raw(2 << 8), "boom", t, false),
            Err(SourceError::Failed { code: 2, .. })
        ));
        assert!(judge("c", ok, "error text is fine for commands", b"", false).is_ok());
    }
}
