/*!
Mounting and unmounting disks: through the kernel first (mount(2) loads a missing file system's
module on demand, so `/proc/filesystems`, which lists only what is loaded, is not asked), and only
when the kernel has no driver for the type (`ENODEV`) through the FUSE helper (`mount.exfat-fuse`,
`ntfs-3g`, `fusefat`), so the same code runs on a Raspberry Pi kernel and on a minimal one; the
[`Driver`] used is returned. Always `nosuid,nodev,noexec,noatime`. Whether a
mount exists is read from `/proc/self/mountinfo`, never assumed.
*/

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags};

/// A mount or unmount that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountError {
    /// The file system type is not one this appliance writes.
    Unsupported { fs_type: String },
    /// Neither the kernel nor an installed FUSE helper can mount it.
    NoDriver { fs_type: String, package: String },
    /// The mount call or the helper failed.
    Failed { device: PathBuf, detail: String },
    /// The driver refused the file system as damaged (the kernel: EINVAL, EUCLEAN, EIO,
    /// EBADMSG; ntfs-3g: not NTFS, corrupt, not cleanly unmounted): most often a power cut or
    /// an unplug while it was written. Nothing on it can be used until it is repaired.
    Damaged { device: PathBuf, detail: String },
    /// The mount point could not be prepared.
    MountPoint { path: PathBuf, detail: String },
    /// The unmount failed even lazily.
    Unmount { path: PathBuf, detail: String },
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::Unsupported { fs_type } => write!(
                f,
                "file system {fs_type} is not supported: format the disk as exFAT, NTFS, FAT32 or ext4"
            ),
            MountError::NoDriver { fs_type, package } => write!(
                f,
                "cannot mount {fs_type}: the kernel lacks it and the FUSE helper is missing (apt-get install {package})"
            ),
            MountError::Failed { device, detail } => {
                write!(f, "cannot mount {}: {detail}", device.display())
            }
            MountError::Damaged { device, detail } => write!(
                f,
                "cannot mount {}: {detail}; its file system looks damaged",
                device.display()
            ),
            MountError::MountPoint { path, detail } => {
                write!(f, "cannot prepare the mount point {}: {detail}", path.display())
            }
            MountError::Unmount { path, detail } => {
                write!(f, "cannot unmount {}: {detail}", path.display())
            }
        }
    }
}

impl std::error::Error for MountError {}

/// File systems the appliance reads and writes.
pub const SUPPORTED: &[&str] = &["ext4", "ext3", "ext2", "vfat", "exfat", "ntfs"];

/// How a mount was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Kernel,
    Fuse,
}

/// Whether the running kernel has a file system type.
pub fn kernel_has(fs_type: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some(fs_type))
        })
        .unwrap_or(false)
}

/// The kernel's name for a blkid type (`ntfs` is `ntfs3` in modern kernels). Whether the running
/// kernel has it is not asked here: `/proc/filesystems` lists only the types loaded so far, and
/// mount(2) loads the module of a missing one (`fs-exfat`, …) on demand.
fn kernel_type(fs_type: &str) -> Option<&'static str> {
    match fs_type {
        "ext4" | "ext3" | "ext2" => Some("ext4"),
        "vfat" => Some("vfat"),
        "exfat" => Some("exfat"),
        "ntfs" => Some("ntfs3"),
        _ => None,
    }
}

/// What [`mount`] does once the kernel's mount(2) failed with `e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterKernel {
    /// The kernel has no driver for the type (even after trying to load its module): the FUSE
    /// helper mounts it.
    TryFuse,
    /// No driver in the kernel and no FUSE helper for the type.
    NoDriver,
    /// The kernel has the driver and refused this disk's file system as damaged (a bad
    /// superblock, a corrupt structure, a read error): that answer stands; a FUSE driver is not
    /// asked to second-guess it.
    Damaged,
    /// The kernel has the driver and refused for another reason (a busy device, a vanished
    /// medium): that answer stands too.
    Fail,
}

