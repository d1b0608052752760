//! The restore test runs untrusted SQL as nobody (issue 12): crafted dumps from a hostile disk
//! (checked into `tests/hostile_dumps/`, with checksums and a manifest that look genuine) write
//! nothing and read nothing outside the scratch directory, a dump that would fill the disk, burn
//! the CPU or eat the memory is stopped at its limit with a clear verdict, the server and the
//! client run as the sandbox user with no secret on their command line or in their environment,
//! and the restore test gives way to a backup.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simdondar_backup::backup::busy;
use simdondar_backup::backup::restore_test::{
    restore_test_with, RestoreTestError, RestoreTestReport, Settings,
};
use simdondar_backup::backup::sandbox::{Limits, SANDBOX_USER};

use super::restore_test::{assert_nothing_left, count, hand_made_backup};
use crate::support::sandbox::reachable_tempdir;

/// The places a crafted dump aims at.
struct Bait {
    _dir: tempfile::TempDir,
    /// World-writable (1777): only the sandbox can stop a write here.
    out: PathBuf,
    /// Readable by every user (0644, in a folder everyone may pass): only the sandbox can stop a
    /// read of it.
    secret: PathBuf,
    /// Root's only (0600), like the agent's configuration.
    root_secret: PathBuf,
    /// A named pipe: whoever opens it for reading is seen by [`Bait::fifo_opened`].
    fifo: PathBuf,
}

impl Bait {
    fn new() -> Bait {
        let dir = reachable_tempdir();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let secret = dir.path().join("rahasia.txt");
        std::fs::write(&secret, "webhook=https://hooks.example/TOKEN-RAHASIA\n").expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let root_secret = dir.path().join("config.toml");
        std::fs::write(&root_secret, "password = \"rahasia-root\"\n").expect("write");
        std::fs::set_permissions(&root_secret, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let fifo = dir.path().join("pipa");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666))
            .expect("mkfifo");
        Bait {
            _dir: dir,
            out,
            secret,
            root_secret,
            fifo,
        }
    }

    fn fill(&self, dump: &str) -> String {
        dump.replace("@OUT@", &self.out.display().to_string())
            .replace("@ROOTSECRET@", &self.root_secret.display().to_string())
            .replace("@SECRET@", &self.secret.display().to_string())
            .replace("@FIFO@", &self.fifo.display().to_string())
    }

    /// What was written into the world-writable folder.
    fn written(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.out)
            .expect("ls")
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

/// Whether anything holds the pipe open for reading now (a writer's non-blocking open only
/// succeeds then).
fn fifo_opened(fifo: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .is_ok()
}

