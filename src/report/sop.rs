/*!
The SOP's report ("Pelaporan", UTDP-SIM-L2-003): per local day of a period, the automatic and
manual backups, the copies per disk, the re-verifications and restore tests, and every gap named:
days without a verified backup, and manual copies further apart than `schedule.manual_reminder`.

[`collect`] reads the catalog into plain rows and [`Report::build`] decides from those rows alone
(no I/O, no clock), so the rules are tested with hand-written rows.

Definitions (docs/reports.md):
- automatic backup: a run with trigger `schedule`; ok when its status is `ok`.
- manual backup: a run with trigger `button` or `cli` that wrote to a disk of role `manual` (a
  button run that failed before writing anything counts too); ok when a manual copy is ok.
- other backup: any other run (e.g. `backup --target` from the command line to an automatic disk).
- verified backup: a copy with status `ok`, which the writer only records after reading the
  stored bytes back from the device and matching their SHA-256.
- a day without a verified backup: a finished day (not today, not later) with no ok copy at all;
  with one but missing a source whose interval is one day or shorter, that source is named.
- a manual gap: two consecutive ok manual copies (or the last one and the report's end, or the
  period's start when none was ever recorded) further apart than `manual_reminder`.
*/

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;

use super::csv::{self, Csv};
use super::html::{self, esc, group, text};
use super::texts::{fill, texts, Texts};
use super::{day_start, fmt_date, fmt_datetime, from_unix, parse_time, ReportError};
use crate::catalog::Catalog;
use crate::config::{Config, Language};

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 731;

/// Failure rows shown in the HTML (all are in the struct).
pub const MAX_FAILURES_SHOWN: usize = 40;

/// Succeeded and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u32,
    pub failed: u32,
}

impl Counts {
    fn add(&mut self, ok: bool) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    fn plus(&mut self, other: Counts) {
        self.ok += other.ok;
        self.failed += other.failed;
    }

    /// Both counts.
    pub fn total(&self) -> u32 {
        self.ok + self.failed
    }
}

/// Where a day stands relative to the report's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayState {
    /// Over: judged.
    Past,
    /// The day the report was generated: not judged for missing backups.
    Today,
    /// After the report was generated.
    Future,
}

/// A gap noted on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayGap {
    /// Not a single verified copy that day.
    NoVerifiedBackup,
    /// Verified copies, but none of these daily sources.
    SourcesNotVerified(Vec<String>),
    /// The manual copy was overdue on this day; `last` is the previous manual copy (`None`: none
    /// since the period's start).
    ManualOverdue { last: Option<DateTime<Tz>> },
}

/// One day of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub state: DayState,
    pub automatic: Counts,
    pub manual: Counts,
    pub other: Counts,
    /// Copies per target, in the order of [`Report::targets`].
    pub copies: Vec<Counts>,
    pub verifications: Counts,
    pub restore_tests: Counts,
    /// Key checks confirmed that day.
    pub key_checks: u32,
    /// Whether at least one copy made that day was verified.
    pub verified: bool,
    pub gaps: Vec<DayGap>,
}

/// Manual copies too far apart.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualGap {
    /// The manual copy before the gap; `None` when none was recorded before the period.
    pub last: Option<DateTime<Tz>>,
    /// `last`, or the period's start.
    pub from: DateTime<Tz>,
    /// The next manual copy, or (when `open`) the end of the period or the report's generation.
    pub until: DateTime<Tz>,
    /// No manual copy had come by `until`.
    pub open: bool,
}

impl ManualGap {
    /// How long the gap lasted.
    pub fn length(&self) -> Duration {
        self.until.signed_duration_since(self.from)
    }
}

/// A target (disk or folder) that received copies in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSummary {
    /// As recorded in the catalog (the target root).
    pub target: String,
    /// As shown: the disk's label when its marker can be read, else the path.
    pub name: String,
    /// `auto` or `manual`, from its newest copy.
    pub role: Option<String>,
    pub copies: Counts,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Backup,
    Verification,
    RestoreTest,
}

/// One failure, for the details section.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub at: DateTime<Tz>,
    pub kind: FailureKind,
    /// The source, or the file.
    pub subject: String,
    /// The recorded reason (untrusted text).
    pub detail: String,
}

/// The SOP report for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub language: Language,
    /// The unit: the appliance's host name.
    pub unit: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: Tz,
    pub generated_at: DateTime<Tz>,
    /// `schedule.manual_reminder`.
    pub manual_reminder: std::time::Duration,
    /// The oldest run in the catalog.
    pub records_since: Option<DateTime<Tz>>,
    pub targets: Vec<TargetSummary>,
    pub days: Vec<Day>,
    pub manual_gaps: Vec<ManualGap>,
    pub failures: Vec<Failure>,
    /// Encryption keys whose holder confirmed a key check in the period (when, which key).
    pub key_checks: Vec<(DateTime<Tz>, String)>,
    /// Verifications and restore tests whose time could not be read.
    pub undated: usize,
}

// ---- what the catalog holds, as plain rows ---------------------------------------------------

/// A run, as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRec {
    pub id: i64,
    pub source: String,
    pub trigger: String,
    /// `running`, `ok`, `failed`.
    pub status: String,
    pub started_unix: i64,
    pub reason: Option<String>,
}

/// A copy, as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRec {
    pub run_id: i64,
    pub target: String,
    pub role: Option<String>,
    pub ok: bool,
}

/// A verification or restore test, as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRec {
    /// As recorded (RFC 3339 expected).
    pub at: String,
    pub ok: bool,
    pub subject: String,
    pub detail: Option<String>,
}

