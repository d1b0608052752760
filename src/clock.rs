/*!
Facts about the machine's clock and name, for manifests and the panel. A Raspberry Pi has no
real-time clock: until NTP has synchronised, the wall clock may be decades off, and every record
says so.
*/

/// Whether the kernel considers the wall clock synchronised (what `timedatectl` shows as
/// "System clock synchronized"); `None` when it cannot be asked.
pub fn is_synchronized() -> Option<bool> {
    if std::path::Path::new("/run/systemd/timesync/synchronized").exists() {
        return Some(true);
    }
    // SAFETY: adjtimex with modes = 0 only reads the kernel's clock state into the struct.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

/// The machine's host name.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
