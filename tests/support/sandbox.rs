//! The restore test's sandbox on the test machine: the system user it switches to (the package
//! creates it; a test machine may not have it) and temporary folders that user can pass through.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Once;

use simdondar_backup::backup::sandbox::SANDBOX_USER;

/// Makes sure the sandbox user exists, as the package's sysusers entry would.
pub fn ensure_user() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if nix::unistd::User::from_name(SANDBOX_USER)
            .ok()
            .flatten()
            .is_some()
        {
            return;
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SANDBOX_USER,
            ])
            .output()
            .expect("useradd (package passwd) must be installed");
        assert!(
            out.status.success()
                || nix::unistd::User::from_name(SANDBOX_USER)
                    .ok()
                    .flatten()
                    .is_some(),
            "cannot create the sandbox user {SANDBOX_USER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A temporary folder the sandbox user can pass through (mode 0711), with the user in place.
pub fn reachable_tempdir() -> tempfile::TempDir {
    ensure_user();
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    d
}
