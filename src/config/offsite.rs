/*!
The off-site targets (`[[offsite]]`, issue 16, docs/offsite.md): an S3-compatible bucket that
receives age-encrypted copies of verified backups, and the access key read from its own file.
*/

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::read_secret_toml;

/// Which verified backups go to the store (a UTD's uplink may be 10 Mbit/s, shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsiteSchedule {
    /// Every verified backup.
    Each,
    /// The newest verified backup of each day (local date), once that day has one.
    Daily,
    /// The newest verified backup of each ISO week.
    Weekly,
}

impl OffsiteSchedule {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsiteSchedule::Each => "each",
            OffsiteSchedule::Daily => "daily",
            OffsiteSchedule::Weekly => "weekly",
        }
    }
}

/// One `[[offsite]]` store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsiteConfig {
    /// Its name in the catalog, `status`, the panel and the metrics.
    pub name: String,
    /// `http(s)://host[:port]`; requests are path-style: `<endpoint>/<bucket>/<key>`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Prepended to every key (empty, or ending in `/`): one per unit, e.g. `utd-kota-x/`.
    pub prefix: String,
    /// The access key (TOML: `access_key_id`, `secret_access_key`), mode 0600.
    pub credentials_file: PathBuf,
    pub schedule: OffsiteSchedule,
    /// The multipart part size (every part but the last), 5 MiB to 512 MiB.
    pub part_size: u64,
    /// At most this many bytes per second up (`None`: no limit).
    pub bandwidth: Option<u64>,
    /// An HTTP(S) proxy URL for the store, e.g. `http://proxy.utd:3128`.
    pub proxy: Option<String>,
    /// A PEM file of CA certificates to trust for the store (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// How often each remote copy is read back (sampled ranged GETs); `None`: never.
    pub check_every: Option<Duration>,
    /// How many parts each sampled read-back fetches and compares.
    pub check_parts: u32,
}

/// The store's access key, read from `credentials_file` when the store is used (never kept in
/// the [`super::Config`]).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .finish()
    }
}

impl S3Credentials {
    /// Reads and checks the file; the error says what is wrong (line and column for TOML).
    pub fn load(path: &Path) -> Result<S3Credentials, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            access_key_id: String,
            secret_access_key: String,
        }
        let raw: Raw = read_secret_toml(path)?;
        let (id, secret) = (raw.access_key_id.trim(), raw.secret_access_key.trim());
        if id.is_empty() || secret.is_empty() {
            return Err("access_key_id and secret_access_key must not be empty".into());
        }
        Ok(S3Credentials {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
        })
    }
}
