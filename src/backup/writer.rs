/*!
One target's writer: a thread that receives the stored stream in chunks through a bounded queue,
writes it to `NAME.partial`, and on commit fsyncs, re-reads the file from the device (its cached
pages dropped first) to check the SHA-256, renames it to its final name, writes the `.sha256`
sidecar and the manifest (each through a `.partial` name), and fsyncs the directory.

A failed target only fails itself: its thread ends, its queue closes, and the pipeline stops
feeding it while the other targets go on.
*/

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::backup::layout::{self, BackupName, PARTIAL_SUFFIX};
use crate::backup::manifest::Manifest;
use crate::config::Role;
use crate::safe_fs::{self, Dir};

/// Chunks queued per target before the pipeline waits for it.
pub const QUEUE_CHUNKS: usize = 8;

/// What the pipeline sends to a writer.
pub enum Msg {
    /// More of the stored stream.
    Data(Arc<[u8]>),
    /// The stream is complete and the source's output was judged good: verify and publish.
    Commit(Box<Manifest>),
    /// The run failed: remove the partial file.
    Abort,
}

/// A target to write one backup to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target root (a directory or a mount point).
    pub root: PathBuf,
    pub role: Role,
}

/// How one copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    pub target: Target,
    /// Relative to the target root.
    pub relative_path: String,
    pub result: Result<u64, String>,
}

/// A running writer.
pub struct WriterHandle {
    pub target: Target,
    pub tx: Option<SyncSender<Msg>>,
    join: JoinHandle<CopyOutcome>,
}

impl WriterHandle {
    /// Waits for the writer's verdict.
    pub fn finish(self) -> CopyOutcome {
        let target = self.target.clone();
        drop(self.tx);
        self.join.join().unwrap_or_else(|_| CopyOutcome {
            target,
            relative_path: String::new(),
            result: Err("the writer thread crashed (a bug: please report it)".into()),
        })
    }
}

/// Describes an I/O error on a target in words.
pub fn describe_io(root: &Path, what: &str, e: &io::Error) -> String {
    let base = match e.raw_os_error() {
        Some(libc::ENOSPC) => "disk full".to_string(),
        Some(libc::EDQUOT) => "disk quota exceeded".to_string(),
        Some(libc::EROFS) => "the target is read-only".to_string(),
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied".to_string(),
        Some(libc::ENOENT) => "the folder does not exist (was the disk removed?)".to_string(),
        Some(libc::EIO) => {
            "input/output error (the disk may be failing or was removed)".to_string()
        }
        Some(libc::ENODEV) | Some(libc::ENXIO) => {
            "the device is gone (was it removed?)".to_string()
        }
        _ => e.to_string(),
    };
    format!("{}: {base} while {what}", root.display())
}

/// Opens `NAME.partial` on a target and starts its writer thread.
pub fn spawn(target: Target, name: &BackupName) -> Result<WriterHandle, CopyOutcome> {
    let fail = |what: &str, e: io::Error| CopyOutcome {
        target: target.clone(),
        relative_path: name.relative_path(),
        result: Err(describe_io(&target.root, what, &e)),
    };
    let root = Dir::open(&target.root).map_err(|e| fail("opening the target folder", e))?;
    let dir = root
        .create_dirs(name.dir_components())
        .map_err(|e| fail("creating the backup folder", e))?;
    let partial = format!("{}{PARTIAL_SUFFIX}", name.data_file);
    let file = dir
        .create_new(&partial)
        .map_err(|e| fail("creating the data file", e))?;
    let (tx, rx) = sync_channel(QUEUE_CHUNKS);
    let job = Job {
        target: target.clone(),
        name: name.clone(),
        dir,
        partial,
        file: Some(file),
        written: 0,
    };
    let join = std::thread::Builder::new()
        .name(format!("writer {}", target.root.display()))
        .spawn(move || job.run(rx))
        .map_err(|e| fail("starting the writer thread", e))?;
    Ok(WriterHandle {
        target,
        tx: Some(tx),
        join,
    })
}

struct Job {
    target: Target,
    name: BackupName,
    dir: Dir,
    partial: String,
    file: Option<File>,
    written: u64,
}

impl Job {
    fn outcome(&self, result: Result<u64, String>) -> CopyOutcome {
        CopyOutcome {
            target: self.target.clone(),
            relative_path: self.name.relative_path(),
            result,
        }
    }

