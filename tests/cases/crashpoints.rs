//! The crash-point enumeration (issue 15): a backup run is killed (SIGKILL) at every crash point
//! of publish and prune in turn — after each write and fsync of the sidecar and the manifest,
//! each rename, each directory fsync, each unlink and the folder fsync of retention — and the
//! next start's run recovers. After each kill and after each recovery: every backup that was
//! complete before the kill is whole and passes `sha256sum -c` (unless retention legitimately
//! removed it, and then it is wholly gone), nothing under a final name is incomplete or orphaned,
//! the catalog and the disk agree, and the next run succeeds.
//!
//! The crash points are `publish::crash_point` (debug builds only, inert unless
//! `SIMDONDAR_CRASH_AT` or `SIMDONDAR_CRASH_TRACE` is set; docs/decisions.md, issue 15). A kill
//! keeps everything the process wrote (the page cache survives); the orders a power cut can lose
//! are the unit test `publish::tests::a_cut_that_loses_any_set_of_renames…` and the VM lab's.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use simdondar_backup::catalog::Catalog;

use crate::support::agent::{files_under, sha256sum_ok, show, Setup};

const SOURCE: &str = "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"date\", \"+%s%N\"]\nextension = \"txt\"\n";
/// keep_last 1 and the SOP's floor of 5: each run past the fifth removes the oldest backup.
const RETENTION: &str = "[retention]\nkeep_last = 1\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nkeep_yearly = 0\n";
const FLOOR: usize = 5;

/// One backup on the target, as its final-named manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Backup {
    /// The data file's absolute path (single part).
    data: PathBuf,
    started_at: String,
    sha256: String,
    parts: Vec<String>,
}

fn source_dir(target: &Path) -> PathBuf {
    target.join("SIMDONDAR-BACKUP/program")
}

/// Every backup on `target` (a backup exists exactly when its manifest has its final name).
fn backups(target: &Path) -> BTreeMap<PathBuf, Backup> {
    let mut out = BTreeMap::new();
    for f in files_under(&source_dir(target)) {
        let name = f.to_string_lossy().into_owned();
        let Some(data) = name.strip_suffix(".json") else {
            continue;
        };
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).expect("read"))
            .unwrap_or_else(|e| panic!("{name}: a final-named manifest that is not JSON: {e}"));
        let parts = m["parts"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no parts"))
            .iter()
            .map(|p| p.as_str().expect("part name").to_string())
            .collect();
        out.insert(
            PathBuf::from(data),
            Backup {
                data: PathBuf::from(data),
                started_at: m["started_at"].as_str().expect("started_at").to_string(),
                sha256: m["sha256"].as_str().expect("sha256").to_string(),
                parts,
            },
        );
    }
    out
}

/// The backup is whole: every part there, their bytes hash to the manifest's SHA-256, and
/// `sha256sum -c` passes on its sidecar.
fn assert_whole(b: &Backup, when: &str) {
    let dir = b.data.parent().expect("day folder");
    let mut h = Sha256::new();
    for p in &b.parts {
        let bytes = std::fs::read(dir.join(p))
            .unwrap_or_else(|e| panic!("{when}: {}: part {p} unreadable: {e}", b.data.display()));
        h.update(&bytes);
    }
    let hex: String = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(
        hex,
        b.sha256,
        "{when}: {} does not match its manifest",
        b.data.display()
    );
    sha256sum_ok(&b.data);
}

