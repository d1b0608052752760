/*!
The enrollment marker `SIMDONDAR-BACKUP/disk.toml`: the disk's id, role, label and when it was
enrolled. The appliance writes only to disks that carry it (or whose file-system label starts with
the configured prefix). A marker is read from a disk we do not control: it is size-limited, read
without following symlinks, and any garbage is reported, never trusted and never fatal.
*/

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::backup::layout::ROOT_DIR;
use crate::backup::writer::write_atomically;
use crate::config::Role;
use crate::safe_fs::Dir;

/// The marker's file name inside `SIMDONDAR-BACKUP/`.
pub const FILE_NAME: &str = "disk.toml";
/// Markers larger than this are refused.
pub const MAX_BYTES: u64 = 16 * 1024;

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// A random id given at enrollment (stays when the label changes).
    pub id: String,
    pub role: Role,
    /// The label IT Support knows the disk by.
    pub label: String,
    /// RFC 3339.
    pub enrolled_at: String,
}

/// Reading a marker from a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerRead {
    /// No marker.
    Absent,
    /// A valid marker.
    Present(Marker),
    /// A marker that cannot be used, and why.
    Invalid(String),
    /// The file system answered reading it with an error that means damage (EIO, EUCLEAN,
    /// EBADMSG): the disk may well be enrolled, and cannot be told apart from a stranger.
    Unreadable(String),
}

/// Whether an I/O error means the file system (or the device under it) is damaged rather than
/// the file being absent or badly written.
pub fn is_damage(e: &std::io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EIO | Errno::EUCLEAN | Errno::EBADMSG)
    )
}

/// What an error opening or reading the marker means.
fn read_error(what: &str, e: std::io::Error) -> MarkerRead {
    if e.kind() == std::io::ErrorKind::NotFound {
        MarkerRead::Absent
    } else if is_damage(&e) {
        MarkerRead::Unreadable(format!("{what}: {e}"))
    } else {
        MarkerRead::Invalid(format!("{what}: {e}"))
    }
}

/// Reads the marker below a mounted disk's root.
pub fn read(root: &Dir) -> MarkerRead {
    let dir = match root.open_dir(ROOT_DIR) {
        Ok(d) => d,
        Err(e) => return read_error(ROOT_DIR, e),
    };
    let f = match dir.open_read(FILE_NAME) {
        Ok(f) => f,
        Err(e) => return read_error(FILE_NAME, e),
    };
    let mut bytes = Vec::new();
    if let Err(e) = f.take(MAX_BYTES + 1).read_to_end(&mut bytes) {
        return match read_error(FILE_NAME, e) {
            MarkerRead::Absent => MarkerRead::Invalid(format!("{FILE_NAME}: vanished while read")),
            other => other,
        };
    }
    parse(&bytes)
}

/// Parses marker bytes.
pub fn parse(bytes: &[u8]) -> MarkerRead {
    if bytes.len() as u64 > MAX_BYTES {
        return MarkerRead::Invalid(format!("{FILE_NAME} is larger than {MAX_BYTES} bytes"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return MarkerRead::Invalid(format!("{FILE_NAME} is not UTF-8 text"));
    };
    match toml::from_str::<Marker>(text) {
        Ok(m) if m.id.is_empty() || m.id.len() > 64 => {
            MarkerRead::Invalid(format!("{FILE_NAME}: id must be 1 to 64 characters"))
        }
        Ok(m) => MarkerRead::Present(m),
        Err(e) => MarkerRead::Invalid(format!("{FILE_NAME}: {}", e.message())),
    }
}

/// A fresh random id.
pub fn new_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            format!(
                "{:x}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            )
        })
}

/// Writes a marker below a mounted disk's root (through `.partial`, fsync, rename).
pub fn write(root: &Dir, marker: &Marker) -> std::io::Result<()> {
    let dir = root.create_dir(ROOT_DIR)?;
    let text = toml::to_string(marker).map_err(std::io::Error::other)?;
    let text = format!(
        "# simdondar-backup enrollment marker: this disk receives SIMDONDAR backups.\n# Do not edit; re-enroll with `simdondar-backup disk enroll`.\n{text}"
    );
    write_atomically(&dir, FILE_NAME, text.as_bytes())?;
    dir.sync()
}

/// A label made safe to show: control characters replaced, length limited.
pub fn display_label(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(32)
        .collect();
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_error_that_means_damage_is_unreadable_not_invalid() {
        let os = std::io::Error::from_raw_os_error;
        for errno in [libc::EIO, libc::EUCLEAN, libc::EBADMSG] {
            assert!(
                matches!(read_error(FILE_NAME, os(errno)), MarkerRead::Unreadable(_)),
                "{errno}"
            );
        }
        assert_eq!(read_error(FILE_NAME, os(libc::ENOENT)), MarkerRead::Absent);
        // A dead FUSE driver or a permission problem is not damage of the file system.
        for errno in [libc::ENOTCONN, libc::EACCES, libc::ENOTDIR] {
            assert!(
                matches!(read_error(FILE_NAME, os(errno)), MarkerRead::Invalid(_)),
                "{errno}"
            );
        }
    }

    #[test]
    fn round_trip_and_garbage() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = Dir::open(t.path()).expect("open");
        assert_eq!(read(&d), MarkerRead::Absent);
        let m = Marker {
            id: new_id(),
            role: Role::Auto,
            label: "HDD-1".into(),
            enrolled_at: "2026-11-26T10:00:00+07:00".into(),
        };
        write(&d, &m).expect("write");
        assert_eq!(read(&d), MarkerRead::Present(m));
        std::fs::write(
            t.path().join("SIMDONDAR-BACKUP/disk.toml"),
            b"\xff\xfe garbage",
        )
        .expect("w");
        assert!(matches!(read(&d), MarkerRead::Invalid(_)));
        std::fs::write(
            t.path().join("SIMDONDAR-BACKUP/disk.toml"),
            "role = \"root\"\n",
        )
        .expect("w");
        assert!(matches!(read(&d), MarkerRead::Invalid(_)));
        std::fs::write(
            t.path().join("SIMDONDAR-BACKUP/disk.toml"),
            vec![b'#'; 100_000],
        )
        .expect("w");
        assert!(matches!(read(&d), MarkerRead::Invalid(ref m) if m.contains("larger")));
    }

    #[test]
    fn hostile_labels_are_defused_for_display() {
        assert_eq!(display_label("../\x1b[31mSIMBAK\n"), "../?[31mSIMBAK?");
        assert_eq!(display_label(&"x".repeat(100)).len(), 32);
    }
}
