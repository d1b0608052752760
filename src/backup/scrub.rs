/*!
The scheduled scrub (`[schedule] scrub`, default weekly): every copy on every attached disk is
read back from the device and checked against its manifest, one copy at a time, at a bounded
average read rate, and never while a backup runs, so the hourly backup keeps its pace. Progress
is kept in `state_dir/scrub.json` (the copies done in the current pass), so a pass interrupted by
a restart goes on where it stopped instead of starting over. Each verdict goes to the catalog's
verifications (the SOP report lists them); what the pass found goes to the panel (amber for a copy
that went bad, red for a source with fewer than five good copies on a disk).
*/

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::backup::inventory;
use crate::backup::verify;
use crate::catalog::Catalog;

/// The progress file's name in the state directory.
const FILE: &str = "scrub.json";

/// The copies a scrub needs per source on each disk (the SOP's "at least five").
pub const GOOD_FLOOR: usize = 5;

/// Where the scrub stands, kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// When the current pass started (unix seconds); `None` between passes.
    pub pass_started: Option<i64>,
    /// `target|path` of every copy checked in the current pass.
    pub done: BTreeSet<String>,
    /// When the last complete pass ended (unix seconds).
    pub last_finished: Option<i64>,
}

impl Progress {
    /// Reads the progress file; a missing or unreadable one is a fresh start (logged).
    pub fn load(state_dir: &Path) -> Progress {
        let path = state_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!(
                    "{}: unreadable ({e}); the scrub starts a new pass",
                    path.display()
                );
                Progress::default()
            }),
            Err(_) => Progress::default(),
        }
    }

    fn save(&self, state_dir: &Path) {
        let bytes = match serde_json::to_vec(self) {
            Ok(b) => b,
            Err(e) => return log::error!("cannot encode the scrub's progress: {e}"),
        };
        let dir = match crate::safe_fs::Dir::open(state_dir) {
            Ok(d) => d,
            Err(e) => return log::error!("{}: {e}", state_dir.display()),
        };
        if let Err(e) = crate::backup::writer::write_atomically(&dir, FILE, &bytes) {
            log::error!(
                "cannot save the scrub's progress in {}: {e}",
                state_dir.display()
            );
        }
    }
}

/// One disk to scrub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub root: PathBuf,
    /// What the panel calls it.
    pub label: String,
}

/// What a pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Every copy of the disks was checked (not stopped by a shutdown).
    pub complete: bool,
    /// Copies checked in this call.
    pub checked: usize,
    /// (disk label, data file) of each copy that failed its check.
    pub bad: Vec<(String, String)>,
    /// (disk label, source, good copies) where a source has fewer than [`GOOD_FLOOR`].
    pub low: Vec<(String, String, usize)>,
}

/// How the scrub is paced and stopped.
pub struct Pace<'a> {
    /// Average read rate, bytes per second.
    pub rate: u64,
    /// Set while a backup runs: the scrub waits between copies.
    pub pause: &'a AtomicBool,
    /// Set to stop (shutdown): the progress is kept.
    pub stop: &'a AtomicBool,
}

impl Pace<'_> {
    /// Waits `d`, and then as long as a backup runs; `false` when stopped meanwhile.
    fn wait(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            let paused = self.pause.load(Ordering::Relaxed);
            if !paused && Instant::now() >= until {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs (or goes on with) a pass over `disks`. Every verdict is recorded in `catalog`.
pub fn run_pass(state_dir: &Path, disks: &[Disk], pace: &Pace<'_>, catalog: &Catalog) -> Found {
    let mut progress = Progress::load(state_dir);
    if progress.pass_started.is_none() {
        progress.pass_started = Some(chrono::Utc::now().timestamp());
        progress.done.clear();
    }
    let mut found = Found::default();
    // Good copies per (disk, source), counting those checked in earlier calls of this pass too.
    let mut good: BTreeMap<(String, String), usize> = BTreeMap::new();
    for disk in disks {
        let entries = match inventory::scan(&disk.root) {
            Ok(e) => e,
            Err(e) => {
                log::warn!("scrub: {}: {e}", disk.root.display());
                continue;
            }
        };
        for entry in &entries {
            let count = good
                .entry((disk.label.clone(), entry.source.clone()))
                .or_default();
            let key = format!("{}|{}", disk.root.display(), entry.data_path.display());
            if progress.done.contains(&key) {
                // Checked earlier in this pass: good if it is still complete and not marked.
                if entry.good().is_some() {
                    *count += 1;
                }
                continue;
            }
            if !pace.wait(Duration::ZERO) {
                progress.save(state_dir);
                return found;
            }
            let started = Instant::now();
            let bytes = entry.manifest.as_ref().map(|m| m.bytes_stored).unwrap_or(0);
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
            let checked = verify::verify_one(&disk.root, entry, &at);
            if checked.verdict.was_checked() {
                if let Err(e) = catalog.record_verification(
                    &checked.target,
                    &checked.path,
                    checked.ok,
                    checked.problem.as_deref(),
                    &at,
                ) {
                    log::error!("scrub: {e}");
                }
            }
            found.checked += 1;
            if checked.ok {
                *count += 1;
            } else if checked.verdict.is_failure() {
                log::error!(
                    "scrub: {}: {}",
                    checked.path,
                    checked.problem.as_deref().unwrap_or("bad")
                );
                found.bad.push((disk.label.clone(), checked.path.clone()));
            }
            progress.done.insert(key);
            progress.save(state_dir);
            // The average rate: a copy of `bytes` takes at least bytes / rate.
            let least = Duration::from_secs_f64(bytes as f64 / pace.rate.max(1) as f64);
            if !pace.wait(least.saturating_sub(started.elapsed())) {
                return found;
            }
        }
    }
    found.low = good
        .into_iter()
        .filter(|(_, n)| *n < GOOD_FLOOR)
        .map(|((label, source), n)| (label, source, n))
        .collect();
    found.complete = true;
    progress.pass_started = None;
    progress.done.clear();
    progress.last_finished = Some(chrono::Utc::now().timestamp());
    progress.save(state_dir);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_restart_and_a_broken_file_starts_over() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut p = Progress {
            pass_started: Some(100),
            ..Progress::default()
        };
        p.done.insert("/d|/d/a".into());
        p.save(t.path());
        assert_eq!(Progress::load(t.path()), p);
        std::fs::write(t.path().join(FILE), b"{not json").expect("write");
        assert_eq!(Progress::load(t.path()), Progress::default());
    }

    #[test]
    fn a_pause_holds_the_scrub_and_a_stop_ends_it() {
        let (pause, stop) = (AtomicBool::new(true), AtomicBool::new(false));
        let pace = Pace {
            rate: 1,
            pause: &pause,
            stop: &stop,
        };
        std::thread::scope(|s| {
            let h = s.spawn(|| pace.wait(Duration::ZERO));
            std::thread::sleep(Duration::from_millis(300));
            assert!(!h.is_finished(), "waits while a backup runs");
            stop.store(true, Ordering::Relaxed);
            assert!(!h.join().expect("join"), "a stop ends the wait");
        });
    }
}
