/*!
One target's writer: a thread that receives the stored stream in chunks through a bounded queue,
writes it to `NAME.partial`, and on commit fsyncs, re-reads the file from the device (with
`O_DIRECT` where the file system allows it; otherwise its cached pages dropped first, and under a
FUSE driver the block device's buffer cache too) to check that the disk returns the stream
(the xxh3-128 of what it read against the stream's, [`content_hash`]), renames it to its final name,
writes the `.sha256` sidecar (the stream's SHA-256) and the manifest (each through a `.partial`
name), and fsyncs the directory.

A failed target only fails itself: its thread ends, its queue closes, and the pipeline stops
feeding it while the other targets go on. A target that stops answering (a call on it makes no
progress for `stall_timeout`) is dropped the same way: its [`Liveness`] tells the pipeline and
[`WriterHandle::finish`], which give up on it; its thread, stuck in the kernel, is left detached
and, should it ever return, removes what it wrote and publishes nothing.
*/

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The streaming form of [`content_hash`].
pub use xxhash_rust::xxh3::Xxh3 as ContentHasher;

use crate::backup::layout::{self, BackupName, PARTIAL_SUFFIX};
use crate::backup::manifest::Manifest;
use crate::backup::publish;
use crate::config::Role;
use crate::kinds::{CopyError, CopyFailure};
use crate::safe_fs::{self, Dir};
use crate::util::hex;

/// Chunks queued per target before the pipeline waits for it.
pub const QUEUE_CHUNKS: usize = 8;

/// What the pipeline sends to a writer.
pub enum Msg {
    /// More of the stored stream.
    Data(Arc<[u8]>),
    /// The stream is complete and the source's output was judged good: verify and publish.
    /// `xxh3` is the stream's [`content_hash`], as the pipeline hashed it beside its SHA-256.
    Commit { manifest: Box<Manifest>, xxh3: u128 },
    /// The run failed: remove the partial file.
    Abort,
}

/// A target to write one backup to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target root (a directory or a mount point).
    pub root: PathBuf,
    pub role: Role,
    /// Split the data into `.partNNN` files of at most this many bytes (FAT: 4 GiB − 1).
    pub split_size: Option<u64>,
    /// The disk's label and file-system UUID as udev reports them (a USB disk); `None` for a
    /// folder. Only the paperwork uses them: a receipt names the disk as IT Support knows it.
    /// (Boxed: a copy's outcome carries its target and stays small.)
    pub disk: Option<Box<DiskName>>,
}

/// A disk's names as udev reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskName {
    pub label: String,
    pub uuid: Option<String>,
}

impl Target {
    /// A directory target without splitting.
    pub fn dir(root: PathBuf, role: Role) -> Target {
        Target {
            root,
            role,
            split_size: None,
            disk: None,
        }
    }
}

/// How one copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    pub target: Target,
    /// Relative to the target root.
    pub relative_path: String,
    pub result: Result<u64, CopyError>,
}

impl CopyOutcome {
    /// The kind of the failure, when the copy failed.
    pub fn failure(&self) -> Option<CopyFailure> {
        self.result.as_ref().err().map(|e| e.kind)
    }
}

/// Which thread of a writer is inside a call on the disk.
#[derive(Clone, Copy)]
enum Who {
    Writer = 0,
    Verifier = 1,
}

/// How a writer's calls on its disk are going, shared with the pipeline and
/// [`WriterHandle::finish`]: a call that has not returned for `stall_timeout` means the disk
/// stopped answering.
pub struct Liveness {
    epoch: Instant,
    /// Per thread: milliseconds since `epoch` + 1 when its current disk call began; 0: none.
    busy_since: [AtomicU64; 2],
    /// What the stuck call was doing, for the message.
    doing: Mutex<&'static str>,
    /// Set when the run gave up on this writer: it must publish nothing.
    abandoned: AtomicBool,
}

/// Marks a call on the disk for as long as it lives.
struct Busy<'a> {
    live: &'a Liveness,
    who: Who,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.live.busy_since[self.who as usize].store(0, Ordering::Release);
    }
}

impl Liveness {
    fn new() -> Liveness {
        Liveness {
            epoch: Instant::now(),
            busy_since: [AtomicU64::new(0), AtomicU64::new(0)],
            doing: Mutex::new("starting"),
            abandoned: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn busy(&self, who: Who, doing: &'static str) -> Busy<'_> {
        if let Ok(mut d) = self.doing.lock() {
            *d = doing;
        }
        self.busy_since[who as usize].store(self.now_ms(), Ordering::Release);
        Busy { live: self, who }
    }

    /// How long the oldest unfinished call on the disk has been going.
    pub fn stuck_for(&self) -> Duration {
        let now = self.now_ms();
        let oldest = self
            .busy_since
            .iter()
            .map(|b| b.load(Ordering::Acquire))
            .filter(|&b| b != 0)
            .min();
        oldest.map_or(Duration::ZERO, |b| {
            Duration::from_millis(now.saturating_sub(b))
        })
    }

    /// Whether a call has been stuck for at least `limit`.
    pub fn stalled(&self, limit: Duration) -> bool {
        self.stuck_for() >= limit
    }

    /// The run gives up on this writer.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
    }

    fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    fn doing(&self) -> &'static str {
        self.doing.lock().map(|d| *d).unwrap_or("writing")
    }
}

/// The sentence for a disk that stopped answering.
pub fn not_answering(root: &Path, after: Duration, doing: &str) -> CopyError {
    CopyError::new(
        CopyFailure::NotAnswering,
        format!(
            "{}: the disk stopped answering (no progress for {} s while {doing}); it was dropped from this run and the other copies went on. Do not pull it out until the panel says it is safe, then check it on a PC or replace it",
            root.display(),
            after.as_secs()
        ),
    )
}

/// A running writer.
pub struct WriterHandle {
    pub target: Target,
    /// Whether this writer gets the encrypted stream.
    pub encrypted: bool,
    pub tx: Option<SyncSender<Msg>>,
    /// Shared with the writer's threads: whether the disk still answers.
    pub live: Arc<Liveness>,
    /// `stall_timeout`.
    pub stall: Duration,
    relative_path: String,
    done: Receiver<CopyOutcome>,
    join: Option<JoinHandle<()>>,
}

/// The way into one writer's queue that never blocks longer than its disk keeps answering.
#[derive(Clone)]
pub struct Lane {
    tx: SyncSender<Msg>,
    live: Arc<Liveness>,
    stall: Duration,
}

impl Lane {
    /// Queues a message; `false` when the writer has ended (its target failed) or its disk stopped
    /// answering while its queue was full (then the writer is given up).
    pub fn send(&self, msg: Msg) -> bool {
        let mut msg = msg;
        let mut pause = Duration::from_micros(200);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return true,
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
                Err(std::sync::mpsc::TrySendError::Full(m)) => {
                    if self.live.abandoned() {
                        return false;
                    }
                    if self.live.stalled(self.stall) {
                        self.live.abandon();
                        return false;
                    }
                    msg = m;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(2));
                }
            }
        }
    }
}

