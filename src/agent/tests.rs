//! Tests of the pure `step`: a simulated week with a power cut and clock jumps, the button during
//! a run, a disk removed during a run, reminders raised and cleared.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Timelike, Utc};

use super::state::*;
use super::step::{health, step, Attention, Failure};
use crate::config::{Config, Role};
use crate::disks::device::{BlockDev, DiskEvent};
use crate::disks::DiskView;

const MIN: Mono = 60_000;
const HOUR: Mono = 60 * MIN;
const DAY: Mono = 24 * HOUR;

fn config() -> Config {
    Config::parse(
        Path::new("/t.toml"),
        "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/run/mysqld/mysqld.sock\"\nuser = \"backup\"\ndatabases = [\"pmi\"]\n\n\
         [[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"1d\"\n\n\
         [[target]]\npath = \"/srv/backup\"\n\n[disks]\nmatch = \"any\"\n[encryption]\nrequire_for = []\n",
    )
    .expect("test config")
}

fn wib(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Jakarta
        .with_ymd_and_hms(2026, 11, d, h, m, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc)
}

/// Drives a state through time; finishes every started job one minute later.
struct Sim {
    s: State,
    mono: Mono,
    wall: DateTime<Utc>,
    runs: Vec<(DateTime<Utc>, Vec<String>, JobTrigger)>,
    pending: Option<(u64, Vec<String>, Mono, bool)>,
    fail_next: bool,
    actions: Vec<Action>,
}

impl Sim {
    fn new(history: &History, wall: DateTime<Utc>) -> Sim {
        Sim {
            s: State::new(&config(), history, DEFAULT_OFFSET),
            mono: 0,
            wall,
            runs: Vec::new(),
            pending: None,
            fail_next: false,
            actions: Vec::new(),
        }
    }

    fn feed(&mut self, e: Event) {
        let acts = step(&mut self.s, e);
        for a in &acts {
            if let Action::StartJob(j) = a {
                self.runs.push((self.wall, j.sources.clone(), j.trigger));
                let manual = j.targets.iter().any(|t| t.role == Role::Manual);
                self.pending = Some((j.id, j.sources.clone(), self.mono + MIN, manual));
            }
        }
        self.actions.extend(acts);
    }

    /// Advances both clocks by `by` in one-minute ticks.
    fn advance(&mut self, by: Mono) {
        let end = self.mono + by;
        while self.mono < end {
            self.mono += MIN;
            self.wall += chrono::Duration::milliseconds(MIN);
            self.tick();
        }
    }

    fn tick(&mut self) {
        if let Some((id, sources, at, manual)) = self.pending.clone() {
            if at <= self.mono {
                self.pending = None;
                let ok = !self.fail_next;
                let results = sources
                    .iter()
                    .map(|n| SourceResult {
                        source: n.clone(),
                        ok,
                        reason: (!ok).then(|| "database unreachable at socket x".into()),
                        copies_ok: ok as u32,
                        copies_total: 1,
                        manual_copy: ok && manual,
                        db_unreachable: !ok,
                        failure: (!ok).then_some(crate::kinds::RunFailure::DatabaseUnreachable),
                        bytes_stored: Some(1000),
                        stuck: Vec::new(),
                    })
                    .collect();
                self.feed(Event::JobFinished { id, results });
            }
        }
        self.feed(Event::Tick {
            mono: self.mono,
            wall: self.wall,
            synced: true,
        });
    }

    fn scheduled_runs_of(&self, name: &str) -> Vec<DateTime<Utc>> {
        self.runs
            .iter()
            .filter(|(_, s, t)| *t == JobTrigger::Schedule && s.iter().any(|x| x == name))
            .map(|(w, _, _)| *w)
            .collect()
    }
}

fn history_with_last_run(t: DateTime<Utc>) -> History {
    let mut h = History::default();
    h.last_run.insert("pmi".into(), t);
    h.last_run.insert("program".into(), t);
    h.last_ok.insert("pmi".into(), t);
    h.last_ok.insert("program".into(), t);
    h.last_manual_copy = Some(t);
    h
}

#[test]
fn a_week_of_hourly_runs_aligned_to_the_clock() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.advance(7 * DAY);
    let runs = sim.scheduled_runs_of("pmi");
    // 10:30 is inside the 10:02 slot, which already ran: the first run is at 11:02.
    assert_eq!(runs[0], wib(23, 11, 2));
    assert_eq!(runs.len(), 7 * 24, "one run per hour for a week");
    assert!(
        runs.iter().all(|t| t.minute() == 2),
        "every run at two past the hour"
    );
    // The daily source runs once a day, at 00:02 WIB.
    let daily = sim.scheduled_runs_of("program");
    assert_eq!(daily.len(), 7);
    for t in daily {
        let local = t.with_timezone(&chrono_tz::Asia::Jakarta);
        assert_eq!((local.hour(), local.minute()), (0, 2));
    }
}

