/*!
Proving a remote copy: its size and ETag (HEAD), then whole parts read back with ranged GETs and
their SHA-256 compared with the journal's (the hashes of the local bytes each part was sent from).
Right after an upload the first and the last part and random others are read; later, on the
store's `check` schedule, `check_parts` random parts. The local copy is not needed, so a remote
copy is still checked after local retention removed its source.
*/

use sha2::Digest as _;

use super::s3::{multipart_etag, Store};
use crate::catalog::{PartRow, UploadRow};
use crate::kinds::{OffsiteError, OffsiteFailure};
use crate::util::hex::hex;

/// What a read-back looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// The part numbers read back.
    pub parts: Vec<u32>,
    pub bytes_read: u64,
}

/// Which parts to read: the first and the last when `ends`, then others chosen by `seed` until
/// there are `count` (or all of them).
pub fn pick_parts(total: u32, count: u32, ends: bool, seed: u64) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    if total == 0 {
        return out;
    }
    if ends {
        out.push(1);
        if total > 1 {
            out.push(total);
        }
    }
    let want = count.max(out.len() as u32).min(total) as usize;
    let mut x = seed | 1;
    while out.len() < want {
        // xorshift64: enough to spread the samples, no crate needed.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = (x % total as u64) as u32 + 1;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.sort_unstable();
    out
}

/// Checks the remote copy of `row` (parts `parts` of the journal `journal`).
pub fn check(
    store: &Store,
    row: &UploadRow,
    journal: &[PartRow],
    parts: &[u32],
) -> Result<Checked, OffsiteError> {
    let name = &row.offsite;
    let Some(info) = store.head(&row.key)? else {
        return Err(OffsiteError::new(
            OffsiteFailure::Mismatch,
            format!("off-site {name}: {} is missing from the store", row.key),
        ));
    };
    if info.size != row.size {
        return Err(OffsiteError::new(
            OffsiteFailure::Mismatch,
            format!(
                "off-site {name}: {} is {} bytes on the store, {} were sent",
                row.key, info.size, row.size
            ),
        ));
    }
    // Every copy is sent as a multipart upload: its ETag is the MD5 of the parts' MD5s and `-N`.
    // Another ETag means the object was replaced (or the store computes ETags otherwise, as
    // AWS does with SSE-KMS: docs/offsite.md).
    let md5s: Vec<String> = journal.iter().map(|p| p.md5.clone()).collect();
    let expected = multipart_etag(&md5s).unwrap_or_default();
    if info.etag != expected {
        return Err(OffsiteError::new(
            OffsiteFailure::Mismatch,
            format!(
                "off-site {name}: {} has ETag {} on the store, the parts sent make {expected}: the object was replaced",
                row.key, info.etag
            ),
        ));
    }
    let mut done = Checked::default();
    for &n in parts {
        let Some(p) = journal.iter().find(|p| p.number == n) else {
            continue;
        };
        let start = (n as u64 - 1) * row.part_size;
        let mut sha = sha2::Sha256::new();
        let got = store.get_range(&row.key, start, p.size, &mut |b| sha.update(b))?;
        let h = hex(&sha.finalize());
        if got != p.size || h != p.sha256 {
            return Err(OffsiteError::new(
                OffsiteFailure::Mismatch,
                format!(
                    "off-site {name}: part {n} of {} read back from the store differs from what was sent ({got} bytes, SHA-256 {h}; sent {} bytes, {})",
                    row.key, p.size, p.sha256
                ),
            ));
        }
        done.parts.push(n);
        done.bytes_read += got;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::pick_parts;

    #[test]
    fn picks() {
        assert_eq!(pick_parts(1, 3, true, 7), vec![1]);
        assert_eq!(pick_parts(5, 3, true, 7).len(), 3);
        let p = pick_parts(5, 3, true, 7);
        assert!(p.contains(&1) && p.contains(&5));
        assert_eq!(pick_parts(4, 10, false, 9), vec![1, 2, 3, 4]);
        assert_eq!(pick_parts(10, 2, false, 3).len(), 2);
        assert!(pick_parts(0, 2, true, 1).is_empty());
    }
}
