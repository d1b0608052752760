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

/// Free bytes for an unprivileged writer on the file system holding `root`.
pub fn free_bytes(root: &Path) -> std::io::Result<u64> {
    space(root).map(|(free, _)| free)
}
