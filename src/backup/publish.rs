/*!
Publishing a verified copy so that a power cut at any instant leaves either the whole backup
(data, `.sha256`, manifest) or no final-named file of it, and the sweep that undoes what a cut
in the middle left behind.

The writer first writes the sidecar and the manifest under `.partial` names (each fsynced), then
renames the data part(s), the sidecar and, last, the manifest, then fsyncs the day folder and
every folder above it up to the target root. Until the manifest carries its final name the
backup does not exist for anyone (inventory, retention and `verify` go by manifests).

A cut can lose any of the renames that were not yet flushed (FAT and exFAT promise no order), so
the sweep judges each backup in a day folder by what is there:
- a manifest with all its data final-named: a backup (whether it is complete is the inventory's
  business);
- anything final-named next to a `.partial` of the same backup: a publish that did not finish,
  or a retention removal that did not (it renames the manifest to `.partial` first,
  retention.rs), undone (manifest first, then sidecar, then data) and logged;
- final-named data with no manifest and no `.partial` at all: not from a cut publish (its
  manifest was deleted behind the appliance's back, or an old version's). It is never counted and
  is left in place, logged: deleting a possibly good dump on a guess could lose the only copy.
*/

use std::collections::BTreeMap;
use std::io;

use super::inventory::UNREADABLE_SUFFIX;
use super::layout::{self, CORRUPT_SUFFIX, PARTIAL_SUFFIX};
use crate::safe_fs::Dir;

/// One step of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Rename {
        from: String,
        to: String,
    },
    /// fsync of the day folder.
    SyncDir,
    /// fsync of every folder from the day folder's parent up to the target root.
    SyncAncestors,
}

/// The steps that publish a copy whose data `partials` become `finals`, with the sidecar and
/// manifest already written as `<name>.partial`.
pub fn plan(partials: &[String], finals: &[String], sidecar: &str, manifest: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = partials
        .iter()
        .zip(finals)
        .map(|(p, f)| Step::Rename {
            from: p.clone(),
            to: f.clone(),
        })
        .collect();
    for name in [sidecar, manifest] {
        steps.push(Step::Rename {
            from: format!("{name}{PARTIAL_SUFFIX}"),
            to: name.to_string(),
        });
    }
    steps.push(Step::SyncDir);
    steps.push(Step::SyncAncestors);
    steps
}

/// Runs `steps` in order; on failure says which step (its index) failed.
pub fn run(
    dir: &Dir,
    steps: &[Step],
    sync_ancestors: &dyn Fn() -> io::Result<()>,
) -> Result<(), (usize, io::Error)> {
    for (i, step) in steps.iter().enumerate() {
        let r = match step {
            Step::Rename { from, to } => dir.rename(from, to).and_then(|_| sync_renamed(dir, to)),
            Step::SyncDir => dir.sync(),
            Step::SyncAncestors => sync_ancestors(),
        };
        r.map_err(|e| (i, e))?;
        crash_point(match step {
            Step::Rename { to, .. } if to.ends_with(".json") => "publish: manifest renamed",
            Step::Rename { to, .. } if to.ends_with(".sha256") => "publish: sidecar renamed",
            Step::Rename { .. } => "publish: data renamed",
            Step::SyncDir => "publish: day folder fsynced",
            Step::SyncAncestors => "publish: folders above fsynced",
        });
    }
    Ok(())
}

/// fsyncs a file just renamed. On FAT (Linux `vfat`) a rename writes the new directory entry with
/// size 0 and no first cluster; the real ones are written only when the file's inode is written
/// back, which neither the earlier fsync of the file (under its old name) nor an fsync of the
/// folder does. The VM lab found it (docs/reliability.md): a power cut seconds after a publish
/// left the data, the sidecar and the manifest final-named and empty. fsyncing the file under its
/// new name writes its entry before the next rename.
fn sync_renamed(dir: &Dir, name: &str) -> io::Result<()> {
    dir.open_read(name)?.sync_all()
}

