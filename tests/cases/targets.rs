//! Many targets at once (issue 3): a target that fills up, one that disappears mid-run, and the
//! agent killed mid-write. The other targets' copies are complete and verified; nothing
//! incomplete ever carries a final name; earlier backups survive.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::agent::{
    data_files, files_under, final_named, sha256sum_ok, show, Setup, PASSWORD,
};
use crate::support::loopfs::LoopFs;
use crate::support::mariadb::MariaDb;

fn partials(dir: &Path) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect()
}

fn wait_for_partial(dir: &Path, min_bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let size: u64 = partials(dir)
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        if size >= min_bytes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no .partial of {min_bytes} bytes appeared in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_disk_fails_alone_and_keeps_its_earlier_backups() {
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let big = setup.target("big");
    let small = LoopFs::ext4(12);

    // A small first backup fits on both.
    let first = setup.backup(&[&big, small.path()]);
    assert!(first.status.success(), "{}", show(&first));
    let earlier = data_files(small.path());
    assert_eq!(earlier.len(), 1);

    // The database grows: the next backup no longer fits on the small disk.
    db.seed(30);
    let out = setup.backup(&[&big, small.path()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 copies written"), "{}", show(&out));
    assert!(err.contains("disk full"), "{}", show(&out));
    let on_big = data_files(&big);
    assert_eq!(on_big.len(), 2);
    for d in &on_big {
        sha256sum_ok(d);
    }
    assert_eq!(
        data_files(small.path()),
        earlier,
        "only the earlier backup on the full disk"
    );
    sha256sum_ok(&earlier[0]);
    assert!(
        partials(small.path()).is_empty(),
        "{:?}",
        partials(small.path())
    );
    let runs = setup.runs();
    assert_eq!(
        (
            runs[0].status.as_str(),
            runs[0].copies_ok,
            runs[0].copies_total
        ),
        ("failed", 1, 2)
    );

    // Next time the estimate from this run says it cannot fit: refused before writing, loudly,
    // and the floor protects the earlier backup (nothing is deleted to make room).
    let again = setup.backup(&[&big, small.path()]);
    assert_eq!(again.status.code(), Some(1), "{}", show(&again));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("disk full: the backup needs about"),
        "{}",
        show(&again)
    );
    assert_eq!(data_files(small.path()), earlier);
    assert!(partials(small.path()).is_empty());
}

#[test]
fn a_target_that_disappears_mid_run_fails_alone() {
    let db = MariaDb::start();
    db.seed(40);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let good = setup.target("good");
    let doomed = setup.target("doomed");
    let child = setup
        .cmd()
        .args(["backup", "--target"])
        .arg(&good)
        .arg("--target")
        .arg(&doomed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_partial(&doomed, 1);
    std::fs::remove_dir_all(&doomed).expect("remove the target");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 copies written"), "{}", show(&out));
    assert!(err.contains("does not exist"), "{}", show(&out));
    let d = data_files(&good);
    assert_eq!(d.len(), 1);
    sha256sum_ok(&d[0]);
    assert!(!doomed.exists(), "nothing recreated the removed target");
}

#[test]
fn agent_killed_mid_write_then_run_again() {
    let db = MariaDb::start();
    db.seed(40);
    db.create_backup_user("backup", PASSWORD);
    let setup = Setup::for_db(&db, PASSWORD);
    let target = setup.target("t");
    let mut child = setup
        .cmd()
        .args(["backup", "--target"])
        .arg(&target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_partial(&target, 1 << 20);
    child.kill().expect("SIGKILL the agent");
    let _ = child.wait();
    assert!(
        final_named(&target).is_empty(),
        "final-named files after SIGKILL: {:?}",
        final_named(&target)
    );
    assert_eq!(
        setup.runs()[0].status,
        "running",
        "the killed process could not record anything"
    );

    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    let runs = setup.runs();
    assert_eq!(runs[1].status, "failed");
    assert!(
        runs[1]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("interrupted"),
        "{:?}",
        runs[1].reason
    );
    assert_eq!(runs[0].status, "ok");
    assert!(partials(&target).is_empty(), "{:?}", partials(&target));
    let d = data_files(&target);
    assert_eq!(d.len(), 1);
    sha256sum_ok(&d[0]);
    // The options file of the killed run is gone too (the next run of the source replaced it).
    let left: Vec<_> = files_under(&setup.runtime);
    assert!(left.is_empty(), "{left:?}");
}
