/*!
The file an off-site upload sends. Only encrypted copies leave: a local copy that is already
age-encrypted (and whole) is sent as it is; a clear one is encrypted to the configured recipients
into a staging file beside it on the same disk
(`SIMDONDAR-BACKUP/offsite-staging/<data file>.age`), written under `.partial`, fsynced, read back
from the device and renamed. Its bytes are fixed from then on, so an interrupted upload resumes
part by part; the staging file is removed once the remote copy is verified.

Either way, the local bytes are checked against the backup's SHA-256 (its manifest) as they are
read: what leaves is the verified backup, nothing else.
*/

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::backup::inventory::Entry;
use crate::backup::layout::{PARTIAL_SUFFIX, ROOT_DIR};
use crate::backup::manifest::Manifest;
use crate::kinds::{OffsiteError, OffsiteFailure};
use crate::safe_fs::Dir;
use crate::util::hex::hex;

use super::upload::Flags;

/// The staging folder below `SIMDONDAR-BACKUP/` (not a source folder: the inventory never looks
/// at files at this depth).
pub const STAGING_DIR: &str = "offsite-staging";

/// The bytes an upload sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub path: PathBuf,
    /// Whether `path` is a staging file (removed after the remote copy is verified).
    pub staged: bool,
    pub size: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// The object's file name (`pmi_20261203-100000.sql.zst.age`).
    pub name: String,
}

/// Whether a manifest's copy is age-encrypted.
pub fn is_encrypted(m: &Manifest, data_name: &str) -> bool {
    m.encrypted && data_name.ends_with(".age")
}

/// Prepares the file to send for backup `e` (complete, found on `root`): the copy itself when it
/// is encrypted, else an encrypted staging file made now (or found from an earlier pass).
pub fn prepare(
    root: &Path,
    e: &Entry,
    recipients: &[age::x25519::Recipient],
    flags: Flags<'_>,
) -> Result<Prepared, OffsiteError> {
    let Some(m) = e.good() else {
        return Err(local(format!(
            "{} is not a complete backup",
            e.data_path.display()
        )));
    };
    let files = data_files(e, m);
    if is_encrypted(m, &e.data_name) && files.len() == 1 {
        // Sent as it is; its bytes are checked now against the manifest.
        let (size, sha) = hash_files(&files, &mut std::io::sink(), flags)?;
        if sha != m.sha256 || size != m.bytes_stored {
            return Err(mismatch(e, m, &sha));
        }
        require_age_header(&files[0])?;
        return Ok(Prepared {
            path: files[0].clone(),
            staged: false,
            size,
            sha256: sha,
            name: e.data_name.clone(),
        });
    }
    if m.encrypted {
        // A split encrypted copy: the parts are joined into one staging file (no second
        // encryption: the bytes are already the ciphertext).
        return stage(root, e, m, &files, None, flags);
    }
    if recipients.is_empty() {
        return Err(OffsiteError::new(
            OffsiteFailure::Policy,
            "no age recipient to encrypt the off-site copy to: add one to [encryption] recipients",
        ));
    }
    stage(root, e, m, &files, Some(recipients), flags)
}

/// The age format's first line: what every encrypted file starts with.
pub const AGE_HEADER: &[u8] = b"age-encryption.org/v1";

/// Refuses a file that does not start as an age file: whatever a manifest says, clear bytes never
/// leave.
fn require_age_header(path: &Path) -> Result<(), OffsiteError> {
    let mut head = [0u8; 21];
    let ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head[..] == AGE_HEADER[..];
    if ok {
        Ok(())
    } else {
        Err(OffsiteError::new(
            OffsiteFailure::Policy,
            format!(
                "off-site: {} is not an age-encrypted file: it is not sent",
                path.display()
            ),
        ))
    }
}

/// The staging file's name for backup `e`.
pub fn staged_name(e: &Entry, m: &Manifest) -> String {
    if m.encrypted {
        e.data_name.clone()
    } else {
        format!("{}.age", e.data_name)
    }
}

/// The room a staging file may take: its own size, and after it at least the backup's size again
/// and 64 MiB, so the next backup run still fits.
fn room_needed(bytes_stored: u64) -> u64 {
    bytes_stored
        .saturating_mul(2)
        .saturating_add(bytes_stored / 10)
        .saturating_add(64 << 20)
}

