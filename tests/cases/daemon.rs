//! The daemon end to end: `run --sim` with a real MariaDB, real udevd and loop disks, an
//! accelerated clock; scheduled backups, `press` and `press --long`, the simulated panel; SIGTERM
//! and SIGKILL during a run, then a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::agent::{files_under, final_named, show, Setup, PASSWORD};
use crate::support::daemon::Daemon;
use crate::support::loopfs::LoopDisk;
use crate::support::mariadb::MariaDb;
use crate::support::udev::{disks_lock, Events};

fn status(setup: &Setup) -> serde_json::Value {
    let out = setup
        .cmd()
        .args(["status", "--json"])
        .output()
        .expect("status");
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

fn db_setup(db: &MariaDb, extra: &str) -> Setup {
    let setup = Setup::for_db(db, PASSWORD);
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(&setup.config, format!("{extra}\n{text}")).expect("config");
    setup
}

fn data_on(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".sql.zst"))
        .collect()
}

#[test]
fn scheduled_runs_button_and_long_press_with_real_disks() {
    let _lock = disks_lock();
    let db = MariaDb::start();
    db.seed(0);
    db.create_backup_user("backup", PASSWORD);
    // Top-level keys must come before the first table: prepend them.
    let setup = db_setup(&db, "");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!("{text}\n[disks]\nmatch = \"any\"\nlabel_prefix = \"SIMBAK\"\n[panel]\nkind = \"sim\"\n[agent]\nschedule_offset = \"0\"\n[encryption]\nrequire_for = []\n"),
    )
    .expect("config");
    let events = Events::start();
    let hdd = LoopDisk::create("ext4", "HDD-AUTO", 64);
    let flash = LoopDisk::create("exfat", "SIMBAK01", 64);
    events.wait_present(&hdd.device, Duration::from_secs(15));
    events.wait_present(&flash.device, Duration::from_secs(15));
    let e = setup
        .cmd()
        .args(["disk", "enroll", &hdd.device, "--role", "auto"])
        .output()
        .expect("enroll");
    assert!(e.status.success(), "{}", show(&e));

    // One hour of schedule = 10 s.
    let mut d = Daemon::start(&setup, 360);
    let sched_ok = |setup: &Setup| {
        setup
            .runs()
            .iter()
            .filter(|r| r.trigger == "schedule" && r.status == "ok")
            .count()
    };
    d.wait_until(Duration::from_secs(60), "two scheduled backups", || {
        sched_ok(&setup) >= 2
    });
    let st = status(&setup);
    // Only this test's disks: other loop devices may exist on the machine (match = "any").
    let ours = [hdd.device.as_str(), flash.device.as_str()];
    let disks: Vec<_> = st["daemon"]["disks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|x| {
            x["dev"]["devnode"]
                .as_str()
                .is_some_and(|d| ours.contains(&d))
        })
        .collect();
    assert_eq!(disks.len(), 2, "{st}");
    // Scheduled runs write to the auto disk only.
    let runs = setup.runs();
    let sched = runs
        .iter()
        .find(|r| r.trigger == "schedule" && r.status == "ok")
        .expect("a run");
    let cat = simdondar_backup::catalog::Catalog::open(&setup.state).expect("catalog");
    let copies = cat.copies_of(sched.id).expect("copies");
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].role.as_deref(), Some("auto"));

    // The button: a manual backup onto every attached disk, then the manual disk is ejected.
    let p = setup.cmd().arg("press").output().expect("press");
    assert!(p.status.success(), "{}", show(&p));
    d.wait_until(
        Duration::from_secs(60),
        "the button's backup and the eject",
        || {
            let st = status(&setup);
            st["daemon"]["disks"].as_array().is_some_and(|ds| {
                ds.iter().any(|x| {
                    x["phase"] == "safe_to_remove" && x["dev"]["devnode"] == flash.device.as_str()
                })
            })
        },
    );
    let button = setup
        .runs()
        .into_iter()
        .find(|r| r.trigger == "button")
        .expect("button run");
    assert_eq!(button.status, "ok", "{button:?}");
    let copies = cat.copies_of(button.id).expect("copies");
    let mut roles: Vec<_> = copies
        .iter()
        .map(|c| c.role.clone().unwrap_or_default())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        ["auto", "manual"],
        "the button writes to every attached disk"
    );
    assert!(
        !setup.our_mounts().iter().any(|m| m.contains(&flash.device)),
        "the manual disk is unmounted before it is called safe to remove"
    );
    let st = status(&setup);
    assert!(st["daemon"]["last_manual_copy"].is_string(), "{st}");

    // A second daemon refuses to start and leaves the first one's disks alone.
    let mounts_before = setup.our_mounts();
    let second = setup
        .cmd()
        .args(["run", "--sim"])
        .output()
        .expect("second daemon");
    assert_eq!(second.status.code(), Some(1), "{}", show(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another simdondar-backup daemon is running"),
        "{}",
        show(&second)
    );
    assert_eq!(setup.our_mounts(), mounts_before);

    // A long press with no manual disk mounted has nothing to eject, and says so.
    let p = setup
        .cmd()
        .args(["press", "--long"])
        .output()
        .expect("press --long");
    assert!(p.status.success(), "{}", show(&p));

    // SIGTERM: a clean stop, no mount left behind.
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
    assert!(setup.our_mounts().is_empty(), "{:?}", setup.our_mounts());
    assert!(!setup.runtime.join("control.sock").exists());
}

