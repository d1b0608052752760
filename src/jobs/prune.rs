/*!
The retention job (`prune` on the command line): on every claimed target, what the retention
policy allows is planned ([`crate::backup::retention::plan`], all sources) and, unless it is a dry
run, removed; each removal is recorded in the catalog before it starts and audited after it
succeeded, as the backup run's own pruning does ([`crate::jobs::backup_run::pruning`]).
*/

use crate::backup::retention::{self, Item};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::disks::claim::Claim;

/// Plans (and, unless `dry_run`, applies) retention on every claimed target. Removals are
/// recorded in `catalog` when there is one, and audited as `actor`. A target that cannot be read,
/// and a removal that failed, add a problem to `problems`.
pub fn prune_targets(
    cfg: &Config,
    claims: &[Claim],
    catalog: Option<&Catalog>,
    dry_run: bool,
    now: &str,
    actor: &str,
    problems: &mut Vec<String>,
) -> Vec<Item> {
    let mut all = Vec::new();
    for c in claims {
        let root = &c.root;
        match retention::plan(root, None, &cfg.retention, cfg.timezone) {
            Ok(mut items) => {
                if !dry_run {
                    // Recorded before each removal starts (see prune_target in
                    // jobs/backup_run/pruning.rs).
                    retention::apply(root, &mut items, &mut |i| {
                        if let Some(cat) = catalog {
                            if let Err(e) =
                                cat.record_pruned(&i.target, &i.path, &i.source, &i.started_at, now)
                            {
                                log::warn!("{e}");
                            }
                        }
                    });
                }
                all.extend(items);
            }
            Err(e) => problems.push(format!("cannot read target {e}")),
        }
    }
    if let Some(cat) = catalog {
        for i in all.iter().filter(|i| matches!(i.removed, Some(Ok(())))) {
            crate::audit::record(cat, actor, "prune", i);
        }
    }
    for i in &all {
        if let Some(Err(e)) = &i.removed {
            problems.push(e.clone());
        }
    }
    all
}
