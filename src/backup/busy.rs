/*!
The backups-running lock (`state_dir/locks/backups.lock`), across the daemon's threads and every
CLI process: the restore test never runs while a backup runs, and a backup never waits on a
restore test (issue 12). The restore test is the one that yields.

- Every backup run holds the lock **shared** for its length ([`hold`]); backups of different
  sources share it.
- The restore test never holds it. It **probes** it ([`Probe::busy`]): an exclusive,
  non-blocking lock taken and dropped at once. It does not start while the probe finds a backup,
  and its watch ([`crate::backup::sandbox::Watch`]) probes every tick while it runs and stops the
  scratch server when a backup has started.
- A backup's shared lock can only meet a probe's exclusive lock for the instant the probe holds
  it: [`hold`] retries for up to [`HOLD_TRY`] and then runs anyway (the lock only orders the
  restore test; it never guards data).
*/

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// How long a backup tries to take its shared lock before running without it.
pub const HOLD_TRY: Duration = Duration::from_secs(2);

/// The lock file below a state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("locks").join("backups.lock")
}

fn open(state_dir: &Path) -> std::io::Result<File> {
    let p = path(state_dir);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
}

/// A backup's hold on the lock; released when dropped.
pub struct Held {
    _flock: Option<Flock<File>>,
}

/// Takes the lock shared for a backup run. Never fails the backup: a lock that cannot be taken
/// (a read-only state directory, a probe holding it longer than [`HOLD_TRY`]) is logged and the
/// backup runs.
pub fn hold(state_dir: &Path) -> Held {
    let file = match open(state_dir) {
        Ok(f) => f,
        Err(e) => {
            log::warn!(
                "cannot open {}: {e}; a restore test will not know that this backup runs",
                path(state_dir).display()
            );
            return Held { _flock: None };
        }
    };
    let deadline = Instant::now() + HOLD_TRY;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(f) => return Held { _flock: Some(f) },
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, e)) => {
                log::warn!(
                    "cannot lock {}: {e}; a restore test will not know that this backup runs",
                    path(state_dir).display()
                );
                return Held { _flock: None };
            }
        }
    }
}

/// The restore test's view of the lock.
pub struct Probe {
    state_dir: PathBuf,
}

impl Probe {
    pub fn new(state_dir: &Path) -> Probe {
        Probe {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// Whether a backup holds the lock now. The exclusive lock it takes to find out is dropped
    /// before this returns. A lock file that cannot be opened counts as free (nothing can have
    /// taken it either).
    pub fn busy(&self) -> bool {
        let Ok(file) = open(&self.state_dir) else {
            return false;
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => {
                drop(f);
                false
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => true,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_by_the_probe_and_released_when_dropped() {
        let d = tempfile::tempdir().expect("tempdir");
        let probe = Probe::new(d.path());
        assert!(!probe.busy());
        let a = hold(d.path());
        assert!(probe.busy());
        // A second backup shares it.
        let started = Instant::now();
        let b = hold(d.path());
        assert!(started.elapsed() < Duration::from_millis(500));
        drop(a);
        assert!(probe.busy(), "the second backup still holds it");
        drop(b);
        assert!(!probe.busy());
    }
}