#[test]
fn a_power_cut_runs_the_missed_backup_once_at_start() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.advance(2 * DAY);
    let before = sim.runs.len();
    let last = sim.runs.last().map(|r| r.0).expect("runs");
    // Power cut for 5 hours 40 minutes: the agent restarts with a fresh monotonic clock.
    let mut h = history_with_last_run(last);
    h.last_manual_copy = sim.s.last_manual_copy;
    let mut again = Sim::new(&h, sim.wall + chrono::Duration::minutes(340));
    again.tick();
    assert_eq!(
        again.runs.len(),
        1,
        "one job at start, not one per missed slot"
    );
    // The daily source already ran in today's slot before the cut: only the hourly one is due.
    assert_eq!(again.runs[0].1, vec!["pmi".to_string()]);
    again.advance(59 * MIN);
    let first_hour: Vec<_> = again.scheduled_runs_of("pmi");
    assert_eq!(
        first_hour.len(),
        2,
        "then the next aligned slot: {first_hour:?}"
    );
    assert_eq!(first_hour[1].minute(), 2);
    assert!(before > 0);
}

#[test]
fn clock_jumps_cause_no_burst_and_no_skipped_day() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.advance(3 * HOUR);
    let n0 = sim.scheduled_runs_of("pmi").len();
    // NTP steps the clock forward by 5 hours.
    sim.wall += chrono::Duration::hours(5);
    sim.advance(2 * HOUR);
    let n1 = sim.scheduled_runs_of("pmi").len();
    assert!(
        n1 - n0 <= 3,
        "no burst after a forward jump: {} runs in 2 h",
        n1 - n0
    );
    // And back by 7 hours.
    sim.wall -= chrono::Duration::hours(7);
    sim.advance(2 * HOUR);
    let n2 = sim.scheduled_runs_of("pmi").len();
    assert!(
        (1..=3).contains(&(n2 - n1)),
        "no burst and no stall after a backward jump: {}",
        n2 - n1
    );
    // Over the next full day every hour still gets its backup.
    sim.advance(DAY);
    let n3 = sim.scheduled_runs_of("pmi").len();
    assert!((23..=25).contains(&(n3 - n2)), "{} runs in a day", n3 - n2);
    assert!(
        !sim.scheduled_runs_of("program").is_empty(),
        "the daily source ran"
    );
}

fn disk(devnode: &str, label: &str, role: Option<Role>) -> (BlockDev, DiskView) {
    let dev = BlockDev {
        devnode: PathBuf::from(devnode),
        sysname: devnode.trim_start_matches("/dev/").into(),
        devnum: "7:0".into(),
        devtype: "disk".into(),
        fs_type: Some("exfat".into()),
        fs_uuid: Some(format!("UUID-{label}")),
        fs_label: Some(label.into()),
        bus: Some("usb".into()),
        size_bytes: 64 << 30,
        model: None,
        syspath: PathBuf::from("/sys/x"),
    };
    let view = DiskView {
        role,
        mounted_at: role.map(|_| PathBuf::from(format!("/run/s/disks/UUID-{label}"))),
        free_bytes: Some(32 << 30),
        ..DiskView::of(&dev)
    };
    (dev, view)
}

fn plug(sim: &mut Sim, devnode: &str, label: &str, role: Option<Role>) {
    let (dev, view) = disk(devnode, label, role);
    sim.feed(Event::Disk(DiskEvent::Present(dev)));
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::CheckDisk(d) if d.devnode == Path::new(devnode))));
    sim.feed(Event::DiskChecked(view));
}

#[test]
fn button_during_a_run_is_answered_and_not_queued_twice_then_ejects_the_manual_disk() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdb1", "HDD", Some(Role::Auto));
    plug(&mut sim, "/dev/sdc1", "SIMBAK01", Some(Role::Manual));
    sim.advance(32 * MIN); // the 11:02 run starts
    assert!(sim.s.running.is_some());
    let running_targets = sim.actions.iter().rev().find_map(|a| match a {
        Action::StartJob(j) => Some(j.targets.clone()),
        _ => None,
    });
    assert!(
        running_targets
            .expect("job")
            .iter()
            .all(|t| t.role == Role::Auto),
        "scheduled runs write to auto disks and static targets only"
    );
    // During a scheduled run a press queues one manual backup and says so; a second press is
    // acknowledged and still one.
    sim.feed(Event::Button(Press::Short));
    assert_eq!(sim.s.notice.map(|n| n.0), Some(Notice::ManualQueued));
    sim.feed(Event::Button(Press::Short));
    assert_eq!(sim.s.queue.len(), 1, "a second press is not queued twice");
    assert_eq!(sim.s.notice.map(|n| n.0), Some(Notice::ManualAlreadyQueued));
    sim.actions.clear();
    sim.advance(2 * MIN); // scheduled job ends, the button job starts and ends
    let button_job = sim
        .runs
        .iter()
        .find(|r| r.2 == JobTrigger::Button)
        .expect("button job ran");
    assert_eq!(
        button_job.1,
        vec!["pmi".to_string()],
        "the button backs up the database sources"
    );
    let eject = sim.actions.iter().find_map(|a| match a {
        Action::Eject { devnodes } => Some(devnodes.clone()),
        _ => None,
    });
    assert_eq!(
        eject,
        Some(vec![PathBuf::from("/dev/sdc1")]),
        "then every manual disk is ejected"
    );
    sim.feed(Event::Ejected {
        devnode: "/dev/sdc1".into(),
        result: Ok(()),
    });
    assert!(
        matches!(&sim.s.overlay, Some((Overlay::SafeToRemove { labels }, _)) if labels == &vec!["SIMBAK01".to_string()])
    );
    assert!(sim.s.last_manual_copy == Some(sim.wall) || sim.s.last_manual_copy.is_some());
    // Pulling it clears the screen.
    sim.feed(Event::Disk(DiskEvent::Removed {
        devnode: "/dev/sdc1".into(),
        devnum: "8:33".into(),
    }));
    assert!(sim.s.overlay.is_none());
}

