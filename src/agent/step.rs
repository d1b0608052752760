/*!
Every decision of the daemon, as one pure function: `step(&mut State, Event) -> Vec<Action>`.
No threads, no clock, no I/O: the event loop feeds it events and carries out the actions, and the
tests drive it through simulated weeks, power cuts, clock jumps, button presses and disks that
come and go.
*/

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::schedule;
use super::state::*;
use crate::config::Role;
use crate::disks::device::{candidate_problem, DiskEvent};
use crate::panel::texts::StartedBy;

/// A reason for the red LED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    LastBackupFailed {
        source: String,
        reason: String,
        failure: Option<crate::kinds::RunFailure>,
    },
    NoBackupDisk,
    DatabaseUnreachable,
    NoAutoBackupFor2Intervals {
        source: String,
    },
    RestoreTestFailed {
        summary: String,
    },
    /// A disk is still mounted or held after a failed eject or write: it must not be pulled.
    DiskNotSafe {
        label: String,
    },
    /// A disk stopped answering and was cut off: unplug it and check it.
    DiskNotAnswering {
        label: String,
    },
    /// The scrub found fewer than five good copies of a source on a disk.
    FewGoodCopies {
        label: String,
        source: String,
        good: usize,
    },
}

/// A reason for the amber LED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attention {
    ManualOverdue {
        days: Option<i64>,
    },
    DiskNearlyFull {
        label: String,
    },
    /// A disk is plugged in whose file system cannot be mounted or read (damaged): it gets no
    /// backups, and whatever it held cannot be used until it is repaired.
    DiskUnreadable {
        label: String,
    },
    ClockNotSynced,
    NoEncryptionKey,
    HardwareMissing {
        part: String,
    },
    /// The scrub found a copy on this disk that went bad (renamed `.corrupt`).
    CopyWentBad {
        label: String,
    },
    /// Audit entries could not be written to the catalog yet (kept, retried).
    AuditNotWritten {
        pending: usize,
    },
    /// An encryption key's custody check is due (never confirmed, or `days` ago).
    KeyCheckDue {
        days: Option<i64>,
    },
    /// The last pass over an off-site store failed (the local backups are not affected).
    OffsiteFailed {
        name: String,
        failure: crate::kinds::OffsiteFailure,
        message: String,
    },
    /// No off-site copy was verified for [`OFFSITE_STALE_DAYS`] days (`None`: never).
    OffsiteOverdue {
        days: Option<i64>,
    },
}

/// An off-site copy older than this many days is amber (docs/panel.md).
pub const OFFSITE_STALE_DAYS: i64 = 2;

/// What is wrong now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    pub failures: Vec<Failure>,
    pub attention: Vec<Attention>,
}

