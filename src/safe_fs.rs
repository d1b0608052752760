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

    /// Opens an existing regular file for reading, refusing symlinks.
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        self.open_file(name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
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

/// Asks the kernel to drop the cached pages of a range of a file (after it was written back).
pub fn drop_cache_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    nix::fcntl::posix_fadvise(
        file.as_raw_fd(),
        offset as i64,
        len as i64,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .map_err(errno)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
