/*!
Off-site copies (issue 16, docs/offsite.md): encrypted copies of verified backups sent to an
S3-compatible object store, resumable and verified end to end.

- [`s3`]: the signed, bounded HTTP client and the typed failures.
- [`stage`]: the file that is sent (the encrypted copy, or a clear copy encrypted into staging).
- [`upload`]: one resumable multipart upload, journalled in the catalog.
- [`readback`]: proving a remote copy (size, ETag, parts read back and hashed).
- [`throttle`]: the upload's rate limit.
- [`keys`]: where a backup lives on the store.

The job that composes them (which backups go, when, what is recorded) is [`crate::jobs::offsite`].
*/

pub mod keys;
pub mod readback;
pub mod s3;
pub mod stage;
pub mod throttle;
pub mod upload;
