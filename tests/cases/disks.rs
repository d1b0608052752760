//! USB disks through a real systemd-udevd with loop devices carrying real ext4, exFAT (FUSE),
//! NTFS (ntfs-3g) and FAT (fusefat) file systems: detected, enrolled, mounted, written, verified,
//! ejected; unknown disks never written; a disk pulled mid-write; hostile disks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::agent::{files_under, sha256sum_all, show, Setup};
use crate::support::loopfs::LoopDisk;
use crate::support::udev::{disks_lock, Events};

/// A setting whose source writes `mib` MiB of incompressible data, with `match = "any"` so loop
/// disks are candidates and FAT files split at 1 MiB.
fn disk_setup(mib: u64) -> Setup {
    Setup::with_sources(
        &format!(
            "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c {} /dev/urandom\"]\nextension = \"bin\"\n",
            mib << 20
        ),
        // Encryption of manual copies is covered in encryption.rs; here the file systems matter.
        "[disks]\nmatch = \"any\"\nlabel_prefix = \"SIMBAK\"\nfat_split_size = \"1MiB\"\n[encryption]\nrequire_for = []\n",
    )
}

fn disks_json(setup: &Setup) -> Vec<serde_json::Value> {
    let out = setup
        .cmd()
        .args(["disks", "--json"])
        .output()
        .expect("disks");
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .expect("JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn view_of<'a>(views: &'a [serde_json::Value], device: &str) -> &'a serde_json::Value {
    views
        .iter()
        .find(|v| v["devnode"] == device)
        .unwrap_or_else(|| panic!("{device} not listed in {views:?}"))
}

fn image_sha(disk: &LoopDisk) -> String {
    let out = Command::new("sha256sum")
        .arg(&disk.image)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Mounts a disk read-only (outside the agent) to look at what it holds.
struct Look {
    dir: tempfile::TempDir,
}

impl Look {
    fn new(disk: &LoopDisk, fs: &str) -> Look {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = match fs {
            "exfat" => Command::new("mount.exfat-fuse")
                .args(["-o", "ro"])
                .arg(&disk.device)
                .arg(dir.path())
                .status(),
            "ntfs" => Command::new("ntfs-3g")
                .args(["-o", "ro"])
                .arg(&disk.device)
                .arg(dir.path())
                .status(),
            "vfat" => Command::new("fusefat")
                .args(["-o", "ro"])
                .arg(&disk.device)
                .arg(dir.path())
                .stdout(Stdio::null())
                .status(),
            _ => Command::new("mount")
                .args(["-o", "ro,noload"])
                .arg(&disk.device)
                .arg(dir.path())
                .status(),
        };
        assert!(
            st.map(|s| s.success()).unwrap_or(false),
            "cannot mount {} to look at it",
            disk.device
        );
        Look { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Look {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn data_files_in(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".bin.zst") || s.contains(".bin.zst.part")
        })
        .collect()
}

#[test]
fn four_file_systems_detected_enrolled_written_verified_ejected() {
    let _lock = disks_lock();
    let setup = disk_setup(3);
    let events = Events::start();
    let mut disks = Vec::new();
    for (fs, label) in [
        ("ext4", "HDD-AUTO"),
        ("exfat", "SIMBAK01"),
        ("ntfs", "LAPTOP"),
        ("vfat", "FLASH"),
    ] {
        let d = LoopDisk::create(fs, label, 64);
        // The 2 s detection goal is a timing goal: reported, not asserted (the machine is shared).
        let (_, took) = events.wait_present(&d.device, Duration::from_secs(15));
        eprintln!("{fs} disk detected by udev after {took:?}");
        disks.push((fs, d));
    }
    // Enroll: ext4 as auto, NTFS and FAT as manual; the exFAT is enrolled by its label.
    for (fs, d) in &disks {
        let role = match *fs {
            "ext4" => "auto",
            "exfat" => continue,
            _ => "manual",
        };
        let out = setup
            .cmd()
            .args(["disk", "enroll", &d.device, "--role", role])
            .output()
            .expect("enroll");
        assert!(out.status.success(), "enroll {fs}: {}", show(&out));
    }
    let views = disks_json(&setup);
    for (fs, d) in &disks {
        let v = view_of(&views, &d.device);
        let want = if *fs == "ext4" { "auto" } else { "manual" };
        assert_eq!(v["role"], want, "{fs}: {v}");
        assert_eq!(v["fs_type"], *fs);
        // Looked at through a read-only mount: which driver did it (this kernel: FUSE but ext4).
        let driver = if *fs == "ext4" || simdondar_backup::disks::mount::kernel_has(fs) {
            "kernel"
        } else {
            "fuse"
        };
        assert_eq!(v["driver"], driver, "{fs}: {v}");
        assert_eq!(v["not_answering"], false, "{fs}: {v}");
    }
    assert_eq!(view_of(&views, &disks[1].1.device)["enrolled_by"], "label");

    let out = setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        setup.our_mounts().is_empty(),
        "the one-shot backup leaves no mount: {:?}",
        setup.our_mounts()
    );

    for (fs, d) in &disks {
        let look = Look::new(d, fs);
        let data = data_files_in(look.path());
        sha256sum_all(look.path());
        if *fs == "vfat" {
            // 3 MiB of incompressible data in parts of at most 1 MiB; together they are the stream.
            assert!(data.len() >= 3, "FAT copy must be split: {data:?}");
            let manifest = files_under(look.path())
                .into_iter()
                .find(|p| p.to_string_lossy().ends_with(".zst.json"))
                .expect("manifest");
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&manifest).expect("read")).expect("json");
            let mut cat = Vec::new();
            for p in &data {
                let bytes = std::fs::read(p).expect("part");
                assert!(bytes.len() <= 1 << 20);
                cat.extend(bytes);
            }
            let out = Command::new("sha256sum")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().expect("stdin").write_all(&cat)?;
                    c.wait_with_output()
                })
                .expect("sha256sum");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .next(),
                m["sha256"].as_str()
            );
            assert_eq!(m["parts"].as_array().map(Vec::len), Some(data.len()));
        } else {
            assert_eq!(data.len(), 1, "{fs}: {data:?}");
        }
        drop(look);
    }
    // The FAT file system is consistent after fusefat wrote it.
    let fsck = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&disks[3].1.device)
        .output()
        .expect("fsck.vfat");
    assert!(fsck.status.success(), "{}", show(&fsck));

    // Verify through the agent, then eject: the mount must be gone from mountinfo.
    let out = setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    let (v, good) = verify_disk(&setup, &disks[1].1.device);
    assert_eq!(good, 2, "{}", show(&v));
    let e = setup
        .cmd()
        .args(["eject", "SIMBAK01"])
        .output()
        .expect("eject");
    assert!(e.status.success(), "{}", show(&e));
    assert!(
        String::from_utf8_lossy(&e.stdout).contains("SAFE TO REMOVE"),
        "{}",
        show(&e)
    );
    assert!(setup.our_mounts().is_empty(), "{:?}", setup.our_mounts());
}

