/*!
Retention as a step of a backup run: after a new copy on a target is verified and published, or
before writing to make room, remove what the retention policy ([`crate::backup::prune`]) already
allows, recording each removal in the catalog and the audit log. Never below the floor.
*/

use chrono::Utc;

use super::rfc3339;
use crate::backup::retention;
use crate::backup::writer::Target;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::kinds::{CopyError, CopyFailure};
use crate::util::free_bytes;

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
pub(super) fn make_room(
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
