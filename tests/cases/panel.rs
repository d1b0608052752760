//! Front panel: every OLED screen in both languages, rendered through the simulated display and
//! compared pixel for pixel with the PNGs in `tests/golden/` (4× scale, white on black).
//!
//! A changed screen fails, naming the golden file and where the new picture was written. To
//! accept a deliberate change, look at the new picture, then rewrite the golden files with
//! `UPDATE_GOLDEN=1 cargo test --test e2e panel::` and commit them.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use simdondar_backup::config::{Language, Role};
use simdondar_backup::panel::sim::{panel_dir, SimDisplay};
use simdondar_backup::panel::texts::failure_info;
use simdondar_backup::panel::{
    render_frame, Attention, DiskLine, Display, ErrorInfo, Failure, Frame, HardwarePart,
    LastBackup, Network, Notice, Page, Progress, RestoreTest, Screen, Status,
};

const SCALE: u32 = 4;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Where the pictures of failing comparisons go.
fn actual_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/golden-actual")
}

fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .and_then(|d| d.and_hms_opt(h, m, 0))
        .expect("valid date")
}

const GB: u64 = 1_000_000_000;

fn disk(label: &str, role: Option<Role>, free: Option<u64>, size: u64) -> DiskLine {
    DiskLine {
        label: label.into(),
        role,
        free_bytes: free,
        size_bytes: size,
        unreadable: false,
    }
}

/// A healthy appliance: hourly backups OK, one auto HDD, a manual flashdisk plugged in.
fn healthy(language: Language) -> Status {
    let mut s = Status::booting(language, at(26, 10, 32), "WIB");
    s.clock_synced = true;
    s.screen = Screen::Idle;
    s.last_backup = Some(LastBackup {
        at: at(26, 10, 0),
        ok: true,
        reason: None,
    });
    s.next_backup = Some(at(26, 11, 0));
    s.disks = vec![
        disk("HDD-AUTO-1", Some(Role::Auto), Some(1_234 * GB), 2_000 * GB),
        disk(
            "SIMBAK-FLASH1",
            Some(Role::Manual),
            Some(14_200_000_000),
            32 * GB,
        ),
    ];
    s.days_since_manual = Some(2);
    s.network = Network {
        hostname: "simdondar-backup".into(),
        addresses: vec!["192.168.10.20".into(), "fe80::dea6:32ff:fe01:2345".into()],
        db_reachable: Some(true),
    };
    s
}

fn running(language: Language, manual: bool) -> Status {
    let mut s = healthy(language);
    s.screen = Screen::Running(Progress {
        source: "pmi".into(),
        manual,
        bytes: 1_234_567_890,
        rate_bytes_per_s: 12_500_000,
        fraction: Some(0.42),
        targets: vec!["HDD-AUTO-1".into(), "SIMBAK-FLASH1".into()],
    });
    s
}

