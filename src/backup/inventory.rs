/*!
What is on a target: every backup found by its manifest under `SIMDONDAR-BACKUP/<source>/YYYY/MM/DD/`,
newest first, each with its [`Completeness`]. Walks the tree through directory handles without
following symlinks; a manifest that cannot be read is reported as such, never silently skipped.

Completeness is decided from metadata only (file sizes, a marker file), never by reading the data:
every part the manifest lists is present as a regular file, the sizes are those the manifest
implies and add up to `bytes_stored`, and no verification marked the copy unreadable. Only a
complete copy counts as a backup (for the retention floor, `list`, the index); an incomplete one
is shown with what is wrong and left for a person to look at.

Part sizes: manifest format 1 does not record the size of each part. They are implied: a single
data file holds all `bytes_stored` bytes; a split copy's parts all have the split size except the
last, which holds the remainder (1 to the split size bytes), because the writer only starts a part
when the previous one is full.
*/

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup::layout::{CORRUPT_SUFFIX, PARTIAL_SUFFIX, ROOT_DIR};
use crate::backup::manifest::{Manifest, ManifestError, FORMAT};
use crate::safe_fs::Dir;

/// Manifests larger than this are not read (a hostile disk could hold a huge one).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Suffix of the marker `verify` leaves next to a copy it could not read (`<data>.unreadable`):
/// the copy is kept, not renamed, not counted, and read again at the next verification.
pub const UNREADABLE_SUFFIX: &str = ".unreadable";

/// Markers larger than this are not read (only their existence matters).
const MAX_MARKER_BYTES: u64 = 1 << 16;

/// Whether a backup's copy is all there, decided from metadata only (no data is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Completeness {
    /// Every part present with the size the manifest implies, adding up to `bytes_stored`, and
    /// not marked unreadable by a verification.
    Complete,
    /// A data file the manifest lists is not there (deleted, lost by a file-system repair).
    MissingPart { part: String },
    /// A data file the manifest lists is a directory, a symlink or another non-regular file.
    NotAFile { part: String },
    /// A data file has another size than the manifest implies (truncated, or grown).
    WrongSize {
        part: String,
        size: u64,
        expected: u64,
    },
    /// The parts add up to another total than the manifest's `bytes_stored`.
    WrongTotal { total: u64, bytes_stored: u64 },
    /// A data file's size could not be looked at (the disk returned an error).
    PartUnreadable {
        part: String,
        errno: Option<i32>,
        error: String,
    },
    /// The last verification could not read the copy (the `.unreadable` marker is there); it is
    /// read again at the next verification.
    MarkedUnreadable {
        /// When it was found unreadable, as the marker says.
        since: Option<String>,
    },
    /// The manifest was written by a newer simdondar-backup (a format this build does not know).
    NewerFormat { format: u32 },
    /// The manifest could not be read from the disk (an I/O error).
    ManifestUnreadable { errno: Option<i32>, error: String },
    /// The manifest is not a valid manifest (garbage, inconsistent, too large).
    ManifestInvalid { error: String },
}

impl Completeness {
    /// Whether the copy counts as a backup.
    pub fn is_complete(&self) -> bool {
        *self == Completeness::Complete
    }

    /// The stable name (JSON `state`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Completeness::Complete => "complete",
            Completeness::MissingPart { .. } => "missing_part",
            Completeness::NotAFile { .. } => "not_a_file",
            Completeness::WrongSize { .. } => "wrong_size",
            Completeness::WrongTotal { .. } => "wrong_total",
            Completeness::PartUnreadable { .. } => "part_unreadable",
            Completeness::MarkedUnreadable { .. } => "marked_unreadable",
            Completeness::NewerFormat { .. } => "newer_format",
            Completeness::ManifestUnreadable { .. } => "manifest_unreadable",
            Completeness::ManifestInvalid { .. } => "manifest_invalid",
        }
    }
}

