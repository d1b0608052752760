//! A real disk that returns I/O errors for one file: an ext4 file system (in the kernel, 4 KiB
//! blocks, no journal, one block group, so all its metadata sits at the start) on a loop device.
//! [`EioDisk::cut_under`] moves a file's blocks to the end of the device, then shrinks the device
//! (truncates the backing image and `losetup --set-capacity`) so that the block layer rejects every
//! read of them with EIO ("attempt to access beyond end of device"), while everything else on the
//! file system stays readable and writable. [`EioDisk::heal`] puts the cut bytes back.
//! Needs root, `losetup` (util-linux), `mkfs.ext4`, `filefrag` and `debugfs` (e2fsprogs).
#![allow(dead_code)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::agent::{require_tool, show};

/// A mounted ext4 loop disk whose device can be cut short under one file.
pub struct EioDisk {
    _dir: tempfile::TempDir,
    pub image: PathBuf,
    pub device: String,
    pub mount: PathBuf,
    /// The bytes cut off the end of the image, and where they were.
    cut: Option<(u64, Vec<u8>)>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sync_all() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

fn free_bytes(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    st.blocks_available() as u64 * st.fragment_size() as u64
}

/// Allocates `len` bytes to a new file (no data written).
fn fallocate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // SAFETY: a valid descriptor, offsets in range.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    f.sync_all()
}

