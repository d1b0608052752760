/*!
The restore test's sandbox (issue 12): a dump read from a disk is untrusted input, so the
throw-away MariaDB server that loads it and the client that feeds it run as nobody who matters,
inside limits, and are stopped the moment they overstep one.

This module owns:

- **Who** they run as ([`Identity`]): the system user [`SANDBOX_USER`] when the agent is root
  (created by the package's sysusers entry; missing, the restore test refuses to run rather than
  load untrusted SQL as root), the agent's own user otherwise (a developer's account).
- **How much** they may use ([`Limits`]): CPU seconds (`RLIMIT_CPU` on the server and the client),
  resident memory of the server, the scratch directory's size (the restored tables, indexes, logs
  and temporary files, counted on disk, not estimated) and a reserve of free space that the file
  system keeps whatever happens (the SD card holds the catalog). The largest single file is
  bounded by `RLIMIT_FSIZE` too, as a backstop the kernel enforces.
- **The room check** before anything starts ([`check_room`]): the estimate of the restored
  database must fit beside the reserve.
- **The watch** while it runs ([`Watch`]): every [`TICK`] it measures the scratch directory, the
  file system's free space and the server's resident memory, and probes the backups-running lock
  ([`crate::backup::busy`]); on any limit it kills the server (the client then fails on its
  socket) and says which limit, typed ([`Stop`]).

The restore test ([`crate::backup::restore_test`]) decides what a stop means for the verdict.
*/

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::unistd::{Gid, Uid};

use crate::util::space;

/// The system user the scratch server and the loading client run as when the agent is root.
pub const SANDBOX_USER: &str = "simdondar-restore";

/// How often the watch measures.
pub const TICK: Duration = Duration::from_millis(250);

const MIB: u64 = 1 << 20;

/// What a fresh scratch server needs before any table is loaded (InnoDB's 96 MiB redo log, the
/// system tablespace, the `mysql` schema), with room to spare.
pub const BASE_BYTES: u64 = 256 * MIB;

/// Who the sandboxed programs run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// Whether the agent switches to this user (it is root); otherwise it is the agent's own user.
    pub switch: bool,
}

/// Why the sandbox cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxError {
    /// The agent is root and the sandbox user does not exist.
    NoUser { name: String },
    /// The sandbox user is root (uid 0): that is no sandbox.
    UserIsRoot { name: String },
    /// The sandbox user cannot reach the work directory (a folder on the way lacks search
    /// permission for it).
    Unreachable { dir: PathBuf, mode: u32 },
    /// The restored database would not fit beside the reserve.
    NoRoom {
        path: PathBuf,
        needed: u64,
        free: u64,
        reserve: u64,
    },
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxError::NoUser { name } => write!(
                f,
                "the restore test loads the untrusted dump as the system user {name}, which does not exist: reinstall simdondar-backup, or create it with `adduser --system --group --no-create-home {name}`"
            ),
            SandboxError::UserIsRoot { name } => write!(
                f,
                "the restore test's sandbox user {name} has uid 0: give it its own unprivileged uid (`adduser --system --group --no-create-home {name}`)"
            ),
            SandboxError::Unreachable { dir, mode } => write!(
                f,
                "the restore test's sandbox user cannot reach its work directory: {} is mode {mode:04o}; let others pass through it with `chmod o+x {}`",
                dir.display(),
                dir.display()
            ),
            SandboxError::NoRoom {
                path,
                needed,
                free,
                reserve,
            } => write!(
                f,
                "not enough free space in {} for the restore test: the restored database needs about {} MiB and {} MiB must stay free for the catalog, but only {} MiB are free; free some space or test on a machine with more room",
                path.display(),
                needed / MIB,
                reserve / MIB,
                free / MIB
            ),
        }
    }
}

impl std::error::Error for SandboxError {}