#[test]
fn a_press_with_no_disk_is_answered_by_the_failure_not_by_a_queued_notice() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.s.static_targets.clear();
    sim.tick();
    sim.feed(Event::Button(Press::Short));
    assert!(sim.s.running.is_none() && sim.s.queue.is_empty());
    assert!(
        matches!(&sim.s.overlay, Some((Overlay::BackupFailed { .. }, _))),
        "{:?}",
        sim.s.overlay
    );
    assert_eq!(
        sim.s.notice, None,
        "no 'queued' for a backup that already failed"
    );
}

#[test]
fn a_press_while_idle_starts_a_manual_backup_and_says_so() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdc1", "SIMBAK01", Some(Role::Manual));
    sim.feed(Event::Button(Press::Short));
    assert_eq!(
        sim.s.running.as_ref().map(|r| r.trigger),
        Some(JobTrigger::Button)
    );
    assert_eq!(sim.s.notice.map(|n| n.0), Some(Notice::ManualStarted));
    // Pressed again while it runs: it is the same backup.
    sim.feed(Event::Button(Press::Short));
    assert_eq!(
        sim.s.notice.map(|n| n.0),
        Some(Notice::BackupAlreadyRunning)
    );
    assert!(sim.s.queue.is_empty());
}

#[test]
fn a_failed_backup_is_explained_for_the_way_it_was_started() {
    use crate::panel::texts::StartedBy;
    for (trigger, want) in [(true, StartedBy::Button), (false, StartedBy::Command)] {
        let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
        sim.tick();
        if trigger {
            sim.feed(Event::Button(Press::Short));
        } else {
            sim.feed(Event::Request {
                request: Request::Backup { sources: vec![] },
                reply: 3,
            });
        }
        let (id, sources, _, _) = sim.pending.take().expect("a job runs");
        sim.feed(Event::JobFinished {
            id,
            results: sources
                .iter()
                .map(|n| SourceResult {
                    source: n.clone(),
                    ok: false,
                    reason: Some("/run/s/disks/X: the disk was removed".into()),
                    copies_ok: 0,
                    copies_total: 1,
                    manual_copy: false,
                    db_unreachable: false,
                    failure: Some(crate::kinds::RunFailure::Copy(
                        crate::kinds::CopyFailure::Gone,
                    )),
                    bytes_stored: None,
                    stuck: Vec::new(),
                })
                .collect(),
        });
        match &sim.s.overlay {
            Some((Overlay::BackupFailed { started, .. }, _)) => assert_eq!(*started, want),
            other => panic!("expected the failure overlay, got {other:?}"),
        }
    }
}

#[test]
fn an_eject_of_several_disks_is_answered_by_its_deadline_naming_the_busy_one() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdc1", "SIMBAK01", Some(Role::Manual));
    plug(&mut sim, "/dev/sdd1", "SIMBAK02", Some(Role::Manual));
    sim.actions.clear();
    sim.feed(Event::Request {
        request: Request::Eject { disk: None },
        reply: 5,
    });
    let ejected = sim.actions.iter().find_map(|a| match a {
        Action::Eject { devnodes } => Some(devnodes.clone()),
        _ => None,
    });
    assert_eq!(ejected.map(|d| d.len()), Some(2), "both disks in one eject");
    sim.feed(Event::Ejected {
        devnode: "/dev/sdc1".into(),
        result: Ok(()),
    });
    let replied = |sim: &Sim| {
        sim.actions.iter().find_map(|a| match a {
            Action::Reply { to: 5, response } => Some(response.clone()),
            _ => None,
        })
    };
    assert!(replied(&sim).is_none(), "one disk is still ejecting");
    // The other never finishes: the client is answered by the deadline, not left waiting.
    sim.advance(EJECT_ANSWER_MS - MIN);
    assert!(replied(&sim).is_none(), "not before the deadline");
    sim.advance(MIN);
    let r = replied(&sim).expect("answered at the deadline");
    assert!(!r.ok);
    assert!(
        r.message.contains("SAFE TO REMOVE  /dev/sdc1"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("STILL BUSY  /dev/sdd1") && r.message.contains("do not remove it yet"),
        "{}",
        r.message
    );
}

