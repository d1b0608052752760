/*!
One backup run of one source onto a set of targets, start to finish: take the source's lock,
clean up what an interrupted run left, record the run, start the source, stream it to every
target, judge the source's output (DESIGN.md §4.1), publish or discard each copy, and record the
outcome. Nothing here decides *when* to run or *which* targets: the caller does.
*/

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::backup::layout::{BackupName, PARTIAL_SUFFIX, ROOT_DIR};
use crate::backup::manifest::{Manifest, FORMAT};
use crate::backup::pipeline::{self, Hooks, StreamError};
use crate::backup::retention;
use crate::backup::rowcount::RowCounter;
use crate::backup::source::{self, SourceError};
use crate::backup::writer::{self, CopyOutcome, Msg, Target, WriterHandle};
use crate::catalog::{Catalog, CatalogError, CopyRow, NewRun, RunEnd};
use crate::config::{Config, SourceConfig, SourceKind};
use crate::kinds::{CopyError, CopyFailure, RunFailure};
use crate::safe_fs::Dir;
use crate::util::free_bytes;

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

/// Holds a source's lock for the length of a run.
struct SourceLock {
    _flock: nix::fcntl::Flock<File>,
}

fn lock_source(state_dir: &Path, source: &str) -> Result<SourceLock, RunError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{source}.lock"));
    let lock_err = |e: std::io::Error| RunError::Lock {
        path: path.clone(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(lock_err)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(lock_err)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(f) => Ok(SourceLock { _flock: f }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(RunError::Busy {
            source: source.to_string(),
        }),
        Err((_, e)) => Err(RunError::Lock {
            path,
            detail: e.to_string(),
        }),
    }
}

/// At the daemon's start: runs of any source whose lock is free and that are still shown as
/// running were interrupted (the agent was killed or the power cut); mark them failed now, so the
/// panel and `status` say so at once.
pub fn recover_interrupted(config: &Config, catalog: &Catalog) {
    let now = rfc3339(&Utc::now().with_timezone(&config.timezone));
    for s in &config.sources {
        if let Ok(_lock) = lock_source(&config.state_dir, &s.name) {
            match catalog.mark_interrupted(&s.name, &now) {
                Ok(n) if n > 0 => {
                    log::warn!("{n} interrupted run(s) of {} recorded as failed", s.name)
                }
                Ok(_) => {}
                Err(e) => log::warn!("{e}"),
            }
        }
    }
}

/// Undoes what a killed run of `source` or a power cut left on a target: a publish that did not
/// finish (publish.rs) and then every `.partial` file. Returns how many files were removed.
pub fn remove_leftovers(root: &Path, source: &str) -> usize {
    let Ok(dir) = Dir::open(root).and_then(|d| d.open_dirs([ROOT_DIR, source])) else {
        return 0;
    };
    remove_partials(&dir, source, 3)
}

fn remove_partials(dir: &Dir, source: &str, depth: u32) -> usize {
    let mut removed = 0;
    if depth == 0 {
        crate::backup::publish::sweep(dir, source);
    }
    let Ok(entries) = dir.entries() else {
        return 0;
    };
    for (name, is_dir) in entries {
        if is_dir {
            if depth > 0 {
                if let Ok(sub) = dir.open_dir(&name) {
                    removed += remove_partials(&sub, source, depth - 1);
                }
            }
        } else if name.ends_with(PARTIAL_SUFFIX) && dir.remove_file(&name).is_ok() {
            log::info!("removed leftover {name} from an interrupted run");
            removed += 1;
        }
    }
    removed
}

/// The raw stream's extension for a source.
pub fn raw_extension(source: &SourceConfig) -> String {
    match &source.kind {
        SourceKind::Mysql(_) => "sql".into(),
        SourceKind::Command(c) => c.extension.clone(),
        SourceKind::SshTar(_) => "tar".into(),
    }
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Picks a start time whose name is free on every target (two runs in one second wait a second).
fn free_name(
    source: &SourceConfig,
    targets: &[Target],
    tz: chrono_tz::Tz,
    ext: &str,
) -> (DateTime<chrono_tz::Tz>, BackupName) {
    loop {
        let started = Utc::now().with_timezone(&tz);
        let name = BackupName::new(&source.name, &started, ext);
        let taken = targets.iter().any(|t| {
            let dir = t.root.join(name.dir_components().join("/"));
            [
                name.data_file.clone(),
                name.manifest_file(),
                format!("{}{PARTIAL_SUFFIX}", name.data_file),
                format!("{}.age.json", name.data_file),
                format!("{}.age{PARTIAL_SUFFIX}", name.data_file),
            ]
            .iter()
            .any(|f| dir.join(f).symlink_metadata().is_ok())
        });
        if !taken {
            return (started, name);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
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

/// [`run_backup`] with a cancel flag and a progress callback (the daemon's jobs).
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
    let _lock = lock_source(&config.state_dir, &source.name)?;
    // A restore test gives way to this run (it probes this lock and stops its server).
    let _busy = crate::backup::busy::hold(&config.state_dir);
    let tz = config.timezone;
    catalog.mark_interrupted(&source.name, &rfc3339(&Utc::now().with_timezone(&tz)))?;
    let stall = config.agent.stall_timeout;
    let unanswering = probe_targets(targets, &source.name, stall);
    let answering: Vec<Target> = targets
        .iter()
        .filter(|t| !unanswering.iter().any(|(r, _)| r == &t.root))
        .cloned()
        .collect();

    let ext = format!("{}.zst", raw_extension(source));
    let (started, name) = free_name(source, &answering, tz, &ext);
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

    let mut report = RunReport {
        run_id,
        source: source.name.clone(),
        ok: false,
        reason: None,
        failure: None,
        copies: Vec::new(),
        manifest: None,
        pruned: Vec::new(),
    };
    let finish = |report: &mut RunReport, end: RunEnd| -> Result<(), RunError> {
        report.ok = end.ok;
        report.reason = end.reason.clone();
        report.failure = end.failure.as_deref().and_then(RunFailure::parse);
        for c in &report.copies {
            catalog.record_copy(&CopyRow {
                run_id,
                target: c.target.root.display().to_string(),
                path: Some(c.relative_path.clone()),
                role: Some(c.target.role.as_str().to_string()),
                ok: c.result.is_ok(),
                reason: c.result.as_ref().err().map(|e| e.message.clone()),
                failure: c.failure().map(|k| k.as_str().to_string()),
                bytes: c.result.as_ref().ok().copied(),
                recorded_at: rfc3339(&Utc::now().with_timezone(&tz)),
            })?;
        }
        catalog.finish_run(run_id, &end)?;
        let actor = match trigger {
            Trigger::Cli => crate::audit::cli_actor(),
            t => format!("daemon:{}", t.as_str()),
        };
        for c in &report.copies {
            crate::audit::record(
                catalog,
                &actor,
                "copy",
                &serde_json::json!({
                    "run": run_id,
                    "target": c.target.root.display().to_string(),
                    "path": c.relative_path,
                    "role": c.target.role.as_str(),
                    "ok": c.result.is_ok(),
                    "error": c.result.as_ref().err().map(|e| e.message.as_str()),
                    "failure": c.failure().map(CopyFailure::as_str),
                }),
            );
        }
        crate::audit::record(
            catalog,
            &actor,
            "run",
            &serde_json::json!({
                "run": run_id,
                "source": report.source,
                "trigger": trigger.as_str(),
                "ok": end.ok,
                "reason": end.reason,
                "failure": end.failure,
                "sha256": end.sha256,
                "copies_ok": end.copies_ok,
                "copies_total": end.copies_total,
            }),
        );
        Ok(())
    };
    let now = || rfc3339(&Utc::now().with_timezone(&tz));

    // The source first: an unreachable server fails the run before any file is created.
    let mut running = match source::start(source, &config.runtime_dir, stall) {
        Ok(r) => r,
        Err(e) => {
            let end = RunEnd {
                ok: false,
                finished_at: now(),
                reason: Some(e.to_string()),
                failure: Some(e.kind().as_str().to_string()),
                copies_total: targets.len() as u32,
                ..RunEnd::default()
            };
            finish(&mut report, end)?;
            return Ok(report);
        }
    };

    let estimate = catalog
        .last_stream_bytes(&source.name)?
        .map(|b| b + b / 10 + (1 << 20));
    let mut writers: Vec<WriterHandle> = Vec::new();
    for t in targets {
        if let Some(e) = unanswering
            .iter()
            .find_map(|(root, e)| (root == &t.root).then_some(e))
        {
            report.copies.push(CopyOutcome {
                target: t.clone(),
                relative_path: name.relative_path(),
                result: Err(e.clone()),
            });
            continue;
        }
        if let Some(need) = estimate {
            if let Err(e) = make_room(config, catalog, t, &source.name, need) {
                log::warn!("{e}");
                report.copies.push(CopyOutcome {
                    target: t.clone(),
                    relative_path: name.relative_path(),
                    result: Err(e),
                });
                continue;
            }
        }
        let encrypt = config.encryption.require_for.contains(&t.role);
        if encrypt && recipients.is_empty() {
            report.copies.push(CopyOutcome {
                target: t.clone(),
                relative_path: enc_name.relative_path(),
                result: Err(CopyError::new(CopyFailure::Policy, format!(
                    "{}: not written: copies for {} disks must be encrypted, but no recipient is configured (create a key with `simdondar-backup keygen --out FILE` and add its public key to [encryption] recipients)",
                    t.root.display(),
                    t.role.as_str()
                ))),
            });
            continue;
        }
        let this_name = if encrypt { &enc_name } else { &name };
        match writer::spawn(t.clone(), this_name, encrypt, stall) {
            Ok(w) => writers.push(w),
            Err(failed) => {
                if let Err(e) = &failed.result {
                    log::warn!("{e}");
                }
                report.copies.push(failed);
            }
        }
    }
    if writers.is_empty() {
        running.kill();
        let _ = running.finish(&[]);
        let (reason, kind) = summarize_copies(&report.copies, targets.len());
        let end = RunEnd {
            ok: false,
            finished_at: now(),
            reason: Some(reason),
            failure: Some(kind.as_str().to_string()),
            copies_total: targets.len() as u32,
            ..RunEnd::default()
        };
        finish(&mut report, end)?;
        return Ok(report);
    }

    // Rows per table are counted from the raw dump while it streams (manifest `tables`).
    let mut rows = matches!(source.kind, SourceKind::Mysql(_)).then(RowCounter::new);
    let mut observe = |b: &[u8]| {
        if let Some(r) = rows.as_mut() {
            r.feed(b);
        }
    };
    let streamed = pipeline::stream(
        &mut running,
        &writers,
        &config.compression,
        &recipients,
        Some(&mut observe),
        hooks,
    );
    let tables = rows.map(RowCounter::finish).unwrap_or_default();
    // `Err(None)`: every target failed (the copies say why); `Err(Some(..))`: the run failed.
    type Failed = Option<(String, RunFailure)>;
    let verdict: Result<(pipeline::Streamed, source::SourceInfo), Failed> = match streamed {
        Ok(s) => match running.finish(&s.tail) {
            Ok(info) => Ok((s, info)),
            Err(e) => Err(Some((e.to_string(), e.kind()))),
        },
        Err(e) => {
            running.kill();
            let source_err: Option<SourceError> = running.finish(&[]).err();
            Err(match (e, source_err) {
                (StreamError::AllTargetsFailed, _) => None,
                (StreamError::Read(e), Some(se)) => Some((format!("{se} ({e})"), se.kind())),
                (e @ StreamError::Cancelled, _) => Some((e.to_string(), RunFailure::Cancelled)),
                // A source stopped by its watchdog ends the stream early: say so.
                (_, Some(se @ SourceError::Stalled { .. })) => Some((se.to_string(), se.kind())),
                (e, _) => Some((e.to_string(), RunFailure::Other)),
            })
        }
    };

    let finished = Utc::now().with_timezone(&tz);
    match verdict {
        Ok((s, info)) => {
            let base = Manifest {
                format: FORMAT,
                source: source.name.clone(),
                kind: source.kind.as_str().to_string(),
                started_at: rfc3339(&started),
                finished_at: rfc3339(&finished),
                databases: info.databases.clone(),
                server_version: info.server_version.clone(),
                compression: "zstd".into(),
                compression_level: Some(config.compression.level),
                encrypted: false,
                recipients: Vec::new(),
                bytes_raw: s.bytes_raw,
                bytes_stored: 0,
                sha256: String::new(),
                parts: vec![name.data_file.clone()],
                tables,
                tool_version: format!("simdondar-backup {}", env!("CARGO_PKG_VERSION")),
                dump_tool: info.dump_tool.clone(),
                consistency: info.consistency.clone(),
                trigger: Some(trigger.as_str().to_string()),
                role: None,
                fs_driver: None,
                clock_synchronized: crate::clock::is_synchronized(),
                host: crate::clock::hostname(),
            };
            let clear_manifest = s.clear.as_ref().map(|c| Manifest {
                bytes_stored: c.bytes,
                sha256: c.sha256.clone(),
                ..base.clone()
            });
            let enc_manifest = s.encrypted.as_ref().map(|c| Manifest {
                encrypted: true,
                recipients: config.encryption.recipients.clone(),
                bytes_stored: c.bytes,
                sha256: c.sha256.clone(),
                parts: vec![enc_name.data_file.clone()],
                ..base.clone()
            });
            // Every writer is told at once, then each verdict is collected: the read-backs of
            // the targets overlap, and a disk that stopped answering delays none of the others.
            for w in &writers {
                let m = if w.encrypted {
                    &enc_manifest
                } else {
                    &clear_manifest
                };
                let stored = if w.encrypted { &s.encrypted } else { &s.clear };
                if let Some(lane) = w.lane() {
                    lane.send(match (m, stored) {
                        (Some(m), Some(st)) => Msg::Commit {
                            manifest: Box::new(m.clone()),
                            xxh3: st.xxh3,
                        },
                        _ => Msg::Abort,
                    });
                }
            }
            for w in writers {
                report.copies.push(w.finish());
            }
            // Retention only after the new copy on that target is verified and published.
            for c in report.copies.iter().filter(|c| c.result.is_ok()) {
                report
                    .pruned
                    .extend(prune_target(config, catalog, &c.target, &source.name));
            }
            publish_paperwork(config, catalog, &report.copies);
            let ok_count = report.copies.iter().filter(|c| c.result.is_ok()).count();
            let all_ok = ok_count == targets.len();
            let manifest = clear_manifest.or(enc_manifest);
            let summary = (!all_ok).then(|| summarize_copies(&report.copies, targets.len()));
            let end = RunEnd {
                ok: all_ok,
                finished_at: now(),
                failure: summary.as_ref().map(|(_, k)| k.as_str().to_string()),
                reason: summary.map(|(r, _)| r),
                bytes_raw: Some(s.bytes_raw),
                bytes_stored: manifest.as_ref().map(|m| m.bytes_stored),
                sha256: manifest.as_ref().map(|m| m.sha256.clone()),
                copies_ok: ok_count as u32,
                copies_total: targets.len() as u32,
                warnings: info.warnings,
            };
            report.manifest = manifest;
            finish(&mut report, end)?;
            publish_disk_documents(config, catalog, &report.copies);
        }
        Err(failed) => {
            for w in &writers {
                if let Some(lane) = w.lane() {
                    lane.send(Msg::Abort);
                }
            }
            for w in writers {
                let mut outcome = w.finish();
                if let (Err(e), Some((reason, _))) = (&mut outcome.result, &failed) {
                    // A copy that failed by itself keeps its own kind and words.
                    if e.kind == CopyFailure::Aborted {
                        e.message = format!("not kept: {reason}");
                    }
                }
                report.copies.push(outcome);
            }
            let (reason, kind) =
                failed.unwrap_or_else(|| summarize_copies(&report.copies, targets.len()));
            let end = RunEnd {
                ok: false,
                finished_at: now(),
                reason: Some(reason),
                failure: Some(kind.as_str().to_string()),
                copies_total: targets.len() as u32,
                ..RunEnd::default()
            };
            finish(&mut report, end)?;
        }
    }
    Ok(report)
}

/// Once the run is recorded: on every target written, the SOP report of the running month (and
/// of every closed month it lacks, once; issue 18), then its INDEX.csv/INDEX.html, which links
/// them. Failures are logged and never undo a verified backup.
fn publish_disk_documents(config: &Config, catalog: &Catalog, copies: &[CopyOutcome]) {
    // The names of this run's good targets, for the reports: a disk's label as udev gave it, a
    // folder's marker if it shows it at once; no other disk is touched (one that stopped
    // answering must not hold the paperwork up).
    let known: std::collections::BTreeMap<String, String> = copies
        .iter()
        .filter(|c| c.result.is_ok())
        .filter_map(|c| {
            let label = match &c.target.disk {
                Some(d) if !d.label.is_empty() => Some(d.label.clone()),
                _ => crate::report::sop::marker_label(
                    &c.target.root,
                    crate::report::sop::MARKER_LOOK,
                ),
            }?;
            Some((c.target.root.display().to_string(), label))
        })
        .collect();
    for c in copies.iter().filter(|c| c.result.is_ok()) {
        if let Err(e) =
            crate::report::monthly::write_month_reports(&c.target.root, catalog, config, &known)
        {
            log::warn!(
                "cannot write the monthly reports on {}: {e}",
                c.target.root.display()
            );
        }
        if let Err(e) = crate::report::write_disk_index(&c.target.root, config) {
            log::warn!(
                "cannot rewrite the index on {}: {e}",
                c.target.root.display()
            );
        }
    }
}

/// After the copies: every target written carries the audit anchor, and each manual copy gets
/// its handover receipt (on the disk and in `state_dir/receipts`) and, when a key is due for its
/// custody check, a challenge ([`crate::keycheck`]). Failures here are logged and
/// audited but never undo a verified backup.
fn publish_paperwork(config: &Config, catalog: &Catalog, copies: &[CopyOutcome]) {
    // The newest audit entry now: every disk written carries it, so a later cut of the log's
    // tail is found (`audit verify`, [`crate::audit_anchor`]).
    let anchor = match crate::audit_anchor::Anchor::newest(catalog) {
        Ok(a) => a,
        Err(e) => {
            log::warn!("cannot read the audit log's newest entry: {e}");
            None
        }
    };
    for c in copies.iter().filter(|c| c.result.is_ok()) {
        if let Some(a) = &anchor {
            if let Err(e) = crate::audit_anchor::write(&c.target.root, a, catalog) {
                log::error!(
                    "cannot write the audit anchor on {}: {e}",
                    c.target.root.display()
                );
            }
        }
        if c.target.role != crate::config::Role::Manual {
            continue;
        }
        // The disk goes to the key holders: it carries a key check when one is due.
        if !config.encryption.recipients.is_empty() {
            crate::keycheck::issue_if_due(catalog, &config.encryption.recipients, &c.target.root);
        }
        let receipt = crate::report::ReceiptData::from_copy(
            &c.target.root,
            &c.relative_path,
            c.target.disk.as_deref(),
            config,
        )
        .and_then(|mut r| {
            r.audit_anchor = anchor.clone();
            crate::report::write_receipt(&config.state_dir, Some(&c.target.root), &r)
        });
        match receipt {
            Ok(path) => crate::audit::record(
                catalog,
                "daemon",
                "receipt",
                &serde_json::json!({ "copy": c.relative_path, "receipt": path.display().to_string() }),
            ),
            Err(e) => log::error!(
                "cannot write the handover receipt for {}: {e}",
                c.relative_path
            ),
        }
    }
}

/// The configured age recipients (already checked by the configuration).
pub fn encryption_recipients(config: &Config) -> Vec<age::x25519::Recipient> {
    config
        .encryption
        .recipients
        .iter()
        .filter_map(|r| r.parse::<age::x25519::Recipient>().ok())
        .collect()
}

/// Removes the backups of `source` on `target` that the retention policy already marks for
/// removal, recording each in the catalog. Never goes below the floor: the policy keeps it.
pub fn prune_target(
    config: &Config,
    catalog: &Catalog,
    target: &Target,
    source: &str,
) -> Vec<retention::Item> {
    let mut items = match retention::plan(
        &target.root,
        Some(source),
        &config.retention,
        config.timezone,
    ) {
        Ok(i) => i,
        Err(e) => {
            log::warn!("retention skipped on {}: {e}", target.root.display());
            return Vec::new();
        }
    };
    let now = rfc3339(&Utc::now().with_timezone(&config.timezone));
    // Recorded before the removal starts: a kill in the middle then leaves the catalog saying
    // "pruned" about a backup that is gone or going (the next run's sweep finishes it), never
    // listing as present a backup that is gone (docs/decisions.md, issue 15).
    retention::apply(&target.root, &mut items, &mut |i| {
        if let Err(e) = catalog.record_pruned(&i.target, &i.path, &i.source, &i.started_at, &now) {
            log::warn!("{e}");
        }
    });
    let removed: Vec<_> = items
        .into_iter()
        .filter(|i| matches!(i.removed, Some(Ok(()))))
        .collect();
    for i in &removed {
        crate::audit::record(
            catalog,
            "daemon:retention",
            "prune",
            &serde_json::json!({ "target": i.target, "path": i.path, "started_at": i.started_at, "rule": i.decision.as_str() }),
        );
    }
    removed
}

/// Checks that `target` has room for about `need` bytes; if not, first removes what retention
/// already allows, then gives up with "disk full" (never deleting below the floor).
fn make_room(
    config: &Config,
    catalog: &Catalog,
    target: &Target,
    source: &str,
    need: u64,
) -> Result<(), CopyError> {
    let Ok(free) = free_bytes(&target.root) else {
        return Ok(()); // the writer will report why the target is unusable
    };
    if free >= need {
        return Ok(());
    }
    let removed = prune_target(config, catalog, target, source);
    let free = free_bytes(&target.root).unwrap_or(free);
    if free >= need {
        log::info!(
            "{}: removed {} old backup(s) the retention policy allowed, to make room",
            target.root.display(),
            removed.len()
        );
        return Ok(());
    }
    Err(CopyError::new(CopyFailure::Full, format!(
        "{}: disk full: the backup needs about {}, only {} is free{} (the last {} backups are never deleted to make room; replace or enlarge the disk)",
        target.root.display(),
        crate::util::human_bytes(need),
        crate::util::human_bytes(free),
        if removed.is_empty() {
            String::new()
        } else {
            format!(" after removing {} backup(s) the retention policy allowed", removed.len())
        },
        config.retention.min_keep
    )))
}

/// "1 of 2 copies written; /mnt/x: disk full while writing", with the first failed copy's kind.
fn summarize_copies(copies: &[CopyOutcome], total: usize) -> (String, RunFailure) {
    let ok = copies.iter().filter(|c| c.result.is_ok()).count();
    let first = copies.iter().find_map(|c| c.result.as_ref().err());
    let (words, kind) = match first {
        Some(e) => (e.message.as_str(), RunFailure::Copy(e.kind)),
        None => ("unknown error", RunFailure::Other),
    };
    (format!("{ok} of {total} copies written; {words}"), kind)
}

/// Before anything is written: every target is asked (on a thread of its own, for at most
/// `stall`) to drop what an interrupted run left and to say how much room it has. A target that
/// does not answer is left out of the run with a "not answering" failure; its thread is left
/// behind. Returns the targets that did not answer.
fn probe_targets(
    targets: &[Target],
    source: &str,
    stall: std::time::Duration,
) -> Vec<(PathBuf, CopyError)> {
    let probes: Vec<_> = targets
        .iter()
        .map(|t| {
            let (root, source) = (t.root.clone(), source.to_string());
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let spawned = std::thread::Builder::new()
                .name(format!("probe {}", t.root.display()))
                .spawn(move || {
                    remove_leftovers(&root, &source);
                    let _ = tx.send(());
                });
            (t.root.clone(), spawned.ok().map(|_| rx))
        })
        .collect();
    let deadline = std::time::Instant::now() + stall;
    let mut unanswering = Vec::new();
    for (root, rx) in probes {
        let Some(rx) = rx else { continue };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if rx.recv_timeout(left).is_err() {
            log::error!(
                "{}: the disk does not answer; left out of this run",
                root.display()
            );
            let e =
                writer::not_answering(&root, stall, "looking for leftovers of an interrupted run");
            unanswering.push((root, e));
        }
    }
    unanswering
}
