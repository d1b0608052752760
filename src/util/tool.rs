/*!
Finding an external program (a dump client, `ssh`, a FUSE mount helper) on `PATH`.
*/

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Finds the first of `names` on `PATH`.
pub fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Some(p);
                }
            }
        }
    }
    None
}
