/*!
Free and total space of the file system holding a path (`statvfs`), as an unprivileged writer sees
it.
*/

use std::path::Path;

/// Free and total bytes of the file system holding `path`.
pub fn space(path: &Path) -> std::io::Result<(u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let unit = st.fragment_size() as u64;
    Ok((
        (st.blocks_available() as u64).saturating_mul(unit),
        (st.blocks() as u64).saturating_mul(unit),
    ))
}

/// Free bytes for an unprivileged writer on the file system holding `root`. A file system that
/// reports no size at all (fusefat answers `statvfs` with zeros) does not say how much is free:
/// an error, not "0 bytes free" (which made every backup after the first "disk full" on a FAT
/// disk mounted through FUSE).
pub fn free_bytes(root: &Path) -> std::io::Result<u64> {
    match space(root)? {
        (_, 0) => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the file system does not report its size",
        )),
        (free, _) => Ok(free),
    }
}
