/*!
Re-checking the copies on a target: every data file re-read from the device (cached pages dropped
first) and compared with its manifest and its `.sha256` sidecar. A copy that fails is renamed with
a `.corrupt` suffix (data, sidecar and manifest), so it is never counted as a backup again, and
the outcome is returned for the catalog.
*/

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::backup::inventory::{self, Entry};
use crate::backup::layout::{self, CORRUPT_SUFFIX};
use crate::backup::writer::{read_back, write_atomically};
use crate::safe_fs::Dir;

/// The verdict on one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub target: String,
    pub source: String,
    /// The data file (absolute path).
    pub path: String,
    /// Whether the copy is a good backup.
    pub ok: bool,
    /// What was wrong, in words.
    pub problem: Option<String>,
    /// What was done about it (renamed to `.corrupt`, sidecar rewritten).
    pub action: Option<String>,
}

/// Checks every backup on a target. Errors only when the target itself cannot be read.
pub fn verify_target(root: &Path) -> Result<Vec<Checked>, String> {
    let entries = inventory::scan(root)?;
    let top = Dir::open(root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(entries
        .iter()
        .map(|e| verify_entry(root, &top, e))
        .collect())
}

/// Checks one backup of a target (the scrub goes copy by copy).
pub fn verify_one(root: &Path, e: &Entry) -> Checked {
    match Dir::open(root) {
        Ok(top) => verify_entry(root, &top, e),
        Err(err) => Checked {
            target: root.display().to_string(),
            source: e.source.clone(),
            path: e.data_path.display().to_string(),
            ok: false,
            problem: Some(format!("cannot open the target: {err}")),
            action: None,
        },
    }
}

fn verify_entry(root: &Path, top: &Dir, e: &Entry) -> Checked {
    let mut c = Checked {
        target: root.display().to_string(),
        source: e.source.clone(),
        path: e.data_path.display().to_string(),
        ok: false,
        problem: None,
        action: None,
    };
    let dir = match top.open_dirs(e.dir_components.iter().map(String::as_str)) {
        Ok(d) => d,
        Err(err) => {
            c.problem = Some(format!("cannot open the backup's folder: {err}"));
            return c;
        }
    };
    let problem = match check(&dir, e) {
        Ok(note) => {
            c.ok = true;
            c.action = note;
            return c;
        }
        Err(p) => p,
    };
    c.problem = Some(problem);
    c.action = Some(match mark_corrupt(&dir, e) {
        Ok(n) => format!(
            "renamed {n} file(s) with the suffix {CORRUPT_SUFFIX}; no longer counted as a backup"
        ),
        Err(err) => format!("could not rename it to {CORRUPT_SUFFIX}: {err}"),
    });
    c
}

/// `Ok(Some(note))` when good but something was repaired.
fn check(dir: &Dir, e: &Entry) -> Result<Option<String>, String> {
    let m = e
        .manifest
        .as_ref()
        .map_err(|err| format!("unusable manifest: {err}"))?;
    if m.encrypted != e.data_name.ends_with(".age") {
        return Err("the manifest's `encrypted` does not match the file name".into());
    }
    let (whole, per_part) = hash_parts(dir, &m.parts)?;
    if whole != m.sha256 {
        return Err(format!(
            "SHA-256 of the stored data is {whole}, the manifest says {}: the data is damaged",
            m.sha256
        ));
    }
    let sidecar_name = format!("{}.sha256", e.data_name);
    let sidecar = match dir.open_read(&sidecar_name) {
        Ok(f) => {
            let mut text = String::new();
            use std::io::Read;
            f.take(1 << 16)
                .read_to_string(&mut text)
                .map_err(|err| format!("cannot read {sidecar_name}: {err}"))
                .map(|_| layout::parse_sidecar(&text))?
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("cannot read {sidecar_name}: {err}")),
    };
    match sidecar {
        Some(lines) => {
            for (h, part) in &per_part {
                match lines.iter().find(|(_, n)| n == part) {
                    Some((sh, _)) if sh == h => {}
                    Some((sh, _)) => {
                        return Err(format!(
                            "{sidecar_name} says {sh} for {part} but the data has {h}"
                        ))
                    }
                    None => return Err(format!("{sidecar_name} does not list {part}")),
                }
            }
            Ok(None)
        }
        None => {
            // The data matches the manifest: rewrite the missing or garbled sidecar from it.
            let text = layout::sidecar_text(&per_part);
            write_atomically(dir, &sidecar_name, text.as_bytes()).map_err(|err| {
                format!("{sidecar_name} is missing or garbled and cannot be rewritten: {err}")
            })?;
            Ok(Some(format!(
                "{sidecar_name} was missing or garbled; rewritten from the verified data and manifest"
            )))
        }
    }
}

/// Re-reads the parts from the device: the SHA-256 of all of them in order, and of each.
fn hash_parts(dir: &Dir, parts: &[String]) -> Result<(String, Vec<(String, String)>), String> {
    if let Some(missing) = parts.iter().find(|p| !dir.exists(p)) {
        return Err(format!("data file {missing} is missing"));
    }
    let (whole, each) =
        read_back(dir, parts).map_err(|err| format!("cannot read the data files: {err}"))?;
    Ok((whole, each.into_iter().zip(parts.iter().cloned()).collect()))
}

/// Renames the data parts, the sidecar and the manifest with `.corrupt`; manifest first, so the
/// backup stops existing before anything else moves.
fn mark_corrupt(dir: &Dir, e: &Entry) -> io::Result<usize> {
    let mut names = vec![
        format!("{}.json", e.data_name),
        format!("{}.sha256", e.data_name),
    ];
    match &e.manifest {
        Ok(m) => names.extend(m.parts.iter().cloned()),
        Err(_) => names.push(e.data_name.clone()),
    }
    let mut n = 0;
    for name in names {
        if dir.exists(&name) {
            dir.rename(&name, &format!("{name}{CORRUPT_SUFFIX}"))?;
            n += 1;
        }
    }
    dir.sync()?;
    Ok(n)
}