/// Whole days between two wall-clock times.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The red and amber reasons, derived from the state (each clears itself when its cause is gone).
pub fn health(s: &State) -> Health {
    let mut h = Health::default();
    for src in &s.sources {
        if let Some(r) = &src.last_result {
            if !r.ok {
                if r.db_unreachable {
                    if !h.failures.contains(&Failure::DatabaseUnreachable) {
                        h.failures.push(Failure::DatabaseUnreachable);
                    }
                } else {
                    h.failures.push(Failure::LastBackupFailed {
                        source: src.name.clone(),
                        reason: r.reason.clone().unwrap_or_default(),
                        failure: r.failure,
                    });
                }
            }
        }
        if src.is_database && s.started {
            let limit = 2 * ms(src.interval);
            let stale = match src.last_auto_ok {
                Some(t) => s.now - t > limit,
                None => s.now > limit,
            };
            if stale {
                h.failures.push(Failure::NoAutoBackupFor2Intervals {
                    source: src.name.clone(),
                });
            }
        }
    }
    if s.started && s.targets(&[Role::Auto]).is_empty() {
        h.failures.push(Failure::NoBackupDisk);
    }
    if let (Some((_, false)), Some(p)) = (&s.last_restore_test, &s.restore_test_problem) {
        h.failures
            .push(Failure::RestoreTestFailed { summary: p.clone() });
    }
    let overdue = match s.last_manual_copy {
        None => true,
        Some(t) => (s.wall - t)
            .to_std()
            .map(|d| d > s.manual_reminder)
            .unwrap_or(false),
    };
    if overdue && s.started {
        h.attention.push(Attention::ManualOverdue {
            days: s.last_manual_copy.map(|t| days(t, s.wall)),
        });
    }
    for d in s.disks.values() {
        let Some(v) = &d.view else { continue };
        if matches!(d.phase, DiskPhase::Failed(_)) && v.mounted_at.is_some() {
            h.failures.push(Failure::DiskNotSafe {
                label: v.shown_label(),
            });
        }
        if matches!(d.phase, DiskPhase::NotAnswering(_)) {
            h.failures.push(Failure::DiskNotAnswering {
                label: v.shown_label(),
            });
        }
        if v.unreadable {
            h.attention.push(Attention::DiskUnreadable {
                label: v.shown_label(),
            });
        }
        if let (Some(free), true) = (v.free_bytes, v.size_bytes > 0) {
            if v.role.is_some() && free.saturating_mul(10) < v.size_bytes {
                h.attention.push(Attention::DiskNearlyFull {
                    label: v.shown_label(),
                });
            }
        }
    }
    if !s.clock_synced && s.started {
        h.attention.push(Attention::ClockNotSynced);
    }
    if s.encryption_missing {
        h.attention.push(Attention::NoEncryptionKey);
    }
    for p in &s.panel_problems {
        h.attention
            .push(Attention::HardwareMissing { part: p.clone() });
    }
    for (label, _) in &s.scrub_bad {
        let a = Attention::CopyWentBad {
            label: label.clone(),
        };
        if !h.attention.contains(&a) {
            h.attention.push(a);
        }
    }
    if s.audit_pending > 0 {
        h.attention.push(Attention::AuditNotWritten {
            pending: s.audit_pending,
        });
    }
    if let Some(days) = s.key_check_overdue {
        h.attention.push(Attention::KeyCheckDue { days });
    }
    for (name, failure, message) in &s.offsite_problems {
        h.attention.push(Attention::OffsiteFailed {
            name: name.clone(),
            failure: *failure,
            message: message.clone(),
        });
    }
    if s.offsite_enabled && s.started {
        let limit = OFFSITE_STALE_DAYS * 86_400_000;
        let stale = match s.offsite_last_verified {
            Some(t) => (s.wall - t).num_milliseconds() > limit,
            None => s.now > limit,
        };
        if stale {
            h.attention.push(Attention::OffsiteOverdue {
                days: s.offsite_last_verified.map(|t| days(t, s.wall)),
            });
        }
    }
    for (label, source, good) in &s.scrub_low {
        h.failures.push(Failure::FewGoodCopies {
            label: label.clone(),
            source: source.clone(),
            good: *good,
        });
    }
    h
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::LastBackupFailed { source, reason, .. } => {
                write!(f, "the last backup of {source} failed: {reason}")
            }
            Failure::NoBackupDisk => write!(f, "no automatic backup disk is attached"),
            Failure::DatabaseUnreachable => write!(f, "the database does not answer"),
            Failure::NoAutoBackupFor2Intervals { source } => {
                write!(
                    f,
                    "no automatic backup of {source} succeeded for two intervals"
                )
            }
            Failure::DiskNotSafe { label } => write!(
                f,
                "disk {label} is not safe to remove yet (its eject or a write failed): eject it again"
            ),
            Failure::FewGoodCopies {
                label,
                source,
                good,
            } => write!(
                f,
                "disk {label} holds only {good} good backup(s) of {source} (the SOP asks for 5): let the backups run; replace the disk if copies keep going bad"
            ),
            Failure::DiskNotAnswering { label } => write!(
                f,
                "disk {label} stopped answering and was cut off: unplug it and check it on a PC"
            ),
            Failure::RestoreTestFailed { summary } => {
                write!(f, "the restore test failed: {summary}")
            }
        }
    }
}

impl std::fmt::Display for Attention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attention::ManualOverdue { days: Some(d) } => {
                write!(f, "the last manual copy is {d} days old")
            }
            Attention::ManualOverdue { days: None } => {
                write!(f, "no manual copy has been made yet")
            }
            Attention::DiskNearlyFull { label } => write!(f, "disk {label} is nearly full"),
            Attention::DiskUnreadable { label } => write!(
                f,
                "disk {label} cannot be read (its file system may be damaged): check it on a PC or replace it"
            ),
            Attention::ClockNotSynced => write!(f, "the clock is not synchronised"),
            Attention::NoEncryptionKey => write!(f, "no encryption key for removable copies"),
            Attention::HardwareMissing { part } => write!(f, "front panel: {part}"),
            Attention::CopyWentBad { label } => write!(
                f,
                "the scrub found a bad copy on {label} (renamed .corrupt; see `simdondar-backup verify`)"
            ),
            Attention::AuditNotWritten { pending } => write!(
                f,
                "{pending} audit entr{} could not be written to the catalog yet (kept and retried; check the SD card and the log)",
                if *pending == 1 { "y" } else { "ies" }
            ),
            Attention::KeyCheckDue { days: None } => write!(
                f,
                "an encryption key was never checked: write a key check onto a manual disk (`simdondar-backup key challenge`) and have its holder confirm it"
            ),
            Attention::KeyCheckDue { days: Some(d) } => write!(
                f,
                "an encryption key was last checked {d} days ago (every 90 days): `simdondar-backup key status`"
            ),
            Attention::OffsiteFailed { message, .. } => write!(f, "{message}"),
            Attention::OffsiteOverdue { days: Some(d) } => write!(
                f,
                "the newest off-site copy was verified {d} days ago: see `simdondar-backup offsite list`"
            ),
            Attention::OffsiteOverdue { days: None } => write!(
                f,
                "no off-site copy has been verified yet: see `simdondar-backup offsite list`"
            ),
        }
    }
}