impl Identity {
    /// The sandbox user when the agent is root, else the agent's own user.
    pub fn find() -> Result<Identity, SandboxError> {
        if !nix::unistd::geteuid().is_root() {
            let uid = nix::unistd::getuid();
            let name = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| uid.to_string());
            return Ok(Identity {
                name,
                uid,
                gid: nix::unistd::getgid(),
                switch: false,
            });
        }
        let user = nix::unistd::User::from_name(SANDBOX_USER)
            .ok()
            .flatten()
            .ok_or_else(|| SandboxError::NoUser {
                name: SANDBOX_USER.to_string(),
            })?;
        if user.uid.is_root() {
            return Err(SandboxError::UserIsRoot {
                name: SANDBOX_USER.to_string(),
            });
        }
        Ok(Identity {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            switch: true,
        })
    }

    /// Checks that this user can pass through every folder from `/` down to `dir`.
    pub fn can_reach(&self, dir: &Path) -> Result<(), SandboxError> {
        if !self.switch {
            return Ok(());
        }
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for d in dir.ancestors() {
            let Ok(m) = std::fs::metadata(d) else {
                continue;
            };
            let mode = m.mode() & 0o7777;
            let ok = if m.uid() == self.uid.as_raw() {
                mode & 0o100 != 0
            } else if m.gid() == self.gid.as_raw() {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !ok {
                return Err(SandboxError::Unreachable {
                    dir: d.to_path_buf(),
                    mode,
                });
            }
        }
        Ok(())
    }

    /// Makes `path` this user's (when switching).
    pub fn own(&self, path: &Path) -> std::io::Result<()> {
        if self.switch {
            std::os::unix::fs::lchown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))?;
        }
        Ok(())
    }

    /// Prepares `cmd` to run as this user with an empty environment (but `PATH`, `HOME` = the
    /// scratch directory and `LC_ALL=C`), no core dumps, at most `cpu_seconds` of CPU and files of
    /// at most `max_file` bytes; it dies with the thread that starts it.
    pub fn confine(&self, cmd: &mut Command, home: &Path, cpu_seconds: u64, max_file: u64) {
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", home)
            .env("LC_ALL", "C");
        if self.switch {
            // std drops the supplementary groups too when it switches from root.
            cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
        }
        // SAFETY: the closure runs between fork and exec (after the user switch) and calls only
        // setrlimit(2) and prctl(2), which are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let set = |what, soft: u64, hard: u64| {
                    let lim = libc::rlimit {
                        rlim_cur: soft as libc::rlim_t,
                        rlim_max: hard as libc::rlim_t,
                    };
                    if libc::setrlimit(what, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                };
                set(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds.saturating_add(5))?;
                set(libc::RLIMIT_FSIZE, max_file, max_file)?;
                set(libc::RLIMIT_CORE, 0, 0)?;
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// The limits of one restore test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds for the server and, separately, for the client.
    pub cpu_seconds: u64,
    /// Seconds of wall-clock time for the load and the counting (a dump that only sleeps uses no
    /// CPU).
    pub wall_seconds: u64,
    /// Resident memory of the server, bytes.
    pub memory: u64,
    /// Bytes the scratch directory may hold (data directory, logs, temporary files).
    pub disk: u64,
    /// Bytes that stay free on the work directory's file system, at least.
    pub reserve_min: u64,
}

impl Limits {
    /// The defaults for a dump of `bytes_raw` bytes: ten minutes of CPU plus one second per MiB
    /// (a Raspberry Pi 4 loads a few MiB per CPU-second) and twice that in wall-clock time,
    /// 1 GiB of memory, and
    /// [`BASE_BYTES`] plus four times the dump on disk (tables and indexes take one to three
    /// times their SQL text in InnoDB). The reserve: 256 MiB or 5 % of the file system,
    /// whichever is more.
    pub fn for_dump(bytes_raw: u64) -> Limits {
        Limits {
            cpu_seconds: 600 + bytes_raw / MIB,
            wall_seconds: 2 * (600 + bytes_raw / MIB),
            memory: 1 << 30,
            disk: BASE_BYTES.saturating_add(bytes_raw.saturating_mul(4)),
            reserve_min: 256 * MIB,
        }
    }

    /// What the restored database is expected to take: [`BASE_BYTES`] plus twice the dump.
    pub fn estimate(bytes_raw: u64) -> u64 {
        BASE_BYTES.saturating_add(bytes_raw.saturating_mul(2))
    }

    /// The reserve on a file system of `total` bytes.
    pub fn reserve(&self, total: u64) -> u64 {
        self.reserve_min.max(total / 20)
    }
}

