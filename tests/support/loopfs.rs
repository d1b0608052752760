//! Small real file systems on loop devices, mounted in a temp dir, for targets that fill up or
//! vanish. Needs root, `losetup` (util-linux) and `mkfs.ext4` (e2fsprogs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::agent::{require_tool, show};

/// A loop device with a file system, mounted at `mount`.
pub struct LoopFs {
    _dir: tempfile::TempDir,
    pub image: PathBuf,
    pub device: String,
    pub mount: PathBuf,
    mounted: bool,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl LoopFs {
    /// An ext4 file system of `mib` MiB.
    pub fn ext4(mib: u64) -> LoopFs {
        require_tool("mkfs.ext4", "e2fsprogs");
        require_tool("losetup", "mount");
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("disk.img");
        let f = std::fs::File::create(&image).expect("create image");
        f.set_len(mib << 20).expect("size image");
        drop(f);
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-L", "TESTDISK"])
            .arg(&image));
        let device = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image));
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mkdir mnt");
        run(Command::new("mount").arg(&device).arg(&mount));
        LoopFs {
            _dir: dir,
            image,
            device,
            mount,
            mounted: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// Unmounts (lazily, if busy) and detaches the device.
    pub fn detach(&mut self) {
        if self.mounted {
            let ok = Command::new("umount")
                .arg(&self.mount)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
            }
            let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
            self.mounted = false;
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A loop device carrying a fresh file system, attached but not mounted (udev sees it like a
/// plugged-in disk). Detached on drop, after unmounting anything still mounted from it.
pub struct LoopDisk {
    _dir: tempfile::TempDir,
    pub image: PathBuf,
    pub device: String,
    attached: bool,
}

impl LoopDisk {
    /// Makes an image of `mib` MiB with `fs` (`ext4`, `exfat`, `ntfs`, `vfat`) labelled `label`,
    /// `fat32` (FAT32 whatever the size), or `minix` (unlabelled).
    pub fn create(fs: &str, label: &str, mib: u64) -> LoopDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join(format!("{fs}.img"));
        let f = std::fs::File::create(&image).expect("create image");
        f.set_len(mib << 20).expect("size image");
        drop(f);
        let mut cmd = match fs {
            "ext4" => {
                require_tool("mkfs.ext4", "e2fsprogs");
                let mut c = Command::new("mkfs.ext4");
                c.args(["-q", "-F", "-m", "0", "-L", label]);
                c
            }
            "exfat" => {
                require_tool("mkfs.exfat", "exfatprogs");
                require_tool("mount.exfat-fuse", "exfat-fuse");
                let mut c = Command::new("mkfs.exfat");
                c.args(["-L", label]);
                c
            }
            "ntfs" => {
                require_tool("mkfs.ntfs", "ntfs-3g");
                require_tool("ntfs-3g", "ntfs-3g");
                let mut c = Command::new("mkfs.ntfs");
                c.args(["-F", "-Q", "-L", label]);
                c
            }
            "vfat" => {
                require_tool("mkfs.vfat", "dosfstools");
                require_tool("fusefat", "fusefat");
                let mut c = Command::new("mkfs.vfat");
                c.args(["-n", label]);
                c
            }
            // FAT32 as a large flashdisk comes (mkfs.vfat picks FAT16 for a small image).
            "fat32" => {
                require_tool("mkfs.vfat", "dosfstools");
                require_tool("fusefat", "fusefat");
                let mut c = Command::new("mkfs.vfat");
                c.args(["-F", "32", "-n", label]);
                c
            }
            // A file system the appliance does not write (standing in for an installer stick's
            // iso9660 or a Mac's HFS+); it has no label.
            "minix" => {
                require_tool("mkfs.minix", "util-linux");
                Command::new("mkfs.minix")
            }
            other => panic!("no mkfs for {other}"),
        };
        run(cmd.arg(&image));
        let device = attach(&image);
        LoopDisk {
            _dir: dir,
            image,
            device,
            attached: true,
        }
    }

    /// Detaches the loop device (like pulling the disk out), unmounting nothing.
    pub fn detach(&mut self) {
        if self.attached {
            let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
            self.attached = false;
        }
    }

    /// Attaches the image again (maybe under another device name).
    pub fn reattach(&mut self) {
        if !self.attached {
            self.device = attach(&self.image);
            self.attached = true;
        }
    }
}

fn attach(image: &Path) -> String {
    require_tool("losetup", "mount");
    run(Command::new("losetup")
        .args(["--find", "--show"])
        .arg(image))
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // Anything still mounted from this device (a failed test) is unmounted first.
        if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
            for line in text.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                if line.contains(&format!(" {} ", self.device)) && fields.len() > 4 {
                    let _ = Command::new("umount").arg("-l").arg(fields[4]).status();
                }
            }
        }
        self.detach();
    }
}