/// A numbered crash point, for the crash-point enumeration (`tests/cases/crashpoints.rs`;
/// docs/decisions.md, issue 15). Only in debug builds (the `.deb` is a release build, where this
/// is an empty function), and inert unless `SIMDONDAR_CRASH_TRACE` (append one line per point
/// reached to that file) or `SIMDONDAR_CRASH_AT=N` (SIGKILL this process at the N-th point
/// reached, counting from 1) is set. Never changes what the caller does otherwise.
pub fn crash_point(what: &str) {
    #[cfg(debug_assertions)]
    crash_points::reached(what);
    #[cfg(not(debug_assertions))]
    let _ = what;
}

#[cfg(debug_assertions)]
mod crash_points {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static REACHED: AtomicU64 = AtomicU64::new(0);

    struct Plan {
        trace: Option<std::path::PathBuf>,
        kill_at: Option<u64>,
    }

    fn plan() -> &'static Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        PLAN.get_or_init(|| Plan {
            trace: std::env::var_os("SIMDONDAR_CRASH_TRACE").map(Into::into),
            kill_at: std::env::var("SIMDONDAR_CRASH_AT")
                .ok()
                .and_then(|v| v.parse().ok()),
        })
    }

    pub fn reached(what: &str) {
        let plan = plan();
        if plan.trace.is_none() && plan.kill_at.is_none() {
            return;
        }
        let n = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(path) = &plan.trace {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{n}\t{what}");
            }
        }
        if plan.kill_at == Some(n) {
            // As a power cut or the OOM killer would: no unwinding, no destructors, no flush.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Removes what a publish gave a final name, the manifest first, so that what is left at any
/// instant never looks like a backup.
pub fn unpublish(dir: &Dir, finals: &[String], sidecar: &str, manifest: &str) {
    let _ = dir.remove_file(manifest);
    let _ = dir.remove_file(sidecar);
    for f in finals {
        let _ = dir.remove_file(f);
    }
    let _ = dir.sync();
}

#[derive(Default)]
struct Files {
    manifest: bool,
    /// Final-named data parts and sidecar.
    finals: Vec<String>,
    /// Any `.partial` of the backup (data, sidecar or manifest).
    partial: bool,
}

/// Undoes the half-finished publishes of `source` in one day folder (see the module header).
/// Returns how many backups were undone.
pub fn sweep(dir: &Dir, source: &str) -> usize {
    let Ok(entries) = dir.entries() else {
        return 0;
    };
    let prefix = format!("{source}_");
    let mut by_backup: BTreeMap<String, Files> = BTreeMap::new();
    for (name, is_dir) in entries {
        // `.corrupt` copies and `verify`'s `.unreadable` marks are evidence, not publishes.
        if is_dir
            || !name.starts_with(&prefix)
            || name.ends_with(CORRUPT_SUFFIX)
            || name.ends_with(UNREADABLE_SUFFIX)
        {
            continue;
        }
        if let Some(unfinished) = name.strip_suffix(PARTIAL_SUFFIX) {
            by_backup
                .entry(layout::data_name_of(unfinished).to_string())
                .or_default()
                .partial = true;
            continue;
        }
        let data = layout::data_name_of(&name).to_string();
        let files = by_backup.entry(data.clone()).or_default();
        if name == format!("{data}.json") {
            files.manifest = true;
        } else {
            files.finals.push(name);
        }
    }
    let mut undone = 0;
    for (data, files) in by_backup {
        let manifest = format!("{data}.json");
        let sidecar = format!("{data}.sha256");
        if files.partial && (files.manifest || !files.finals.is_empty()) {
            log::warn!(
                "{data}: a publish or a retention removal interrupted by a power cut or a crash was undone (its files are removed; the next run writes a new backup)"
            );
            let data_finals: Vec<String> =
                files.finals.into_iter().filter(|f| f != &sidecar).collect();
            unpublish(dir, &data_finals, &sidecar, &manifest);
            undone += 1;
        } else if !files.manifest && !files.finals.is_empty() {
            log::warn!(
                "{data}: data without a manifest (deleted behind the appliance's back?): not a backup, never counted; left in place"
            );
        }
    }
    undone
}

/// The final-named files in a folder, sorted (tests of publish and retention).
#[cfg(test)]
pub(crate) fn finals_in(dir: &Dir) -> Vec<String> {
    let mut v: Vec<String> = dir
        .entries()
        .expect("ls")
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !n.ends_with(PARTIAL_SUFFIX))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "pmi_20261202-100000.sql.zst";

    fn prepared(parts: usize) -> (tempfile::TempDir, Dir, Vec<Step>) {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = Dir::open(t.path()).expect("dir");
        let finals: Vec<String> = if parts == 1 {
            vec![DATA.to_string()]
        } else {
            (0..parts).map(|n| layout::part_name(DATA, n)).collect()
        };
        let partials: Vec<String> = finals
            .iter()
            .map(|f| format!("{f}{PARTIAL_SUFFIX}"))
            .collect();
        let sidecar = format!("{DATA}.sha256");
        let manifest = format!("{DATA}.json");
        for name in partials.iter().cloned().chain([
            format!("{sidecar}{PARTIAL_SUFFIX}"),
            format!("{manifest}{PARTIAL_SUFFIX}"),
        ]) {
            std::fs::write(t.path().join(&name), b"x").expect("write");
        }
        let steps = plan(&partials, &finals, &sidecar, &manifest);
        (t, dir, steps)
    }

    /// After a cut and the next run's clean-up (sweep, then the `.partial` files removed), the
    /// folder holds the whole backup or nothing with a final name.
    fn whole_or_nothing(dir: &Dir, parts: usize, what: &str) -> bool {
        sweep(dir, "pmi");
        for (n, _) in dir.entries().expect("ls") {
            if n.ends_with(PARTIAL_SUFFIX) {
                dir.remove_file(&n).expect("rm");
            }
        }
        let left = finals_in(dir);
        let whole = left.len() == parts + 2;
        assert!(left.is_empty() || whole, "{what}: left {left:?}");
        whole
    }

    #[test]
    fn a_crash_after_any_step_leaves_the_whole_backup_or_none_of_it() {
        for parts in [1, 3] {
            let n = prepared(parts).2.len();
            for k in 0..=n {
                let (_t, dir, steps) = prepared(parts);
                run(&dir, &steps[..k], &|| Ok(())).expect("steps");
                let whole = whole_or_nothing(&dir, parts, &format!("{parts} part(s), {k} steps"));
                // Whole exactly once the manifest has its final name.
                assert_eq!(whole, k >= n - 2, "{parts} part(s), crash after {k} steps");
            }
        }
    }

    #[test]
    fn a_cut_that_loses_any_set_of_renames_leaves_the_whole_backup_or_none_of_it() {
        // FAT promises no order: after the cut any subset of the renames may be on the disk.
        for parts in [1, 2] {
            let renames = prepared(parts).2.len() - 2;
            for mask in 0u32..(1 << renames) {
                let (_t, dir, steps) = prepared(parts);
                let kept: Vec<Step> = steps[..renames]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, s)| s.clone())
                    .collect();
                run(&dir, &kept, &|| Ok(())).expect("steps");
                let whole = whole_or_nothing(&dir, parts, &format!("mask {mask:b}"));
                assert_eq!(whole, mask == (1 << renames) - 1, "mask {mask:b}");
            }
        }
    }

    #[test]
    fn data_without_any_manifest_is_left_alone_and_corrupt_copies_are_not_touched() {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = Dir::open(t.path()).expect("dir");
        for name in [
            DATA.to_string(),
            format!("{DATA}.sha256"),
            format!("pmi_20261201-100000.sql.zst{CORRUPT_SUFFIX}"),
            format!("{DATA}{UNREADABLE_SUFFIX}"),
            "notes.txt".to_string(),
        ] {
            std::fs::write(t.path().join(&name), b"x").expect("write");
        }
        assert_eq!(sweep(&dir, "pmi"), 0);
        assert_eq!(finals_in(&dir).len(), 5);
    }
}