impl WriterHandle {
    /// The bounded way into this writer's queue (`None` once closed).
    pub fn lane(&self) -> Option<Lane> {
        self.tx.as_ref().map(|tx| Lane {
            tx: tx.clone(),
            live: Arc::clone(&self.live),
            stall: self.stall,
        })
    }

    /// Waits for the writer's verdict, but never longer than the disk keeps answering: a writer
    /// whose disk call makes no progress for `stall_timeout` is given up (its thread left
    /// detached) with a "not answering" failure.
    pub fn finish(mut self) -> CopyOutcome {
        drop(self.tx.take());
        let tick = (self.stall / 20).clamp(Duration::from_millis(10), Duration::from_millis(500));
        loop {
            match self.done.recv_timeout(tick) {
                Ok(outcome) => {
                    if let Some(j) = self.join.take() {
                        let _ = j.join();
                    }
                    return outcome;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.live.stalled(self.stall) || self.live.abandoned() {
                        return self.give_up();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return CopyOutcome {
                        target: self.target.clone(),
                        relative_path: self.relative_path.clone(),
                        result: Err(CopyError::new(
                            CopyFailure::Other,
                            format!(
                                "{}: the writer thread crashed (a bug: please report it); nothing was kept",
                                self.target.root.display()
                            ),
                        )),
                    };
                }
            }
        }
    }

    /// Gives up on a writer whose disk stopped answering: the thread is left behind, never
    /// joined; if it ever returns it removes its files and publishes nothing.
    pub fn give_up(mut self) -> CopyOutcome {
        self.live.abandon();
        drop(self.join.take());
        log::error!(
            "{}: the disk stopped answering; its writer is left behind",
            self.target.root.display()
        );
        CopyOutcome {
            target: self.target.clone(),
            relative_path: self.relative_path.clone(),
            result: Err(not_answering(
                &self.target.root,
                self.live.stuck_for().max(self.stall),
                self.live.doing(),
            )),
        }
    }
}

/// An I/O error on a target, with its kind.
pub fn io_error(root: &Path, what: &str, e: &io::Error) -> CopyError {
    CopyError::new(CopyFailure::of_io(e), describe_io(root, what, e))
}

/// A FUSE driver whose disk was pulled out answers what it likes: ntfs-3g says "no space left"
/// (the lab, seed 42, cut 8). When the block device under a FUSE target is gone, the copy failed
/// because the disk went away, whatever errno the driver chose, and IT Support is told so.
pub fn gone_if_device_gone(
    err: CopyError,
    root: &Path,
    what: &str,
    device: Option<&Path>,
) -> CopyError {
    match device {
        Some(dev) if err.kind != CopyFailure::Gone && !safe_fs::is_block_device(dev) => {
            CopyError::new(
                CopyFailure::Gone,
                format!(
                    "{}: the disk was removed ({} is gone) while {what}",
                    root.display(),
                    dev.display()
                ),
            )
        }
        _ => err,
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

/// Where a read-back is about to read, for [`Hooks::before_read_back`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBackStep {
    /// The file being read back (a `.partial` name in the backup's day folder).
    pub part: String,
    /// The byte range of it about to be read.
    pub from: u64,
    pub to: u64,
    /// Read with `O_DIRECT` (from the device, past the page cache).
    pub direct: bool,
}

/// Called on the verifier's thread, see [`Hooks::before_read_back`].
pub type ReadBackHook = Arc<dyn Fn(&ReadBackStep) + Send + Sync>;

/// Points where a test may step into a writer. The product never sets any ([`spawn`] uses none);
/// they exist so that tests can hit a window that is otherwise a matter of timing.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Called once a range of the copy has been flushed to the device (the file's fsync, and
    /// for FUSE the device's), before any cache is dropped and the range read back: a test
    /// corrupts the device here, under caches that still hold the good bytes.
    pub before_read_back: Option<ReadBackHook>,
}

/// Starts a target's writer thread, which opens `NAME.partial` on the target; waits for that at
/// most `stall` (a disk that does not answer even that is given up at once).
pub fn spawn(
    target: Target,
    name: &BackupName,
    encrypted: bool,
    stall: Duration,
) -> Result<WriterHandle, CopyOutcome> {
    spawn_with(target, name, encrypted, stall, Hooks::default())
}

/// [`spawn`] with test [`Hooks`].
pub fn spawn_with(
    target: Target,
    name: &BackupName,
    encrypted: bool,
    stall: Duration,
    hooks: Hooks,
) -> Result<WriterHandle, CopyOutcome> {
    let fail = |e: CopyError| CopyOutcome {
        target: target.clone(),
        relative_path: name.relative_path(),
        result: Err(e),
    };
    let live = Arc::new(Liveness::new());
    let (tx, rx) = sync_channel(QUEUE_CHUNKS);
    let (opened_tx, opened_rx) = sync_channel::<Result<(), CopyError>>(1);
    let (done_tx, done_rx) = sync_channel::<CopyOutcome>(1);
    let (t, n, l) = (target.clone(), name.clone(), Arc::clone(&live));
    let join = std::thread::Builder::new()
        .name(format!("writer {}", target.root.display()))
        .spawn(move || {
            let job = match Job::open(t, &n, l, hooks) {
                Ok(job) => job,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let _ = opened_tx.send(Ok(()));
            let _ = done_tx.send(job.run(rx));
        })
        .map_err(|e| fail(io_error(&target.root, "starting the writer thread", &e)))?;
    let mut handle = WriterHandle {
        target: target.clone(),
        encrypted,
        tx: Some(tx),
        live,
        stall,
        relative_path: name.relative_path(),
        done: done_rx,
        join: Some(join),
    };
    let tick = (stall / 20).clamp(Duration::from_millis(10), Duration::from_millis(500));
    loop {
        match opened_rx.recv_timeout(tick) {
            Ok(Ok(())) => return Ok(handle),
            Ok(Err(e)) => {
                if let Some(j) = handle.join.take() {
                    let _ = j.join();
                }
                return Err(fail(e));
            }
            Err(RecvTimeoutError::Timeout) if handle.live.stalled(stall) => {
                return Err(handle.give_up());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(CopyError::new(
                    CopyFailure::Other,
                    format!(
                        "{}: the writer thread crashed while opening the copy (a bug: please report it)",
                        target.root.display()
                    ),
                )))
            }
        }
    }
}

struct Job {
    /// The target's file system is driven by a FUSE program.
    on_fuse: bool,
    /// The block device under a FUSE target (its folder fsyncs do not all reach the device:
    /// fusefat's do not), flushed once more when the copy is published.
    fuse_device: Option<PathBuf>,
    live: Arc<Liveness>,
    target: Target,
    name: BackupName,
    dir: Dir,
    /// The `.partial` names written so far, in order (one unless split).
    partials: Vec<String>,
    file: Option<File>,
    part_written: u64,
    written: u64,
    /// Bytes of the current part already handed to the verifier.
    part_announced: u64,
    /// SHA-256 of the current part, for the sidecar of a split copy (only on targets that may
    /// split: a single file's line is the stream's SHA-256).
    part_sha: Option<Sha256>,
    /// SHA-256 of each finished part, in order (split targets only).
    part_shas: Vec<String>,
    /// Read back in steps while writing (not on FUSE file systems, whose drivers may only make
    /// data visible to other readers once the writer's descriptor is closed).
    step_verify: bool,
    verifier: Verifier,
}

/// What the writer tells its verifier.
enum Check {
    /// A new part: read it through this descriptor (its own, opened by name, `O_DIRECT` when
    /// `direct`), named so.
    Part(File, String, bool),
    /// The current part holds at least `to` bytes, written: flush and read them back. While the
    /// part is still being written (`closed` false), only up to the last whole cache unit below
    /// `to`: the block the writer is still filling may be cached dirty and cannot be dropped, so
    /// its bytes are read back with the next step.
    Upto { to: u64, closed: bool },
    /// The current part is complete.
    EndPart,
    /// Send the xxh3-128 of everything read back, or the first error.
    Finish(std::sync::mpsc::Sender<io::Result<u128>>),
}

/// A thread that flushes written ranges to the device, drops them from the page cache and reads
/// them back, so verification runs beside the writing instead of stalling it (or following it).
struct Verifier {
    tx: std::sync::mpsc::Sender<Check>,
}

/// What the verifier reads through besides the file: the block device under a FUSE file system
/// (its buffer cache is emptied before each read-back) and the test hook.
struct ReadBackVia {
    device: Option<PathBuf>,
    hook: Option<ReadBackHook>,
}

impl Verifier {
    fn spawn(live: Arc<Liveness>, via: ReadBackVia) -> io::Result<Verifier> {
        let (tx, rx) = std::sync::mpsc::channel::<Check>();
        std::thread::Builder::new()
            .name("verifier".into())
            .spawn(move || {
                let mut file: Option<(File, String)> = None;
                let mut done: u64 = 0;
                let mut read = ContentHasher::new();
                let mut failed: Option<io::Error> = None;
                let mut buf = AlignedBuf::new(READ_BACK_BUF);
                let mut direct = false;
                for msg in rx {
                    match msg {
                        Check::Part(f, name, d) => {
                            file = Some((f, name));
                            direct = d;
                            done = 0;
                        }
                        Check::Upto { to, closed } => {
                            if failed.is_some() {
                                continue;
                            }
                            let Some((f, name)) = file.as_ref() else {
                                continue;
                            };
                            let to = if closed {
                                to
                            } else {
                                let unit = safe_fs::cache_unit();
                                to - to % unit
                            };
                            let range = ReadBackStep {
                                part: name.clone(),
                                from: done,
                                to,
                                direct,
                            };
                            let how = ReadHow {
                                via: &via,
                                direct: &mut direct,
                            };
                            match read_range(f, &range, how, buf.as_mut(), &mut read, &live) {
                                Err(e) => failed = Some(e),
                                Ok(()) => done = done.max(to),
                            }
                        }
                        Check::EndPart => file = None,
                        Check::Finish(reply) => {
                            let r = match failed.take() {
                                Some(e) => Err(e),
                                None => Ok(read.digest128()),
                            };
                            let _ = reply.send(r);
                            return;
                        }
                    }
                }
            })?;
        Ok(Verifier { tx })
    }