#[test]
fn an_unknown_disk_is_listed_and_never_written() {
    let _lock = disks_lock();
    let setup = disk_setup(1);
    let events = Events::start();
    let known = LoopDisk::create("ext4", "HDD", 32);
    let stranger_ext4 = LoopDisk::create("ext4", "PRIBADI", 32);
    let stranger_exfat = LoopDisk::create("exfat", "KELUARGA", 32);
    let unsupported = LoopDisk::create("minix", "", 32);
    for d in [&known, &stranger_ext4, &stranger_exfat, &unsupported] {
        events.wait_present(&d.device, Duration::from_secs(15));
    }
    let enroll = setup
        .cmd()
        .args(["disk", "enroll", &known.device, "--role", "auto"])
        .output()
        .expect("enroll");
    assert!(enroll.status.success(), "{}", show(&enroll));
    let before = (
        image_sha(&stranger_ext4),
        image_sha(&stranger_exfat),
        image_sha(&unsupported),
    );

    let views = disks_json(&setup);
    for d in [&stranger_ext4, &stranger_exfat] {
        let v = view_of(&views, &d.device);
        assert!(v["role"].is_null(), "unknown disk must have no role: {v}");
        assert!(v["unusable"].is_null(), "enrolling it would do: {v}");
    }
    // A file system the appliance does not write is not "unknown, enroll it": enrolling would
    // fail; it says why and what to do.
    let v = view_of(&views, &unsupported.device);
    assert!(v["role"].is_null(), "{v}");
    assert_eq!(v["unusable"], "not_supported", "{v}");
    assert_eq!(v["unreadable"], false, "not damaged: {v}");
    assert!(
        v["problem"]
            .as_str()
            .is_some_and(|p| p.contains("minix") && p.contains("format")),
        "{v}"
    );
    let out = setup.cmd().arg("disks").output().expect("disks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&unsupported.device) && l.contains("UNUSABLE")),
        "{text}"
    );
    let out = setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("OK ").count(),
        1,
        "only the enrolled disk is written: {stdout}"
    );
    let enroll = setup
        .cmd()
        .args(["eject", &stranger_ext4.device])
        .output()
        .expect("eject");
    assert_eq!(
        enroll.status.code(),
        Some(2),
        "an unknown disk is never mounted, so there is nothing to eject"
    );
    assert_eq!(
        (
            image_sha(&stranger_ext4),
            image_sha(&stranger_exfat),
            image_sha(&unsupported)
        ),
        before,
        "unknown disks changed"
    );
}