fn stage(
    root: &Path,
    e: &Entry,
    m: &Manifest,
    files: &[PathBuf],
    recipients: Option<&[age::x25519::Recipient]>,
    flags: Flags<'_>,
) -> Result<Prepared, OffsiteError> {
    let name = staged_name(e, m);
    let top = Dir::open(root).map_err(|err| local(format!("{}: {err}", root.display())))?;
    let dir = top
        .create_dirs([ROOT_DIR, STAGING_DIR])
        .map_err(|err| staging_error(root, &err))?;
    let folder = root.join(ROOT_DIR).join(STAGING_DIR);
    // A staging file from an earlier pass is kept: its bytes are what the journal's parts were
    // hashed from. The caller knows its SHA-256 from the journal.
    if dir.exists(&name) {
        let path = folder.join(&name);
        let f = dir
            .open_read(&name)
            .map_err(|err| local(format!("{}: {err}", path.display())))?;
        let size = f
            .metadata()
            .map_err(|err| local(format!("{}: {err}", path.display())))?
            .len();
        let (_, sha) = hash_files(std::slice::from_ref(&path), &mut std::io::sink(), flags)?;
        require_age_header(&path)?;
        return Ok(Prepared {
            path,
            staged: true,
            size,
            sha256: sha,
            name,
        });
    }
    // A file system that does not say its free space (fusefat) is staged onto: a write that
    // finds it full fails, and the partial file is removed below.
    let free = crate::util::space::free_bytes(&folder).ok();
    if let Some(free) = free.filter(|&f| f < room_needed(m.bytes_stored)) {
        return Err(OffsiteError::new(
            OffsiteFailure::Local,
            format!(
                "off-site: no room on {} to stage the encrypted copy of {} ({} free; it needs {} and room for the next backup): the off-site copy waits; the local backups are not affected",
                root.display(),
                e.data_name,
                crate::util::human_bytes(free),
                crate::util::human_bytes(m.bytes_stored)
            ),
        ));
    }
    let partial = format!("{name}{PARTIAL_SUFFIX}");
    let _ = dir.remove_file(&partial);
    let made = write_staged(
        &dir, &folder, &partial, m, e, files, recipients, flags, root,
    );
    let (size, sha) = match made {
        Ok(v) => v,
        Err(err) => {
            // Nothing half-written stays on the disk the backups need.
            let _ = dir.remove_file(&partial);
            return Err(err);
        }
    };
    dir.rename(&partial, &name)
        .and_then(|_| dir.sync())
        .map_err(|err| {
            let _ = dir.remove_file(&partial);
            staging_error(root, &err)
        })?;
    Ok(Prepared {
        path: folder.join(&name),
        staged: true,
        size,
        sha256: sha,
        name,
    })
}

/// Writes the staging file `partial` (encrypting when `recipients`), checks the clear bytes
/// against the manifest, fsyncs and reads it back from the device: its size and SHA-256.
#[allow(clippy::too_many_arguments)]
fn write_staged(
    dir: &Dir,
    folder: &Path,
    partial: &str,
    m: &Manifest,
    e: &Entry,
    files: &[PathBuf],
    recipients: Option<&[age::x25519::Recipient]>,
    flags: Flags<'_>,
    root: &Path,
) -> Result<(u64, String), OffsiteError> {
    let out = dir
        .create_new(partial)
        .map_err(|err| staging_error(root, &err))?;
    let mut hashing = HashingWriter {
        inner: BufWriter::with_capacity(
            1 << 20,
            out.try_clone().map_err(|err| staging_error(root, &err))?,
        ),
        sha: sha2::Sha256::new(),
        bytes: 0,
    };
    let (clear_size, clear_sha) = match recipients {
        Some(r) => {
            let enc = age::Encryptor::with_recipients(r.iter().map(|x| x as &dyn age::Recipient))
                .map_err(|err| local(format!("age: {err}")))?;
            let mut w = enc
                .wrap_output(&mut hashing)
                .map_err(|err| staging_error(root, &err))?;
            let got = hash_files(files, &mut w, flags)?;
            w.finish().map_err(|err| staging_error(root, &err))?;
            got
        }
        None => hash_files(files, &mut hashing, flags)?,
    };
    if clear_sha != m.sha256 || clear_size != m.bytes_stored {
        return Err(mismatch(e, m, &clear_sha));
    }
    hashing
        .inner
        .flush()
        .map_err(|err| staging_error(root, &err))?;
    let size = hashing.bytes;
    let sha = hex(&hashing.sha.finalize());
    drop(hashing.inner);
    out.sync_all().map_err(|err| staging_error(root, &err))?;
    // Read back from the device, not the page cache.
    let _ = crate::safe_fs::drop_cache(&out);
    drop(out);
    let partial_path = folder.join(partial);
    let (back_size, back_sha) = hash_files(
        std::slice::from_ref(&partial_path),
        &mut std::io::sink(),
        flags,
    )?;
    if back_sha != sha || back_size != size {
        return Err(local(format!(
            "the staging file {} read back differs from what was written: the disk may be failing; run `simdondar-backup verify`",
            partial_path.display()
        )));
    }
    require_age_header(&partial_path)?;
    Ok((size, sha))
}

