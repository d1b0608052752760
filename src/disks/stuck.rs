/*!
Freeing a disk that stopped answering. A thread blocked in a FUSE call whose driver has stopped
(a hung `mount.exfat-fuse`, a stopped `ntfs-3g`) is in an uninterruptible wait: it cannot be killed,
and the process holding it cannot even exit (closing its files asks the dead driver to flush).
The kernel's way out is to abort the FUSE connection (`/sys/fs/fuse/connections/N/abort`): every
waiting call then fails with "transport endpoint is not connected" and the mount is dead until it
is unmounted. For an in-kernel file system the block layer's own timeouts end the wait (a USB disk
that stops answering is reset, then taken offline); nothing here can shorten that safely.

Only the mount table is read here (`/proc/self/mountinfo`), never the stuck disk itself.
*/

use std::path::{Component, Path, PathBuf};

use super::mount::{mounts, MountInfo};

/// Where the kernel's FUSE control file system lives.
const FUSECTL: &str = "/sys/fs/fuse/connections";

/// What [`release`] could do for a disk that stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Its FUSE connection was aborted: every call waiting on it has returned.
    FuseAborted {
        mount_point: PathBuf,
        connection: u32,
    },
    /// An in-kernel file system: its calls end when the block layer gives up on the device.
    InKernel {
        mount_point: PathBuf,
        fs_type: String,
    },
    /// The path is on no mount other than the root (a plain folder on the system disk).
    NotAMount,
    /// The FUSE connection could not be aborted (the reason says why).
    Failed {
        mount_point: PathBuf,
        detail: String,
    },
}

impl std::fmt::Display for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Released::FuseAborted {
                mount_point,
                connection,
            } => write!(
                f,
                "{}: its FUSE driver did not answer; its connection {connection} was aborted so nothing waits on it any more (unplug the disk and check it on a PC)",
                mount_point.display()
            ),
            Released::InKernel {
                mount_point,
                fs_type,
            } => write!(
                f,
                "{}: {fs_type} in the kernel; waiting for the USB layer to reset or drop the device",
                mount_point.display()
            ),
            Released::NotAMount => write!(f, "not on a removable mount"),
            Released::Failed {
                mount_point,
                detail,
            } => write!(
                f,
                "{}: its FUSE connection could not be aborted ({detail}); the agent may not stop until the disk is unplugged",
                mount_point.display()
            ),
        }
    }
}

/// The mount that holds `path`: the longest mount point that is a prefix of it, by components.
/// `path` should be absolute and free of `..`; it is never looked up on disk.
pub fn mount_holding<'a>(path: &Path, table: &'a [MountInfo]) -> Option<&'a MountInfo> {
    let parts: Vec<Component> = path.components().collect();
    table
        .iter()
        .filter(|m| {
            let mp: Vec<Component> = m.mount_point.components().collect();
            mp.len() <= parts.len() && mp[..] == parts[..mp.len()]
        })
        // The last of equally long ones is the one on top.
        .max_by_key(|m| m.mount_point.components().count())
}

/// The FUSE connection number of a mount: the kernel's own `dev_t` of its super block
/// (`major << 20 | minor`), which is an anonymous device for `fuse` and the block device itself
/// for `fuseblk` (exfat-fuse, ntfs-3g).
fn fuse_connection(m: &MountInfo) -> Option<u32> {
    if m.fs_type != "fuse" && m.fs_type != "fuseblk" && !m.fs_type.starts_with("fuse.") {
        return None;
    }
    let (major, minor) = m.devnum.split_once(':')?;
    let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
    (major < 1 << 12 && minor < 1 << 20).then_some(major << 20 | minor)
}

/// Makes sure the FUSE control file system is mounted.
fn ensure_fusectl() -> Result<(), String> {
    let table = mounts();
    if table
        .iter()
        .any(|m| m.fs_type == "fusectl" && m.mount_point == Path::new(FUSECTL))
    {
        return Ok(());
    }
    nix::mount::mount(
        Some("fusectl"),
        FUSECTL,
        Some("fusectl"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("mounting fusectl at {FUSECTL}: {}", e.desc()))
}

/// Frees the disk holding `root` after its writer was given up: aborts its FUSE connection when
/// it is a FUSE mount; reports what it found otherwise. Never touches the disk itself.
pub fn release(root: &Path) -> Released {
    let table = mounts();
    let Some(m) = mount_holding(root, &table).filter(|m| m.mount_point != Path::new("/")) else {
        return Released::NotAMount;
    };
    let mount_point = m.mount_point.clone();
    let Some(connection) = fuse_connection(m) else {
        return Released::InKernel {
            mount_point,
            fs_type: m.fs_type.clone(),
        };
    };
    if let Err(detail) = ensure_fusectl() {
        return Released::Failed {
            mount_point,
            detail,
        };
    }
    let abort = Path::new(FUSECTL)
        .join(connection.to_string())
        .join("abort");
    match std::fs::write(&abort, b"1") {
        Ok(()) => {
            log::error!(
                "{}: FUSE connection {connection} aborted (its driver stopped answering)",
                mount_point.display()
            );
            Released::FuseAborted {
                mount_point,
                connection,
            }
        }
        Err(e) => Released::Failed {
            mount_point,
            detail: format!("{}: {e}", abort.display()),
        },
    }
}

/// [`release`], its outcome logged (every caller gave up on the disk: an error either way).
pub fn release_logged(root: &Path) -> Released {
    let released = release(root);
    log::error!("{}: {released}", root.display());
    released
}

/// [`release_logged`] for each root.
pub fn release_all(roots: &[PathBuf]) {
    for root in roots {
        release_logged(root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(devnum: &str, point: &str, fs_type: &str) -> MountInfo {
        MountInfo {
            devnum: devnum.into(),
            mount_point: point.into(),
            fs_type: fs_type.into(),
            source: "x".into(),
            read_only: false,
        }
    }

    #[test]
    fn the_longest_mount_by_components_holds_a_path() {
        let table = vec![
            m("8:1", "/", "ext4"),
            m("0:51", "/run/sb/disks/AB", "fuseblk"),
            m("0:52", "/run/sb/disks/A", "fuse"),
            m("7:3", "/run/sb/disks/C", "fuseblk"),
        ];
        let got = mount_holding(Path::new("/run/sb/disks/AB/SIMDONDAR-BACKUP"), &table);
        assert_eq!(got.map(|m| m.devnum.as_str()), Some("0:51"));
        // A prefix of the text is not a prefix of the path.
        let got = mount_holding(Path::new("/run/sb/disks/ABC"), &table);
        assert_eq!(got.map(|m| m.devnum.as_str()), Some("8:1"));
        assert_eq!(fuse_connection(&table[1]), Some(51));
        assert_eq!(fuse_connection(&table[2]), Some(52));
        assert_eq!(fuse_connection(&table[3]), Some(7 << 20 | 3));
        assert_eq!(fuse_connection(&table[0]), None);
    }

    #[test]
    fn a_folder_on_the_root_file_system_is_not_released() {
        // Whatever this machine's mounts are, "/" itself is never aborted.
        assert_eq!(release(Path::new("/")), Released::NotAMount);
    }
}