fn after_kernel(e: nix::errno::Errno, fs_type: &str) -> AfterKernel {
    use nix::errno::Errno;
    match (e, fuse_helper(fs_type)) {
        (Errno::ENODEV, Some(_)) => AfterKernel::TryFuse,
        (Errno::ENODEV, None) => AfterKernel::NoDriver,
        (Errno::EINVAL | Errno::EUCLEAN | Errno::EIO | Errno::EBADMSG, _) => AfterKernel::Damaged,
        _ => AfterKernel::Fail,
    }
}

/// Whether a FUSE helper's exit status says the file system is damaged. Only ntfs-3g has
/// typed exit statuses (`ntfs-3g.probe(8)`): 12 not NTFS, 13 corrupt, 15 not cleanly unmounted;
/// others (14 hibernated, 16 in use, 19 no privilege, 21 FUSE error, …) are not damage, and
/// exfat-fuse and fusefat exit 1 for everything, so their failures stay plain failures.
fn fuse_exit_damaged(helper: &str, code: Option<i32>) -> bool {
    helper == "ntfs-3g" && matches!(code, Some(12 | 13 | 15))
}

/// The FUSE helper for a type, and the package that has it.
fn fuse_helper(fs_type: &str) -> Option<(&'static str, &'static str)> {
    match fs_type {
        "exfat" => Some(("mount.exfat-fuse", "exfat-fuse")),
        "ntfs" => Some(("ntfs-3g", "ntfs-3g")),
        "vfat" => Some(("fusefat", "fusefat")),
        _ => None,
    }
}

/// Options that make a plain-`fuse` helper name its device as the mount's source in
/// `/proc/self/mountinfo` (`fuseblk` helpers, exfat-fuse and ntfs-3g, do so already): the writer
/// finds there the block device whose cache it empties before reading a copy back. `None` for a
/// device path that cannot be passed inside a mount option.
fn fuse_source_options(fs_type: &str, device: &Path) -> Option<String> {
    let dev = device.to_str()?;
    let plain = dev.starts_with('/')
        && dev
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+".contains(&b));
    (fs_type == "vfat" && plain).then(|| format!("fsname={dev},subtype=fusefat"))
}