#[test]
fn sigterm_and_sigkill_during_a_run_then_restart() {
    let _lock = disks_lock();
    let db = MariaDb::start();
    db.seed(40);
    db.create_backup_user("backup", PASSWORD);
    let setup = db_setup(&db, "");
    let target = setup.target("hdd");
    let text = std::fs::read_to_string(&setup.config).expect("config");
    std::fs::write(
        &setup.config,
        format!(
            "{text}\n[[target]]\npath = \"{}\"\n[panel]\nkind = \"none\"\n",
            target.display()
        ),
    )
    .expect("config");
    let partial_growing = |t: &Path| {
        files_under(t).iter().any(|p| {
            p.to_string_lossy().ends_with(".partial")
                && std::fs::metadata(p)
                    .map(|m| m.len() > (1 << 20))
                    .unwrap_or(false)
        })
    };

    // A first daemon makes a good backup, then is stopped.
    let mut d = Daemon::start(&setup, 1);
    d.wait_until(Duration::from_secs(90), "the first backup", || {
        data_on(&target).len() == 1
    });
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
    let earlier = final_named(&target);

    // SIGTERM during a run: the run is stopped cleanly and recorded; nothing incomplete is kept.
    let mut d = Daemon::start(&setup, 1);
    let p = setup.cmd().arg("press").output().expect("press");
    assert!(p.status.success(), "{}", show(&p));
    d.wait_until(Duration::from_secs(60), "the run to write", || {
        partial_growing(&target)
    });
    let t0 = Instant::now();
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "stopped in {:?}",
        t0.elapsed()
    );
    assert_eq!(
        final_named(&target),
        earlier,
        "only the earlier backup carries a final name"
    );
    let runs = setup.runs();
    assert_eq!(runs[0].status, "failed");
    assert!(
        runs[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("shut down"),
        "{:?}",
        runs[0].reason
    );

    // SIGKILL during a run: the restart records the interrupted run and removes the leftovers.
    let mut d = Daemon::start(&setup, 1);
    let p = setup.cmd().arg("press").output().expect("press");
    assert!(p.status.success(), "{}", show(&p));
    d.wait_until(Duration::from_secs(60), "the run to write", || {
        partial_growing(&target)
    });
    d.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(setup.runs()[0].status, "running");
    let mut d = Daemon::start(&setup, 1);
    let r = setup.runs();
    let killed = r
        .iter()
        .find(|x| x.reason.as_deref().unwrap_or("").contains("interrupted"))
        .expect("interrupted run recorded");
    assert_eq!(killed.status, "failed");
    let p = setup.cmd().arg("press").output().expect("press");
    assert!(p.status.success(), "{}", show(&p));
    d.wait_until(
        Duration::from_secs(90),
        "a good backup after the restart",
        || data_on(&target).len() >= 2,
    );
    d.wait_until(Duration::from_secs(30), "the run to finish", || {
        setup.runs()[0].status != "running"
    });
    // The run's paperwork (receipts, the month's report) is written after the run is recorded,
    // each through a `.partial` name: give it time, then nothing may be left.
    let partials = || -> Vec<_> {
        files_under(&target)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".partial"))
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !partials().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let leftovers = partials();
    assert!(
        leftovers.is_empty(),
        "the killed run's partial file is removed: {leftovers:?}"
    );
    for e in &earlier {
        assert!(e.exists(), "{} must survive", e.display());
    }
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
    assert!(setup.our_mounts().is_empty());
}

