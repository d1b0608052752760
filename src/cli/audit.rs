/*!
`audit verify`: the audit log's hash chain and the anchors carried by the disks.
*/

use std::path::{Path, PathBuf};

use super::{load, Failure};
use crate::catalog::Catalog;
use crate::disks::Disks;

pub(super) fn cmd_audit_verify(config_path: &Path, targets: &[PathBuf]) -> Result<(), Failure> {
    use crate::audit_anchor::{self, Check};
    let cfg = load(config_path)?;
    let cat = Catalog::open(&cfg.state_dir).map_err(|e| Failure::Failed(e.to_string()))?;
    let rows = cat
        .audit_entries()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let n = crate::audit::verify_chain(&rows).map_err(|b| {
        Failure::Failed(format!(
            "the audit log was tampered with: {b}; keep this catalog as evidence and report it"
        ))
    })?;
    // Where anchors may be: the given roots, the configured targets, the disks mounted now.
    let mut roots: Vec<PathBuf> = targets
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    roots.extend(cfg.targets.iter().map(|t| t.path.clone()));
    if let Ok(rd) = std::fs::read_dir(Disks::new(&cfg).mount_dir()) {
        let mounted: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        roots.extend(
            mounted
                .into_iter()
                .filter(|p| crate::disks::mount::mount_at(p).is_some()),
        );
    }
    let chain = rows.first().filter(|r| r.id == 1).map(|r| r.hash.as_str());
    let (newest, notes) = audit_anchor::newest_on(&roots, chain);
    for note in &notes {
        eprintln!("note: {note}");
    }
    let last = rows.last().map(|r| r.at.as_str()).unwrap_or("-");
    let Some((root, anchor)) = newest else {
        println!(
            "audit log intact: {n} entries, the last one {last}; no disk anchor found to check its end against (looked at {} folder(s))",
            roots.len()
        );
        return Ok(());
    };
    match audit_anchor::check(&rows, &anchor) {
        Check::Holds => {
            println!(
                "audit log intact: {n} entries, the last one {last}; it holds entry {} as the disk at {} saw it",
                anchor.id,
                root.display()
            );
            Ok(())
        }
        Check::Truncated { from, to } => Err(Failure::Failed(format!(
            "the audit log was cut short: entries {from} to {to} are missing; the disk at {} saw entry {} (written {}), the catalog ends at entry {}; keep this catalog and the disk as evidence and report it",
            root.display(),
            anchor.id,
            anchor.at,
            from - 1
        ))),
        Check::Rewritten => Err(Failure::Failed(format!(
            "the audit log was rewritten: entry {} differs from what the disk at {} saw ({}); keep this catalog and the disk as evidence and report it",
            anchor.id,
            root.display(),
            anchor.at
        ))),
        Check::Replaced => Err(Failure::Failed(format!(
            "the audit log was replaced: the disk at {} holds this unit's anchor of another log (entry {}, written {}); keep this catalog and the disk as evidence and report it",
            root.display(),
            anchor.id,
            anchor.at
        ))),
        // newest_on only returns anchors of this chain or unit; said all the same.
        Check::OtherChain => {
            println!(
                "audit log intact: {n} entries, the last one {last}; the anchor on {} is another appliance's",
                root.display()
            );
            Ok(())
        }
    }
}
