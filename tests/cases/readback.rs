//! Verification reads the device itself (issue 11, DESIGN.md §4.10). A copy is written through
//! a real mount of a loop device (ext4 in the kernel; exFAT, NTFS and FAT through their FUSE
//! drivers, mounted by the agent's own `mount()`), flushed, and then its bytes are changed on the
//! device underneath while every cache still holds the good ones. The writer's read-back must
//! catch it (a content mismatch, nothing published).
//!
//! Each test first proves that the corruption is masked by a cache: a read the way the writer
//! used to do it (the file's pages dropped over exactly the written length) still returns the
//! good byte. So without the fix (whole cache units dropped; the block device's buffer cache
//! emptied under FUSE) these tests fail: the copy is published as verified.

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use simdondar_backup::backup::layout::BackupName;
use simdondar_backup::backup::manifest::{Manifest, FORMAT};
use simdondar_backup::backup::writer::{self, CopyOutcome, Hooks, Msg, ReadBackStep, Target};
use simdondar_backup::config::Role;
use simdondar_backup::disks::mount::{self, Driver};
use simdondar_backup::kinds::CopyFailure;

use crate::support::loopfs::LoopDisk;

/// A loop disk with a file system, mounted read-write by the agent's `mount()`.
struct Mounted {
    disk: LoopDisk,
    _dir: tempfile::TempDir,
    point: PathBuf,
    driver: Driver,
}

impl Mounted {
    fn new(fs: &str, mib: u64) -> Mounted {
        let disk = LoopDisk::create(fs, "READBACK", mib);
        let dir = tempfile::tempdir().expect("tempdir");
        let point = dir.path().join("disks").join("mnt");
        // ext4 in the kernel; the others through their FUSE helper even on a kernel that has
        // them, so that the FUSE drivers are what is tested.
        let dev = Path::new(&disk.device);
        let driver = if fs == "ext4" {
            mount::mount(dev, fs, &point, false)
        } else {
            mount::fuse_mount(dev, fs, &point, false)
        }
        .unwrap_or_else(|e| panic!("mounting {fs} on {}: {e}", disk.device));
        Mounted {
            disk,
            _dir: dir,
            point,
            driver,
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = mount::unmount(&self.point);
    }
}

/// Bytes no file system holds anywhere else (seeded by the time and the process).
fn unique_bytes(len: usize) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64;
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn manifest_for(data: &[u8]) -> Manifest {
    Manifest {
        format: FORMAT,
        source: "pmi".into(),
        kind: "command".into(),
        started_at: "2026-11-26T10:00:00+07:00".into(),
        finished_at: "2026-11-26T10:00:01+07:00".into(),
        databases: vec![],
        server_version: None,
        compression: "none".into(),
        compression_level: None,
        encrypted: false,
        recipients: vec![],
        bytes_raw: data.len() as u64,
        bytes_stored: data.len() as u64,
        sha256: hex(&Sha256::digest(data)),
        parts: vec![],
        tables: Default::default(),
        tool_version: "test".into(),
        dump_tool: None,
        consistency: None,
        trigger: None,
        role: None,
        fs_driver: None,
        clock_synchronized: None,
        host: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn name_at(hour: u32) -> BackupName {
    use chrono::TimeZone;
    let started = chrono_tz::Asia::Jakarta
        .with_ymd_and_hms(2026, 11, 26, hour, 0, 0)
        .single()
        .expect("time");
    BackupName::new("pmi", &started, "sql")
}

/// The writer gets the stream in chunks of this (odd) size.
const CHUNK: usize = (64 << 10) + 3;

/// Runs the real writer on `root` with `data` (in chunks of an odd size) and the hook.
fn write_copy(root: &Path, name: &BackupName, data: &[u8], hooks: Hooks) -> CopyOutcome {
    let w = writer::spawn_with(
        Target::dir(root.to_path_buf(), Role::Auto),
        name,
        false,
        Duration::from_secs(120),
        hooks,
    )
    .unwrap_or_else(|o| panic!("spawn: {:?}", o.result));
    let lane = w.lane().expect("lane");
    for c in data.chunks(CHUNK) {
        assert!(lane.send(Msg::Data(Arc::from(c))), "the writer ended early");
    }
    assert!(lane.send(Msg::Commit {
        manifest: Box::new(manifest_for(data)),
        xxh3: writer::content_hash(data),
    }));
    drop(lane);
    w.finish()
}

/// Where the 512-byte sector holding file offset `at` lies on the device: searched for in the
/// image (sectors are where every file system here puts its clusters).
fn device_offset(image: &Path, data: &[u8], at: usize) -> u64 {
    let sector = at - at % 512;
    let want = &data[sector..sector + 512];
    let img = std::fs::read(image).expect("read the image");
    let hits: Vec<usize> = (0..img.len() / 512)
        .map(|i| i * 512)
        .filter(|&o| &img[o..o + 512] == want)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "the copy's sector at {sector} must be on the device exactly once (after the flush): {hits:?}"
    );
    (hits[0] + (at - sector)) as u64
}

/// Reads one byte of a file the way the writer's read-back used to: a fresh descriptor, the
/// file's cached pages dropped over exactly the range it was about to read.
fn read_as_before(path: &Path, from: u64, to: u64, at: u64) -> u8 {
    let f = std::fs::File::open(path).expect("open the copy");
    // SAFETY: advice on our own descriptor.
    let rc = unsafe {
        libc::posix_fadvise(
            f.as_raw_fd(),
            from as i64,
            (to - from) as i64,
            libc::POSIX_FADV_DONTNEED,
        )
    };
    assert_eq!(rc, 0, "fadvise");
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).expect("read the copy");
    b[0]
}

/// What one test writes and where it corrupts it.
struct Case {
    fs: &'static str,
    driver: Driver,
    image_mib: u64,
    /// The copy's length (never a whole number of pages).
    len: usize,
    /// The byte flipped on the device before the last read-back.
    at: usize,
    /// Where the last read-back began before the fix (its cache drop began there).
    old_from: usize,
}

/// Writes a good copy (it must verify), then one whose byte `at` is flipped on the device just
/// before the last read-back, the caches still holding the good byte (it must not verify).
fn corruption_under_the_caches_is_caught(case: Case) {
    let Case {
        fs,
        driver,
        image_mib,
        len,
        at,
        old_from,
    } = case;
    let m = Mounted::new(fs, image_mib);
    assert_eq!(m.driver, driver, "{fs} is mounted by the expected driver");
    let data = unique_bytes(len);

    let good = write_copy(&m.point, &name_at(10), &data, Hooks::default());
    assert_eq!(
        good.result,
        Ok(len as u64),
        "{fs}: an untouched copy verifies"
    );
    // Its manifest says how the file system was driven.
    let good_name = name_at(10);
    let manifest = std::fs::read(
        m.point
            .join("SIMDONDAR-BACKUP/pmi/2026/11/26")
            .join(good_name.manifest_file()),
    )
    .expect("the good copy's manifest");
    let manifest = Manifest::from_json(&manifest).expect("manifest");
    let want = match driver {
        Driver::Kernel => "kernel",
        Driver::Fuse => "fuse",
    };
    assert_eq!(manifest.fs_driver.as_deref(), Some(want), "{fs}");

    let data = unique_bytes(len);
    let name = name_at(11);
    let day = m.point.join("SIMDONDAR-BACKUP/pmi/2026/11/26");
    let ran = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<ReadBackStep>::new()));
    let hook = {
        let (ran, seen, data, day) = (
            Arc::clone(&ran),
            Arc::clone(&seen),
            data.clone(),
            day.clone(),
        );
        let image = m.disk.image.clone();
        Arc::new(move |step: &ReadBackStep| {
            seen.lock().expect("lock").push(step.clone());
            // The last read-back: the copy is complete, closed and flushed.
            if step.to != len as u64 || ran.swap(true, Ordering::SeqCst) {
                return;
            }
            // Any reader of the file may have left its good bytes in the page cache (the
            // read-back itself no longer does: O_DIRECT, issue 17); put them there.
            let cached = std::fs::read(day.join(&step.part)).expect("read the copy");
            assert_eq!(cached.len(), len, "{fs}: the whole copy is there");
            let pos = device_offset(&image, &data, at);
            let img = std::fs::OpenOptions::new()
                .write(true)
                .open(&image)
                .expect("open the image");
            img.write_all_at(&[!data[at]], pos).expect("corrupt");
            let cached = read_as_before(
                &day.join(&step.part),
                old_from as u64,
                len as u64,
                at as u64,
            );
            assert_eq!(
                cached, data[at],
                "{fs}: after the corruption a read with the file's pages dropped the old way must still see the good byte (a cache masks it), or this test proves nothing"
            );
        })
    };
    let out = write_copy(
        &m.point,
        &name,
        &data,
        Hooks {
            before_read_back: Some(hook),
        },
    );
    assert!(ran.load(Ordering::SeqCst), "{fs}: the read-back hook ran");
    // In the kernel the read-back bypasses the page cache (O_DIRECT, issue 17); through a FUSE
    // driver it reads through the emptied caches.
    let steps = seen.lock().expect("lock").clone();
    assert!(
        steps.iter().all(|s| s.direct == (driver == Driver::Kernel)),
        "{fs}: every read-back step is direct exactly when the kernel drives the disk: {steps:?}"
    );
    assert_eq!(
        out.failure(),
        Some(CopyFailure::Mismatch),
        "{fs}: a copy whose bytes on the device differ from what was written must fail verification; got {:?} (read-backs: {:?})",
        out.result,
        seen.lock().expect("lock")
    );
    let left: Vec<String> = std::fs::read_dir(&day)
        .expect("day folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&name.data_file))
        .collect();
    assert!(
        left.is_empty(),
        "{fs}: nothing of the bad copy is kept: {left:?}"
    );
}