impl fmt::Display for Completeness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Completeness::Complete => f.write_str("complete"),
            Completeness::MissingPart { part } => write!(
                f,
                "data file {part} is missing: this backup cannot be restored (put the file back, or delete the backup's remaining files)"
            ),
            Completeness::NotAFile { part } => {
                write!(f, "{part} is not a regular file: this backup cannot be restored")
            }
            Completeness::WrongSize {
                part,
                size,
                expected,
            } => write!(
                f,
                "data file {part} has {size} bytes, the manifest implies {expected}: it was truncated or changed outside the appliance"
            ),
            Completeness::WrongTotal {
                total,
                bytes_stored,
            } => write!(
                f,
                "the data files add up to {total} bytes, the manifest says {bytes_stored}: they were truncated or changed outside the appliance"
            ),
            Completeness::PartUnreadable { part, error, .. } => {
                write!(f, "cannot look at data file {part}: {error}")
            }
            Completeness::MarkedUnreadable { since } => match since {
                Some(s) => write!(
                    f,
                    "could not be read at the verification of {s}; it is read again at the next verification"
                ),
                None => f.write_str(
                    "could not be read at the last verification; it is read again at the next verification",
                ),
            },
            Completeness::NewerFormat { format } => write!(
                f,
                "written by a newer simdondar-backup; not checked (manifest format {format}, this build knows format {FORMAT})"
            ),
            Completeness::ManifestUnreadable { error, .. } => {
                write!(f, "the manifest cannot be read: {error}")
            }
            Completeness::ManifestInvalid { error } => write!(f, "unusable manifest: {error}"),
        }
    }
}

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
    /// Whether the copy is all there (always not complete when the manifest cannot be used).
    pub completeness: Completeness,
}

impl Entry {
    /// The manifest of a complete copy: `Some` exactly when this is a backup that counts.
    pub fn good(&self) -> Option<&Manifest> {
        match (&self.manifest, self.completeness.is_complete()) {
            (Ok(m), true) => Some(m),
            _ => None,
        }
    }
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
        let manifest = read_manifest_typed(dir, &name);
        let completeness = match &manifest {
            Ok(m) => completeness(dir, &data, m),
            Err(p) => p.completeness(),
        };
        out.push(Entry {
            source: source.to_string(),
            data_path: path.join(&data),
            dir_components: comps.to_vec(),
            data_name: data.clone(),
            manifest: manifest.map_err(|p| p.to_string()),
            completeness,
        });
    }
}

/// Why a manifest cannot be used, by kind.
#[derive(Debug)]
pub enum ManifestProblem {
    /// The file could not be opened or read (an I/O error from the disk).
    Unreadable { name: String, error: std::io::Error },
    /// Larger than [`MAX_MANIFEST_BYTES`]: not a manifest of ours.
    TooLarge { name: String },
    /// Read, but not a manifest this build can use.
    Invalid { name: String, error: ManifestError },
}

impl ManifestProblem {
    /// The completeness of a copy whose manifest has this problem.
    pub fn completeness(&self) -> Completeness {
        match self {
            ManifestProblem::Unreadable { error, .. } => Completeness::ManifestUnreadable {
                errno: error.raw_os_error(),
                error: self.to_string(),
            },
            ManifestProblem::Invalid {
                error: ManifestError::UnknownFormat(v),
                ..
            } => Completeness::NewerFormat { format: *v },
            ManifestProblem::TooLarge { .. } | ManifestProblem::Invalid { .. } => {
                Completeness::ManifestInvalid {
                    error: self.to_string(),
                }
            }
        }
    }
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestProblem::Unreadable { name, error } => write!(f, "cannot read {name}: {error}"),
            ManifestProblem::TooLarge { name } => {
                write!(f, "{name} is larger than 1 MiB; not a manifest of ours")
            }
            ManifestProblem::Invalid { name, error } => write!(f, "{name}: {error}"),
        }
    }
}

impl std::error::Error for ManifestProblem {}

/// Reads a manifest through a directory handle, with a size limit.
pub fn read_manifest(dir: &Dir, name: &str) -> Result<Manifest, String> {
    read_manifest_typed(dir, name).map_err(|p| p.to_string())
}

/// [`read_manifest`], with the kind of problem.
pub fn read_manifest_typed(dir: &Dir, name: &str) -> Result<Manifest, ManifestProblem> {
    let unreadable = |error| ManifestProblem::Unreadable {
        name: name.to_string(),
        error,
    };
    let f = dir.open_read(name).map_err(unreadable)?;
    let mut bytes = Vec::new();
    f.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestProblem::TooLarge {
            name: name.to_string(),
        });
    }
    Manifest::from_json(&bytes).map_err(|error| ManifestProblem::Invalid {
        name: name.to_string(),
        error,
    })
}

/// What a file's metadata says.
enum Stat {
    Regular(u64),
    NotRegular,
    Missing,
    Error(std::io::Error),
}

