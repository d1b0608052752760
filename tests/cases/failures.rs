//! Failed runs (DESIGN.md §4.1, §4.2, §4.6): each exits 1 with a reason a person can act on,
//! is recorded as failed in the catalog, and leaves no file with a final name behind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::agent::{data_files, files_under, final_named, show, Setup, PASSWORD};
use crate::support::mariadb::MariaDb;

fn assert_failed_cleanly(setup: &Setup, target: &Path, out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", show(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "stderr should say {needle:?}: {}",
        show(out)
    );
    assert!(
        final_named(target).is_empty(),
        "final-named files left: {:?}",
        final_named(target)
    );
    let runs = setup.runs();
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0].reason.as_deref().unwrap_or("").contains(needle),
        "catalog reason {:?} should say {needle:?}",
        runs[0].reason
    );
}

#[test]
fn database_stopped() {
    let mut db = MariaDb::start();
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    db.stop();
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_failed_cleanly(&setup, &target, &out, "database unreachable at socket");
    assert!(
        files_under(&target).is_empty(),
        "nothing at all is created: {:?}",
        files_under(&target)
    );
}

#[test]
fn database_unreachable_over_tcp_names_host_and_port() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let setup = Setup::with_sources(
        &format!(
            "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"backup\"\ndatabases = [\"pmi\"]\n"
        ),
        "",
    );
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_failed_cleanly(
        &setup,
        &target,
        &out,
        &format!("database unreachable at 127.0.0.1:{port}: connection refused"),
    );
}

#[test]
fn wrong_password() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, "not-the-password");
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_failed_cleanly(&setup, &target, &out, "refused the login of user 'backup'");
}

#[test]
fn unknown_database() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let text = std::fs::read_to_string(&setup.config).expect("read");
    std::fs::write(&setup.config, text.replace("\"wagw\"", "\"wagx\"")).expect("write");
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_failed_cleanly(&setup, &target, &out, "database 'wagx' does not exist");
}

/// Process ids whose parent is `ppid` and whose command name is `comm`.
fn children_named(ppid: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let parent = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if name == comm && parent == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

fn partial_size(target: &Path) -> u64 {
    files_under(target)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn spawn_backup(setup: &Setup, target: &Path) -> Child {
    setup
        .cmd()
        .arg("backup")
        .arg("--target")
        .arg(target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backup")
}

#[test]
fn dump_killed_halfway() {
    let db = MariaDb::start();
    db.seed(60);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    // An earlier good backup must survive the failed one.
    let first = setup.backup(&[&target]);
    assert!(first.status.success(), "{}", show(&first));
    let before = final_named(&target);

    let child = spawn_backup(&setup, &target);
    let deadline = Instant::now() + Duration::from_secs(60);
    let dump_pid = loop {
        assert!(Instant::now() < deadline, "mariadb-dump never started");
        if let Some(p) = children_named(child.id(), "mariadb-dump").first() {
            if partial_size(&target) > 0 {
                break *p;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dump_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill mariadb-dump");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("killed by signal 9"), "{}", show(&out));
    assert_eq!(
        final_named(&target),
        before,
        "only the earlier backup carries a final name"
    );
    assert_eq!(partial_size(&target), 0, "the partial file is removed");
    let runs = setup.runs();
    assert_eq!(runs[0].status, "failed");
    assert_eq!(runs[1].status, "ok");
}

#[test]
fn password_never_visible_in_proc() {
    let db = MariaDb::start();
    db.seed(40);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    let mut child = spawn_backup(&setup, &target);
    let needle = PASSWORD.as_bytes();
    let mut scans_during_dump = 0;
    loop {
        let dump_running = !children_named(child.id(), "mariadb-dump").is_empty();
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            if e.file_name().to_string_lossy().parse::<u32>().is_err() {
                continue;
            }
            for f in ["cmdline", "environ"] {
                if let Ok(bytes) = std::fs::read(e.path().join(f)) {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle),
                        "the password is visible in {}/{f}",
                        e.path().display()
                    );
                }
            }
        }
        if dump_running {
            scans_during_dump += 1;
        }
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        scans_during_dump >= 1,
        "no scan happened while mariadb-dump ran"
    );
    // The options file is gone afterwards.
    let left: Vec<_> = files_under(&setup.runtime);
    assert!(left.is_empty(), "runtime dir still holds {left:?}");
}

#[test]
fn target_not_writable() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let good = setup.target("good");
    let ro = setup.target("ro");
    // Root ignores permission bits: a read-only mount is what really refuses writes.
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&ro)
        .output()
        .expect("mount");
    assert!(
        mount.status.success(),
        "mounting a read-only tmpfs needs root: {}",
        show(&mount)
    );
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Umount(&ro);

    let out = setup.backup(&[&ro]);
    assert_failed_cleanly(&setup, &ro, &out, "read-only");

    // With a good target beside it, the good copy is kept and verified; the run still fails.
    let out = setup.backup(&[&good, &ro]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 2 copies written"),
        "{}",
        show(&out)
    );
    assert_eq!(data_files(&good).len(), 1);
    let runs = setup.runs();
    assert_eq!((runs[0].copies_ok, runs[0].copies_total), (1, 2));
}

#[test]
fn leftover_partial_files_are_removed_at_the_next_run() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    let dir = target.join("SIMDONDAR-BACKUP/pmi/2026/01/02");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let stale = dir.join("pmi_20260102-030405.sql.zst.partial");
    std::fs::write(&stale, b"half a dump").expect("write");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!stale.exists(), "the leftover .partial must be removed");
    assert_eq!(data_files(&target).len(), 1);
}

#[test]
fn missing_trigger_grant_is_refused_not_silently_incomplete() {
    // Without TRIGGER, mariadb-dump exits 0 with an empty stderr and simply omits the triggers.
    let db = MariaDb::start();
    db.seed(0);
    db.create_user_with_privileges("backup", PASSWORD, "SELECT, SHOW VIEW, EVENT, LOCK TABLES");
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    let out = setup.backup(&[&target]);
    assert_failed_cleanly(&setup, &target, &out, "needs TRIGGER on pmi");
}
