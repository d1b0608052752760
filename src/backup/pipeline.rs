/*!
The stream of one run: read the source's stdout in fixed blocks, compress with zstd (with worker
threads where there are cores to spare), hash the stored bytes once with SHA-256, and fan the
stored bytes out to every target's bounded queue. Memory is bounded by the block size, zstd's
window and the queues, whatever the size of the dump.
*/

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::backup::source::Running;
use crate::backup::writer::{ContentHasher, Lane, Msg, WriterHandle};
use crate::config::CompressionConfig;
use crate::util::hex;

/// Bytes read from the source at a time.
pub const READ_BLOCK: usize = 256 * 1024;
/// Bytes of stored stream per chunk sent to the targets (with [`QUEUE_CHUNKS`] queued per target,
/// at most 2 MiB waits for a slow disk; 1 MiB chunks held up to 8 MiB: issue 17).
///
/// [`QUEUE_CHUNKS`]: crate::backup::writer::QUEUE_CHUNKS
pub const CHUNK: usize = 256 * 1024;
/// Bytes of raw stream per zstd worker job (zstd's minimum is 512 KiB).
pub const ZSTD_JOB: u32 = 1 << 20;
/// Bytes of the raw stream's end kept for the trailer check.
const TAIL: usize = 4096;

/// One stored stream (clear or encrypted): its size, SHA-256 (the `.sha256` sidecar) and
/// xxh3-128 (what each writer's read-back is compared with, [`content_hash`](crate::backup::writer::content_hash)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: u64,
    pub sha256: String,
    pub xxh3: u128,
}

/// What the stream amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    pub bytes_raw: u64,
    /// The last bytes of the raw stream.
    pub tail: Vec<u8>,
    /// The compressed stream, for targets written in clear (`None`: none, or all failed).
    pub clear: Option<Stored>,
    /// The compressed then age-encrypted stream, for targets that require encryption.
    pub encrypted: Option<Stored>,
}

/// Why the stream stopped early.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the source failed.
    Read(io::Error),
    /// Every target failed; nothing is left to write to.
    AllTargetsFailed,
    /// The compressor failed.
    Compress(io::Error),
    /// The agent is stopping.
    Cancelled,
    /// The age encryptor could not be set up.
    Encrypt(String),
}

/// Sees every raw block read from the source (the row counter).
pub type RawObserver<'a> = dyn FnMut(&[u8]) + 'a;

/// How the caller follows and stops a run.
#[derive(Default, Clone, Copy)]
pub struct Hooks<'a> {
    /// Set to stop the run (the agent is shutting down): the source is killed, nothing is kept.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Called with the raw bytes read so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl Hooks<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Read(e) => write!(f, "reading the backup stream failed: {e}"),
            StreamError::AllTargetsFailed => write!(f, "every target failed"),
            StreamError::Compress(e) => write!(f, "compression failed: {e}"),
            StreamError::Encrypt(e) => write!(f, "encryption failed: {e}"),
            StreamError::Cancelled => write!(
                f,
                "stopped: the agent was shut down during the run; nothing was kept"
            ),
        }
    }
}

impl std::error::Error for StreamError {}

