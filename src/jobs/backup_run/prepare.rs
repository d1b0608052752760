/*!
Before a backup run writes anything: the source's lock, the runs an earlier agent left shown as
running, what an interrupted run left on each target (asked of every target on a thread of its
own, so one that does not answer is left out), and a start time whose name is free everywhere.
*/

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{rfc3339, RunError};
use crate::backup::layout::{BackupName, PARTIAL_SUFFIX, ROOT_DIR};
use crate::backup::writer::{self, Target};
use crate::catalog::Catalog;
use crate::config::{Config, SourceConfig, SourceKind};
use crate::kinds::CopyError;
use crate::safe_fs::Dir;

/// Holds a source's lock for the length of a run.
pub(super) struct SourceLock {
    _flock: nix::fcntl::Flock<File>,
}

/// Takes the per-source `flock` in `state_dir/locks/`; a second run of the source gets
/// [`RunError::Busy`].
pub(super) fn lock_source(state_dir: &Path, source: &str) -> Result<SourceLock, RunError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{source}.lock"));
    let lock_err = |e: std::io::Error| RunError::Lock {
        path: path.clone(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(lock_err)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(lock_err)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(f) => Ok(SourceLock { _flock: f }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(RunError::Busy {
            source: source.to_string(),
        }),
        Err((_, e)) => Err(RunError::Lock {
            path,
            detail: e.to_string(),
        }),
    }
}

/// At the daemon's start: runs of any source whose lock is free and that are still shown as
/// running were interrupted (the agent was killed or the power cut); mark them failed now, so the
/// panel and `status` say so at once.
pub fn recover_interrupted(config: &Config, catalog: &Catalog) {
    let now = rfc3339(&Utc::now().with_timezone(&config.timezone));
    for s in &config.sources {
        if let Ok(_lock) = lock_source(&config.state_dir, &s.name) {
            match catalog.mark_interrupted(&s.name, &now) {
                Ok(n) if n > 0 => {
                    log::warn!("{n} interrupted run(s) of {} recorded as failed", s.name)
                }
                Ok(_) => {}
                Err(e) => log::warn!("{e}"),
            }
        }
    }
}

/// Undoes what a killed run of `source` or a power cut left on a target: a publish that did not
/// finish (publish.rs) and then every `.partial` file. Returns how many files were removed.
pub fn remove_leftovers(root: &Path, source: &str) -> usize {
    let Ok(dir) = Dir::open(root).and_then(|d| d.open_dirs([ROOT_DIR, source])) else {
        return 0;
    };
    remove_partials(&dir, source, 3)
}

fn remove_partials(dir: &Dir, source: &str, depth: u32) -> usize {
    let mut removed = 0;
    if depth == 0 {
        crate::backup::publish::sweep(dir, source);
    }
    let Ok(entries) = dir.entries() else {
        return 0;
    };
    for (name, is_dir) in entries {
        if is_dir {
            if depth > 0 {
                if let Ok(sub) = dir.open_dir(&name) {
                    removed += remove_partials(&sub, source, depth - 1);
                }
            }
        } else if name.ends_with(PARTIAL_SUFFIX) && dir.remove_file(&name).is_ok() {
            log::info!("removed leftover {name} from an interrupted run");
            removed += 1;
        }
    }
    removed
}

/// The raw stream's extension for a source.
pub fn raw_extension(source: &SourceConfig) -> String {
    match &source.kind {
        SourceKind::Mysql(_) => "sql".into(),
        SourceKind::Command(c) => c.extension.clone(),
        SourceKind::SshTar(_) => "tar".into(),
    }
}

/// Picks a start time whose name is free on every target (two runs in one second wait a second).
pub(super) fn free_name(
    source: &SourceConfig,
    targets: &[Target],
    tz: chrono_tz::Tz,
    ext: &str,
) -> (DateTime<chrono_tz::Tz>, BackupName) {
    loop {
        let started = Utc::now().with_timezone(&tz);
        let name = BackupName::new(&source.name, &started, ext);
        let taken = targets.iter().any(|t| {
            let dir = t.root.join(name.dir_components().join("/"));
            name.taken_by()
                .iter()
                .any(|f| dir.join(f).symlink_metadata().is_ok())
        });
        if !taken {
            return (started, name);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Before anything is written: every target is asked (on a thread of its own, for at most
/// `stall`) to drop what an interrupted run left and to say how much room it has. A target that
/// does not answer is left out of the run with a "not answering" failure; its thread is left
/// behind. Returns the targets that did not answer.
pub(super) fn probe_targets(
    targets: &[Target],
    source: &str,
    stall: std::time::Duration,
) -> Vec<(PathBuf, CopyError)> {
    let probes: Vec<_> = targets
        .iter()
        .map(|t| {
            let (root, source) = (t.root.clone(), source.to_string());
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let spawned = std::thread::Builder::new()
                .name(format!("probe {}", t.root.display()))
                .spawn(move || {
                    remove_leftovers(&root, &source);
                    let _ = tx.send(());
                });
            (t.root.clone(), spawned.ok().map(|_| rx))
        })
        .collect();
    let deadline = std::time::Instant::now() + stall;
    let mut unanswering = Vec::new();
    for (root, rx) in probes {
        let Some(rx) = rx else { continue };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if rx.recv_timeout(left).is_err() {
            log::error!(
                "{}: the disk does not answer; left out of this run",
                root.display()
            );
            let e =
                writer::not_answering(&root, stall, "looking for leftovers of an interrupted run");
            unanswering.push((root, e));
        }
    }
    unanswering
}