#[test]
fn a_disk_pulled_out_mid_write() {
    let _lock = disks_lock();
    let setup = disk_setup(60);
    let events = Events::start();
    let mut disk = LoopDisk::create("exfat", "SIMBAK02", 128);
    events.wait_present(&disk.device, Duration::from_secs(15));
    let dir_target = setup.target("local");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!("{text}\n[[target]]\npath = \"{}\"\n", dir_target.display()),
    )
    .expect("config");

    let child = setup
        .cmd()
        .arg("backup")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("backup");
    // Wait until the agent writes to the disk, then pull it: the FUSE driver dies, the device goes.
    let mount_dir = setup.runtime.join("disks");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let writing = files_under(&mount_dir).iter().any(|p| {
            p.to_string_lossy().ends_with(".partial")
                && std::fs::metadata(p)
                    .map(|m| m.len() > (1 << 20))
                    .unwrap_or(false)
        });
        if writing {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never started writing to the disk"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let point = std::fs::read_dir(&mount_dir)
        .expect("ls mount dir")
        .flatten()
        .next()
        .expect("the disk's mount point")
        .path();
    let daemons = simdondar_backup::disks::mount::fuse_daemons(&point);
    assert!(
        !daemons.is_empty(),
        "no FUSE daemon serves {}",
        point.display()
    );
    for pid in daemons {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    disk.detach();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 copies written"), "{}", show(&out));
    let local = files_under(&dir_target);
    let data: Vec<_> = local
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".bin.zst"))
        .collect();
    assert_eq!(data.len(), 1);
    sha256sum_all(&dir_target);
    assert!(
        setup.our_mounts().is_empty(),
        "stale mount left: {:?}",
        setup.our_mounts()
    );
    let runs = setup.runs();
    assert_eq!((runs[0].copies_ok, runs[0].copies_total), (1, 2));
}

