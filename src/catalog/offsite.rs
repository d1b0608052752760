/*!
The off-site journal in the catalog: one row per multipart upload (created before its first part
is sent, so an agent killed mid-upload finds it again), one row per part with the hashes of what
was sent and the store's ETag once acknowledged, the sampled read-backs, and each pass's outcome
per store. A remote copy counts only in state `verified`.
*/

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Catalog, CatalogError};
use crate::kinds::OffsiteFailure;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Parts are being sent (or the upload waits to be resumed).
    Uploading,
    /// Complete on the store, its size, ETag and sampled parts checked: the remote copy counts.
    Verified,
    /// Given up (its local file went away, or the store lost it); aborted on the store.
    Abandoned,
}

impl UploadState {
    fn as_str(self) -> &'static str {
        match self {
            UploadState::Uploading => "uploading",
            UploadState::Verified => "verified",
            UploadState::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> UploadState {
        match s {
            "verified" => UploadState::Verified,
            "abandoned" => UploadState::Abandoned,
            _ => UploadState::Uploading,
        }
    }
}

/// A new upload, journalled before anything is sent.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    pub offsite: &'a str,
    pub key: &'a str,
    pub source: &'a str,
    pub started_at: &'a str,
    pub local_path: &'a str,
    pub staged: bool,
    pub size: u64,
    pub sha256: &'a str,
    pub part_size: u64,
    /// The manifest written beside the remote copy (JSON), once it is verified.
    pub manifest: &'a str,
    pub created_at: &'a str,
}

/// One journalled upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadRow {
    pub id: i64,
    pub offsite: String,
    pub key: String,
    pub source: String,
    /// The backup's start (its manifest's `started_at`).
    pub started_at: String,
    /// The file sent (the local copy, or its encrypted staging file).
    pub local_path: String,
    pub staged: bool,
    pub size: u64,
    pub sha256: String,
    pub part_size: u64,
    #[serde(skip)]
    pub manifest: String,
    pub upload_id: Option<String>,
    pub created_at: String,
    pub state: UploadState,
    pub finished_at: Option<String>,
    pub verified_at: Option<String>,
}

/// How a pass over one store ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffsiteAttempt {
    pub at: String,
    pub failure: Option<OffsiteFailure>,
    pub detail: String,
    /// Bytes of chosen backups not yet verified on the store.
    pub pending: u64,
}

/// One part of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 and SHA-256 of the part's bytes as read from the local file.
    pub md5: String,
    pub sha256: String,
    /// The store's ETag, once it acknowledged the part.
    pub etag: Option<String>,
}

const UPLOAD_COLUMNS: &str = "id, offsite, key, source, started_at, local_path, staged, size, \
     sha256, part_size, upload_id, created_at, state, finished_at, verified_at, manifest";

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        id: r.get(0)?,
        offsite: r.get(1)?,
        key: r.get(2)?,
        source: r.get(3)?,
        started_at: r.get(4)?,
        local_path: r.get(5)?,
        staged: r.get::<_, i64>(6)? != 0,
        size: r.get::<_, i64>(7)?.max(0) as u64,
        sha256: r.get(8)?,
        part_size: r.get::<_, i64>(9)?.max(0) as u64,
        upload_id: r.get(10)?,
        created_at: r.get(11)?,
        state: UploadState::parse(&r.get::<_, String>(12)?),
        finished_at: r.get(13)?,
        verified_at: r.get(14)?,
        manifest: r.get(15)?,
    })
}