/// One line of `/proc/self/mountinfo` that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// `major:minor` of the mounted device (for FUSE: an anonymous one).
    pub devnum: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
    pub read_only: bool,
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Three octal digits; above \377 it is not an escape (hostile text, not the kernel's).
        let octal = (b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
        .then(|| {
            u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0')
        })
        .and_then(|v| u8::try_from(v).ok());
        if let Some(v) = octal {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(MountInfo {
            devnum: l[2].to_string(),
            mount_point: PathBuf::from(unescape(l[4])),
            read_only: l[5].split(',').any(|o| o == "ro"),
            fs_type: r[0].to_string(),
            source: unescape(r[1]),
        });
    }
    out
}

/// The current mounts.
pub fn mounts() -> Vec<MountInfo> {
    // Bytes, not a string: one mount path that is not UTF-8 (someone else's) must not hide ours.
    std::fs::read("/proc/self/mountinfo")
        .map(|b| parse_mountinfo(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// The mount at exactly this point, if any.
pub fn mount_at(point: &Path) -> Option<MountInfo> {
    mounts().into_iter().rev().find(|m| m.mount_point == point)
}

/// Mounts `device` (of blkid type `fs_type`) at `point`.
pub fn mount(
    device: &Path,
    fs_type: &str,
    point: &Path,
    read_only: bool,
) -> Result<Driver, MountError> {
    prepare(fs_type, point)?;
    if !read_only {
        check_before_writing(device, fs_type)?;
    }
    if let Some(kt) = kernel_type(fs_type) {
        let mut flags =
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME;
        if read_only {
            flags |= MsFlags::MS_RDONLY;
        }
        // A read-only look must not replay an ext4 journal: the disk stays byte for byte as it was.
        let data = match (kt, read_only) {
            ("ext4", true) => Some("noload"),
            ("vfat", _) | ("exfat", _) => Some("utf8"),
            _ => None,
        };
        let e = match nix::mount::mount(Some(device), point, Some(kt), flags, data) {
            Ok(()) => return Ok(Driver::Kernel),
            Err(e) => e,
        };
        match after_kernel(e, fs_type) {
            AfterKernel::TryFuse => log::info!(
                "{}: the kernel has no {kt} driver; mounting it through FUSE",
                device.display()
            ),
            AfterKernel::NoDriver => {
                return Err(MountError::NoDriver {
                    fs_type: fs_type.to_string(),
                    package: "a kernel with this file system".into(),
                })
            }
            AfterKernel::Damaged => {
                return Err(MountError::Damaged {
                    device: device.to_path_buf(),
                    detail: e.desc().to_string(),
                })
            }
            AfterKernel::Fail => {
                return Err(MountError::Failed {
                    device: device.to_path_buf(),
                    detail: e.desc().to_string(),
                })
            }
        }
    }
    fuse_mount(device, fs_type, point, read_only)
}

/// A FAT32 or exFAT volume left dirty is checked and repaired before a read-write mount
/// ([`super::fsck`]); one its checker cannot make whole is damaged.
fn check_before_writing(device: &Path, fs_type: &str) -> Result<(), MountError> {
    use super::fsck::Checked;
    match super::fsck::before_rw_mount(device, fs_type, super::fsck::CHECK_LIMIT) {
        Checked::NotNeeded => {}
        Checked::Clean => log::info!(
            "{}: was not unmounted cleanly (a power cut or an unplug); checked, nothing to repair",
            device.display()
        ),
        Checked::Repaired { report } => log::warn!(
            "{}: was not unmounted cleanly (a power cut or an unplug); its file system checker repaired it: {}",
            device.display(),
            report.replace('\n', "; ")
        ),
        Checked::NotChecked { why } => log::warn!(
            "{}: was not unmounted cleanly, and it could not be checked before writing: {why}",
            device.display()
        ),
        Checked::Damaged { report } => {
            return Err(MountError::Damaged {
                device: device.to_path_buf(),
                detail: format!(
                    "its file system checker could not repair it ({})",
                    report.lines().last().unwrap_or("no output")
                ),
            })
        }
    }
    Ok(())
}

/// Checks the type and makes the mount point (its parent root's alone).
fn prepare(fs_type: &str, point: &Path) -> Result<(), MountError> {
    if !SUPPORTED.contains(&fs_type) {
        return Err(MountError::Unsupported {
            fs_type: fs_type.to_string(),
        });
    }
    std::fs::create_dir_all(point).map_err(|e| MountError::MountPoint {
        path: point.to_path_buf(),
        detail: e.to_string(),
    })?;
    // The folder holding the mount points (runtime_dir/disks) is root's alone: runtime_dir itself
    // is traversable so that the control socket's group can reach the socket.
    if let Some(parent) = point.parent() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            MountError::MountPoint {
                path: parent.to_path_buf(),
                detail: e.to_string(),
            }
        })?;
    }
    Ok(())
}

/// Mounts `device` through the FUSE helper of its type (`mount.exfat-fuse`, `ntfs-3g`,
/// `fusefat`), whatever the kernel has: what [`mount`] does when the kernel lacks the type, and
/// what tests use to exercise the FUSE drivers on any kernel.
pub fn fuse_mount(
    device: &Path,
    fs_type: &str,
    point: &Path,
    read_only: bool,
) -> Result<Driver, MountError> {
    prepare(fs_type, point)?;
    let (helper, package) = fuse_helper(fs_type).ok_or_else(|| MountError::NoDriver {
        fs_type: fs_type.to_string(),
        package: "a kernel with this file system".into(),
    })?;
    let Some(helper_path) = crate::util::find_tool(&[helper]) else {
        return Err(MountError::NoDriver {
            fs_type: fs_type.to_string(),
            package: package.to_string(),
        });
    };
    let mut opts = vec!["nosuid", "nodev", "noexec", "noatime"];
    match (fs_type, read_only) {
        (_, true) => opts.insert(0, "ro"),
        ("vfat", false) => opts.insert(0, "rw+"), // fusefat writes only when asked with rw+
        _ => {}
    }
    let mut opts = opts.join(",");
    if let Some(extra) = fuse_source_options(fs_type, device) {
        opts.push(',');
        opts.push_str(&extra);
    }
    let out = Command::new(&helper_path)
        .arg("-o")
        .arg(opts)
        .arg(device)
        .arg(point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| MountError::Failed {
            device: device.to_path_buf(),
            detail: format!("cannot run {helper}: {e}"),
        })?;
    if !out.status.success() {
        let device = device.to_path_buf();
        let detail = format!(
            "{helper} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Err(if fuse_exit_damaged(helper, out.status.code()) {
            MountError::Damaged { device, detail }
        } else {
            MountError::Failed { device, detail }
        });
    }
    // Helpers daemonize once mounted; make sure the mount is really there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mount_at(point).is_none() {
        if Instant::now() > deadline {
            return Err(MountError::Failed {
                device: device.to_path_buf(),
                detail: format!(
                    "{helper} exited but no mount appeared at {}",
                    point.display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Driver::Fuse)
}

/// Process ids of FUSE daemons serving `point`: processes that hold `/dev/fuse` open and name
/// the point on their command line. Holding `/dev/fuse` matters: any other process may name the
/// point too (the agent itself does with `backup --target`), and waiting on it or stopping it
/// would be wrong.
pub fn fuse_daemons(point: &Path) -> Vec<u32> {
    let want = point.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmd.split(|b| *b == 0).any(|a| a == want) && holds_dev_fuse(&e.path()) {
            out.push(pid);
        }
    }
    out
}

/// Whether the process at `/proc/PID` has `/dev/fuse` open.
fn holds_dev_fuse(proc_dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == Path::new("/dev/fuse")))
}