#[test]
fn hostile_disks_neither_crash_nor_escape() {
    let _lock = disks_lock();
    let setup = disk_setup(1);
    let events = Events::start();
    // A label with ../, a space, non-ASCII and a control character (ext4 labels are raw bytes).
    let weird = LoopDisk::create("ext4", "SIMBAK../ é\x07", 32);
    let garbage = LoopDisk::create("ext4", "GARBAGE", 32);
    let huge = LoopDisk::create("ext4", "HUGE", 32);
    let trap = LoopDisk::create("ext4", "TRAP", 32);
    for d in [&weird, &garbage, &huge, &trap] {
        events.wait_present(&d.device, Duration::from_secs(15));
    }
    let outside = tempfile::tempdir().expect("outside");
    // Prepare the hostile contents with the disks mounted outside the agent.
    for (d, what) in [(&garbage, "garbage"), (&huge, "huge"), (&trap, "trap")] {
        let m = tempfile::tempdir().expect("mnt");
        let st = Command::new("mount")
            .arg(&d.device)
            .arg(m.path())
            .status()
            .expect("mount");
        assert!(st.success());
        let root = m.path().join("SIMDONDAR-BACKUP");
        std::fs::create_dir_all(&root).expect("mkdir");
        match what {
            "garbage" => {
                std::fs::write(root.join("disk.toml"), b"\x00\xffid = [[[\nrole = 7").expect("w")
            }
            "huge" => std::fs::write(root.join("disk.toml"), "# x\n".repeat(300_000)).expect("w"),
            _ => {
                std::fs::write(
                    root.join("disk.toml"),
                    "id = \"trap\"\nrole = \"auto\"\nlabel = \"TRAP\"\nenrolled_at = \"2026-11-26T10:00:00+07:00\"\n",
                )
                .expect("w");
                std::os::unix::fs::symlink(outside.path(), root.join("program")).expect("symlink");
            }
        }
        // Another test's child may briefly hold a copy of a file descriptor opened here, between
        // its fork and its exec (CI saw "target is busy" once): try again for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = Command::new("umount")
                .arg(m.path())
                .status()
                .expect("umount");
            if st.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cannot unmount the prepared disk {}",
                m.path().display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let views = disks_json(&setup);
    let v = view_of(&views, &weird.device);
    assert_eq!(v["role"], "manual", "the label starts with SIMBAK: {v}");
    let shown = v["label"].as_str().unwrap_or("");
    assert!(
        !shown.chars().any(char::is_control),
        "control characters are not shown: {shown:?}"
    );
    for d in [&garbage, &huge] {
        let v = view_of(&views, &d.device);
        assert!(v["role"].is_null(), "{v}");
        assert!(
            v["problem"].as_str().unwrap_or("").contains("marker"),
            "{v}"
        );
        assert_eq!(v["unusable"], "bad_marker", "{v}");
    }
    let out = setup.cmd().arg("backup").output().expect("backup");
    // The trap disk refuses the symlinked folder; the label-enrolled disk is written.
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("symbolic link"), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK "),
        "{}",
        show(&out)
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("ls").count(),
        0,
        "nothing written outside the disk"
    );
    // Mount points are named by file-system UUID, never by label.
    for m in setup.our_mounts() {
        assert!(!m.contains(".."), "{m}");
    }
    assert!(setup.our_mounts().is_empty());
}

/// Several disks ejected at once (issue 18): each on its own thread under one deadline, so a disk
/// held busy by a program delays nobody else and is reported busy at the deadline.
#[test]
fn several_disks_eject_in_parallel_under_one_deadline() {
    let _lock = disks_lock();
    let setup = disk_setup(1);
    let events = Events::start();
    let cfg = simdondar_backup::config::Config::load(&setup.config).expect("config");
    let disks = simdondar_backup::disks::Disks::new(&cfg);
    let mut work = Vec::new();
    let mut loops = Vec::new();
    for label in ["SIMBAK-PAR1", "SIMBAK-PAR2"] {
        let d = LoopDisk::create("ext4", label, 32);
        let dev = events.wait_labelled(&d.device, label);
        let attached = disks.attach(&dev).expect("attach");
        work.push((attached.target.root.clone(), Some(dev)));
        loops.push(d);
    }
    // The busy disk first: one after the other, the free one would wait for it.
    let busy = work[0].0.clone();
    let mut holder = Command::new("sleep")
        .arg("600")
        .current_dir(&busy)
        .spawn()
        .expect("a program inside the first disk");
    let started = Instant::now();
    let wait = Duration::from_secs(4);
    let results = std::sync::Mutex::new(Vec::new());
    disks.eject_all(&work, false, started + wait, |i, res| {
        results.lock().expect("lock").push((
            work[i].0.clone(),
            started.elapsed(),
            res.map_err(|e| e.kind),
        ));
    });
    let total = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let results = results.into_inner().expect("results");
    assert_eq!(results.len(), 2, "{results:?}");
    let free = results
        .iter()
        .find(|(p, _, _)| *p == work[1].0)
        .expect("the free disk");
    assert!(free.2.is_ok(), "{results:?}");
    assert!(
        free.1 < Duration::from_secs(3),
        "the free disk did not wait for the busy one: {:?}",
        free.1
    );
    let held = results
        .iter()
        .find(|(p, _, _)| *p == busy)
        .expect("the busy disk");
    assert_eq!(
        held.2,
        Err(simdondar_backup::kinds::EjectFailure::InUse),
        "{results:?}"
    );
    // The busy one took its deadline (its unmount's retries and a short grace for the driver
    // may add a few seconds), not the free one's time on top.
    assert!(
        total >= wait && total < wait + Duration::from_secs(10),
        "{total:?}"
    );
    // Now free, it ejects.
    disks
        .eject_waiting(&busy, work[0].1.as_ref(), false, Duration::from_secs(30))
        .expect("eject after the program left");
}

