//! A disk the kernel sets read-only in the middle of a run (issue 15): ext4 mounted with
//! `errors=remount-ro`, an error raised while the copy is being written (`trigger_fs_error`, what
//! ext4 does when it finds its metadata inconsistent, as the lab's FAT disk did after a power
//! cut). That copy fails, nothing on that disk is pruned on the strength of the run, every
//! earlier backup on it stays whole, and the other target's copy is verified and kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use simdondar_backup::catalog::Catalog;
use simdondar_backup::kinds::CopyFailure;

use crate::support::agent::{final_named, partial_bytes, sha256sum_ok, show, Setup};
use crate::support::loopfs::LoopFs;

/// keep_last 1 and the SOP's floor of 5: each run past the fifth removes the oldest backup.
const RETENTION: &str = "[retention]\nkeep_last = 1\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nkeep_yearly = 0\nmin_keep = 5\n";

/// A `command` source writing as many MiB of random bytes as `size_file` says, slowly.
fn sized_source(size_file: &Path) -> String {
    format!(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"for i in $(seq 1 $(cat {})); do head -c 1048576 /dev/urandom; sleep 0.1; done\"]\nextension = \"bin\"\n",
        size_file.display()
    )
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = final_named(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".bin.zst"))
        .collect();
    v.sort();
    v
}

/// Whether the file system refuses writes as read-only. Not /proc/mounts: since Linux 6.15 ext4's
/// error handling sets its own "emergency read-only" state and the mount still shows `rw`.
fn refuses_writes(point: &Path) -> bool {
    let probe = point.join(".probe");
    match std::fs::write(&probe, b"x") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(e) => e.raw_os_error() == Some(libc::EROFS),
    }
}

#[test]
fn a_disk_the_kernel_sets_read_only_mid_run_fails_its_copy_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = dir.path().join("mib");
    std::fs::write(&size, "1").expect("size");
    let setup = Setup::with_sources(&sized_source(&size), RETENTION);
    let healthy = setup.target("healthy");
    let disk = LoopFs::ext4(128);
    let st = Command::new("mount")
        .args(["-o", "remount,errors=remount-ro"])
        .arg(disk.path())
        .status()
        .expect("mount");
    assert!(st.success(), "remount with errors=remount-ro failed");

    // Five whole backups on both: the floor.
    for _ in 0..5 {
        let out = setup.backup(&[&healthy, disk.path()]);
        assert!(out.status.success(), "{}", show(&out));
    }
    let before = data_files(disk.path());
    assert_eq!(before.len(), 5, "{before:?}");

    // A longer run; once its copy is being written, the kernel finds an error on the disk.
    std::fs::write(&size, "24").expect("size");
    let child = setup.spawn_backup(&[&healthy, disk.path()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while partial_bytes(disk.path()) < 2 << 20 {
        assert!(
            Instant::now() < deadline,
            "the copy on the disk never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dev = Path::new(&disk.device)
        .file_name()
        .expect("device name")
        .to_string_lossy()
        .to_string();
    std::fs::write(format!("/sys/fs/ext4/{dev}/trigger_fs_error"), "lab\n")
        .expect("trigger_fs_error (ext4 sysfs)");
    // With a journal, ext4 aborts it and turns read-only from a work queue: a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !refuses_writes(disk.path()) {
        assert!(
            Instant::now() < deadline,
            "the kernel did not set the disk read-only"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("backup");

    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 copies written"), "{}", show(&out));
    let catalog = Catalog::open(&setup.state).expect("catalog");
    let run = &catalog.recent_runs(1).expect("runs")[0];
    let copies = catalog.copies_of(run.id).expect("copies");
    let on_disk = copies
        .iter()
        .find(|c| c.target == disk.path().display().to_string())
        .expect("the disk's copy is recorded");
    assert!(!on_disk.ok, "{on_disk:?}");
    assert_eq!(
        on_disk.failure.as_deref(),
        Some(CopyFailure::ReadOnly.as_str()),
        "{on_disk:?}"
    );
    let reason = on_disk.reason.as_deref().unwrap_or("");
    assert!(reason.contains("read-only"), "{reason}");
    let kept = copies
        .iter()
        .find(|c| c.target == healthy.display().to_string())
        .expect("the healthy copy is recorded");
    assert!(kept.ok, "{kept:?}");

    // Nothing was pruned on the read-only disk (not even recorded as about to be), nothing new
    // carries a final name there, and the five earlier backups are whole.
    let pruned = catalog
        .pruned_paths(&disk.path().display().to_string())
        .expect("pruned");
    assert_eq!(pruned, Vec::<String>::new(), "pruned on the read-only disk");
    assert_eq!(data_files(disk.path()), before, "{}", show(&out));
    for d in &before {
        sha256sum_ok(d);
    }
    let leftovers: Vec<PathBuf> = final_named(disk.path())
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            !before
                .iter()
                .any(|b| name.starts_with(&*b.to_string_lossy().replace(".bin.zst", "")))
        })
        .filter(|p| p.to_string_lossy().contains("/SIMDONDAR-BACKUP/files/2"))
        .collect();
    assert_eq!(
        leftovers,
        Vec::<PathBuf>::new(),
        "final-named files of the failed copy"
    );
    // The healthy target got the new copy and, past the floor, let its oldest go.
    let healthy_data = data_files(&healthy);
    assert_eq!(healthy_data.len(), 5, "{healthy_data:?}");
    sha256sum_ok(healthy_data.last().expect("newest"));
}