#[test]
fn long_press_ejects_now_or_after_the_running_job() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.feed(Event::Button(Press::Long));
    assert_eq!(sim.s.notice.map(|n| n.0), Some(Notice::NothingToEject));
    plug(&mut sim, "/dev/sdc1", "FLASH", Some(Role::Manual));
    sim.actions.clear();
    sim.feed(Event::Button(Press::Long));
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Eject { .. })));
    // During a run: the eject waits for the run to finish its writes.
    let mut sim = Sim::new(&history_with_last_run(wib(23, 9, 2)), wib(23, 10, 30));
    plug(&mut sim, "/dev/sdc1", "FLASH", Some(Role::Manual));
    sim.tick();
    assert!(sim.s.running.is_some());
    sim.actions.clear();
    sim.feed(Event::Button(Press::Long));
    assert!(!sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Eject { .. })));
    sim.advance(2 * MIN);
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Eject { .. })));
}

#[test]
fn a_failed_eject_can_be_tried_again_with_the_button() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdc1", "FLASH", Some(Role::Manual));
    sim.feed(Event::Button(Press::Long));
    sim.feed(Event::Ejected {
        devnode: "/dev/sdc1".into(),
        result: Err(crate::disks::EjectError {
            kind: crate::kinds::EjectFailure::InUse,
            message: "/dev/sdc1 is still in use by another program".into(),
        }),
    });
    assert!(matches!(
        &sim.s.overlay,
        Some((Overlay::EjectFailed { .. }, _))
    ));
    assert!(matches!(
        sim.s
            .disks
            .get(&PathBuf::from("/dev/sdc1"))
            .map(|d| &d.phase),
        Some(DiskPhase::Failed(_))
    ));
    assert!(
        health(&sim.s).failures.contains(&Failure::DiskNotSafe {
            label: "FLASH".into()
        }),
        "the red LED stays on while the disk is not safe to pull"
    );
    // The program was closed; a long press tries again.
    sim.actions.clear();
    sim.feed(Event::Button(Press::Long));
    let again = sim.actions.iter().find_map(|a| match a {
        Action::Eject { devnodes } => Some(devnodes.clone()),
        _ => None,
    });
    assert_eq!(again, Some(vec![PathBuf::from("/dev/sdc1")]));
    sim.feed(Event::Ejected {
        devnode: "/dev/sdc1".into(),
        result: Ok(()),
    });
    assert!(matches!(
        &sim.s.overlay,
        Some((Overlay::SafeToRemove { labels }, _)) if labels == &vec!["FLASH".to_string()]
    ));
    assert!(!health(&sim.s)
        .failures
        .iter()
        .any(|f| matches!(f, Failure::DiskNotSafe { .. })));
}

#[test]
fn a_disk_removed_during_a_run() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdb1", "HDD", Some(Role::Auto));
    sim.advance(32 * MIN);
    assert!(sim.s.running.is_some());
    sim.actions.clear();
    sim.feed(Event::Disk(DiskEvent::Removed {
        devnode: "/dev/sdb1".into(),
        devnum: "8:17".into(),
    }));
    assert!(
        sim.actions.contains(&Action::CleanStale),
        "the stale mount is cleaned"
    );
    assert!(sim.s.disks.is_empty());
    // The run reports the failed copy; the loop goes on and the next hour runs again.
    sim.fail_next = true;
    sim.advance(MIN);
    sim.fail_next = false;
    assert!(health(&sim.s)
        .failures
        .iter()
        .any(|f| matches!(f, Failure::DatabaseUnreachable)));
    sim.advance(HOUR);
    assert!(health(&sim.s).failures.is_empty(), "{:?}", health(&sim.s));
}

#[test]
fn reminders_are_raised_and_clear_themselves() {
    let mut h = history_with_last_run(wib(23, 10, 2));
    h.last_manual_copy = Some(wib(19, 10, 0)); // four days ago
    let mut sim = Sim::new(&h, wib(23, 10, 30));
    sim.tick();
    assert!(matches!(
        health(&sim.s).attention[..],
        [Attention::ManualOverdue { days: Some(4) }]
    ));
    // A manual copy clears it.
    plug(&mut sim, "/dev/sdc1", "SIMBAK01", Some(Role::Manual));
    sim.feed(Event::Button(Press::Short));
    sim.advance(2 * MIN);
    assert!(health(&sim.s).attention.is_empty(), "{:?}", health(&sim.s));

    // Two intervals without a successful automatic backup: red, and one notification.
    sim.fail_next = true;
    sim.actions.clear();
    sim.advance(3 * HOUR);
    let h = health(&sim.s);
    assert!(
        h.failures
            .iter()
            .any(|f| matches!(f, Failure::NoAutoBackupFor2Intervals { .. })),
        "{h:?}"
    );
    let notes: Vec<_> = sim
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Notify { .. }))
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "one failure notification, not one per hour: {notes:?}"
    );
    // Recovery: green again and one recovery notification.
    sim.fail_next = false;
    sim.actions.clear();
    sim.advance(HOUR);
    assert!(health(&sim.s).failures.is_empty());
    assert!(sim.actions.iter().any(|a| matches!(
        a,
        Action::Notify {
            recovered: true,
            ..
        }
    )));
}