/// `run` with a configuration it cannot use does not exit: it shows the place of the error on the
/// panel with the red LED, keeps running, and starts for real once the file is fixed.
#[test]
fn a_broken_config_is_shown_and_waited_for_then_used() {
    let setup = Setup::with_sources(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"echo\", \"x\"]\n",
        "",
    );
    let good = std::fs::read_to_string(&setup.config).expect("config");
    // Line 1 of the file is the unknown key.
    std::fs::write(&setup.config, format!("intervl = \"1h\"\n{good}")).expect("config");
    let mut d = Daemon::spawn(&setup, 1);
    let leds = setup.state.join("panel").join("leds.json");
    let red_on = || {
        std::fs::read(&leds)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["red"] == "on" && v["green"] == "off")
    };
    d.wait_until(Duration::from_secs(20), "the red LED", red_on);
    assert!(setup.state.join("panel").join("oled.png").exists());
    // Through at least one re-read, still waiting and still saying where the problem is.
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        d.running(),
        "the daemon exited on a bad config:\n{}",
        d.log()
    );
    let text = d.log();
    assert!(
        text.contains("config.toml:1:1") && text.contains("intervl"),
        "the log names the file, line, column and key:\n{text}"
    );
    assert!(
        std::os::unix::net::UnixStream::connect(setup.runtime.join("control.sock")).is_err(),
        "no control socket while the configuration is unusable"
    );

    // Fixed: the daemon proper starts with it, and answers on its socket.
    std::fs::write(&setup.config, &good).expect("config");
    let sock = setup.runtime.join("control.sock");
    d.wait_until(
        Duration::from_secs(20),
        "the control socket after the fix",
        || std::os::unix::net::UnixStream::connect(&sock).is_ok(),
    );
    let st = status(&setup);
    assert!(st.is_object(), "{st}");
    assert!(d.log().contains("is valid now"), "{}", d.log());
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
}

/// While waiting for a configuration, SIGTERM stops it cleanly (exit 0).
#[test]
fn a_broken_config_daemon_stops_on_sigterm() {
    let setup = Setup::with_sources("", "");
    // A value that is wrong, in a file that still parses: the panel draws under its state_dir.
    std::fs::write(
        &setup.config,
        format!(
            "state_dir = \"{}\"\ntimezone = \"Mars/Olympus\"\n",
            setup.state.display()
        ),
    )
    .expect("config");
    let mut d = Daemon::spawn(&setup, 1);
    d.wait_until(Duration::from_secs(20), "the error in the log", || {
        d.log().contains("config.toml:2:")
    });
    // The panel draws the error just after it is logged (on a loaded machine, seconds after).
    let leds = setup.state.join("panel").join("leds.json");
    d.wait_until(
        Duration::from_secs(20),
        "the panel's LEDs under state_dir",
        || leds.exists(),
    );
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
}

