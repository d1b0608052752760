/*!
USB disks: which block devices are candidates, whether each is enrolled (its marker or its label),
mounting an enrolled disk read-write as a backup target, and handing it back safely.

A disk that is not enrolled is only ever mounted read-only (to look for its marker) and is shown
as unknown; a disk mounted anywhere else on the system (the root disk, say) is never touched.
Mount points live under `runtime_dir/disks/<fs-uuid>` (and `runtime_dir/probe/` for a look).
*/

pub mod claim;
pub mod device;
pub mod fsck;
pub mod marker;
pub mod mount;
pub mod stuck;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup::inventory;
use crate::backup::writer::Target;
use crate::config::{Config, Role};
use crate::kinds::{DiskUnusable, EjectFailure};
use crate::safe_fs::Dir;
use device::BlockDev;
use marker::MarkerRead;
use mount::Unmounted;

/// The largest file FAT can hold.
pub const FAT_MAX_FILE: u64 = (4 << 30) - 1;

/// What to do with a disk whose file system is damaged, by its type: Windows repairs the ones
/// it reads, an ext4 disk needs Linux.
pub fn repair_advice(fs_type: Option<&str>) -> String {
    let check = match fs_type {
        Some("ext4" | "ext3" | "ext2") => "check it on a Linux PC (e2fsck -f)",
        Some("ntfs") => "check it on a Windows PC (chkdsk /f; if Windows was hibernated, shut it down fully first)",
        _ => "check it on a Windows PC (chkdsk /f) or on Linux (fsck)",
    };
    format!(
        "most often a power cut or an unplug while it was being written: it gets no backups; \
unplug it, {check}, and plug it back in; if it stays unreadable, replace it. Do not re-enroll or \
format it while its backups may be needed"
    )
}

/// How a disk is enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrolledBy {
    /// `SIMDONDAR-BACKUP/disk.toml`
    Marker,
    /// The file-system label starts with the configured prefix.
    Label,
}

/// What the appliance knows about one disk (what `disks` and the panel show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskView {
    pub devnode: PathBuf,
    /// The label, made safe to show.
    pub label: String,
    pub fs_type: Option<String>,
    pub uuid: Option<String>,
    pub size_bytes: u64,
    /// `None`: unknown (never written).
    pub role: Option<Role>,
    pub enrolled_by: Option<EnrolledBy>,
    /// The marker's id.
    pub id: Option<String>,
    /// Why the disk cannot be used, in words.
    pub problem: Option<String>,
    /// The disk did not answer when it was looked at (within `stall_timeout`): it is not safe
    /// to pull until it is gone, and it is not written.
    pub not_answering: bool,
    /// Its file system could not be mounted or read (most often damaged by a power cut or an
    /// unplug while it was being written): nothing on it can be used, whether or not it was a
    /// backup disk, until it is repaired on a PC.
    pub unreadable: bool,
    /// Why a disk that is not enrolled cannot be used even by enrolling it (then `problem` says
    /// it in words): not "unknown, enroll it".
    pub unusable: Option<DiskUnusable>,
    /// How its file system is driven when mounted: `kernel` or `fuse`.
    pub driver: Option<String>,
    /// Where it is mounted read-write by the appliance, if it is.
    pub mounted_at: Option<PathBuf>,
    pub free_bytes: Option<u64>,
    /// `started_at` of the newest backup on it.
    pub last_backup: Option<String>,
}

impl DiskView {
    /// What udev alone says of a disk, before anything is read from it: no role, no problem.
    pub fn of(dev: &BlockDev) -> DiskView {
        DiskView {
            devnode: dev.devnode.clone(),
            label: dev
                .fs_label
                .as_deref()
                .map(marker::display_label)
                .unwrap_or_default(),
            fs_type: dev.fs_type.clone(),
            uuid: dev.fs_uuid.clone(),
            size_bytes: dev.size_bytes,
            role: None,
            enrolled_by: None,
            id: None,
            problem: None,
            not_answering: false,
            unreadable: false,
            unusable: None,
            driver: None,
            mounted_at: None,
            free_bytes: None,
            last_backup: None,
        }
    }

