//! udev for the disk tests: a running `systemd-udevd` is required (scripts/test starts one), and
//! the tests that attach loop disks run one at a time, since with `match = "any"` every loop disk
//! on the machine is a candidate.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use simdondar_backup::disks::device::{self, BlockDev, DiskEvent};

static DISKS: Mutex<()> = Mutex::new(());

/// Serialises the tests that attach loop disks; panics when udev is not running.
pub fn disks_lock() -> MutexGuard<'static, ()> {
    assert!(
        device::udev_running(),
        "systemd-udevd is not running: start it with `/lib/systemd/systemd-udevd --daemon` (scripts/test does this; package udev)"
    );
    DISKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A udev watcher collecting events.
pub struct Events {
    pub rx: std::sync::mpsc::Receiver<DiskEvent>,
    _w: device::Watcher,
}

impl Events {
    pub fn start() -> Events {
        let (tx, rx) = std::sync::mpsc::channel();
        let w = device::watch(tx, |e| e).expect("start the udev watcher");
        Events { rx, _w: w }
    }

    /// Waits for `devnode` to be present with a file system; returns it and how long it took.
    /// The event may have gone by while an earlier call waited for another device (events of
    /// other devices are dropped here), so udev's database is asked as well.
    pub fn wait_present(&self, devnode: &str, limit: Duration) -> (BlockDev, Duration) {
        let start = Instant::now();
        loop {
            if let Some(d) = device::enumerate()
                .unwrap_or_default()
                .into_iter()
                .find(|d| d.devnode.to_string_lossy() == devnode && d.fs_type.is_some())
            {
                return (d, start.elapsed());
            }
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                panic!("{devnode} was not reported by udev with a file system within {limit:?}")
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(250))) {
                Ok(DiskEvent::Present(d))
                    if d.devnode.to_string_lossy() == devnode && d.fs_type.is_some() =>
                {
                    return (d, start.elapsed())
                }
                _ => {}
            }
        }
    }

    /// Waits until udev knows `devnode` with the file-system `label` (events of an earlier disk
    /// on the same loop device may still be queued), up to 10 s.
    pub fn wait_labelled(&self, devnode: &str, label: &str) -> BlockDev {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.wait_present(devnode, Duration::from_secs(15));
            let found = device::enumerate()
                .expect("enumerate")
                .into_iter()
                .find(|b| {
                    b.devnode.to_string_lossy() == devnode && b.fs_label.as_deref() == Some(label)
                });
            match found {
                Some(b) => return b,
                None => assert!(Instant::now() < deadline, "udev never saw {label}"),
            }
        }
    }

    /// Waits for `devnode` to be reported removed.
    pub fn wait_removed(&self, devnode: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(DiskEvent::Removed { devnode: d, .. }) if d.to_string_lossy() == devnode => {
                    return start.elapsed()
                }
                Ok(_) => {}
                Err(_) => panic!("no removal of {devnode} within {limit:?}"),
            }
        }
    }
}

/// A udev rule that gives the block devices whose file-system label is `label` the property
/// `ID_BUS=usb`, as a USB flashdisk has: a loop disk made with that label is then a removable
/// USB disk to udev's database (and so to the agent). Removed again on drop.
pub struct UsbLabel {
    rule: std::path::PathBuf,
}

impl UsbLabel {
    pub fn new(label: &str) -> UsbLabel {
        let dir = std::path::Path::new("/run/udev/rules.d");
        std::fs::create_dir_all(dir).expect("mkdir /run/udev/rules.d");
        let rule = dir.join(format!("99-simdondar-test-usb-{label}.rules"));
        std::fs::write(
            &rule,
            format!(
                "SUBSYSTEM==\"block\", ENV{{ID_FS_LABEL}}==\"{label}\", ENV{{ID_BUS}}=\"usb\"\n"
            ),
        )
        .expect("write the udev rule");
        reload_rules();
        UsbLabel { rule }
    }
}

impl Drop for UsbLabel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.rule);
        reload_rules();
    }
}

fn reload_rules() {
    let out = std::process::Command::new("udevadm")
        .args(["control", "--reload"])
        .output()
        .expect("run udevadm (package udev)");
    assert!(out.status.success(), "udevadm control --reload: {out:?}");
}