/// A program still inside the disk (a terminal `cd`'d into it): the unmount can only be lazy and
/// the kernel still holds the device, so the eject must not say "safe to remove"; once the
/// program is gone, the eject succeeds and the device is free. Both ext4 (kernel) and exFAT (FUSE).
#[test]
fn a_disk_in_use_is_never_called_safe_to_remove() {
    let _lock = disks_lock();
    let setup = disk_setup(1);
    let events = Events::start();
    for (fs, label) in [("ext4", "SIMBAK-BUSY4"), ("exfat", "SIMBAKBUSYX")] {
        let d = LoopDisk::create(fs, label, 64);
        let dev = events.wait_labelled(&d.device, label);
        let cfg = simdondar_backup::config::Config::load(&setup.config).expect("config");
        let disks = simdondar_backup::disks::Disks::new(&cfg);
        let attached = disks.attach(&dev).expect("attach");
        let point = attached.target.root.clone();
        let mut holder = Command::new("sleep")
            .arg("600")
            .current_dir(&point)
            .spawn()
            .expect("a program inside the disk");
        let started = Instant::now();
        let err = disks
            .eject_waiting(&point, Some(&dev), false, Duration::from_secs(3))
            .expect_err("an eject with a program inside the disk must not succeed");
        assert_eq!(
            err.kind,
            simdondar_backup::kinds::EjectFailure::InUse,
            "{fs}: {err}"
        );
        assert!(
            err.message.contains("still in use by another program"),
            "{fs}: {err}"
        );
        assert!(started.elapsed() >= Duration::from_secs(3), "{fs}: waited");
        assert!(
            !simdondar_backup::disks::device::released(&dev.devnode),
            "{fs}: the device is still held"
        );
        let _ = holder.kill();
        let _ = holder.wait();
        let ok = disks
            .eject_waiting(&point, Some(&dev), false, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{fs}: eject after the program left: {e}"));
        assert_eq!(ok.mount_point, point, "{fs}");
        assert!(
            simdondar_backup::disks::device::released(&dev.devnode),
            "{fs}: the device is free after the eject"
        );
        assert!(setup.our_mounts().is_empty(), "{:?}", setup.our_mounts());
    }
}

fn sigstop_daemons(point: &Path, sig: nix::sys::signal::Signal) -> Vec<u32> {
    let pids = simdondar_backup::disks::mount::fuse_daemons(point);
    assert!(!pids.is_empty(), "no FUSE daemon for {}", point.display());
    for p in &pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p as i32), sig);
    }
    pids
}

/// A flashdisk whose FUSE driver stops (SIGSTOP): an eject gives up after `stall_timeout` saying
/// the disk stopped answering (never "safe to remove"), and a look at it says "not answering"
/// instead of hanging the caller; both cut the driver off so nothing of the agent waits on it.
#[test]
fn a_disk_whose_driver_stops_answering_is_never_waited_on_forever() {
    use simdondar_backup::kinds::EjectFailure;
    let _lock = disks_lock();
    let setup = disk_setup(1);
    let events = Events::start();
    let d = LoopDisk::create("exfat", "SIMBAKHANG", 64);
    let dev = events.wait_labelled(&d.device, "SIMBAKHANG");
    let mut cfg = simdondar_backup::config::Config::load(&setup.config).expect("config");
    cfg.agent.stall_timeout = Duration::from_secs(2);
    let disks = simdondar_backup::disks::Disks::new(&cfg);

    // The eject.
    let point = disks.attach(&dev).expect("attach").target.root;
    let stopped = sigstop_daemons(&point, nix::sys::signal::Signal::SIGSTOP);
    let started = Instant::now();
    let err = disks
        .eject_waiting(&point, Some(&dev), false, Duration::from_secs(30))
        .expect_err("an eject of a disk that does not answer must not succeed");
    let took = started.elapsed();
    for p in &stopped {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p as i32),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    assert_eq!(err.kind, EjectFailure::NotAnswering, "{err}");
    assert!(err.message.contains("stopped answering"), "{err}");
    assert!(took < Duration::from_secs(20), "the eject took {took:?}");
    assert!(
        simdondar_backup::disks::mount::mount_at(&point).is_none(),
        "the dead mount is removed"
    );

    // The driver cut off still holds the device until it has run again and exited (it was
    // stopped): a new mount before that finds the device busy.
    let gone_by = Instant::now() + Duration::from_secs(15);
    while stopped
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
        && Instant::now() < gone_by
    {
        std::thread::sleep(Duration::from_millis(50));
    }

    // The look.
    let point = disks.attach(&dev).expect("attach again").target.root;
    let stopped = sigstop_daemons(&point, nix::sys::signal::Signal::SIGSTOP);
    let started = Instant::now();
    let view = disks.inspect(&dev);
    let took = started.elapsed();
    for p in &stopped {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p as i32),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    assert!(view.not_answering, "{view:?}");
    assert!(
        view.problem
            .as_deref()
            .is_some_and(|p| p.contains("does not answer")),
        "{view:?}"
    );
    assert!(took < Duration::from_secs(20), "the look took {took:?}");
    // Cut off: the mount answers at once now (with an error), and the eject removes it.
    let probe = std::fs::read_dir(&point)
        .map(|_| ())
        .map_err(|e| e.raw_os_error());
    assert_eq!(probe, Err(Some(libc::ENOTCONN)));
    let _ = disks.eject_waiting(&point, Some(&dev), false, Duration::from_secs(10));
    let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    assert!(setup.our_mounts().is_empty(), "{:?}", setup.our_mounts());
}

