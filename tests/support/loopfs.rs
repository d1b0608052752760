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
