/*!
A FAT32 or exFAT disk left "dirty" (mounted read-write when the power went or it was pulled) is
checked and repaired by its own file system checker, the least destructive way and bounded in
time (`fsck.vfat -a -w`, `fsck.exfat -p`), before the appliance mounts it read-write again, as
Android's vold does before every FAT mount. Neither file system keeps a journal: a cut can leave
the allocation table torn, and the kernel sets such a volume read-only at the first write that
touches the damage, so the disk would get no backup until somebody repaired it on a PC (lab, seed
20261206 cut 128: "deleting FAT entry beyond EOF" as the run after a power cut swept the cut
run's `.partial`). ext4 replays its own journal; NTFS is left to ntfs-3g.

What the checker changes is what a cut left half-done (lost clusters, a file whose length and
chain disagree: the `.partial` being written); a backup that was published was fsynced whole
before, and the next verification reads every copy back anyway.
*/

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The longest both passes of a check may take (a large exFAT disk on the Pi's USB 2 needs well
/// under a minute); the daemon's own limit for a disk's check adds it.
pub const CHECK_LIMIT: Duration = Duration::from_secs(240);

/// The file-system state bit the kernel sets while a FAT volume is mounted read-write.
const FAT_STATE_DIRTY: u8 = 0x01;
/// exFAT's VolumeFlags: VolumeDirty.
const EXFAT_VOLUME_DIRTY: u16 = 0x0002;

/// Whether the boot sector says the volume was not unmounted cleanly; `None` when the type is
/// not one this module checks, or the sector is not of that type.
pub fn dirty_flag(fs_type: &str, boot: &[u8]) -> Option<bool> {
    if boot.len() < 512 || boot[510] != 0x55 || boot[511] != 0xAA {
        return None;
    }
    match fs_type {
        "vfat" => {
            // BPB_FATSz16 is 0 on FAT32, whose extended boot record is longer: its state byte
            // sits at 0x41, FAT12/16's at 0x25 (the kernel's `fat_boot_sector`).
            let fat32 = u16::from_le_bytes([boot[22], boot[23]]) == 0;
            let state = if fat32 { boot[0x41] } else { boot[0x25] };
            Some(state & FAT_STATE_DIRTY != 0)
        }
        "exfat" => {
            if &boot[3..11] != b"EXFAT   " {
                return None;
            }
            let flags = u16::from_le_bytes([boot[106], boot[107]]);
            Some(flags & EXFAT_VOLUME_DIRTY != 0)
        }
        _ => None,
    }
}

/// What the check before a read-write mount found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Not a type that is checked, or its volume was unmounted cleanly: nothing was run.
    NotNeeded,
    /// The volume was dirty; the checker found nothing to repair.
    Clean,
    /// The volume was dirty; the checker repaired it and a second, read-only pass finds it whole.
    Repaired { report: String },
    /// The checker could not make it whole: it is damaged beyond an automatic repair.
    Damaged { report: String },
    /// The check could not be made (no checker installed, it timed out, it could not run): the
    /// disk is mounted as it is, and the reason logged.
    NotChecked { why: String },
}

/// The checker and its arguments for repairing and for only looking.
fn checker(fs_type: &str) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    match fs_type {
        "vfat" => Some(("fsck.vfat", "dosfstools", &["-a", "-w"])),
        "exfat" => Some(("fsck.exfat", "exfatprogs", &["-p"])),
        _ => None,
    }
}

/// Reads the first sector of `device`, opened exclusively: a block device that is mounted
/// (anywhere, by anybody) cannot be, and is never checked under a live mount.
fn boot_sector(device: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL)
        .open(device)?;
    let mut b = vec![0u8; 512];
    f.read_exact(&mut b)?;
    Ok(b)
}

/// Checks (and repairs) a dirty FAT32 or exFAT volume before it is mounted read-write.
pub fn before_rw_mount(device: &Path, fs_type: &str, limit: Duration) -> Checked {
    let Some((tool, package, repair_args)) = checker(fs_type) else {
        return Checked::NotNeeded;
    };
    match boot_sector(device).map(|b| dirty_flag(fs_type, &b)) {
        Ok(Some(true)) => {}
        Ok(_) => return Checked::NotNeeded,
        Err(e) => {
            return Checked::NotChecked {
                why: format!("cannot read its boot sector: {e}"),
            }
        }
    }
    let Some(path) = crate::util::find_tool(&[tool]) else {
        return Checked::NotChecked {
            why: format!("{tool} is not installed (apt-get install {package})"),
        };
    };
    let deadline = Instant::now() + limit;
    let repair = match run(&path, repair_args, device, deadline) {
        Ok(r) => r,
        Err(RunError::CouldNotRun(why)) => return Checked::NotChecked { why },
        // Stopped while it may have been writing: only a PC can say what is left.
        Err(RunError::TimedOut(why)) => return Checked::Damaged { report: why },
    };
    // A second pass that only looks decides, whatever the first one's status meant.
    let look = match run(&path, &["-n"], device, deadline) {
        Ok(r) => r,
        Err(RunError::CouldNotRun(why) | RunError::TimedOut(why)) => {
            return Checked::Damaged { report: why }
        }
    };
    judge(repair, look, tool)
}

