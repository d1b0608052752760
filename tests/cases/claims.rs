//! The disk decides, not the command line (issue 12): `backup --target`, `verify`, `prune` and
//! `list` read the enrollment marker at each target root, copies on a manual disk follow
//! `[encryption] require_for`, and a removable disk without a marker is never written.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::agent::{files_under, show, Setup};
use crate::support::loopfs::LoopDisk;
use crate::support::udev::{disks_lock, Events, UsbLabel};

const SOURCE: &str = "[[source]]\nname = \"program\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo donor data; date +%s%N\"]\nextension = \"txt\"\n";

fn setting(encryption: &str) -> Setup {
    Setup::with_sources(SOURCE, &format!("[encryption]\n{encryption}\n"))
}

/// A fresh age recipient (the private half stays in the test's temp dir).
fn recipient(dir: &Path) -> String {
    let key = dir.join("it-support.key");
    let kg = Command::new(crate::support::agent::bin())
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(kg.status.success(), "{}", show(&kg));
    String::from_utf8_lossy(&kg.stdout)
        .split('"')
        .find(|w| w.starts_with("age1"))
        .expect("a recipient")
        .to_string()
}

fn enroll(setup: &Setup, root: &Path, role: &str) {
    let out = setup
        .cmd()
        .args(["disk", "enroll"])
        .arg(root)
        .args(["--role", role, "--force"])
        .output()
        .expect("enroll");
    assert!(out.status.success(), "{}", show(&out));
}

/// The backups' data files below `root` (clear `.txt.zst` or encrypted `.txt.zst.age`).
fn copies(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.contains("program_") && (n.ends_with(".zst") || n.ends_with(".age"))
        })
        .collect()
}

#[test]
fn a_folder_enrolled_as_manual_never_gets_clear_text_from_the_command_line() {
    let keys = tempfile::tempdir().expect("tmp");
    let public = recipient(keys.path());
    let clear = setting("recipients = []\nrequire_for = [\"manual\"]");
    let target = clear.target("flash");
    std::fs::create_dir_all(&target).expect("mkdir");
    enroll(&clear, &target, "manual");

    // No recipient: refused, nothing in clear on the disk.
    let out = clear.backup(&[&target]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("must be encrypted, but no recipient is configured"),
        "{}",
        show(&out)
    );
    assert!(copies(&target).is_empty(), "{:?}", copies(&target));

    // With a recipient: the copy is age-encrypted, its manifest says so and names the role.
    let enc = setting(&format!(
        "recipients = [\"{public}\"]\nrequire_for = [\"manual\"]"
    ));
    let out = enc.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    let found = copies(&target);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].to_string_lossy().ends_with(".age"), "{found:?}");
    let head = std::fs::read(&found[0]).expect("read");
    assert!(head.starts_with(b"age-encryption.org/v1"), "not age");
    let manifest = PathBuf::from(format!("{}.json", found[0].display()));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("JSON");
    assert_eq!(m["encrypted"], true, "{m}");
    assert_eq!(m["role"], "manual", "{m}");
}

#[test]
fn clear_copies_left_on_a_disk_that_became_manual_are_flagged_by_list() {
    let setup = setting("recipients = []\nrequire_for = [\"manual\"]");
    let target = setup.target("hdd");
    let out = setup.backup(&[&target]);
    assert!(out.status.success(), "{}", show(&out));
    enroll(&setup, &target, "manual");
    let out = setup
        .cmd()
        .args(["list", "--json", "--target"])
        .arg(&target)
        .output()
        .expect("list");
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let e = &v[0];
    assert_eq!(e["role"], "manual", "{v}");
    assert!(
        e["policy_problem"]
            .as_str()
            .is_some_and(|p| p.contains("clear text") && p.contains("require_for")),
        "{v}"
    );
    let out = setup
        .cmd()
        .args(["list", "--target"])
        .arg(&target)
        .output()
        .expect("list");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CLEAR TEXT"),
        "{}",
        show(&out)
    );
}

/// A mounted ext4 loop disk that udev calls a USB disk.
struct UsbDisk {
    _rule: UsbLabel,
    disk: LoopDisk,
    mount: tempfile::TempDir,
}

impl UsbDisk {
    fn plug(label: &str) -> UsbDisk {
        let rule = UsbLabel::new(label);
        let events = Events::start();
        let disk = LoopDisk::create("ext4", label, 32);
        let dev = events.wait_labelled(&disk.device, label);
        assert_eq!(
            dev.bus.as_deref(),
            Some("usb"),
            "the udev rule did not apply"
        );
        let mount = tempfile::tempdir().expect("tmp");
        let out = Command::new("mount")
            .arg(&disk.device)
            .arg(mount.path())
            .output()
            .expect("mount");
        assert!(out.status.success(), "{}", show(&out));
        UsbDisk {
            _rule: rule,
            disk,
            mount,
        }
    }

    fn root(&self) -> &Path {
        self.mount.path()
    }
}

impl Drop for UsbDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mount.path()).status();
        self.disk.detach();
    }
}

#[test]
fn a_removable_disk_without_a_marker_is_never_written_and_says_how_to_enroll() {
    let _lock = disks_lock();
    let setup = setting("recipients = []\nrequire_for = []");
    let label = format!("RMV{}", std::process::id() % 100_000);
    let usb = UsbDisk::plug(&label);
    let root = usb.root().to_path_buf();

    let out = setup.backup(&[&root]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("removable disk")
            && err.contains(&usb.disk.device)
            && err.contains("disk enroll"),
        "{err}"
    );
    assert!(
        !root.join("SIMDONDAR-BACKUP").exists() && copies(&root).is_empty(),
        "something was written: {:?}",
        files_under(&root)
    );
    for cmd in [&["prune", "--target"][..], &["verify", "--target"][..]] {
        let out = setup.cmd().args(cmd).arg(&root).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not enrolled"),
            "{cmd:?}: {}",
            show(&out)
        );
    }
    // Listing writes nothing: it lists, and calls the disk manual.
    let out = setup
        .cmd()
        .args(["list", "--json", "--target"])
        .arg(&root)
        .output()
        .expect("list");
    assert!(out.status.success(), "{}", show(&out));

    // Enrolled, it is written, with the marker's role.
    enroll(&setup, &root, "auto");
    let out = setup.backup(&[&root]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(copies(&root).len(), 1, "{:?}", files_under(&root));
}
