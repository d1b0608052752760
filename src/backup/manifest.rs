/*!
The manifest: the JSON file written last next to each backup (DESIGN.md §3). A backup exists
exactly when its manifest exists; a disk carried to another machine is understood from it alone.
*/

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format version written by this program.
pub const FORMAT: u32 = 1;

/// Which consistency guarantee a database dump has, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyInfo {
    /// `single-transaction` or `lock-tables`.
    pub mode: String,
    /// In words: what a restore of this dump can be trusted for.
    pub guarantee: String,
    /// Tables whose engine is not transactional (`db.table` → engine).
    #[serde(default)]
    pub non_transactional_tables: BTreeMap<String, String>,
}

/// Everything known about one stored backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub source: String,
    pub kind: String,
    /// RFC 3339 with offset.
    pub started_at: String,
    pub finished_at: String,
    #[serde(default)]
    pub databases: Vec<String>,
    #[serde(default)]
    pub server_version: Option<String>,
    /// `zstd`
    pub compression: String,
    #[serde(default)]
    pub compression_level: Option<i32>,
    pub encrypted: bool,
    /// The age public keys the data is encrypted to (empty when in clear).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Bytes the source produced.
    pub bytes_raw: u64,
    /// Bytes stored (all parts).
    pub bytes_stored: u64,
    /// SHA-256 of all stored bytes in order, lowercase hex.
    pub sha256: String,
    /// Data file names, in order (one unless split).
    pub parts: Vec<String>,
    /// Rows per table (`db.table`), when counted.
    #[serde(default)]
    pub tables: BTreeMap<String, u64>,
    /// This program and its version.
    pub tool_version: String,
    /// The dump program and its version, when it says.
    #[serde(default)]
    pub dump_tool: Option<String>,
    #[serde(default)]
    pub consistency: Option<ConsistencyInfo>,
    /// `schedule`, `button` or `cli`.
    #[serde(default)]
    pub trigger: Option<String>,
    /// The role of the target this copy was written for.
    #[serde(default)]
    pub role: Option<String>,
    /// How the target's file system was driven when this copy was written: `kernel` or `fuse`
    /// (the read-back reached the device through a FUSE driver; docs/disks.md).
    #[serde(default)]
    pub fs_driver: Option<String>,
    /// Whether the wall clock was known to be synchronised when the run started.
    #[serde(default)]
    pub clock_synchronized: Option<bool>,
    /// The appliance that wrote it.
    #[serde(default)]
    pub host: Option<String>,
}

/// A manifest that cannot be used.
#[derive(Debug)]
pub enum ManifestError {
    /// Not JSON, or fields missing or of the wrong type.
    Invalid(String),
    /// Written by a newer program.
    UnknownFormat(u32),
    /// A field has an impossible value.
    Inconsistent(String),
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestError::Invalid(m) => write!(f, "the manifest is not valid: {m}"),
            ManifestError::UnknownFormat(v) => write!(
                f,
                "the manifest has format {v}, newer than this program understands (format {FORMAT}): update simdondar-backup"
            ),
            ManifestError::Inconsistent(m) => write!(f, "the manifest is inconsistent: {m}"),
        }
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Reads and checks a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        if m.format != FORMAT {
            return Err(ManifestError::UnknownFormat(m.format));
        }
        if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ManifestError::Inconsistent(
                "sha256 is not 64 hex digits".into(),
            ));
        }
        if m.parts.is_empty() {
            return Err(ManifestError::Inconsistent(
                "no data files listed in parts".into(),
            ));
        }
        for p in &m.parts {
            if p.is_empty() || p.contains('/') || p == ".." || p == "." {
                return Err(ManifestError::Inconsistent(format!(
                    "part name {p:?} is not a plain file name"
                )));
            }
        }
        Ok(m)
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT,
            source: "pmi".into(),
            kind: "mysql".into(),
            started_at: "2026-11-26T10:00:00+07:00".into(),
            finished_at: "2026-11-26T10:01:00+07:00".into(),
            databases: vec!["pmi".into()],
            server_version: Some("10.11.6-MariaDB".into()),
            compression: "zstd".into(),
            compression_level: Some(3),
            encrypted: false,
            recipients: vec![],
            bytes_raw: 10,
            bytes_stored: 5,
            sha256: "0".repeat(64),
            parts: vec!["pmi_20261126-100000.sql.zst".into()],
            tables: BTreeMap::new(),
            tool_version: "simdondar-backup 0.1.0".into(),
            dump_tool: None,
            consistency: None,
            trigger: Some("cli".into()),
            role: Some("auto".into()),
            fs_driver: Some("kernel".into()),
            clock_synchronized: Some(true),
            host: None,
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Manifest::from_json(&m.to_json()).expect("parse"), m);
    }

    #[test]
    fn rejects_garbage_and_hostile_parts() {
        assert!(Manifest::from_json(b"not json").is_err());
        assert!(Manifest::from_json(b"{}").is_err());
        let mut m = sample();
        m.parts = vec!["../../etc/passwd".into()];
        assert!(Manifest::from_json(&m.to_json()).is_err());
        let mut m = sample();
        m.format = 99;
        assert!(matches!(
            Manifest::from_json(&m.to_json()),
            Err(ManifestError::UnknownFormat(99))
        ));
    }
}
