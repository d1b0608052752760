/*!
One resumable multipart upload of a local file, journalled in the catalog
([`crate::catalog::UploadRow`]). The upload id is recorded as soon as the store gives it; each
part's MD5 and SHA-256 are recorded before it is sent and its ETag once the store acknowledged it.
A later pass asks the store which parts it holds (`ListParts`) and sends only the others, so a
dropped link, a store restart, a killed agent or a power cut costs at most the part in flight.

Each part is read twice from the local file: once to hash it (the checksums go in the request's
headers, for the store to check on receipt), once to send it. Memory stays one read buffer
whatever the part size.
*/

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use md5::Digest as _;

use super::s3::{BodySums, Store};
use super::throttle::{Pace, Paced};
use crate::catalog::{Catalog, PartRow, UploadRow};
use crate::kinds::{OffsiteError, OffsiteFailure};
use crate::util::hex::hex;

/// What one call of [`send`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Parts sent in this call.
    pub parts_sent: u32,
    /// Parts the store already held from an earlier call (not sent again).
    pub parts_kept: u32,
    /// Bytes sent in this call.
    pub bytes_sent: u64,
}

/// The number of parts of a file of `size` bytes in parts of `part_size`.
pub fn part_count(size: u64, part_size: u64) -> u32 {
    if size == 0 {
        return 1;
    }
    size.div_ceil(part_size.max(1)) as u32
}

/// Whether to go on between parts: `stop` ends the upload (it resumes later), `pause` (a backup
/// is running) holds it until cleared.
#[derive(Debug, Clone, Copy)]
pub struct Flags<'a> {
    pub stop: &'a AtomicBool,
    pub pause: &'a AtomicBool,
}

impl Flags<'_> {
    /// Waits while paused; whether to stop.
    pub fn stopped(&self) -> bool {
        while self.pause.load(Ordering::Relaxed) && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        self.stop.load(Ordering::Relaxed)
    }
}

/// Sends what the store lacks of upload `row` and completes it. The flags are looked at between
/// parts (the store's answer to the part in flight is awaited, bounded by `stall_timeout`).
pub fn send(
    store: &Store,
    catalog: &Catalog,
    row: &UploadRow,
    pace: &mut Pace,
    flags: Flags<'_>,
) -> Result<Sent, OffsiteError> {
    let local = Path::new(&row.local_path);
    let mut file = File::open(local).map_err(|e| local_error(row, &e))?;
    let size = file.metadata().map_err(|e| local_error(row, &e))?.len();
    if size != row.size {
        return Err(OffsiteError::new(
            OffsiteFailure::Local,
            format!(
                "off-site {}: {} is {size} bytes, the journal says {}: it changed since the upload began; it is sent again from the start",
                row.offsite, row.local_path, row.size
            ),
        ));
    }
    let db = |e: crate::catalog::CatalogError| {
        OffsiteError::new(
            OffsiteFailure::Local,
            format!("off-site {}: {e}", row.offsite),
        )
    };

    // The upload id: the journalled one if the store still knows it, else a new one.
    let mut journal = catalog.parts_of(row.id).map_err(db)?;
    let mut held = Vec::new();
    let upload_id = match &row.upload_id {
        Some(id) => match store.list_parts(&row.key, id)? {
            Some(parts) => {
                held = parts;
                id.clone()
            }
            None => {
                // Completed already (its answer, or the read-back after it, was lost)?
                if let Some(sent) = completed_before(store, row, &journal, size)? {
                    return Ok(sent);
                }
                log::warn!(
                    "off-site {}: the store no longer knows the upload of {}; it starts again",
                    row.offsite,
                    row.key
                );
                catalog.restart_upload(row.id).map_err(db)?;
                journal.clear();
                new_upload(store, catalog, row)?
            }
        },
        None => new_upload(store, catalog, row)?,
    };

    let count = part_count(size, row.part_size);
    let mut sent = Sent::default();
    let mut etags = Vec::with_capacity(count as usize);
    let mut buf = vec![0u8; 256 << 10];
    for number in 1..=count {
        let start = (number as u64 - 1) * row.part_size;
        let len = row.part_size.min(size - start.min(size));
        let known = journal.iter().find(|p| p.number == number);
        let on_store = held.iter().find(|p| p.number == number);
        if let (Some(k), Some(s)) = (known, on_store) {
            if k.etag.as_deref() == Some(s.etag.as_str()) && s.size == len && k.size == len {
                etags.push(s.etag.clone());
                sent.parts_kept += 1;
                continue;
            }
        }
        if flags.stopped() {
            return Err(OffsiteError::new(
                OffsiteFailure::Dropped,
                format!(
                    "off-site {}: stopped during the upload of {} (part {number} of {count}); it resumes at the next start",
                    row.offsite, row.key
                ),
            ));
        }
        // First read: the part's checksums, journalled before it is sent.
        file.seek(SeekFrom::Start(start))
            .map_err(|e| local_error(row, &e))?;
        let (md5, sha) = hash_range(&mut file, len, &mut buf).map_err(|e| local_error(row, &e))?;
        let mut part = PartRow {
            number,
            size: len,
            md5: hex(&md5),
            sha256: hex(&sha),
            etag: None,
        };
        catalog.record_part(row.id, &part).map_err(db)?;
        // Second read: the bytes themselves, paced.
        file.seek(SeekFrom::Start(start))
            .map_err(|e| local_error(row, &e))?;
        let mut body = Paced {
            inner: (&mut file).take(len),
            pace: &mut *pace,
        };
        let etag = store.upload_part(
            &row.key,
            &upload_id,
            number,
            &mut body,
            len,
            BodySums {
                md5: &md5,
                sha256: &sha,
            },
        )?;
        if etag != part.md5 {
            return Err(OffsiteError::new(
                OffsiteFailure::Mismatch,
                format!(
                    "off-site {}: part {number} of {}: the store's ETag {etag} is not the MD5 {} of what was sent; it is sent again",
                    row.offsite, row.key, part.md5
                ),
            ));
        }
        part.etag = Some(etag.clone());
        catalog.record_part(row.id, &part).map_err(db)?;
        sent.parts_sent += 1;
        sent.bytes_sent += len;
        etags.push(etag);
    }

    // The object's size and multipart ETag are checked once, by the read-back that follows
    // (`readback::check`), whatever the completion's answer said.
    store.complete_multipart(&row.key, &upload_id, &etags)?;
    Ok(sent)
}