/// After a recovery: no `.partial`, and every file under the source's folder is the data, the
/// sidecar or the manifest of a backup.
fn assert_nothing_stray(target: &Path, when: &str) {
    let all = backups(target);
    for f in files_under(&source_dir(target)) {
        let name = f.to_string_lossy().into_owned();
        let owner = [".json", ".sha256"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(
            all.contains_key(Path::new(owner)),
            "{when}: {name} is not part of any backup (a leftover under a final name)"
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .expect("cp");
    assert!(out.status.success(), "cp -a: {}", show(&out));
}

fn backup_with(setup: &Setup, target: &Path, env: &[(&str, String)]) -> Output {
    let mut c = setup.cmd();
    c.arg("backup").arg("--target").arg(target);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run simdondar-backup")
}

/// The crash points a whole run passes, in order, from a traced run.
fn trace_of(setup: &Setup, target: &Path, trace: &Path) -> Vec<String> {
    let _ = std::fs::remove_file(trace);
    let out = backup_with(
        setup,
        target,
        &[("SIMDONDAR_CRASH_TRACE", trace.display().to_string())],
    );
    assert!(out.status.success(), "{}", show(&out));
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or("").to_string())
        .collect()
}

/// The catalog and the disk agree: every copy recorded as written and not recorded as pruned is
/// on the disk, whole; every pruned one is gone; every backup on the disk was recorded as written
/// or is the one the killed run published (whose run is recorded as interrupted, and its reason
/// does not claim nothing was kept).
fn assert_catalog_agrees(setup: &Setup, target: &Path, killed_run: i64, when: &str) {
    let cat = Catalog::open(&setup.state).expect("catalog");
    let on_disk = backups(target);
    let root = target.display().to_string();
    let pruned: Vec<PathBuf> = cat
        .pruned_paths(&root)
        .expect("pruned")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let runs = cat.recent_runs(1000).expect("runs");
    let mut recorded = Vec::new();
    for r in &runs {
        assert_ne!(
            r.status, "running",
            "{when}: run {} still shown running",
            r.id
        );
        for c in cat.copies_of(r.id).expect("copies") {
            if c.ok && c.target == root {
                recorded.push(target.join(c.path.expect("path")));
            }
        }
    }
    for p in &recorded {
        if pruned.contains(p) {
            assert!(
                !on_disk.contains_key(p),
                "{when}: {} recorded as pruned but still a backup on the disk",
                p.display()
            );
        } else {
            assert!(
                on_disk.contains_key(p),
                "{when}: the catalog lists {} as written and not pruned, but the disk has no such backup",
                p.display()
            );
        }
    }
    let killed = runs
        .iter()
        .find(|r| r.id == killed_run)
        .unwrap_or_else(|| panic!("{when}: the killed run {killed_run} is not in the catalog"));
    for (p, b) in &on_disk {
        if recorded.contains(p) {
            continue;
        }
        assert_eq!(
            b.started_at,
            killed.started_at,
            "{when}: {} is on the disk but the catalog never recorded it",
            p.display()
        );
        assert_eq!(killed.status, "failed", "{when}");
        let reason = killed.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("already verified and published is kept"),
            "{when}: the killed run published {} but the catalog does not say it is kept: {reason}",
            p.display()
        );
    }
}

#[test]
fn a_kill_at_every_crash_point_of_publish_and_prune_loses_nothing() {
    let setup = Setup::with_sources(SOURCE, RETENTION);
    let target = setup.target("t");
    for _ in 0..FLOOR {
        let out = setup.backup(&[&target]);
        assert!(out.status.success(), "{}", show(&out));
    }
    let snap = setup.dir.path().join("snapshot");
    std::fs::create_dir_all(&snap).expect("snapshot dir");
    copy_tree(&target, &snap.join("t"));
    copy_tree(&setup.state, &snap.join("state"));
    let before = backups(&target);
    assert_eq!(before.len(), FLOOR);
    let oldest = before
        .values()
        .min_by(|a, b| a.started_at.cmp(&b.started_at))
        .expect("oldest")
        .data
        .clone();

    // A clean run, traced: the crash points it passes.
    let trace = setup.dir.path().join("trace");
    let points = trace_of(&setup, &target, &trace);
    for needed in [
        "write_partial: written",
        "write_partial: fsynced",
        "publish: data renamed",
        "publish: sidecar renamed",
        "publish: manifest renamed",
        "publish: day folder fsynced",
        "publish: folders above fsynced",
        "prune: manifest renamed",
        "prune: file unlinked",
        "prune: day folder fsynced",
    ] {
        assert!(
            points.iter().any(|p| p == needed),
            "the traced run never passed '{needed}' (crash points exist only in debug builds: run cargo test without --release): {points:?}"
        );
    }
    assert!(
        !backups(&target).contains_key(&oldest),
        "the clean run pruned the oldest"
    );
    eprintln!("{} crash points: {points:?}", points.len());

    for (k, point) in points.iter().enumerate().map(|(i, p)| (i + 1, p)) {
        let when = format!("crash point {k} of {} ({point})", points.len());
        copy_tree(&snap.join("t"), &target);
        copy_tree(&snap.join("state"), &setup.state);
        let killed = backup_with(&setup, &target, &[("SIMDONDAR_CRASH_AT", k.to_string())]);
        assert_eq!(
            killed.status.signal(),
            Some(libc::SIGKILL),
            "{when}: the run was not killed there: {}",
            show(&killed)
        );
        let killed_run = Catalog::open(&setup.state)
            .expect("catalog")
            .recent_runs(1)
            .expect("runs")[0]
            .id;

        // Right after the kill: every final-named manifest describes a whole backup, and every
        // earlier backup but the one retention may remove is still whole.
        let after_kill = backups(&target);
        for b in after_kill.values() {
            assert_whole(b, &format!("{when}, after the kill"));
        }
        for (p, b) in &before {
            if p != &oldest {
                assert_eq!(
                    after_kill.get(p),
                    Some(b),
                    "{when}: an earlier backup was lost"
                );
            }
        }
        let published: Vec<Backup> = after_kill
            .values()
            .filter(|b| !before.contains_key(&b.data))
            .cloned()
            .collect();

        // The next start: a run that must succeed and clean up.
        let next = setup.backup(&[&target]);
        assert!(
            next.status.success(),
            "{when}: the next run failed: {}",
            show(&next)
        );
        let after = backups(&target);
        let when = format!("{when}, after the next run");
        assert_nothing_stray(&target, &when);
        for b in after.values() {
            assert_whole(b, &when);
        }
        // Exactly the newest five of what was there, what the killed run published, and what
        // the next run wrote.
        let newest = after
            .values()
            .filter(|b| !before.contains_key(&b.data) && !published.contains(b))
            .count();
        assert_eq!(
            newest, 1,
            "{when}: the next run's backup is not on the disk"
        );
        let mut candidates: Vec<Backup> = before.values().cloned().collect();
        candidates.extend(published.iter().cloned());
        candidates.extend(
            after
                .values()
                .filter(|b| !before.contains_key(&b.data) && !published.contains(b))
                .cloned(),
        );
        candidates.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        let expected: Vec<&PathBuf> = candidates.iter().take(FLOOR).map(|b| &b.data).collect();
        let mut got: Vec<&PathBuf> = after.keys().collect();
        let mut expected_sorted = expected.clone();
        got.sort();
        expected_sorted.sort();
        assert_eq!(
            got, expected_sorted,
            "{when}: not the newest {FLOOR} backups"
        );
        assert_catalog_agrees(&setup, &target, killed_run, &when);
    }
}