/// How an unmount went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmounted {
    /// Not mounted in the first place.
    WasNot,
    /// Cleanly unmounted; every write is on the device.
    Clean,
    /// Only a lazy unmount succeeded: the mount is gone from the namespace, but the kernel may
    /// still finish writes. Reported, never called safe silently.
    Lazy,
}

/// Flushes and unmounts `point`, waiting for a FUSE daemon to finish writing; lazy only as a last
/// resort.
pub fn unmount(point: &Path) -> Result<Unmounted, MountError> {
    if mount_at(point).is_none() {
        return Ok(Unmounted::WasNot);
    }
    // Best effort: the unmount below writes what is left anyway, and reports if it cannot.
    let _ = crate::safe_fs::sync_file_system(point);
    let daemons = fuse_daemons(point);
    let mut last = String::new();
    for attempt in 0..10 {
        match nix::mount::umount2(point, MntFlags::empty()) {
            Ok(()) => {
                wait_for_exit(&daemons, Duration::from_secs(60));
                return Ok(Unmounted::Clean);
            }
            Err(nix::errno::Errno::EINVAL) if mount_at(point).is_none() => {
                return Ok(Unmounted::WasNot)
            }
            Err(e) => {
                last = e.desc().to_string();
                std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
            }
        }
    }
    match nix::mount::umount2(point, MntFlags::MNT_DETACH) {
        Ok(()) => {
            log::warn!("{} was busy ({last}); unmounted lazily", point.display());
            Ok(Unmounted::Lazy)
        }
        Err(e) => Err(MountError::Unmount {
            path: point.to_path_buf(),
            detail: format!("{last}; lazy unmount: {}", e.desc()),
        }),
    }
}

/// Whether none of `pids` is running any more.
pub fn all_exited(pids: &[u32]) -> bool {
    !pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists() && !is_zombie(*p))
}

