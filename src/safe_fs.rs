/*!
Files on targets, opened relative to a directory handle and never through a symbolic link.

A target is a directory we do not fully control (a USB disk somebody else formatted, a folder an
admin pointed us at). Every directory and file the agent creates below a target root goes through
[`Dir`]: each path component is opened with `O_NOFOLLOW` relative to its parent's handle, so a
symlink planted on the disk can never send a write outside it.
*/

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing unsafe file name {name:?}"),
        ));
    }
    Ok(())
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Dir {
    /// Opens a directory given by an absolute path (the target root itself may be a symlink the
    /// administrator made on purpose; everything below it is opened without following links).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        // SAFETY: `open` returned a fresh descriptor that nothing else owns.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Opens an existing child directory without following a symlink.
    pub fn open_dir(&self, name: &str) -> io::Result<Dir> {
        check_name(name)?;
        let fd = openat(
            Some(self.fd.as_raw_fd()),
            OsStr::from_bytes(name.as_bytes()),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == nix::errno::Errno::ELOOP || e == nix::errno::Errno::ENOTDIR {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{name} is a symbolic link or not a directory; refusing to follow it"),
                )
            } else {
                errno(e)
            }
        })?;
        // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Opens the child directory, creating it (mode 0755) when missing.
    pub fn create_dir(&self, name: &str) -> io::Result<Dir> {
        check_name(name)?;
        match mkdirat(
            Some(self.fd.as_raw_fd()),
            OsStr::from_bytes(name.as_bytes()),
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(errno(e)),
        }
        self.open_dir(name)
    }

    /// Walks and creates a relative path of plain components.
    pub fn create_dirs<'a>(
        &self,
        components: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<Dir> {
        let mut cur = self.try_clone()?;
        for c in components {
            cur = cur.create_dir(c)?;
        }
        Ok(cur)
    }

    /// Walks an existing relative path of plain components.
    pub fn open_dirs<'a>(&self, components: impl IntoIterator<Item = &'a str>) -> io::Result<Dir> {
        let mut cur = self.try_clone()?;
        for c in components {
            cur = cur.open_dir(c)?;
        }
        Ok(cur)
    }

    /// Another handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
        })
    }

    /// Creates a new file for writing; fails when anything by that name exists.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        self.open_file(
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        )
    }

    /// Creates a new file for writing and reading back; fails when anything by that name exists.
    pub fn create_new_rw(&self, name: &str) -> io::Result<File> {
        self.open_file(
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        )
    }

    /// Opens an existing regular file for reading, refusing symlinks and anything that is not a
    /// regular file: a named pipe or a device a hostile disk holds under an expected name would
    /// otherwise block the reader forever (the open is non-blocking, then checked, then made
    /// blocking again).
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        let f = self.open_file(
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        )?;
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} is not a regular file"),
            ));
        }
        nix::fcntl::fcntl(
            f.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(OFlag::O_RDONLY),
        )
        .map_err(errno)?;
        Ok(f)
    }

    fn open_file(&self, name: &str, flags: OFlag) -> io::Result<File> {
        check_name(name)?;
        let fd = openat(
            Some(self.fd.as_raw_fd()),
            OsStr::from_bytes(name.as_bytes()),
            flags,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(errno)?;
        // SAFETY: `openat` returned a fresh descriptor that nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Renames a file within this directory (atomic on POSIX file systems).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        let fd = self.fd.as_raw_fd();
        renameat(
            Some(fd),
            OsStr::from_bytes(from.as_bytes()),
            Some(fd),
            OsStr::from_bytes(to.as_bytes()),
        )
        .map_err(errno)
    }

    /// Removes a file (not a directory) from this directory.
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        unlinkat(
            Some(self.fd.as_raw_fd()),
            OsStr::from_bytes(name.as_bytes()),
            UnlinkatFlags::NoRemoveDir,
        )
        .map_err(errno)
    }

    /// Whether a name exists here (without following a symlink).
    pub fn exists(&self, name: &str) -> bool {
        check_name(name).is_ok()
            && nix::sys::stat::fstatat(
                Some(self.fd.as_raw_fd()),
                OsStr::from_bytes(name.as_bytes()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .is_ok()
    }

    /// The names in this directory, with whether each is a real directory (not a symlink).
    pub fn entries(&self) -> io::Result<Vec<(String, bool)>> {
        let mut d =
            nix::dir::Dir::from_fd(self.fd.try_clone()?.into_raw_fd_owned()).map_err(errno)?;
        let mut out = Vec::new();
        for e in d.iter() {
            let e = e.map_err(errno)?;
            let name = match e.file_name().to_str() {
                Ok(n) => n.to_string(),
                Err(_) => continue,
            };
            if name == "." || name == ".." {
                continue;
            }
            let is_dir = match e.file_type() {
                Some(t) => t == nix::dir::Type::Directory,
                None => nix::sys::stat::fstatat(
                    Some(self.fd.as_raw_fd()),
                    OsStr::from_bytes(name.as_bytes()),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .unwrap_or(false),
            };
            out.push((name, is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// Flushes the directory entries themselves (after renames) to the device.
    pub fn sync(&self) -> io::Result<()> {
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(errno)
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

trait IntoRawFdOwned {
    fn into_raw_fd_owned(self) -> std::os::fd::RawFd;
}

impl IntoRawFdOwned for OwnedFd {
    fn into_raw_fd_owned(self) -> std::os::fd::RawFd {
        use std::os::fd::IntoRawFd;
        self.into_raw_fd()
    }
}

/// The size of a page of the page cache (`sysconf(PAGESIZE)`; 4096 when it cannot say).
pub fn page_size() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as u64,
        _ => 4096,
    }
}

/// The largest block of a file the page cache may keep as one unit (a "folio"): the size one
/// page-table page maps (2 MiB with 4 KiB pages, 32 MiB with 16 KiB pages), at most 2048 pages.
/// The kernel drops only folios that lie wholly inside the range it is given, and since 6.16
/// ext4 caches files in folios of many pages: a range aligned to pages alone can leave whole
/// megabytes around its ends cached (measured on 6.18: a 16 KiB file read once is one folio,
/// and dropping bytes 100 .. 8292 of it dropped nothing).
pub fn cache_unit() -> u64 {
    let page = page_size();
    page * (page / 8).clamp(1, 2048)
}

/// The range `[offset, offset + len)` widened to whole `unit`s: the start rounded down and the
/// end up, as `(start, len)`. `len` 0 means "to the end of the file" and stays 0.
pub fn aligned_span(offset: u64, len: u64, unit: u64) -> (u64, u64) {
    let unit = unit.max(1);
    let start = offset - offset % unit;
    if len == 0 {
        return (start, 0);
    }
    let end = offset.saturating_add(len);
    let end = match end % unit {
        0 => end,
        r => end.saturating_add(unit - r),
    };
    (start, end - start)
}

/// Asks the kernel to drop the cached pages of a range of a file (after it was written back):
/// the range is widened to whole [`cache_unit`]s, so every cached block that holds a byte of it
/// goes and the next read of any of those bytes comes from the device. `len` 0: to the end of
/// the file.
pub fn drop_cache_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (start, len) = aligned_span(offset, len, cache_unit());
    nix::fcntl::posix_fadvise(
        file.as_raw_fd(),
        i64::try_from(start).unwrap_or(i64::MAX),
        i64::try_from(len).unwrap_or(0),
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .map_err(errno)
}

/// Turns `O_DIRECT` on or off for an open file: reads then bypass the page cache (they must be
/// aligned to the device's logical block size). Fails (`EINVAL`) where the file system has no
/// direct I/O (FUSE without it, tmpfs before 6.6, …).
pub fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).map_err(errno)?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.set(OFlag::O_DIRECT, on);
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags)).map_err(errno)?;
    Ok(())
}

/// Asks the kernel to drop a file's cached pages, so the next read comes from the device.
pub fn drop_cache(file: &File) -> io::Result<()> {
    nix::fcntl::posix_fadvise(
        file.as_raw_fd(),
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .map_err(errno)
}

/// The FUSE file systems' magic number (`fuse` and `fuseblk` alike).
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// Whether a file lives on a FUSE file system (when it cannot be told: yes, the careful answer).
// `f_type`'s width differs between targets (i64 here, i32 on 32-bit ARM).
#[allow(clippy::unnecessary_cast)]
pub fn is_fuse(file: &File) -> bool {
    nix::sys::statfs::fstatfs(file)
        .map(|s| s.filesystem_type().0 as i64 == FUSE_SUPER_MAGIC)
        .unwrap_or(true)
}

/// The block device under the FUSE file system that holds `file`, when it has one.
///
/// A FUSE driver (`mount.exfat-fuse`, `ntfs-3g`, `fusefat`) reads and writes its device like any
/// program does, through the device's own buffer cache: dropping the file's pages does not reach
/// the device, [`flush_device_cache`] on this device does. `fuseblk` mounts (exfat-fuse, ntfs-3g)
/// carry the device's number in the file's `st_dev`; plain `fuse` mounts (fusefat) name it as
/// their source in `/proc/self/mountinfo` (the agent mounts them with `fsname=DEVICE`). `None`
/// for in-kernel file systems (their data does not pass through the device's cache) and for FUSE
/// file systems without a block device (sshfs).
pub fn fuse_block_device(file: &File) -> Option<std::path::PathBuf> {
    if !is_fuse(file) {
        return None;
    }
    let st = nix::sys::stat::fstat(file.as_raw_fd()).ok()?;
    let dev = st.st_dev;
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let is_that_device = |p: &Path, any: bool| {
        nix::sys::stat::stat(p)
            .is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFBLK && (any || s.st_rdev == dev))
    };
    if major != 0 {
        // fuseblk: the kernel's own name for the device.
        if let Ok(uevent) =
            std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        {
            if let Some(name) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) {
                let p = Path::new("/dev").join(name);
                if !name.contains("..") && is_that_device(&p, false) {
                    return Some(p);
                }
            }
        }
    }
    let table = std::fs::read("/proc/self/mountinfo").ok()?;
    let want = format!("{major}:{minor}");
    String::from_utf8_lossy(&table).lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if left.split(' ').nth(2) != Some(want.as_str()) {
            return None;
        }
        let source = right.split(' ').nth(1)?;
        // An escaped name (\040 …) is not one the agent mounts with; no guessing.
        let p = Path::new(source);
        (p.is_absolute() && !source.contains('\\') && is_that_device(p, major == 0))
            .then(|| p.to_path_buf())
    })
}