/// `fstatat` without following a symlink, relative to `dir`.
fn stat(dir: &Dir, name: &str) -> Stat {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Stat::Missing;
    }
    match nix::sys::stat::fstatat(
        Some(dir.as_fd().as_raw_fd()),
        OsStr::from_bytes(name.as_bytes()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
            Stat::Regular(u64::try_from(st.st_size).unwrap_or(0))
        }
        Ok(_) => Stat::NotRegular,
        Err(nix::errno::Errno::ENOENT) => Stat::Missing,
        Err(e) => Stat::Error(std::io::Error::from_raw_os_error(e as i32)),
    }
}

/// Whether the copy of `data_name` in `dir`, described by `m`, is all there.
pub fn completeness(dir: &Dir, data_name: &str, m: &Manifest) -> Completeness {
    let mut sizes = Vec::with_capacity(m.parts.len());
    for part in &m.parts {
        match stat(dir, part) {
            Stat::Regular(size) => sizes.push(size),
            Stat::NotRegular => return Completeness::NotAFile { part: part.clone() },
            Stat::Missing => return Completeness::MissingPart { part: part.clone() },
            Stat::Error(e) => {
                return Completeness::PartUnreadable {
                    part: part.clone(),
                    errno: e.raw_os_error(),
                    error: e.to_string(),
                }
            }
        }
    }
    if let Some(wrong) = check_sizes(&m.parts, &sizes, m.bytes_stored) {
        return wrong;
    }
    let marker = format!("{data_name}{UNREADABLE_SUFFIX}");
    match stat(dir, &marker) {
        Stat::Missing => Completeness::Complete,
        _ => Completeness::MarkedUnreadable {
            since: read_marker(dir, &marker).and_then(|m| m.at),
        },
    }
}

/// The sizes rule (see the module header); `None` when the sizes are right.
fn check_sizes(parts: &[String], sizes: &[u64], bytes_stored: u64) -> Option<Completeness> {
    let n = sizes.len();
    let total = sizes.iter().fold(0u64, |a, &s| a.saturating_add(s));
    let wrong = |i: usize, expected: u64| Completeness::WrongSize {
        part: parts[i].clone(),
        size: sizes[i],
        expected,
    };
    if n == 0 {
        return Some(Completeness::WrongTotal {
            total,
            bytes_stored,
        });
    }
    if n == 1 {
        return (sizes[0] != bytes_stored).then(|| wrong(0, bytes_stored));
    }
    // A split copy: the largest of the first parts is the split size.
    let split = sizes[..n - 1].iter().copied().max().unwrap_or(0);
    if let Some(i) = (0..n - 1).find(|&i| sizes[i] != split) {
        return Some(wrong(i, split));
    }
    let firsts = split.saturating_mul(n as u64 - 1);
    match bytes_stored.checked_sub(firsts) {
        Some(last) if last >= 1 && last <= split => {
            (sizes[n - 1] != last).then(|| wrong(n - 1, last))
        }
        _ => Some(Completeness::WrongTotal {
            total,
            bytes_stored,
        }),
    }
}

/// What the `.unreadable` marker says (a small JSON object written by `verify`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct UnreadableMarker {
    /// When the copy was found unreadable (RFC 3339).
    #[serde(default)]
    pub at: Option<String>,
    /// The kind of failure (`io_error`, `gone`, …; [`crate::kinds::CopyFailure`]).
    #[serde(default)]
    pub failure: Option<String>,
    /// The error number the disk returned, when there was one.
    #[serde(default)]
    pub errno: Option<i32>,
    /// In words.
    #[serde(default)]
    pub problem: Option<String>,
}