    /// The name a person sees for the disk (panel lines, amber reasons, screens): its label, or
    /// the kernel's device name (`sdb1`) when it has none.
    pub fn shown_label(&self) -> String {
        if self.label.is_empty() {
            device::short_name(&self.devnode)
        } else {
            self.label.clone()
        }
    }
}

/// Why an enrolled disk was not attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// In words, with what to do.
    pub reason: String,
    /// Set when its file system is damaged: the disk's view, marked unreadable (amber, the PC
    /// advice), to show instead of a plain failure.
    pub unreadable: Option<Box<DiskView>>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<String> for Refused {
    fn from(reason: String) -> Refused {
        Refused {
            reason,
            unreadable: None,
        }
    }
}

impl From<&str> for Refused {
    fn from(reason: &str) -> Refused {
        Refused::from(reason.to_string())
    }
}

/// What a failed read-write mount of an enrolled disk means for it: a damaged file system makes
/// the disk unreadable (its role is kept: it is a backup disk), anything else is a plain refusal.
fn refusal(view: &DiskView, fs_type: &str, e: mount::MountError) -> Refused {
    let damaged = matches!(e, mount::MountError::Damaged { .. });
    let reason = if damaged {
        format!("{e}: {}", repair_advice(Some(fs_type)))
    } else {
        e.to_string()
    };
    Refused {
        unreadable: damaged.then(|| {
            Box::new(DiskView {
                unreadable: true,
                problem: Some(reason.clone()),
                ..view.clone()
            })
        }),
        reason,
    }
}

/// An enrolled disk mounted read-write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub view: DiskView,
    pub target: Target,
    /// Whether this call mounted it (and so should unmount it when done).
    pub mounted_here: bool,
}

/// Disk handling for one configuration.
#[derive(Debug, Clone, Copy)]
pub struct Disks<'a> {
    pub config: &'a Config,
}

/// What a look at a mounted disk found (everything read from the disk itself).
struct Look {
    marker: Result<MarkerRead, String>,
    free_bytes: Option<u64>,
    last_backup: Option<String>,
}

fn look(root: &Path) -> Look {
    Look {
        marker: match Dir::open(root) {
            Ok(d) => Ok(marker::read(&d)),
            Err(e) if marker::is_damage(&e) => Ok(MarkerRead::Unreadable(e.to_string())),
            Err(e) => Err(e.to_string()),
        },
        free_bytes: free_bytes(root),
        last_backup: newest_backup(root),
    }
}

/// `kernel` or `fuse`, from a mount's type.
fn driver_of(fs_type: &str) -> &'static str {
    if fs_type == "fuseblk" || fs_type == "fuse" || fs_type.starts_with("fuse.") {
        "fuse"
    } else {
        "kernel"
    }
}

fn free_bytes(root: &Path) -> Option<u64> {
    crate::util::free_bytes(root).ok()
}

fn newest_backup(root: &Path) -> Option<String> {
    inventory::scan(root)
        .ok()?
        .into_iter()
        .find_map(|e| e.good().map(|m| m.started_at.clone()))
}