/// Everything the report is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// Runs started in the period.
    pub runs: Vec<RunRec>,
    /// Copies of those runs.
    pub copies: Vec<CopyRec>,
    /// Start of the newest ok manual copy before the period.
    pub manual_before: Option<i64>,
    pub verifications: Vec<CheckRec>,
    pub restore_tests: Vec<CheckRec>,
    /// Key checks confirmed (`subject`: the recipient).
    pub key_checks: Vec<CheckRec>,
    /// Start of the oldest run in the catalog.
    pub first_run: Option<i64>,
}

/// What the report needs besides the rows.
#[derive(Debug, Clone)]
pub struct Params {
    pub language: Language,
    pub unit: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: Tz,
    pub now: DateTime<Utc>,
    pub manual_reminder: std::time::Duration,
    /// Sources expected every day (interval of one day or less).
    pub daily_sources: Vec<String>,
    /// Target root → name to show.
    pub target_names: BTreeMap<String, String>,
}

fn db_err(e: rusqlite::Error) -> ReportError {
    ReportError::Catalog(e.to_string())
}

/// Checks the period: `from` not after `to`, at most [`MAX_DAYS`] days.
pub fn check_period(from: NaiveDate, to: NaiveDate) -> Result<i64, ReportError> {
    if from > to {
        return Err(ReportError::Period { from, to });
    }
    let days = to.signed_duration_since(from).num_days() + 1;
    if days > MAX_DAYS {
        return Err(ReportError::TooLong { days });
    }
    Ok(days)
}