/// Reads a marker; `None` when it cannot be read or is not ours (its existence still counts).
pub fn read_marker(dir: &Dir, name: &str) -> Option<UnreadableMarker> {
    let f = dir.open_read(name).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_MARKER_BYTES).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("x.part{i:03}")).collect()
    }

    #[test]
    fn single_part_sizes() {
        assert_eq!(check_sizes(&names(1), &[10], 10), None);
        assert_eq!(
            check_sizes(&names(1), &[7], 10),
            Some(Completeness::WrongSize {
                part: "x.part000".into(),
                size: 7,
                expected: 10
            })
        );
        assert!(check_sizes(&names(1), &[11], 10).is_some());
    }

    #[test]
    fn split_sizes() {
        // 3 parts of a 4-byte split holding 10 bytes: 4, 4, 2.
        assert_eq!(check_sizes(&names(3), &[4, 4, 2], 10), None);
        assert_eq!(check_sizes(&names(3), &[4, 4, 4], 12), None);
        // The last one truncated.
        assert_eq!(
            check_sizes(&names(3), &[4, 4, 1], 10),
            Some(Completeness::WrongSize {
                part: "x.part002".into(),
                size: 1,
                expected: 2
            })
        );
        // A middle one truncated (the others show the split size).
        assert_eq!(
            check_sizes(&names(3), &[4, 3, 2], 10),
            Some(Completeness::WrongSize {
                part: "x.part001".into(),
                size: 3,
                expected: 4
            })
        );
        // The first of two truncated to 3: read as a split of 3 whose last part lacks a byte.
        assert_eq!(
            check_sizes(&names(2), &[3, 2], 6),
            Some(Completeness::WrongSize {
                part: "x.part001".into(),
                size: 2,
                expected: 3
            })
        );
        // Grown parts: more than the manifest's total before the last part.
        assert_eq!(
            check_sizes(&names(3), &[4, 4, 4], 5),
            Some(Completeness::WrongTotal {
                total: 12,
                bytes_stored: 5
            })
        );
        // An empty last part is never written.
        assert!(check_sizes(&names(2), &[4, 0], 4).is_some());
        // No parts at all.
        assert!(check_sizes(&[], &[], 0).is_some());
    }

    /// A split copy in real files on a temporary directory: 3 parts of a 4-byte split, 10 bytes.
    #[test]
    fn completeness_of_real_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let parts = names(3);
        let m = Manifest::from_json(
            serde_json::json!({
                "format": FORMAT, "source": "x", "kind": "command",
                "started_at": "2026-11-26T10:00:00+07:00", "finished_at": "2026-11-26T10:00:01+07:00",
                "compression": "zstd", "encrypted": false, "bytes_raw": 10, "bytes_stored": 10,
                "sha256": "0".repeat(64), "parts": parts, "tool_version": "t",
            })
            .to_string()
            .as_bytes(),
        )
        .expect("manifest");
        for (p, len) in parts.iter().zip([4usize, 4, 2]) {
            std::fs::write(t.path().join(p), vec![7u8; len]).expect("write part");
        }
        let dir = Dir::open(t.path()).expect("dir");
        assert_eq!(completeness(&dir, "x", &m), Completeness::Complete);

        // A middle part truncated (a FAT repair).
        std::fs::write(t.path().join(&parts[1]), [7u8; 3]).expect("truncate");
        assert_eq!(
            completeness(&dir, "x", &m),
            Completeness::WrongSize {
                part: parts[1].clone(),
                size: 3,
                expected: 4
            }
        );
        std::fs::write(t.path().join(&parts[1]), [7u8; 4]).expect("restore");

        // Marked unreadable by a verification.
        let marker = UnreadableMarker {
            at: Some("2026-11-27T02:00:00+07:00".into()),
            ..Default::default()
        };
        std::fs::write(
            t.path().join(format!("x{UNREADABLE_SUFFIX}")),
            serde_json::to_vec(&marker).expect("json"),
        )
        .expect("marker");
        assert_eq!(
            completeness(&dir, "x", &m),
            Completeness::MarkedUnreadable {
                since: Some("2026-11-27T02:00:00+07:00".into())
            }
        );
        std::fs::remove_file(t.path().join(format!("x{UNREADABLE_SUFFIX}"))).expect("rm");

        // A part replaced by a symlink to a file of the right size is not a data file.
        let elsewhere = t.path().join("elsewhere");
        std::fs::write(&elsewhere, [7u8; 2]).expect("write");
        std::fs::remove_file(t.path().join(&parts[2])).expect("rm");
        std::os::unix::fs::symlink(&elsewhere, t.path().join(&parts[2])).expect("symlink");
        assert_eq!(
            completeness(&dir, "x", &m),
            Completeness::NotAFile {
                part: parts[2].clone()
            }
        );

        // The last part deleted.
        std::fs::remove_file(t.path().join(&parts[2])).expect("rm");
        assert_eq!(
            completeness(&dir, "x", &m),
            Completeness::MissingPart {
                part: parts[2].clone()
            }
        );
    }

    #[test]
    fn names_and_words() {
        assert!(Completeness::Complete.is_complete());
        let c = Completeness::MissingPart {
            part: "a.sql.zst".into(),
        };
        assert!(!c.is_complete());
        assert_eq!(c.as_str(), "missing_part");
        let json = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(json["state"], "missing_part");
        assert_eq!(json["part"], "a.sql.zst");
        assert!(Completeness::NewerFormat { format: 2 }
            .to_string()
            .contains("newer simdondar-backup"));
    }
}
