/*!
Restore: given any file of a backup (data, part, sidecar or manifest), check every stored byte
against the manifest and the `.sha256` sidecar first, and only then decompress the original dump
to the output. A restore never starts feeding a database with data it has not checked.
*/

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::backup::layout::{self, part_name, SidecarMatch};
use crate::backup::manifest::{Manifest, ManifestError};
use crate::util::hex;

/// Why a restore refused or failed.
#[derive(Debug)]
pub enum RestoreError {
    /// The named file or a part of the backup is missing.
    NotFound { path: PathBuf },
    /// Reading a file failed.
    Io { path: PathBuf, detail: String },
    /// The manifest cannot be used.
    Manifest { path: PathBuf, error: ManifestError },
    /// Neither a manifest nor a sidecar says what the bytes should be.
    NoChecksum { data: PathBuf },
    /// The stored bytes do not match.
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// The backup is encrypted and no identity was given.
    Encrypted { path: PathBuf },
    /// The identity file cannot be used.
    Identity { path: PathBuf, detail: String },
    /// age could not decrypt the data (wrong key, or damaged).
    Decrypt { detail: String },
    /// zstd could not decode the data.
    Decompress { detail: String },
    /// The decompressed size differs from the manifest's.
    SizeMismatch { expected: u64, actual: u64 },
    /// Writing the output failed (e.g. the consumer stopped).
    Output { detail: String },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::NotFound { path } => write!(f, "{} does not exist", path.display()),
            RestoreError::Io { path, detail } => write!(f, "cannot read {}: {detail}", path.display()),
            RestoreError::Manifest { path, error } => write!(f, "{}: {error}", path.display()),
            RestoreError::NoChecksum { data } => write!(
                f,
                "neither a manifest (.json) nor a checksum file (.sha256) was found next to {}: the backup cannot be checked, so it is not restored",
                data.display()
            ),
            RestoreError::Mismatch { what, expected, actual } => write!(
                f,
                "checksum mismatch for {what}: expected {expected}, found {actual}; this copy is damaged — restore from another disk"
            ),
            RestoreError::Encrypted { path } => write!(
                f,
                "{} is encrypted: give the key with --identity KEYFILE",
                path.display()
            ),
            RestoreError::Identity { path, detail } => write!(
                f,
                "the key file {} cannot be used: {detail} (give the file `simdondar-backup keygen` created)",
                path.display()
            ),
            RestoreError::Decrypt { detail } => write!(
                f,
                "cannot decrypt: {detail} (is this the key whose public key is in the manifest's recipients?)"
            ),
            RestoreError::Decompress { detail } => write!(
                f,
                "the data does not decompress ({detail}); this copy is damaged — restore from another disk"
            ),
            RestoreError::SizeMismatch { expected, actual } => write!(
                f,
                "the restored dump has {actual} bytes but the manifest says {expected}; this copy is damaged"
            ),
            RestoreError::Output { detail } => write!(f, "writing the restored dump failed: {detail}"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// What was restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub bytes_raw: u64,
    pub sha256: String,
    pub manifest_found: bool,
}

/// The files of one backup, located from any of them.
#[derive(Debug, Clone)]
pub struct Located {
    pub dir: PathBuf,
    pub data_name: String,
    pub manifest: Option<Manifest>,
    pub sidecar: Option<Vec<(String, String)>>,
    pub parts: Vec<PathBuf>,
}

fn io_err(path: &Path, e: io::Error) -> RestoreError {
    if e.kind() == io::ErrorKind::NotFound {
        RestoreError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        RestoreError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }
}

/// Finds the manifest, the sidecar and the data parts of the backup `file` belongs to.
pub fn locate(file: &Path) -> Result<Located, RestoreError> {
    if !file.exists() {
        return Err(RestoreError::NotFound {
            path: file.to_path_buf(),
        });
    }
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let fname = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data_name = layout::data_name_of(&fname).to_string();
    let manifest_path = dir.join(format!("{data_name}.json"));
    let manifest = if manifest_path.exists() {
        let bytes = std::fs::read(&manifest_path).map_err(|e| io_err(&manifest_path, e))?;
        Some(
            Manifest::from_json(&bytes).map_err(|error| RestoreError::Manifest {
                path: manifest_path.clone(),
                error,
            })?,
        )
    } else {
        None
    };
    let sidecar_path = dir.join(format!("{data_name}.sha256"));
    let sidecar = match std::fs::read_to_string(&sidecar_path) {
        Ok(t) => Some(layout::parse_sidecar(&t).ok_or_else(|| RestoreError::Io {
            path: sidecar_path.clone(),
            detail: "not in sha256sum format".into(),
        })?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&sidecar_path, e)),
    };
    let parts: Vec<PathBuf> = match &manifest {
        Some(m) => m.parts.iter().map(|p| dir.join(p)).collect(),
        None if dir.join(&data_name).exists() => vec![dir.join(&data_name)],
        None => (0..)
            .map(|n| dir.join(part_name(&data_name, n)))
            .take_while(|p| p.exists())
            .collect(),
    };
    if parts.is_empty() {
        return Err(RestoreError::NotFound {
            path: dir.join(&data_name),
        });
    }
    if manifest.is_none() && sidecar.is_none() {
        return Err(RestoreError::NoChecksum {
            data: dir.join(&data_name),
        });
    }
    Ok(Located {
        dir,
        data_name,
        manifest,
        sidecar,
        parts,
    })
}