fn wait_for_exit(pids: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    while !all_exited(pids) {
        if Instant::now() > deadline {
            log::warn!(
                "FUSE daemon(s) {pids:?} still running {}s after unmount",
                limit.as_secs()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escape_above_0377_is_kept_as_text() {
        assert_eq!(unescape("a\\777b"), "a\\777b");
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("\\377"), "\u{fffd}");
    }

    #[test]
    fn parses_mountinfo_with_escapes() {
        let text = "42 27 7:0 / /run/x/disks/AB\\040CD rw,nosuid,nodev,relatime - fuseblk /dev/loop0 rw,user_id=0\n\
                    43 27 0:39 / /tmp/m2 ro,nosuid - fuse.fusefat fusefat ro\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/run/x/disks/AB CD"));
        assert_eq!(m[0].devnum, "7:0");
        assert_eq!(m[0].source, "/dev/loop0");
        assert!(!m[0].read_only);
        assert!(m[1].read_only);
        assert_eq!(m[1].fs_type, "fuse.fusefat");
    }

    #[test]
    fn the_kernel_first_then_fuse_only_when_the_kernel_has_no_driver() {
        use nix::errno::Errno;
        for t in ["ext4", "ext3", "ext2", "vfat", "exfat", "ntfs"] {
            assert!(kernel_type(t).is_some(), "{t} is tried in the kernel first");
        }
        assert_eq!(kernel_type("ntfs"), Some("ntfs3"));
        assert_eq!(after_kernel(Errno::ENODEV, "exfat"), AfterKernel::TryFuse);
        assert_eq!(after_kernel(Errno::ENODEV, "ntfs"), AfterKernel::TryFuse);
        assert_eq!(after_kernel(Errno::ENODEV, "vfat"), AfterKernel::TryFuse);
        assert_eq!(after_kernel(Errno::ENODEV, "ext4"), AfterKernel::NoDriver);
        // The kernel has the driver and refused the disk: no second opinion from FUSE.
        assert_eq!(after_kernel(Errno::EINVAL, "exfat"), AfterKernel::Damaged);
        assert_eq!(after_kernel(Errno::EUCLEAN, "ext4"), AfterKernel::Damaged);
        assert_eq!(after_kernel(Errno::EIO, "ntfs"), AfterKernel::Damaged);
        assert_eq!(after_kernel(Errno::EBUSY, "vfat"), AfterKernel::Fail);
        assert_eq!(after_kernel(Errno::ENOMEDIUM, "ext4"), AfterKernel::Fail);
    }

    #[test]
    fn only_ntfs_3g_s_typed_exit_statuses_say_damaged() {
        for code in [12, 13, 15] {
            assert!(fuse_exit_damaged("ntfs-3g", Some(code)), "{code}");
        }
        for code in [1, 11, 14, 16, 19, 20, 21] {
            assert!(!fuse_exit_damaged("ntfs-3g", Some(code)), "{code}");
        }
        assert!(!fuse_exit_damaged("ntfs-3g", None), "killed by a signal");
        assert!(!fuse_exit_damaged("mount.exfat-fuse", Some(1)));
        assert!(!fuse_exit_damaged("fusefat", Some(13)));
    }

    #[test]
    fn fusefat_names_its_device() {
        assert_eq!(
            fuse_source_options("vfat", Path::new("/dev/sdb1")).as_deref(),
            Some("fsname=/dev/sdb1,subtype=fusefat")
        );
        assert_eq!(fuse_source_options("exfat", Path::new("/dev/sdb1")), None);
        assert_eq!(fuse_source_options("vfat", Path::new("/dev/a,b")), None);
        assert_eq!(fuse_source_options("vfat", Path::new("/dev/a b")), None);
    }

    #[test]
    fn refuses_unsupported_types() {
        let e = mount(
            Path::new("/dev/null"),
            "hfsplus",
            Path::new("/nonexistent"),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("exFAT, NTFS, FAT32 or ext4"), "{e}");
    }
}
