/*!
Applying retention to a target: read its backups, ask the pure policy ([`crate::backup::prune`])
which to keep, and remove the others — the manifest renamed `.partial` first (so a half-removed
backup has stopped being a backup), then the sidecar and the data, then the `.partial`, each stage
fsynced before the next ([`removal_plan`]).

Only complete copies count ([`inventory::Completeness`]): a backup whose data file was deleted or
truncated behind the appliance's back, that a verification could not read, or whose manifest
cannot be used (newer format, garbage) is listed with the decision `not-counted`, never removed
here, and never counted by the rules or the floor — so retention keeps an older good backup
instead. A copy that failed verification was renamed `.corrupt` and is not seen here at all.
*/

use std::path::Path;

use chrono::DateTime;
use serde::Serialize;

use crate::backup::inventory::{self, Completeness};
use crate::backup::layout::PARTIAL_SUFFIX;
use crate::backup::prune::{self, Reason};
use crate::backup::publish::crash_point;
use crate::config::RetentionConfig;
use crate::safe_fs::Dir;

/// One backup and the policy's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub target: String,
    pub source: String,
    /// The data file (absolute path).
    pub path: String,
    pub started_at: String,
    pub bytes_stored: u64,
    /// `keep-last`, …, `min-keep`, `not-counted` or `remove`.
    pub decision: Reason,
    /// Whether the copy is all there (only complete copies count).
    pub completeness: Completeness,
    /// What is wrong with an incomplete copy, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Set after applying: whether the files are gone, or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Result<(), String>>,
    #[serde(skip)]
    dir_components: Vec<String>,
    #[serde(skip)]
    files: Vec<String>,
}

/// Decides keep/remove for every backup on `root` (of one source, or all), per source.
pub fn plan(
    root: &Path,
    source: Option<&str>,
    policy: &RetentionConfig,
    tz: chrono_tz::Tz,
) -> Result<Vec<Item>, String> {
    let entries = inventory::scan(root)?;
    // Per source: the items and, for each, its start time when it counts.
    type Group = Vec<(Item, Option<DateTime<chrono_tz::Tz>>)>;
    let mut by_source: std::collections::BTreeMap<String, Group> = Default::default();
    for e in entries {
        if source.is_some_and(|s| s != e.source) {
            continue;
        }
        let (started, bytes_stored, files) = match &e.manifest {
            Ok(m) => {
                let mut files = vec![
                    format!("{}.json", e.data_name),
                    format!("{}.sha256", e.data_name),
                ];
                files.extend(m.parts.iter().cloned());
                (
                    DateTime::parse_from_rfc3339(&m.started_at)
                        .ok()
                        .map(|t| t.with_timezone(&tz)),
                    m.bytes_stored,
                    files,
                )
            }
            Err(_) => (None, 0, Vec::new()),
        };
        let mut completeness = e.completeness.clone();
        if completeness.is_complete() && started.is_none() {
            completeness = Completeness::ManifestInvalid {
                error: "its started_at is not an RFC 3339 time".into(),
            };
        }
        let counts = completeness.is_complete();
        by_source.entry(e.source.clone()).or_default().push((
            Item {
                target: root.display().to_string(),
                source: e.source.clone(),
                path: e.data_path.display().to_string(),
                started_at: started.map(|t| t.to_rfc3339()).unwrap_or_default(),
                bytes_stored,
                decision: Reason::NotCounted,
                problem: (!counts).then(|| completeness.to_string()),
                completeness,
                removed: None,
                dir_components: e.dir_components.clone(),
                files,
            },
            started.filter(|_| counts),
        ));
    }
    let mut out = Vec::new();
    for (_, group) in by_source {
        let times: Vec<_> = group.iter().map(|(_, t)| *t).collect();
        for ((mut item, _), reason) in group.into_iter().zip(prune::plan_counted(&times, policy)) {
            item.decision = reason;
            out.push(item);
        }
    }
    Ok(out)
}

/// Removes the items the plan marks `remove`; records the outcome in each item. `before` is
/// called for each item just before its removal starts (the caller records it in the catalog
/// then, so that a kill in the middle never leaves the catalog listing a backup that is gone).
///
/// The manifest is first renamed to `NAME.json.partial` and the folder fsynced: from then on the
/// backup does not exist for anyone, and a kill or a power cut before the last unlink leaves
/// final-named files next to a `.partial`, which the next run's sweep removes (publish.rs). Then
/// the sidecar, the data and the renamed manifest are unlinked and the folder fsynced again.
/// (Unlinking the manifest first, as before, left the data and the sidecar under final names
/// for good when the agent was killed between the unlinks: issue 15's crash-point enumeration.)
pub fn apply(root: &Path, items: &mut [Item], before: &mut dyn FnMut(&Item)) {
    let top = match Dir::open(root) {
        Ok(d) => d,
        Err(e) => {
            for i in items.iter_mut().filter(|i| !i.decision.keep()) {
                i.removed = Some(Err(format!("{}: {e}", root.display())));
            }
            return;
        }
    };
    for item in items
        .iter_mut()
        .filter(|i| !i.decision.keep() && i.completeness.is_complete())
    {
        before(item);
        let res = top
            .open_dirs(item.dir_components.iter().map(String::as_str))
            .and_then(|dir| remove_backup(&dir, &item.files))
            .map_err(|e| format!("cannot remove {}: {e}", item.path));
        item.removed = Some(res);
    }
}

