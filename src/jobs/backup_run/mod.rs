/*!
The job of one backup run of one source onto a set of targets, start to finish. It reads as its
steps, each a function of its own in this folder:

1. [`prepare`]: take the source's lock, mark earlier runs still shown as running as interrupted,
   ask every target to drop what an interrupted run left (one that does not answer is left out),
   pick a free name, and record the run in the catalog ([`Run::begin`]);
2. start the source ([`crate::backup::source::start`]): an unreachable server fails the run
   before any file exists;
3. [`targets`]: open a writer on every target that has room and may take the copy;
4. [`stream`]: stream the source to the writers and judge its output (DESIGN.md §4.1);
5. [`commit`]: publish the copies (or discard them), then [`pruning`] and [`paperwork`];
6. [`record`]: record the run and its copies in the catalog and the audit log.

Nothing here decides *when* to run or *which* targets: the caller (the daemon or the CLI) does.
*/

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::backup::layout::BackupName;
use crate::backup::manifest::Manifest;
use crate::backup::pipeline::Hooks;
use crate::backup::retention;
use crate::backup::source;
use crate::backup::writer::{CopyOutcome, Target};
use crate::catalog::{Catalog, CatalogError, NewRun};
use crate::config::{Config, SourceConfig};
use crate::kinds::{CopyError, CopyFailure, RunFailure};

mod commit;
mod paperwork;
pub mod prepare;
pub mod pruning;
mod record;
mod settle;
mod stream;
pub mod targets;

pub use prepare::{raw_extension, recover_interrupted, remove_leftovers};
pub use pruning::prune_target;
pub use targets::encryption_recipients;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule.
    Schedule,
    /// The front-panel button.
    Button,
    /// The command line.
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Button => "button",
            Trigger::Cli => "cli",
        }
    }
}