/// Reads the rows of a period from the catalog.
pub fn collect(
    catalog: &Catalog,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Rows, ReportError> {
    check_period(from, to)?;
    let conn = catalog.connection();
    let start = day_start(tz, from).timestamp();
    let end = day_start(tz, to.succ_opt().unwrap_or(to)).timestamp();
    let mut rows = Rows::default();

    let mut st = conn
        .prepare(
            "SELECT id, source, trigger, status, started_unix, reason FROM runs
             WHERE started_unix >= ?1 AND started_unix < ?2 ORDER BY started_unix, id",
        )
        .map_err(db_err)?;
    rows.runs = st
        .query_map([start, end], |r| {
            Ok(RunRec {
                id: r.get(0)?,
                source: r.get(1)?,
                trigger: r.get(2)?,
                status: r.get(3)?,
                started_unix: r.get(4)?,
                reason: r.get(5)?,
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;

    let mut st = conn
        .prepare(
            "SELECT c.run_id, c.target, c.role, c.status FROM copies c JOIN runs r ON r.id = c.run_id
             WHERE r.started_unix >= ?1 AND r.started_unix < ?2 ORDER BY c.id",
        )
        .map_err(db_err)?;
    rows.copies = st
        .query_map([start, end], |r| {
            Ok(CopyRec {
                run_id: r.get(0)?,
                target: r.get(1)?,
                role: r.get(2)?,
                ok: r.get::<_, String>(3)? == "ok",
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;

    // Verified off-site copies count as copies of their run, on the target `offsite:<name>`
    // (matched by source and start time; an unverified upload does not count).
    let uploads = catalog
        .uploads(None)
        .map_err(|e| ReportError::Catalog(e.to_string()))?;
    for u in uploads
        .iter()
        .filter(|u| u.state == crate::catalog::UploadState::Verified)
    {
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(&u.started_at) else {
            continue;
        };
        let t = t.timestamp();
        if let Some(run) = rows
            .runs
            .iter()
            .find(|r| r.source == u.source && (r.started_unix - t).abs() <= 2)
        {
            rows.copies.push(CopyRec {
                run_id: run.id,
                target: format!("offsite:{}", u.offsite),
                role: Some("offsite".into()),
                ok: true,
            });
        }
    }

    rows.manual_before = conn
        .query_row(
            "SELECT MAX(r.started_unix) FROM copies c JOIN runs r ON r.id = c.run_id
             WHERE c.role = 'manual' AND c.status = 'ok' AND r.started_unix < ?1",
            [start],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    rows.first_run = catalog
        .first_run_unix()
        .map_err(|e| ReportError::Catalog(e.to_string()))?;

    // Times are stored as RFC 3339 text with an offset: select a generous window by the text
    // (a day either side covers any offset), then place each row by its parsed time.
    let lo = from
        .checked_sub_days(chrono::Days::new(2))
        .unwrap_or(from)
        .format("%Y-%m-%d")
        .to_string();
    let hi = to
        .checked_add_days(chrono::Days::new(3))
        .unwrap_or(to)
        .format("%Y-%m-%d")
        .to_string();
    let mut st = conn
        .prepare(
            "SELECT verified_at, ok, path, problem, target FROM verifications
             WHERE verified_at >= ?1 AND verified_at < ?2 ORDER BY id",
        )
        .map_err(db_err)?;
    rows.verifications = st
        .query_map([&lo, &hi], |r| {
            let path: String = r.get(2)?;
            let target: String = r.get(4)?;
            let subject = Path::new(&path)
                .strip_prefix(&target)
                .map(|p| p.display().to_string())
                .unwrap_or(path);
            Ok(CheckRec {
                at: r.get(0)?,
                ok: r.get(1)?,
                subject,
                detail: r.get(3)?,
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let mut st = conn
        .prepare(
            "SELECT tested_at, passed, source, backup, detail FROM restore_tests
             WHERE tested_at >= ?1 AND tested_at < ?2 ORDER BY id",
        )
        .map_err(db_err)?;
    rows.restore_tests = st
        .query_map([&lo, &hi], |r| {
            let source: String = r.get(2)?;
            let backup: String = r.get(3)?;
            let name = Path::new(&backup)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(backup);
            Ok(CheckRec {
                at: r.get(0)?,
                ok: r.get(1)?,
                subject: format!("{source}: {name}"),
                detail: r.get(4)?,
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let mut st = conn
        .prepare(
            "SELECT confirmed_at, recipient, id FROM key_checks
             WHERE confirmed_at >= ?1 AND confirmed_at < ?2 ORDER BY confirmed_at",
        )
        .map_err(db_err)?;
    rows.key_checks = st
        .query_map([&lo, &hi], |r| {
            Ok(CheckRec {
                at: r.get(0)?,
                ok: true,
                subject: r.get(1)?,
                detail: r.get(2)?,
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    Ok(rows)
}

/// The name shown for a target: the label in its enrollment marker when the disk can be read
/// now, `disk <fs-uuid>` for a disk mounted by the appliance, else the path.
pub fn target_name(cfg: &Config, target: &str) -> String {
    marker_label(Path::new(target), MARKER_LOOK).unwrap_or_else(|| recorded_name(cfg, target))
}

/// How long a report waits for a disk to show its marker: a disk that stopped answering (a FUSE
/// driver stuck) must not hold a report, or the run whose paperwork writes one, forever.
pub const MARKER_LOOK: std::time::Duration = std::time::Duration::from_secs(3);

/// The label in the enrollment marker at `root`, if it answers within `limit`.
pub fn marker_label(root: &Path, limit: std::time::Duration) -> Option<String> {
    let root = root.to_path_buf();
    crate::bounded::within(limit, "marker-look", move || {
        let dir = crate::safe_fs::Dir::open(&root).ok()?;
        match crate::disks::marker::read(&dir) {
            crate::disks::marker::MarkerRead::Present(m) => {
                Some(crate::disks::marker::display_label(&m.label)).filter(|l| !l.is_empty())
            }
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// A target's name from what the catalog recorded alone (no disk is touched): a disk the agent
/// mounted by its mount point's name, a folder by its path.
pub fn recorded_name(cfg: &Config, target: &str) -> String {
    let path = Path::new(target);
    if let Ok(rest) = path.strip_prefix(cfg.runtime_dir.join("disks")) {
        let t = texts(cfg.language);
        return fill(t.disk_unnamed, &[("id", &rest.display().to_string())]);
    }
    target.to_string()
}

/// The SOP report of `from..=to` (local days in `cfg.timezone`), as of now.
pub fn sop_report(
    catalog: &Catalog,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Report, ReportError> {
    sop_report_at(catalog, cfg, from, to, Utc::now())
}

/// [`sop_report`] as of `now` (tests, and reports regenerated for a past moment).
pub fn sop_report_at(
    catalog: &Catalog,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    report_named(catalog, cfg, from, to, now, None)
}

/// [`sop_report_at`] that touches no disk: targets are named from `known` (target path →
/// label), else from what the catalog recorded ([`recorded_name`]). The agent's own paperwork
/// uses it: a disk that stopped answering during the run must not hold it up.
pub fn sop_report_known_at(
    catalog: &Catalog,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
    known: &BTreeMap<String, String>,
) -> Result<Report, ReportError> {
    report_named(catalog, cfg, from, to, now, Some(known))
}

fn report_named(
    catalog: &Catalog,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
    known: Option<&BTreeMap<String, String>>,
) -> Result<Report, ReportError> {
    let rows = collect(catalog, cfg.timezone, from, to)?;
    let mut target_names = BTreeMap::new();
    for c in &rows.copies {
        if !target_names.contains_key(&c.target) {
            let name = match known {
                None => target_name(cfg, &c.target),
                Some(k) => k
                    .get(&c.target)
                    .cloned()
                    .unwrap_or_else(|| recorded_name(cfg, &c.target)),
            };
            target_names.insert(c.target.clone(), name);
        }
    }
    let params = Params {
        language: cfg.language,
        unit: crate::clock::hostname().unwrap_or_default(),
        from,
        to,
        timezone: cfg.timezone,
        now,
        manual_reminder: cfg.schedule.manual_reminder,
        daily_sources: cfg
            .sources
            .iter()
            .filter(|s| s.interval.as_secs() <= 86_400)
            .map(|s| s.name.clone())
            .collect(),
        target_names,
    };
    Report::build(&params, &rows)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Automatic,
    Manual,
    Other,
}

fn classify(run: &RunRec, copies: &[&CopyRec]) -> (Class, Option<bool>) {
    let manual_copies: Vec<&&CopyRec> = copies
        .iter()
        .filter(|c| c.role.as_deref() == Some("manual"))
        .collect();
    let finished = match run.status.as_str() {
        "ok" => Some(true),
        "failed" => Some(false),
        _ => None,
    };
    match run.trigger.as_str() {
        "schedule" => (Class::Automatic, finished),
        "button" | "cli" if !manual_copies.is_empty() => (
            Class::Manual,
            finished.map(|_| manual_copies.iter().any(|c| c.ok)),
        ),
        "button" if copies.is_empty() => (Class::Manual, finished),
        _ => (Class::Other, finished),
    }
}

impl Report {
    /// Decides the report from catalog rows (no I/O).
    pub fn build(p: &Params, rows: &Rows) -> Result<Report, ReportError> {
        let n_days = check_period(p.from, p.to)?;
        let tz = p.timezone;
        let now = p.now.with_timezone(&tz);
        let today = now.date_naive();
        let period_start = day_start(tz, p.from);
        let period_end = day_start(tz, p.to.succ_opt().unwrap_or(p.to));

        // Targets, named, with duplicates told apart by their path.
        let mut target_keys: Vec<String> = rows
            .copies
            .iter()
            .map(|c| c.target.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let name_of = |t: &str| p.target_names.get(t).cloned().unwrap_or(t.to_string());
        let mut role_of: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for c in &rows.copies {
            if c.role.is_some() {
                role_of.insert(&c.target, c.role.clone());
            }
        }
        target_keys.sort_by_key(|t| {
            let role = role_of.get(t.as_str()).cloned().flatten();
            (role.as_deref() != Some("auto"), name_of(t), t.clone())
        });
        let mut targets: Vec<TargetSummary> = target_keys
            .iter()
            .map(|t| TargetSummary {
                target: t.clone(),
                name: name_of(t),
                role: role_of.get(t.as_str()).cloned().flatten(),
                copies: Counts::default(),
            })
            .collect();
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        for t in &mut targets {
            if names.iter().filter(|n| **n == t.name).count() > 1 {
                t.name = format!("{} ({})", t.name, t.target);
            }
        }
        let target_index: BTreeMap<&str, usize> = target_keys
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();

        let mut days: Vec<Day> = (0..n_days)
            .filter_map(|i| p.from.checked_add_days(chrono::Days::new(i as u64)))
            .map(|date| Day {
                date,
                state: match date.cmp(&today) {
                    std::cmp::Ordering::Less => DayState::Past,
                    std::cmp::Ordering::Equal => DayState::Today,
                    std::cmp::Ordering::Greater => DayState::Future,
                },
                automatic: Counts::default(),
                manual: Counts::default(),
                other: Counts::default(),
                copies: vec![Counts::default(); target_keys.len()],
                verifications: Counts::default(),
                restore_tests: Counts::default(),
                key_checks: 0,
                verified: false,
                gaps: Vec::new(),
            })
            .collect();
        let day_idx = |d: NaiveDate| -> Option<usize> {
            let i = d.signed_duration_since(p.from).num_days();
            (0..n_days).contains(&i).then_some(i as usize)
        };

        let mut copies_by_run: BTreeMap<i64, Vec<&CopyRec>> = BTreeMap::new();
        for c in &rows.copies {
            copies_by_run.entry(c.run_id).or_default().push(c);
        }
        let mut verified_sources: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); days.len()];
        let mut manual_ok_times: Vec<i64> = Vec::new();
        let mut failures = Vec::new();
        for run in &rows.runs {
            let Some(at) = from_unix(tz, run.started_unix) else {
                continue;
            };
            let Some(i) = day_idx(at.date_naive()) else {
                continue;
            };
            let copies = copies_by_run.get(&run.id).cloned().unwrap_or_default();
            let (class, ok) = classify(run, &copies);
            if let Some(ok) = ok {
                let d = &mut days[i];
                match class {
                    Class::Automatic => d.automatic.add(ok),
                    Class::Manual => d.manual.add(ok),
                    Class::Other => d.other.add(ok),
                }
            }
            for c in &copies {
                if let Some(&ti) = target_index.get(c.target.as_str()) {
                    days[i].copies[ti].add(c.ok);
                    targets[ti].copies.add(c.ok);
                }
                if c.ok {
                    days[i].verified = true;
                    verified_sources[i].insert(&run.source);
                    if c.role.as_deref() == Some("manual") {
                        manual_ok_times.push(run.started_unix);
                    }
                }
            }
            if run.status == "failed" {
                failures.push(Failure {
                    at,
                    kind: FailureKind::Backup,
                    subject: run.source.clone(),
                    detail: run.reason.clone().unwrap_or_default(),
                });
            }
        }

        let mut undated = 0;
        for (list, kind) in [
            (&rows.verifications, FailureKind::Verification),
            (&rows.restore_tests, FailureKind::RestoreTest),
        ] {
            for v in list {
                let Some(at) = parse_time(&v.at, tz) else {
                    undated += 1;
                    continue;
                };
                let Some(i) = day_idx(at.date_naive()) else {
                    continue;
                };
                match kind {
                    FailureKind::RestoreTest => days[i].restore_tests.add(v.ok),
                    _ => days[i].verifications.add(v.ok),
                }
                if !v.ok {
                    failures.push(Failure {
                        at,
                        kind,
                        subject: v.subject.clone(),
                        detail: v.detail.clone().unwrap_or_default(),
                    });
                }
            }
        }
        failures.sort_by_key(|f| f.at);
        let mut key_checks = Vec::new();
        for k in &rows.key_checks {
            let Some(at) = parse_time(&k.at, tz) else {
                undated += 1;
                continue;
            };
            if let Some(i) = day_idx(at.date_naive()) {
                days[i].key_checks += 1;
                key_checks.push((at, k.subject.clone()));
            }
        }

        // Days without a verified backup.
        for (i, d) in days.iter_mut().enumerate() {
            if d.state != DayState::Past {
                continue;
            }
            if !d.verified {
                d.gaps.push(DayGap::NoVerifiedBackup);
            } else {
                let missing: Vec<String> = p
                    .daily_sources
                    .iter()
                    .filter(|s| !verified_sources[i].contains(s.as_str()))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    d.gaps.push(DayGap::SourcesNotVerified(missing));
                }
            }
        }

        // Manual copies too far apart.
        let reminder = Duration::from_std(p.manual_reminder).unwrap_or(Duration::days(3));
        let horizon = if now < period_end { now } else { period_end };
        let mut manual_gaps = Vec::new();
        if horizon > period_start {
            manual_ok_times.sort_unstable();
            manual_ok_times.dedup();
            let mut last: Option<DateTime<Tz>> = rows.manual_before.and_then(|u| from_unix(tz, u));
            let mut from = last.unwrap_or(period_start);
            for t in manual_ok_times.iter().filter_map(|&u| from_unix(tz, u)) {
                if t.signed_duration_since(from) > reminder {
                    manual_gaps.push(ManualGap {
                        last,
                        from,
                        until: t,
                        open: false,
                    });
                }
                last = Some(t);
                from = t;
            }
            if horizon.signed_duration_since(from) > reminder {
                manual_gaps.push(ManualGap {
                    last,
                    from,
                    until: horizon,
                    open: true,
                });
            }
        }
        for g in &manual_gaps {
            let overdue_from = g.from + reminder;
            for d in days.iter_mut().filter(|d| d.state != DayState::Future) {
                let start = day_start(tz, d.date);
                let end = day_start(tz, d.date.succ_opt().unwrap_or(d.date));
                if start < g.until && end > overdue_from {
                    d.gaps.push(DayGap::ManualOverdue { last: g.last });
                }
            }
        }

        Ok(Report {
            language: p.language,
            unit: p.unit.clone(),
            from: p.from,
            to: p.to,
            timezone: tz,
            generated_at: now,
            manual_reminder: p.manual_reminder,
            records_since: rows.first_run.and_then(|u| from_unix(tz, u)),
            targets,
            days,
            manual_gaps,
            failures,
            key_checks,
            undated,
        })
    }

    fn t(&self) -> &'static Texts {
        texts(self.language)
    }

    /// Days with a gap of their own (no verified backup, or a daily source missing).
    pub fn gap_days(&self) -> Vec<&Day> {
        self.days
            .iter()
            .filter(|d| {
                d.gaps
                    .iter()
                    .any(|g| !matches!(g, DayGap::ManualOverdue { .. }))
            })
            .collect()
    }

    /// Every gap: days without a verified backup plus manual gaps.
    pub fn gap_count(&self) -> usize {
        self.gap_days().len() + self.manual_gaps.len()
    }

    /// Sums over all days.
    pub fn totals(&self) -> Day {
        let mut t = Day {
            date: self.from,
            state: DayState::Past,
            automatic: Counts::default(),
            manual: Counts::default(),
            other: Counts::default(),
            copies: vec![Counts::default(); self.targets.len()],
            verifications: Counts::default(),
            restore_tests: Counts::default(),
            key_checks: 0,
            verified: false,
            gaps: Vec::new(),
        };
        for d in &self.days {
            t.automatic.plus(d.automatic);
            t.manual.plus(d.manual);
            t.other.plus(d.other);
            for (a, b) in t.copies.iter_mut().zip(&d.copies) {
                a.plus(*b);
            }
            t.verifications.plus(d.verifications);
            t.restore_tests.plus(d.restore_tests);
            t.key_checks += d.key_checks;
        }
        t
    }

    fn limit_text(&self) -> String {
        let secs = self.manual_reminder.as_secs();
        if secs.is_multiple_of(86_400) {
            fill(self.t().limit_days, &[("d", &(secs / 86_400).to_string())])
        } else {
            span(self.t(), Duration::seconds(secs as i64))
        }
    }

    /// The short notes of a day (the table's last column, the CSV's last field).
    pub fn day_notes(&self, d: &Day) -> Vec<String> {
        let t = self.t();
        let mut notes = Vec::new();
        for g in &d.gaps {
            notes.push(match g {
                DayGap::NoVerifiedBackup => t.note_no_verified.to_string(),
                DayGap::SourcesNotVerified(s) => {
                    fill(t.note_source_unverified, &[("sources", &s.join(", "))])
                }
                DayGap::ManualOverdue { last: Some(l) } => fill(
                    t.note_manual_overdue,
                    &[("last", &fmt_date(l.date_naive()))],
                ),
                DayGap::ManualOverdue { last: None } => {
                    fill(t.note_manual_never, &[("start", &fmt_date(self.from))])
                }
            });
        }
        notes
    }

    /// The gaps in full sentences, in time order.
    pub fn gap_sentences(&self) -> Vec<String> {
        let t = self.t();
        let limit = self.limit_text();
        let mut out: Vec<(DateTime<Tz>, String)> = Vec::new();
        for d in self.gap_days() {
            for g in &d.gaps {
                let date = format!("{} {}", weekday(t, d.date), fmt_date(d.date));
                let s = match g {
                    DayGap::NoVerifiedBackup => fill(t.gap_day_none, &[("date", &date)]),
                    DayGap::SourcesNotVerified(s) => fill(
                        t.gap_day_sources,
                        &[("date", &date), ("sources", &s.join(", "))],
                    ),
                    DayGap::ManualOverdue { .. } => continue,
                };
                out.push((day_start(self.timezone, d.date), s));
            }
        }
        for g in &self.manual_gaps {
            let from = match g.last {
                Some(l) => fmt_datetime(&l),
                None => fill(
                    t.gap_manual_from_start,
                    &[("start", &fmt_datetime(&g.from))],
                ),
            };
            let tpl = if g.open {
                t.gap_manual_open
            } else {
                t.gap_manual
            };
            let s = fill(
                tpl,
                &[
                    ("span", &span(t, g.length())),
                    ("from", &from),
                    ("to", &fmt_datetime(&g.until)),
                    ("limit", &limit),
                ],
            );
            out.push((g.from, s));
        }
        out.sort_by_key(|a| a.0);
        out.into_iter().map(|(_, s)| s).collect()
    }

    fn has_other(&self) -> bool {
        self.days.iter().any(|d| d.other.total() > 0)
    }

    /// The report as CSV (RFC 4180): a header row and one row per day, dates `YYYY-MM-DD`.
    pub fn to_csv(&self) -> String {
        let t = self.t();
        let mut c = Csv::new();
        let mut header: Vec<String> = [
            t.col_date,
            t.csv_auto_ok,
            t.csv_auto_failed,
            t.csv_manual_ok,
            t.csv_manual_failed,
            t.csv_other_ok,
            t.csv_other_failed,
            t.csv_copies_ok,
            t.csv_copies_failed,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for tg in &self.targets {
            let name = csv::untrusted(&html::clean(&tg.name, 200));
            header.push(fill(t.csv_disk_ok, &[("disk", &name)]));
            header.push(fill(t.csv_disk_failed, &[("disk", &name)]));
        }
        header.extend(
            [
                t.csv_verify_ok,
                t.csv_verify_failed,
                t.csv_restore_pass,
                t.csv_restore_fail,
                t.csv_key_checks,
                t.csv_verified,
                t.csv_gaps,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        c.row(&header);
        for d in &self.days {
            let all_copies = d.copies.iter().fold(Counts::default(), |mut a, b| {
                a.plus(*b);
                a
            });
            let mut row: Vec<String> = vec![d.date.format("%Y-%m-%d").to_string()];
            for n in [d.automatic, d.manual, d.other, all_copies] {
                row.push(n.ok.to_string());
                row.push(n.failed.to_string());
            }
            for n in &d.copies {
                row.push(n.ok.to_string());
                row.push(n.failed.to_string());
            }
            for n in [d.verifications, d.restore_tests] {
                row.push(n.ok.to_string());
                row.push(n.failed.to_string());
            }
            row.push(d.key_checks.to_string());
            row.push(match (d.state, d.verified) {
                (DayState::Future, _) | (DayState::Today, false) => t.csv_not_yet.to_string(),
                (_, v) => t.yes_no(v).to_string(),
            });
            row.push(csv::untrusted(&self.day_notes(d).join("; ")));
            c.row(&row);
        }
        c.finish()
    }

    /// The report as a self-contained printable A4 HTML page.
    pub fn to_html(&self) -> String {
        let t = self.t();
        let mut b = String::with_capacity(32 * 1024);
        let unit = if self.unit.is_empty() {
            t.unknown_host.to_string()
        } else {
            self.unit.clone()
        };

        // Header.
        b.push_str("<header class=\"doc\">\n");
        b.push_str(&format!("<div class=\"org\">{}</div>\n", esc(t.org)));
        b.push_str(&format!("<h1>{}</h1>\n", esc(t.report_title)));
        b.push_str(&format!(
            "<p class=\"sub\">{}</p>\n</header>\n",
            html::esc_sop(&fill(t.report_subtitle, &[("sop", t.sop)]))
        ));
        b.push_str("<table class=\"meta\">\n");
        let period = fill(
            t.period_value,
            &[
                ("from", &fmt_date(self.from)),
                ("to", &fmt_date(self.to)),
                ("n", &self.days.len().to_string()),
            ],
        );
        let since = match &self.records_since {
            Some(s) => fmt_datetime(s),
            None => t.records_none.to_string(),
        };
        let rows: [(&str, String); 5] = [
            (t.unit, text(&unit)),
            (t.period, esc(&period)),
            (t.generated, esc(&fmt_datetime(&self.generated_at))),
            (t.timezone, esc(self.timezone.name())),
            (t.records_since, esc(&since)),
        ];
        for pair in rows.chunks(2) {
            b.push_str("<tr>");
            for (k, v) in pair {
                b.push_str(&format!(
                    "<td class=\"k\">{}</td><td class=\"v\">{v}</td>",
                    esc(k)
                ));
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</table>\n");

        // Summary.
        let totals = self.totals();
        let copies_total: u32 = totals.copies.iter().map(Counts::total).sum();
        let gaps = self.gap_count();
        let (class, verdict) = if gaps == 0 {
            ("ok", fill(t.summary_ok, &[("limit", &self.limit_text())]))
        } else {
            ("alert", fill(t.summary_gaps, &[("n", &gaps.to_string())]))
        };
        b.push_str(&format!(
            "<div class=\"box {class}\"><p><strong>{}</strong></p>\n",
            esc(&verdict)
        ));
        let lang = self.language;
        b.push_str(&format!(
            "<p>{}</p></div>\n",
            esc(&fill(
                t.summary_totals,
                &[
                    ("auto", &group(totals.automatic.total() as u64, lang)),
                    ("manual", &group(totals.manual.total() as u64, lang)),
                    ("copies", &group(copies_total as u64, lang)),
                    ("verify", &group(totals.verifications.total() as u64, lang)),
                    ("restore", &group(totals.restore_tests.total() as u64, lang)),
                ]
            ))
        ));

        // The daily table.
        let other = self.has_other();
        // Widths in mm of the 186 mm between the margins; the notes take the rest.
        let mut cols = vec![24, 16, 15];
        if other {
            cols.push(15);
        }
        cols.extend([32, 17, 15]);
        b.push_str("<table class=\"grid fixed days\">\n<colgroup>");
        for w in &cols {
            b.push_str(&format!("<col style=\"width:{w}mm\">"));
        }
        b.push_str("<col></colgroup>\n<thead><tr>");
        b.push_str(&format!("<th>{}</th>", esc(t.col_date)));
        let mut heads = vec![
            (t.col_auto, t.sub_ok_failed),
            (t.col_manual, t.sub_ok_failed),
        ];
        if other {
            heads.push((t.col_other, t.sub_ok_failed));
        }
        for (h, s) in heads {
            b.push_str(&format!(
                "<th class=\"n\">{}<span class=\"s\">{}</span></th>",
                esc(h),
                esc(s)
            ));
        }
        b.push_str(&format!(
            "<th>{}<span class=\"s\">{}</span></th>",
            esc(t.col_copies),
            esc(t.sub_ok_failed)
        ));
        b.push_str(&format!(
            "<th class=\"n\">{}<span class=\"s\">{}</span></th>",
            esc(t.col_verify),
            esc(t.sub_ok_failed)
        ));
        b.push_str(&format!(
            "<th class=\"n\">{}<span class=\"s\">{}</span></th>",
            esc(t.col_restore),
            esc(t.sub_pass_fail)
        ));
        b.push_str(&format!(
            "<th>{}</th></tr></thead>\n<tbody>\n",
            esc(t.col_notes)
        ));
        for d in &self.days {
            let mut classes = Vec::new();
            if matches!(d.date.weekday(), Weekday::Sat | Weekday::Sun) {
                classes.push("weekend");
            }
            if !d.gaps.is_empty() {
                classes.push("gap");
            }
            if d.state == DayState::Future {
                classes.push("muted");
            }
            b.push_str(&format!("<tr class=\"{}\">", classes.join(" ")));
            b.push_str(&format!(
                "<td class=\"d nw\">{} {}</td>",
                esc(weekday(t, d.date)),
                esc(&fmt_date(d.date))
            ));
            let mut counts = vec![d.automatic, d.manual];
            if other {
                counts.push(d.other);
            }
            for n in counts {
                b.push_str(&format!("<td class=\"n\">{}</td>", count_cell(n)));
            }
            let mut cell = Vec::new();
            for (tg, n) in self.targets.iter().zip(&d.copies) {
                if n.total() > 0 {
                    cell.push(format!(
                        "{} <span class=\"nw\">{}</span>",
                        esc(&html::clean(&tg.name, 40)),
                        count_cell(*n)
                    ));
                }
            }
            b.push_str(&format!("<td>{}</td>", cell.join("<br>")));
            b.push_str(&format!(
                "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
                count_cell(d.verifications),
                count_cell(d.restore_tests)
            ));
            let mut notes: Vec<String> = self
                .day_notes(d)
                .iter()
                .map(|n| {
                    format!(
                        "<span class=\"gapnote\">{}</span>",
                        html::keep_dates(&text(n))
                    )
                })
                .collect();
            match d.state {
                DayState::Today => notes.push(format!("<i>{}</i>", esc(t.day_today))),
                DayState::Future => notes.push(format!("<i>{}</i>", esc(t.day_future))),
                DayState::Past => {}
            }
            b.push_str(&format!("<td>{}</td></tr>\n", notes.join("<br>")));
        }
        b.push_str("</tbody>\n<tfoot><tr>");
        b.push_str(&format!("<td>{}</td>", esc(t.totals)));
        let mut counts = vec![totals.automatic, totals.manual];
        if other {
            counts.push(totals.other);
        }
        for n in counts {
            b.push_str(&format!("<td class=\"n\">{}</td>", count_cell(n)));
        }
        let all = totals.copies.iter().fold(Counts::default(), |mut a, b| {
            a.plus(*b);
            a
        });
        b.push_str(&format!("<td>{}</td>", count_cell(all)));
        b.push_str(&format!(
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr></tfoot>\n</table>\n",
            count_cell(totals.verifications),
            count_cell(totals.restore_tests),
            if gaps > 0 {
                esc(&fill(t.gaps_count, &[("n", &gaps.to_string())]))
            } else {
                String::new()
            }
        ));
        b.push_str(&format!("<p class=\"small\">{}</p>\n", esc(t.legend)));

        // Gaps.
        b.push_str(&format!("<h2>{}</h2>\n", esc(t.gaps_title)));
        b.push_str(&format!(
            "<p class=\"small\">{}</p>\n",
            esc(&fill(t.gaps_intro, &[("limit", &self.limit_text())]))
        ));
        let sentences = self.gap_sentences();
        if sentences.is_empty() {
            b.push_str(&format!("<p>{}</p>\n", esc(t.gaps_none)));
        } else {
            b.push_str("<ul class=\"gaps\">\n");
            for s in sentences {
                b.push_str(&format!(
                    "<li class=\"gapnote\">{}</li>\n",
                    html::keep_dates(&text(&s))
                ));
            }
            b.push_str("</ul>\n");
        }

        // Copies per disk.
        b.push_str(&format!("<h2>{}</h2>\n", esc(t.disks_title)));
        if self.targets.is_empty() {
            b.push_str(&format!("<p>{}</p>\n", esc(t.disks_none)));
        } else {
            b.push_str(&format!(
                "<table class=\"grid fixed\"><colgroup><col><col style=\"width:24mm\"><col style=\"width:22mm\"><col style=\"width:22mm\"></colgroup><thead><tr><th>{}</th><th>{}</th><th class=\"r\">{}</th><th class=\"r\">{}</th></tr></thead><tbody>\n",
                esc(t.col_disk),
                esc(t.col_role),
                esc(t.col_copies_ok),
                esc(t.col_copies_failed)
            ));
            for tg in &self.targets {
                let path = if tg.name != tg.target {
                    format!(
                        " &nbsp;<span class=\"small mono\">{}</span>",
                        text(&tg.target)
                    )
                } else {
                    String::new()
                };
                let failed = if tg.copies.failed > 0 {
                    format!(
                        "<span class=\"bad\">{}</span>",
                        group(tg.copies.failed as u64, lang)
                    )
                } else {
                    "0".to_string()
                };
                b.push_str(&format!(
                    "<tr><td>{}{path}</td><td>{}</td><td class=\"r\">{}</td><td class=\"r\">{failed}</td></tr>\n",
                    text(&tg.name),
                    esc(tg.role.as_deref().map(|r| t.role(r)).unwrap_or(t.r_none)),
                    group(tg.copies.ok as u64, lang),
                ));
            }
            b.push_str("</tbody></table>\n");
        }

        // Key custody checks.
        b.push_str(&format!("<h2>{}</h2>\n", esc(t.keys_title)));
        if self.key_checks.is_empty() {
            b.push_str(&format!("<p>{}</p>\n", esc(t.keys_none)));
        } else {
            b.push_str("<ul>\n");
            for (at, recipient) in &self.key_checks {
                b.push_str(&format!(
                    "<li>{} &nbsp;<span class=\"mono small\">{}</span></li>\n",
                    esc(&fmt_short(at)),
                    text(recipient)
                ));
            }
            b.push_str("</ul>\n");
        }

        // Failures.
        b.push_str(&format!("<h2>{}</h2>\n", esc(t.failures_title)));
        if self.failures.is_empty() {
            b.push_str(&format!("<p>{}</p>\n", esc(t.failures_none)));
        } else {
            b.push_str(&format!(
                "<table class=\"grid fixed compact\"><colgroup><col style=\"width:25mm\"><col style=\"width:21mm\"><col style=\"width:50mm\"><col></colgroup><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>\n",
                esc(t.col_time),
                esc(t.col_kind),
                esc(t.col_subject),
                esc(t.col_detail)
            ));
            for f in self.failures.iter().take(MAX_FAILURES_SHOWN) {
                let kind = match f.kind {
                    FailureKind::Backup => t.kind_backup,
                    FailureKind::Verification => t.kind_verify,
                    FailureKind::RestoreTest => t.kind_restore,
                };
                b.push_str(&format!(
                    "<tr><td class=\"nw\">{}</td><td class=\"nw\">{}</td><td>{}</td><td>{}</td></tr>\n",
                    esc(&fmt_short(&f.at)),
                    esc(kind),
                    esc(&html::clean(&f.subject, 80)),
                    esc(&html::clean(&f.detail, 300))
                ));
            }
            b.push_str("</tbody></table>\n");
            if self.failures.len() > MAX_FAILURES_SHOWN {
                b.push_str(&format!(
                    "<p class=\"small\">{}</p>\n",
                    esc(&fill(
                        t.failures_more,
                        &[("n", &(self.failures.len() - MAX_FAILURES_SHOWN).to_string())]
                    ))
                ));
            }
        }
        if self.undated > 0 {
            b.push_str(&format!(
                "<p class=\"small\">{}</p>\n",
                esc(&fill(t.undated_note, &[("n", &self.undated.to_string())]))
            ));
        }

        // Checked by.
        b.push_str(&html::signature_strip(t, t.checked_by));
        b.push_str(&format!(
            "<footer class=\"doc\">{} &middot; {} &middot; {}</footer>\n",
            esc(&fill(
                t.generated_by,
                &[
                    (
                        "tool",
                        &format!("simdondar-backup {}", env!("CARGO_PKG_VERSION"))
                    ),
                    ("host", &unit),
                ]
            )),
            esc(t.sop),
            esc(&fmt_datetime(&self.generated_at))
        ));
        let title = format!(
            "{} {} \u{2013} {}",
            t.report_title,
            fmt_date(self.from),
            fmt_date(self.to)
        );
        let running = format!(
            "{} \u{b7} {} \u{b7} {}",
            t.report_title,
            self.unit,
            fill(
                t.period_value,
                &[
                    ("from", &fmt_date(self.from)),
                    ("to", &fmt_date(self.to)),
                    ("n", &self.days.len().to_string()),
                ],
            )
        );
        html::page(t, &title, &running, &b)
    }
}

/// `3 / 1`, the failed count in bold when not zero; `0 / 0` in grey.
fn count_cell(n: Counts) -> String {
    if n.total() == 0 {
        "<span class=\"z\">&ndash;</span>".to_string()
    } else if n.failed > 0 {
        format!("{} / <span class=\"bad\">{}</span>", n.ok, n.failed)
    } else {
        format!("{} / 0", n.ok)
    }
}

fn weekday(t: &Texts, d: NaiveDate) -> &'static str {
    t.weekdays[d.weekday().num_days_from_sunday() as usize]
}

/// `dd-mm-yyyy HH:MM` (the zone is in the header).
fn fmt_short(t: &DateTime<Tz>) -> String {
    t.format("%d-%m-%Y %H:%M").to_string()
}

/// A span in days and hours.
fn span(t: &Texts, d: Duration) -> String {
    let hours = d.num_hours().max(0);
    let (days, h) = (hours / 24, hours % 24);
    if days == 0 {
        fill(t.span_hours, &[("h", &h.to_string())])
    } else if h == 0 {
        fill(t.span_days, &[("d", &days.to_string())])
    } else {
        fill(
            t.span_days_hours,
            &[("d", &days.to_string()), ("h", &h.to_string())],
        )
    }
}
