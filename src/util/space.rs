/*!
Free and total space of the file system holding a path (`statvfs`), as an unprivileged writer sees
it.
*/

use std::path::Path;

/// Free and total bytes of the file system holding `path`. A file system that reports no size
/// at all (fusefat answers `statvfs` with zeros) does not say how much is free: an error of kind
/// `Unsupported`, not "0 bytes free" (which made every backup after the first "disk full" on a FAT
/// disk mounted through FUSE, and the fleet's metrics show a 0-byte disk).
pub fn space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let unit = st.fragment_size() as u64;
    sized(
        (st.blocks_available() as u64).saturating_mul(unit),
        (st.blocks() as u64).saturating_mul(unit),
    )
}

/// Free bytes for an unprivileged writer on the file system holding `root` (see [`space`]).
pub fn free_bytes(root: &Path) -> std::io::Result<u64> {
    space(root).map(|(free, _)| free)
}

fn sized(free: u64, total: u64) -> std::io::Result<(u64, u64)> {
    if total == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the file system does not report its size",
        ));
    }
    Ok((free, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_system_without_a_size_has_unknown_space_not_zero() {
        let e = sized(0, 0).expect_err("no size");
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
        assert_eq!(sized(0, 4096).expect("sized"), (0, 4096));
        assert_eq!(sized(1024, 4096).expect("sized"), (1024, 4096));
    }

    #[test]
    fn a_real_file_system_reports_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (free, total) = space(dir.path()).expect("space");
        assert!(total > 0 && free <= total, "{free} of {total}");
        assert!(free_bytes(dir.path()).is_ok());
    }
}