/// Whether `path` is (still) a block device: a pulled USB disk's node leaves `/dev` with it.
pub fn is_block_device(path: &Path) -> bool {
    nix::sys::stat::stat(path).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFBLK)
}

fn open_device(dev: &Path) -> io::Result<File> {
    // Read-only: closing a block device opened for writing makes udev probe it again.
    let fd =
        nix::fcntl::open(dev, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(errno)?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Writes a block device's dirty cached blocks to it and waits (`fsync` of the device): what a
/// FUSE driver wrote through the cache is then on the device, even when the driver's own fsync
/// did not push it there (fusefat's does not).
pub fn sync_device(dev: &Path) -> io::Result<()> {
    let f = open_device(dev)?;
    nix::unistd::fsync(f.as_raw_fd()).map_err(errno)
}

/// Writes everything the file system holding `path` keeps dirty and waits (`syncfs`): data,
/// metadata and the blocks that belong to no file any more (on FAT, the allocation table's entries
/// freed by a removal), which no fsync of a file or folder reaches.
pub fn sync_file_system(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    // SAFETY: syncfs only flushes the file system holding this open descriptor.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Empties a block device's buffer cache (written back first), so that the next read through a
/// FUSE driver comes from the device itself: `BLKFLSBUF`, and without the privilege for it
/// (`CAP_SYS_ADMIN`) `fsync` then `POSIX_FADV_DONTNEED` on the whole device, which drops the same
/// clean pages.
pub fn flush_device_cache(dev: &Path) -> io::Result<()> {
    /// `_IO(0x12, 97)` from `<linux/fs.h>`.
    const BLKFLSBUF: libc::c_ulong = 0x1261;
    let f = open_device(dev)?;
    // SAFETY: BLKFLSBUF takes no argument and touches no memory of ours.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKFLSBUF as _, 0) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOTTY) | Some(libc::EINVAL) => {
            nix::unistd::fsync(f.as_raw_fd()).map_err(errno)?;
            nix::fcntl::posix_fadvise(
                f.as_raw_fd(),
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            )
            .map_err(errno)
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_system_is_flushed_through_a_folder_and_a_missing_folder_is_named() {
        let t = tempfile::tempdir().expect("tempdir");
        assert!(sync_file_system(t.path()).is_ok());
        let e = sync_file_system(&t.path().join("gone")).expect_err("missing folder");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn refuses_symlinked_directory() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), t.path().join("evil")).expect("symlink");
        let d = Dir::open(t.path()).expect("open");
        let e = d.create_dir("evil").expect_err("must refuse");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(d.create_dirs(["evil", "x"]).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).expect("read").count(), 0);
    }

    #[test]
    fn a_named_pipe_under_an_expected_name_is_refused_not_waited_on() {
        let t = tempfile::tempdir().expect("tempdir");
        nix::unistd::mkfifo(
            &t.path().join("disk.toml"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .expect("mkfifo");
        std::fs::write(t.path().join("ok.json"), b"{}").expect("write");
        let d = Dir::open(t.path()).expect("open");
        let started = std::time::Instant::now();
        let e = d.open_read("disk.toml").expect_err("a pipe is no file");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // A regular file reads normally (blocking again).
        let mut s = String::new();
        io::Read::read_to_string(&mut d.open_read("ok.json").expect("open"), &mut s).expect("read");
        assert_eq!(s, "{}");
    }

    #[test]
    fn refuses_symlinked_file_and_bad_names() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("victim");
        std::fs::write(&target, b"keep").expect("write");
        std::os::unix::fs::symlink(&target, t.path().join("f")).expect("symlink");
        let d = Dir::open(t.path()).expect("open");
        assert!(d.create_new("f").is_err());
        assert!(d.open_read("f").is_err());
        assert!(d.create_new("../x").is_err());
        assert!(d.create_new("..").is_err());
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
    }

    #[test]
    fn create_rename_list() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = Dir::open(t.path()).expect("open");
        let sub = d.create_dirs(["a", "b"]).expect("dirs");
        drop(sub.create_new("x.partial").expect("create"));
        sub.rename("x.partial", "x").expect("rename");
        sub.sync().expect("sync");
        assert!(t.path().join("a/b/x").is_file());
        assert_eq!(
            sub.entries().expect("entries"),
            vec![("x".to_string(), false)]
        );
        assert_eq!(d.entries().expect("entries"), vec![("a".to_string(), true)]);
    }
    #[test]
    fn spans_cover_whole_units() {
        assert_eq!(aligned_span(0, 4096, 4096), (0, 4096));
        assert_eq!(aligned_span(100, 10, 4096), (0, 4096));
        assert_eq!(aligned_span(4095, 2, 4096), (0, 8192));
        assert_eq!(aligned_span(4096, 4096, 4096), (4096, 4096));
        assert_eq!(aligned_span(5000, 8000, 4096), (4096, 12288));
        assert_eq!(aligned_span(70_000, 0, 4096), (69_632, 0), "0: to the end");
        assert_eq!(aligned_span(3 << 20, 1, 2 << 20), (2 << 20, 2 << 20));
        let (s, l) = aligned_span(u64::MAX - 10, 5, 4096);
        assert_eq!(s % 4096, 0);
        assert!(s + l >= u64::MAX - 5 - 4096);
    }

    #[test]
    fn the_cache_unit_is_the_page_table_span() {
        let page = page_size();
        assert_eq!(cache_unit() % page, 0);
        if page == 4096 {
            assert_eq!(cache_unit(), 2 << 20);
        }
    }

    /// Which pages of a file are in the page cache (`mincore` over a read-only mapping).
    fn resident(f: &File, pages: usize, page: usize) -> Vec<bool> {
        let len = pages * page;
        // SAFETY: a fresh shared read-only mapping of our own file, unmapped below; nothing reads
        // through it (mincore only asks whether its pages are resident).
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(
            addr,
            libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        let mut vec = vec![0u8; pages];
        // SAFETY: `vec` holds one byte per page of the mapping.
        let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        // SAFETY: the mapping made above, of this length.
        unsafe { libc::munmap(addr, len) };
        vec.iter().map(|b| b & 1 == 1).collect()
    }

    #[test]
    fn dropping_an_unaligned_range_drops_every_cached_block_it_touches() {
        // On the file system of the source tree: tmpfs (a /tmp that may be one) keeps its pages.
        let t = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        let page = page_size() as usize;
        let unit = cache_unit() as usize;
        let pages = unit / page + 4;
        let path = t.path().join("f");
        std::fs::write(&path, vec![7u8; pages * page]).expect("write");
        let f = File::open(&path).expect("open");
        f.sync_all().expect("fsync");
        // Read it all so that every page is cached (and clean).
        std::fs::read(&path).expect("read");
        assert_eq!(
            resident(&f, pages, page),
            vec![true; pages],
            "cached after the read"
        );
        // Bytes 100 .. 2 pages + 100: the range touches pages 0, 1 and 2, and whatever folio
        // the kernel keeps them in.
        drop_cache_range(&f, 100, 2 * page as u64).expect("fadvise");
        let after = resident(&f, pages, page);
        assert_eq!(
            after[..3],
            [false; 3],
            "every page holding a byte of the range is dropped"
        );
        assert_eq!(
            after[unit / page..],
            [true; 4],
            "pages beyond the cache unit are left alone"
        );
    }
}
