/*!
`backup`: a backup now, through the daemon when it runs (it owns the disks), otherwise the
backup-run job ([`crate::jobs::backup_run`]) on the given or configured targets.
*/

use std::io::Write;
use std::path::{Path, PathBuf};

use super::targets::claimed_targets;
use super::{ask_daemon, daemon_socket, load, Failure};
use crate::agent::state::Request;
use crate::backup::writer::Target;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::disks::Disks;
use crate::jobs::backup_run::{run_backup, Trigger};
use crate::util::human_bytes;

pub(super) fn cmd_backup(
    config_path: &Path,
    sources: &[String],
    targets: &[PathBuf],
) -> Result<(), Failure> {
    let cfg = load(config_path)?;
    if targets.is_empty() {
        if let Some(sock) = daemon_socket(&cfg) {
            // The daemon owns the disks: it runs the backup and answers when it is done.
            return ask_daemon(
                &sock,
                &Request::Backup {
                    sources: sources.to_vec(),
                },
                None,
            );
        }
    }
    let chosen: Vec<_> = if sources.is_empty() {
        cfg.sources.iter().collect()
    } else {
        sources
            .iter()
            .map(|n| {
                cfg.source(n).ok_or_else(|| {
                    let known: Vec<_> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
                    Failure::Usage(format!(
                        "no source named '{n}' in {} (known: {})",
                        cfg.path.display(),
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(Failure::Usage(format!(
            "{} defines no [[source]]: nothing to back up",
            cfg.path.display()
        )));
    }
    let mut attached = Vec::new();
    let targets: Vec<Target> = if targets.is_empty() {
        let configured: Vec<PathBuf> = cfg.targets.iter().map(|t| t.path.clone()).collect();
        let mut v = claimed_targets(&cfg, &configured)?;
        if crate::disks::device::udev_running() {
            let (a, problems) = Disks::new(&cfg).attach_all();
            for p in problems {
                log::warn!("{p}");
            }
            v.extend(a.iter().map(|a| a.target.clone()));
            attached = a;
        }
        v
    } else {
        let abs: Vec<PathBuf> = targets
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        claimed_targets(&cfg, &abs)?
    };
    if targets.is_empty() {
        return Err(Failure::Usage(
            "no target to write to: plug in an enrolled disk, add a [[target]] to the config or give --target DIR".into(),
        ));
    }
    let result = backup_to(&cfg, &chosen, &targets);
    // Disks mounted for this run are unmounted again (left as they were found).
    let disks = Disks::new(&cfg);
    for a in attached.iter().filter(|a| a.mounted_here) {
        if let Err(e) = disks.eject(&a.target.root, None, false) {
            log::warn!("{e}");
        }
    }
    disks.clean_stale();
    result
}

pub(super) fn backup_to(
    cfg: &Config,
    chosen: &[&crate::config::SourceConfig],
    targets: &[Target],
) -> Result<(), Failure> {
    let catalog = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut failed = Vec::new();
    let mut out = std::io::stdout().lock();
    for source in chosen {
        let report = run_backup(cfg, source, targets, Trigger::Cli, &catalog)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // A disk that stopped answering is freed, or this process could not even exit.
        crate::disks::stuck::release_all(&report.not_answering());
        for c in &report.copies {
            match &c.result {
                Ok(bytes) => {
                    let _ = writeln!(
                        out,
                        "OK      {}  {}  ({}, verified)",
                        source.name,
                        c.target.root.join(&c.relative_path).display(),
                        human_bytes(*bytes)
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "FAILED  {}  {}: {e}",
                        source.name,
                        c.target.root.display()
                    );
                }
            }
        }
        if let Some(m) = &report.manifest {
            let _ = writeln!(
                out,
                "        sha256 {}  raw {} → stored {}",
                m.sha256,
                human_bytes(m.bytes_raw),
                human_bytes(m.bytes_stored)
            );
        }
        for p in &report.pruned {
            let _ = writeln!(out, "PRUNED  {}  {}  (retention)", source.name, p.path);
        }
        if !report.ok {
            failed.push(format!(
                "backup of '{}' failed: {}",
                source.name,
                report.reason.unwrap_or_else(|| "unknown reason".into())
            ));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(failed.join("\n")))
    }
}
