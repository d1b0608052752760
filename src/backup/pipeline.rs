/*!
The stream of one run: read the source's stdout in fixed blocks, compress with zstd (with worker
threads where there are cores to spare), hash the stored bytes once with SHA-256, and fan the
stored bytes out to every target's bounded queue. Memory is bounded by the block size, zstd's
window and the queues, whatever the size of the dump.
*/

use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::backup::source::Running;
use crate::backup::writer::{hex, Msg, WriterHandle};
use crate::config::CompressionConfig;

/// Bytes read from the source at a time.
pub const READ_BLOCK: usize = 256 * 1024;
/// Bytes of stored stream per chunk sent to the targets.
pub const CHUNK: usize = 1024 * 1024;
/// Bytes of the raw stream's end kept for the trailer check.
const TAIL: usize = 4096;

/// What the stream amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    pub bytes_raw: u64,
    pub bytes_stored: u64,
    pub sha256: String,
    /// The last bytes of the raw stream.
    pub tail: Vec<u8>,
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
}

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
            StreamError::Cancelled => write!(
                f,
                "stopped: the agent was shut down during the run; nothing was kept"
            ),
        }
    }
}

impl std::error::Error for StreamError {}

/// The zstd worker threads to use for a configured value (0 = automatic).
pub fn zstd_workers(c: &CompressionConfig) -> u32 {
    if c.threads > 0 {
        return c.threads;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    // One core reads, hashes and feeds the writers; the rest compress (at most 4).
    cores.saturating_sub(1).clamp(1, 4)
}

/// Hashes the stored stream and hands it to every live target.
struct FanOut {
    senders: Vec<Option<SyncSender<Msg>>>,
    hasher: Sha256,
    stored: u64,
}

impl Write for FanOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.stored += buf.len() as u64;
        let chunk: Arc<[u8]> = Arc::from(buf);
        for slot in self.senders.iter_mut() {
            if let Some(tx) = slot {
                if tx.send(Msg::Data(chunk.clone())).is_err() {
                    // The writer ended (its target failed); its verdict comes from its thread.
                    *slot = None;
                }
            }
        }
        if self.senders.iter().all(Option::is_none) {
            return Err(io::Error::other("every target failed"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams the source into the writers. On return the writers' senders are back in their
/// handles (or gone, for targets that failed), ready for `Commit` or `Abort`.
pub fn stream(
    source: &mut Running,
    writers: &mut [WriterHandle],
    compression: &CompressionConfig,
    hooks: &Hooks<'_>,
) -> Result<Streamed, StreamError> {
    let fan = FanOut {
        senders: writers.iter_mut().map(|w| w.tx.take()).collect(),
        hasher: Sha256::new(),
        stored: 0,
    };
    let buffered = BufWriter::with_capacity(CHUNK, fan);
    let mut enc = zstd::stream::write::Encoder::new(buffered, compression.level)
        .map_err(StreamError::Compress)?;
    let workers = zstd_workers(compression);
    if workers > 0 {
        // Falls back to single-threaded compression when libzstd lacks threads.
        let _ = enc.multithread(workers);
    }
    let _ = enc.include_checksum(true);

    let mut raw: u64 = 0;
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL * 2);
    let mut buf = vec![0u8; READ_BLOCK];
    let result = loop {
        let Some(out) = source.stdout() else {
            break Ok(());
        };
        let n = match out.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(StreamError::Read(e)),
        };
        raw += n as u64;
        if hooks.cancelled() {
            break Err(StreamError::Cancelled);
        }
        if let Some(p) = hooks.progress {
            p(raw);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > TAIL {
            tail.drain(..tail.len() - TAIL);
        }
        if let Err(e) = enc.write_all(&buf[..n]) {
            break Err(classify_write_error(&enc, e));
        }
    };
    if let Err(e) = result {
        give_back(writers, enc.get_mut().get_mut());
        return Err(e);
    }
    let buffered = match enc.finish() {
        Ok(b) => b,
        Err(e) => return Err(StreamError::Compress(e)),
    };
    let mut fan = match buffered.into_inner() {
        Ok(f) => f,
        Err(e) => {
            let (err, mut buffered) = e.into_parts();
            let fan = buffered.get_mut();
            let all_failed = fan.senders.iter().all(Option::is_none);
            give_back(writers, fan);
            return Err(if all_failed {
                StreamError::AllTargetsFailed
            } else {
                StreamError::Compress(err)
            });
        }
    };
    give_back(writers, &mut fan);
    if fan.senders.iter().all(Option::is_none) && writers.iter().all(|w| w.tx.is_none()) {
        return Err(StreamError::AllTargetsFailed);
    }
    Ok(Streamed {
        bytes_raw: raw,
        bytes_stored: fan.stored,
        sha256: hex(&fan.hasher.clone().finalize()),
        tail,
    })
}

fn classify_write_error(
    enc: &zstd::stream::write::Encoder<'_, BufWriter<FanOut>>,
    e: io::Error,
) -> StreamError {
    if enc.get_ref().get_ref().senders.iter().all(Option::is_none) {
        StreamError::AllTargetsFailed
    } else {
        StreamError::Compress(e)
    }
}

fn give_back(writers: &mut [WriterHandle], fan: &mut FanOut) {
    for (w, s) in writers.iter_mut().zip(fan.senders.iter_mut()) {
        w.tx = s.take();
    }
}
