/*!
Re-checking the copies on a target: every data file re-read from the device (cached pages dropped
first) and compared with its manifest and its `.sha256` sidecar. The outcome of each copy is a
typed [`Verdict`], and only what was actually read decides it:

- the bytes read differ from the manifest's SHA-256 (or the manifest itself is garbage): the copy
  is renamed with a `.corrupt` suffix (data, sidecar, manifest), so it is never counted again;
- the disk returned an error while reading (EIO, the disk went away, …): the copy is **not**
  renamed — nothing says its bytes are wrong — but marked `<data>.unreadable`, so it does not count
  for the retention floor, and read again at the next verification (the mark is removed when it
  reads fine);
- a data file is missing: nothing to read, nothing renamed (the file may be put back);
- the manifest was written by a newer simdondar-backup: skipped with a note, never renamed;
- a missing, garbled or wrong sidecar next to data that matches the manifest is rewritten.
*/

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::backup::inventory::{self, Completeness, Entry, UnreadableMarker, UNREADABLE_SUFFIX};
use crate::backup::layout::{self, SidecarMatch, CORRUPT_SUFFIX};
use crate::backup::writer::{read_back, write_atomically};
use crate::kinds::CopyFailure;
use crate::safe_fs::Dir;

/// What verification found for one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every byte read back from the device matches the manifest's SHA-256.
    Good,
    /// The bytes read back differ from the manifest's SHA-256: renamed `.corrupt`.
    Mismatch {
        /// SHA-256 of what was read.
        read: String,
        /// What the manifest says.
        expected: String,
    },
    /// The manifest is damaged (not JSON, inconsistent with itself or the file names): the copy
    /// cannot be checked or restored and is renamed `.corrupt`.
    BadManifest { error: String },
    /// Reading failed (an I/O error, the disk went away): not renamed, marked `.unreadable`,
    /// read again at the next verification.
    Unreadable {
        /// The kind of the read error (its stable name: `io_error`, `gone`, …).
        #[serde(serialize_with = "failure_name")]
        failure: CopyFailure,
        /// The error number, when the disk gave one (5 = EIO).
        errno: Option<i32>,
        error: String,
    },
    /// A data file is not there (or not a regular file): nothing was read, nothing renamed.
    Missing { part: String },
    /// The manifest has a format newer than this build knows: not checked, left as it is.
    Skipped { format: u32 },
}

fn failure_name<S: serde::Serializer>(k: &CopyFailure, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

impl Verdict {
    /// The stable name (JSON `verdict`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Mismatch { .. } => "mismatch",
            Verdict::BadManifest { .. } => "bad_manifest",
            Verdict::Unreadable { .. } => "unreadable",
            Verdict::Missing { .. } => "missing",
            Verdict::Skipped { .. } => "skipped",
        }
    }

    /// Whether the copy is a good backup.
    pub fn is_good(&self) -> bool {
        *self == Verdict::Good
    }

    /// Whether this verdict makes `verify` fail (exit 1): anything bad or unreadable. A copy
    /// skipped because a newer program wrote it is not a failure.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Verdict::Good | Verdict::Skipped { .. })
    }

    /// Whether a verification was actually made (recorded in the catalog): not for a skipped copy.
    pub fn was_checked(&self) -> bool {
        !matches!(self, Verdict::Skipped { .. })
    }
}

/// The outcome for one copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub target: String,
    pub source: String,
    /// The data file (absolute path).
    pub path: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Whether the copy is a good backup (the verdict is `good`).
    pub ok: bool,
    /// What was wrong, in words.
    pub problem: Option<String>,
    /// What was done about it (renamed to `.corrupt`, marked unreadable, sidecar rewritten).
    pub action: Option<String>,
}

