/*!
Block devices as udev sees them: enumeration at start and a monitor thread that follows add,
change and remove events. Only the facts the appliance needs are kept, as plain data, so the rest
of the program (and its tests) never touch libudev. Values from udev are treated as untrusted
text: a label can hold anything.
*/

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::config::DiskMatch;

/// A block device carrying a file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDev {
    /// `/dev/sdb1`
    pub devnode: PathBuf,
    /// `sdb1`
    pub sysname: String,
    /// `major:minor`
    pub devnum: String,
    /// `disk` or `partition`
    pub devtype: String,
    pub fs_type: Option<String>,
    pub fs_uuid: Option<String>,
    pub fs_label: Option<String>,
    /// `ID_BUS`: `usb`, `ata`, … (none for loop devices)
    pub bus: Option<String>,
    pub size_bytes: u64,
    pub model: Option<String>,
    /// The sysfs path (for power-off).
    pub syspath: PathBuf,
}

fn prop(d: &udev::Device, name: &str) -> Option<String> {
    d.property_value(name)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
}

impl BlockDev {
    /// The facts of a udev device, when it is a block device with a node.
    pub fn from_udev(d: &udev::Device) -> Option<BlockDev> {
        if d.subsystem().map(|s| s != "block").unwrap_or(true) {
            return None;
        }
        let devnode = d.devnode()?.to_path_buf();
        let devnum = d
            .devnum()
            .map(|n| format!("{}:{}", libc::major(n), libc::minor(n)))
            .unwrap_or_default();
        let size_bytes = d
            .attribute_value("size")
            .and_then(|v| v.to_string_lossy().trim().parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(512);
        Some(BlockDev {
            devnode,
            sysname: d.sysname().to_string_lossy().into_owned(),
            devnum,
            devtype: d
                .devtype()
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default(),
            fs_type: prop(d, "ID_FS_TYPE")
                .filter(|_| prop(d, "ID_FS_USAGE").as_deref() == Some("filesystem")),
            fs_uuid: prop(d, "ID_FS_UUID"),
            fs_label: prop(d, "ID_FS_LABEL"),
            bus: prop(d, "ID_BUS"),
            size_bytes,
            model: prop(d, "ID_MODEL"),
            syspath: d.syspath().to_path_buf(),
        })
    }

    /// A file-system id safe to use as a folder name (the mount point below `runtime_dir/disks`).
    pub fn mount_name(&self) -> String {
        let base = self.fs_uuid.clone().unwrap_or_else(|| self.sysname.clone());
        let clean: String = base
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        if clean.is_empty() {
            format!("dev-{}", self.devnum.replace(':', "-"))
        } else {
            clean
        }
    }
}

/// A device node's kernel name (`/dev/sdb1` → `sdb1`), for a disk with no label.
pub fn short_name(devnode: &std::path::Path) -> String {
    devnode
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| devnode.display().to_string())
}

/// Why a block device is not considered.
pub fn candidate_problem(d: &BlockDev, want: DiskMatch) -> Option<&'static str> {
    if d.fs_type.is_none() {
        return Some("no file system");
    }
    if want == DiskMatch::Usb && d.bus.as_deref() != Some("usb") {
        return Some("not a USB disk");
    }
    None
}

/// Every block device udev knows.
pub fn enumerate() -> std::io::Result<Vec<BlockDev>> {
    let mut e = udev::Enumerator::new()?;
    e.match_subsystem("block")?;
    let mut out: Vec<BlockDev> = e
        .scan_devices()?
        .filter_map(|d| BlockDev::from_udev(&d))
        .collect();
    out.sort_by(|a, b| a.sysname.cmp(&b.sysname));
    Ok(out)
}

/// Whether systemd-udevd is running: its control socket accepts a connection. The socket file
/// alone is not enough: it outlives a udevd that was killed, and then no event ever arrives.
pub fn udev_running() -> bool {
    control_socket_answers(std::path::Path::new("/run/udev/control"))
}

/// Whether a `SOCK_SEQPACKET` listener (udevd's control socket) accepts a connection at `path`.
fn control_socket_answers(path: &std::path::Path) -> bool {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let Ok(addr) = UnixAddr::new(path) else {
        return false;
    };
    let Ok(fd) = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    // Refused or missing: nobody listens. Anything else (EACCES for a user who is not root: the
    // socket is root's) does not say udevd is gone.
    !matches!(
        connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr),
        Err(nix::errno::Errno::ECONNREFUSED) | Err(nix::errno::Errno::ENOENT)
    )
}

/// A change udev reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskEvent {
    /// Present at start or attached (also sent on `change`, with the new facts).
    Present(BlockDev),
    /// Gone.
    Removed { devnode: PathBuf, devnum: String },
}

