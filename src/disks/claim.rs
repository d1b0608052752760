/*!
Whose is a target root named on the command line (`--target DIR`) or in `[[target]]`: the disk
under it decides, never the command line (invariant 4, issue 12).

- An enrollment marker at the root (`SIMDONDAR-BACKUP/disk.toml`) gives the role; a `[[target]]`
  entry for the same folder can only make it stricter (manual wins: its copies leave the building
  and follow `[encryption] require_for`).
- Without a marker: a configured `[[target]]` keeps its configured role; a device whose file-system
  label starts with `[disks] label_prefix` is manual (enrolled by label, as in the daemon).
- A folder without any of these on a **removable** disk (USB bus, the kernel's `removable` flag, or
  a device under a USB port in sysfs) is not enrolled: commands that write (backup, prune,
  verify's renaming) refuse it and say how to enroll it; `list` shows it as manual.
- A folder without any of these on a fixed disk (the appliance's own) is an ad-hoc `auto` target,
  as before.

A marker that cannot be read (garbage, too large, a symlink) is a refusal too: it is never
trusted and never silently ignored.
*/

use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::config::{Config, Role, DEFAULT_LABEL_PREFIX};
use crate::disks::marker::{self, MarkerRead};
use crate::disks::mount;
use crate::disks::stuck::mount_holding;
use crate::safe_fs::Dir;

/// What enrolls a target root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    /// The marker at the root (its id and label).
    Marker { id: String, label: String },
    /// The device's file-system label starts with the configured prefix.
    Label(String),
    /// A `[[target]]` of the configuration, no marker.
    Config,
    /// A folder on a fixed disk, neither configured nor marked.
    FixedFolder,
}

/// A target root the command line may use, and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub root: PathBuf,
    pub role: Role,
    pub by: Enrolled,
    /// The removable device under the root, if it is on one (`/dev/sdb1`).
    pub removable: Option<PathBuf>,
}

/// Why a target root may not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// On a removable disk that carries no marker and no enrolling label.
    Unenrolled { root: PathBuf, device: PathBuf },
    /// A marker that cannot be used.
    BadMarker { root: PathBuf, problem: String },
    /// The file system failed reading the marker (damage): enrolled or not cannot be told.
    Unreadable { root: PathBuf, problem: String },
}

impl ClaimError {
    pub fn root(&self) -> &Path {
        match self {
            ClaimError::Unenrolled { root, .. }
            | ClaimError::BadMarker { root, .. }
            | ClaimError::Unreadable { root, .. } => root,
        }
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Unenrolled { root, device } => write!(
                f,
                "{} is on a removable disk ({}) that is not enrolled: nothing is written there. Enroll it first with `simdondar-backup disk enroll {} --role manual` (a flashdisk that is carried away) or `--role auto` (a disk that stays attached)",
                root.display(),
                device.display(),
                root.display()
            ),
            ClaimError::BadMarker { root, problem } => write!(
                f,
                "{}: the enrollment marker cannot be used ({problem}): nothing is written there. Re-enroll the disk with `simdondar-backup disk enroll {} --role manual|auto --force`",
                root.display(),
                root.display()
            ),
            ClaimError::Unreadable { root, problem } => write!(
                f,
                "{}: its enrollment marker cannot be read ({problem}): its file system may be damaged; nothing is written there. Check the disk (fsck, or chkdsk /f on a PC) before anything else; do not re-enroll it while its backups may be needed",
                root.display()
            ),
        }
    }
}

impl std::error::Error for ClaimError {}