/// The one-line summary for systemd's `STATUS=`.
pub fn status_line(s: &State) -> String {
    let h = health(s);
    let what = match &s.running {
        Some(j) => format!("backing up {}", j.sources.join(", ")),
        None => "idle".into(),
    };
    if !h.failures.is_empty() {
        let f: Vec<String> = h.failures.iter().map(|f| f.to_string()).collect();
        format!("{what}; FAILING: {}", f.join("; "))
    } else if !h.attention.is_empty() {
        let a: Vec<String> = h.attention.iter().map(|a| a.to_string()).collect();
        format!("{what}; attention: {}", a.join("; "))
    } else {
        format!("{what}; healthy")
    }
}

fn database_sources(s: &State) -> Vec<String> {
    let db: Vec<String> = s
        .sources
        .iter()
        .filter(|x| x.is_database)
        .map(|x| x.name.clone())
        .collect();
    if db.is_empty() {
        s.sources.iter().map(|x| x.name.clone()).collect()
    } else {
        db
    }
}

fn set_notice(s: &mut State, n: Notice) {
    s.notice = Some((n, s.now + NOTICE_MS));
}

fn set_overlay(s: &mut State, o: Overlay) {
    s.overlay = Some((o, s.now + OVERLAY_MS));
}

/// Starts the next queued job when nothing runs.
fn start_next(s: &mut State, out: &mut Vec<Action>) {
    if s.running.is_some() || s.stopping {
        return;
    }
    while let Some(q) = s.queue.pop_front() {
        let roles: &[Role] = match q.trigger {
            JobTrigger::Schedule => &[Role::Auto],
            JobTrigger::Button | JobTrigger::Request => &[Role::Auto, Role::Manual],
        };
        let targets = s.targets(roles);
        let id = s.next_job_id;
        s.next_job_id += 1;
        if targets.is_empty() {
            // Nothing to write to: the run fails loudly instead of being skipped silently.
            let reason = match q.trigger {
                JobTrigger::Schedule => "no backup disk: plug in the automatic backup HDD (role auto) or configure a [[target]]",
                _ => "no backup disk attached: plug in an enrolled flashdisk or HDD and try again",
            };
            let results: Vec<SourceResult> = q
                .sources
                .iter()
                .map(|name| SourceResult {
                    source: name.clone(),
                    ok: false,
                    reason: Some(reason.to_string()),
                    copies_ok: 0,
                    copies_total: 0,
                    manual_copy: false,
                    db_unreachable: false,
                    failure: Some(crate::kinds::RunFailure::NoTargets),
                    bytes_stored: None,
                    stuck: Vec::new(),
                })
                .collect();
            s.running = Some(RunningJob {
                id,
                sources: q.sources.clone(),
                trigger: q.trigger,
                started: s.now,
                progress: None,
                eject_manual_after: false,
                target_labels: Vec::new(),
                reply: q.reply,
            });
            finish_job(s, id, results, out);
            continue;
        }
        let target_labels = targets
            .iter()
            .map(|t| s.shown_target_label(&t.root))
            .collect();
        s.running = Some(RunningJob {
            id,
            sources: q.sources.clone(),
            trigger: q.trigger,
            started: s.now,
            progress: None,
            eject_manual_after: q.eject_manual_after,
            target_labels,
            reply: q.reply,
        });
        out.push(Action::StartJob(JobSpec {
            id,
            sources: q.sources,
            trigger: q.trigger,
            targets,
            eject_manual_after: q.eject_manual_after,
            reply: q.reply,
        }));
        return;
    }
}

fn schedule_next(s: &mut State, name: &str) {
    let (tz, offset, now, wall) = (s.tz, s.offset, s.now, s.wall);
    if let Some(src) = s.sources.iter_mut().find(|x| x.name == name) {
        let d = schedule::delay_to_next(
            wall,
            tz,
            src.interval,
            offset,
            schedule::min_gap(src.interval),
        );
        src.due = Some(now + ms(d));
    }
}

