/*!
What is on the targets: `list`, `verify` (re-reads every copy) and `prune` (retention).
*/

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::targets::{clear_text_copies, clear_text_problem, target_roots, writable_roots};
use super::{load, Failure};
use crate::backup::inventory;
use crate::backup::retention;
use crate::backup::verify;
use crate::catalog::Catalog;
use crate::config::{Config, Role};
use crate::disks::claim;
use crate::jobs;
use crate::util::human_bytes;

#[derive(Serialize)]
pub(super) struct ListEntry {
    target: String,
    source: String,
    path: String,
    started_at: Option<String>,
    bytes_stored: Option<u64>,
    sha256: Option<String>,
    /// Set when the manifest cannot be used.
    error: Option<String>,
    /// Whether the copy is all there (`complete`, `missing_part`, `wrong_size`, …); only
    /// complete copies are backups that count.
    state: &'static str,
    /// What is wrong with a copy that is not complete, in words.
    problem: Option<String>,
    /// The role of the disk it is on (its marker decides; `manual` for a removable disk that is
    /// not enrolled), when it could be told.
    role: Option<&'static str>,
    /// A clear-text copy on a disk whose role `[encryption] require_for` names.
    policy_problem: Option<String>,
}

pub(super) fn cmd_list(config_path: &Path, targets: &[PathBuf], json: bool) -> Result<(), Failure> {
    let cfg = if targets.is_empty() {
        Some(load(config_path)?)
    } else {
        Config::load(config_path).ok()
    };
    let roots = target_roots(cfg.as_ref(), targets, "list")?;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for root in &roots {
        // Listing writes nothing: a disk that may not be written is still listed.
        let role = match claim::claim(cfg.as_ref(), root) {
            Ok(c) => Some(c.role),
            Err(claim::ClaimError::Unenrolled { .. }) => Some(Role::Manual),
            Err(e) => {
                log::warn!("{e}");
                None
            }
        };
        let encrypted_role = role.filter(|r| {
            cfg.as_ref()
                .is_some_and(|c| c.encryption.require_for.contains(r))
        });
        match inventory::scan(root) {
            Ok(list) => {
                for e in list {
                    let (started_at, bytes_stored, sha256, error) = match &e.manifest {
                        Ok(m) => (
                            Some(m.started_at.clone()),
                            Some(m.bytes_stored),
                            Some(m.sha256.clone()),
                            None,
                        ),
                        Err(err) => (None, None, None, Some(err.clone())),
                    };
                    let complete = e.completeness.is_complete();
                    entries.push(ListEntry {
                        target: root.display().to_string(),
                        source: e.source,
                        path: e.data_path.display().to_string(),
                        started_at,
                        bytes_stored,
                        sha256,
                        error,
                        state: e.completeness.as_str(),
                        problem: (!complete).then(|| e.completeness.to_string()),
                        role: role.map(Role::as_str),
                        policy_problem: encrypted_role
                            .filter(|_| e.manifest.as_ref().is_ok_and(|m| !m.encrypted))
                            .map(|r| clear_text_problem(&e.data_path, r)),
                    });
                }
            }
            Err(e) => problems.push(e),
        }
    }
    // Without --target: the remote copies the catalog records as verified, one entry each
    // (`target` = `offsite:<name>`, `path` = the object key). Unverified uploads do not count.
    if targets.is_empty() {
        if let Some(cfg) = cfg.as_ref().filter(|c| !c.offsite.is_empty()) {
            match crate::catalog::Catalog::open(&cfg.state_dir).and_then(|c| c.uploads(None)) {
                Ok(uploads) => {
                    for u in uploads
                        .into_iter()
                        .rev()
                        .filter(|u| u.state == crate::catalog::UploadState::Verified)
                    {
                        entries.push(ListEntry {
                            target: format!("offsite:{}", u.offsite),
                            source: u.source,
                            path: u.key,
                            started_at: Some(u.started_at),
                            bytes_stored: Some(u.size),
                            sha256: Some(u.sha256),
                            error: None,
                            state: "complete",
                            problem: None,
                            role: Some("offsite"),
                            policy_problem: None,
                        });
                    }
                }
                Err(e) => problems.push(format!("the off-site copies: {e}")),
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        if entries.is_empty() {
            let _ = writeln!(out, "no backups found");
        }
        for e in &entries {
            match &e.error {
                None => {
                    let _ = writeln!(
                        out,
                        "{:<25}  {:<8}  {:>10}  {}{}",
                        e.started_at.as_deref().unwrap_or("?"),
                        e.source,
                        human_bytes(e.bytes_stored.unwrap_or(0)),
                        if e.role == Some("offsite") {
                            format!("{} {}", e.target, e.path)
                        } else {
                            e.path.clone()
                        },
                        match (&e.problem, &e.policy_problem) {
                            (Some(p), _) => format!("  NOT COUNTED: {p}"),
                            (None, Some(_)) =>
                                "  CLEAR TEXT on a disk that requires encryption: delete it".into(),
                            (None, None) => String::new(),
                        }
                    );
                }
                Some(err) => {
                    let _ = writeln!(
                        out,
                        "{:<25}  {:<8}  {:>10}  {}  UNUSABLE: {err}",
                        "?", e.source, "?", e.path
                    );
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

pub(super) fn cmd_verify(
    config_path: &Path,
    targets: &[PathBuf],
    json: bool,
) -> Result<(), Failure> {
    // With --target, verification works without a configuration (a disk on another machine);
    // results are then not recorded in a catalog.
    let cfg = match Config::load(config_path) {
        Ok(c) => Some(c),
        Err(e) if !targets.is_empty() => {
            log::warn!("{e}; verifying without recording in the catalog");
            None
        }
        Err(e) => return Err(Failure::Usage(e.to_string())),
    };
    let roots = target_roots(cfg.as_ref(), targets, "verify")?;
    let catalog = match &cfg {
        Some(c) => Some(Catalog::open(&c.state_dir).map_err(|e| Failure::Failed(e.to_string()))?),
        None => None,
    };
    let tz = cfg
        .as_ref()
        .map(|c| c.timezone)
        .unwrap_or(chrono_tz::Asia::Jakarta);
    let now = chrono::Utc::now().with_timezone(&tz).to_rfc3339();
    let (claims, mut problems) = writable_roots(cfg.as_ref(), roots);
    let all = jobs::verify::check_targets(&claims, &now, &mut problems);
    for w in clear_text_copies(cfg.as_ref(), &claims) {
        log::warn!("{w}");
    }
    if let Some(cat) = &catalog {
        jobs::verify::record(cat, &all, &now, &crate::audit::cli_actor())
            .map_err(|e| Failure::Failed(e.to_string()))?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        if all.is_empty() {
            let _ = writeln!(out, "no backups found");
        }
        for c in &all {
            let word = match &c.verdict {
                verify::Verdict::Good => "OK",
                verify::Verdict::Mismatch { .. } | verify::Verdict::BadManifest { .. } => "DAMAGED",
                verify::Verdict::Unreadable { .. } => "UNREADABLE",
                verify::Verdict::Missing { .. } => "INCOMPLETE",
                verify::Verdict::Skipped { .. } => "SKIPPED",
            };
            let _ = writeln!(out, "{word:<10} {}", c.path);
            if let Some(p) = &c.problem {
                let _ = writeln!(out, "           {p}");
            }
            if let Some(a) = &c.action {
                let _ = writeln!(out, "           {a}");
            }
        }
    }
    let tally = jobs::verify::Tally::of(&all);
    let skipped = tally.skipped;
    if skipped > 0 && !json {
        let _ = writeln!(
            out,
            "{skipped} {} written by a newer simdondar-backup {} not checked; update this program to check {}",
            if skipped == 1 { "copy" } else { "copies" },
            if skipped == 1 { "was" } else { "were" },
            if skipped == 1 { "it" } else { "them" },
        );
    }
    if let Some(p) = tally.problem(all.len()) {
        problems.push(p);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}

pub(super) fn cmd_prune(
    config_path: &Path,
    targets: &[PathBuf],
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    let roots = target_roots(Some(&cfg), targets, "prune")?;
    let catalog = if dry_run {
        None
    } else {
        Some(Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?)
    };
    let now = chrono::Utc::now().with_timezone(&cfg.timezone).to_rfc3339();
    let (claims, mut problems) = writable_roots(Some(&cfg), roots);
    let all = jobs::prune::prune_targets(
        &cfg,
        &claims,
        catalog.as_ref(),
        dry_run,
        &now,
        &crate::audit::cli_actor(),
        &mut problems,
    );
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into());
        let _ = writeln!(out, "{text}");
    } else {
        for i in &all {
            let action = match (&i.removed, i.decision.keep()) {
                (_, true) => "keep  ",
                (None, false) => "remove",
                (Some(Ok(())), false) => "REMOVED",
                (Some(Err(_)), false) => "FAILED",
            };
            let _ = writeln!(
                out,
                "{action:<7} {:<12} {:<25} {}",
                i.decision.as_str(),
                i.started_at,
                i.path
            );
            if let Some(p) = &i.problem {
                let _ = writeln!(out, "        {p}");
            }
        }
        if dry_run {
            let _ = writeln!(
                out,
                "dry run: nothing was removed ({} would free {})",
                all.iter().filter(|i| !i.decision.keep()).count(),
                human_bytes(retention::reclaimable(&all))
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(problems.join("\n")))
    }
}