/// A flashdisk whose FUSE driver stops while the daemon holds it mounted: SIGTERM still stops the
/// daemon well inside systemd's 90 s (the unmount gives up, the driver is cut off), and a new
/// daemon starts past the dead mount.
#[test]
fn a_frozen_disk_does_not_keep_the_daemon_from_stopping_or_starting() {
    let _lock = disks_lock();
    let setup = Setup::with_sources(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo data\"]\nextension = \"txt\"\n",
        "[disks]\nmatch = \"any\"\nlabel_prefix = \"SIMBAK\"\n[panel]\nkind = \"none\"\n[encryption]\nrequire_for = []\n[agent]\nstall_timeout = \"3s\"\n",
    );
    let events = Events::start();
    let flash = LoopDisk::create("exfat", "SIMBAKFRZ", 64);
    events.wait_present(&flash.device, Duration::from_secs(15));
    let mut d = Daemon::start(&setup, 1);
    let mounted = || {
        status(&setup)["daemon"]["disks"].as_array().and_then(|ds| {
            ds.iter()
                .find(|x| x["dev"]["devnode"] == flash.device.as_str() && x["phase"] == "ready")
                .and_then(|x| x["view"]["mounted_at"].as_str().map(PathBuf::from))
        })
    };
    d.wait_until(Duration::from_secs(30), "the flashdisk mounted", || {
        mounted().is_some()
    });
    let point = mounted().expect("mounted");
    let drivers = simdondar_backup::disks::mount::fuse_daemons(&point);
    assert!(
        !drivers.is_empty(),
        "no FUSE driver for {}",
        point.display()
    );
    let resume = |sig| {
        for p in &drivers {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p as i32), sig);
        }
    };
    resume(nix::sys::signal::Signal::SIGSTOP);
    let started = Instant::now();
    let code = d.signal(nix::sys::signal::Signal::SIGTERM);
    let took = started.elapsed();
    resume(nix::sys::signal::Signal::SIGCONT);
    assert_eq!(code, Some(0), "{}", d.log());
    assert!(
        took < Duration::from_secs(45),
        "the daemon took {} s to stop with a frozen disk\n{}",
        took.as_secs(),
        d.log()
    );
    assert!(
        simdondar_backup::disks::mount::mount_at(&point).is_none(),
        "the frozen disk's mount is gone"
    );
    // A new daemon starts and answers.
    let mut again = Daemon::start(&setup, 1);
    assert_eq!(again.signal(nix::sys::signal::Signal::SIGTERM), Some(0));
}

/// A monitoring poll is no audit event (it must not write the SD card every 15 s); a press is.
/// And a configured key that was never confirmed lights amber with what to do.
#[test]
fn status_polls_write_no_audit_entry_and_an_unchecked_key_is_amber() {
    let keys = tempfile::tempdir().expect("tmp");
    let key = keys.path().join("k.key");
    let kg = std::process::Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(kg.status.success(), "{}", show(&kg));
    let public = String::from_utf8_lossy(&kg.stdout)
        .split('"')
        .find(|w| w.starts_with("age1"))
        .expect("recipient")
        .to_string();
    let setup = Setup::with_sources(
        "[[source]]\nname = \"files\"\nkind = \"command\"\ncommand = [\"echo\", \"x\"]\n",
        &format!("[panel]\nkind = \"sim\"\n[encryption]\nrecipients = [\"{public}\"]\nrequire_for = [\"manual\"]\n"),
    );
    let mut d = Daemon::start(&setup, 1);
    let audit_rows = || {
        let conn = rusqlite::Connection::open(setup.state.join("catalog.sqlite")).expect("open");
        conn.query_row("SELECT count(*) FROM audit", [], |r| r.get::<_, i64>(0))
            .expect("count")
    };
    // The amber reason arrives within a tick or two.
    d.wait_until(
        Duration::from_secs(20),
        "the key-check reason in status",
        || status(&setup).to_string().contains("key_check_due"),
    );
    let before = audit_rows();
    for _ in 0..10 {
        status(&setup);
    }
    assert_eq!(audit_rows(), before, "status polls were audited");
    let out = setup.cmd().args(["press"]).output().expect("press");
    assert!(out.status.success(), "{}", show(&out));
    assert!(audit_rows() > before, "a press is an audit event");
    assert_eq!(
        d.signal(nix::sys::signal::Signal::SIGTERM),
        Some(0),
        "{}",
        d.log()
    );
}