/// Refuses when the estimate for a dump of `bytes_raw` bytes does not fit in `work_dir`'s free
/// space beside the reserve. A file system that cannot be measured is not refused here; the watch
/// measures again while the test runs.
pub fn check_room(work_dir: &Path, limits: &Limits, bytes_raw: u64) -> Result<(), SandboxError> {
    let Ok((free, total)) = space(work_dir) else {
        return Ok(());
    };
    let needed = Limits::estimate(bytes_raw);
    let reserve = limits.reserve(total);
    if free < needed.saturating_add(reserve) {
        return Err(SandboxError::NoRoom {
            path: work_dir.to_path_buf(),
            needed,
            free,
            reserve,
        });
    }
    Ok(())
}

/// Why the watch stopped the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The scratch directory grew past the limit.
    Disk { used: u64, limit: u64 },
    /// The file system's free space fell to the reserve.
    Reserve { free: u64, reserve: u64 },
    /// The server's resident memory grew past the limit.
    Memory { rss: u64, limit: u64 },
    /// The load and the counting took longer than the wall-clock limit.
    Time { limit: u64 },
    /// A backup started: the restore test gives way.
    Yield,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Disk { used, limit } => write!(
                f,
                "the restored database grew to {} MiB, past the restore test's limit of {} MiB (256 MiB plus four times the dump)",
                used / MIB,
                limit / MIB
            ),
            Stop::Reserve { free, reserve } => write!(
                f,
                "the restore would have filled the disk: only {} MiB were left free, {} MiB must stay free for the catalog",
                free / MIB,
                reserve / MIB
            ),
            Stop::Memory { rss, limit } => write!(
                f,
                "the test server used {} MiB of memory, past the restore test's limit of {} MiB",
                rss / MIB,
                limit / MIB
            ),
            Stop::Time { limit } => write!(
                f,
                "the restore did not finish within the restore test's limit of {limit} s"
            ),
            Stop::Yield => write!(f, "a backup started; the restore test gave way to it"),
        }
    }
}

/// Watches a running scratch server; see the module comment. Stopped by [`Watch::finish`] (or
/// when dropped).
pub struct Watch {
    done: Arc<AtomicBool>,
    stopped: Arc<Mutex<Option<Stop>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the watch looks at.
pub struct Watched {
    /// The scratch directory.
    pub dir: PathBuf,
    /// The server's process id.
    pub pid: i32,
    pub limits: Limits,
    /// The backups-running lock to probe, when the test should give way to backups.
    pub yield_to: Option<crate::backup::busy::Probe>,
}

impl Watch {
    /// Starts watching. The server is held by a pidfd from here on, so the watch can never
    /// signal another process that reused its pid after it was reaped.
    pub fn start(w: Watched) -> std::io::Result<Watch> {
        let pidfd = PidFd::open(w.pid)?;
        let done = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(Mutex::new(None));
        let (d, s) = (done.clone(), stopped.clone());
        let started = std::time::Instant::now();
        let thread = std::thread::Builder::new()
            .name("restore-test-watch".into())
            .spawn(move || watch(w, &pidfd, started, &d, &s))?;
        Ok(Watch {
            done,
            stopped,
            thread: Some(thread),
        })
    }

    /// Whether it has stopped the server (so far).
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped.lock().map(|g| *g).unwrap_or(None)
    }

    /// Ends the watch; what it stopped the server for, if it did.
    pub fn finish(mut self) -> Option<Stop> {
        self.end();
        self.stopped()
    }

    fn end(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.end();
    }
}

/// A process held by a pidfd (Linux 5.3+): signals reach that process or none.
struct PidFd(std::os::fd::OwnedFd);

impl PidFd {
    fn open(pid: i32) -> std::io::Result<PidFd> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor is new and owned by nothing else.
        Ok(PidFd(unsafe {
            std::os::fd::FromRawFd::from_raw_fd(fd as std::os::fd::RawFd)
        }))
    }

    fn kill(&self) {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal(2) with a descriptor we own, no siginfo, no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
    }
}