#[test]
fn no_backup_disk_fails_loudly_and_clock_not_synced_is_amber() {
    let cfg = Config::parse(
        Path::new("/t.toml"),
        "[[source]]\nname = \"pmi\"\nkind = \"mysql\"\nsocket = \"/s\"\nuser = \"b\"\ndatabases = [\"pmi\"]\n",
    )
    .expect("config");
    let mut s = State::new(&cfg, &History::default(), DEFAULT_OFFSET);
    let acts = step(
        &mut s,
        Event::Tick {
            mono: 0,
            wall: wib(23, 10, 30),
            synced: false,
        },
    );
    assert!(
        !acts.iter().any(|a| matches!(a, Action::StartJob(_))),
        "nothing to write to"
    );
    let h = health(&s);
    assert!(h.failures.contains(&Failure::NoBackupDisk), "{h:?}");
    assert!(h.failures.iter().any(|f| matches!(f, Failure::LastBackupFailed { reason, .. } if reason.contains("no backup disk"))));
    assert!(h.attention.contains(&Attention::ClockNotSynced));
    assert!(h.attention.contains(&Attention::NoEncryptionKey));
}

#[test]
fn stop_cancels_the_running_job_then_exits() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 9, 2)), wib(23, 10, 30));
    sim.tick();
    assert!(sim.s.running.is_some());
    sim.actions.clear();
    sim.feed(Event::Stop);
    assert_eq!(sim.actions, vec![Action::CancelJob]);
    sim.actions.clear();
    sim.advance(MIN);
    assert!(sim.actions.contains(&Action::Exit));
    assert!(
        !sim.actions.iter().any(|a| matches!(a, Action::StartJob(_))),
        "nothing new starts while stopping"
    );
}

#[test]
fn the_restore_test_is_scheduled_and_nothing_to_test_is_not_a_failure() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.advance(11 * MIN);
    let roots = sim.actions.iter().find_map(|a| match a {
        Action::RestoreTest { roots } => Some(roots.clone()),
        _ => None,
    });
    assert_eq!(
        roots,
        Some(vec![PathBuf::from("/srv/backup")]),
        "due 10 min after start"
    );
    sim.feed(Event::RestoreTestFinished {
        tested: false,
        passed: false,
        summary: "no backup to test yet".into(),
    });
    assert!(health(&sim.s).failures.is_empty(), "{:?}", health(&sim.s));
    sim.actions.clear();
    sim.advance(61 * MIN);
    assert!(
        sim.actions
            .iter()
            .any(|a| matches!(a, Action::RestoreTest { .. })),
        "tried again an hour later"
    );
    sim.feed(Event::RestoreTestFinished {
        tested: true,
        passed: false,
        summary: "pmi.pendonor: backup says 482 rows, restored 406".into(),
    });
    assert!(health(&sim.s)
        .failures
        .iter()
        .any(|f| matches!(f, Failure::RestoreTestFailed { .. })));
    sim.feed(Event::RestoreTestFinished {
        tested: true,
        passed: true,
        summary: "ok".into(),
    });
    assert!(!health(&sim.s)
        .failures
        .iter()
        .any(|f| matches!(f, Failure::RestoreTestFailed { .. })));
}

#[test]
fn the_restore_test_waits_while_a_backup_runs() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.advance(5 * MIN);
    sim.feed(Event::Request {
        request: Request::Backup { sources: vec![] },
        reply: 1,
    });
    let id = sim
        .s
        .running
        .as_ref()
        .expect("the requested backup runs")
        .id;
    // The backup runs long, past the restore test's due time (10 min after the start).
    let results = sim.pending.take().expect("pending").1;
    sim.actions.clear();
    sim.advance(15 * MIN);
    assert!(
        !sim.actions
            .iter()
            .any(|a| matches!(a, Action::RestoreTest { .. })),
        "no restore test while a backup runs: {:?}",
        sim.actions
    );
    sim.feed(Event::JobFinished {
        id,
        results: results
            .iter()
            .map(|n| SourceResult {
                source: n.clone(),
                ok: true,
                reason: None,
                copies_ok: 1,
                copies_total: 1,
                manual_copy: false,
                db_unreachable: false,
                failure: None,
                bytes_stored: Some(1000),
                stuck: Vec::new(),
            })
            .collect(),
    });
    sim.advance(MIN);
    assert!(
        sim.actions
            .iter()
            .any(|a| matches!(a, Action::RestoreTest { .. })),
        "the restore test starts once the backup has finished"
    );
}