/// The zstd worker threads to use for a configured value (0 = automatic, [`workers_for`] the
/// machine's cores).
pub fn zstd_workers(c: &CompressionConfig) -> u32 {
    if c.threads > 0 {
        return c.threads;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    workers_for(cores)
}

/// Compression workers for a machine with `cores` cores: every core on one or two, one core left
/// for the dump client and the stream's own work (reading, counting rows, hashing, handing chunks
/// to the writers) from four on, at most 4 (issue 17, docs/performance.md "Cost model": on a
/// Raspberry Pi 4 that share is about a core's worth while 3 workers compress; on 2 cores it is a
/// tenth of the compression's, and one worker left a core idle that `zstd -T0` used).
pub fn workers_for(cores: u32) -> u32 {
    if cores <= 2 {
        cores.max(1)
    } else {
        (cores - 1).min(4)
    }
}

/// Hashes one stored stream and hands it to every live target of its group. A target whose disk
/// stops answering is dropped here (its lane gives up after `stall_timeout`), so it never holds
/// back the others.
struct FanOut {
    senders: Vec<Lane>,
    hasher: Sha256,
    xxh3: ContentHasher,
    stored: u64,
}

impl FanOut {
    fn new(senders: Vec<Lane>) -> FanOut {
        FanOut {
            senders,
            hasher: Sha256::new(),
            xxh3: ContentHasher::new(),
            stored: 0,
        }
    }

    fn into_stored(self) -> Stored {
        Stored {
            bytes: self.stored,
            sha256: hex(&self.hasher.finalize()),
            xxh3: self.xxh3.digest128(),
        }
    }
}

impl Write for FanOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.xxh3.update(buf);
        self.stored += buf.len() as u64;
        let chunk: Arc<[u8]> = Arc::from(buf);
        // A writer whose target failed has ended; its verdict comes from its thread.
        self.senders
            .retain(|lane| lane.send(Msg::Data(chunk.clone())));
        if self.senders.is_empty() {
            return Err(io::Error::other("every target of this group failed"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type EncWriter = age::stream::StreamWriter<BufWriter<FanOut>>;

/// The error the tee returns once no target is left (recognised by its type, not its text).
#[derive(Debug)]
struct AllTargetsGone;

impl std::fmt::Display for AllTargetsGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("every target failed")
    }
}

impl std::error::Error for AllTargetsGone {}

fn is_all_targets_gone(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<AllTargetsGone>())
}

/// The compressed stream, to the clear group and through age to the encrypted group. A group
/// whose targets all failed is dropped; the stream goes on while any group lives.
struct Tee {
    clear: Option<BufWriter<FanOut>>,
    enc: Option<EncWriter>,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(c) = self.clear.as_mut() {
            if c.write_all(buf).is_err() {
                self.clear = None;
            }
        }
        if let Some(e) = self.enc.as_mut() {
            if e.write_all(buf).is_err() {
                self.enc = None;
            }
        }
        if self.clear.is_none() && self.enc.is_none() {
            return Err(io::Error::other(AllTargetsGone));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams the source into the writers: writers whose `encrypted` is set get the age-encrypted
/// stream (to `recipients`), the others the compressed stream; `observer` sees every raw block
/// (the row counter). The caller then sends each writer `Commit` or `Abort`.
pub fn stream(
    source: &mut Running,
    writers: &[WriterHandle],
    compression: &CompressionConfig,
    recipients: &[age::x25519::Recipient],
    mut observer: Option<&mut RawObserver<'_>>,
    hooks: &Hooks<'_>,
) -> Result<Streamed, StreamError> {
    let senders = |enc: bool| -> Vec<Lane> {
        writers
            .iter()
            .filter(|w| w.encrypted == enc)
            .filter_map(WriterHandle::lane)
            .collect()
    };
    let clear_senders = senders(false);
    let enc_senders = senders(true);
    let clear = (!clear_senders.is_empty())
        .then(|| BufWriter::with_capacity(CHUNK, FanOut::new(clear_senders)));
    let enc = if enc_senders.is_empty() || recipients.is_empty() {
        None
    } else {
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| StreamError::Encrypt(e.to_string()))?;
        Some(
            encryptor
                .wrap_output(BufWriter::with_capacity(CHUNK, FanOut::new(enc_senders)))
                .map_err(|e| StreamError::Encrypt(e.to_string()))?,
        )
    };
    let tee = Tee { clear, enc };
    let mut enc =
        zstd::stream::write::Encoder::new(tee, compression.level).map_err(StreamError::Compress)?;
    let workers = zstd_workers(compression);
    if workers > 0 {
        // Falls back to single-threaded compression when libzstd lacks threads.
        let _ = enc.multithread(workers);
        // Small jobs keep the memory of the workers' buffers small (issue 17: with zstd's
        // default, 4 windows = 8 MiB per job at level 3, the agent peaked at ~60 MiB; with 1 MiB
        // jobs at ~28 MiB, the stream no larger; docs/performance.md).
        let _ = enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB));
    }
    let _ = enc.include_checksum(true);

    let mut raw: u64 = 0;
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL * 2);
    let mut buf = vec![0u8; READ_BLOCK];
    let result = loop {
        let n = match source.read(&mut buf) {
            None | Some(Ok(0)) => break Ok(()),
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Some(Err(e)) => break Err(StreamError::Read(e)),
        };
        raw += n as u64;
        if hooks.cancelled() {
            break Err(StreamError::Cancelled);
        }
        if let Some(p) = hooks.progress {
            p(raw);
        }
        if let Some(o) = observer.as_mut() {
            o(&buf[..n]);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        if let Err(e) = enc.write_all(&buf[..n]) {
            let t = enc.get_ref();
            break Err(if t.clear.is_none() && t.enc.is_none() {
                StreamError::AllTargetsFailed
            } else {
                StreamError::Compress(e)
            });
        }
    };
    result?;
    let tee = enc.finish().map_err(|e| {
        if is_all_targets_gone(&e) {
            StreamError::AllTargetsFailed
        } else {
            StreamError::Compress(e)
        }
    })?;
    let clear = tee
        .clear
        .and_then(|b| b.into_inner().ok())
        .map(FanOut::into_stored);
    let encrypted = tee
        .enc
        .and_then(|w| w.finish().ok())
        .and_then(|b| b.into_inner().ok())
        .map(FanOut::into_stored);
    if clear.is_none() && encrypted.is_none() {
        return Err(StreamError::AllTargetsFailed);
    }
    Ok(Streamed {
        bytes_raw: raw,
        tail,
        clear,
        encrypted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_leave_a_core_to_the_dump_from_four_cores_on() {
        let got: Vec<u32> = [0, 1, 2, 3, 4, 6, 8, 64].map(workers_for).to_vec();
        assert_eq!(got, vec![1, 1, 2, 2, 3, 4, 4, 4]);
    }
}