/// The size and SHA-256 of one file (a resumed upload's, before anything more is sent).
pub fn hash_file(path: &Path, flags: Flags<'_>) -> Result<(u64, String), OffsiteError> {
    hash_files(&[path.to_path_buf()], &mut std::io::sink(), flags)
}

/// Removes a staging file (after its remote copy is verified, or when its upload is abandoned).
pub fn remove_staged(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            log::warn!(
                "off-site: cannot remove the staging file {}: {e}",
                path.display()
            );
        }
    }
}

/// The files holding a copy's bytes, in order (the parts of a split copy).
fn data_files(e: &Entry, m: &Manifest) -> Vec<PathBuf> {
    if m.parts.is_empty() {
        return vec![e.data_path.clone()];
    }
    let dir = e.data_path.parent().unwrap_or(Path::new("/"));
    m.parts.iter().map(|p| dir.join(p)).collect()
}

/// Copies `files` in order into `out`; their total size and SHA-256. Waits while a backup runs,
/// and gives up when the agent stops.
fn hash_files(
    files: &[PathBuf],
    out: &mut dyn Write,
    flags: Flags<'_>,
) -> Result<(u64, String), OffsiteError> {
    let mut sha = sha2::Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    for path in files {
        let mut f = File::open(path).map_err(|e| local(format!("{}: {e}", path.display())))?;
        loop {
            if flags.stopped() {
                return Err(OffsiteError::new(
                    OffsiteFailure::Dropped,
                    "off-site: stopped while preparing the encrypted copy; it is made again at the next pass",
                ));
            }
            let n = f
                .read(&mut buf)
                .map_err(|e| local(format!("{}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| {
                if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                    local(format!("writing the staging file: the disk is full ({e}): the off-site copy waits; the local backups are not affected"))
                } else {
                    local(format!("writing the staging file: {e}"))
                }
            })?;
            total += n as u64;
        }
    }
    Ok((total, hex(&sha.finalize())))
}

struct HashingWriter<W: Write> {
    inner: W,
    sha: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn local(m: String) -> OffsiteError {
    OffsiteError::new(OffsiteFailure::Local, format!("off-site: {m}"))
}

fn staging_error(root: &Path, e: &std::io::Error) -> OffsiteError {
    let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
    OffsiteError::new(
        OffsiteFailure::Local,
        if full {
            format!(
                "off-site: no room on {} to stage the encrypted copy ({e}): the off-site copy waits; the local backups are not affected",
                root.display()
            )
        } else {
            format!(
                "off-site: staging the encrypted copy on {}: {e}",
                root.display()
            )
        },
    )
}

fn mismatch(e: &Entry, m: &Manifest, got: &str) -> OffsiteError {
    OffsiteError::new(
        OffsiteFailure::Local,
        format!(
            "off-site: {} no longer matches its SHA-256 ({got}, the manifest says {}): it is not sent; run `simdondar-backup verify`",
            e.data_path.display(),
            m.sha256
        ),
    )
}