#[test]
fn control_requests() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    sim.feed(Event::Request {
        request: Request::Backup {
            sources: vec!["nope".into()],
        },
        reply: 7,
    });
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Reply { to: 7, response } if !response.ok)));
    sim.feed(Event::Request {
        request: Request::Backup { sources: vec![] },
        reply: 8,
    });
    sim.advance(2 * MIN);
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Reply { to: 8, response } if response.ok)));
    sim.feed(Event::Request {
        request: Request::Status,
        reply: 9,
    });
    assert!(sim
        .actions
        .iter()
        .any(|a| matches!(a, Action::Reply { to: 9, response } if response.data.is_some())));
    let _ = Duration::ZERO;
}

#[test]
fn a_disk_that_stopped_answering_keeps_the_red_led_on_until_it_is_unplugged() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdb1", "HDD", Some(Role::Auto));
    sim.advance(32 * MIN); // the 11:02 run starts
    let id = sim.s.running.as_ref().expect("a run").id;
    sim.pending = None;
    sim.feed(Event::JobFinished {
        id,
        results: vec![SourceResult {
            source: "pmi".into(),
            ok: false,
            reason: Some("/run/s/disks/UUID-HDD: the disk stopped answering".into()),
            copies_ok: 0,
            copies_total: 1,
            manual_copy: false,
            db_unreachable: false,
            failure: Some(crate::kinds::RunFailure::Copy(
                crate::kinds::CopyFailure::NotAnswering,
            )),
            bytes_stored: None,
            stuck: vec![PathBuf::from("/run/s/disks/UUID-HDD")],
        }],
    });
    let not_safe = Failure::DiskNotAnswering {
        label: "HDD".into(),
    };
    assert!(
        health(&sim.s).failures.contains(&not_safe),
        "{:?}",
        health(&sim.s)
    );
    // It stays so on later ticks: nothing but unplugging clears it.
    sim.advance(5 * MIN);
    assert!(health(&sim.s).failures.contains(&not_safe));
    // Not offered for an eject (it would only wait on the dead disk).
    assert!(!sim.s.disks[&PathBuf::from("/dev/sdb1")].ejectable());
    sim.actions.clear();
    sim.feed(Event::Disk(DiskEvent::Removed {
        devnode: "/dev/sdb1".into(),
        devnum: "7:0".into(),
    }));
    assert!(!health(&sim.s).failures.contains(&not_safe));
    assert!(
        sim.actions.contains(&Action::CleanStale),
        "the dead mount is cleaned"
    );
}