/// The monitor thread; stops when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Starts following udev: first one `Present` per existing block device, then events as they
/// come. `send` gets a value of the caller's event type.
pub fn watch<E: Send + 'static>(
    tx: Sender<E>,
    wrap: impl Fn(DiskEvent) -> E + Send + 'static,
) -> std::io::Result<Watcher> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    let join = std::thread::Builder::new()
        .name("udev monitor".into())
        .spawn(move || {
            // libudev handles are not Send: everything udev lives on this thread. The monitor is
            // opened before the enumeration, so nothing attached in between is missed.
            let setup = udev::MonitorBuilder::new()
                .and_then(|b| b.match_subsystem("block"))
                .and_then(|b| b.listen())
                .and_then(|socket| enumerate().map(|initial| (socket, initial)));
            let (socket, initial) = match setup {
                Ok(v) => {
                    let _ = ready_tx.send(Ok(()));
                    v
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            for d in initial {
                if tx.send(wrap(DiskEvent::Present(d))).is_err() {
                    return;
                }
            }
            let socket = socket;
            while !stop2.load(Ordering::Relaxed) {
                let mut fds = [libc::pollfd {
                    fd: socket.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: one valid pollfd, bounded timeout.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 200) };
                if n <= 0 {
                    continue;
                }
                for ev in socket.iter() {
                    let event = match ev.event_type() {
                        udev::EventType::Remove => {
                            let devnode =
                                ev.devnode().map(|p| p.to_path_buf()).unwrap_or_else(|| {
                                    PathBuf::from(format!(
                                        "/dev/{}",
                                        ev.sysname().to_string_lossy()
                                    ))
                                });
                            let devnum = ev
                                .devnum()
                                .map(|n| format!("{}:{}", libc::major(n), libc::minor(n)))
                                .unwrap_or_default();
                            Some(DiskEvent::Removed { devnode, devnum })
                        }
                        udev::EventType::Add | udev::EventType::Change => {
                            BlockDev::from_udev(&ev.device()).map(DiskEvent::Present)
                        }
                        _ => None,
                    };
                    if let Some(e) = event {
                        if tx.send(wrap(e)).is_err() {
                            return;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })?;
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::Error::other("the udev monitor did not start")),
    }
    Ok(Watcher {
        stop,
        join: Some(join),
    })
}

/// Whether a block device is still held, by a file system or another program.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Nothing holds it: an exclusive open succeeded.
    Free,
    /// Held (EBUSY): a file system on it is alive, also one that was unmounted lazily and still
    /// finishes its writes, or one mounted in another mount namespace.
    Held,
    /// The device is gone (pulled out): nothing left to hold.
    Gone,
    /// It could not be checked (e.g. permission): the reason.
    Unknown(String),
}

/// Looks whether `devnode` is held, with an exclusive open.
pub fn hold(devnode: &std::path::Path) -> Hold {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(devnode)
    {
        Ok(_) => Hold::Free,
        Err(e) => match e.raw_os_error() {
            Some(libc::EBUSY) => Hold::Held,
            Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV) => Hold::Gone,
            _ => Hold::Unknown(e.to_string()),
        },
    }
}

/// Whether nothing holds `devnode` any more (free, or gone).
pub fn released(devnode: &std::path::Path) -> bool {
    matches!(hold(devnode), Hold::Free | Hold::Gone)
}

/// Asks the kernel to power a USB disk down (what `udisksctl power-off` does): the USB device
/// above the block device is removed from the bus. `Ok(false)` when the device is not USB.
pub fn power_off(d: &BlockDev) -> std::io::Result<bool> {
    if d.bus.as_deref() != Some("usb") {
        return Ok(false);
    }
    let dev = udev::Device::from_syspath(&d.syspath)?;
    let usb = dev.parent_with_subsystem_devtype("usb", "usb_device")?;
    let Some(usb) = usb else {
        return Ok(false);
    };
    std::fs::write(usb.syspath().join("remove"), b"1")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(uuid: Option<&str>) -> BlockDev {
        BlockDev {
            devnode: "/dev/sdb1".into(),
            sysname: "sdb1".into(),
            devnum: "8:17".into(),
            devtype: "partition".into(),
            fs_type: Some("exfat".into()),
            fs_uuid: uuid.map(String::from),
            fs_label: None,
            bus: Some("usb".into()),
            size_bytes: 0,
            model: None,
            syspath: "/sys/x".into(),
        }
    }

    #[test]
    fn a_stale_control_socket_is_not_a_running_udevd() {
        use nix::sys::socket::{
            bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("control");
        assert!(!control_socket_answers(&path), "no socket file at all");
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::empty(),
            None,
        )
        .expect("socket");
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &UnixAddr::new(&path).expect("addr"),
        )
        .expect("bind");
        listen(&fd, Backlog::new(4).expect("backlog")).expect("listen");
        assert!(control_socket_answers(&path), "a listening socket answers");
        drop(fd);
        assert!(path.exists(), "the socket file outlives its listener");
        assert!(
            !control_socket_answers(&path),
            "a stale socket file does not answer"
        );
    }

    #[test]
    fn mount_names_are_safe() {
        assert_eq!(dev(Some("EFBF-E9C2")).mount_name(), "EFBF-E9C2");
        assert_eq!(dev(Some("../../etc")).mount_name(), "etc");
        assert_eq!(dev(Some("/")).mount_name(), "dev-8-17");
        assert_eq!(dev(None).mount_name(), "sdb1");
    }

    #[test]
    fn candidates() {
        let mut d = dev(Some("x"));
        assert_eq!(candidate_problem(&d, DiskMatch::Usb), None);
        d.bus = None;
        assert_eq!(
            candidate_problem(&d, DiskMatch::Usb),
            Some("not a USB disk")
        );
        assert_eq!(candidate_problem(&d, DiskMatch::Any), None);
        d.fs_type = None;
        assert_eq!(
            candidate_problem(&d, DiskMatch::Any),
            Some("no file system")
        );
    }
}