/// A run that could not even be recorded.
#[derive(Debug)]
pub enum RunError {
    /// Another run of the same source holds its lock.
    Busy { source: String },
    /// The lock file cannot be created.
    Lock { path: PathBuf, detail: String },
    /// The catalog failed.
    Catalog(CatalogError),
    /// No target to write to.
    NoTargets,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Busy { source } => write!(
                f,
                "a backup of source '{source}' is already running; wait for it to finish"
            ),
            RunError::Lock { path, detail } => {
                write!(
                    f,
                    "cannot create the lock file {}: {detail}",
                    path.display()
                )
            }
            RunError::Catalog(e) => e.fmt(f),
            RunError::NoTargets => write!(
                f,
                "no target to write to: add a [[target]] to the config or give --target DIR"
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl RunError {
    /// The kind the panel decides on.
    pub fn kind(&self) -> RunFailure {
        match self {
            RunError::Busy { .. } => RunFailure::Busy,
            RunError::NoTargets => RunFailure::NoTargets,
            RunError::Lock { .. } | RunError::Catalog(_) => RunFailure::Other,
        }
    }
}

impl From<CatalogError> for RunError {
    fn from(e: CatalogError) -> Self {
        RunError::Catalog(e)
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: i64,
    pub source: String,
    pub ok: bool,
    /// One sentence IT Support can act on, when not ok.
    pub reason: Option<String>,
    /// The failure's kind, when not ok (what the panel and the LEDs decide on).
    pub failure: Option<RunFailure>,
    pub copies: Vec<CopyOutcome>,
    /// The manifest as published (without the per-target fields), when the stream was good.
    pub manifest: Option<Manifest>,
    /// Backups removed by retention (after the new copies verified, or to make room).
    pub pruned: Vec<retention::Item>,
}

impl RunReport {
    /// Roots of the targets that stopped answering (their writers were given up).
    pub fn not_answering(&self) -> Vec<PathBuf> {
        self.copies
            .iter()
            .filter(|c| c.failure() == Some(CopyFailure::NotAnswering))
            .map(|c| c.target.root.clone())
            .collect()
    }
}

/// One run under way: what it writes, under which names, recorded under which id.
pub(crate) struct Run<'a> {
    config: &'a Config,
    source: &'a SourceConfig,
    targets: &'a [Target],
    trigger: Trigger,
    catalog: &'a Catalog,
    tz: chrono_tz::Tz,
    stall: std::time::Duration,
    run_id: i64,
    started: DateTime<chrono_tz::Tz>,
    /// The name of a copy in clear.
    name: BackupName,
    /// The name of an encrypted copy.
    enc_name: BackupName,
    recipients: Vec<age::x25519::Recipient>,
}

impl<'a> Run<'a> {
    /// Names the run (a start time whose name is free on every target that answered) and
    /// records it in the catalog as running.
    fn begin(
        config: &'a Config,
        source: &'a SourceConfig,
        targets: &'a [Target],
        trigger: Trigger,
        catalog: &'a Catalog,
        unanswering: &[(PathBuf, CopyError)],
    ) -> Result<Self, RunError> {
        let tz = config.timezone;
        let answering: Vec<Target> = targets
            .iter()
            .filter(|t| !unanswering.iter().any(|(r, _)| r == &t.root))
            .cloned()
            .collect();
        let ext = format!("{}.zst", raw_extension(source));
        let (started, name) = prepare::free_name(source, &answering, tz, &ext);
        let enc_name = BackupName::new(&source.name, &started, &format!("{ext}.age"));
        let recipients = encryption_recipients(config);
        let run_id = catalog.begin_run(&NewRun {
            source: &source.name,
            kind: source.kind.as_str(),
            trigger: trigger.as_str(),
            started_at: &rfc3339(&started),
            started_unix: started.timestamp(),
        })?;
        log::info!(
            "run {run_id}: backing up {} to {} target(s)",
            source.name,
            targets.len()
        );
        Ok(Run {
            config,
            source,
            targets,
            trigger,
            catalog,
            tz,
            stall: config.agent.stall_timeout,
            run_id,
            started,
            name,
            enc_name,
            recipients,
        })
    }

    /// The report of this run before anything happened.
    fn report(&self) -> RunReport {
        RunReport {
            run_id: self.run_id,
            source: self.source.name.clone(),
            ok: false,
            reason: None,
            failure: None,
            copies: Vec::new(),
            manifest: None,
            pruned: Vec::new(),
        }
    }

    /// The time now, as the catalog records it.
    fn now(&self) -> String {
        rfc3339(&Utc::now().with_timezone(&self.tz))
    }
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Runs one backup of `source` onto `targets`, recording it in `catalog`.
pub fn run_backup(
    config: &Config,
    source: &SourceConfig,
    targets: &[Target],
    trigger: Trigger,
    catalog: &Catalog,
) -> Result<RunReport, RunError> {
    run_backup_with(config, source, targets, trigger, catalog, &Hooks::default())
}

/// [`run_backup`] with a cancel flag and a progress callback (the daemon's jobs): the steps of a
/// run, in order.
pub fn run_backup_with(
    config: &Config,
    source: &SourceConfig,
    targets: &[Target],
    trigger: Trigger,
    catalog: &Catalog,
    hooks: &Hooks<'_>,
) -> Result<RunReport, RunError> {
    if targets.is_empty() {
        return Err(RunError::NoTargets);
    }
    let _lock = prepare::lock_source(&config.state_dir, &source.name)?;
    // A restore test gives way to this run (it probes this lock and stops its server).
    let _busy = crate::backup::busy::hold(&config.state_dir);
    let now = rfc3339(&Utc::now().with_timezone(&config.timezone));
    catalog.mark_interrupted(&source.name, &now)?;
    let unanswering = prepare::probe_targets(targets, &source.name, config.agent.stall_timeout);
    let run = Run::begin(config, source, targets, trigger, catalog, &unanswering)?;
    let mut report = run.report();

    // The source first: an unreachable server fails the run before any file is created.
    let mut running = match source::start(source, &config.runtime_dir, run.stall) {
        Ok(r) => r,
        Err(e) => return record::fail_before_stream(&run, report, e.to_string(), e.kind()),
    };
    let writers = targets::open_writers(&run, &unanswering, &mut report.copies)?;
    if writers.is_empty() {
        running.kill();
        let _ = running.finish(&[]);
        let (reason, kind) = record::summarize_copies(&report.copies, targets.len());
        return record::fail_before_stream(&run, report, reason, kind);
    }
    let judged = stream::stream_and_judge(&run, running, &writers, hooks);
    match judged.verdict {
        Ok((s, info)) => commit::keep(&run, s, info, judged.tables, writers, report),
        Err(failed) => commit::discard(&run, failed, writers, report),
    }
}