/// Every screen worth a golden picture: `(name, status, page)`.
fn cases(language: Language) -> Vec<(&'static str, Status, Page)> {
    let mut out = Vec::new();

    let mut boot = healthy(language);
    boot.screen = Screen::Boot;
    out.push(("boot", boot, Page::Main));

    out.push(("idle", healthy(language), Page::Main));
    out.push(("network", healthy(language), Page::Second));

    // Failed last run, database down, manual copy overdue, a passed restore test.
    let mut s = healthy(language);
    s.last_backup = Some(LastBackup {
        at: at(26, 10, 0),
        ok: false,
        reason: Some("database unreachable at 10.0.0.5:3306".into()),
    });
    s.days_since_manual = Some(5);
    s.manual_overdue = true;
    s.restore_test = Some(RestoreTest {
        at: at(20, 2, 0),
        passed: true,
    });
    s.failures = vec![
        Failure::LastBackupFailed {
            reason: "database unreachable".into(),
            failure: Some(simdondar_backup::kinds::RunFailure::DatabaseUnreachable),
        },
        Failure::DatabaseUnreachable,
    ];
    s.attention = vec![Attention::ManualOverdue];
    s.network.db_reachable = Some(false);
    out.push(("idle-failed", s.clone(), Page::Main));
    out.push(("network-db-down", s, Page::Second));

    // Six disks, long labels, one full, one unknown: "+N" and "…".
    let mut s = healthy(language);
    s.disks = vec![
        disk("HDD-AUTO-1", Some(Role::Auto), Some(1_234 * GB), 2_000 * GB),
        disk(
            "HDD-AUTO-2-SERVER-ROOM",
            Some(Role::Auto),
            Some(2 * GB),
            1_000 * GB,
        ),
        disk(
            "SIMBAK-FLASHDISK-UTD-03",
            Some(Role::Manual),
            Some(7 * GB),
            16 * GB,
        ),
        disk("KINGSTON", None, None, 8 * GB),
        disk("SIMBAK-4", Some(Role::Manual), Some(60 * GB), 64 * GB),
        disk("SIMBAK-5", Some(Role::Manual), Some(60 * GB), 64 * GB),
    ];
    s.attention = vec![Attention::DiskNearlyFull {
        label: "HDD-AUTO-2-SERVER-ROOM".into(),
    }];
    s.restore_test = Some(RestoreTest {
        at: at(25, 2, 0),
        passed: false,
    });
    out.push(("idle-many-disks", s, Page::Main));

    // Healthy backups, the off-site store refusing the clock (amber only, issue 16).
    let mut s = healthy(language);
    s.attention = vec![Attention::OffsiteFailed {
        failure: simdondar_backup::kinds::OffsiteFailure::ClockSkew,
    }];
    out.push(("idle-offsite-clock", s, Page::Main));

    // A backup disk whose file system a power cut tore (the lab, 2026-12-07): amber, named, never
    // "unknown disk, enroll it".
    let mut s = healthy(language);
    let mut torn = disk("HDD-AUTO-2", None, None, 1_000 * GB);
    torn.unreadable = true;
    s.disks.insert(1, torn);
    s.attention = vec![Attention::DiskUnreadable {
        label: "HDD-AUTO-2".into(),
    }];
    out.push(("idle-disk-unreadable", s, Page::Main));

    // Nothing yet: no disk, no backup, the clock not synchronised (a Pi without RTC at boot),
    // LEDs missing; no address, database not checked.
    let mut s = Status::booting(
        language,
        NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 1, 0))
            .expect("date"),
        "WIB",
    );
    s.screen = Screen::Idle;
    s.failures = vec![Failure::NoBackupDisk];
    s.attention = vec![
        Attention::ClockNotSynced,
        Attention::HardwareMissing {
            part: HardwarePart::Leds,
        },
    ];
    s.network.hostname = "simdondar-backup".into();
    out.push(("idle-zero-disks", s.clone(), Page::Main));
    out.push(("network-none", s, Page::Second));

    // A press answered while idle.
    let mut s = healthy(language);
    s.notice = Some(Notice::NoManualDisk);
    out.push(("idle-notice", s, Page::Main));

    out.push(("running", running(language, false), Page::Main));
    // A manual run without a size estimate, the button pressed again meanwhile.
    let mut s = running(language, true);
    if let Screen::Running(p) = &mut s.screen {
        p.fraction = None;
        p.source = "simudda-files".into();
        p.targets = vec![
            "HDD-AUTO-1".into(),
            "SIMBAK-FLASHDISK-UTD-03".into(),
            "SIMBAK-4".into(),
        ];
    }
    s.notice = Some(Notice::BackupAlreadyRunning);
    out.push(("running-manual", s.clone(), Page::Main));
    // Every press answered: a manual backup starts; a press during a scheduled run queues one;
    // a second press while it waits is acknowledged.
    s.notice = Some(Notice::BackupStarting);
    out.push(("running-manual-started", s, Page::Main));
    let mut s = running(language, false);
    s.notice = Some(Notice::ManualQueued);
    out.push(("running-manual-queued", s.clone(), Page::Main));
    s.notice = Some(Notice::AlreadyQueued);
    out.push(("running-already-queued", s, Page::Main));

    let mut s = healthy(language);
    s.screen = Screen::Error(failure_info(&Failure::DatabaseUnreachable, language));
    out.push(("error", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::Error(ErrorInfo {
        what: match language {
            Language::Id => "Backup pmi gagal: disk HDD-AUTO-1 penuh (sisa 0 B, perlu 3,2 GB)",
            Language::En => "Backup pmi failed: disk HDD-AUTO-1 is full (0 B free, 3.2 GB needed)",
        }
        .into(),
        todo: match language {
            Language::Id => {
                "Ganti HDD-AUTO-1 dengan disk yang lebih besar atau pindahkan backup lama ke arsip, lalu tekan tombol."
            }
            Language::En => {
                "Replace HDD-AUTO-1 with a larger disk or move old backups to the archive, then press the button."
            }
        }
        .into(),
    });
    out.push(("error-long", s.clone(), Page::Main));
    out.push(("error-long-todo", s, Page::Second));

    let mut s = healthy(language);
    s.screen = Screen::Ejecting {
        labels: vec!["SIMBAK-FLASH1".into(), "SIMBAK-FLASHDISK-UTD-03".into()],
    };
    out.push(("ejecting", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::SafeToRemove {
        labels: vec!["SIMBAK-FLASH1".into()],
    };
    out.push(("safe-to-remove", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::SafeToRemove { labels: vec![] };
    out.push(("safe-to-remove-none", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::UnknownDisk {
        label: "KINGSTON DataTraveler 3.0".into(),
        why: None,
    };
    out.push(("unknown-disk", s, Page::Main));
    // A plugged-in disk that enrolling would not help: an installer stick (iso9660), and a disk
    // whose marker is garbage.
    let mut s = healthy(language);
    s.screen = Screen::UnknownDisk {
        label: "Debian 13.2.0 amd64 1".into(),
        why: Some(simdondar_backup::kinds::DiskUnusable::NotSupported),
    };
    out.push(("unusable-disk-not-supported", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::UnknownDisk {
        label: "SIMDONDAR02".into(),
        why: Some(simdondar_backup::kinds::DiskUnusable::BadMarker),
    };
    out.push(("unusable-disk-bad-marker", s, Page::Main));
    // A button backup that failed because the disk is full, as the daemon words it.
    let mut s = healthy(language);
    s.screen = Screen::Error(simdondar_backup::panel::texts::backup_failed_info(
        "/run/simdondar-backup/disks/5E1F-0A3C: disk full while writing pmi-2026-11-26T0900+0700.sql.zst.age",
        Some(simdondar_backup::kinds::RunFailure::Copy(
            simdondar_backup::kinds::CopyFailure::Full,
        )),
        simdondar_backup::panel::texts::StartedBy::Button,
        language,
    ));
    out.push(("error-backup-disk-full", s, Page::Main));
    // A command-line backup whose flashdisk was pulled: the advice is the command, not the button.
    let mut s = healthy(language);
    s.screen = Screen::Error(simdondar_backup::panel::texts::backup_failed_info(
        "/run/simdondar-backup/disks/5E1F-0A3C: the disk was removed",
        Some(simdondar_backup::kinds::RunFailure::Copy(
            simdondar_backup::kinds::CopyFailure::Gone,
        )),
        simdondar_backup::panel::texts::StartedBy::Command,
        language,
    ));
    out.push(("error-command-disk-removed", s, Page::Main));
    // A long press while a terminal is still inside the flashdisk.
    let mut s = healthy(language);
    s.screen = Screen::Error(simdondar_backup::panel::texts::eject_failed_info(
        "/dev/sdc1 is still in use by another program (a terminal or file manager open inside the disk?)",
        simdondar_backup::kinds::EjectFailure::InUse,
        language,
    ));
    out.push(("eject-busy", s, Page::Main));
    // A flashdisk whose driver stopped during a backup: the idle alert and its error screen.
    let mut s = healthy(language);
    s.failures = vec![Failure::DiskNotAnswering {
        label: "SIMBAK-FLASH1".into(),
    }];
    out.push(("idle-disk-not-answering", s, Page::Main));
    // What a scrub found: a copy gone bad (amber) and too few good copies left (red).
    let mut s = healthy(language);
    s.failures = vec![Failure::FewGoodCopies {
        label: "HDD-AUTO-1".into(),
        source: "pmi".into(),
        good: 3,
    }];
    s.attention = vec![Attention::CopyWentBad {
        label: "HDD-AUTO-1".into(),
    }];
    out.push(("idle-scrub-findings", s, Page::Main));
    // The records: a key custody check due (amber), audit entries not written yet (amber).
    let mut s = healthy(language);
    s.attention = vec![Attention::KeyCheckDue];
    out.push(("idle-key-check-due", s, Page::Main));
    let mut s = healthy(language);
    s.attention = vec![Attention::AuditNotWritten];
    out.push(("idle-audit-not-written", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::Error(failure_info(
        &Failure::FewGoodCopies {
            label: "HDD-AUTO-1".into(),
            source: "pmi".into(),
            good: 3,
        },
        language,
    ));
    out.push(("error-few-good-copies", s, Page::Main));
    let mut s = healthy(language);
    s.screen = Screen::Error(failure_info(
        &Failure::DiskNotAnswering {
            label: "SIMBAK-FLASH1".into(),
        },
        language,
    ));
    out.push(("error-disk-not-answering", s, Page::Main));
    // An eject that gave up on a disk that stopped answering.
    let mut s = healthy(language);
    s.screen = Screen::Error(simdondar_backup::panel::texts::eject_failed_info(
        "/run/simdondar-backup/disks/5E1F-0A3C: the disk stopped answering while its writes were flushed (no reply for 120 s)",
        simdondar_backup::kinds::EjectFailure::NotAnswering,
        language,
    ));
    out.push(("eject-not-answering", s, Page::Main));
    // `run` with a configuration it cannot use: what the agent shows while it waits.
    let err = simdondar_backup::config::ConfigError {
        file: "/etc/simdondar-backup/config.toml".into(),
        line: 21,
        column: 1,
        message: "unknown key".into(),
    };
    out.push((
        "config-invalid",
        simdondar_backup::agent::waiting::status_for(&err, language, at(26, 9, 0)),
        Page::Main,
    ));
    out
}

fn lang_code(language: Language) -> &'static str {
    match language {
        Language::Id => "id",
        Language::En => "en",
    }
}

/// Every case as `(file name, frame)`, rendered through the simulated display: the frame is
/// flushed to `oled.png` and read back from it.
fn rendered() -> Vec<(String, Frame)> {
    let state = tempfile::tempdir().expect("temp dir");
    let mut display = SimDisplay::new(state.path(), SCALE, 1000).expect("simulated display");
    let mut out = Vec::new();
    for language in [Language::Id, Language::En] {
        for (name, status, page) in cases(language) {
            let frame = render_frame(&status, page);
            display.flush(&frame).expect("simulated display writes");
            let png = std::fs::read(panel_dir(state.path()).join("oled.png")).expect("oled.png");
            let (back, scale) = Frame::from_png(&png).expect("the simulated display's PNG");
            assert_eq!(scale, SCALE);
            assert_eq!(
                back, frame,
                "{name}: oled.png differs from the rendered frame"
            );
            out.push((format!("{name}-{}.png", lang_code(language)), back));
        }
    }
    out
}

/// Compares `frame` with the golden file `name`: `Ok` when equal; otherwise writes the new
/// picture to `actual_dir` and returns a message naming both.
fn compare(name: &str, frame: &Frame, golden_dir: &Path, actual_dir: &Path) -> Result<(), String> {
    let golden = golden_dir.join(name);
    let fix = "if the change is deliberate, look at the new picture and rewrite the golden files \
               with `UPDATE_GOLDEN=1 cargo test --test e2e panel::`, then commit them";
    let expected = match std::fs::read(&golden) {
        Ok(bytes) => Frame::from_png(&bytes)
            .map_err(|e| format!("{}: unreadable golden image: {e}; {fix}", golden.display()))?,
        Err(e) => {
            return Err(format!(
                "{}: golden image missing ({e}); create it with `UPDATE_GOLDEN=1 cargo test \
                 --test e2e panel::`, look at it, and commit it",
                golden.display()
            ))
        }
    };
    if expected.0 == *frame {
        return Ok(());
    }
    let (count, bbox) = frame.diff(&expected.0);
    let _ = std::fs::create_dir_all(actual_dir);
    let actual = actual_dir.join(name);
    let written = std::fs::write(&actual, frame.to_png(SCALE)).is_ok();
    Err(format!(
        "{}: the screen changed: {count} pixels differ within {bbox:?} (x0, y0, x1, y1); {}; {fix}",
        golden.display(),
        if written {
            format!("the new picture is {}", actual.display())
        } else {
            "the new picture could not be written".to_string()
        }
    ))
}

#[test]
fn screens_match_golden_images() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let dir = golden_dir();
    let frames = rendered();
    if update {
        std::fs::create_dir_all(&dir).expect("create tests/golden");
        for (name, frame) in &frames {
            std::fs::write(dir.join(name), frame.to_png(SCALE)).expect("write golden image");
        }
    }
    let problems: Vec<String> = frames
        .iter()
        .filter_map(|(name, frame)| compare(name, frame, &dir, &actual_dir()).err())
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} screens differ from their golden images:\n{}",
        problems.len(),
        frames.len(),
        problems.join("\n")
    );
}

/// A golden file that no case produces any more is stale: it would hide a screen nobody
/// checks.
#[test]
fn no_stale_golden_images() {
    let names: Vec<String> = rendered().into_iter().map(|(n, _)| n).collect();
    let stale: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png") && !names.contains(n))
        .collect();
    assert!(
        stale.is_empty(),
        "golden images no case renders (remove them): {stale:?}"
    );
}

/// The comparison itself: one changed pixel fails and writes the new picture; a missing golden
/// file fails (it never passes silently).
#[test]
fn golden_comparison_catches_changes_and_missing_files() {
    let golden = tempfile::tempdir().expect("temp dir");
    let actual = tempfile::tempdir().expect("temp dir");
    let frame = render_frame(&healthy(Language::Id), Page::Main);
    std::fs::write(golden.path().join("x.png"), frame.to_png(SCALE)).expect("write");
    assert_eq!(
        compare("x.png", &frame, golden.path(), actual.path()),
        Ok(())
    );

    let mut changed = frame.clone();
    changed.set(64, 32, !frame.get(64, 32));
    let err = compare("x.png", &changed, golden.path(), actual.path()).expect_err("must fail");
    assert!(
        err.contains("1 pixels differ") && err.contains("UPDATE_GOLDEN=1"),
        "{err}"
    );
    let written = std::fs::read(actual.path().join("x.png")).expect("new picture written");
    assert_eq!(Frame::from_png(&written).expect("png").0, changed);

    let err = compare("missing.png", &frame, golden.path(), actual.path()).expect_err("missing");
    assert!(err.contains("golden image missing"), "{err}");
}

/// The screens do what staff rely on, whatever the pixels: the languages differ, the pages
/// differ, and nothing is drawn outside the screen.
#[test]
fn languages_and_pages_render_differently() {
    let id = render_frame(&healthy(Language::Id), Page::Main);
    let en = render_frame(&healthy(Language::En), Page::Main);
    assert_ne!(id, en);
    let net = render_frame(&healthy(Language::Id), Page::Second);
    assert_ne!(id, net);
    // Every other screen ignores the page.
    let s = running(Language::Id, false);
    assert_eq!(render_frame(&s, Page::Main), render_frame(&s, Page::Second));
}