fn watch(
    w: Watched,
    pidfd: &PidFd,
    started: std::time::Instant,
    done: &AtomicBool,
    stopped: &Mutex<Option<Stop>>,
) {
    while !done.load(Ordering::SeqCst) {
        let stop = if started.elapsed().as_secs() >= w.limits.wall_seconds {
            Some(Stop::Time {
                limit: w.limits.wall_seconds,
            })
        } else {
            check(&w)
        };
        if let Some(stop) = stop {
            // SIGKILL: a server past a limit gets no chance to write more.
            pidfd.kill();
            if let Ok(mut g) = stopped.lock() {
                *g = Some(stop);
            }
            return;
        }
        std::thread::sleep(TICK);
    }
}

/// One look: the first limit overstepped, if any.
fn check(w: &Watched) -> Option<Stop> {
    if w.yield_to.as_ref().is_some_and(|p| p.busy()) {
        return Some(Stop::Yield);
    }
    let used = disk_usage(&w.dir);
    if used > w.limits.disk {
        return Some(Stop::Disk {
            used,
            limit: w.limits.disk,
        });
    }
    if let Ok((free, total)) = space(&w.dir) {
        let reserve = w.limits.reserve(total);
        if free < reserve {
            return Some(Stop::Reserve { free, reserve });
        }
    }
    if let Some(rss) = resident(w.pid) {
        if rss > w.limits.memory {
            return Some(Stop::Memory {
                rss,
                limit: w.limits.memory,
            });
        }
    }
    None
}

/// Bytes allocated on disk for everything under `dir` (symbolic links are not followed).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            total = total.saturating_add(m.blocks().saturating_mul(512));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// A process's resident memory (`VmRSS`), bytes.
pub fn resident(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// Asks the kernel to kill `pid` first when memory runs out (never the agent). Best effort.
pub fn oom_first(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/oom_score_adj"), "1000") {
        log::warn!("cannot raise the restore test server's OOM score: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_grow_with_the_dump_and_the_reserve_with_the_file_system() {
        let small = Limits::for_dump(0);
        assert_eq!(small.disk, BASE_BYTES);
        assert_eq!(small.cpu_seconds, 600);
        let big = Limits::for_dump(1 << 30);
        assert_eq!(big.disk, BASE_BYTES + (4 << 30));
        assert_eq!(big.cpu_seconds, 600 + 1024);
        assert_eq!(Limits::estimate(1 << 30), BASE_BYTES + (2 << 30));
        // 5 % of a 32 GiB card is more than the minimum; of a 1 GiB one it is not.
        assert_eq!(small.reserve(32 << 30), (32u64 << 30) / 20);
        assert_eq!(small.reserve(1 << 30), 256 * MIB);
    }

    #[test]
    fn disk_usage_counts_allocated_blocks_below_the_folder() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("sub")).expect("mkdir");
        std::fs::write(d.path().join("sub/a"), vec![7u8; 3 * MIB as usize]).expect("write");
        let used = disk_usage(d.path());
        assert!(used >= 3 * MIB, "{used}");
        assert!(used < 4 * MIB, "{used}");
    }

    #[test]
    fn resident_memory_of_this_process_is_read() {
        let rss = resident(std::process::id() as i32).expect("VmRSS");
        assert!(rss > 0);
        assert_eq!(resident(-1), None);
    }

    #[test]
    fn an_unreachable_folder_is_named_with_its_mode() {
        let d = tempfile::tempdir().expect("tempdir");
        let inner = d.path().join("a/b");
        std::fs::create_dir_all(&inner).expect("mkdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let who = Identity {
            name: "x".into(),
            uid: Uid::from_raw(65_000),
            gid: Gid::from_raw(65_000),
            switch: true,
        };
        // The tempdir itself may be 0700 too; whichever folder is first refused is named.
        match who.can_reach(&inner) {
            Err(SandboxError::Unreachable { dir, mode }) => {
                assert_eq!(mode & 0o001, 0, "{}", dir.display());
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o711))
            .expect("chmod");
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
        // /tmp is 1777; every folder on the way can now be passed.
        assert_eq!(who.can_reach(&inner), Ok(()));
        let me = Identity {
            switch: false,
            ..who
        };
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(me.can_reach(&inner), Ok(()), "no switch, nothing to check");
    }
}