/// When the store no longer knows an upload id whose every part the journal has acknowledged:
/// the object, if it is there with the size and the multipart ETag of those parts, is this upload
/// completed (nothing is sent again).
fn completed_before(
    store: &Store,
    row: &UploadRow,
    journal: &[PartRow],
    size: u64,
) -> Result<Option<Sent>, OffsiteError> {
    let count = part_count(size, row.part_size) as usize;
    if journal.len() != count || journal.iter().any(|p| p.etag.is_none()) {
        return Ok(None);
    }
    let md5s: Vec<String> = journal.iter().map(|p| p.md5.clone()).collect();
    let Some(expected) = super::s3::multipart_etag(&md5s) else {
        return Ok(None);
    };
    match store.head(&row.key)? {
        Some(info) if info.size == size && info.etag == expected => Ok(Some(Sent {
            parts_kept: count as u32,
            ..Sent::default()
        })),
        _ => Ok(None),
    }
}

fn new_upload(store: &Store, catalog: &Catalog, row: &UploadRow) -> Result<String, OffsiteError> {
    let id = store.create_multipart(&row.key)?;
    catalog.set_upload_id(row.id, &id).map_err(|e| {
        OffsiteError::new(
            OffsiteFailure::Local,
            format!("off-site {}: {e}", row.offsite),
        )
    })?;
    Ok(id)
}

/// MD5 and SHA-256 of the next `len` bytes of `r`.
pub fn hash_range(
    r: &mut dyn Read,
    len: u64,
    buf: &mut [u8],
) -> std::io::Result<([u8; 16], [u8; 32])> {
    let mut md5 = md5::Md5::new();
    let mut sha = sha2::Sha256::new();
    let mut left = len;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ended early",
            ));
        }
        md5.update(&buf[..n]);
        sha2::Digest::update(&mut sha, &buf[..n]);
        left -= n as u64;
    }
    Ok((md5.finalize().into(), sha2::Digest::finalize(sha).into()))
}

fn local_error(row: &UploadRow, e: &std::io::Error) -> OffsiteError {
    OffsiteError::new(
        OffsiteFailure::Local,
        format!(
            "off-site {}: the local file {} cannot be read: {e}",
            row.offsite, row.local_path
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        assert_eq!(part_count(0, 5), 1);
        assert_eq!(part_count(5, 5), 1);
        assert_eq!(part_count(6, 5), 2);
        assert_eq!(part_count(10, 5), 2);
    }

    #[test]
    fn hashes_of_a_range() {
        let data = b"abcdef".to_vec();
        let mut buf = [0u8; 4];
        let (md5, sha) = hash_range(&mut &data[..], 1, &mut buf).expect("hash");
        assert_eq!(hex(&md5), "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(
            hex(&sha),
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        assert!(hash_range(&mut &data[..], 7, &mut buf).is_err());
    }
}