impl<'a> Disks<'a> {
    pub fn new(config: &'a Config) -> Disks<'a> {
        Disks { config }
    }

    /// Where enrolled disks are mounted.
    pub fn mount_dir(&self) -> PathBuf {
        self.config.runtime_dir.join("disks")
    }

    fn probe_dir(&self) -> PathBuf {
        self.config.runtime_dir.join("probe")
    }

    /// Whether the device is mounted somewhere that is not ours (then it is the system's).
    fn mounted_elsewhere(&self, dev: &BlockDev) -> Option<PathBuf> {
        let ours = self.config.runtime_dir.clone();
        mount::mounts()
            .into_iter()
            .find(|m| {
                (m.devnum == dev.devnum || Path::new(&m.source) == dev.devnode)
                    && !m.mount_point.starts_with(&ours)
            })
            .map(|m| m.mount_point)
    }

    /// Decides the role from what the disk carries. The look at the disk is bounded by
    /// `stall_timeout`: a disk that does not answer is cut off ([`stuck::release`]) and shown as
    /// not answering.
    fn judge(&self, view: &mut DiskView, dev: &BlockDev, root: &Path) {
        let prefix = &self.config.disks.label_prefix;
        let by_label = dev
            .fs_label
            .as_deref()
            .is_some_and(|l| l.starts_with(prefix.as_str()));
        let limit = self.config.agent.stall_timeout;
        let r = root.to_path_buf();
        let Ok(found) = crate::bounded::within(limit, "look at a disk", move || look(&r)) else {
            stuck::release_logged(root);
            view.not_answering = true;
            view.problem = Some(format!(
                "the disk does not answer (no reply for {} s while reading it): it is not used; unplug it and check it on a PC",
                limit.as_secs()
            ));
            return;
        };
        match found.marker {
            Ok(MarkerRead::Present(m)) => {
                view.role = Some(m.role);
                view.enrolled_by = Some(EnrolledBy::Marker);
                view.id = Some(m.id);
                let given = marker::display_label(&m.label);
                if !given.is_empty() {
                    view.label = given;
                }
            }
            Ok(MarkerRead::Invalid(why)) => {
                view.unusable = Some(DiskUnusable::BadMarker);
                view.problem = Some(format!(
                    "its enrollment marker cannot be used ({why}); re-enroll it with `simdondar-backup disk enroll`"
                ));
            }
            Ok(MarkerRead::Absent) if by_label => {
                view.role = Some(Role::Manual);
                view.enrolled_by = Some(EnrolledBy::Label);
            }
            Ok(MarkerRead::Absent) => {}
            Ok(MarkerRead::Unreadable(why)) => {
                view.unreadable = true;
                view.problem = Some(format!(
                    "its file system gives read errors ({why}); {}",
                    repair_advice(dev.fs_type.as_deref())
                ));
            }
            Err(e) => {
                view.unusable = Some(DiskUnusable::CannotOpen);
                view.problem = Some(format!("cannot read the disk: {e}"));
            }
        }
        view.free_bytes = found.free_bytes;
        view.last_backup = found.last_backup;
    }

    /// Looks at a disk without changing it: a read-only mount to read the marker, free space and
    /// the newest backup, unmounted again.
    pub fn inspect(&self, dev: &BlockDev) -> DiskView {
        let mut view = DiskView::of(dev);
        let ours = self.mount_dir().join(dev.mount_name());
        if let Some(m) = mount::mount_at(&ours) {
            view.driver = Some(driver_of(&m.fs_type).into());
            view.mounted_at = Some(ours.clone());
            self.judge(&mut view, dev, &ours);
            return view;
        }
        if let Some(other) = self.mounted_elsewhere(dev) {
            view.unusable = Some(DiskUnusable::InUse);
            view.problem = Some(format!(
                "mounted by the system at {}; not used for backups",
                other.display()
            ));
            return view;
        }
        let Some(fs_type) = dev.fs_type.clone() else {
            view.unusable = Some(DiskUnusable::NotSupported);
            view.problem = Some("no file system".into());
            return view;
        };
        let probe = self.probe_dir().join(dev.mount_name());
        match mount::mount(&dev.devnode, &fs_type, &probe, true) {
            Ok(driver) => {
                view.driver = Some(
                    match driver {
                        mount::Driver::Kernel => "kernel",
                        mount::Driver::Fuse => "fuse",
                    }
                    .into(),
                );
                self.judge(&mut view, dev, &probe);
                if view.not_answering {
                    // Cut off already: only the mount table entry is left to remove.
                    let _ = nix::mount::umount2(&probe, nix::mount::MntFlags::MNT_DETACH);
                } else if let Err(e) = self.unmount_bounded(&probe) {
                    log::warn!("{e}");
                }
                let _ = std::fs::remove_dir(&probe);
            }
            Err(e) => {
                match e {
                    mount::MountError::Damaged { .. } => view.unreadable = true,
                    mount::MountError::Unsupported { .. } => {
                        view.unusable = Some(DiskUnusable::NotSupported)
                    }
                    _ => view.unusable = Some(DiskUnusable::CannotOpen),
                }
                view.problem = Some(if view.unreadable {
                    format!("{e}: {}", repair_advice(Some(&fs_type)))
                } else {
                    e.to_string()
                });
            }
        }
        view
    }

    /// Mounts an enrolled disk read-write as a backup target. Unknown disks are refused; an
    /// enrolled disk whose read-write mount finds it damaged (its file system checker could not
    /// repair it, [`fsck`]) comes back with its view marked unreadable.
    pub fn attach(&self, dev: &BlockDev) -> Result<Attached, Refused> {
        let view = self.inspect(dev);
        let name = marker::display_label(dev.fs_label.as_deref().unwrap_or(""));
        let Some(role) = view.role else {
            return Err(view
                .problem
                .clone()
                .unwrap_or_else(|| {
                    format!(
                    "{} ({name}) is not enrolled: it is never written (enroll it with `simdondar-backup disk enroll {} --role manual`)",
                    dev.devnode.display(),
                    dev.devnode.display()
                )
                })
                .into());
        };
        let Some(fs_type) = dev.fs_type.clone() else {
            return Err("no file system".into());
        };
        let point = self.mount_dir().join(dev.mount_name());
        let mut mounted_here = false;
        match mount::mount_at(&point) {
            Some(m) if !m.read_only => {}
            Some(_) => return Err(format!("{} is mounted read-only", point.display()).into()),
            None => {
                mount::mount(&dev.devnode, &fs_type, &point, false)
                    .map_err(|e| refusal(&view, &fs_type, e))?;
                mounted_here = true;
            }
        }
        let split_size = (fs_type == "vfat").then_some(self.config.disks.fat_split_size);
        let mut view = view;
        view.mounted_at = Some(point.clone());
        view.driver = mount::mount_at(&point).map(|m| driver_of(&m.fs_type).into());
        view.free_bytes = free_bytes(&point);
        let disk = Some(Box::new(crate::backup::writer::DiskName {
            label: view.label.clone(),
            uuid: view.uuid.clone(),
        }));
        Ok(Attached {
            view,
            target: Target {
                root: point,
                role,
                split_size,
                disk,
            },
            mounted_here,
        })
    }

    /// Every candidate disk udev knows, inspected.
    pub fn list(&self) -> Result<Vec<DiskView>, String> {
        if !device::udev_running() {
            return Err(
                "udev is not running, so disks cannot be found: start systemd-udevd (`systemctl start systemd-udevd`)"
                    .into(),
            );
        }
        let devs = device::enumerate().map_err(|e| format!("cannot list block devices: {e}"))?;
        Ok(devs
            .iter()
            .filter(|d| device::candidate_problem(d, self.config.disks.match_).is_none())
            .map(|d| self.inspect(d))
            .collect())
    }

    /// Every enrolled candidate disk mounted read-write; unknown disks are left alone.
    pub fn attach_all(&self) -> (Vec<Attached>, Vec<String>) {
        let mut ok = Vec::new();
        let mut problems = Vec::new();
        let devs = match device::enumerate() {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("cannot list block devices: {e}"));
                return (ok, problems);
            }
        };
        for d in devs
            .iter()
            .filter(|d| device::candidate_problem(d, self.config.disks.match_).is_none())
        {
            match self.attach(d) {
                Ok(a) => ok.push(a),
                Err(e) => log::info!("{}: {e}", d.devnode.display()),
            }
        }
        (ok, problems)
    }

    /// Unmounts one of our mounts; "safe to remove" only when the mount is gone from
    /// `/proc/self/mountinfo` and, when the device is known, nothing holds the device any more
    /// (see [`device::released`]: after a lazy unmount the kernel may still be writing). Powers a
    /// USB disk down when `power_off` is set.
    pub fn eject(
        &self,
        point: &Path,
        dev: Option<&BlockDev>,
        power_off: bool,
    ) -> Result<Ejected, EjectError> {
        self.eject_waiting(point, dev, power_off, RELEASE_WAIT)
    }

    /// Ejects several disks at once, each on its own thread, all under one `deadline` (issue 18):
    /// a busy disk waits for its release only until the deadline, never holding up the others.
    /// `done` hears each result as it comes, with the index of its disk in `work`.
    pub fn eject_all(
        &self,
        work: &[(PathBuf, Option<BlockDev>)],
        power_off: bool,
        deadline: std::time::Instant,
        done: impl Fn(usize, Result<Ejected, EjectError>) + Sync,
    ) {
        std::thread::scope(|scope| {
            for (i, (point, dev)) in work.iter().enumerate() {
                let done = &done;
                scope.spawn(move || {
                    let wait = deadline.saturating_duration_since(std::time::Instant::now());
                    done(i, self.eject_waiting(point, dev.as_ref(), power_off, wait));
                });
            }
        });
    }

    /// [`Disks::eject`], taking at most `wait` in all for the unmount and the device's release
    /// (an unmount that hangs on a disk that stopped answering is bounded by `stall_timeout`).
    pub fn eject_waiting(
        &self,
        point: &Path,
        dev: Option<&BlockDev>,
        power_off: bool,
        wait: std::time::Duration,
    ) -> Result<Ejected, EjectError> {
        let deadline = std::time::Instant::now() + wait;
        // The device to watch: the one udev named, else the mount's own source.
        let devnode = dev.map(|d| d.devnode.clone()).or_else(|| {
            mount::mount_at(point)
                .map(|m| PathBuf::from(m.source))
                .filter(|p| p.starts_with("/dev/"))
        });
        let daemons = mount::fuse_daemons(point);
        let how = self.unmount_bounded(point)?;
        // An unmount that took the whole budget still leaves the FUSE driver a moment to exit.
        let deadline = deadline.max(std::time::Instant::now() + RELEASE_GRACE);
        if mount::mount_at(point).is_some() {
            return Err(EjectError::new(
                EjectFailure::StillMounted,
                format!(
                    "{} is still mounted: do not pull the disk; eject it again",
                    point.display()
                ),
            ));
        }
        loop {
            let released = match devnode.as_deref().map(device::hold) {
                None | Some(device::Hold::Free) | Some(device::Hold::Gone) => true,
                Some(device::Hold::Held) => false,
                Some(device::Hold::Unknown(why)) => {
                    return Err(EjectError::new(EjectFailure::Unknown, format!(
                        "cannot check whether {} is still in use ({why}): do not pull the disk; eject it again",
                        devnode.as_deref().map(|d| d.display().to_string()).unwrap_or_default()
                    )))
                }
            };
            if released && mount::all_exited(&daemons) {
                break;
            }
            if std::time::Instant::now() >= deadline {
                let what = devnode
                    .as_deref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| point.display().to_string());
                return Err(EjectError::new(EjectFailure::InUse, format!(
                    "{what} is still in use by another program (a terminal or file manager open inside the disk?): its writes may not be finished; close that program, then eject again before pulling the disk"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let _ = std::fs::remove_dir(point);
        let powered_off = match (power_off, dev) {
            (true, Some(d)) => device::power_off(d).unwrap_or_else(|e| {
                log::warn!("could not power {} down: {e}", d.devnode.display());
                false
            }),
            _ => false,
        };
        Ok(Ejected {
            mount_point: point.to_path_buf(),
            lazy: how == Unmounted::Lazy,
            powered_off,
        })
    }

    /// Flushes and unmounts `point`, but never waits longer than `stall_timeout` on a disk that
    /// stopped answering: then its FUSE driver is cut off ([`stuck::release`]), the mount removed
    /// lazily, and the eject fails saying the last writes may be lost.
    pub fn unmount_bounded(&self, point: &Path) -> Result<Unmounted, EjectError> {
        self.unmount_within(point, self.config.agent.stall_timeout)
    }

    /// [`Disks::unmount_bounded`] with its own deadline.
    pub fn unmount_within(
        &self,
        point: &Path,
        limit: std::time::Duration,
    ) -> Result<Unmounted, EjectError> {
        let p = point.to_path_buf();
        match crate::bounded::within(limit, "unmount", move || mount::unmount(&p)) {
            Ok(Ok(how)) => Ok(how),
            Ok(Err(e)) => Err(EjectError::new(
                EjectFailure::StillMounted,
                format!("{e}: do not pull the disk; eject it again"),
            )),
            Err(_) => {
                stuck::release_logged(point);
                let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
                Err(EjectError::new(
                    EjectFailure::NotAnswering,
                    format!(
                        "{}: the disk stopped answering while its writes were flushed (no reply for {} s); it was cut off and its last writes may be lost: check it on a PC before using it again",
                        point.display(),
                        limit.as_secs()
                    ),
                ))
            }
        }
    }

    /// Our mounts whose device is gone (a disk pulled out): unmounted lazily, so nothing stale
    /// stays behind. Returns the mount points cleaned.
    pub fn clean_stale(&self) -> Vec<PathBuf> {
        let dir = self.mount_dir();
        let mut cleaned = Vec::new();
        for m in mount::mounts()
            .into_iter()
            .filter(|m| m.mount_point.starts_with(&dir))
        {
            let device_gone = m.source.starts_with("/dev/") && !Path::new(&m.source).exists();
            let point = m.mount_point.clone();
            let limit = self.config.agent.stall_timeout;
            let endpoint_dead = match crate::bounded::within(limit, "stat a mount", move || {
                std::fs::metadata(&point).map_err(|e| e.raw_os_error())
            }) {
                Ok(Err(Some(libc::ENOTCONN) | Some(libc::EIO))) => true,
                Ok(_) => false,
                // A mount that does not even answer a stat is cut off, then removed.
                Err(_) => {
                    stuck::release_logged(&m.mount_point);
                    true
                }
            };
            if (device_gone || endpoint_dead)
                && nix::mount::umount2(&m.mount_point, nix::mount::MntFlags::MNT_DETACH).is_ok()
            {
                log::warn!(
                    "{}: the disk is gone; its stale mount was removed",
                    m.mount_point.display()
                );
                let _ = std::fs::remove_dir(&m.mount_point);
                cleaned.push(m.mount_point);
            }
        }
        cleaned
    }
}

/// A safe eject that failed: the disk must stay in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EjectError {
    pub kind: EjectFailure,
    /// One sentence IT Support can act on.
    pub message: String,
}

impl EjectError {
    fn new(kind: EjectFailure, message: impl Into<String>) -> EjectError {
        EjectError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for EjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EjectError {}

/// How long an eject waits for the device to be released after unmounting; also the one
/// deadline of the daemon's ejects of several disks at once ([`Disks::eject_all`]), which a client
/// waits for (with [`EJECT_REPLY_MARGIN`]).
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The least an eject waits for the device's release after a successful unmount, whatever is
/// left of its budget.
pub const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// What a client adds to [`RELEASE_WAIT`] when it waits for the daemon's answer to an eject.
pub const EJECT_REPLY_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A completed eject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ejected {
    pub mount_point: PathBuf,
    /// Only a lazy unmount worked (reported to the user).
    pub lazy: bool,
    pub powered_off: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> DiskView {
        let dev = device::BlockDev {
            devnode: PathBuf::from("/dev/sdb1"),
            sysname: "sdb1".into(),
            devnum: "8:17".into(),
            devtype: "partition".into(),
            fs_type: Some("vfat".into()),
            fs_uuid: Some("AB12-CD34".into()),
            fs_label: Some("FLASH".into()),
            bus: Some("usb".into()),
            size_bytes: 1 << 30,
            model: None,
            syspath: PathBuf::from("/sys/x"),
        };
        DiskView {
            role: Some(Role::Manual),
            enrolled_by: Some(EnrolledBy::Marker),
            id: Some("x".into()),
            ..DiskView::of(&dev)
        }
    }

    /// An enrolled disk whose read-write mount finds it damaged (its checker could not repair
    /// it) is shown unreadable, its role kept, with the PC advice; any other mount failure is a
    /// plain refusal.
    #[test]
    fn a_damaged_read_write_mount_makes_the_disk_unreadable() {
        let damaged = mount::MountError::Damaged {
            device: PathBuf::from("/dev/sdb1"),
            detail: "its file system checker could not repair it (3 errors left)".into(),
        };
        let r = refusal(&view(), "vfat", damaged);
        let v = r.unreadable.expect("a view to show");
        assert!(v.unreadable);
        assert_eq!(v.role, Some(Role::Manual), "still a backup disk");
        let p = v.problem.unwrap_or_default();
        assert!(
            p.contains("could not repair") && p.contains("chkdsk"),
            "{p}"
        );
        assert_eq!(r.reason, p);
        let other = mount::MountError::MountPoint {
            path: PathBuf::from("/run/x"),
            detail: "read-only file system".into(),
        };
        let r = refusal(&view(), "vfat", other);
        assert!(r.unreadable.is_none());
        assert!(r.reason.contains("mount point"), "{}", r.reason);
    }
}