/// Checks every stored byte; returns the SHA-256 of the whole stored stream.
pub fn check(loc: &Located) -> Result<String, RestoreError> {
    let mut whole = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for part in &loc.parts {
        let mut f = File::open(part).map_err(|e| io_err(part, e))?;
        let mut this = Sha256::new();
        crate::util::read_each(&mut f, &mut buf, |b| {
            whole.update(b);
            this.update(b);
        })
        .map_err(|e| io_err(part, e))?;
        let this = hex(&this.finalize());
        if let Some(side) = &loc.sidecar {
            let name = part
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match layout::sidecar_match(side, &name, &this) {
                SidecarMatch::Matches => {}
                SidecarMatch::Differs(h) => {
                    return Err(RestoreError::Mismatch {
                        what: name,
                        expected: h,
                        actual: this,
                    })
                }
                SidecarMatch::Unlisted => {
                    return Err(RestoreError::Mismatch {
                        what: format!("{name} (not listed in the .sha256 file)"),
                        expected: "an entry".into(),
                        actual: "none".into(),
                    })
                }
            }
        }
    }
    let whole = hex(&whole.finalize());
    if let Some(m) = &loc.manifest {
        if m.sha256 != whole {
            return Err(RestoreError::Mismatch {
                what: format!("{} (manifest)", loc.data_name),
                expected: m.sha256.clone(),
                actual: whole,
            });
        }
    }
    Ok(whole)
}

/// Reads the parts one after the other.
struct Concat {
    parts: Vec<PathBuf>,
    next: usize,
    cur: Option<File>,
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.cur.is_none() {
                let Some(p) = self.parts.get(self.next) else {
                    return Ok(0);
                };
                self.cur = Some(File::open(p)?);
                self.next += 1;
            }
            if let Some(f) = self.cur.as_mut() {
                let n = f.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.cur = None;
            }
        }
    }
}

/// Reads an age identity file (as `age-keygen` or `simdondar-backup keygen` write it).
pub fn read_identity(path: &Path) -> Result<age::x25519::Identity, RestoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse::<age::x25519::Identity>().ok())
        .ok_or_else(|| RestoreError::Identity {
            path: path.to_path_buf(),
            detail: "no AGE-SECRET-KEY-… line in it".into(),
        })
}

/// Checks the backup `file` belongs to, then writes the original stream to `out` (decrypting
/// with `identity` when the backup is encrypted).
pub fn restore(
    file: &Path,
    identity: Option<&Path>,
    out: &mut impl Write,
) -> Result<Restored, RestoreError> {
    let loc = locate(file)?;
    let encrypted =
        loc.manifest.as_ref().is_some_and(|m| m.encrypted) || loc.data_name.ends_with(".age");
    let identity = match (encrypted, identity) {
        (true, None) => {
            return Err(RestoreError::Encrypted {
                path: loc.dir.join(&loc.data_name),
            })
        }
        (true, Some(p)) => Some(read_identity(p)?),
        (false, _) => None,
    };
    let sha256 = check(&loc)?;
    let input = Concat {
        parts: loc.parts.clone(),
        next: 0,
        cur: None,
    };
    let input: Box<dyn Read> = match identity {
        None => Box::new(input),
        Some(id) => {
            let d = age::Decryptor::new(input).map_err(|e| RestoreError::Decrypt {
                detail: e.to_string(),
            })?;
            Box::new(
                d.decrypt(std::iter::once(&id as &dyn age::Identity))
                    .map_err(|e| RestoreError::Decrypt {
                        detail: e.to_string(),
                    })?,
            )
        }
    };
    let mut dec =
        zstd::stream::read::Decoder::new(input).map_err(|e| RestoreError::Decompress {
            detail: e.to_string(),
        })?;
    let mut buf = vec![0u8; 1 << 18];
    let mut total: u64 = 0;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(RestoreError::Decompress {
                    detail: e.to_string(),
                })
            }
        };
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| RestoreError::Output {
            detail: e.to_string(),
        })?;
        total += n as u64;
    }
    out.flush().map_err(|e| RestoreError::Output {
        detail: e.to_string(),
    })?;
    if let Some(m) = &loc.manifest {
        if m.bytes_raw != total {
            return Err(RestoreError::SizeMismatch {
                expected: m.bytes_raw,
                actual: total,
            });
        }
    }
    Ok(Restored {
        bytes_raw: total,
        sha256,
        manifest_found: loc.manifest.is_some(),
    })
}