fn crafted(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile_dumps")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A backup of `dump` as a hostile disk would carry it (checksums and manifest recomputed), with
/// the manifest's counts from the row counter, overridden by `counts`.
fn hostile_backup(root: &Path, dump: &str, counts: &[(&str, u64)]) -> PathBuf {
    let mut tables: BTreeMap<String, u64> = count(dump.as_bytes(), usize::MAX);
    for (t, n) in counts {
        tables.insert(t.to_string(), *n);
    }
    hand_made_backup(root, dump.as_bytes(), &tables)
}

/// Runs the restore test on a crafted dump while watching the pipe.
fn run(
    bait: &Bait,
    name: &str,
    counts: &[(&str, u64)],
    limits: Option<Limits>,
) -> (RestoreTestReport, bool) {
    let root = reachable_tempdir();
    let data = hostile_backup(root.path(), &bait.fill(&crafted(name)), counts);
    let work = root.path().join("work");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, seen, fifo) = (stop.clone(), seen.clone(), bait.fifo.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if fifo_opened(&fifo) {
                    seen.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let r = restore_test_with(
        &data,
        &Settings {
            work_dir: work.clone(),
            state_dir: None,
            limits,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: the restore test must reach a verdict: {e}"));
    stop.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    assert_nothing_left(&work);
    (r, seen.load(Ordering::SeqCst))
}

fn problems(r: &RestoreTestReport) -> String {
    r.problems.join(" | ")
}

#[test]
fn crafted_dumps_write_nothing_and_read_nothing_outside_the_scratch_directory() {
    let bait = Bait::new();

    // SELECT … INTO DUMPFILE as the loading account: it has no FILE privilege.
    let (r, _) = run(&bait, "into-dumpfile.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("loading the dump into the test server failed")
            && problems(&r).contains("FILE"),
        "{}",
        r.summary()
    );

    // INTO OUTFILE inside a procedure whose definer is root: root has only SELECT while the dump
    // loads (and --secure-file-priv would still stand behind it).
    let (r, _) = run(&bait, "into-outfile-definer.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("denied to user 'root'@'localhost'"),
        "{}",
        r.summary()
    );

    // LOAD_FILE of a file every user may read, as the loader: nothing comes back, and the
    // control row shows the statements ran; through root's procedure: not even run.
    let (r, _) = run(&bait, "load-file.sql", &[("uji.control", 1)], None);
    assert!(
        problems(&r).contains("denied to user 'root'@'localhost'"),
        "{}",
        r.summary()
    );
    let actual = |t: &str| {
        r.tables
            .iter()
            .find(|c| c.table == t)
            .and_then(|c| c.actual)
    };
    assert_eq!(
        actual("uji.probe"),
        Some(0),
        "LOAD_FILE as the loader read the file"
    );
    assert_eq!(
        actual("uji.probe_root"),
        Some(0),
        "LOAD_FILE as root read a file"
    );
    assert_eq!(actual("uji.control"), Some(1), "the statements ran");

    // LOAD DATA LOCAL INFILE: the client never opens the file.
    let (r, opened) = run(&bait, "load-data-local.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        !opened,
        "the client opened the named pipe: LOAD DATA LOCAL read a local file"
    );
    assert!(
        problems(&r).contains("loading the dump into the test server failed"),
        "{}",
        r.summary()
    );

    // LOAD DATA INFILE on the server: no FILE privilege, so access is denied.
    let (r, _) = run(&bait, "load-data-server.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("Access denied for user 'loader'"),
        "{}",
        r.summary()
    );

    // INSTALL SONAME of a real Debian plugin (server_audit writes wherever it is told) and
    // CREATE FUNCTION … SONAME: the plugin folder is empty.
    assert!(
        Path::new("/usr/lib/mysql/plugin/server_audit.so").exists(),
        "the plugin the dump tries to load must exist outside the sandbox for this to prove \
         anything: apt-get install mariadb-server"
    );
    let (r, _) = run(&bait, "plugin-soname.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("server_audit"),
        "the refusal names the plugin: {}",
        r.summary()
    );

    // SET GLOBAL general_log_file in a procedure whose definer is root (the general log goes
    // wherever it is told): root has only SELECT while the dump loads, so no SUPER.
    let (r, _) = run(&bait, "set-global-definer.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("denied to user 'root'@'localhost'"),
        "{}",
        r.summary()
    );

    // CREATE TABLE … DATA DIRECTORY outside the data directory (the loader needs no FILE for
    // it): ignored with a warning, the table stays in the scratch data directory, and restores.
    let (r, _) = run(&bait, "data-directory.sql", &[], None);
    assert!(r.passed, "{}", r.summary());
    assert_eq!(
        bait.written(),
        Vec::<PathBuf>::new(),
        "the table's files were put outside the scratch directory"
    );

    // The client's own commands: \! (shell), system, \. (source), tee, and \! after a
    // statement on the same line. Binary mode does not know them and sandbox mode forbids them;
    // each ends the load with the client's refusal.
    for name in [
        "shell-escape.sql",
        "shell-system.sql",
        "source-file.sql",
        "tee-file.sql",
        "shell-escape-inline.sql",
    ] {
        let (r, _) = run(&bait, name, &[], None);
        assert!(!r.passed, "{name}: {}", r.summary());
        assert!(
            problems(&r).contains("loading the dump into the test server failed"),
            "{name}: {}",
            r.summary()
        );
    }

    assert_eq!(
        bait.written(),
        Vec::<PathBuf>::new(),
        "nothing may be written outside the scratch directory"
    );
}

#[test]
fn a_dump_that_would_fill_the_disk_is_stopped_at_its_limit() {
    let bait = Bait::new();
    let started = Instant::now();
    let (r, _) = run(&bait, "fill-disk.sql", &[], None);
    assert!(!r.passed, "{}", r.summary());
    let p = problems(&r);
    assert!(
        p.starts_with("the restore test was stopped: the restored database grew to"),
        "{}",
        r.summary()
    );
    assert!(
        p.contains("past the restore test's limit of 256 MiB"),
        "{p}"
    );
    assert!(
        r.tables.iter().all(|t| t.actual.is_none()),
        "no counts from a stopped server"
    );
    eprintln!(
        "fill-disk stopped after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn cpu_time_and_memory_limits_stop_the_server_with_a_clear_verdict() {
    let bait = Bait::new();
    let tight = |cpu_seconds, memory| {
        Some(Limits {
            cpu_seconds,
            memory,
            ..Limits::for_dump(0)
        })
    };
    let started = Instant::now();
    let (r, _) = run(&bait, "burn-cpu.sql", &[], tight(4, 1 << 30));
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("of CPU time"),
        "the verdict names the CPU limit: {}",
        r.summary()
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the CPU limit took {:?}",
        started.elapsed()
    );

    // A dump that only sleeps uses no CPU: the wall-clock limit stops it.
    let started = Instant::now();
    let (r, _) = run(
        &bait,
        "slow.sql",
        &[],
        Some(Limits {
            wall_seconds: 3,
            ..Limits::for_dump(0)
        }),
    );
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("did not finish within the restore test's limit of 3 s"),
        "{}",
        r.summary()
    );
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "not the dump's 60 s"
    );

    let (r, _) = run(&bait, "eat-memory.sql", &[], tight(600, 400 << 20));
    assert!(!r.passed, "{}", r.summary());
    assert!(
        problems(&r).contains("of memory, past the restore test's limit of 400 MiB"),
        "{}",
        r.summary()
    );
}

/// The processes of a restore test running in `work`: (pid, uid, cmdline, environ).
fn processes_in(work: &Path) -> Vec<(u32, u32, String, String)> {
    let needle = work.display().to_string();
    let mut found = Vec::new();
    for p in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(&needle) {
            continue;
        }
        let environ = std::fs::read(p.path().join("environ"))
            .map(|e| String::from_utf8_lossy(&e).replace('\0', " "))
            .unwrap_or_default();
        let uid = p.path().metadata().map(|m| m.uid()).unwrap_or(u32::MAX);
        found.push((pid, uid, cmdline, environ));
    }
    found
}

#[test]
fn server_and_client_run_as_the_sandbox_user_without_secrets_and_give_way_to_a_backup() {
    let bait = Bait::new();
    let root = reachable_tempdir();
    let state = root.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    let data = hostile_backup(root.path(), &crafted("slow.sql"), &[]);
    let work = root.path().join("work");
    let settings = Settings {
        work_dir: work.clone(),
        state_dir: Some(state.clone()),
        limits: None,
    };
    let sandbox_uid = nix::unistd::User::from_name(SANDBOX_USER)
        .expect("users")
        .expect("the sandbox user exists")
        .uid
        .as_raw();

    // A backup runs: the restore test does not start.
    let held = busy::hold(&state);
    match restore_test_with(&data, &settings) {
        Err(RestoreTestError::Yielded) => {}
        other => panic!("expected Yielded while a backup runs, got {other:?}"),
    }
    drop(held);

    // It runs (the dump sleeps): look at its processes, then start a backup.
    let t = {
        let (data, settings) = (data.clone(), settings.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            (restore_test_with(&data, &settings), started.elapsed())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = processes_in(&work);
        let client = seen.iter().any(|(_, _, c, _)| c.contains("--sandbox"));
        let server = seen.iter().any(|(_, _, c, _)| c.contains("mariadbd"));
        if client && server {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.iter().any(|(_, _, c, _)| c.contains("--sandbox")),
        "the loading client was never seen: {seen:?}"
    );
    for (pid, uid, cmdline, environ) in &seen {
        if cmdline.contains("mariadbd") || cmdline.contains("--sandbox") {
            assert_eq!(*uid, sandbox_uid, "{pid} runs as uid {uid}: {cmdline}");
        }
        for secret in ["password", "MYSQL_PWD", "-p"] {
            assert!(
                !cmdline.split(' ').any(|a| a.starts_with(secret)),
                "{pid}: {cmdline}"
            );
        }
        assert!(!environ.contains("MYSQL_PWD"), "{pid}: {environ}");
        assert!(
            !environ.contains("password") && !environ.contains("TOKEN"),
            "{pid}: {environ}"
        );
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        let cpu = limits
            .lines()
            .find(|l| l.starts_with("Max cpu time"))
            .unwrap_or_default();
        assert!(!cpu.contains("unlimited"), "{pid} has no CPU limit: {cpu}");
    }

    // The loader's password exists only in its 0600 option file: no process shows it.
    let cnf = std::fs::read_dir(&work)
        .expect("work")
        .flatten()
        .map(|e| e.path().join("loader.cnf"))
        .find(|p| p.exists())
        .expect("the loader's option file");
    let meta = std::fs::metadata(&cnf).expect("stat");
    assert_eq!(meta.mode() & 0o777, 0o600, "{}", cnf.display());
    assert_eq!(meta.uid(), sandbox_uid, "{}", cnf.display());
    let password = std::fs::read_to_string(&cnf)
        .expect("read")
        .lines()
        .find_map(|l| l.strip_prefix("password=").map(str::to_string))
        .expect("a password line");
    assert!(password.len() >= 32, "a random password");
    let scan = crate::support::procscan::ProcScan::start(&[("loader password", &password)]);
    std::thread::sleep(Duration::from_millis(1500));
    scan.stop().assert_clean_while(&["mariadbd", "mariadb"]);

    let asked = Instant::now();
    let held = busy::hold(&state);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "the backup waited {:?} on the restore test",
        asked.elapsed()
    );
    let (result, took) = t.join().expect("thread");
    match result {
        Err(RestoreTestError::Yielded) => {}
        other => panic!("expected the restore test to give way, got {other:?}"),
    }
    assert!(
        took < Duration::from_secs(55),
        "it gave way at once, not after the dump's 60 s sleep ({took:?})"
    );
    assert_nothing_left(&work);
    drop(held);
    assert!(bait.written().is_empty());
}