/// Tears the first records of an NTFS image's `$MFT` the way a write cut off by a power cut
/// does: each 512-byte sector of a record ends with its update sequence number, and a sector
/// that was not written with the rest carries an old one ("Incomplete multi-sector transfer").
fn tear_ntfs_mft(image: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .expect("open the image");
    let mut boot = [0u8; 512];
    f.read_exact(&mut boot).expect("read the boot sector");
    assert_eq!(&boot[3..11], b"NTFS    ", "not an NTFS image");
    let bytes_per_sector = u64::from(u16::from_le_bytes([boot[0x0b], boot[0x0c]]));
    let sectors_per_cluster = u64::from(boot[0x0d]);
    let mut lcn = [0u8; 8];
    lcn.copy_from_slice(&boot[0x30..0x38]);
    let mft = u64::from_le_bytes(lcn) * bytes_per_sector * sectors_per_cluster;
    // Records 0-3 ($MFT, $MFTMirr, $LogFile, $Volume): 4 KiB, 8 sectors.
    for sector in 0..8u64 {
        f.seek(SeekFrom::Start(mft + sector * 512 + 510))
            .expect("seek");
        f.write_all(&[0xde, 0xad]).expect("tear");
    }
    f.sync_all().expect("sync the image");
}

#[test]
fn a_backup_disk_whose_file_system_is_torn_is_unreadable_not_unknown() {
    let _lock = disks_lock();
    let (setup, events, mut disk) = enrolled_with_a_backup("ntfs", "LABNTFS", 32);

    // The lab (seed 20261206, 2026-12-07): power cut while ntfs-3g wrote to the disk; after the
    // boot the daemon listed it as an unknown disk to enroll.
    disk.detach();
    tear_ntfs_mft(&disk.image);
    disk.reattach();
    events.wait_present(&disk.device, Duration::from_secs(15));
    let views = disks_json(&setup);
    let v = view_of(&views, &disk.device);
    assert_eq!(v["unreadable"], true, "{v}");
    assert!(v["role"].is_null(), "{v}");
    let problem = v["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("cannot mount") && problem.contains("chkdsk"),
        "the problem says what failed and what to do: {problem}"
    );
    let out = setup.cmd().arg("disks").output().expect("disks");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&disk.device))
        .unwrap_or_default();
    assert!(line.contains("UNREADABLE"), "{text}");
}

/// A disk of `fs` enrolled as an automatic disk, with one backup written to it through the agent
/// (the disks lock held by the caller).
fn enrolled_with_a_backup(fs: &str, label: &str, mib: u64) -> (Setup, Events, LoopDisk) {
    let setup = disk_setup(1);
    let events = Events::start();
    let disk = LoopDisk::create(fs, label, mib);
    events.wait_present(&disk.device, Duration::from_secs(15));
    let enroll = setup
        .cmd()
        .args(["disk", "enroll", &disk.device, "--role", "auto"])
        .output()
        .expect("enroll");
    assert!(enroll.status.success(), "{}", show(&enroll));
    let out = setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    (setup, events, disk)
}