#[test]
fn the_scrub_runs_weekly_over_the_ready_disks_and_its_findings_light_the_leds() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdb1", "HDD", Some(Role::Auto));
    let scrubs = |sim: &Sim| {
        sim.actions
            .iter()
            .filter_map(|a| match a {
                Action::Scrub { disks } => Some(disks.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Never scrubbed: the first pass an hour after the start, not at once.
    sim.advance(50 * MIN);
    assert!(scrubs(&sim).is_empty());
    sim.advance(15 * MIN);
    assert_eq!(
        scrubs(&sim),
        vec![vec![
            (PathBuf::from("/srv/backup"), "/srv/backup".to_string()),
            (PathBuf::from("/run/s/disks/UUID-HDD"), "HDD".to_string()),
        ]]
    );
    sim.feed(Event::ScrubFinished {
        complete: true,
        bad: vec![("HDD".into(), "/run/s/disks/UUID-HDD/x.sql.zst".into())],
        low: vec![("HDD".into(), "pmi".into(), 3)],
    });
    let h = health(&sim.s);
    assert!(h.attention.contains(&Attention::CopyWentBad {
        label: "HDD".into()
    }));
    let low = |sim: &Sim| {
        health(&sim.s)
            .failures
            .iter()
            .any(|f| matches!(f, Failure::FewGoodCopies { good, .. } if *good < 5))
    };
    assert!(low(&sim), "{h:?}");
    // Two good hourly runs of pmi bring it to five: the red goes out by itself.
    sim.advance(MIN);
    assert!(low(&sim));
    sim.advance(2 * 60 * MIN);
    assert!(!low(&sim), "{:?}", health(&sim.s));
    // The next pass a week after the last, not before.
    sim.actions.clear();
    sim.advance(6 * DAY);
    assert!(scrubs(&sim).is_empty());
    sim.advance(DAY);
    assert_eq!(scrubs(&sim).len(), 1);
    // A pass stopped by a shutdown goes on ten minutes later.
    sim.actions.clear();
    sim.feed(Event::ScrubFinished {
        complete: false,
        bad: Vec::new(),
        low: Vec::new(),
    });
    sim.advance(11 * MIN);
    assert_eq!(scrubs(&sim).len(), 1);
}

#[test]
fn unwritten_audit_entries_and_a_due_key_check_light_amber_until_cleared() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.advance(MIN);
    let amber = |sim: &Sim| health(&sim.s).attention;
    assert!(!amber(&sim).iter().any(|a| matches!(
        a,
        Attention::AuditNotWritten { .. } | Attention::KeyCheckDue { .. }
    )));
    sim.feed(Event::Records {
        audit_pending: 2,
        key_check_overdue: Some(None),
    });
    let a = amber(&sim);
    assert!(
        a.contains(&Attention::AuditNotWritten { pending: 2 }),
        "{a:?}"
    );
    assert!(a.contains(&Attention::KeyCheckDue { days: None }), "{a:?}");
    assert!(Attention::KeyCheckDue { days: None }
        .to_string()
        .contains("key challenge"));
    sim.feed(Event::Records {
        audit_pending: 0,
        key_check_overdue: None,
    });
    assert!(!amber(&sim).iter().any(|a| matches!(
        a,
        Attention::AuditNotWritten { .. } | Attention::KeyCheckDue { .. }
    )));
}

#[test]
fn offsite_passes_follow_backups_never_delay_them_and_their_failures_are_amber() {
    use crate::kinds::OffsiteFailure;
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.s.offsite_enabled = true;
    let passes = |sim: &Sim| {
        sim.actions
            .iter()
            .filter(|a| matches!(a, Action::Offsite { .. }))
            .count()
    };
    sim.advance(4 * MIN);
    assert_eq!(passes(&sim), 0, "not at once after a start");
    sim.advance(2 * MIN);
    assert_eq!(passes(&sim), 1);
    let Some(Action::Offsite { roots }) = sim
        .actions
        .iter()
        .find(|a| matches!(a, Action::Offsite { .. }))
    else {
        unreachable!()
    };
    assert_eq!(roots, &vec![PathBuf::from("/srv/backup")]);
    // The pass is still running at 11:02: the hourly backup starts all the same.
    let before = sim.runs.len();
    sim.advance(HOUR);
    assert_eq!(sim.runs.len(), before + 1, "{:?}", sim.runs);
    assert!(sim.s.offsite_again, "the new backup asks for another pass");
    let red_before = health(&sim.s).failures;
    sim.feed(Event::OffsiteFinished {
        problems: vec![(
            "pusat".into(),
            OffsiteFailure::ClockSkew,
            "off-site pusat: the clock".into(),
        )],
        last_verified: None,
    });
    let h = health(&sim.s);
    assert!(
        h.attention.contains(&Attention::OffsiteFailed {
            name: "pusat".into(),
            failure: OffsiteFailure::ClockSkew,
            message: "off-site pusat: the clock".into(),
        }),
        "{:?}",
        h.attention
    );
    assert_eq!(h.failures, red_before, "an off-site failure is never red");
    sim.advance(2 * MIN);
    assert_eq!(
        passes(&sim),
        2,
        "the pass the backup asked for, a minute later"
    );
    sim.feed(Event::OffsiteFinished {
        problems: Vec::new(),
        last_verified: Some(sim.wall),
    });
    assert!(!health(&sim.s)
        .attention
        .iter()
        .any(|a| matches!(a, Attention::OffsiteFailed { .. })));
    // No verified remote copy for two days: amber, with the age.
    sim.s.offsite_due = None;
    sim.s.offsite_running = true; // keep the simulated passes from finishing on their own
    sim.advance(2 * DAY + HOUR);
    assert!(
        health(&sim.s)
            .attention
            .contains(&Attention::OffsiteOverdue { days: Some(2) }),
        "{:?}",
        health(&sim.s).attention
    );
}

#[test]
fn a_disk_whose_file_system_cannot_be_read_is_failed_and_amber_not_unknown() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    // A plain stranger: "unknown disk, enroll it".
    plug(&mut sim, "/dev/sdd1", "PRIBADI", None);
    assert!(matches!(
        &sim.s.overlay,
        Some((Overlay::UnknownDisk { .. }, _))
    ));
    sim.s.overlay = None;
    // A disk whose file system is torn (the lab: NTFS after a power cut mid-write): its marker
    // cannot be read, so it has no role, but it must not be offered for enrolment.
    let (dev, mut view) = disk("/dev/sde1", "LABNTFS", None);
    view.unreadable = true;
    view.problem = Some(format!(
        "cannot mount /dev/sde1: ntfs-3g failed: Incomplete multi-sector transfer\n{}",
        crate::disks::repair_advice(Some("ntfs"))
    ));
    sim.feed(Event::Disk(DiskEvent::Present(dev)));
    sim.feed(Event::DiskChecked(view));
    assert!(
        !matches!(&sim.s.overlay, Some((Overlay::UnknownDisk { .. }, _))),
        "{:?}",
        sim.s.overlay
    );
    assert!(matches!(
        sim.s.disks.get(&PathBuf::from("/dev/sde1")).map(|d| &d.phase),
        Some(DiskPhase::Failed(p)) if p.contains("chkdsk")
    ));
    let h = health(&sim.s);
    assert!(
        h.attention.contains(&Attention::DiskUnreadable {
            label: "LABNTFS".into()
        }),
        "{h:?}"
    );
    // Unplugged, the amber reason goes with it.
    sim.feed(Event::Disk(DiskEvent::Removed {
        devnode: "/dev/sde1".into(),
        devnum: "8:65".into(),
    }));
    assert!(!health(&sim.s)
        .attention
        .iter()
        .any(|a| matches!(a, Attention::DiskUnreadable { .. })));
}

/// A plugged-in disk that enrolling would not make usable (an installer stick's iso9660, a marker
/// that is garbage, a disk the system has mounted) gets the unknown-disk screen with its reason,
/// not "enroll it"; a plain stranger still gets "enroll it".
#[test]
fn a_disk_that_enrolling_would_not_help_says_why_not_enroll_it() {
    use crate::kinds::DiskUnusable;
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdd1", "PRIBADI", None);
    assert!(
        matches!(
            &sim.s.overlay,
            Some((Overlay::UnknownDisk { why: None, .. }, _))
        ),
        "{:?}",
        sim.s.overlay
    );
    for (n, why) in [
        DiskUnusable::NotSupported,
        DiskUnusable::CannotOpen,
        DiskUnusable::InUse,
        DiskUnusable::BadMarker,
    ]
    .into_iter()
    .enumerate()
    {
        sim.s.overlay = None;
        let devnode = format!("/dev/sd{}1", (b'e' + n as u8) as char);
        let (dev, mut view) = disk(&devnode, "STICK", None);
        view.unusable = Some(why);
        view.problem = Some("the sentence the disks module wrote".into());
        sim.feed(Event::Disk(DiskEvent::Present(dev)));
        sim.feed(Event::DiskChecked(view));
        assert!(
            matches!(
                &sim.s.overlay,
                Some((Overlay::UnknownDisk { why: Some(w), label }, _)) if *w == why && label == "STICK"
            ),
            "{why:?}: {:?}",
            sim.s.overlay
        );
        // Not a failed backup disk: no amber reason, no failed phase.
        assert_eq!(
            sim.s.disks.get(&PathBuf::from(&devnode)).map(|d| &d.phase),
            Some(&DiskPhase::Unknown)
        );
        assert!(
            !health(&sim.s)
                .attention
                .iter()
                .any(|a| matches!(a, Attention::DiskUnreadable { .. })),
            "{why:?}"
        );
    }
}

/// A disk with no label (an ext4 disk enrolled without `--label`, a stranger) is named by its
/// kernel name (`sdf1`) everywhere a person reads it: the red and amber reasons, the unknown-disk
/// screen and the disk list; an empty name left "Not answering: " with nothing after it.
#[test]
fn a_disk_without_a_label_is_named_by_its_kernel_name_everywhere() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    let (dev, mut view) = disk("/dev/sdf1", "", Some(Role::Auto));
    view.not_answering = true;
    sim.feed(Event::Disk(DiskEvent::Present(dev)));
    sim.feed(Event::DiskChecked(view));
    let h = health(&sim.s);
    assert!(
        h.failures.contains(&Failure::DiskNotAnswering {
            label: "sdf1".into()
        }),
        "{:?}",
        h.failures
    );
    let (dev, mut view) = disk("/dev/sdg1", "", None);
    view.unreadable = true;
    view.problem = Some("cannot mount /dev/sdg1: damaged".into());
    sim.feed(Event::Disk(DiskEvent::Present(dev)));
    sim.feed(Event::DiskChecked(view));
    assert!(
        health(&sim.s)
            .attention
            .contains(&Attention::DiskUnreadable {
                label: "sdg1".into()
            }),
        "{:?}",
        health(&sim.s).attention
    );
    plug(&mut sim, "/dev/sdh1", "", None);
    assert!(
        matches!(&sim.s.overlay, Some((Overlay::UnknownDisk { label, .. }, _)) if label == "sdh1"),
        "{:?}",
        sim.s.overlay
    );
    let names: Vec<String> = sim.s.disks.values().map(|d| d.shown_label()).collect();
    assert_eq!(names, ["sdf1", "sdg1", "sdh1"]);
}

#[test]
fn a_disk_without_a_label_is_its_kernel_name_on_the_panel_and_its_folder_in_the_metrics() {
    let mut sim = Sim::new(&history_with_last_run(wib(23, 10, 2)), wib(23, 10, 30));
    sim.tick();
    plug(&mut sim, "/dev/sdd1", "", Some(Role::Auto));
    plug(&mut sim, "/dev/sdb1", "HDD", Some(Role::Auto));
    let bare = PathBuf::from("/run/s/disks/UUID-");
    assert_eq!(sim.s.shown_target_label(&bare), "sdd1");
    assert_eq!(sim.s.target_label(&bare), "UUID-", "stable across plugs");
    let named = PathBuf::from("/run/s/disks/UUID-HDD");
    assert_eq!(sim.s.shown_target_label(&named), "HDD");
    assert_eq!(sim.s.target_label(&named), "HDD");
    // The running screen names both disks as the disk screens do (and the configured folder
    // by its name).
    sim.advance(32 * MIN);
    let running = sim.s.running.as_ref().expect("the 11:02 run started");
    let mut shown = running.target_labels.clone();
    shown.sort();
    assert_eq!(shown, ["HDD", "backup", "sdd1"]);
}