/// One step of removing a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    Rename {
        from: String,
        to: String,
    },
    Unlink(String),
    /// fsync of the day folder: every step before it is on the disk.
    SyncDir,
}

/// The steps that remove one backup's `files` (the manifest first in the list), as [`apply`]
/// says. FAT and exFAT write directory entries back in no particular order, so each stage is
/// fsynced before the next: the data and the sidecar are gone on the disk before the
/// `.partial` that tells the sweep they were being removed is unlinked. (Lab, seed 20261206 cut
/// 74, a power cut on a FAT32 disk: the `.partial`'s unlink reached the disk and the data's and
/// sidecar's did not, leaving them final-named with nothing to say why, for good.)
fn removal_plan(files: &[String]) -> Vec<Removal> {
    let Some((manifest, rest)) = files.split_first() else {
        return Vec::new();
    };
    let retired = format!("{manifest}{PARTIAL_SUFFIX}");
    let mut steps = vec![
        Removal::Rename {
            from: manifest.clone(),
            to: retired.clone(),
        },
        Removal::SyncDir,
    ];
    steps.extend(rest.iter().cloned().map(Removal::Unlink));
    steps.extend([Removal::SyncDir, Removal::Unlink(retired), Removal::SyncDir]);
    steps
}

/// Removes one backup's `files` (the manifest first in the list) from `dir`, as [`apply`] says.
fn remove_backup(dir: &Dir, files: &[String]) -> std::io::Result<()> {
    for step in removal_plan(files) {
        match step {
            Removal::Rename { from, to } => match dir.rename(&from, &to) {
                Ok(()) => crash_point("prune: manifest renamed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            Removal::Unlink(f) => match dir.remove_file(&f) {
                Ok(()) => crash_point("prune: file unlinked"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            Removal::SyncDir => {
                dir.sync()?;
                crash_point("prune: day folder fsynced");
            }
        }
    }
    Ok(())
}

/// Bytes the plan would free.
pub fn reclaimable(items: &[Item]) -> u64 {
    items
        .iter()
        .filter(|i| !i.decision.keep())
        .map(|i| i.bytes_stored)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::publish::{finals_in, sweep};

    const DATA: &str = "pmi_20261202-100000.sql.zst";

    fn files() -> Vec<String> {
        vec![
            format!("{DATA}.json"),
            format!("{DATA}.sha256"),
            DATA.to_string(),
        ]
    }

    /// The folder as a set of names after `steps` (renames and unlinks) are applied to it.
    fn apply_names(names: &mut std::collections::BTreeSet<String>, steps: &[&Removal]) {
        for s in steps {
            match s {
                Removal::Rename { from, to } => {
                    if names.remove(from) {
                        names.insert(to.clone());
                    }
                }
                Removal::Unlink(f) => {
                    names.remove(f);
                }
                Removal::SyncDir => {}
            }
        }
    }

    #[test]
    fn a_cut_at_any_point_of_a_removal_losing_any_unsynced_steps_leaves_the_backup_or_nothing() {
        // A power cut on FAT: every step before the last fsync of the folder is on the disk; of
        // the steps after it, any subset (FAT promises no order). Whatever is left, the next
        // run's sweep must leave either the whole backup or none of it final-named.
        let plan = removal_plan(&files());
        for cut in 0..=plan.len() {
            let synced = plan[..cut]
                .iter()
                .rposition(|s| *s == Removal::SyncDir)
                .map_or(0, |i| i + 1);
            let unsynced: Vec<&Removal> = plan[synced..cut]
                .iter()
                .filter(|s| **s != Removal::SyncDir)
                .collect();
            for mask in 0u32..(1 << unsynced.len()) {
                let mut names: std::collections::BTreeSet<String> = files().into_iter().collect();
                apply_names(&mut names, &plan[..synced].iter().collect::<Vec<_>>());
                let kept: Vec<&Removal> = unsynced
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, s)| *s)
                    .collect();
                apply_names(&mut names, &kept);

                let t = tempfile::tempdir().expect("tempdir");
                for n in &names {
                    std::fs::write(t.path().join(n), b"x").expect("write");
                }
                let dir = Dir::open(t.path()).expect("dir");
                sweep(&dir, "pmi");
                let left = finals_in(&dir);
                let mut whole = files();
                whole.sort();
                assert!(
                    left.is_empty() || left == whole,
                    "cut after {cut} steps, unsynced steps kept {mask:b}: {names:?} swept to {left:?}"
                );
            }
        }
    }

    #[test]
    fn a_removal_removes_every_file() {
        let t = tempfile::tempdir().expect("tempdir");
        for n in files() {
            std::fs::write(t.path().join(n), b"x").expect("write");
        }
        let dir = Dir::open(t.path()).expect("dir");
        remove_backup(&dir, &files()).expect("remove");
        assert!(dir.entries().expect("ls").is_empty());
    }
}