/// Attaches the disk on `device` through the agent's own code and runs `verify --target` on it:
/// its output, which must succeed, and how many copies it found good.
fn verify_disk(setup: &Setup, device: &str) -> (std::process::Output, usize) {
    let dev = simdondar_backup::disks::device::enumerate()
        .expect("enumerate")
        .into_iter()
        .find(|d| d.devnode.to_string_lossy() == device)
        .expect("the disk");
    let cfg = simdondar_backup::config::Config::load(&setup.config).expect("config");
    let attached = simdondar_backup::disks::Disks::new(&cfg)
        .attach(&dev)
        .expect("attach");
    let v = setup
        .cmd()
        .args(["verify", "--target"])
        .arg(&attached.target.root)
        .output()
        .expect("verify");
    assert!(v.status.success(), "{}", show(&v));
    let good = String::from_utf8_lossy(&v.stdout).matches("OK").count();
    (v, good)
}

/// Leaves a FAT32 image as a power cut mid-write does: the dirty bit set (the kernel sets it while
/// the volume is mounted read-write) and a cluster chain that no file owns, in every FAT copy.
fn dirty_fat32_with_a_lost_chain(image: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .expect("open image");
    let mut boot = [0u8; 512];
    f.read_exact(&mut boot).expect("boot sector");
    assert_eq!(u16::from_le_bytes([boot[22], boot[23]]), 0, "FAT32");
    boot[0x41] |= 1;
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(&boot).expect("dirty bit");
    let sector = u64::from(u16::from_le_bytes([boot[11], boot[12]]));
    let reserved = u64::from(u16::from_le_bytes([boot[14], boot[15]]));
    let fats = u64::from(boot[16]);
    let fat_sectors = u64::from(u32::from_le_bytes([boot[36], boot[37], boot[38], boot[39]]));
    // A free cluster well past what two small backups use, made the end of a chain of one.
    let first = reserved * sector;
    let mut entry = [0u8; 4];
    let mut lost = None;
    for cluster in (2000u64..(fat_sectors * sector / 4)).step_by(97) {
        f.seek(SeekFrom::Start(first + cluster * 4)).expect("seek");
        f.read_exact(&mut entry).expect("FAT entry");
        if u32::from_le_bytes(entry) & 0x0FFF_FFFF == 0 {
            lost = Some(cluster);
            break;
        }
    }
    let lost = lost.expect("a free cluster");
    for copy in 0..fats {
        f.seek(SeekFrom::Start(
            first + copy * fat_sectors * sector + lost * 4,
        ))
        .expect("seek");
        f.write_all(&0x0FFF_FFFFu32.to_le_bytes())
            .expect("lost chain");
    }
    f.sync_all().expect("sync");
}

/// The lab (seed 20261206 cut 128): a power cut while a backup was written to a FAT32 disk left
/// its allocation table inconsistent, and in the next run the kernel set the volume read-only as
/// the sweep freed the cut run's `.partial`: that disk got no backup until repaired on a PC. Now
/// a FAT32 (or exFAT) volume left dirty is repaired by its own checker before it is mounted
/// read-write, and the run writes it.
#[test]
fn a_fat32_disk_left_dirty_by_a_cut_is_repaired_before_it_is_written() {
    let _lock = disks_lock();
    let (setup, events, mut disk) = enrolled_with_a_backup("fat32", "LABFAT32", 64);

    disk.detach();
    dirty_fat32_with_a_lost_chain(&disk.image);
    let before = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&disk.image)
        .output()
        .expect("fsck.vfat");
    assert_ne!(
        before.status.code(),
        Some(0),
        "the image is dirty and has a lost chain: {}",
        show(&before)
    );
    disk.reattach();
    events.wait_present(&disk.device, Duration::from_secs(15));
    let out = setup.cmd().arg("backup").output().expect("backup");
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was not unmounted cleanly") && stderr.contains("repaired"),
        "the repair is logged: {}",
        show(&out)
    );
    disk.detach();
    let after = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&disk.image)
        .output()
        .expect("fsck.vfat");
    assert_eq!(
        after.status.code(),
        Some(0),
        "whole, and no longer dirty: {}",
        show(&after)
    );
    // Both backups are on it, whole.
    disk.reattach();
    events.wait_present(&disk.device, Duration::from_secs(15));
    let (v, good) = verify_disk(&setup, &disk.device);
    assert_eq!(good, 2, "{}", show(&v));
    let e = setup
        .cmd()
        .args(["eject", "LABFAT32"])
        .output()
        .expect("eject");
    assert!(e.status.success(), "{}", show(&e));
}