/// The outcome from the repair pass's and the looking pass's exit statuses and output: both
/// checkers exit 0 when they found nothing and 1 when they corrected what they found.
fn judge(repair: (Option<i32>, String), look: (Option<i32>, String), tool: &str) -> Checked {
    match (repair.0, look.0) {
        (Some(0), Some(0)) => Checked::Clean,
        (Some(1), Some(0)) => Checked::Repaired { report: repair.1 },
        (r, Some(0)) => Checked::NotChecked {
            why: format!(
                "{tool} ended with status {} and repaired nothing: {}",
                r.map_or_else(|| "killed".to_string(), |c| c.to_string()),
                repair.1
            ),
        },
        _ => Checked::Damaged {
            report: format!("{}\n{}", repair.1, look.1).trim().to_string(),
        },
    }
}

/// Why a checker's run gave no status.
#[derive(Debug)]
enum RunError {
    /// It could not be started (nothing was changed).
    CouldNotRun(String),
    /// It was stopped at the deadline (it may have changed something).
    TimedOut(String),
}

/// Runs `tool args device` until it exits or `deadline` (then it is killed, with
/// [`crate::backup::stall::output_within`]): its exit status and the tail of what it printed.
fn run(
    tool: &Path,
    args: &[&str],
    device: &Path,
    deadline: Instant,
) -> Result<(Option<i32>, String), RunError> {
    use crate::backup::stall::{output_within, BoundedError};
    let name = tool.display().to_string();
    let left = deadline.saturating_duration_since(Instant::now());
    match output_within(Command::new(tool).args(args).arg(device), left) {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Ok((out.status.code(), tail(&text, 1500)))
        }
        Err(BoundedError::Spawn(e)) => {
            Err(RunError::CouldNotRun(format!("cannot run {name}: {e}")))
        }
        Err(BoundedError::TimedOut(_)) => Err(RunError::TimedOut(format!(
            "{name} did not finish in time and was stopped"
        ))),
    }
}

/// The last `max` bytes of `text` (on a character boundary).
fn tail(text: &str, max: usize) -> String {
    let t = text.trim();
    let mut start = t.len().saturating_sub(max);
    while !t.is_char_boundary(start) {
        start += 1;
    }
    t[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn the_dirty_bit_of_fat32_fat16_and_exfat() {
        // FAT32: BPB_FATSz16 = 0, state at 0x41.
        let mut b = sector();
        assert_eq!(dirty_flag("vfat", &b), Some(false));
        b[0x25] = 1; // FAT16's place: not FAT32's
        assert_eq!(dirty_flag("vfat", &b), Some(false));
        b[0x41] = 1;
        assert_eq!(dirty_flag("vfat", &b), Some(true));
        // FAT16: BPB_FATSz16 != 0, state at 0x25.
        let mut b = sector();
        b[22] = 0x20;
        assert_eq!(dirty_flag("vfat", &b), Some(false));
        b[0x41] = 1;
        assert_eq!(dirty_flag("vfat", &b), Some(false));
        b[0x25] = 1;
        assert_eq!(dirty_flag("vfat", &b), Some(true));
        // exFAT: VolumeFlags bit 1 at 106.
        let mut b = sector();
        assert_eq!(dirty_flag("exfat", &b), None, "not an exFAT boot sector");
        b[3..11].copy_from_slice(b"EXFAT   ");
        b[106] = 0x04; // MediaFailure, not dirty
        assert_eq!(dirty_flag("exfat", &b), Some(false));
        b[106] |= 0x02;
        assert_eq!(dirty_flag("exfat", &b), Some(true));
        // No boot signature, or another type: not judged.
        let mut b = sector();
        b[0x41] = 1;
        b[510] = 0;
        assert_eq!(dirty_flag("vfat", &b), None);
        assert_eq!(dirty_flag("ext4", &sector()), None);
        assert_eq!(dirty_flag("vfat", &[0u8; 100]), None);
    }

    #[test]
    fn a_check_that_does_not_finish_is_stopped_at_its_deadline() {
        let t = Instant::now();
        let r = run(
            Path::new("/bin/sleep"),
            &[],
            Path::new("30"),
            Instant::now() + Duration::from_millis(300),
        );
        assert!(matches!(r, Err(RunError::TimedOut(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            run(
                Path::new("/nonexistent/fsck"),
                &[],
                Path::new("x"),
                Instant::now() + Duration::from_secs(1)
            ),
            Err(RunError::CouldNotRun(_))
        ));
        let r = run(
            Path::new("/bin/sh"),
            &["-c", "echo found; echo two >&2; exit 1"],
            Path::new("x"),
            Instant::now() + Duration::from_secs(10),
        );
        let (code, text) = r.expect("ran");
        assert_eq!(code, Some(1));
        assert!(text.contains("found") && text.contains("two"), "{text}");
        assert_eq!(tail("ééé", 3), "é");
    }

    #[test]
    fn the_outcome_follows_both_passes_statuses() {
        let out = |c: i32| (Some(c), format!("status {c}"));
        assert_eq!(judge(out(0), out(0), "fsck.vfat"), Checked::Clean);
        assert!(matches!(
            judge(out(1), out(0), "fsck.vfat"),
            Checked::Repaired { report } if report == "status 1"
        ));
        // A repair pass that did not run properly repaired nothing, whatever the look says.
        assert!(matches!(
            judge(out(8), out(0), "fsck.exfat"),
            Checked::NotChecked { why } if why.contains("status 8")
        ));
        // Whatever the repair did, a look that still finds errors means damaged.
        for r in [0, 1, 4] {
            assert!(matches!(
                judge(out(r), out(1), "fsck.vfat"),
                Checked::Damaged { .. }
            ));
        }
    }
}