fn finish_job(s: &mut State, id: u64, results: Vec<SourceResult>, out: &mut Vec<Action>) {
    let Some(job) = s.running.take_if(|j| j.id == id) else {
        return;
    };
    let mut all_ok = !results.is_empty();
    for r in &results {
        all_ok &= r.ok;
        let (now, wall) = (s.now, s.wall);
        if let Some(src) = s.sources.iter_mut().find(|x| x.name == r.source) {
            src.last_result = Some(r.clone());
            src.last_finished = Some(wall);
            src.last_run = Some(wall);
            if r.ok && job.trigger == JobTrigger::Schedule {
                src.last_auto_ok = Some(now);
            }
        }
        if r.manual_copy {
            s.last_manual_copy = Some(s.wall);
        }
        // Every copy written and verified: each disk of the job has one more good copy.
        if r.ok && r.copies_ok == r.copies_total {
            for low in s.scrub_low.iter_mut().filter(|l| l.1 == r.source) {
                low.2 += 1;
            }
            s.scrub_low
                .retain(|l| l.2 < crate::backup::scrub::GOOD_FLOOR);
        }
        // A disk that stopped answering is not safe to pull until it is gone (the red LED).
        for root in &r.stuck {
            for d in s.disks.values_mut() {
                if d.view.as_ref().and_then(|v| v.mounted_at.as_ref()) == Some(root) {
                    d.phase = DiskPhase::NotAnswering(format!(
                        "{}: the disk stopped answering during a backup; unplug it and check it on a PC",
                        root.display()
                    ));
                }
            }
        }
        if job.trigger == JobTrigger::Schedule {
            schedule_next(s, &r.source);
        }
    }
    if let Some(to) = job.reply {
        let text = results
            .iter()
            .map(|r| match (&r.ok, &r.reason) {
                (true, _) => format!(
                    "OK {} ({} of {} copies)",
                    r.source, r.copies_ok, r.copies_total
                ),
                (false, reason) => format!(
                    "FAILED {}: {}",
                    r.source,
                    reason.as_deref().unwrap_or("unknown reason")
                ),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut resp = if all_ok {
            Response::ok(text)
        } else {
            Response::err(text)
        };
        resp.data = serde_json::to_value(&results).ok();
        out.push(Action::Reply { to, response: resp });
    }
    if !all_ok && job.trigger != JobTrigger::Schedule {
        let failed = results.iter().find(|r| !r.ok);
        let reason = failed
            .and_then(|r| r.reason.clone())
            .unwrap_or_else(|| "unknown reason".into());
        let failure = failed.and_then(|r| r.failure);
        let started = match job.trigger {
            JobTrigger::Button => StartedBy::Button,
            JobTrigger::Request | JobTrigger::Schedule => StartedBy::Command,
        };
        set_overlay(
            s,
            Overlay::BackupFailed {
                reason,
                failure,
                started,
            },
        );
    }
    let eject_now = (job.eject_manual_after && all_ok) || s.eject_after_job;
    s.eject_after_job = false;
    if eject_now {
        let manual = s.manual_disks();
        if !manual.is_empty() {
            for d in &manual {
                if let Some(e) = s.disks.get_mut(d) {
                    e.phase = DiskPhase::Ejecting;
                }
            }
            out.push(Action::Eject { devnodes: manual });
        }
    }
    if s.stopping {
        out.push(Action::Exit);
    }
}

fn enqueue(s: &mut State, q: QueuedJob) -> bool {
    let duplicate = s
        .queue
        .iter()
        .any(|x| x.trigger == q.trigger && x.sources == q.sources)
        || s.running.as_ref().is_some_and(|r| {
            r.trigger == q.trigger && r.sources == q.sources && q.trigger != JobTrigger::Schedule
        });
    if duplicate {
        return false;
    }
    s.queue.push_back(q);
    true
}

fn press(s: &mut State, p: Press, out: &mut Vec<Action>) {
    match p {
        Press::Short => {
            // Every press is answered on the panel (issue 18): started, queued behind the
            // running job, already queued, or already running.
            let manual_running = s
                .running
                .as_ref()
                .is_some_and(|r| r.trigger == JobTrigger::Button);
            let queued = enqueue(
                s,
                QueuedJob {
                    sources: database_sources(s),
                    trigger: JobTrigger::Button,
                    eject_manual_after: true,
                    reply: None,
                },
            );
            start_next(s, out);
            // Queued, and already over: it failed at once (no disk to write to); its failure
            // screen is the answer.
            let over = queued
                && s.running.is_none()
                && !s.queue.iter().any(|q| q.trigger == JobTrigger::Button);
            if over {
                return;
            }
            let started = queued
                && s.running
                    .as_ref()
                    .is_some_and(|r| r.trigger == JobTrigger::Button)
                && !manual_running;
            let notice = if started {
                Notice::ManualStarted
            } else if queued {
                Notice::ManualQueued
            } else if s.queue.iter().any(|q| q.trigger == JobTrigger::Button) {
                Notice::ManualAlreadyQueued
            } else {
                Notice::BackupAlreadyRunning
            };
            set_notice(s, notice);
        }
        Press::Long => {
            let manual = s.manual_disks();
            if manual.is_empty() {
                set_notice(s, Notice::NothingToEject);
                return;
            }
            if s.running.is_some() {
                // Finish the writes first; eject as soon as the job ends.
                s.eject_after_job = true;
                set_notice(s, Notice::BackupAlreadyRunning);
                return;
            }
            for d in &manual {
                if let Some(e) = s.disks.get_mut(d) {
                    e.phase = DiskPhase::Ejecting;
                }
            }
            out.push(Action::Eject { devnodes: manual });
        }
    }
}

/// The static targets and the mounted disks (root, label).
fn disk_roots(s: &State) -> Vec<(PathBuf, String)> {
    s.static_targets
        .iter()
        .map(|t| (t.root.clone(), t.root.display().to_string()))
        .chain(
            s.disks
                .values()
                .filter(|d| d.phase == DiskPhase::Ready)
                .filter_map(|d| {
                    let v = d.view.as_ref()?;
                    Some((v.mounted_at.clone()?, v.shown_label()))
                }),
        )
        .collect()
}

fn on_tick(s: &mut State, mono: Mono, wall: DateTime<Utc>, synced: bool, out: &mut Vec<Action>) {
    s.now = mono;
    s.wall = wall;
    s.clock_synced = synced;
    if !s.started {
        s.started = true;
        let (tz, offset) = (s.tz, s.offset);
        for src in s.sources.iter_mut() {
            src.last_auto_ok = src
                .last_finished
                .map(|t| mono - (wall - t).num_milliseconds().max(0));
            if schedule::missed_at_start(src.last_run, wall, tz, src.interval, offset) {
                src.due = Some(mono);
            } else {
                let d = schedule::delay_to_next(wall, tz, src.interval, offset, Duration::ZERO);
                src.due = Some(mono + ms(d));
            }
        }
    }
    if s.restore_test_due.is_none() {
        if let Some(every) = s.restore_test_every {
            // Not at once after a start: the first backup comes first.
            let age = s
                .last_restore_test
                .map(|(t, _)| (wall - t).num_milliseconds().max(0));
            let wait = match age {
                Some(a) if a < ms(every) => ms(every) - a,
                _ => 10 * 60_000,
            };
            s.restore_test_due = Some(mono + wait);
        }
    }
    if s.scrub_due.is_none() {
        if let Some(every) = s.scrub_every {
            let age = s.last_scrub.map(|t| (wall - t).num_milliseconds().max(0));
            let wait = match age {
                // A pass stopped by a restart goes on soon; otherwise not before the first backup.
                _ if s.scrub_unfinished => 10 * 60_000,
                Some(a) if a < ms(every) => ms(every) - a,
                Some(_) => 10 * 60_000,
                None => 60 * 60_000,
            };
            s.scrub_due = Some(mono + wait);
        }
    }
    if s.offsite_enabled && s.offsite_due.is_none() && !s.offsite_running {
        // Not at once after a start: the first backup comes first.
        s.offsite_due = Some(mono + 5 * 60_000);
    }
    if !s.stopping
        && !s.offsite_running
        && s.running.is_none()
        && s.offsite_due.is_some_and(|d| d <= mono)
    {
        s.offsite_running = true;
        s.offsite_again = false;
        s.offsite_due = None;
        // From the automatic disks only: a manual flashdisk read during an upload could not be
        // ejected, and the automatic disk holds every backup anyway.
        out.push(Action::Offsite {
            roots: s
                .targets(&[Role::Auto])
                .into_iter()
                .map(|t| t.root)
                .collect(),
        });
    }
    if !s.stopping && !s.scrubbing && s.scrub_due.is_some_and(|d| d <= mono) {
        s.scrubbing = true;
        let disks = disk_roots(s);
        out.push(Action::Scrub { disks });
    }
    // Never while a backup runs (issue 12): the restore test is the one that gives way.
    if !s.stopping
        && !s.restore_testing
        && s.running.is_none()
        && s.restore_test_due.is_some_and(|d| d <= mono)
    {
        s.restore_testing = true;
        let roots = s
            .targets(&[Role::Auto])
            .into_iter()
            .map(|t| t.root)
            .collect();
        out.push(Action::RestoreTest { roots });
    }
    if s.overlay.as_ref().is_some_and(|(_, until)| *until <= mono) {
        s.overlay = None;
    }
    if s.eject_waiters.iter().any(|(_, _, by)| *by <= mono) {
        answer_eject_waiters(s, out);
    }
    if s.notice.as_ref().is_some_and(|(_, until)| *until <= mono) {
        s.notice = None;
    }
    if !s.stopping {
        let due: Vec<String> = s
            .sources
            .iter()
            .filter(|x| x.due.is_some_and(|d| d <= mono))
            .map(|x| x.name.clone())
            .collect();
        if !due.is_empty() {
            for src in s.sources.iter_mut().filter(|x| due.contains(&x.name)) {
                src.due = None; // set again when the run ends
            }
            enqueue(
                s,
                QueuedJob {
                    sources: due,
                    trigger: JobTrigger::Schedule,
                    eject_manual_after: false,
                    reply: None,
                },
            );
        }
        start_next(s, out);
    }
    let failing = !health(s).failures.is_empty();
    if failing != s.notified_failing {
        s.notified_failing = failing;
        let h = health(s);
        out.push(Action::Notify {
            recovered: !failing,
            text: if failing {
                let f: Vec<String> = h.failures.iter().map(|f| f.to_string()).collect();
                format!("SIMDONDAR backup is failing: {}", f.join("; "))
            } else {
                "SIMDONDAR backup has recovered: the last backups succeeded".to_string()
            },
        });
    }
}

fn on_disk(s: &mut State, e: DiskEvent, out: &mut Vec<Action>) {
    match e {
        DiskEvent::Present(dev) => {
            if candidate_problem(&dev, s.disk_match).is_some() {
                return;
            }
            if let Some(known) = s.disks.get(&dev.devnode) {
                let same = known.dev.fs_uuid == dev.fs_uuid && known.dev.fs_type == dev.fs_type;
                if same && !matches!(known.phase, DiskPhase::Failed(_)) {
                    return; // udev sends change events for many reasons
                }
            }
            s.disks.insert(
                dev.devnode.clone(),
                DiskEntry {
                    dev: dev.clone(),
                    view: None,
                    phase: DiskPhase::Checking,
                },
            );
            out.push(Action::CheckDisk(dev));
        }
        DiskEvent::Removed { devnode, .. } => {
            if let Some(e) = s.disks.remove(&devnode) {
                if matches!(
                    e.phase,
                    DiskPhase::Ready | DiskPhase::Ejecting | DiskPhase::NotAnswering(_)
                ) {
                    out.push(Action::CleanStale);
                }
            }
            if let Some((Overlay::SafeToRemove { .. }, _)) = &s.overlay {
                if !s.disks.values().any(|d| d.phase == DiskPhase::SafeToRemove) {
                    s.overlay = None;
                }
            }
        }
    }
}

fn on_checked(s: &mut State, view: crate::disks::DiskView) {
    let devnode = view.devnode.clone();
    let phase = match (view.role, &view.mounted_at, &view.problem) {
        _ if view.not_answering => DiskPhase::NotAnswering(
            view.problem
                .clone()
                .unwrap_or_else(|| "the disk does not answer".into()),
        ),
        (Some(_), Some(_), _) => DiskPhase::Ready,
        // Not "unknown, enroll it": nothing on it can be read, a backup disk's earlier backups
        // included (lab, 2026-12-07: an NTFS disk torn by a power cut showed as UNKNOWN).
        (None, _, Some(p)) if view.unreadable => DiskPhase::Failed(p.clone()),
        (None, _, None) => DiskPhase::Unknown,
        (None, _, Some(_)) => DiskPhase::Unknown,
        (Some(_), None, p) => DiskPhase::Failed(p.clone().unwrap_or_else(|| "not mounted".into())),
    };
    if phase == DiskPhase::Unknown {
        set_overlay(
            s,
            Overlay::UnknownDisk {
                label: view.shown_label(),
                why: view.unusable,
            },
        );
    }
    if let Some(e) = s.disks.get_mut(&devnode) {
        e.view = Some(view);
        e.phase = phase;
    }
}

fn on_ejected(
    s: &mut State,
    devnode: PathBuf,
    result: Result<(), crate::disks::EjectError>,
    out: &mut Vec<Action>,
) {
    match result {
        Ok(()) => {
            if let Some(e) = s.disks.get_mut(&devnode) {
                e.phase = DiskPhase::SafeToRemove;
                if let Some(v) = e.view.as_mut() {
                    v.mounted_at = None;
                }
            }
            let labels: Vec<String> = s
                .disks
                .values()
                .filter(|d| d.phase == DiskPhase::SafeToRemove)
                .map(|d| d.shown_label())
                .collect();
            set_overlay(s, Overlay::SafeToRemove { labels });
        }
        Err(why) => {
            if let Some(e) = s.disks.get_mut(&devnode) {
                e.phase = if why.kind == crate::kinds::EjectFailure::NotAnswering {
                    DiskPhase::NotAnswering(why.message.clone())
                } else {
                    DiskPhase::Failed(why.message.clone())
                };
            }
            set_overlay(
                s,
                Overlay::EjectFailed {
                    reason: why.message,
                    failure: why.kind,
                },
            );
        }
    }
    answer_eject_waiters(s, out);
}

/// Answers the clients whose disks are all done, or whose deadline has come: then the disks
/// still ejecting are named as still busy (issue 18: the client waits for that deadline exactly).
fn answer_eject_waiters(s: &mut State, out: &mut Vec<Action>) {
    let disks = &s.disks;
    let now = s.now;
    let done = |d: &PathBuf| !disks.get(d).is_some_and(|e| e.phase == DiskPhase::Ejecting);
    let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut s.eject_waiters)
        .into_iter()
        .partition(|(_, ds, by)| *by <= now || ds.iter().all(done));
    s.eject_waiters = waiting;
    for (to, ds, _) in ready {
        let safe = |d: &PathBuf| {
            matches!(
                s.disks.get(d).map(|e| &e.phase),
                Some(DiskPhase::SafeToRemove) | None
            )
        };
        let ok = ds.iter().all(safe);
        let lines: Vec<String> = ds
            .iter()
            .map(|d| match s.disks.get(d).map(|e| &e.phase) {
                Some(DiskPhase::SafeToRemove) | None => format!("SAFE TO REMOVE  {}", d.display()),
                Some(DiskPhase::Failed(w)) => {
                    format!("FAILED  {}: {w}; do not remove it yet", d.display())
                }
                Some(DiskPhase::NotAnswering(w)) => format!("FAILED  {}: {w}", d.display()),
                Some(DiskPhase::Ejecting) => format!(
                    "STILL BUSY  {}: its eject did not finish within {} s (a program may still use it, or it stopped answering); do not remove it yet",
                    d.display(),
                    EJECT_ANSWER_MS / 1000
                ),
                Some(p) => format!("{}: {p:?}", d.display()),
            })
            .collect();
        let text = lines.join("\n");
        out.push(Action::Reply {
            to,
            response: if ok {
                Response::ok(text)
            } else {
                Response::err(text)
            },
        });
    }
}

fn on_request(s: &mut State, request: Request, reply: ReplyId, out: &mut Vec<Action>) {
    match request {
        Request::Status => {
            let mut r = Response::ok(status_line(s));
            r.data = serde_json::to_value(StatusReport::of(s)).ok();
            out.push(Action::Reply {
                to: reply,
                response: r,
            });
        }
        Request::Backup { sources } => {
            let unknown: Vec<&String> = sources
                .iter()
                .filter(|n| !s.sources.iter().any(|x| &x.name == *n))
                .collect();
            if !unknown.is_empty() {
                out.push(Action::Reply {
                    to: reply,
                    response: Response::err(format!("no source named {unknown:?}")),
                });
                return;
            }
            let sources = if sources.is_empty() {
                s.sources.iter().map(|x| x.name.clone()).collect()
            } else {
                sources
            };
            let queued = enqueue(
                s,
                QueuedJob {
                    sources,
                    trigger: JobTrigger::Request,
                    eject_manual_after: false,
                    reply: Some(reply),
                },
            );
            if !queued {
                out.push(Action::Reply {
                    to: reply,
                    response: Response::err(
                        "the same backup is already queued or running; not started twice",
                    ),
                });
            }
            start_next(s, out);
        }
        Request::Eject { disk } => {
            let chosen: Vec<PathBuf> = s
                .disks
                .iter()
                .filter(|(_, d)| d.ejectable())
                .filter(|(k, d)| match &disk {
                    None => true,
                    Some(w) => {
                        k.to_string_lossy() == *w
                            || d.view.as_ref().is_some_and(|v| {
                                v.label == *w
                                    || v.uuid.as_deref() == Some(w.as_str())
                                    || v.mounted_at
                                        .as_ref()
                                        .is_some_and(|m| m.to_string_lossy() == *w)
                            })
                    }
                })
                .map(|(k, _)| k.clone())
                .collect();
            if chosen.is_empty() {
                out.push(Action::Reply {
                    to: reply,
                    response: Response::err(
                        "no disk mounted by the appliance matches; nothing to eject",
                    ),
                });
                return;
            }
            if s.running.is_some() {
                out.push(Action::Reply {
                    to: reply,
                    response: Response::err(
                        "a backup is running; eject when it has finished (or hold the button)",
                    ),
                });
                return;
            }
            for d in &chosen {
                if let Some(e) = s.disks.get_mut(d) {
                    e.phase = DiskPhase::Ejecting;
                }
            }
            s.eject_waiters
                .push((reply, chosen.clone(), s.now + EJECT_ANSWER_MS));
            out.push(Action::Eject { devnodes: chosen });
        }
        Request::Press { long } => {
            press(s, if long { Press::Long } else { Press::Short }, out);
            out.push(Action::Reply {
                to: reply,
                response: Response::ok(if long { "long press" } else { "short press" }),
            });
        }
    }
}

/// The daemon's decision for one event.
pub fn step(s: &mut State, event: Event) -> Vec<Action> {
    let mut out = Vec::new();
    match event {
        Event::Tick { mono, wall, synced } => on_tick(s, mono, wall, synced, &mut out),
        Event::Button(p) => press(s, p, &mut out),
        Event::Disk(e) => on_disk(s, e, &mut out),
        Event::DiskChecked(view) => on_checked(s, view),
        Event::DiskCheckFailed { devnode, reason } => {
            if let Some(e) = s.disks.get_mut(&devnode) {
                e.phase = DiskPhase::Failed(reason);
            }
        }
        Event::JobProgress(p) => {
            if let Some(j) = s.running.as_mut() {
                j.progress = Some(p);
            }
        }
        Event::JobFinished { id, results } => {
            if s.offsite_enabled {
                // A new backup: the off-site pass looks for it a minute later.
                if s.offsite_running {
                    s.offsite_again = true;
                } else {
                    s.offsite_due = Some(s.now + 60_000);
                }
            }
            finish_job(s, id, results, &mut out);
            start_next(s, &mut out);
        }
        Event::OffsiteFinished {
            problems,
            last_verified,
        } => {
            s.offsite_running = false;
            if last_verified.is_some() {
                s.offsite_last_verified = last_verified;
            }
            let wait = if s.offsite_again {
                60_000
            } else if problems.is_empty() {
                6 * 3_600_000
            } else if problems.iter().all(|p| p.1.transient()) {
                15 * 60_000
            } else {
                3_600_000
            };
            s.offsite_problems = problems;
            s.offsite_again = false;
            s.offsite_due = Some(s.now + wait);
        }
        Event::Ejected { devnode, result } => on_ejected(s, devnode, result, &mut out),
        Event::RestoreTestFinished {
            tested,
            passed,
            summary,
        } => {
            s.restore_testing = false;
            if tested {
                s.last_restore_test = Some((s.wall, passed));
                s.restore_test_problem = (!passed).then_some(summary);
                s.restore_test_due = s.restore_test_every.map(|e| s.now + ms(e));
            } else {
                // Nothing to test yet (no backup on the automatic disks), or it gave way to a
                // backup: try again in an hour.
                s.restore_test_due = Some(s.now + 3_600_000);
            }
        }
        Event::Records {
            audit_pending,
            key_check_overdue,
        } => {
            s.audit_pending = audit_pending;
            s.key_check_overdue = key_check_overdue;
        }
        Event::ScrubFinished { complete, bad, low } => {
            s.scrubbing = false;
            s.scrub_bad = bad;
            s.scrub_low = low;
            match (complete, s.scrub_every) {
                (true, Some(every)) => {
                    s.last_scrub = Some(s.wall);
                    s.scrub_unfinished = false;
                    s.scrub_due = Some(s.now + ms(every));
                }
                // Stopped part-way: it goes on where it stopped.
                _ => s.scrub_due = Some(s.now + 10 * 60_000),
            }
        }
        Event::Request { request, reply } => on_request(s, request, reply, &mut out),
        Event::Stop => {
            s.stopping = true;
            s.queue.clear();
            if s.running.is_some() {
                out.push(Action::CancelJob);
            } else {
                out.push(Action::Exit);
            }
        }
    }
    out
}

/// What `status` shows when the daemon runs.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub status: String,
    pub clock_synchronized: bool,
    pub health: Health,
    pub running: Option<RunningJob>,
    pub queued: usize,
    pub sources: Vec<SourceState>,
    pub disks: Vec<DiskEntry>,
    pub last_manual_copy: Option<DateTime<Utc>>,
    /// Why the metrics listener is not serving (`[metrics] listen`), when it is not.
    pub metrics_problem: Option<String>,
    /// Off-site: a pass is running now; when the newest remote copy was verified.
    pub offsite_running: bool,
    pub offsite_last_verified: Option<DateTime<Utc>>,
}

impl StatusReport {
    pub fn of(s: &State) -> StatusReport {
        StatusReport {
            status: status_line(s),
            clock_synchronized: s.clock_synced,
            health: health(s),
            running: s.running.clone(),
            queued: s.queue.len(),
            sources: s.sources.clone(),
            disks: s.disks.values().cloned().collect(),
            last_manual_copy: s.last_manual_copy,
            metrics_problem: s.metrics_problem.clone(),
            offsite_running: s.offsite_running,
            offsite_last_verified: s.offsite_last_verified,
        }
    }
}