/// Fills `dir` with files of each chunk size in turn until the disk is full; returns the files of
/// the first size.
fn fill_up(dir: &Path, chunks: &[u64]) -> Vec<PathBuf> {
    let mut first = Vec::new();
    for (k, &chunk) in chunks.iter().enumerate() {
        loop {
            let n = FILLERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = dir.join(format!("{chunk}-{n}"));
            match fallocate(&p, chunk) {
                Ok(()) => {
                    if k == 0 {
                        first.push(p);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    let _ = std::fs::remove_file(&p);
                    break;
                }
                Err(e) => panic!("fallocate {}: {e}", p.display()),
            }
        }
    }
    first
}

static FILLERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The physical byte ranges (start, end) of a file or directory on its device.
fn extents(path: &Path) -> Vec<(u64, u64)> {
    let text = run(Command::new("filefrag").args(["-v", "-b1"]).arg(path));
    let mut out = Vec::new();
    for line in text.lines() {
        // "   0:        0..  303103:   66600960..  66904063: 303104:   last,eof"
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || fields[0].trim().parse::<u64>().is_err() {
            continue;
        }
        let Some((a, b)) = fields[2].split_once("..") else {
            continue;
        };
        let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
            continue;
        };
        out.push((a, b + 1));
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if e.file_type().expect("file type").is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

impl EioDisk {
    /// A fresh 64 MiB disk, mounted in a temporary directory.
    pub fn new() -> EioDisk {
        require_tool("mkfs.ext4", "e2fsprogs");
        require_tool("filefrag", "e2fsprogs");
        require_tool("debugfs", "e2fsprogs");
        require_tool("losetup", "mount");
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("eio.img");
        let f = std::fs::File::create(&image).expect("create image");
        f.set_len(64 << 20).expect("size image");
        drop(f);
        run(Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-b",
                "4096",
                "-m",
                "0",
                "-O",
                "^has_journal",
                "-L",
                "EIOTEST",
            ])
            .arg(&image));
        let device = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image));
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mkdir mnt");
        run(Command::new("mount")
            .args(["-t", "ext4"])
            .arg(&device)
            .arg(&mount));
        EioDisk {
            _dir: dir,
            image,
            device,
            mount,
            cut: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// Makes every read of `victim` (a file on this disk) fail with EIO, leaving the rest of the
    /// file system readable and writable. Panics, saying why, when it cannot.
    pub fn cut_under(&mut self, victim: &Path) {
        assert!(self.cut.is_none(), "already cut");
        sync_all();
        let size = std::fs::metadata(victim).expect("victim").len();
        // 0. ext4 keeps a pool of blocks (2 %, 327 here) that an ordinary allocation never takes:
        //    the fill below would stop with that many left free wherever they are, after the cut
        //    too, and a later small write (verify's mark) could land there and fail with EIO (1 run
        //    in 36 did). With no pool, the fill takes every free block.
        self.set_reserved_clusters(0);
        // 1. Fill every free block (big chunks first, then the small holes old INDEX files left).
        let fill = self.mount.join(".fill");
        std::fs::create_dir_all(&fill).expect("mkdir .fill");
        let mut big = fill_up(&fill, &[1 << 20, 64 << 10, 4 << 10]);
        // 2. Free the highest big chunks: the only free space is now at the end of the device.
        big.sort_by_key(|p| std::cmp::Reverse(extents(p).iter().map(|e| e.1).max()));
        let mut freed = 0;
        for p in big {
            if freed >= size + (512 << 10) {
                break;
            }
            std::fs::remove_file(&p).expect("remove filler");
            freed += 1 << 20;
        }
        sync_all();
        // 3. A fresh copy of the victim: its blocks come from there.
        let tmp = victim.with_extension("eio-tmp");
        std::fs::copy(victim, &tmp).expect("copy victim");
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .expect("fsync copy");
        // 4. Use up what is left there, so nothing new lands after it.
        fill_up(&fill, &[64 << 10, 4 << 10]);
        // 5. The copy replaces the victim (the old blocks, low on the disk, become the free space).
        std::fs::rename(&tmp, victim).expect("rename copy over victim");
        sync_all();
        let ext = extents(victim);
        let cut = ext
            .iter()
            .map(|(a, _)| *a)
            .max()
            .expect("victim has extents");
        // Nothing after the cut may be free (a later write could land there and fail).
        self.assert_all_used_from(cut);
        // Nothing of the backups' tree may lie after the cut.
        let mut others = Vec::new();
        walk(&self.mount.join("SIMDONDAR-BACKUP"), &mut others);
        for p in others.iter().filter(|p| p.as_path() != victim) {
            for (a, b) in extents(p) {
                assert!(
                    b <= cut,
                    "{} lies at {a}..{b}, after the cut at {cut}: cannot make only {} unreadable",
                    p.display(),
                    victim.display()
                );
            }
        }
        // 6. Cut the device short there.
        let mut img = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.image)
            .expect("open image");
        let total = img.metadata().expect("image size").len();
        let mut tail = Vec::new();
        img.seek(SeekFrom::Start(cut)).expect("seek");
        img.read_to_end(&mut tail).expect("read tail");
        assert_eq!(tail.len() as u64, total - cut);
        img.set_len(cut).expect("truncate image");
        img.sync_all().expect("sync image");
        drop(img);
        run(Command::new("losetup").arg("-c").arg(&self.device));
        self.cut = Some((cut, tail));
        // 7. A read from the device itself (no cache) now fails with EIO.
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(victim)
            .expect("open victim");
        let mut buf = AlignedBuf::new();
        let mut failed = None;
        loop {
            match f.read(buf.as_mut()) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let e = failed.unwrap_or_else(|| {
            panic!(
                "{} still reads fine after cutting {} at {cut}",
                victim.display(),
                self.device
            )
        });
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EIO),
            "expected EIO reading {}, got {e}",
            victim.display()
        );
    }

    /// Sets ext4's reserved pool (in blocks) through sysfs.
    fn set_reserved_clusters(&self, n: u64) {
        let name = Path::new(&self.device)
            .file_name()
            .expect("device name")
            .to_string_lossy()
            .into_owned();
        let knob = PathBuf::from(format!("/sys/fs/ext4/{name}/reserved_clusters"));
        std::fs::write(&knob, format!("{n}\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", knob.display()));
    }

    /// Panics, naming them, when any block from byte `from` to the end of the device is free.
    fn assert_all_used_from(&self, from: u64) {
        const BLOCK: u64 = 4096;
        let total = std::fs::metadata(&self.image).expect("image").len() / BLOCK;
        let first = from / BLOCK;
        let text = run(Command::new("debugfs")
            .args(["-R", &format!("testb {first} {}", total - first)])
            .arg(&self.device));
        let free: Vec<&str> = text.lines().filter(|l| l.contains("not in use")).collect();
        assert!(
            free.is_empty(),
            "{} block(s) after the cut at block {first} are still free, so a later write could land \
             there and fail; the first: {:?}",
            free.len(),
            &free[..free.len().min(3)]
        );
    }

    /// Puts the cut bytes back: the file reads fine again.
    pub fn heal(&mut self) {
        let Some((cut, tail)) = self.cut.take() else {
            return;
        };
        let mut img = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.image)
            .expect("open image");
        img.seek(SeekFrom::Start(cut)).expect("seek");
        img.write_all(&tail).expect("write tail back");
        img.sync_all().expect("sync image");
        drop(img);
        run(Command::new("losetup").arg("-c").arg(&self.device));
    }
}

/// A 4 KiB-aligned buffer for O_DIRECT reads.
struct AlignedBuf {
    buf: Vec<u8>,
    offset: usize,
}

impl AlignedBuf {
    fn new() -> AlignedBuf {
        let buf = vec![0u8; 3 * 65536];
        let offset = buf.as_ptr().align_offset(4096);
        AlignedBuf { buf, offset }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.offset..self.offset + 65536]
    }
}

impl Drop for EioDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mount)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}
