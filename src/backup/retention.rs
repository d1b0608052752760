/*!
Applying retention to a target: read its backups, ask the pure policy ([`crate::backup::prune`])
which to keep, and remove the others — manifest first (so a half-removed backup has stopped being a
backup), then the sidecar, then the data. Only backups with a valid manifest count; a copy that
failed verification was renamed `.corrupt` and is neither counted nor touched here.
*/

use std::path::Path;

use chrono::DateTime;
use serde::Serialize;

use crate::backup::inventory;
use crate::backup::prune::{self, Reason};
use crate::config::RetentionConfig;
use crate::safe_fs::Dir;

/// One backup and the policy's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub target: String,
    pub source: String,
    /// The data file (absolute path).
    pub path: String,
    pub started_at: String,
    pub bytes_stored: u64,
    /// `keep-last`, …, `min-keep` or `remove`.
    pub decision: Reason,
    /// Set after applying: whether the files are gone, or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Result<(), String>>,
    #[serde(skip)]
    dir_components: Vec<String>,
    #[serde(skip)]
    files: Vec<String>,
}

/// Decides keep/remove for every backup on `root` (of one source, or all), per source.
pub fn plan(
    root: &Path,
    source: Option<&str>,
    policy: &RetentionConfig,
    tz: chrono_tz::Tz,
) -> Result<Vec<Item>, String> {
    let entries = inventory::scan(root)?;
    let mut by_source: std::collections::BTreeMap<String, Vec<Item>> = Default::default();
    for e in entries {
        if source.is_some_and(|s| s != e.source) {
            continue;
        }
        let Ok(m) = &e.manifest else { continue };
        let Ok(t) = DateTime::parse_from_rfc3339(&m.started_at) else {
            continue;
        };
        let mut files = vec![
            format!("{}.json", e.data_name),
            format!("{}.sha256", e.data_name),
        ];
        files.extend(m.parts.iter().cloned());
        by_source.entry(e.source.clone()).or_default().push(Item {
            target: root.display().to_string(),
            source: e.source.clone(),
            path: e.data_path.display().to_string(),
            started_at: t.with_timezone(&tz).to_rfc3339(),
            bytes_stored: m.bytes_stored,
            decision: Reason::Remove,
            removed: None,
            dir_components: e.dir_components.clone(),
            files,
        });
    }
    let mut out = Vec::new();
    for (_, mut items) in by_source {
        let times: Vec<_> = items
            .iter()
            .filter_map(|i| DateTime::parse_from_rfc3339(&i.started_at).ok())
            .map(|t| t.with_timezone(&tz))
            .collect();
        if times.len() != items.len() {
            // Cannot happen (every item's time was parsed above); keep everything if it does.
            items.iter_mut().for_each(|i| i.decision = Reason::MinKeep);
        } else {
            for (item, reason) in items.iter_mut().zip(prune::plan(&times, policy)) {
                item.decision = reason;
            }
        }
        out.extend(items);
    }
    Ok(out)
}

/// Removes the items the plan marks `remove`; records the outcome in each item.
pub fn apply(root: &Path, items: &mut [Item]) {
    let top = match Dir::open(root) {
        Ok(d) => d,
        Err(e) => {
            for i in items.iter_mut().filter(|i| !i.decision.keep()) {
                i.removed = Some(Err(format!("{}: {e}", root.display())));
            }
            return;
        }
    };
    for item in items.iter_mut().filter(|i| !i.decision.keep()) {
        let res = top
            .open_dirs(item.dir_components.iter().map(String::as_str))
            .and_then(|dir| {
                for f in &item.files {
                    match dir.remove_file(f) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                dir.sync()
            })
            .map_err(|e| format!("cannot remove {}: {e}", item.path));
        item.removed = Some(res);
    }
}

/// Bytes the plan would free.
pub fn reclaimable(items: &[Item]) -> u64 {
    items
        .iter()
        .filter(|i| !i.decision.keep())
        .map(|i| i.bytes_stored)
        .sum()
}