/// Decides the role of the target root `root` (absolute). Without a configuration (`verify` of a
/// disk from another appliance) only the marker and the default label prefix count.
pub fn claim(cfg: Option<&Config>, root: &Path) -> Result<Claim, ClaimError> {
    let configured = cfg.and_then(|c| c.targets.iter().find(|t| t.path == root).map(|t| t.role));
    let prefix = cfg.map_or(DEFAULT_LABEL_PREFIX, |c| c.disks.label_prefix.as_str());
    let device = device_under(root);
    let removable = device
        .as_ref()
        .filter(|d| d.removable)
        .map(|d| d.devnode.clone());
    let read = match Dir::open(root) {
        Ok(dir) => marker::read(&dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => MarkerRead::Absent,
        Err(e) if marker::is_damage(&e) => {
            MarkerRead::Unreadable(format!("{}: {e}", root.display()))
        }
        Err(e) => MarkerRead::Invalid(format!("{}: {e}", root.display())),
    };
    let stricter = |r: Role| match configured {
        Some(Role::Manual) => Role::Manual,
        _ => r,
    };
    let (role, by) = match read {
        MarkerRead::Present(m) => (
            stricter(m.role),
            Enrolled::Marker {
                id: m.id,
                label: m.label,
            },
        ),
        MarkerRead::Unreadable(problem) => {
            return Err(ClaimError::Unreadable {
                root: root.to_path_buf(),
                problem,
            })
        }
        MarkerRead::Invalid(problem) => {
            return Err(ClaimError::BadMarker {
                root: root.to_path_buf(),
                problem,
            })
        }
        MarkerRead::Absent => {
            let label = device
                .as_ref()
                .and_then(|d| d.label.clone())
                .filter(|l| l.starts_with(prefix));
            match (configured, label, &removable) {
                (Some(r), _, _) => (r, Enrolled::Config),
                (None, Some(l), _) => (Role::Manual, Enrolled::Label(l)),
                (None, None, Some(dev)) => {
                    return Err(ClaimError::Unenrolled {
                        root: root.to_path_buf(),
                        device: dev.clone(),
                    })
                }
                (None, None, None) => (Role::Auto, Enrolled::FixedFolder),
            }
        }
    };
    Ok(Claim {
        root: root.to_path_buf(),
        role,
        by,
        removable,
    })
}

/// The block device holding a path, as far as the kernel and udev tell.
#[derive(Debug, Clone)]
struct Under {
    devnode: PathBuf,
    label: Option<String>,
    removable: bool,
}

/// The block device under `path` (or under its nearest existing parent).
fn device_under(path: &Path) -> Option<Under> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .and_then(|p| std::fs::canonicalize(p).ok())?;
    let table = mount::mounts();
    let m = mount_holding(&existing, &table)?;
    // A FUSE mount's own device number is anonymous; its source names the real device.
    let devnum = std::fs::metadata(&m.source)
        .ok()
        .filter(|md| md.file_type().is_block_device())
        .map(|md| format!("{}:{}", libc::major(md.rdev()), libc::minor(md.rdev())))
        .unwrap_or_else(|| m.devnum.clone());
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{devnum}")).ok()?;
    let udev = udev::Device::from_syspath(&sys).ok();
    let prop = |name: &str| {
        udev.as_ref()
            .and_then(|d| d.property_value(name))
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let flag = |dir: &Path| {
        std::fs::read_to_string(dir.join("removable"))
            .map(|s| s.trim() == "1")
            .unwrap_or(false)
    };
    let on_usb = sys
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with("usb"));
    let removable = prop("ID_BUS").as_deref() == Some("usb")
        || on_usb
        || flag(&sys)
        || sys.parent().is_some_and(flag);
    let devnode = udev
        .as_ref()
        .and_then(|d| d.devnode().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from(&m.source));
    Some(Under {
        devnode,
        label: prop("ID_FS_LABEL"),
        removable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, targets: &str) -> Config {
        let text = format!(
            "state_dir = \"{}\"\nruntime_dir = \"{}\"\n[[source]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"true\"]\n{targets}",
            dir.join("state").display(),
            dir.join("run").display()
        );
        Config::parse(&dir.join("config.toml"), &text).expect("config")
    }

    fn enroll(root: &Path, role: Role) {
        let dir = Dir::open(root).expect("open");
        marker::write(
            &dir,
            &marker::Marker {
                id: "id-1".into(),
                role,
                label: "HDD".into(),
                enrolled_at: "2026-12-02T10:00:00+07:00".into(),
            },
        )
        .expect("marker");
    }

    #[test]
    fn the_marker_decides_and_the_configuration_can_only_make_it_stricter() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("disk");
        std::fs::create_dir(&root).expect("mkdir");
        let none = cfg(t.path(), "");
        // A plain folder on this machine's own disk: auto, as before.
        let c = claim(Some(&none), &root).expect("claim");
        assert_eq!((c.role, c.by.clone()), (Role::Auto, Enrolled::FixedFolder));
        assert_eq!(c.removable, None);
        enroll(&root, Role::Manual);
        let c = claim(Some(&none), &root).expect("claim");
        assert_eq!(c.role, Role::Manual);
        assert!(matches!(c.by, Enrolled::Marker { ref id, .. } if id == "id-1"));
        // A [[target]] saying auto does not make a manual disk auto.
        let auto_cfg = cfg(
            t.path(),
            &format!(
                "[[target]]\npath = \"{}\"\nrole = \"auto\"\n",
                root.display()
            ),
        );
        assert_eq!(
            claim(Some(&auto_cfg), &root).expect("claim").role,
            Role::Manual
        );
        // A [[target]] saying manual makes an auto marker manual.
        enroll(&root, Role::Auto);
        let manual_cfg = cfg(
            t.path(),
            &format!(
                "[[target]]\npath = \"{}\"\nrole = \"manual\"\n",
                root.display()
            ),
        );
        assert_eq!(
            claim(Some(&manual_cfg), &root).expect("claim").role,
            Role::Manual
        );
        assert_eq!(claim(Some(&none), &root).expect("claim").role, Role::Auto);
    }

    #[test]
    fn a_garbage_marker_is_refused_with_what_to_do() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("disk");
        std::fs::create_dir_all(root.join("SIMDONDAR-BACKUP")).expect("mkdir");
        std::fs::write(root.join("SIMDONDAR-BACKUP/disk.toml"), b"role = 7\n").expect("write");
        let e = claim(Some(&cfg(t.path(), "")), &root).expect_err("refused");
        assert!(matches!(e, ClaimError::BadMarker { .. }), "{e:?}");
        assert!(e.to_string().contains("disk enroll"), "{e}");
    }

    #[test]
    fn a_folder_that_does_not_exist_yet_is_judged_by_the_disk_under_it() {
        let t = tempfile::tempdir().expect("tmp");
        let c = claim(Some(&cfg(t.path(), "")), &t.path().join("not/yet")).expect("claim");
        assert_eq!(c.by, Enrolled::FixedFolder);
    }
}