/// Checks every backup on a target; `now` (RFC 3339) goes into an unreadable mark. Errors only
/// when the target itself cannot be read.
pub fn verify_target(root: &Path, now: &str) -> Result<Vec<Checked>, String> {
    let entries = inventory::scan(root)?;
    let top = Dir::open(root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(entries
        .iter()
        .map(|e| verify_entry(root, &top, e, now))
        .collect())
}

/// Checks one backup of a target (the scrub goes copy by copy); `now` as for [`verify_target`].
pub fn verify_one(root: &Path, e: &Entry, now: &str) -> Checked {
    match Dir::open(root) {
        Ok(top) => verify_entry(root, &top, e, now),
        Err(err) => Checked {
            target: root.display().to_string(),
            source: e.source.clone(),
            path: e.data_path.display().to_string(),
            verdict: unreadable(&err),
            ok: false,
            problem: Some(format!("cannot open the target: {err}")),
            action: Some("left as it is; read again at the next verification".into()),
        },
    }
}

/// What [`check`] found, before anything is done about it.
struct Finding {
    verdict: Verdict,
    problem: Option<String>,
    notes: Vec<String>,
}

impl Finding {
    fn bad(verdict: Verdict, problem: String) -> Finding {
        Finding {
            verdict,
            problem: Some(problem),
            notes: Vec::new(),
        }
    }
}

fn verify_entry(root: &Path, top: &Dir, e: &Entry, now: &str) -> Checked {
    let mut c = Checked {
        target: root.display().to_string(),
        source: e.source.clone(),
        path: e.data_path.display().to_string(),
        verdict: Verdict::Good,
        ok: false,
        problem: None,
        action: None,
    };
    let dir = match top.open_dirs(e.dir_components.iter().map(String::as_str)) {
        Ok(d) => d,
        Err(err) => {
            c.verdict = unreadable(&err);
            c.problem = Some(format!("cannot open the backup's folder: {err}"));
            c.action = Some("left as it is; read again at the next verification".into());
            return c;
        }
    };
    let found = check(&dir, e);
    c.problem = found.problem;
    let mut notes = found.notes;
    match &found.verdict {
        Verdict::Good => {
            if matches!(e.completeness, Completeness::MarkedUnreadable { .. }) {
                notes.push(match remove_marker(&dir, &e.data_name) {
                    Ok(()) => "read fine this time; the earlier 'unreadable' mark was removed".into(),
                    Err(err) => format!(
                        "read fine this time, but the earlier 'unreadable' mark could not be removed: {err}"
                    ),
                });
            }
        }
        Verdict::Mismatch { .. } | Verdict::BadManifest { .. } => {
            notes.push(match mark_corrupt(&dir, e) {
                Ok(n) => format!(
                    "renamed {n} file(s) with the suffix {CORRUPT_SUFFIX}; no longer counted as a backup"
                ),
                Err(err) => format!("could not rename it to {CORRUPT_SUFFIX}: {err}"),
            });
        }
        Verdict::Unreadable { failure, errno, .. } => {
            let marker = UnreadableMarker {
                at: Some(now.to_string()),
                failure: Some(failure.as_str().to_string()),
                errno: *errno,
                problem: c.problem.clone(),
            };
            notes.push(match mark_unreadable(&dir, &e.data_name, marker) {
                Ok(()) => format!(
                    "not renamed (nothing says its bytes are wrong); marked {}{UNREADABLE_SUFFIX}, not counted as a backup until it reads fine; read again at the next verification",
                    e.data_name
                ),
                Err(err) => format!(
                    "not renamed; read again at the next verification (the 'unreadable' mark could not be written: {err})"
                ),
            });
        }
        Verdict::Missing { .. } => notes
            .push("nothing renamed; not counted as a backup while the data file is missing".into()),
        Verdict::Skipped { .. } => {
            notes.push("left as it is; check it with that newer simdondar-backup".into())
        }
    }
    c.ok = found.verdict.is_good();
    c.verdict = found.verdict;
    if !notes.is_empty() {
        c.action = Some(notes.join("; "));
    }
    c
}

/// The verdict for a read error.
fn unreadable(err: &io::Error) -> Verdict {
    Verdict::Unreadable {
        failure: CopyFailure::of_io(err),
        errno: err.raw_os_error(),
        error: err.to_string(),
    }
}

fn check(dir: &Dir, e: &Entry) -> Finding {
    let m = match (&e.manifest, &e.completeness) {
        (Ok(m), _) => m,
        (Err(_), Completeness::NewerFormat { format }) => {
            return Finding::bad(
                Verdict::Skipped { format: *format },
                format!(
                    "written by a newer simdondar-backup; not checked (manifest format {format}, this build knows format {})",
                    crate::backup::manifest::FORMAT
                ),
            )
        }
        (Err(_), Completeness::ManifestUnreadable { errno, error }) => {
            let err = match errno {
                Some(n) => io::Error::from_raw_os_error(*n),
                None => io::Error::other(error.clone()),
            };
            return Finding::bad(unreadable(&err), e.completeness.to_string());
        }
        (Err(err), _) => {
            return Finding::bad(
                Verdict::BadManifest { error: err.clone() },
                format!("unusable manifest: {err}"),
            )
        }
    };
    if m.encrypted != e.data_name.ends_with(".age") {
        let error = "the manifest's `encrypted` does not match the file name".to_string();
        return Finding::bad(
            Verdict::BadManifest {
                error: error.clone(),
            },
            format!("unusable manifest: {error}"),
        );
    }
    match &e.completeness {
        Completeness::MissingPart { part } | Completeness::NotAFile { part } => {
            return Finding::bad(
                Verdict::Missing { part: part.clone() },
                e.completeness.to_string(),
            )
        }
        Completeness::PartUnreadable { errno, error, .. } => {
            let err = match errno {
                Some(n) => io::Error::from_raw_os_error(*n),
                None => io::Error::other(error.clone()),
            };
            return Finding::bad(unreadable(&err), e.completeness.to_string());
        }
        _ => {}
    }
    let (whole, per_part) = match read_back(dir, &m.parts) {
        Ok((whole, each)) => (
            whole,
            each.into_iter()
                .zip(m.parts.iter().cloned())
                .collect::<Vec<_>>(),
        ),
        Err(err) => {
            let problem = format!("cannot read the data files: {err}");
            return Finding::bad(unreadable(&err), problem);
        }
    };
    if whole != m.sha256 {
        let mut problem = format!(
            "SHA-256 of the stored data is {whole}, the manifest says {}: the data is damaged",
            m.sha256
        );
        if matches!(
            e.completeness,
            Completeness::WrongSize { .. } | Completeness::WrongTotal { .. }
        ) {
            problem.push_str(&format!(" ({})", e.completeness));
        }
        return Finding::bad(
            Verdict::Mismatch {
                read: whole,
                expected: m.sha256.clone(),
            },
            problem,
        );
    }
    if let Completeness::WrongSize { .. } | Completeness::WrongTotal { .. } = &e.completeness {
        // The bytes match the SHA-256 but not the sizes the manifest gives: the manifest was
        // changed (its sizes no longer describe the data).
        let error = format!("the data matches its SHA-256, but {}", e.completeness);
        return Finding::bad(
            Verdict::BadManifest {
                error: error.clone(),
            },
            format!("unusable manifest: {error}"),
        );
    }
    Finding {
        verdict: Verdict::Good,
        problem: None,
        notes: check_sidecar(dir, &e.data_name, &per_part)
            .into_iter()
            .collect(),
    }
}

/// Checks the `.sha256` sidecar against data that matched the manifest; rewrites it from the
/// verified hashes when it is missing, garbled, unreadable or disagrees (the data and the manifest
/// agree, so the sidecar is the one that is wrong). Returns a note when something was done.
fn check_sidecar(dir: &Dir, data_name: &str, per_part: &[(String, String)]) -> Option<String> {
    let sidecar_name = format!("{data_name}.sha256");
    let what = match dir.open_read(&sidecar_name) {
        Ok(f) => {
            let mut text = String::new();
            use std::io::Read;
            match f.take(1 << 16).read_to_string(&mut text) {
                Err(err) => format!("could not be read ({err})"),
                Ok(_) => match layout::parse_sidecar(&text) {
                    None => "was garbled".to_string(),
                    Some(lines) => {
                        let mut wrong = None;
                        for (h, part) in per_part {
                            match layout::sidecar_match(&lines, part, h) {
                                SidecarMatch::Matches => {}
                                SidecarMatch::Differs(sh) => {
                                    wrong =
                                        Some(format!("said {sh} for {part} but the data has {h}"));
                                    break;
                                }
                                SidecarMatch::Unlisted => {
                                    wrong = Some(format!("did not list {part}"));
                                    break;
                                }
                            }
                        }
                        wrong?
                    }
                },
            }
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => "was missing".to_string(),
        Err(err) => format!("could not be read ({err})"),
    };
    let text = layout::sidecar_text(per_part);
    Some(
        match write_atomically(dir, &sidecar_name, text.as_bytes()) {
            Ok(()) => {
                format!("{sidecar_name} {what}; rewritten from the verified data and manifest")
            }
            Err(err) => format!(
                "{sidecar_name} {what} and cannot be rewritten ({err}); the data itself is good"
            ),
        },
    )
}

/// Writes (or refreshes) the `.unreadable` mark, keeping the time it was first found unreadable.
fn mark_unreadable(dir: &Dir, data_name: &str, mut marker: UnreadableMarker) -> io::Result<()> {
    let name = format!("{data_name}{UNREADABLE_SUFFIX}");
    if let Some(old) = inventory::read_marker(dir, &name) {
        if old.at.is_some() {
            marker.at = old.at;
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&marker).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomically(dir, &name, &bytes)?;
    dir.sync()
}

fn remove_marker(dir: &Dir, data_name: &str) -> io::Result<()> {
    match dir.remove_file(&format!("{data_name}{UNREADABLE_SUFFIX}")) {
        Ok(()) => dir.sync(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames the data parts, the sidecar and the manifest with `.corrupt` (and the unreadable mark
/// too, if any); manifest first, so the backup stops existing before anything else moves.
fn mark_corrupt(dir: &Dir, e: &Entry) -> io::Result<usize> {
    let mut names = vec![
        format!("{}.json", e.data_name),
        format!("{}.sha256", e.data_name),
    ];
    match &e.manifest {
        Ok(m) => names.extend(m.parts.iter().cloned()),
        Err(_) => names.push(e.data_name.clone()),
    }
    names.push(format!("{}{UNREADABLE_SUFFIX}", e.data_name));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_and_exit() {
        let all = [
            Verdict::Good,
            Verdict::Mismatch {
                read: "a".into(),
                expected: "b".into(),
            },
            Verdict::BadManifest { error: "x".into() },
            Verdict::Unreadable {
                failure: CopyFailure::Io,
                errno: Some(libc::EIO),
                error: "Input/output error".into(),
            },
            Verdict::Missing { part: "p".into() },
            Verdict::Skipped { format: 2 },
        ];
        for v in &all {
            let json = serde_json::to_value(v).unwrap_or_default();
            assert_eq!(json["verdict"], v.as_str());
        }
        let failing: Vec<&str> = all
            .iter()
            .filter(|v| v.is_failure())
            .map(Verdict::as_str)
            .collect();
        assert_eq!(
            failing,
            ["mismatch", "bad_manifest", "unreadable", "missing"]
        );
        assert!(!Verdict::Skipped { format: 2 }.was_checked());
        assert_eq!(
            serde_json::to_value(&all[3]).unwrap_or_default()["failure"],
            "io_error"
        );
    }
}
