/*!
What is on a target: every backup found by its manifest under `SIMDONDAR-BACKUP/<source>/YYYY/MM/DD/`,
newest first. Walks the tree through directory handles without following symlinks; a manifest
that cannot be read is reported as such, never silently skipped.
*/

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::backup::layout::{CORRUPT_SUFFIX, PARTIAL_SUFFIX, ROOT_DIR};
use crate::backup::manifest::Manifest;
use crate::safe_fs::Dir;

/// Manifests larger than this are not read (a hostile disk could hold a huge one).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// One backup found on a target.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The source folder it was found in.
    pub source: String,
    /// The data file's path (absolute).
    pub data_path: PathBuf,
    /// The folders from the target root to the backup's day folder.
    pub dir_components: Vec<String>,
    /// The data file's name (`pmi_20261126-100000.sql.zst`).
    pub data_name: String,
    /// The manifest, or why it cannot be used.
    pub manifest: Result<Manifest, String>,
}

/// Scans a target root. A missing `SIMDONDAR-BACKUP` folder means an empty target.
pub fn scan(root: &Path) -> Result<Vec<Entry>, String> {
    let top = Dir::open(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let backups = match top.open_dir(ROOT_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}/{ROOT_DIR}: {e}", root.display())),
    };
    let mut out = Vec::new();
    let sources = backups
        .entries()
        .map_err(|e| format!("{}/{ROOT_DIR}: {e}", root.display()))?;
    for (source, is_dir) in sources {
        if !is_dir {
            continue;
        }
        let Ok(sdir) = backups.open_dir(&source) else {
            continue;
        };
        let base = root.join(ROOT_DIR).join(&source);
        let comps = vec![ROOT_DIR.to_string(), source.clone()];
        walk(&sdir, &base, &comps, &source, 3, &mut out);
    }
    out.sort_by(|a, b| {
        let ka = a
            .manifest
            .as_ref()
            .map(|m| m.started_at.clone())
            .unwrap_or_default();
        let kb = b
            .manifest
            .as_ref()
            .map(|m| m.started_at.clone())
            .unwrap_or_default();
        kb.cmp(&ka).then_with(|| b.data_path.cmp(&a.data_path))
    });
    Ok(out)
}

fn walk(dir: &Dir, path: &Path, comps: &[String], source: &str, depth: u32, out: &mut Vec<Entry>) {
    let Ok(entries) = dir.entries() else { return };
    for (name, is_dir) in entries {
        if is_dir {
            if depth > 0 {
                if let Ok(sub) = dir.open_dir(&name) {
                    let mut sub_comps = comps.to_vec();
                    sub_comps.push(name.clone());
                    walk(&sub, &path.join(&name), &sub_comps, source, depth - 1, out);
                }
            }
            continue;
        }
        if depth != 0
            || !name.ends_with(".json")
            || name.ends_with(PARTIAL_SUFFIX)
            || name.contains(CORRUPT_SUFFIX)
        {
            continue;
        }
        let data = name.trim_end_matches(".json").to_string();
        out.push(Entry {
            source: source.to_string(),
            data_path: path.join(&data),
            dir_components: comps.to_vec(),
            data_name: data.clone(),
            manifest: read_manifest(dir, &name),
        });
    }
}

/// Reads a manifest through a directory handle, with a size limit.
pub fn read_manifest(dir: &Dir, name: &str) -> Result<Manifest, String> {
    let f = dir
        .open_read(name)
        .map_err(|e| format!("cannot open {name}: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!(
            "{name} is larger than 1 MiB; not a manifest of ours"
        ));
    }
    Manifest::from_json(&bytes).map_err(|e| format!("{name}: {e}"))
}