    fn fail(mut self, what: &str, e: io::Error) -> CopyOutcome {
        let msg = describe_io(&self.target.root, what, &e);
        self.file = None;
        let _ = self.dir.remove_file(&self.partial);
        self.outcome(Err(msg))
    }

    fn run(mut self, rx: Receiver<Msg>) -> CopyOutcome {
        loop {
            match rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    let res = match self.file.as_mut() {
                        Some(f) => f.write_all(&chunk),
                        None => Ok(()),
                    };
                    if let Err(e) = res {
                        return self.fail("writing", e);
                    }
                    self.written += chunk.len() as u64;
                }
                Ok(Msg::Commit(manifest)) => return self.commit(*manifest),
                Ok(Msg::Abort) | Err(_) => {
                    self.file = None;
                    let _ = self.dir.remove_file(&self.partial);
                    return self.outcome(Err("the run was aborted; nothing was kept".into()));
                }
            }
        }
    }

    fn commit(mut self, mut manifest: Manifest) -> CopyOutcome {
        let Some(file) = self.file.take() else {
            return self.outcome(Err("internal error: no open file".into()));
        };
        if let Err(e) = file.sync_all() {
            return self.fail("flushing the data to the disk (fsync)", e);
        }
        drop(file);
        if self.written != manifest.bytes_stored {
            let msg = format!(
                "{}: wrote {} bytes but the stream had {}",
                self.target.root.display(),
                self.written,
                manifest.bytes_stored
            );
            let _ = self.dir.remove_file(&self.partial);
            return self.outcome(Err(msg));
        }
        match read_back_sha256(&self.dir, &self.partial) {
            Ok(h) if h == manifest.sha256 => {}
            Ok(h) => {
                let msg = format!(
                    "{}: read-back verification failed: the disk returned data with SHA-256 {h}, expected {} (the disk may be failing)",
                    self.target.root.display(),
                    manifest.sha256
                );
                let _ = self.dir.remove_file(&self.partial);
                return self.outcome(Err(msg));
            }
            Err(e) => return self.fail("reading the copy back for verification", e),
        }
        let data = self.name.data_file.clone();
        if let Err(e) = self.dir.rename(&self.partial, &data) {
            return self.fail("renaming the verified copy", e);
        }
        manifest.parts = vec![data.clone()];
        manifest.role = Some(self.target.role.as_str().to_string());
        let sidecar = layout::sidecar_text(&[(manifest.sha256.clone(), data.clone())]);
        let steps = [
            (self.name.sidecar_file(), sidecar.into_bytes()),
            (self.name.manifest_file(), manifest.to_json()),
        ];
        for (final_name, bytes) in steps {
            if let Err(e) = write_atomically(&self.dir, &final_name, &bytes) {
                let msg = describe_io(&self.target.root, &format!("writing {final_name}"), &e);
                // Without its manifest the data is not a backup: remove what was published.
                let _ = self.dir.remove_file(&self.name.sidecar_file());
                let _ = self.dir.remove_file(&data);
                return self.outcome(Err(msg));
            }
        }
        if let Err(e) = self.dir.sync() {
            let msg = describe_io(&self.target.root, "flushing the folder (fsync)", &e);
            return self.outcome(Err(msg));
        }
        self.outcome(Ok(self.written))
    }
}

/// Writes a small file through `NAME.partial`, fsync, rename.
pub fn write_atomically(dir: &Dir, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = format!("{name}{PARTIAL_SUFFIX}");
    let _ = dir.remove_file(&tmp);
    let mut f = dir.create_new(&tmp)?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = res {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    dir.rename(&tmp, name)
}

/// Re-reads a file from the device (cached pages dropped first) and returns its SHA-256.
pub fn read_back_sha256(dir: &Dir, name: &str) -> io::Result<String> {
    let mut f = dir.open_read(name)?;
    // Best effort: FUSE file systems may ignore the advice.
    let _ = safe_fs::drop_cache(&f);
    sha256_of_reader(&mut f)
}

/// SHA-256 of everything a reader yields, lowercase hex.
pub fn sha256_of_reader(r: &mut impl Read) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn io_errors_in_words() {
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(
            describe_io(Path::new("/mnt/x"), "writing", &e),
            "/mnt/x: disk full while writing"
        );
        let e = io::Error::from_raw_os_error(libc::EROFS);
        assert!(describe_io(Path::new("/t"), "writing", &e).contains("read-only"));
    }
}
