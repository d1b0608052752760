/*!
Paths and names on a target (DESIGN.md §3): `<root>/SIMDONDAR-BACKUP/<source>/YYYY/MM/DD/`
and `<source>_YYYYMMDD-HHMMSS.<ext>` in the local time of the run's start, plus the sidecar
(`.sha256`), the manifest (`.json`) and the temporary `.partial` names.
*/

use chrono::{DateTime, Datelike, TimeZone};

/// The folder every target keeps its backups in.
pub const ROOT_DIR: &str = "SIMDONDAR-BACKUP";

/// Suffix of anything not yet complete and verified.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Suffix given to a copy that failed verification.
pub const CORRUPT_SUFFIX: &str = ".corrupt";

/// Where one backup lives below `<root>/SIMDONDAR-BACKUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    pub source: String,
    /// `YYYY`, `MM`, `DD` of the local start date.
    pub date_dirs: [String; 3],
    /// `<source>_YYYYMMDD-HHMMSS.<ext>`
    pub data_file: String,
}

impl BackupName {
    /// Names a backup of `source` started at `started` (already in the configured time zone).
    pub fn new<Tz: TimeZone>(source: &str, started: &DateTime<Tz>, ext: &str) -> BackupName
    where
        Tz::Offset: std::fmt::Display,
    {
        BackupName {
            source: source.to_string(),
            date_dirs: [
                format!("{:04}", started.year()),
                format!("{:02}", started.month()),
                format!("{:02}", started.day()),
            ],
            data_file: format!("{source}_{}.{ext}", started.format("%Y%m%d-%H%M%S")),
        }
    }

    /// The directory components below the target root.
    pub fn dir_components(&self) -> Vec<&str> {
        let mut v = vec![ROOT_DIR, self.source.as_str()];
        v.extend(self.date_dirs.iter().map(String::as_str));
        v
    }

    /// The path relative to the target root, for messages and the catalog.
    pub fn relative_path(&self) -> String {
        format!("{}/{}", self.dir_components().join("/"), self.data_file)
    }

    pub fn sidecar_file(&self) -> String {
        format!("{}.sha256", self.data_file)
    }

    pub fn manifest_file(&self) -> String {
        format!("{}.json", self.data_file)
    }

    /// The files whose presence in the day folder means this name is taken (a run picking its
    /// start time avoids them): the data file, its manifest and its `.partial`, and the manifest
    /// and `.partial` of the encrypted copy (`.age`) of the same start time.
    pub fn taken_by(&self) -> [String; 5] {
        [
            self.data_file.clone(),
            self.manifest_file(),
            format!("{}{PARTIAL_SUFFIX}", self.data_file),
            format!("{}.age.json", self.data_file),
            format!("{}.age{PARTIAL_SUFFIX}", self.data_file),
        ]
    }
}

/// The name of part `n` of a split data file.
pub fn part_name(data_file: &str, n: usize) -> String {
    format!("{data_file}.part{n:03}")
}

/// Given any file of a backup (data, part, sidecar, manifest), the data file name.
pub fn data_name_of(file_name: &str) -> &str {
    if let Some(s) = file_name.strip_suffix(".json") {
        return s;
    }
    if let Some(s) = file_name.strip_suffix(".sha256") {
        return s;
    }
    if let Some(idx) = file_name.rfind(".part") {
        let tail = &file_name[idx + 5..];
        if tail.len() == 3 && tail.bytes().all(|b| b.is_ascii_digit()) {
            return &file_name[..idx];
        }
    }
    file_name
}

/// The sidecar's text: `sha256sum -c` format with bare names, one line per file.
pub fn sidecar_text(lines: &[(String, String)]) -> String {
    lines
        .iter()
        .map(|(hash, name)| format!("{hash}  {name}\n"))
        .collect()
}

/// Parses a sidecar into (hash, name) pairs; `None` when it is not in `sha256sum` format.
pub fn parse_sidecar(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, rest) = line.split_once(' ')?;
        let name = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return None;
        }
        out.push((hash.to_ascii_lowercase(), name.to_string()));
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// What a parsed sidecar says about one part, against the hash the part's data has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarMatch {
    /// The part is listed with that hash.
    Matches,
    /// The part is listed with another hash (the sidecar's, given here).
    Differs(String),
    /// The part is not listed.
    Unlisted,
}

/// Compares one part's `hash` with the first entry of the parsed sidecar `lines`
/// ([`parse_sidecar`]) that names `part`. The one comparison of a sidecar, used by `restore`
/// and `verify`.
pub fn sidecar_match(lines: &[(String, String)], part: &str, hash: &str) -> SidecarMatch {
    match lines.iter().find(|(_, n)| n == part) {
        Some((h, _)) if h == hash => SidecarMatch::Matches,
        Some((h, _)) => SidecarMatch::Differs(h.clone()),
        None => SidecarMatch::Unlisted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_follow_the_contract() {
        let t = chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(2026, 3, 7, 9, 5, 1)
            .single()
            .expect("valid time");
        let n = BackupName::new("pmi", &t, "sql.zst");
        assert_eq!(
            n.relative_path(),
            "SIMDONDAR-BACKUP/pmi/2026/03/07/pmi_20260307-090501.sql.zst"
        );
        assert_eq!(n.sidecar_file(), "pmi_20260307-090501.sql.zst.sha256");
        assert_eq!(n.manifest_file(), "pmi_20260307-090501.sql.zst.json");
        assert_eq!(
            part_name(&n.data_file, 2),
            "pmi_20260307-090501.sql.zst.part002"
        );
    }

    #[test]
    fn data_name_from_any_file() {
        assert_eq!(data_name_of("a.sql.zst.json"), "a.sql.zst");
        assert_eq!(data_name_of("a.sql.zst.part012"), "a.sql.zst");
        assert_eq!(data_name_of("a.sql.zst.sha256"), "a.sql.zst");
        assert_eq!(data_name_of("a.sql.zst"), "a.sql.zst");
        assert_eq!(data_name_of("a.partial"), "a.partial");
    }

    #[test]
    fn sidecar_round_trip() {
        let h = "a".repeat(64);
        let text = sidecar_text(&[(h.clone(), "x.sql.zst".into())]);
        assert_eq!(text, format!("{h}  x.sql.zst\n"));
        assert_eq!(parse_sidecar(&text), Some(vec![(h, "x.sql.zst".into())]));
        assert_eq!(parse_sidecar("garbage"), None);
        let lines = vec![("a".repeat(64), "x.part000".to_string())];
        assert_eq!(
            sidecar_match(&lines, "x.part000", &"a".repeat(64)),
            SidecarMatch::Matches
        );
        assert_eq!(
            sidecar_match(&lines, "x.part000", &"b".repeat(64)),
            SidecarMatch::Differs("a".repeat(64))
        );
        assert_eq!(
            sidecar_match(&lines, "x.part001", &"a".repeat(64)),
            SidecarMatch::Unlisted
        );
        assert_eq!(parse_sidecar(""), None);
    }
}
