/*!
Which targets a command works on: the given directories or the configured ones, each with the
role its disk claims; copies in clear where the role asks for encryption.
*/

use std::path::{Path, PathBuf};

use super::Failure;
use crate::backup::inventory;
use crate::backup::writer::Target;
use crate::config::{Config, Role};
use crate::disks::claim;

/// The targets of a backup, each with the role its disk claims ([`claim::claim`]); any target
/// that may not be written refuses the whole command, before anything is written.
pub(super) fn claimed_targets(cfg: &Config, roots: &[PathBuf]) -> Result<Vec<Target>, Failure> {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for root in roots {
        match claim::claim(Some(cfg), root) {
            Ok(c) => out.push(Target::dir(c.root, c.role)),
            Err(e) => refused.push(e.to_string()),
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(Failure::Usage(refused.join("\n")))
    }
}

/// A warning for each clear-text copy on a root whose role `[encryption] require_for` names
/// (written before the marker decided, or by hand): such a disk leaves the building.
pub(super) fn clear_text_copies(cfg: Option<&Config>, claims: &[claim::Claim]) -> Vec<String> {
    let Some(cfg) = cfg else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in claims
        .iter()
        .filter(|c| cfg.encryption.require_for.contains(&c.role))
    {
        for e in inventory::scan(&c.root).unwrap_or_default() {
            if e.manifest.as_ref().is_ok_and(|m| !m.encrypted) {
                out.push(clear_text_problem(&e.data_path, c.role));
            }
        }
    }
    out
}

pub(super) fn clear_text_problem(data: &Path, role: Role) -> String {
    format!(
        "{}: written in clear text on a {} disk, where [encryption] require_for asks for encrypted copies: delete it from this disk and take a new backup onto it",
        data.display(),
        role.as_str()
    )
}

/// The roots a command that changes a disk (verify's renaming, prune) may touch, and a problem
/// for each one it may not ([`claim::claim`]).
pub(super) fn writable_roots(
    cfg: Option<&Config>,
    roots: Vec<PathBuf>,
) -> (Vec<claim::Claim>, Vec<String>) {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for root in roots {
        match claim::claim(cfg, &root) {
            Ok(c) => ok.push(c),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (ok, problems)
}

/// The targets a command works on: those given with `--target` (made absolute), else the
/// config's `[[target]]`s; none is a usage error naming the command (`for_what`: "list", …).
pub(super) fn target_roots(
    cfg: Option<&Config>,
    targets: &[PathBuf],
    for_what: &str,
) -> Result<Vec<PathBuf>, Failure> {
    let roots: Vec<PathBuf> = if targets.is_empty() {
        cfg.map(|c| c.targets.iter().map(|t| t.path.clone()).collect())
            .unwrap_or_default()
    } else {
        targets
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect()
    };
    if roots.is_empty() {
        return Err(Failure::Usage(format!(
            "no target to {for_what}: give --target DIR or add a [[target]] to the config"
        )));
    }
    Ok(roots)
}