impl Catalog {
    /// Journals a new upload (before anything is sent); returns its id.
    pub fn begin_upload(&self, u: &NewUpload<'_>) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO offsite_uploads (offsite, key, source, started_at, local_path, staged,
                 size, sha256, part_size, manifest, created_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'uploading')",
                params![
                    u.offsite,
                    u.key,
                    u.source,
                    u.started_at,
                    u.local_path,
                    u.staged as i64,
                    u.size as i64,
                    u.sha256,
                    u.part_size as i64,
                    u.manifest,
                    u.created_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the store's upload id of a journalled upload.
    pub fn set_upload_id(&self, id: i64, upload_id: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE offsite_uploads SET upload_id = ?2 WHERE id = ?1",
                params![id, upload_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets an upload's parts and upload id (the store no longer knows the upload id).
    pub fn restart_upload(&self, id: i64) -> Result<(), CatalogError> {
        self.conn
            .execute("DELETE FROM offsite_parts WHERE upload = ?1", [id])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE offsite_uploads SET upload_id = NULL WHERE id = ?1",
                [id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a part about to be sent (its hashes), or what the store answered for it.
    pub fn record_part(&self, upload: i64, p: &PartRow) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO offsite_parts (upload, number, size, md5, sha256, etag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (upload, number) DO UPDATE SET size = ?3, md5 = ?4, sha256 = ?5,
                 etag = ?6",
                params![upload, p.number, p.size as i64, p.md5, p.sha256, p.etag],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The parts of an upload, by number.
    pub fn parts_of(&self, upload: i64) -> Result<Vec<PartRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT number, size, md5, sha256, etag FROM offsite_parts WHERE upload = ?1
                 ORDER BY number",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([upload], |r| {
                Ok(PartRow {
                    number: r.get::<_, i64>(0)?.max(0) as u32,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    md5: r.get(2)?,
                    sha256: r.get(3)?,
                    etag: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Moves an upload to `state` (with the time for `verified`).
    pub fn set_upload_state(
        &self,
        id: i64,
        state: UploadState,
        at: &str,
    ) -> Result<(), CatalogError> {
        let sql = match state {
            UploadState::Verified => {
                "UPDATE offsite_uploads SET state = ?2, finished_at = COALESCE(finished_at, ?3),
                 verified_at = ?3 WHERE id = ?1"
            }
            _ => "UPDATE offsite_uploads SET state = ?2, finished_at = ?3 WHERE id = ?1",
        };
        self.conn
            .execute(sql, params![id, state.as_str(), at])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The upload of `key` on store `offsite`, in any state.
    pub fn upload_of(&self, offsite: &str, key: &str) -> Result<Option<UploadRow>, CatalogError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {UPLOAD_COLUMNS} FROM offsite_uploads WHERE offsite = ?1 AND key = ?2"
                ),
                params![offsite, key],
                upload_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every upload of store `offsite` (all stores when `None`), oldest first.
    pub fn uploads(&self, offsite: Option<&str>) -> Result<Vec<UploadRow>, CatalogError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM offsite_uploads
                 WHERE ?1 IS NULL OR offsite = ?1 ORDER BY started_at, id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([offsite], upload_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Deletes an abandoned upload's journal (it was aborted on the store) so the backup can be
    /// sent again under the same key.
    pub fn forget_upload(&self, id: i64) -> Result<(), CatalogError> {
        self.conn
            .execute("DELETE FROM offsite_parts WHERE upload = ?1", [id])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM offsite_checks WHERE upload = ?1", [id])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM offsite_uploads WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a sampled read-back of a remote copy.
    pub fn record_remote_check(
        &self,
        upload: i64,
        at: &str,
        failure: Option<OffsiteFailure>,
        detail: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO offsite_checks (upload, checked_at, ok, failure, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    upload,
                    at,
                    failure.is_none() as i64,
                    failure.map(|f| f.as_str()),
                    detail
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest sampled read-back of an upload: (checked_at, failure).
    pub fn last_remote_check(
        &self,
        upload: i64,
    ) -> Result<Option<(String, Option<OffsiteFailure>)>, CatalogError> {
        self.conn
            .query_row(
                "SELECT checked_at, failure FROM offsite_checks WHERE upload = ?1
                 ORDER BY id DESC LIMIT 1",
                [upload],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?
                            .as_deref()
                            .and_then(OffsiteFailure::parse),
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records how a pass over store `offsite` ended, with the bytes still waiting to go.
    pub fn record_offsite_attempt(
        &self,
        offsite: &str,
        at: &str,
        failure: Option<OffsiteFailure>,
        detail: &str,
        pending: u64,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO offsite_attempts (offsite, at, ok, failure, detail, pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    offsite,
                    at,
                    failure.is_none() as i64,
                    failure.map(|f| f.as_str()),
                    detail,
                    pending as i64
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest pass over store `offsite`.
    pub fn last_offsite_attempt(
        &self,
        offsite: &str,
    ) -> Result<Option<OffsiteAttempt>, CatalogError> {
        self.conn
            .query_row(
                "SELECT at, failure, detail, pending FROM offsite_attempts WHERE offsite = ?1
                 ORDER BY id DESC LIMIT 1",
                [offsite],
                |r| {
                    Ok(OffsiteAttempt {
                        at: r.get::<_, String>(0)?,
                        failure: r
                            .get::<_, Option<String>>(1)?
                            .as_deref()
                            .and_then(OffsiteFailure::parse),
                        detail: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        pending: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// When the newest remote copy on store `offsite` was verified (RFC 3339).
    pub fn last_offsite_verified(&self, offsite: &str) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row(
                "SELECT MAX(verified_at) FROM offsite_uploads WHERE offsite = ?1
                 AND state = 'verified'",
                [offsite],
                |r| r.get::<_, Option<String>>(0),
            )
            .map_err(|e| self.err(e))
    }
}
