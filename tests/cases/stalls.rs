//! Hangs are bounded (issue 11, DESIGN.md §4.8): a target whose FUSE driver stops answering
//! (SIGSTOP) is dropped after `stall_timeout` while the healthy target finishes verified; a
//! source that goes silent is stopped (its whole process group) and the run says so; a table
//! lock held by another session fails the run at once instead of queueing the database's writes
//! behind the dump.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use simdondar_backup::catalog::Catalog;
use simdondar_backup::kinds::{CopyFailure, RunFailure};

use crate::support::agent::{
    files_under, final_named, partial_bytes, sha256sum_ok, show, Setup, PASSWORD,
};
use crate::support::loopfs::LoopDisk;
use crate::support::mariadb::MariaDb;

/// Waits for a child at most `limit`; a child still running then is killed and the test fails:
/// the run hung. `unstick` runs first, so that a child stuck in the kernel can die at all.
fn wait_bounded(mut child: Child, limit: Duration, what: &str, unstick: impl FnOnce()) -> Output {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if started.elapsed() > limit => {
                unstick();
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{what} was still running after {} s: it hangs\n{}",
                    limit.as_secs(),
                    show(&out)
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// An exFAT disk mounted through exfat-fuse; on drop its driver is resumed and the mount
/// removed, whatever the test did.
struct FuseMount {
    disk: LoopDisk,
    dir: tempfile::TempDir,
    stopped: Vec<u32>,
}

impl FuseMount {
    fn exfat(mib: u64) -> FuseMount {
        let disk = LoopDisk::create("exfat", "STALL", mib);
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new("mount.exfat-fuse")
            .arg(&disk.device)
            .arg(dir.path())
            .status()
            .expect("mount.exfat-fuse (apt-get install exfat-fuse)");
        assert!(st.success(), "mount.exfat-fuse failed");
        FuseMount {
            disk,
            dir,
            stopped: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the FUSE driver: every call on the mount now waits.
    fn freeze(&mut self) {
        let pids = simdondar_backup::disks::mount::fuse_daemons(self.path());
        assert!(
            !pids.is_empty(),
            "no FUSE daemon found for {}",
            self.path().display()
        );
        for p in pids {
            signal(p, nix::sys::signal::Signal::SIGSTOP);
            self.stopped.push(p);
        }
    }

    /// Resumes the driver, unmounts and mounts the disk again with a fresh driver.
    fn remount(&mut self) {
        self.thaw();
        let _ = Command::new("umount").arg(self.path()).status();
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        let st = Command::new("mount.exfat-fuse")
            .arg(&self.disk.device)
            .arg(self.path())
            .status()
            .expect("mount.exfat-fuse");
        assert!(st.success(), "mounting the disk again failed");
    }

    fn thaw(&mut self) {
        for p in self.stopped.drain(..) {
            signal(p, nix::sys::signal::Signal::SIGCONT);
        }
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        self.thaw();
        let _ = Command::new("umount").arg(self.path()).status();
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        let _ = &self.disk;
    }
}

/// A `command` source writing `mb` MiB of incompressible bytes, a MiB at a time.
fn slow_random_source(mb: u32) -> String {
    format!(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"for i in $(seq 1 {mb}); do head -c 1048576 /dev/urandom; sleep 0.02; done\"]\nextension = \"bin\"\n"
    )
}

fn copies_of_last_run(state: &Path) -> Vec<simdondar_backup::catalog::CopyRow> {
    let c = Catalog::open(state).expect("catalog");
    let runs = c.recent_runs(1).expect("runs");
    c.copies_of(runs[0].id).expect("copies")
}

#[test]
fn a_disk_that_stops_answering_is_dropped_and_the_other_target_finishes_verified() {
    let setup = Setup::with_sources(&slow_random_source(32), "[agent]\nstall_timeout = \"3s\"\n");
    let healthy: PathBuf = setup.target("healthy");
    let mut fuse = FuseMount::exfat(512);
    let child = setup.spawn_backup(&[&healthy, fuse.path()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while partial_bytes(fuse.path()) < 4 << 20 {
        assert!(
            Instant::now() < deadline,
            "the copy on the FUSE disk never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fuse.freeze();
    let started = Instant::now();
    let stopped = fuse.stopped.clone();
    let out = wait_bounded(child, Duration::from_secs(120), "the backup", || {
        for p in stopped {
            signal(p, nix::sys::signal::Signal::SIGCONT);
        }
    });
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 copies written"), "{}", show(&out));
    assert!(err.contains("stopped answering"), "{}", show(&out));
    assert!(
        err.contains(&fuse.path().display().to_string()),
        "the reason names the disk: {}",
        show(&out)
    );
    let data = final_named(&healthy)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".bin.zst"))
        .collect::<Vec<_>>();
    assert_eq!(data.len(), 1, "{:?}", files_under(&healthy));
    sha256sum_ok(&data[0]);
    let copies = copies_of_last_run(&setup.state);
    let frozen = copies
        .iter()
        .find(|c| c.target == fuse.path().display().to_string())
        .expect("the FUSE copy is recorded");
    assert!(!frozen.ok);
    assert_eq!(
        frozen.failure.as_deref(),
        Some(CopyFailure::NotAnswering.as_str())
    );
    let runs = Catalog::open(&setup.state)
        .expect("catalog")
        .recent_runs(1)
        .expect("runs");
    assert_eq!(
        runs[0].failure,
        Some(RunFailure::Copy(CopyFailure::NotAnswering))
    );
    eprintln!("the run ended {} ms after the disk froze", took.as_millis());
    // Before the watchdog it never ended; now the healthy copy's own time (seconds, more on a
    // loaded machine) plus stall_timeout.
    assert!(
        took < Duration::from_secs(90),
        "the run took {} s after the disk froze (stall_timeout 3 s)",
        took.as_secs()
    );
    // The hung driver's connection was aborted: the mount answers at once, with an error.
    let probe = std::fs::read_dir(fuse.path())
        .map(|_| ())
        .map_err(|e| e.raw_os_error());
    assert_eq!(
        probe,
        Err(Some(libc::ENOTCONN)),
        "the FUSE connection is aborted"
    );
    // Mounted again, nothing on the disk carries a final name: the copy was never published.
    fuse.remount();
    assert_eq!(final_named(fuse.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_source_that_goes_silent_is_stopped_with_its_children_and_the_run_says_so() {
    // A marker no other process has: the source's child must not outlive the run.
    let marker = format!("{}.{}", 600, std::process::id());
    let source = format!(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c 100000 /dev/urandom; sleep {marker}; echo never\"]\nextension = \"bin\"\n"
    );
    let setup = Setup::with_sources(&source, "[agent]\nstall_timeout = \"2s\"\n");
    let target = setup.target("t");
    let child = setup.spawn_backup(&[&target]);
    let out = wait_bounded(child, Duration::from_secs(60), "the backup", || ());
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped answering: no bytes for 2 s"),
        "{}",
        show(&out)
    );
    assert_eq!(final_named(&target), Vec::<PathBuf>::new());
    let runs = Catalog::open(&setup.state)
        .expect("catalog")
        .recent_runs(1)
        .expect("runs");
    assert_eq!(runs[0].status, "failed");
    assert_eq!(runs[0].failure, Some(RunFailure::SourceStalled));
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(
        left.is_empty(),
        "the source's child outlived the run: {left:?}"
    );
}

#[test]
fn a_table_lock_held_by_another_session_fails_the_run_instead_of_queueing_writes() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!("{text}\n[agent]\nstall_timeout = \"3s\"\n"),
    )
    .expect("config");
    let target = setup.target("t");
    // Another session holds a write lock on a MyISAM table (consistency auto: --lock-tables).
    let mut holder = db
        .client_command()
        .args(["-e", "LOCK TABLES pmi.hasilelisa WRITE; SELECT SLEEP(600);"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lock holder");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !db
        .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(600)%'")
        .trim()
        .starts_with('1')
    {
        assert!(Instant::now() < deadline, "the lock holder never got its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = setup.spawn_backup(&[&target]);
    let out = wait_bounded(child, Duration::from_secs(90), "the backup", || ());
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another session holds a lock on a table of pmi"),
        "{}",
        show(&out)
    );
    assert_eq!(final_named(&target), Vec::<PathBuf>::new());
    // Nothing of the backup user is left waiting on the server.
    let waiting =
        db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'backup'");
    assert_eq!(
        waiting.trim(),
        "0",
        "the backup user's sessions left behind"
    );
    // With the lock gone the next run succeeds.
    let again = setup.backup(&[&target]);
    assert!(again.status.success(), "{}", show(&again));
}