/// A FUSE case: a small copy, read back once after it is closed.
fn fuse_case(fs: &'static str) -> Case {
    let len = (1 << 20) + 1000;
    Case {
        fs,
        driver: Driver::Fuse,
        image_mib: 64,
        len,
        at: len - 500,
        old_from: 0,
    }
}

/// ext4 reads back in steps while the copy is written: the byte flipped lies in the page the
/// first step ended in (the writer was still filling it then), which the old drop never covered.
#[test]
fn corruption_under_ext4_in_the_kernel_is_caught() {
    let step = writer::VERIFY_STEP as usize;
    // Where the first step was announced: the first chunk boundary at or past VERIFY_STEP.
    let first_step_end = step.div_ceil(CHUNK) * CHUNK;
    assert!(!first_step_end.is_multiple_of(4096) && first_step_end - step < 4096);
    corruption_under_the_caches_is_caught(Case {
        fs: "ext4",
        driver: Driver::Kernel,
        image_mib: 160,
        len: step + (3 << 20) + 1000,
        at: step + 1000,
        old_from: first_step_end,
    });
}

#[test]
fn corruption_under_exfat_fuse_is_caught() {
    corruption_under_the_caches_is_caught(fuse_case("exfat"));
}

#[test]
fn corruption_under_ntfs_3g_is_caught() {
    corruption_under_the_caches_is_caught(fuse_case("ntfs"));
}

#[test]
fn corruption_under_fusefat_is_caught() {
    corruption_under_the_caches_is_caught(fuse_case("vfat"));
}