    fn send(&self, c: Check) -> io::Result<()> {
        self.tx
            .send(c)
            .map_err(|_| io::Error::other("the verifier thread stopped"))
    }
}

/// Bytes read back at a time (a multiple of [`DIRECT_ALIGN`]).
const READ_BACK_BUF: usize = 1 << 20;

/// Alignment of `O_DIRECT` reads: buffer address, file offset and length (4096 covers every
/// logical block size of the disks the appliance meets: 512 and 4096).
const DIRECT_ALIGN: usize = 4096;

/// A heap buffer whose start is aligned to [`DIRECT_ALIGN`], for `O_DIRECT` reads.
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let raw = vec![0u8; len + DIRECT_ALIGN];
        let start = raw.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
        AlignedBuf { raw, start, len }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// How a range is read back: through what besides the file, and whether with `O_DIRECT` (set
/// back to `false` if the file system refuses an aligned direct read).
struct ReadHow<'a> {
    via: &'a ReadBackVia,
    direct: &'a mut bool,
}

/// Flushes `[from, to)` of a file to the device and hashes what the device returns.
///
/// With `O_DIRECT` (in-kernel file systems that support it) the reads bypass the page cache and
/// come from the device; the written pages are still dropped, so a backup does not push the rest
/// of the appliance's memory out. Without it, in-kernel file systems read a file's data from the
/// device once its pages are dropped (every cache unit holding a byte of the range, and
/// everything after it). A FUSE driver reads the block device through the device's own buffer
/// cache, which it has just filled while writing: that cache is written back and emptied too
/// (`BLKFLSBUF`), so the driver has to fetch the bytes from the device.
fn read_range(
    f: &File,
    range: &ReadBackStep,
    how: ReadHow<'_>,
    buf: &mut [u8],
    hasher: &mut ContentHasher,
    live: &Liveness,
) -> io::Result<()> {
    let via = how.via;
    let (from, to) = (range.from, range.to);
    if to <= from {
        return Ok(());
    }
    {
        let _busy = live.busy(Who::Verifier, "flushing the copy to the disk (fsync)");
        f.sync_data()?;
        if let Some(dev) = &via.device {
            // The driver's writes may still sit in the device's cache (fusefat's fsync leaves
            // them there): this puts them on the device.
            safe_fs::sync_device(dev)?;
        }
    }
    if let Some(hook) = &via.hook {
        hook(range);
    }
    if let Some(dev) = &via.device {
        let _busy = live.busy(
            Who::Verifier,
            "emptying the disk's cache before the read-back",
        );
        safe_fs::flush_device_cache(dev)?;
    }
    // From the start of the range to the end of the file: a block the kernel caches whole is
    // dropped only when the range covers all of it. Best effort on FUSE (the driver may keep the
    // file's pages; its device's cache was emptied above).
    let _ = safe_fs::drop_cache_range(f, from, 0);
    let mut at = from;
    while at < to {
        let want = ((to - at) as usize).min(buf.len());
        let n = {
            let _busy = live.busy(Who::Verifier, "reading the copy back");
            read_at(f, buf, want, at, how.direct)?
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than what was written",
            ));
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

/// Reads up to `want` bytes at `at` into `buf`. With `O_DIRECT` the request is widened to whole
/// [`DIRECT_ALIGN`] units (the file ends at or after `at + want` only when `want` ends the file,
/// so the widened read stops at its end); an offset that is not aligned, or a file system that
/// refuses the direct read (`EINVAL`), turns `O_DIRECT` off for the rest of the part.
fn read_at(f: &File, buf: &mut [u8], want: usize, at: u64, direct: &mut bool) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    if *direct && at.is_multiple_of(DIRECT_ALIGN as u64) {
        let len = (want.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN).min(buf.len());
        match f.read_at(&mut buf[..len], at) {
            Ok(n) => return Ok(n.min(want)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    if *direct {
        // The range's pages were dropped before it was read (read_range).
        *direct = false;
        safe_fs::set_direct(f, false)?;
    }
    f.read_at(&mut buf[..want], at)
}

/// The written data is flushed, dropped from the cache and read back in steps of this size while
/// the stream goes on, so verification overlaps with the dump instead of following it.
pub const VERIFY_STEP: u64 = 64 << 20;

impl Job {
    /// Opens the target, creates the day folder and `NAME.partial` (on the writer's thread: a
    /// wedged disk blocks only this thread).
    fn open(
        target: Target,
        name: &BackupName,
        live: Arc<Liveness>,
        hooks: Hooks,
    ) -> Result<Job, CopyError> {
        let root_path = target.root.clone();
        let fail = |what: &str, e: io::Error| io_error(&root_path, what, &e);
        let _busy = live.busy(Who::Writer, "opening the target folder");
        let root = Dir::open(&target.root).map_err(|e| fail("opening the target folder", e))?;
        let dir = root
            .create_dirs(name.dir_components())
            .map_err(|e| fail("creating the backup folder", e))?;
        let partial = format!("{}{PARTIAL_SUFFIX}", name.data_file);
        let file = dir
            .create_new_rw(&partial)
            .map_err(|e| fail("creating the data file", e))?;
        let fuse = safe_fs::is_fuse(&file);
        let step_verify = !fuse;
        let device = if fuse {
            let dev = safe_fs::fuse_block_device(&file);
            if dev.is_none() {
                log::warn!(
                    "{}: a FUSE file system without a block device the agent can find; the read-back goes through its driver and may come from its caches",
                    target.root.display()
                );
            }
            dev
        } else {
            None
        };
        let via = ReadBackVia {
            device: device.clone(),
            hook: hooks.before_read_back,
        };
        let verifier = Verifier::spawn(Arc::clone(&live), via)
            .map_err(|e| fail("starting the verifier thread", e))?;
        drop(_busy);
        let target_splits = target.split_size.is_some();
        let mut job = Job {
            on_fuse: fuse,
            fuse_device: device,
            live,
            target,
            name: name.clone(),
            dir,
            partials: vec![partial],
            file: Some(file),
            part_written: 0,
            written: 0,
            part_announced: 0,
            part_sha: target_splits.then(Sha256::new),
            part_shas: Vec::new(),
            step_verify,
            verifier,
        };
        if let Err(e) = job.open_part_for_verifier() {
            job.remove_partials();
            return Err(fail("opening the data file for verification", e));
        }
        Ok(job)
    }

    fn outcome(&self, result: Result<u64, CopyError>) -> CopyOutcome {
        CopyOutcome {
            target: self.target.clone(),
            relative_path: self.name.relative_path(),
            result,
        }
    }

    fn remove_partials(&mut self) {
        self.file = None;
        for p in &self.partials {
            let _ = self.dir.remove_file(p);
        }
    }

    /// This copy's I/O error, with its kind: every failure of the job's disk goes through here,
    /// so a FUSE disk pulled out is `gone` wherever the pull caught it.
    fn io_error(&self, what: &str, e: &io::Error) -> CopyError {
        gone_if_device_gone(
            io_error(&self.target.root, what, e),
            &self.target.root,
            what,
            self.fuse_device.as_deref(),
        )
    }

    fn fail(mut self, what: &str, e: io::Error) -> CopyOutcome {
        let err = self.io_error(what, &e);
        self.remove_partials();
        self.outcome(Err(err))
    }

    /// The run gave up on this writer (its disk stopped answering) and this thread has come back:
    /// publish nothing.
    fn abandoned(mut self) -> CopyOutcome {
        self.remove_partials();
        let e = not_answering(&self.target.root, Duration::ZERO, self.live.doing());
        self.outcome(Err(e))
    }

    /// The final names of the data files, in order.
    fn final_names(&self) -> Vec<String> {
        if self.partials.len() == 1 {
            vec![self.name.data_file.clone()]
        } else {
            (0..self.partials.len())
                .map(|n| layout::part_name(&self.name.data_file, n))
                .collect()
        }
    }

    /// Closes the current part and opens the next (FAT's 4 GiB limit).
    /// Gives the verifier its own descriptor on the current part (opened by name now, before any
    /// rename). On FUSE this waits until the part is closed.
    fn open_part_for_verifier(&mut self) -> io::Result<()> {
        if !self.step_verify {
            return Ok(());
        }
        let Some(name) = self.partials.last() else {
            return Ok(());
        };
        let f = self.dir.open_read(name)?;
        // O_DIRECT where the file system takes it: the read-back comes from the device without a
        // copy through the page cache (ext4, and in-kernel FAT, exFAT and NTFS on the appliance).
        let direct = safe_fs::set_direct(&f, true).is_ok();
        self.verifier.send(Check::Part(f, name.clone(), direct))
    }

    /// Closes the current part's file (flushed to the device) and has the verifier read back the
    /// rest of it.
    fn close_and_verify(&mut self) -> io::Result<()> {
        let live = Arc::clone(&self.live);
        let busy = live.busy(Who::Writer, "flushing the copy to the disk (fsync)");
        if let Some(f) = self.file.take() {
            f.sync_all()?;
            drop(f);
        }
        if !self.step_verify {
            // Read the closed file through a fresh descriptor.
            if let Some(name) = self.partials.last() {
                let f = self.dir.open_read(name)?;
                self.verifier.send(Check::Part(f, name.clone(), false))?;
            }
        }
        drop(busy);
        if let Some(h) = self.part_sha.as_mut() {
            let h = std::mem::replace(h, Sha256::new());
            self.part_shas.push(hex(&h.finalize()));
        }
        self.verifier.send(Check::Upto {
            to: self.part_written,
            closed: true,
        })?;
        self.verifier.send(Check::EndPart)?;
        Ok(())
    }

    fn next_part(&mut self) -> io::Result<()> {
        self.close_and_verify()?;
        let live = Arc::clone(&self.live);
        let _busy = live.busy(Who::Writer, "starting the next part");
        if self.partials.len() == 1 {
            let first = format!(
                "{}{PARTIAL_SUFFIX}",
                layout::part_name(&self.name.data_file, 0)
            );
            self.dir.rename(&self.partials[0], &first)?;
            self.partials[0] = first;
        }
        let next = format!(
            "{}{PARTIAL_SUFFIX}",
            layout::part_name(&self.name.data_file, self.partials.len())
        );
        self.file = Some(self.dir.create_new_rw(&next)?);
        self.partials.push(next);
        self.part_written = 0;
        self.part_announced = 0;
        self.open_part_for_verifier()
    }

    fn write_chunk(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        while !chunk.is_empty() {
            let room = match self.target.split_size {
                Some(limit) => {
                    if self.part_written >= limit {
                        self.next_part()?;
                    }
                    (limit - self.part_written).min(chunk.len() as u64) as usize
                }
                None => chunk.len(),
            };
            let Some(f) = self.file.as_mut() else {
                return Err(io::Error::other("no open file"));
            };
            {
                let _busy = self.live.busy(Who::Writer, "writing");
                f.write_all(&chunk[..room])?;
            }
            if let Some(h) = self.part_sha.as_mut() {
                h.update(&chunk[..room]);
            }
            self.part_written += room as u64;
            self.written += room as u64;
            chunk = &chunk[room..];
            if self.step_verify && self.part_written - self.part_announced >= VERIFY_STEP {
                self.verifier.send(Check::Upto {
                    to: self.part_written,
                    closed: false,
                })?;
                self.part_announced = self.part_written;
            }
        }
        Ok(())
    }

    fn run(mut self, rx: Receiver<Msg>) -> CopyOutcome {
        loop {
            if self.live.abandoned() {
                return self.abandoned();
            }
            match rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    if let Err(e) = self.write_chunk(&chunk) {
                        return self.fail("writing", e);
                    }
                }
                Ok(Msg::Commit { manifest, xxh3 }) => return self.commit(*manifest, xxh3),
                Ok(Msg::Abort) | Err(_) => {
                    self.remove_partials();
                    return self.outcome(Err(CopyError::new(
                        CopyFailure::Aborted,
                        "the run was aborted; nothing was kept",
                    )));
                }
            }
        }
    }

    fn commit(mut self, mut manifest: Manifest, stream_xxh3: u128) -> CopyOutcome {
        // The rest of the data is flushed and read back from the device; the earlier steps were
        // read back while the stream went on.
        if let Err(e) = self.close_and_verify() {
            return self.fail("flushing the copy and reading it back for verification", e);
        }
        if self.written != manifest.bytes_stored {
            let msg = format!(
                "{}: wrote {} bytes but the stream had {}",
                self.target.root.display(),
                self.written,
                manifest.bytes_stored
            );
            self.remove_partials();
            return self.outcome(Err(CopyError::new(CopyFailure::Other, msg)));
        }
        let (reply, result) = std::sync::mpsc::channel();
        let hashed = self.verifier.send(Check::Finish(reply)).and_then(|_| {
            result
                .recv()
                .map_err(|_| io::Error::other("the verifier thread stopped"))?
        });
        let read = match hashed {
            Ok(v) => v,
            Err(e) => return self.fail("reading the copy back for verification", e),
        };
        // The disk returns the stream's bytes (a writer handed other bytes fails here too).
        if read != stream_xxh3 {
            let msg = format!(
                "{}: read-back verification failed: the disk returned other data than the stream's (xxh3-128 {read:032x} read back, {stream_xxh3:032x} streamed; the disk may be failing)",
                self.target.root.display(),
            );
            self.remove_partials();
            return self.outcome(Err(CopyError::new(CopyFailure::Mismatch, msg)));
        }
        // What was written is what the stream hashed (the same chunks): a single file's line in
        // the sidecar is the stream's SHA-256; a split copy's lines are each part's, hashed as
        // it was written.
        let per_part = if self.partials.len() == 1 {
            vec![manifest.sha256.clone()]
        } else {
            std::mem::take(&mut self.part_shas)
        };
        if per_part.len() != self.partials.len() {
            let msg = format!(
                "{}: {} parts written but {} part hashes (a bug: please report it)",
                self.target.root.display(),
                self.partials.len(),
                per_part.len()
            );
            self.remove_partials();
            return self.outcome(Err(CopyError::new(CopyFailure::Other, msg)));
        }
        if self.live.abandoned() {
            // The run gave up on this disk while it was being read back: never publish late.
            return self.abandoned();
        }
        let live = Arc::clone(&self.live);
        let _busy = live.busy(Who::Writer, "publishing the verified copy");
        let finals = self.final_names();
        manifest.parts = finals.clone();
        manifest.role = Some(self.target.role.as_str().to_string());
        let driver = if self.fuse_device.is_some() || self.on_fuse {
            "fuse"
        } else {
            "kernel"
        };
        manifest.fs_driver = Some(driver.to_string());
        let lines: Vec<(String, String)> = per_part
            .into_iter()
            .zip(&finals)
            .map(|(h, f)| (h, f.clone()))
            .collect();
        let sidecar = layout::sidecar_text(&lines);
        let (sidecar_name, manifest_name) = (self.name.sidecar_file(), self.name.manifest_file());
        // The sidecar and the manifest first, under `.partial` names: a cut from here on leaves
        // evidence the next run's sweep recognises (publish.rs).
        for (name, bytes) in [
            (&sidecar_name, sidecar.into_bytes()),
            (&manifest_name, manifest.to_json()),
        ] {
            if let Err(e) = write_partial(&self.dir, name, &bytes) {
                let msg = self.io_error(&format!("writing {name}"), &e);
                let _ = self
                    .dir
                    .remove_file(&format!("{sidecar_name}{PARTIAL_SUFFIX}"));
                self.remove_partials();
                return self.outcome(Err(msg));
            }
        }
        let steps = publish::plan(&self.partials, &finals, &sidecar_name, &manifest_name);
        let (root, comps) = (self.target.root.clone(), self.name.dir_components());
        let device = self.fuse_device.clone();
        let ancestors = || {
            sync_ancestors(&root, &comps)?;
            match &device {
                Some(d) => safe_fs::sync_device(d),
                None => Ok(()),
            }
        };
        if let Err((i, e)) = publish::run(&self.dir, &steps, &ancestors) {
            let what = match &steps[i] {
                publish::Step::Rename { to, .. } => format!("publishing {to} (rename)"),
                publish::Step::SyncDir => "flushing the backup folder (fsync)".to_string(),
                publish::Step::SyncAncestors => {
                    "flushing the folders above the backup (fsync)".to_string()
                }
            };
            let msg = self.io_error(&what, &e);
            // Not on the disk for sure, so not a backup: nothing of it keeps a final name.
            publish::unpublish(&self.dir, &finals, &sidecar_name, &manifest_name);
            for name in [&sidecar_name, &manifest_name] {
                let _ = self.dir.remove_file(&format!("{name}{PARTIAL_SUFFIX}"));
            }
            self.remove_partials();
            return self.outcome(Err(msg));
        }
        self.outcome(Ok(self.written))
    }
}

/// Writes a small file as `NAME.partial`, fsynced; the caller renames it.
fn write_partial(dir: &Dir, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = format!("{name}{PARTIAL_SUFFIX}");
    let _ = dir.remove_file(&tmp);
    let mut f = dir.create_new(&tmp)?;
    let res = f
        .write_all(bytes)
        .inspect(|_| publish::crash_point("write_partial: written"))
        .and_then(|_| f.sync_all())
        .inspect(|_| publish::crash_point("write_partial: fsynced"));
    drop(f);
    if let Err(e) = res {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Writes a small file through `NAME.partial`, fsync, rename.
pub fn write_atomically(dir: &Dir, name: &str, bytes: &[u8]) -> io::Result<()> {
    write_partial(dir, name, bytes)?;
    dir.rename(&format!("{name}{PARTIAL_SUFFIX}"), name)
}

/// fsyncs the target root and every folder on the way down to (not including) the day folder,
/// so that each folder created for this backup is recorded in its parent.
fn sync_ancestors(root: &Path, components: &[&str]) -> io::Result<()> {
    let mut dir = Dir::open(root)?;
    dir.sync()?;
    for c in &components[..components.len().saturating_sub(1)] {
        dir = dir.open_dir(c)?;
        dir.sync()?;
    }
    Ok(())
}

/// Re-reads files from the device (cached pages dropped first, and on a FUSE file system the
/// block device's buffer cache emptied too): the SHA-256 of all of them in order, and of each.
pub fn read_back(dir: &Dir, names: &[String]) -> io::Result<(String, Vec<String>)> {
    let mut whole = Sha256::new();
    let mut each = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for name in names {
        let mut f = dir.open_read(name)?;
        if let Some(dev) = safe_fs::fuse_block_device(&f) {
            safe_fs::flush_device_cache(&dev)?;
        }
        // Best effort: FUSE file systems may ignore the advice.
        let _ = safe_fs::drop_cache(&f);
        let mut h = Sha256::new();
        crate::util::read_each(&mut f, &mut buf, |b| {
            whole.update(b);
            h.update(b);
        })?;
        each.push(hex(&h.finalize()));
    }
    Ok((hex(&whole.finalize()), each))
}

/// The hash that ties a copy on the disk to the stream: xxh3-128, computed by the pipeline over
/// the stream (beside its SHA-256), by each writer over what it wrote and by its verifier over
/// what the disk returned. Not a cryptographic hash: it guards against a failing disk, not an
/// attacker (the `.sha256` sidecar is the stream's SHA-256; docs/decisions.md).
pub fn content_hash(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_for(data: &[u8]) -> Manifest {
        use sha2::Digest;
        Manifest {
            format: crate::backup::manifest::FORMAT,
            source: "pmi".into(),
            kind: "command".into(),
            started_at: "2026-11-26T10:00:00+07:00".into(),
            finished_at: "2026-11-26T10:00:01+07:00".into(),
            databases: vec![],
            server_version: None,
            compression: "zstd".into(),
            compression_level: None,
            encrypted: false,
            recipients: vec![],
            bytes_raw: 0,
            bytes_stored: data.len() as u64,
            sha256: hex(&Sha256::digest(data)),
            parts: vec![],
            tables: Default::default(),
            tool_version: "t".into(),
            dump_tool: None,
            consistency: None,
            trigger: None,
            role: None,
            fs_driver: None,
            clock_synchronized: None,
            host: None,
        }
    }

    fn write_with_split(data: &[u8], split: Option<u64>) -> (tempfile::TempDir, CopyOutcome) {
        use chrono::TimeZone;
        let t = tempfile::tempdir().expect("tempdir");
        let started = chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .expect("time");
        let name = BackupName::new("pmi", &started, "sql.zst");
        let target = Target {
            root: t.path().to_path_buf(),
            role: Role::Manual,
            split_size: split,
            disk: None,
        };
        let w = spawn(target, &name, false, Duration::from_secs(120)).expect("spawn");
        let tx = w.tx.clone().expect("tx");
        let step = if data.len() > 1 << 20 { 1 << 20 } else { 7 };
        for c in data.chunks(step) {
            tx.send(Msg::Data(Arc::from(c))).expect("send");
        }
        tx.send(Msg::Commit {
            manifest: Box::new(manifest_for(data)),
            xxh3: content_hash(data),
        })
        .expect("commit");
        drop(tx);
        let out = w.finish();
        (t, out)
    }

    #[test]
    fn splits_into_parts_whose_concatenation_is_the_stream() {
        let data: Vec<u8> = (0..95u8).collect();
        let (t, out) = write_with_split(&data, Some(20));
        assert_eq!(out.result, Ok(95));
        let dir = t.path().join("SIMDONDAR-BACKUP/pmi/2026/11/26");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let base = "pmi_20261126-100000.sql.zst";
        let mut expected: Vec<String> = (0..5).map(|n| format!("{base}.part{n:03}")).collect();
        expected.push(format!("{base}.json"));
        expected.push(format!("{base}.sha256"));
        expected.sort();
        assert_eq!(names, expected);
        let mut cat = Vec::new();
        for n in 0..5 {
            let part = std::fs::read(dir.join(format!("{base}.part{n:03}"))).expect("part");
            assert!(part.len() <= 20);
            cat.extend(part);
        }
        assert_eq!(cat, data);
        let side = std::fs::read_to_string(dir.join(format!("{base}.sha256"))).expect("sidecar");
        assert_eq!(side.lines().count(), 5);
        let m = Manifest::from_json(&std::fs::read(dir.join(format!("{base}.json"))).expect("m"))
            .expect("manifest");
        assert_eq!(m.parts.len(), 5);
        assert_eq!(m.role.as_deref(), Some("manual"));
    }

    #[test]
    fn no_split_below_the_limit_and_a_wrong_hash_publishes_nothing() {
        let data = b"small".to_vec();
        let (t, out) = write_with_split(&data, Some(20));
        assert_eq!(out.result, Ok(5));
        let dir = t.path().join("SIMDONDAR-BACKUP/pmi/2026/11/26");
        assert!(dir.join("pmi_20261126-100000.sql.zst").is_file());

        use chrono::TimeZone;
        let t2 = tempfile::tempdir().expect("tempdir");
        let started = chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .expect("time");
        let name = BackupName::new("pmi", &started, "sql.zst");
        let w = spawn(
            Target::dir(t2.path().to_path_buf(), Role::Auto),
            &name,
            false,
            Duration::from_secs(120),
        )
        .expect("spawn");
        let tx = w.tx.clone().expect("tx");
        tx.send(Msg::Data(Arc::from(&b"abc"[..]))).expect("send");
        // The commit names another stream than the bytes the writer was given.
        tx.send(Msg::Commit {
            manifest: Box::new(manifest_for(b"abc")),
            xxh3: content_hash(b"abd"),
        })
        .expect("commit");
        drop(tx);
        let out = w.finish();
        assert_eq!(
            out.failure(),
            Some(CopyFailure::Mismatch),
            "{:?}",
            out.result
        );
        let d2 = t2.path().join("SIMDONDAR-BACKUP/pmi/2026/11/26");
        assert_eq!(
            std::fs::read_dir(&d2).expect("dir").count(),
            0,
            "nothing left"
        );
    }

    #[test]
    fn verifies_in_steps_while_writing_large_streams() {
        // More than two verification steps, in 1 MiB chunks, with a split in the middle.
        let mut data = vec![0u8; (2 * VERIFY_STEP + (3 << 20)) as usize];
        let mut x: u32 = 1;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
        let (t, out) = write_with_split(&data, Some(VERIFY_STEP + (1 << 20)));
        assert_eq!(out.result, Ok(data.len() as u64));
        let dir = t.path().join("SIMDONDAR-BACKUP/pmi/2026/11/26");
        let side = std::fs::read_to_string(dir.join("pmi_20261126-100000.sql.zst.sha256"))
            .expect("sidecar");
        assert_eq!(side.lines().count(), 3, "65 + 65 + 1 MiB: {side}");
        for line in side.lines() {
            let (h, name) = line.split_once("  ").expect("sidecar line");
            let bytes = std::fs::read(dir.join(name)).expect("part");
            assert_eq!(hex(&Sha256::digest(&bytes)), h, "{name}");
        }
    }

    #[test]
    fn direct_reads_widen_to_whole_units_and_fall_back_when_unaligned() {
        use std::os::unix::fs::FileExt;
        // A file system with O_DIRECT (the test's working folder; not tmpfs before 6.6).
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("copy");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let f = File::open(&path).expect("open");
        let mut direct = safe_fs::set_direct(&f, true).is_ok();
        assert!(direct, "the test's folder must take O_DIRECT");
        let mut buf = AlignedBuf::new(READ_BACK_BUF);
        // The end of the file: 10 000 − 8192 bytes, asked as one whole unit.
        let n = read_at(&f, buf.as_mut(), 1808, 8192, &mut direct).expect("read the tail");
        assert_eq!((n, direct), (1808, true));
        assert_eq!(&buf.as_mut()[..n], &data[8192..]);
        // Less than asked never counts bytes past `want`.
        let n = read_at(&f, buf.as_mut(), 100, 4096, &mut direct).expect("read");
        assert_eq!((n, direct), (100, true));
        assert_eq!(&buf.as_mut()[..n], &data[4096..4196]);
        // An offset that is not aligned: the rest is read through the cache.
        let n = read_at(&f, buf.as_mut(), 50, 4196, &mut direct).expect("read unaligned");
        assert_eq!((n, direct), (50, false));
        assert_eq!(&buf.as_mut()[..n], &data[4196..4246]);
        let mut one = [0u8; 1];
        f.read_exact_at(&mut one, 3)
            .expect("the descriptor reads unaligned again");
        assert_eq!(one[0], data[3]);
    }

    #[test]
    fn the_content_hash_is_xxh3_128() {
        // Known answer: XXH3-128 of the empty input (the reference implementation's value).
        assert_eq!(content_hash(b""), 0x99aa06d3014798d86001c324468d497f);
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
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

    #[test]
    fn a_fuse_disk_pulled_out_is_gone_whatever_its_driver_answered() {
        let root = Path::new("/run/simdondar-backup/disks/d1");
        let full = || io_error(root, "writing", &io::Error::from_raw_os_error(libc::ENOSPC));
        // ntfs-3g answers ENOSPC once its device is gone: the device node decides, not the errno.
        let gone = gone_if_device_gone(full(), root, "writing", Some(Path::new("/dev/sdzz9")));
        assert_eq!(gone.kind, CopyFailure::Gone);
        assert_eq!(
            gone.message,
            "/run/simdondar-backup/disks/d1: the disk was removed (/dev/sdzz9 is gone) while writing"
        );
        // A device that is still there: the driver's answer stands (a genuinely full disk).
        let dir = tempfile::tempdir().expect("a temporary directory");
        let dev = dir.path().join("loop-like");
        nix::sys::stat::mknod(
            &dev,
            nix::sys::stat::SFlag::S_IFBLK,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            libc::makedev(7, 200),
        )
        .expect("mknod a block device node (the tests run as root)");
        let still = gone_if_device_gone(full(), root, "writing", Some(&dev));
        assert_eq!(still.kind, CopyFailure::Full);
        // An in-kernel target (no FUSE device known): unchanged.
        assert_eq!(
            gone_if_device_gone(full(), root, "writing", None).kind,
            CopyFailure::Full
        );
        // A plain file where the device was is not a device.
        std::fs::remove_file(&dev).expect("remove the node");
        std::fs::write(&dev, b"").expect("a plain file");
        let file = gone_if_device_gone(full(), root, "writing", Some(&dev));
        assert_eq!(file.kind, CopyFailure::Gone);
    }
}
